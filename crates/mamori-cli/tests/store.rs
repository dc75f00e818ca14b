//! End-to-end tests of `mamori ingest` and `mamori store`: they run the binary.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mamori_gen::{GenConfig, Generator, SplitMix64, Templates};

mod common;
use common::{mamori, samples, text};

fn stats_events(dir: &Path, data: &str) -> u64 {
    let out = mamori(&["store", "stats", "--json", "--data", data], dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stats json");
    v["total"]["events"].as_u64().unwrap_or(0)
}

#[test]
fn ingest_stats_verify_and_a_second_ingest_adds_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = mamori(&["ingest", &samples()], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("42 written"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        dir.path().join("mamori-data/manifest.jsonl").exists(),
        "default data directory"
    );
    assert_eq!(stats_events(dir.path(), "mamori-data"), 42);
    let out = mamori(&["store", "verify"], dir.path());
    assert!(
        out.status.success() && text(&out.stdout).starts_with("ok:"),
        "{}",
        text(&out.stdout)
    );
    let out = mamori(&["ingest", &samples()], dir.path());
    assert!(
        text(&out.stdout).contains("0 read, 18 already stored"),
        "{}",
        text(&out.stdout)
    );

    // Tampering is found, named, and makes verify fail.
    let seg = walkdir::WalkDir::new(dir.path().join("mamori-data/events"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file())
        .expect("a segment");
    std::fs::write(seg.path(), b"not parquet").expect("tamper");
    let out = mamori(&["store", "verify"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("modified"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn data_directory_comes_from_flag_env_or_config() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("mamori.toml"),
        "[store]\ndata = \"from-config\"\n[retention]\ndefault = 30\n",
    )
    .expect("config");
    let out = mamori(&["ingest", &format!("{}/syslog", samples())], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("from-config/manifest.jsonl").exists());
    let out = Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(["ingest", &format!("{}/k8s", samples())])
        .current_dir(dir.path())
        .env("MAMORI_DATA", "from-env")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("from-env/manifest.jsonl").exists());
    std::fs::write(dir.path().join("mamori.toml"), "[store]\ndta = 1\n").expect("bad config");
    let out = mamori(&["store", "stats"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("mamori.toml") && text(&out.stderr).contains("dta"),
        "{}",
        text(&out.stderr)
    );
}

/// Installs DuckDB for Python if it is missing (a registry package, on loopback-free pip).
fn duckdb_python() -> bool {
    let ok = |c: &mut Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    ok(Command::new("python3").args(["-c", "import duckdb, pytz"]))
        || ok(Command::new("python3").args(["-m", "pip", "install", "--quiet", "duckdb", "pytz"]))
}

#[test]
fn duckdb_reads_every_event_with_hive_partitioning() {
    assert!(
        duckdb_python(),
        "python3 with duckdb is needed (python3 -m pip install duckdb pytz)"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let out = mamori(&["ingest", &samples(), "--batch-events", "5"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = "import duckdb; r = duckdb.sql(\"select count(*), count(distinct uid), count(distinct source), min(date)::varchar from read_parquet('mamori-data/events/**/*.parquet', hive_partitioning = true)\").fetchall()[0]; print(*r)";
    let duckdb_sees_every_event = || {
        let out = Command::new("python3")
            .args(["-c", script])
            .current_dir(dir.path())
            .output()
            .expect("python3");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "42 42 12 2026-11-20");
    };
    duckdb_sees_every_event();

    // Compacted with hour files (a day of 2 events is "large" here): the
    // hour is in the file name, so the partition directories keep one depth
    // and DuckDB still reads every event once.
    let out = mamori(&["store", "compact", "--hour-split-rows", "2"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hour_files = walk(&dir.path().join("mamori-data/events"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("-h"))
        })
        .count();
    assert!(hour_files >= 2, "some days split by hour");
    duckdb_sees_every_event();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn sigkill_at_random_points_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("input");
    let templates = Templates::load(&[Path::new(&samples())]);
    let mut gen = Generator::new(
        GenConfig {
            seed: 11,
            ..GenConfig::default()
        },
        templates,
    );
    let mut objects = Vec::new();
    for _ in 0..30 {
        objects.push(gen.cloudtrail_object(300));
    }
    for _ in 0..10 {
        objects.push(gen.k8s_object(200));
        objects.push(gen.syslog_object(100));
    }
    let mut expected = HashSet::new();
    for o in &objects {
        let path = input.join(&o.key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &o.bytes).expect("write");
        for e in
            mamori_parse::parse_to_vec(&o.key, &o.bytes, &mamori_parse::ParseOptions::default())
                .events
        {
            expected.insert((e.source, e.uid));
        }
    }
    let input = input.display().to_string();
    let args = [
        "ingest",
        input.as_str(),
        "--data",
        "data",
        "--batch-events",
        "700",
    ];
    let mut rng = SplitMix64::new(5);
    let (mut kills, mut runs) = (0, 0);
    while kills < 20 && runs < 200 {
        runs += 1;
        let mut child = Command::new(env!("CARGO_BIN_EXE_mamori"))
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(20 + rng.below(250)));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let _ = child.wait();
        let out = mamori(&["store", "verify", "--data", "data"], dir.path());
        assert!(
            out.status.success(),
            "after kill {kills}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        if kills < 20 && text(&mamori(&args, dir.path()).stdout).contains("0 read") {
            // Everything is in already: start over so that every kill lands mid-run.
            std::fs::remove_dir_all(dir.path().join("data")).expect("reset");
        }
    }
    assert_eq!(kills, 20, "the ingest must be killed mid-run 20 times");
    let out = mamori(&args, dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stats_events(dir.path(), "data"), expected.len() as u64);
    let store = mamori_store::Store::open_read_only(dir.path().join("data")).expect("store");
    let stored: Vec<(mamori_event::SourceKind, String)> = store
        .read_all()
        .expect("read")
        .into_iter()
        .map(|(e, _)| (e.source, e.uid))
        .collect();
    let unique: HashSet<_> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "no event stored twice");
    assert_eq!(unique, expected, "every input event stored");
    assert!(mamori(&["store", "verify", "--data", "data"], dir.path())
        .status
        .success());
}

#[test]
fn since_and_until_prune_by_the_date_in_the_key() {
    let dir = tempfile::tempdir().expect("tmp");
    // The samples' AWS and Azure objects are all dated 2026/11/20 in their keys.
    let out = mamori(&["ingest", &samples(), "--since", "2026-11-21"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let undated = stats_events(dir.path(), "mamori-data");
    assert!(
        undated > 0 && undated < 42,
        "only inputs without a dated key: {undated}"
    );
    let out = mamori(
        &[
            "ingest",
            &samples(),
            "--since",
            "2026-11-20",
            "--until",
            "2026-11-20",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stats_events(dir.path(), "mamori-data"), 42);
    let out = mamori(&["ingest", &samples(), "--since", "20261120"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--since"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unreadable_input_is_named_and_the_rest_still_goes_in() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    std::fs::copy(
        format!("{}/syslog/auth.log", samples()),
        input.join("auth.log"),
    )
    .expect("copy");
    std::os::unix::fs::symlink("/nonexistent/trail.json.gz", input.join("dangling.json.gz"))
        .expect("symlink");
    let out = mamori(&["ingest", "in"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("dangling.json.gz"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("1 unreadable") && text(&out.stdout).contains("7 written"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_store_that_cannot_be_written_fails_naming_the_path_and_commits_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    std::fs::write(
        dir.path().join("data/tmp"),
        b"a file where a directory belongs",
    )
    .expect("file");
    let out = mamori(&["ingest", &samples(), "--data", "data"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("data/tmp"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("data/manifest.jsonl").exists());
}

#[test]
fn snapshot_and_restore_through_the_cli() {
    let dir = tempfile::tempdir().expect("tmp");
    assert!(mamori(&["ingest", &samples(), "--data", "a"], dir.path())
        .status
        .success());
    let out = mamori(&["store", "snapshot", "--data", "a", "snap"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mamori(&["store", "restore", "--data", "b", "snap"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(mamori(&["store", "verify", "--data", "b"], dir.path())
        .status
        .success());
    assert_eq!(stats_events(dir.path(), "b"), 42);
    let out = mamori(&["store", "restore", "--data", "b", "snap"], dir.path());
    assert_eq!(out.status.code(), Some(2), "never over an existing store");
}

/// A tmpfs of `size` mounted for the test's life (needs root, as on the
/// project's machines and CI).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).expect("mkdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            text(&out.stderr)
        );
        SmallDisk(path.to_owned())
    }
    fn grow(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .expect("remount");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_the_ingest_cleanly_and_the_run_resumes() {
    let dir = tempfile::tempdir().expect("tmp");
    let disk = SmallDisk::mount(&dir.path().join("data"), "200k");
    let samples = samples();
    let ingest = || {
        mamori(
            &[
                "ingest",
                &samples,
                "--data",
                "data",
                "--batch-events",
                "4",
                "--threads",
                "1",
            ],
            dir.path(),
        )
    };
    let out = ingest();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("No space left on device") && err.contains("data/"),
        "the error names the file: {err}"
    );
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    let out = mamori(&["store", "verify", "--data", "data"], dir.path());
    assert!(
        out.status.success(),
        "nothing half-committed: {}",
        text(&out.stdout)
    );
    let partial = stats_events(dir.path(), "data");
    assert!(partial < 42, "the disk filled before the end: {partial}");

    disk.grow("16m");
    let out = ingest();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        stats_events(dir.path(), "data"),
        42,
        "resumed: every event once"
    );
    assert!(mamori(&["store", "verify", "--data", "data"], dir.path())
        .status
        .success());
}

//! `mamori ingest s3://…` against a real S3-compatible server (moto's server
//! mode, from PyPI) on loopback, started by the test.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{samples, text};
use mamori_testkit::S3Server;

/// Creates `bucket` and uploads the samples under `prefix`.
fn upload_samples(server: &S3Server, bucket: &str, prefix: &str) {
    let b = server.create_bucket(bucket);
    let root = std::path::PathBuf::from(samples());
    for e in walkdir::WalkDir::new(&root).into_iter().flatten() {
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(&root).expect("under samples");
            let data = std::fs::read(e.path()).expect("sample");
            b.put(&format!("{prefix}{}", rel.display()), data);
        }
    }
}

fn mamori_s3(args: &[&str], dir: &Path, port: u16) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(args)
        .current_dir(dir)
        .env_remove("MAMORI_DATA")
        .env("AWS_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run mamori")
}

#[test]
fn ingest_from_an_s3_prefix_in_the_aws_layout() {
    let server = S3Server::start();
    upload_samples(&server, "org-logs", "trail/");
    let dir = tempfile::tempdir().expect("tmp");
    let port = server.port();

    let out = mamori_s3(
        &[
            "ingest",
            "s3://org-logs/trail/AWSLogs/",
            "--until",
            "2026-11-19",
        ],
        dir.path(),
        port,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0 read"),
        "every AWS key is dated 2026-11-20: {}",
        text(&out.stdout)
    );

    let out = mamori_s3(
        &[
            "ingest",
            "s3://org-logs/trail/AWSLogs/",
            "--since",
            "2026-11-20",
        ],
        dir.path(),
        port,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("4 read") && text(&out.stdout).contains("11 written"),
        "{}",
        text(&out.stdout)
    );

    let out = mamori_s3(&["ingest", "s3://org-logs/trail/"], dir.path(), port);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("14 read, 4 already stored")
            && text(&out.stdout).contains("31 written"),
        "{}",
        text(&out.stdout)
    );
    let out = mamori_s3(&["ingest", "s3://org-logs/trail/"], dir.path(), port);
    assert!(
        text(&out.stdout).contains("0 read, 18 already stored"),
        "{}",
        text(&out.stdout)
    );
    // Rewritten in place at the same size: the ETag changed, so it is read again.
    let bucket = server.bucket("org-logs");
    let key = "trail/syslog/auth.log";
    let log = String::from_utf8(bucket.get(key).expect("auth.log")).expect("utf-8");
    bucket.put(key, log.replacen("admin", "ADMIN", 1).into_bytes());
    let out = mamori_s3(&["ingest", "s3://org-logs/trail/"], dir.path(), port);
    assert!(
        text(&out.stdout).contains("1 read, 17 already stored")
            && text(&out.stdout).contains("1 written"),
        "{}",
        text(&out.stdout)
    );
    let out = mamori_s3(&["store", "verify"], dir.path(), port);
    assert!(out.status.success(), "{}", text(&out.stdout));

    let out = mamori_s3(&["ingest", "s3://no-such-bucket/"], dir.path(), port);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("s3://no-such-bucket/"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_endpoint_that_never_answers_fails_naming_the_uri_and_commits_nothing() {
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().expect("tmp");
    let start = Instant::now();
    let out = mamori_s3(
        &[
            "ingest",
            "s3://logs/AWSLogs/",
            "--s3-timeout",
            "1",
            "--data",
            "d",
        ],
        dir.path(),
        port,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("s3://logs/AWSLogs/"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "bounded by the timeout and retries"
    );
    assert!(
        !dir.path().join("d/manifest.jsonl").exists(),
        "nothing committed"
    );
}

#[test]
fn a_store_on_s3_ingests_verifies_compacts_snapshots_and_restores() {
    let server = S3Server::start();
    let port = server.port();
    let bucket = server.create_bucket("mamori");
    let dir = tempfile::tempdir().expect("tmp");
    let data = "s3://mamori/store";
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data", data]);
        mamori_s3(&all, dir.path(), port)
    };

    let out = run(&["ingest", &samples(), "--batch-events", "5"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("42 written"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !dir.path().join("mamori-data").exists(),
        "nothing written locally"
    );
    assert!(!bucket.list("store/events/").is_empty());
    assert!(bucket.list("store/tmp/").is_empty());

    let out = run(&["ingest", &samples()]);
    assert!(
        text(&out.stdout).contains("18 already stored"),
        "the checkpoint is in the bucket: {}",
        text(&out.stdout)
    );
    let out = run(&["store", "stats", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(stats["total"]["events"], 42, "{stats}");
    // Queries read the segments from the bucket.
    let out = run(&[
        "query",
        "filter eventSource = 'iam.amazonaws.com' | stats count(*) as n",
        "--output",
        "csv",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let local = tempfile::tempdir().expect("tmp");
    let ingest = common::mamori(&["ingest", &samples()], local.path());
    assert!(ingest.status.success());
    let expected = common::mamori(
        &[
            "query",
            "filter eventSource = 'iam.amazonaws.com' | stats count(*) as n",
            "--output",
            "csv",
        ],
        local.path(),
    );
    assert_eq!(
        text(&out.stdout),
        text(&expected.stdout),
        "the same answer from S3 as from disk"
    );
    assert!(text(&out.stdout).starts_with("n\n") && !text(&out.stdout).contains("\n0\n"));

    let before = bucket.list("store/events/").len();
    let out = run(&["store", "compact"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(bucket.list("store/events/").len() < before);
    let out = run(&["store", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stdout));

    // Tampering is found in the bucket as on disk.
    let seg = bucket.list("store/events/").swap_remove(0);
    let mut bytes = bucket.get(&seg).expect("segment");
    let original = bytes.clone();
    bytes[50] ^= 1;
    bucket.put(&seg, bytes);
    let out = run(&["store", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(seg.trim_start_matches("store/")),
        "{}",
        text(&out.stdout)
    );
    bucket.put(&seg, original);

    // S3 → disk → S3, each copy verified; the restored store holds every event.
    let out = run(&["store", "snapshot", "snap"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mamori_s3(
        &["store", "restore", "snap", "--data", "s3://mamori/restored"],
        dir.path(),
        port,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mamori_s3(
        &["store", "stats", "--json", "--data", "s3://mamori/restored"],
        dir.path(),
        port,
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(stats["total"]["events"], 42, "{stats}");
}

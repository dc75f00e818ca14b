//! `mamori query`, `mamori sql` and `mamori get` end to end, on the samples.

mod common;

use common::{mamori, samples, text};

fn ingested() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let out = mamori(&["ingest", &samples()], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    dir
}

#[test]
fn an_insights_query_prints_a_table_json_or_csv() {
    let dir = ingested();
    let q = "filter eventSource = 'iam.amazonaws.com' | stats count(*) as n by eventName | sort n desc, eventName";
    let out = mamori(&["query", q], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("| eventName") && table.contains("CreateAccessKey"),
        "{table}"
    );

    let out = mamori(&["query", q, "--output", "json"], dir.path());
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["eventName"].is_string() && r["n"].is_number()),
        "{rows:?}"
    );

    let out = mamori(&["query", q, "--output", "csv", "--stats"], dir.path());
    let csv = text(&out.stdout);
    assert!(csv.starts_with("eventName,n\n"), "{csv}");
    // --stats: the rows written, the time taken and its phases, on stderr only.
    let stats = text(&out.stderr);
    let rows = csv.lines().count() - 1;
    assert!(
        stats.starts_with(&format!("mamori: {rows} row(s) in "))
            && stats.contains(" s (store ")
            && stats.contains(" ms)"),
        "{stats}"
    );
}

#[test]
fn a_ptr_from_a_result_gets_the_original_record() {
    let dir = ingested();
    let out = mamori(
        &[
            "query",
            "filter eventName = 'StopLogging' | fields @ptr",
            "--output",
            "json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let row: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().expect("a row")).expect("json");
    let ptr = row["@ptr"].as_str().expect("@ptr");
    let out = mamori(&["get", ptr], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record: serde_json::Value =
        serde_json::from_str(text(&out.stdout).trim()).expect("the record");
    assert_eq!(record["eventName"], "StopLogging");

    let out = mamori(&["get", "cloudtrail/2026-11-20/no-such-uid"], dir.path());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn sql_sees_a_table_per_source_and_json_paths() {
    let dir = ingested();
    let out = mamori(
        &[
            "sql",
            "SELECT json_as_text(raw, 'userIdentity', 'userName') AS who, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY 1",
            "--output",
            "csv",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("dev-alice,"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_bad_query_points_at_the_mistake_and_exits_2() {
    let dir = ingested();
    let out = mamori(&["query", "fields eventName | sort"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("expected a field, value or function") && err.contains('^'),
        "{err}"
    );
    let out = mamori(&["query", "stats count(*) by nosuch(x)"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown function nosuch()"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_time_range_prunes_to_what_a_filter_on_the_timestamp_keeps() {
    let dir = ingested();
    let count = |q: &str, args: &[&str]| {
        let mut all = vec!["query", q, "--output", "csv"];
        all.extend(args);
        let out = mamori(&all, dir.path());
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    let all = "stats count(*) as n";
    assert_eq!(count(all, &[]), "42");
    let filtered = count(
        "filter @timestamp >= '2026-11-20T10:30:00Z' and @timestamp < '2026-11-20T11:00:00Z' | stats count(*) as n",
        &[],
    );
    let pruned = count(
        all,
        &[
            "--start",
            "2026-11-20T10:30:00Z",
            "--end",
            "2026-11-20T11:00:00Z",
        ],
    );
    assert_eq!(pruned, filtered);
    assert!(
        pruned != "42" && pruned != "0",
        "the window holds some events: {pruned}"
    );
    assert_eq!(count(all, &["--start", "2030-01-01"]), "0");
    assert_eq!(count(all, &["--end", "2000-01-01"]), "0");
    let out = mamori(&["query", all, "--since", "forever"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--since forever"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_query_over_its_memory_budget_fails_with_a_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("input");
    let templates = mamori_gen::Templates::load(&[std::path::Path::new(&samples())]);
    let mut gen = mamori_gen::Generator::new(mamori_gen::GenConfig::default(), templates);
    for _ in 0..20 {
        let o = gen.cloudtrail_object(5_000);
        let path = input.join(&o.key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &o.bytes).expect("write");
    }
    let out = mamori(&["ingest", &input.display().to_string()], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Grouping 100,000 distinct original records needs far more than 16 MB.
    let q = "stats count(*) as n by @message";
    let out = mamori(&["query", q, "--memory", "16"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("memory budget of 16 MB"), "{err}");
    // The same query with a budget that holds it runs.
    let out = mamori(
        &[
            "query",
            "stats count(*) as n by eventName | limit 3",
            "--memory",
            "16",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn pattern_diff_compares_templates_with_the_day_before() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut lines = String::new();
    let mut line = |day: u32, i: u32, msg: &str| {
        lines.push_str(&format!(
            "<38>1 2026-11-{day:02}T10:0{i}:00Z bastion sshd 77 - - {msg}\n"
        ));
    };
    for i in 0..3 {
        line(
            19,
            i,
            &format!("Failed password for user{i} from 10.0.0.{i} port 220{i} ssh2"),
        );
    }
    line(
        20,
        0,
        "Failed password for root from 10.9.9.9 port 4444 ssh2",
    );
    line(
        20,
        1,
        "Accepted password for bob from 10.0.0.7 port 5000 ssh2",
    );
    line(
        20,
        2,
        "Accepted password for eve from 10.0.0.8 port 5001 ssh2",
    );
    let input = dir.path().join("auth.log");
    std::fs::write(&input, lines).expect("write");
    let out = mamori(&["ingest", &input.to_string_lossy()], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let q = "pattern message | diff previousDay | sort @pattern";
    let args = [
        "query",
        q,
        "--start",
        "2026-11-20",
        "--end",
        "2026-11-21",
        "--output",
        "csv",
    ];
    let out = mamori(&args, dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "@pattern,@ratio,@sampleCount,@severityLabel,@previousSampleCount,@changePercent,@diffType\n\
         Accepted password for <*> from <IP-2> port <Num-3> ssh2,0.6666666666666666,2,Info,0,,new\n\
         Failed password for <*> from <IP-2> port <Num-3> ssh2,0.3333333333333333,1,Error,3,-66.66666666666667,decreased\n"
    );
    let out = mamori(&["query", "pattern message | diff"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("give a range"),
        "{}",
        text(&out.stderr)
    );
}

/// A row-wise query read newest first (in two passes, or in widening
/// windows from the newest day back when its filters read the original
/// record) gives exactly the rows of the same query run in one plain pass
/// (`dedup @ptr` before the limit changes nothing in the rows but keeps it
/// off the newest-first path). The store holds the samples and three events
/// a day over the 40 days before them (two of them at the same second), so
/// limits end in the first window, in later ones, past the oldest, and
/// between events of the same time.
#[test]
fn newest_first_windows_give_the_rows_of_one_pass() {
    let dir = ingested();
    let days: String = (0..120)
        .map(|i| {
            let t = 1_760_000_000 + (i / 3) * 86_400 + (i % 3).min(1) * 3_600;
            format!(
                "{{\"eventVersion\":\"1.08\",\"eventTime\":\"{}\",\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"GetObject\",\"eventID\":\"w-{i}\",\"sourceIPAddress\":\"192.0.2.{}\"}}\n",
                mamori_event::Timestamp(t * 1_000_000),
                i % 7
            )
        })
        .collect();
    let file = dir.path().join("days.json");
    std::fs::write(&file, days).expect("write");
    let out = mamori(&["ingest", &file.display().to_string()], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let queries = [
        "fields @timestamp, @source, eventName | limit 3",
        "fields @timestamp, @source, eventName, @message",
        "filter sourceIPAddress = '192.0.2.3' | fields @timestamp, eventName | limit 10",
        "filter eventName = 'GetObject' | sort @timestamp desc | display @timestamp, eventName, sourceIPAddress | limit 70",
        "filter eventName = 'NoSuchOperation' | fields @timestamp, eventName",
        "fields @timestamp, eventID | limit 4",
        "filter @source = 'no_such_source' | fields @timestamp, eventID | limit 3",
        "filter @message like /192.0.2.3/ | fields @timestamp, eventID | limit 5",
        "fields sourceIPAddress as ip | filter ip = '192.0.2.5' | display @timestamp, eventID, ip | limit 6",
    ];
    for q in queries {
        let one_pass = match q.rsplit_once(" | limit") {
            Some((head, n)) => format!("{head} | dedup @ptr | limit{n}"),
            None => format!("{q} | dedup @ptr"),
        };
        for output in ["json", "csv", "table"] {
            let windowed = mamori(&["query", q, "--output", output], dir.path());
            let whole = mamori(&["query", &one_pass, "--output", output], dir.path());
            assert!(windowed.status.success(), "{q}: {}", text(&windowed.stderr));
            assert!(
                whole.status.success(),
                "{one_pass}: {}",
                text(&whole.stderr)
            );
            assert_eq!(
                text(&windowed.stdout),
                text(&whole.stdout),
                "{q} ({output})"
            );
        }
    }
    // Everything, newest first, across the whole span.
    let all = mamori(
        &["query", "fields @timestamp | limit 1000", "--output", "csv"],
        dir.path(),
    );
    let times: Vec<String> = text(&all.stdout)
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    assert_eq!(times.len(), 42 + 120, "{times:?}");
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
}

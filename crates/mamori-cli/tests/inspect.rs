//! End-to-end tests of `mamori inspect`: they run the built binary.

mod common;

use std::io::Write;
use std::path::Path;

use common::{samples, text};

fn mamori(args: &[&str], dir: &Path, stdin: Option<&[u8]>) -> std::process::Output {
    common::mamori_with_stdin(args, dir, stdin)
}

#[test]
fn no_paths_reads_the_embedded_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mamori(&["inspect"], dir.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let total = stdout.lines().last().unwrap_or_default();
    assert!(total.starts_with("total (18 files)"), "{stdout}");
    assert_eq!(
        total.split_whitespace().rev().take(3).collect::<Vec<_>>(),
        ["0", "42", "42"],
        "{total}"
    );
    assert!(
        stdout.contains("CloudTrail digest file"),
        "digest set aside: {stdout}"
    );
    assert!(
        !dir.path().join("mamori-rejected.jsonl").exists(),
        "no dead letter without rejects"
    );
}

#[test]
fn events_go_to_stdout_as_json_lines_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mamori(&["inspect", "--events", &samples()], dir.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 42);
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(
            v["uid"].is_string() && v["raw"].is_string() && v["time"].is_string(),
            "{l}"
        );
    }
    assert!(
        text(&out.stderr).contains("total (18 files)"),
        "report on stderr"
    );
}

#[test]
fn bad_records_are_rejected_with_file_line_and_reason_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = r#"{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"a"}"#;
    let input = format!(
        "{good}\n{{\"eventName\": broken\n{}\n\u{0}\u{1}garbage\n",
        good.replace("\"a\"", "\"b\"")
    );
    std::fs::write(dir.path().join("mixed.jsonl"), &input).expect("write");
    let out = mamori(&["inspect", "mixed.jsonl"], dir.path(), None);
    assert_eq!(out.status.code(), Some(1), "rejects make exit status 1");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("mixed.jsonl: line 2: rejected: malformed JSON"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mixed.jsonl: line 4: rejected: unrecognized format"),
        "{stderr}"
    );
    let dead = std::fs::read_to_string(dir.path().join("mamori-rejected.jsonl"))
        .expect("dead letter written");
    let rows: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["file"], "mixed.jsonl");
    assert_eq!(rows[0]["line"], 2);
    assert_eq!(rows[0]["record"], "{\"eventName\": broken");
    assert_eq!(rows[1]["reason_code"], "unknown_format");
    let report = text(&out.stdout);
    let row = report
        .lines()
        .find(|l| l.starts_with("mixed.jsonl"))
        .unwrap_or_default();
    assert_eq!(
        row.split_whitespace().skip(4).take(3).collect::<Vec<_>>(),
        ["4", "2", "2"],
        "{report}"
    );
}

#[test]
fn stdin_and_source_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = br#"{"kind": 0}"#;
    let out = mamori(&["inspect", "--events", "-"], dir.path(), Some(rec));
    assert!(out.status.success());
    assert!(text(&out.stdout).contains(r#""source":"generic""#));
    let out = mamori(
        &["inspect", "--source", "k8s-audit", "-"],
        dir.path(),
        Some(rec),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not a valid k8s_audit record: `kind` must be a string"),
        "{}",
        text(&out.stderr)
    );
    let out = mamori(&["inspect", "--source", "nope", "-"], dir.path(), Some(rec));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown source"));
}

#[test]
fn truncated_gzip_keeps_what_was_readable() {
    use flate2::write::GzEncoder;
    let dir = tempfile::tempdir().expect("tempdir");
    let records: Vec<String> = (0..2000)
        .map(|i| format!(r#"{{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"id-{i}","requestID":"{i:064}"}}"#))
        .collect();
    let doc = format!("{{\"Records\":[{}]}}", records.join(","));
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(doc.as_bytes()).expect("gzip");
    let gz = enc.finish().expect("gzip");
    std::fs::write(dir.path().join("cut.json.gz"), &gz[..gz.len() * 2 / 3]).expect("write");
    let out = mamori(
        &["inspect", "--report", "json", "cut.json.gz"],
        dir.path(),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).expect("json report");
    let normalized = v["normalized"].as_u64().unwrap_or(0);
    assert!(normalized > 500 && normalized < 2000, "{v}");
    assert_eq!(
        v["seen"].as_u64(),
        Some(normalized + v["rejected"].as_u64().unwrap_or(0))
    );
    assert_eq!(v["reject_reasons"]["decompress"], 1, "{v}");
    assert_eq!(v["reject_reasons"]["truncated_json"], 1, "{v}");
}

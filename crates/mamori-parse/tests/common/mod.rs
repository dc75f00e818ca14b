//! Helpers shared by the integration tests (each test file uses some of them).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use mamori_parse::{ParseOptions, ParseOutput, Timestamp};

/// Parse options with a fixed ingest time.
pub fn opts() -> ParseOptions {
    ParseOptions {
        ingest_time: Timestamp::parse_iso8601("2026-01-01T00:00:00Z").unwrap_or_default(),
        ..ParseOptions::default()
    }
}

/// The golden text for one file: events without `raw`, then rejects.
pub fn golden_text(out: &ParseOutput) -> String {
    let mut s = String::new();
    for ev in &out.events {
        let mut v = serde_json::to_value(ev).expect("event serializes");
        if let Some(o) = v.as_object_mut() {
            o.remove("raw");
            o.remove("ingest_time");
        }
        s.push_str(&serde_json::to_string(&v).expect("json"));
        s.push('\n');
    }
    for r in &out.rejected {
        let v = serde_json::json!({"rejected": {"line": r.line, "byte_offset": r.byte_offset, "reason": r.reason.to_string()}});
        s.push_str(&v.to_string());
        s.push('\n');
    }
    s
}

/// Compares `out` with `tests/golden/<rel>.golden`, or rewrites it when
/// `MAMORI_UPDATE_GOLDEN` is set; differences are pushed to `failures`.
pub fn check_golden(rel: &str, out: &ParseOutput, failures: &mut Vec<String>) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{rel}.golden"));
    let got = golden_text(out);
    if std::env::var_os("MAMORI_UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(golden.parent().expect("parent")).expect("mkdir");
        fs::write(&golden, &got).expect("write golden");
        return;
    }
    let want = fs::read_to_string(&golden).unwrap_or_default();
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        failures.push(format!(
            "{rel}: differs from {} at line {}\n  want: {}\n  got:  {}",
            golden.display(),
            line + 1,
            want.lines().nth(line).unwrap_or("<end>"),
            got.lines().nth(line).unwrap_or("<end>")
        ));
    }
}

/// Every file under `dir`, sorted; none when `dir` does not exist.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect()
}

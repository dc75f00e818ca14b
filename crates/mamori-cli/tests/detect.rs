//! `mamori rules lint|test`, detection during `mamori ingest`, and `mamori hunt`, end to end.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{mamori, samples, text};

fn shared(sub: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(sub)
        .display()
        .to_string()
}

fn repo(sub: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(sub)
        .display()
        .to_string()
}

#[test]
fn lint_counts_the_corpus_and_names_a_bad_rule() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = mamori(
        &[
            "rules",
            "lint",
            &shared("sigma-rules/rules"),
            &shared("sigma-rules/rules-threat-hunting"),
            &shared("sigma-rules/rules-emerging-threats"),
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("321 files: 321 detection rules"),
        "{}",
        text(&out.stdout)
    );

    let out = mamori(
        &["rules", "lint", &shared("sigma-rules/rules-placeholder")],
        tmp.path(),
    );
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("9 need placeholder values"),
        "{}",
        text(&out.stdout)
    );

    std::fs::write(tmp.path().join("bad.yml"), "title: bad\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName|containz: x\n  condition: sel\n").expect("write");
    std::fs::write(tmp.path().join("good.yml"), "title: good\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName: x\n  condition: sel\n").expect("write");
    let out = mamori(&["rules", "lint", "."], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let o = text(&out.stdout);
    assert!(
        o.contains("error: ./bad.yml:5: bad: unknown modifier 'containz'"),
        "{o}"
    );
    assert!(
        o.contains("1 detection rules") && o.contains("1 failed"),
        "{o}"
    );
}

#[test]
fn the_rule_pack_passes_its_tests_and_a_wrong_expectation_fails() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = mamori(&["rules", "test", &repo("rules")], tmp.path());
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains(" 0 failed"),
        "{}",
        text(&out.stdout)
    );

    std::fs::write(tmp.path().join("r.yml"), "title: stop\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName: StopLogging\n  condition: sel\n").expect("write");
    std::fs::write(
        tmp.path().join("r.tests.yml"),
        "tests:\n  - name: wrongly expects nothing\n    events:\n      - {eventVersion: '1.08', eventTime: '2024-01-01T00:00:00Z', eventSource: cloudtrail.amazonaws.com, eventName: StopLogging, eventID: x}\n    expect: 0\n",
    )
    .expect("write");
    let out = mamori(&["rules", "test", "."], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("FAIL")
            && text(&out.stdout).contains("expected 0 detection(s) from 1 events, got 1"),
        "{}",
        text(&out.stdout)
    );
}

type Found = BTreeSet<(String, Vec<String>)>;

fn detections(jsonl: &str) -> Found {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a detection per line");
            let uids = v["event_uids"]
                .as_array()
                .expect("uids")
                .iter()
                .map(|u| u.as_str().unwrap_or("").to_owned())
                .collect();
            (v["rule_id"].as_str().unwrap_or("").to_owned(), uids)
        })
        .collect()
}

/// Every SigmaHQ rule and the pack, over the corpus: what `ingest` raises
/// as events arrive is what `hunt` finds over the store afterwards. The
/// corpus spans 2019–2026 in files read in any order, so the lateness bound
/// is set to cover it (within the bound, order is restored; see the engine
/// tests for disorder inside a 5-minute bound).
#[test]
fn ingest_and_hunt_raise_the_same_detections_over_the_corpus() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("mamori.toml"),
        "[detect]\nlateness = \"30y\"\n",
    )
    .expect("config");
    let rules = [
        shared("sigma-rules/rules"),
        shared("sigma-rules/rules-threat-hunting"),
        shared("sigma-rules/rules-emerging-threats"),
        shared("sigma-rules/unsupported"),
    ];
    let mut args: Vec<String> = vec!["ingest".into(), "--threads".into(), "2".into()];
    for input in [
        samples(),
        shared("stratus-red-team-detonations"),
        shared("falco-k8s-audit/events"),
        shared("gcp-community-security-analytics"),
        shared("otrf-security-datasets/aws"),
        shared("aws-docs-examples/cloudtrail"),
    ] {
        args.push(input);
    }
    for r in &rules {
        args.push("--rules".into());
        args.push(r.clone());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = mamori(&argv, tmp.path());
    let so = text(&out.stdout);
    assert!(so.contains("detections: "), "{so}{}", text(&out.stderr));
    let streamed = detections(
        &std::fs::read_to_string(tmp.path().join("mamori-data/detections/detections.jsonl"))
            .expect("detections file"),
    );
    assert!(streamed.len() >= 20, "{streamed:?}");

    let mut hunt: Vec<String> = vec!["hunt".into(), "--output".into(), "json".into()];
    for r in &rules {
        hunt.push("--rules".into());
        hunt.push(r.clone());
    }
    let argv: Vec<&str> = hunt.iter().map(String::as_str).collect();
    let out = mamori(&argv, tmp.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hunted = detections(&text(&out.stdout));
    let only_streamed: Vec<_> = streamed.difference(&hunted).collect();
    let only_hunted: Vec<_> = hunted.difference(&streamed).collect();
    assert!(
        only_streamed.is_empty() && only_hunted.is_empty(),
        "only at ingest: {only_streamed:?}\nonly in the hunt: {only_hunted:?}"
    );

    // Ingesting again stores nothing new and so raises nothing new.
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = mamori(&argv, tmp.path());
    assert!(
        text(&out.stdout).contains("detections: 0 from 0 events"),
        "{}",
        text(&out.stdout)
    );

    // The table names the pack's rule for the Stratus trail tampering.
    let out = mamori(
        &["hunt", "--no-builtin-rules", "--rules", &repo("rules")],
        tmp.path(),
    );
    let t = text(&out.stdout);
    assert!(
        t.contains("CloudTrail Logging Stopped, Deleted or Narrowed"),
        "{t}"
    );
    assert!(t.contains("Console Login Without MFA"), "{t}");
}

/// Which Stratus Red Team techniques each rule catches: `docs/detection-coverage.md`
/// is this report (rewrite with MAMORI_UPDATE_GOLDEN=1).
#[test]
fn stratus_coverage_report_is_current() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stratus = PathBuf::from(shared("stratus-red-team-detonations/aws"));
    let mut techniques: Vec<PathBuf> = std::fs::read_dir(&stratus)
        .expect("stratus corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    techniques.sort();
    let mut doc = String::from(
        "# Detection coverage of the Stratus Red Team detonations\n\n\
         Generated by `cargo test -p mamori-cli --test detect stratus_coverage` (`MAMORI_UPDATE_GOLDEN=1` rewrites it):\n\
         each detonation of `../shared/corpus/stratus-red-team-detonations/aws/` ingested alone, hunted with the\n\
         SigmaHQ AWS rules of the corpus (`rules/cloud/aws/`, `rules-threat-hunting/`, `unsupported/`, the legacy\n\
         aggregations read as correlations) and Mamori's pack (`rules/` of this repository).\n\n| technique | rules that fire |\n| --- | --- |\n",
    );
    let mut uncovered = Vec::new();
    for t in &techniques {
        let data = tmp.path().join(t.file_stem().unwrap_or_default());
        let d = data.display().to_string();
        let out = mamori(
            &[
                "ingest",
                "--no-detect",
                "--data",
                &d,
                &t.display().to_string(),
            ],
            tmp.path(),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = mamori(
            &[
                "hunt",
                "--data",
                &d,
                "--output",
                "json",
                "--rules",
                &shared("sigma-rules/rules/cloud/aws"),
                "--rules",
                &shared("sigma-rules/rules-threat-hunting"),
                "--rules",
                &shared("sigma-rules/unsupported"),
            ],
            tmp.path(),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let titles: BTreeSet<String> = text(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["title"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        let name = t
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if titles.is_empty() {
            uncovered.push(name.clone());
        }
        let list = if titles.is_empty() {
            "—".to_owned()
        } else {
            titles.into_iter().collect::<Vec<_>>().join("; ")
        };
        doc.push_str(&format!("| `{name}` | {list} |\n"));
    }
    doc.push_str(&format!(
        "\n{} of {} techniques are caught by at least one rule. Not covered yet:\n\n",
        techniques.len() - uncovered.len(),
        techniques.len()
    ));
    for u in &uncovered {
        doc.push_str(&format!("- `{u}`\n"));
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/detection-coverage.md");
    if std::env::var_os("MAMORI_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &doc).expect("write golden");
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(
        want, doc,
        "docs/detection-coverage.md is stale: run with MAMORI_UPDATE_GOLDEN=1"
    );
}

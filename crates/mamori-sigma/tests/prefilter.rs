//! The substring prefilter only saves work: with it and without it, every
//! rule finds exactly the same events.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mamori_event::{Event, SourceKind, Timestamp};
use mamori_sigma::ruletest::parse_events;
use mamori_sigma::{Detection, Detector, LoadOptions, RuleSet};
use proptest::prelude::*;

fn root(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(sub)
}

fn rule_dirs() -> Vec<PathBuf> {
    let sigma = root("../shared/corpus/sigma-rules");
    vec![
        sigma.join("rules"),
        sigma.join("rules-threat-hunting"),
        sigma.join("rules-emerging-threats"),
        sigma.join("unsupported"),
        root("rules"),
    ]
}

fn both(dirs: &[PathBuf]) -> (Arc<RuleSet>, Arc<RuleSet>) {
    let with = RuleSet::load(dirs, &LoadOptions::default());
    let without = RuleSet::load(
        dirs,
        &LoadOptions {
            no_prefilter: true,
            ..LoadOptions::default()
        },
    );
    (Arc::new(with), Arc::new(without))
}

fn run(rules: &Arc<RuleSet>, events: &[Event]) -> (Vec<Detection>, u64) {
    let mut d = Detector::new(Arc::clone(rules), None);
    let mut out = Vec::new();
    for e in events {
        d.process(e, &mut out);
    }
    d.flush(&mut out);
    (out, d.stats().evaluations)
}

fn corpus_events() -> Vec<Event> {
    let mut events = Vec::new();
    for dir in [root("../shared/corpus"), root("testdata/samples")] {
        for entry in walkdir::WalkDir::new(&dir).into_iter().flatten() {
            let p = entry.path();
            let skip = p.components().any(|c| {
                matches!(
                    c.as_os_str().to_str(),
                    Some("sigma-rules" | "sigma-specification")
                )
            });
            if skip || !entry.file_type().is_file() || is_doc(p) {
                continue;
            }
            let Ok(bytes) = std::fs::read(p) else {
                continue;
            };
            events.extend(parse_events(&p.to_string_lossy(), &bytes, None).0);
        }
    }
    events
}

fn is_doc(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".md") || name.starts_with("LICENSE")
}

#[test]
fn every_rule_finds_the_same_over_the_corpus_with_and_without_the_prefilter() {
    let (with, without) = both(&rule_dirs());
    assert!(with.report.errors.is_empty(), "{:?}", with.report.errors);
    let ruled_out: usize = with
        .sources()
        .into_iter()
        .map(|s| with.prefiltered(s))
        .sum();
    assert!(
        ruled_out >= 20,
        "rules the prefilter can rule out: {ruled_out}"
    );
    let events = corpus_events();
    assert!(events.len() > 2000, "{} corpus events", events.len());
    let (a, tried_with) = run(&with, &events);
    let (b, tried_without) = run(&without, &events);
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert!(
        tried_with < tried_without,
        "rules tried: {tried_with} with the prefilter, {tried_without} without"
    );
}

/// Syslog keyword rules against lines built from their own needles, in other
/// cases, escaped, or next to characters whose lower case is ASCII.
fn line() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "sshd",
        "Failed password",
        "shadow",
        "/etc/",
        "PASSWD",
        "passwd",
        "root",
        " ",
        "=",
        "\\u0073hadow",
        "\u{212a}",
        "K",
        "\u{130}",
        "i",
        "\"",
        "\\",
        "useradd",
        "dmesg",
        "nc -e",
        "base64",
        "SELinux",
        "setenforce",
        "0",
        "iptables",
        "--flush",
        "sudo",
        "COMMAND=",
        "/bin/sh",
        "wget",
        "curl",
        "TruffleHog",
        "Tru\\u0066fleHog",
        "Root",
        "AssumedRole",
        "aws:",
    ]);
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn syslog_and_json_lines_find_the_same(lines in prop::collection::vec(line(), 1..20)) {
        static RULES: std::sync::OnceLock<(Arc<RuleSet>, Arc<RuleSet>)> = std::sync::OnceLock::new();
        let (with, without) = RULES.get_or_init(|| both(&rule_dirs()));
        let mut events = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let syslog = format!("<34>Oct 11 22:14:15 host sshd[{i}]: {l}");
            events.extend(parse_events("x.log", syslog.as_bytes(), Some(SourceKind::Syslog)).0);
            let json = format!(
                r#"{{"eventName":"x","userAgent":"{l}","userIdentity":{{"type":"{l}","arn":"arn:aws:sts::1:assumed-role/{l}"}}}}"#
            );
            let mut e = Event::new(SourceKind::Cloudtrail, Timestamp(i as i64), json);
            e.uid = format!("u{i}");
            events.push(e);
        }
        let (a, b) = (run(with, &events).0, run(without, &events).0);
        prop_assert_eq!(a, b);
    }
}

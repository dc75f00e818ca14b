//! Rule tests kept next to the rules (`name.tests.yml` beside `name.yml`):
//! events, inline or from files, and how many detections the rule must raise.
//!
//! ```yaml
//! tests:
//!   - name: a stopped trail is caught
//!     source: cloudtrail          # optional: read the records as this source
//!     events:                     # inline records: JSON objects, or text lines
//!       - {eventTime: "2024-01-01T00:00:00Z", eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
//!     expect: 1                   # detections of this rule; or `match: true|false`
//!   - name: from a file
//!     file: ../corpus/stop.json   # relative to this file
//!     match: true
//!   - name: a rule on GeoIP countries
//!     countries: {81.2.69.142: GB}  # what GeoIP would say of these addresses
//!     events: […]
//!     expect: 1
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mamori_event::{Event, SourceKind};
use mamori_parse::{ParseOptions, Rejected, Sink};
use serde::Deserialize;
use serde_yaml::Value as Yaml;

use crate::{run_all, LoadOptions, RuleSet};

/// Parses records as Mamori's ingest would; returns the events and a reason per rejected record.
pub fn parse_events(
    name: &str,
    data: &[u8],
    source: Option<SourceKind>,
) -> (Vec<Event>, Vec<String>) {
    struct Collect(Vec<Event>, Vec<String>);
    impl Sink for Collect {
        fn event(&mut self, e: Event) {
            self.0.push(e);
        }
        fn reject(&mut self, r: Rejected) {
            self.1.push(r.to_dead_letter_json("test"));
        }
    }
    let mut c = Collect(Vec::new(), Vec::new());
    let opts = ParseOptions {
        source,
        ..ParseOptions::default()
    };
    mamori_parse::parse(name, data, &opts, &mut c);
    (c.0, c.1)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    events: Vec<Yaml>,
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    expect: Option<u64>,
    #[serde(rename = "match", default)]
    must_match: Option<bool>,
    /// Source countries by address, as ingest's GeoIP would fill them in
    /// where the log gives none (rules on `src_country` for any source).
    #[serde(default)]
    countries: std::collections::HashMap<String, String>,
}

/// The result of one test case.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CaseResult {
    /// The tests file.
    pub file: PathBuf,
    /// The case's name.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What happened, when it did not.
    pub detail: String,
}

/// The sidecar tests file of a rule file, if there is one.
pub fn tests_file_for(rule: &Path) -> Option<PathBuf> {
    let stem = rule.file_stem()?.to_string_lossy().into_owned();
    ["yml", "yaml"]
        .iter()
        .map(|ext| rule.with_file_name(format!("{stem}.tests.{ext}")))
        .find(|p| p.is_file())
}

/// Runs every sidecar test of the rules under `paths`.
pub fn run(paths: &[PathBuf], opts: &LoadOptions) -> (Arc<RuleSet>, Vec<CaseResult>) {
    let rules = Arc::new(RuleSet::load(paths, opts));
    let mut results = Vec::new();
    for rule_file in crate::rule_files(paths) {
        let Some(tests) = tests_file_for(&rule_file) else {
            continue;
        };
        results.extend(run_file(&rules, &rule_file, &tests));
    }
    (rules, results)
}

fn fail(file: &Path, name: &str, detail: String) -> CaseResult {
    CaseResult {
        file: file.to_owned(),
        name: name.to_owned(),
        passed: false,
        detail,
    }
}

fn run_file(rules: &Arc<RuleSet>, rule_file: &Path, tests: &Path) -> Vec<CaseResult> {
    let parsed: Result<TestFile, String> = std::fs::read_to_string(tests)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_yaml::from_str(&t).map_err(|e| e.to_string()));
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => return vec![fail(tests, "(file)", format!("cannot read the tests: {e}"))],
    };
    let ids: Vec<String> = rules
        .rules
        .iter()
        .map(|r| &r.meta)
        .chain(rules.correlations.iter().map(|c| &c.meta))
        .filter(|m| m.file == rule_file)
        .map(|m| m.key().to_owned())
        .collect();
    if ids.is_empty() {
        return vec![fail(
            tests,
            "(file)",
            format!(
                "{} did not load; see `mamori rules lint`",
                rule_file.display()
            ),
        )];
    }
    parsed
        .tests
        .iter()
        .map(|case| run_case(rules, &ids, tests, case))
        .collect()
}

fn run_case(rules: &Arc<RuleSet>, ids: &[String], tests: &Path, case: &TestCase) -> CaseResult {
    let source = match case
        .source
        .as_deref()
        .map(|s| (s, SourceKind::from_name(s)))
    {
        Some((s, None)) => return fail(tests, &case.name, format!("unknown source '{s}'")),
        Some((_, k)) => k,
        None => None,
    };
    let mut events = Vec::new();
    let mut rejects = Vec::new();
    if !case.events.is_empty() {
        let mut text = String::new();
        for e in &case.events {
            match e {
                Yaml::String(line) => text.push_str(line),
                other => match serde_json::to_string(other) {
                    Ok(j) => text.push_str(&j),
                    Err(e) => return fail(tests, &case.name, format!("an event is not JSON: {e}")),
                },
            }
            text.push('\n');
        }
        let (ev, rj) = parse_events("test-events.jsonl", text.as_bytes(), source);
        events.extend(ev);
        rejects.extend(rj);
    }
    if let Some(f) = &case.file {
        let path = tests.parent().unwrap_or(Path::new(".")).join(f);
        match std::fs::read(&path) {
            Ok(data) => {
                let (ev, rj) = parse_events(&path.to_string_lossy(), &data, source);
                events.extend(ev);
                rejects.extend(rj);
            }
            Err(e) => {
                return fail(
                    tests,
                    &case.name,
                    format!("cannot read {}: {e}", path.display()),
                )
            }
        }
    }
    for e in &mut events {
        if e.src.country.is_none() {
            e.src.country = e
                .src
                .ip
                .as_ref()
                .and_then(|ip| case.countries.get(ip))
                .cloned();
        }
    }
    if !rejects.is_empty() {
        return fail(
            tests,
            &case.name,
            format!("{} record(s) rejected: {}", rejects.len(), rejects[0]),
        );
    }
    let found = run_all(Arc::clone(rules), events.iter())
        .into_iter()
        .filter(|d| ids.contains(&d.rule_id))
        .count() as u64;
    let (passed, want) = match (case.expect, case.must_match) {
        (Some(n), _) => (found == n, format!("{n}")),
        (None, Some(true)) => (found > 0, "at least 1".into()),
        (None, Some(false)) => (found == 0, "0".into()),
        (None, None) => {
            return fail(
                tests,
                &case.name,
                "give `expect: N` or `match: true|false`".into(),
            )
        }
    };
    CaseResult {
        file: tests.to_owned(),
        name: case.name.clone(),
        passed,
        detail: if passed {
            String::new()
        } else {
            format!(
                "expected {want} detection(s) from {} events, got {found}",
                events.len()
            )
        },
    }
}

//! Reading rule files: YAML documents into detection rules, filters and
//! correlations, each failure reported with its file, line and reason.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value as Yaml};

use crate::correlation::{self, CorrelationRule};
use crate::legacy;
use crate::rule::{condition_text, scalar, CompileError, CompiledDetection, LogSource, RuleMeta};

/// What loading needs besides the files.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct LoadOptions {
    /// Values for `%placeholder%`s (`expand`), by name.
    #[serde(default)]
    pub placeholders: HashMap<String, Vec<String>>,
    /// Value lists by name: `field|expand: '%name%'` matches a value the
    /// list contains (threat-intelligence lists of IPs, networks, domains).
    #[serde(skip)]
    pub lists: HashMap<String, std::sync::Arc<dyn ValueList>>,
    /// Try every unindexed rule on every event, without the substring
    /// prefilter (for tests that compare the two, and for measuring it).
    #[serde(skip)]
    pub no_prefilter: bool,
}

/// A named list of values rules can test membership of, looked up rather
/// than expanded (it may hold a million entries, or networks).
pub trait ValueList: Send + Sync + std::fmt::Debug {
    /// Whether the list holds `value` (for an IP list, a network holding it).
    fn contains(&self, value: &str) -> bool;
}

/// A rule that did not load, needs values, or deserves a warning.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleIssue {
    /// The rule file.
    pub file: PathBuf,
    /// The line the problem is on (1-based).
    pub line: usize,
    /// The rule's title, when it was read.
    pub rule: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for RuleIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if let Some(r) = &self.rule {
            write!(f, "{r}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// What a load did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadReport {
    /// Rule files read.
    pub files: usize,
    /// Detection rules loaded.
    pub detections: usize,
    /// Correlation rules loaded.
    pub correlations: usize,
    /// Filters loaded.
    pub filters: usize,
    /// Rules that did not load.
    pub errors: Vec<RuleIssue>,
    /// Rules that load once their placeholders have values.
    pub needs_values: Vec<RuleIssue>,
    /// Loaded rules with a problem worth knowing.
    pub warnings: Vec<RuleIssue>,
    /// Rules in the legacy aggregation syntax, loaded as correlations.
    pub translated: Vec<RuleIssue>,
}

/// A detection rule ready to run.
#[derive(Debug)]
pub struct DetectionRule {
    /// Title, level, tags, logsource…
    pub meta: RuleMeta,
    /// Its search identifiers and condition.
    pub detection: CompiledDetection,
    /// Filters (meta-filter rules) that must also hold.
    pub filters: Vec<CompiledDetection>,
    /// Whether its matches are reported (rules only referenced by a
    /// correlation are not, unless the correlation says `generate`).
    pub reports: bool,
}

/// A filter before it is attached to its rules.
pub(crate) struct FilterRule {
    meta: RuleMeta,
    rules: Vec<String>,
    detection: CompiledDetection,
}

/// A document read from a file.
pub(crate) enum Doc {
    Detection(DetectionRule),
    Correlation(CorrelationRule),
    Filter(Box<FilterRule>),
}

/// Everything loaded from a set of files.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Detection rules.
    pub detections: Vec<DetectionRule>,
    /// Correlation rules, references checked.
    pub correlations: Vec<CorrelationRule>,
    /// What happened.
    pub report: LoadReport,
}

/// The rule files under the given paths, sorted: `.yml`/`.yaml`, not test sidecars.
pub fn rule_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        for e in walkdir::WalkDir::new(p)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            let name = e.file_name().to_string_lossy();
            if e.file_type().is_file()
                && (name.ends_with(".yml") || name.ends_with(".yaml"))
                && !name.contains(".tests.")
            {
                out.push(e.into_path());
            }
        }
    }
    out
}

/// Loads every rule under `paths` (files or directories).
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Loaded {
    let mut texts = Vec::new();
    let mut report = LoadReport::default();
    for f in rule_files(paths) {
        match std::fs::read_to_string(&f) {
            Ok(t) => texts.push((f, t)),
            Err(e) => report.errors.push(RuleIssue {
                file: f,
                line: 0,
                rule: None,
                reason: format!("cannot read: {e}"),
            }),
        }
    }
    load_texts(texts, opts, report)
}

/// Loads rules from (file name, YAML text) pairs.
pub fn load_texts(
    texts: Vec<(PathBuf, String)>,
    opts: &LoadOptions,
    mut report: LoadReport,
) -> Loaded {
    let mut docs = Vec::new();
    for (file, text) in &texts {
        report.files += 1;
        read_file(file, text, opts, &mut docs, &mut report);
    }
    let mut detections = Vec::new();
    let mut correlations = Vec::new();
    let mut filters = Vec::new();
    for d in docs {
        match d {
            Doc::Detection(r) => detections.push(r),
            Doc::Correlation(c) => correlations.push(c),
            Doc::Filter(f) => filters.push(*f),
        }
    }
    for f in filters {
        report.filters += 1;
        let any = f.rules.is_empty() || f.rules.iter().any(|r| r == "any");
        for r in detections.iter_mut() {
            let targeted = any || f.rules.iter().any(|n| r.meta.is_named(n));
            if targeted && logsource_covers(&f.meta.logsource, &r.meta.logsource) {
                r.filters.push(f.detection.clone());
            }
        }
    }
    let correlations = check_correlations(correlations, &mut detections, &mut report);
    report.detections = detections.len();
    report.correlations = correlations.len();
    Loaded {
        detections,
        correlations,
        report,
    }
}

/// A filter applies to a rule when every logsource key the filter gives is the rule's.
fn logsource_covers(filter: &LogSource, rule: &LogSource) -> bool {
    let eq = |f: &Option<String>, r: &Option<String>| f.is_none() || f == r;
    eq(&filter.category, &rule.category)
        && eq(&filter.product, &rule.product)
        && eq(&filter.service, &rule.service)
}

/// Drops correlations whose references do not resolve or loop, and marks the
/// rules they use as not reporting on their own unless asked to.
fn check_correlations(
    corrs: Vec<CorrelationRule>,
    detections: &mut [DetectionRule],
    report: &mut LoadReport,
) -> Vec<CorrelationRule> {
    let known = |r: &str, corrs: &[CorrelationRule]| {
        detections.iter().any(|d| d.meta.is_named(r)) || corrs.iter().any(|c| c.meta.is_named(r))
    };
    let mut bad: Vec<usize> = Vec::new();
    for (i, c) in corrs.iter().enumerate() {
        if let Some(missing) = c.rules.iter().find(|r| !known(r, &corrs)) {
            report.errors.push(issue(
                &c.meta,
                format!("correlation refers to '{missing}', which no loaded rule is (id or name)"),
            ));
            bad.push(i);
        } else if reaches_itself(i, &corrs) {
            report.errors.push(issue(
                &c.meta,
                "correlation refers back to itself through its rules".into(),
            ));
            bad.push(i);
        }
    }
    let corrs: Vec<CorrelationRule> = corrs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !bad.contains(i))
        .map(|(_, c)| c)
        .collect();
    for d in detections.iter_mut() {
        let users: Vec<&CorrelationRule> = corrs
            .iter()
            .filter(|c| c.rules.iter().any(|r| d.meta.is_named(r)))
            .collect();
        if !users.is_empty() && !users.iter().any(|c| c.generate) {
            d.reports = false;
        }
    }
    corrs
}

fn reaches_itself(start: usize, corrs: &[CorrelationRule]) -> bool {
    let mut stack = vec![start];
    let mut seen = vec![false; corrs.len()];
    while let Some(i) = stack.pop() {
        for r in &corrs[i].rules {
            for (j, c) in corrs.iter().enumerate() {
                if c.meta.is_named(r) {
                    if j == start {
                        return true;
                    }
                    if !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
    }
    false
}

fn issue(meta: &RuleMeta, reason: String) -> RuleIssue {
    RuleIssue {
        file: meta.file.clone(),
        line: meta.line,
        rule: Some(meta.title.clone()),
        reason,
    }
}

/// The 1-based line each YAML document of a file starts on.
fn doc_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_end() == "---" {
            starts.push(i + 2);
            continue;
        }
        if starts.is_empty() && !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            starts.push(1);
        }
    }
    if starts.is_empty() {
        starts.push(1);
    }
    starts
}

/// The line of the first `key:` at or after `from`, else `from`.
fn line_of(text: &str, from: usize, key: &str) -> usize {
    let pat1 = format!("{key}:");
    let quoted = [format!("'{key}':"), format!("\"{key}\":")];
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&pat1) || quoted.iter().any(|q| t.starts_with(q.as_str()))
        })
        .map_or(from, |(i, _)| i + 1)
}

fn read_file(
    file: &Path,
    text: &str,
    opts: &LoadOptions,
    docs: &mut Vec<Doc>,
    report: &mut LoadReport,
) {
    let starts = doc_starts(text);
    for (n, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let start = starts.get(n).copied().unwrap_or(1);
        let value = match Yaml::deserialize(de) {
            Ok(v) => v,
            Err(e) => {
                let line = e.location().map_or(start, |l| l.line());
                report.errors.push(RuleIssue {
                    file: file.to_owned(),
                    line,
                    rule: None,
                    reason: format!("not valid YAML: {e}"),
                });
                return;
            }
        };
        let Yaml::Mapping(doc) = value else {
            if !value.is_null() {
                report.errors.push(RuleIssue {
                    file: file.to_owned(),
                    line: start,
                    rule: None,
                    reason: "a rule document must be a map".into(),
                });
            }
            continue;
        };
        match read_doc(file, text, start, &doc, opts, report) {
            Ok(mut d) => docs.append(&mut d),
            Err((reason, key, title, needs)) => {
                let i = RuleIssue {
                    file: file.to_owned(),
                    line: key.map_or(start, |k| line_of(text, start, &k)),
                    rule: title,
                    reason,
                };
                if needs {
                    report.needs_values.push(i);
                } else {
                    report.errors.push(i);
                }
            }
        }
    }
}

type DocError = (String, Option<String>, Option<String>, bool);

fn text_of(doc: &Mapping, key: &str) -> Option<String> {
    doc.get(key).and_then(scalar).and_then(Result::ok)
}

fn meta_of(file: &Path, start: usize, doc: &Mapping) -> Result<RuleMeta, DocError> {
    let title =
        text_of(doc, "title").ok_or(("the rule has no 'title'".to_owned(), None, None, false))?;
    let ls = doc.get("logsource").and_then(Yaml::as_mapping);
    let ls_field = |k: &str| ls.and_then(|m| text_of(m, k)).map(|s| s.to_lowercase());
    let tags = match doc.get("tags") {
        Some(Yaml::Sequence(s)) => s
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Ok(RuleMeta {
        id: text_of(doc, "id"),
        name: text_of(doc, "name"),
        title,
        level: text_of(doc, "level"),
        status: text_of(doc, "status"),
        tags,
        logsource: LogSource {
            category: ls_field("category"),
            product: ls_field("product"),
            service: ls_field("service"),
        },
        file: file.to_owned(),
        line: start,
    })
}

fn compile_err(e: CompileError, title: &str) -> DocError {
    match e {
        CompileError::Invalid(reason, near) => (reason, near, Some(title.to_owned()), false),
        CompileError::NeedsValue(p) => (
            format!("needs a value for the placeholder %{p}% (give it in the placeholders file)"),
            None,
            Some(title.to_owned()),
            true,
        ),
    }
}

fn read_doc(
    file: &Path,
    text: &str,
    start: usize,
    doc: &Mapping,
    opts: &LoadOptions,
    report: &mut LoadReport,
) -> Result<Vec<Doc>, DocError> {
    let meta = meta_of(file, start, doc)?;
    let title = meta.title.clone();
    if doc.contains_key("correlation") {
        return correlation::parse(meta, doc)
            .map(|c| vec![Doc::Correlation(c)])
            .map_err(|(r, k)| (r, Some(k.to_owned()), Some(title), false));
    }
    if let Some(f) = doc.get("filter") {
        let f = f.as_mapping().ok_or((
            "'filter' must be a map".to_owned(),
            Some("filter".to_owned()),
            Some(title.clone()),
            false,
        ))?;
        let rules = match f.get("rules") {
            Some(Yaml::Sequence(s)) => s
                .iter()
                .filter_map(|x| scalar(x).and_then(Result::ok))
                .collect(),
            Some(x) => scalar(x).and_then(Result::ok).into_iter().collect(),
            None => Vec::new(),
        };
        let cond = condition_text(f).map_err(|e| compile_err(e, &title))?;
        let detection = CompiledDetection::compile(f, &cond, &["rules"], opts)
            .map_err(|e| compile_err(e, &title))?;
        return Ok(vec![Doc::Filter(Box::new(FilterRule {
            meta,
            rules,
            detection,
        }))]);
    }
    let det = doc.get("detection").and_then(Yaml::as_mapping).ok_or((
        "the rule has no 'detection' map (nor 'correlation' or 'filter')".to_owned(),
        None,
        Some(title.clone()),
        false,
    ))?;
    if doc.get("logsource").and_then(Yaml::as_mapping).is_none() {
        return Err((
            "the rule has no 'logsource' map".into(),
            None,
            Some(title),
            false,
        ));
    }
    let cond = condition_text(det).map_err(|e| compile_err(e, &title))?;
    if let Some(plan) = legacy::plan(&cond, det)
        .map_err(|e| (e, Some("condition".to_owned()), Some(title.clone()), false))?
    {
        let docs = legacy::translate(meta, det, plan, opts).map_err(|e| compile_err(e, &title))?;
        report.translated.push(RuleIssue {
            file: file.to_owned(),
            line: line_of(text, start, "condition"),
            rule: Some(title),
            reason: "legacy aggregation loaded as a correlation".into(),
        });
        return Ok(docs);
    }
    let detection = CompiledDetection::compile(det, &cond, &["timeframe"], opts)
        .map_err(|e| compile_err(e, &title))?;
    Ok(vec![Doc::Detection(DetectionRule {
        meta,
        detection,
        filters: Vec::new(),
        reports: true,
    })])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_documents_and_keys() {
        let t = "title: a\n---\ntitle: b\ndetection:\n  sel:\n    x: 1\n";
        assert_eq!(doc_starts(t), [1, 3]);
        assert_eq!(line_of(t, 3, "sel"), 5);
        assert_eq!(doc_starts("---\ntitle: a\n"), [2]);
    }
}

//! Loaded rules, routed by source and indexed by the values they pin, so that
//! an event is tried only against the rules that can match it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use mamori_event::{Event, SourceKind};

use crate::correlation::CorrelationRule;
use crate::load::{self, DetectionRule, LoadOptions, LoadReport, RuleIssue};
use crate::prefilter::{self, Prefilter};
use crate::rule::LogSource;
use crate::view::EventView;

/// The sources Mamori reads that a rule's `logsource` describes.
pub fn sources_for(ls: &LogSource) -> Vec<SourceKind> {
    use SourceKind as S;
    let p = ls.product.as_deref();
    let s = ls.service.as_deref();
    let c = ls.category.as_deref();
    let kinds: &[SourceKind] = match (p, s) {
        (Some("aws"), Some("cloudtrail")) => &[S::Cloudtrail],
        (Some("aws"), Some("guardduty")) => &[S::Guardduty],
        (Some("aws"), Some("securityhub")) => &[S::SecurityHub],
        (Some("aws"), Some("vpcflowlogs" | "vpcflow")) => &[S::VpcFlow],
        (Some("aws"), Some("alb" | "elb")) => &[S::Alb],
        (Some("azure"), Some("signinlogs")) => &[S::EntraSignin],
        (Some("azure"), Some("auditlogs")) => &[S::EntraAudit],
        (Some("azure"), Some("activitylogs")) => &[S::AzureActivity],
        (Some("gcp"), Some("gcp.audit")) => &[S::GcpAudit],
        (Some("kubernetes"), Some("audit")) => &[S::K8sAudit],
        (
            Some("linux"),
            None
            | Some("syslog" | "auth" | "sshd" | "sudo" | "cron" | "clamav" | "guacamole" | "vsftpd"),
        ) if c.is_none() => &[S::Syslog],
        _ => &[],
    };
    kinds.to_vec()
}

/// The field whose value indexes a source's rules, as rules spell it.
fn key_fields(source: SourceKind) -> &'static [&'static str] {
    match source {
        SourceKind::Cloudtrail => &["eventName"],
        SourceKind::K8sAudit => &["verb"],
        SourceKind::AzureActivity => &["operationName"],
        SourceKind::GcpAudit => &[
            "gcp.audit.method_name",
            "protoPayload.methodName",
            "data.protoPayload.methodName",
        ],
        _ => &[],
    }
}

/// A source's rules: by the lower-cased key value they require, and the rest,
/// which a substring search over the event's text narrows.
#[derive(Debug, Default)]
pub(crate) struct Route {
    key_field: Option<&'static str>,
    pub(crate) by_key: HashMap<String, Vec<usize>>,
    pub(crate) unkeyed: Vec<usize>,
    prefilter: Option<Prefilter>,
}

impl Route {
    /// The candidate rules for one event, into `out`; `admitted` is scratch space.
    pub(crate) fn candidates(
        &self,
        e: &Event,
        view: &EventView<'_>,
        admitted: &mut Vec<bool>,
        out: &mut Vec<usize>,
    ) {
        out.clear();
        match &self.prefilter {
            Some(p) if prefilter::eligible(e) => {
                p.admit(e, admitted);
                out.extend(
                    self.unkeyed
                        .iter()
                        .zip(admitted.iter())
                        .filter_map(|(&r, &ok)| ok.then_some(r)),
                );
            }
            _ => out.extend_from_slice(&self.unkeyed),
        }
        out.extend_from_slice(self.keyed(e, view));
    }

    fn keyed(&self, e: &Event, view: &EventView<'_>) -> &[usize] {
        match self.key_field {
            None => &[],
            Some(f) => {
                let key = match (e.source, &e.api.operation) {
                    // CloudTrail's eventName is also a normalized column: no need to parse the record.
                    (SourceKind::Cloudtrail, Some(op)) => Some(op.to_ascii_lowercase()),
                    _ => view.strings(f).into_iter().next().map(|s| s.to_lowercase()),
                };
                key.and_then(|k| self.by_key.get(&k))
                    .map_or(&[], Vec::as_slice)
            }
        }
    }
}

/// Rules ready to run.
#[derive(Debug)]
pub struct RuleSet {
    /// Detection rules.
    pub rules: Vec<DetectionRule>,
    /// Correlation rules.
    pub correlations: Vec<CorrelationRule>,
    /// How loading went.
    pub report: LoadReport,
    pub(crate) routes: HashMap<SourceKind, Route>,
    /// For each rule, the correlations that consume its matches.
    pub(crate) rule_feeds: Vec<Vec<usize>>,
    /// For each correlation, the correlations that consume its matches.
    pub(crate) corr_feeds: Vec<Vec<usize>>,
    /// For each rule, the fields its correlations read (group-by, measured fields).
    pub(crate) corr_fields: Vec<Vec<String>>,
    /// Whether a correlation's own results are reported.
    pub(crate) corr_reports: Vec<bool>,
}

impl RuleSet {
    /// Loads rules from files and directories.
    pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> RuleSet {
        Self::from_loaded(load::load(paths, opts), !opts.no_prefilter)
    }

    /// Loads rules from (name, YAML text) pairs, e.g. an embedded pack.
    pub fn load_texts(texts: Vec<(PathBuf, String)>, opts: &LoadOptions) -> RuleSet {
        Self::from_loaded(
            load::load_texts(texts, opts, LoadReport::default()),
            !opts.no_prefilter,
        )
    }

    fn from_loaded(l: load::Loaded, opts_prefilter: bool) -> RuleSet {
        let load::Loaded {
            detections: rules,
            correlations,
            mut report,
        } = l;
        let mut routes: HashMap<SourceKind, Route> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            let kinds = sources_for(&r.meta.logsource);
            if kinds.is_empty() {
                report.warnings.push(RuleIssue {
                    file: r.meta.file.clone(),
                    line: r.meta.line,
                    rule: Some(r.meta.title.clone()),
                    reason: format!("logsource {} is not a source Mamori reads; the rule loads but sees no events", describe(&r.meta.logsource)),
                });
            }
            for k in kinds {
                let route = routes.entry(k).or_default();
                route.key_field = key_fields(k).first().copied();
                let pinned = key_fields(k)
                    .iter()
                    .find_map(|f| r.detection.required_values(f));
                match pinned {
                    Some(values) => {
                        let set: BTreeSet<String> = values.into_iter().collect();
                        for v in set {
                            route.by_key.entry(v).or_default().push(i);
                        }
                    }
                    None => route.unkeyed.push(i),
                }
            }
            crate::lint::check_fields(r, &mut report);
        }
        if opts_prefilter {
            for route in routes.values_mut() {
                let needles: Vec<Option<Vec<String>>> = route
                    .unkeyed
                    .iter()
                    .map(|&i| rules[i].detection.needles(&crate::view::is_normalized))
                    .collect();
                route.prefilter = Prefilter::new(&needles);
            }
        }
        let is_ref =
            |refs: &[String], meta: &crate::rule::RuleMeta| refs.iter().any(|x| meta.is_named(x));
        let rule_feeds: Vec<Vec<usize>> = rules
            .iter()
            .map(|r| {
                (0..correlations.len())
                    .filter(|&c| is_ref(&correlations[c].rules, &r.meta))
                    .collect()
            })
            .collect();
        let corr_feeds: Vec<Vec<usize>> = correlations
            .iter()
            .map(|inner| {
                (0..correlations.len())
                    .filter(|&c| is_ref(&correlations[c].rules, &inner.meta))
                    .collect()
            })
            .collect();
        let corr_reports = correlations
            .iter()
            .enumerate()
            .map(|(i, _)| {
                corr_feeds[i].is_empty() || corr_feeds[i].iter().any(|&o| correlations[o].generate)
            })
            .collect();
        let corr_fields = rule_feeds
            .iter()
            .map(|feeds| {
                let mut fields = BTreeSet::new();
                let mut stack = feeds.clone();
                let mut seen = vec![false; correlations.len()];
                while let Some(c) = stack.pop() {
                    if std::mem::replace(&mut seen[c], true) {
                        continue;
                    }
                    let corr = &correlations[c];
                    for g in &corr.group_by {
                        fields.insert(g.clone());
                        if let Some(per) = corr.aliases.get(g) {
                            fields.extend(per.values().cloned());
                        }
                    }
                    fields.extend(corr.threshold.fields.iter().cloned());
                    stack.extend(corr_feeds[c].iter().copied());
                }
                fields.into_iter().collect()
            })
            .collect();
        RuleSet {
            rules,
            correlations,
            report,
            routes,
            rule_feeds,
            corr_feeds,
            corr_fields,
            corr_reports,
        }
    }

    /// The sources at least one rule reads.
    pub fn sources(&self) -> Vec<SourceKind> {
        let mut v: Vec<SourceKind> = self.routes.keys().copied().collect();
        v.sort();
        v
    }

    /// How many of a source's unindexed rules the substring search can rule out.
    pub fn prefiltered(&self, source: SourceKind) -> usize {
        self.routes
            .get(&source)
            .and_then(|r| r.prefilter.as_ref())
            .map_or(0, Prefilter::ruled_out)
    }

    /// The rules of one source: (indexed by key value, not indexed).
    pub fn route_sizes(&self, source: SourceKind) -> (usize, usize) {
        self.routes.get(&source).map_or((0, 0), |r| {
            (r.by_key.values().map(Vec::len).sum(), r.unkeyed.len())
        })
    }

    /// Rules loaded from a directory, with their report; a convenience for tools.
    pub fn load_dir(dir: &Path) -> RuleSet {
        Self::load(&[dir.to_owned()], &LoadOptions::default())
    }
}

fn describe(ls: &LogSource) -> String {
    let parts: Vec<String> = [
        ("product", &ls.product),
        ("service", &ls.service),
        ("category", &ls.category),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
    .collect();
    format!("{{{}}}", parts.join(", "))
}

//! Sigma 1's aggregation syntax, loaded as the Sigma 2 correlation it means:
//! `sel | count() > N`, `sel | count(f) by g > N`, `a | near b`, and a
//! `timeframe` over `a and b` where each selection is a different event.

use std::collections::HashMap;

use serde_yaml::{Mapping, Value as Yaml};

use crate::correlation::{parse_timespan, CorrelationKind, CorrelationRule, Threshold};
use crate::load::{DetectionRule, Doc, LoadOptions};
use crate::rule::{CompileError, CompiledDetection, RuleMeta};
use crate::value::Cmp;

/// Window used when a legacy rule gives no `timeframe`.
const DEFAULT_TIMEFRAME: &str = "1h";

/// The correlation a legacy condition asks for.
pub(crate) struct Plan {
    /// Base conditions: one for counts, one per event for `near`/`timeframe`.
    bases: Vec<String>,
    kind: CorrelationKind,
    field: Option<String>,
    group_by: Vec<String>,
    op: Option<(Cmp, f64)>,
    timespan_ms: i64,
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '*')
}

/// Recognizes a legacy condition; `Ok(None)` for an ordinary one.
pub(crate) fn plan(cond: &str, det: &Mapping) -> Result<Option<Plan>, String> {
    let timeframe = det.get("timeframe").and_then(Yaml::as_str);
    let timespan_ms = parse_timespan(timeframe.unwrap_or(DEFAULT_TIMEFRAME))?;
    let Some((base, agg)) = cond.split_once('|') else {
        // `a and b` with a timeframe: two different events close in time.
        let parts: Vec<&str> = cond.split(" and ").map(str::trim).collect();
        if timeframe.is_some()
            && parts.len() > 1
            && parts.iter().all(|p| is_ident(p) && !p.contains('*'))
        {
            return Ok(Some(Plan {
                bases: parts.iter().map(|s| (*s).to_owned()).collect(),
                kind: CorrelationKind::Temporal,
                field: None,
                group_by: Vec::new(),
                op: None,
                timespan_ms,
            }));
        }
        return Ok(None);
    };
    let base = base.trim().to_owned();
    let agg = agg.trim();
    if let Some(rest) = agg.strip_prefix("near") {
        let mut bases = vec![base];
        bases.extend(
            rest.split(" and ")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
        );
        if bases.len() < 2 {
            return Err("'near' needs a search identifier after it".into());
        }
        return Ok(Some(Plan {
            bases,
            kind: CorrelationKind::Temporal,
            field: None,
            group_by: Vec::new(),
            op: None,
            timespan_ms,
        }));
    }
    let bad = || {
        format!("cannot read the aggregation '{agg}' (expected count([field]) [by field] <op> N, or near)")
    };
    let rest = agg.strip_prefix("count(").ok_or_else(bad)?;
    let (field, rest) = rest.split_once(')').ok_or_else(bad)?;
    let rest = rest.trim();
    let (group_by, rest) = match rest.strip_prefix("by ") {
        Some(r) => {
            let end = r.find(['<', '>', '=', '!']).ok_or_else(bad)?;
            let g: Vec<String> = r[..end]
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            (g, &r[end..])
        }
        None => (Vec::new(), rest),
    };
    let ops = [
        (">=", Cmp::Gte),
        ("<=", Cmp::Lte),
        ("==", Cmp::Eq),
        (">", Cmp::Gt),
        ("<", Cmp::Lt),
        ("=", Cmp::Eq),
    ];
    let (cmp, n) = ops
        .iter()
        .find_map(|(t, c)| rest.strip_prefix(t).map(|n| (*c, n.trim())))
        .ok_or_else(bad)?;
    let n: f64 = n.parse().map_err(|_| bad())?;
    let field = field.trim();
    Ok(Some(Plan {
        bases: vec![base],
        kind: if field.is_empty() {
            CorrelationKind::EventCount
        } else {
            CorrelationKind::ValueCount
        },
        field: (!field.is_empty()).then(|| field.to_owned()),
        group_by,
        op: Some((cmp, n)),
        timespan_ms,
    }))
}

/// The base rules and the correlation over them.
pub(crate) fn translate(
    meta: RuleMeta,
    det: &Mapping,
    plan: Plan,
    opts: &LoadOptions,
) -> Result<Vec<Doc>, CompileError> {
    let stem = meta.id.clone().unwrap_or_else(|| meta.title.clone());
    let mut docs = Vec::new();
    let mut names = Vec::new();
    for (i, cond) in plan.bases.iter().enumerate() {
        let detection = CompiledDetection::compile(det, cond, &["timeframe"], opts)?;
        let name = format!("{stem}#{}", i + 1);
        names.push(name.clone());
        docs.push(Doc::Detection(DetectionRule {
            meta: RuleMeta {
                id: None,
                name: Some(name),
                title: format!("{} ({cond})", meta.title),
                ..meta.clone()
            },
            detection,
            filters: Vec::new(),
            reports: false,
        }));
    }
    let threshold = Threshold {
        ops: vec![plan.op.unwrap_or((Cmp::Gte, names.len() as f64))],
        neq: Vec::new(),
        fields: plan.field.into_iter().collect(),
        percentile: None,
    };
    docs.push(Doc::Correlation(CorrelationRule {
        meta,
        kind: plan.kind,
        rules: names,
        group_by: plan.group_by,
        timespan_ms: plan.timespan_ms,
        threshold,
        aliases: HashMap::new(),
        generate: false,
    }));
    Ok(docs)
}

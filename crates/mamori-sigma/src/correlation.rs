//! Correlation rules (Sigma 2.1 meta-rules over the matches of other rules).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_yaml::Value as Yaml;

use crate::rule::{scalar, RuleMeta};
use crate::value::Cmp;

/// The kind of a correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationKind {
    /// Matches per group within the timespan.
    EventCount,
    /// Distinct values of a field per group.
    ValueCount,
    /// Every referenced rule matched, in any order.
    Temporal,
    /// Every referenced rule matched, in the listed order.
    TemporalOrdered,
    /// Sum of a numeric field.
    ValueSum,
    /// Average of a numeric field.
    ValueAvg,
    /// A percentile of a numeric field.
    ValuePercentile,
}

impl CorrelationKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "event_count" => Self::EventCount,
            "value_count" => Self::ValueCount,
            "temporal" => Self::Temporal,
            "temporal_ordered" => Self::TemporalOrdered,
            "value_sum" => Self::ValueSum,
            "value_avg" => Self::ValueAvg,
            "value_percentile" => Self::ValuePercentile,
            _ => return None,
        })
    }

    /// The name rules use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventCount => "event_count",
            Self::ValueCount => "value_count",
            Self::Temporal => "temporal",
            Self::TemporalOrdered => "temporal_ordered",
            Self::ValueSum => "value_sum",
            Self::ValueAvg => "value_avg",
            Self::ValuePercentile => "value_percentile",
        }
    }

    fn needs_field(self) -> bool {
        matches!(
            self,
            Self::ValueCount | Self::ValueSum | Self::ValueAvg | Self::ValuePercentile
        )
    }
}

/// A correlation's threshold: one or two comparisons (a range), `neq` as its own flag.
#[derive(Clone, Debug, Default)]
pub struct Threshold {
    /// Comparisons that must all hold.
    pub ops: Vec<(Cmp, f64)>,
    /// Values the measure must differ from.
    pub neq: Vec<f64>,
    /// The field(s) a value-based correlation measures.
    pub fields: Vec<String>,
    /// For `value_percentile`: which percentile (default 50).
    pub percentile: Option<f64>,
}

impl Threshold {
    /// Whether a measure satisfies the threshold.
    pub fn holds(&self, x: f64) -> bool {
        self.ops.iter().all(|(c, n)| c.holds(x, *n)) && self.neq.iter().all(|n| x != *n)
    }
}

/// A correlation rule.
#[derive(Clone, Debug)]
pub struct CorrelationRule {
    /// Title, level, tags…
    pub meta: RuleMeta,
    /// Its kind.
    pub kind: CorrelationKind,
    /// The rules it correlates, by id or name, as written.
    pub rules: Vec<String>,
    /// Group-by fields (or aliases).
    pub group_by: Vec<String>,
    /// Window length in milliseconds.
    pub timespan_ms: i64,
    /// When it fires.
    pub threshold: Threshold,
    /// alias → (rule reference → field).
    pub aliases: HashMap<String, HashMap<String, String>>,
    /// Whether the correlated rules also report their own matches.
    pub generate: bool,
}

impl CorrelationRule {
    /// The field a group-by name (or alias) reads on a match of `rule`.
    pub fn field_for<'a>(&'a self, name: &'a str, rule_refs: &[&str]) -> &'a str {
        if let Some(per_rule) = self.aliases.get(name) {
            for r in rule_refs {
                if let Some(f) = per_rule.get(*r) {
                    return f;
                }
            }
        }
        name
    }
}

/// Parses `10m`, `1h`, `30s`, `2d`, `1w`, `1M`, `1y` into milliseconds.
pub fn parse_timespan(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("timespan '{s}' is not <number><unit>"))?;
    let unit_s: i64 = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "M" => 2_629_746,
        "y" => 31_556_952,
        _ => {
            return Err(format!(
                "timespan '{s}': unit must be s, m, h, d, w, M or y"
            ))
        }
    };
    if n <= 0 {
        return Err(format!("timespan '{s}' must be positive"));
    }
    Ok(n.saturating_mul(unit_s).saturating_mul(1000))
}

fn strings(v: &Yaml, what: &str) -> Result<Vec<String>, String> {
    match v {
        Yaml::Sequence(s) => s
            .iter()
            .map(|x| match scalar(x) {
                Some(Ok(t)) => Ok(t),
                _ => Err(format!("'{what}' must list names")),
            })
            .collect(),
        Yaml::Null => Ok(Vec::new()),
        x => match scalar(x) {
            Some(Ok(t)) => Ok(vec![t]),
            _ => Err(format!("'{what}' must be a name or a list of names")),
        },
    }
}

/// Parses a document's `correlation` section.
pub(crate) fn parse(
    meta: RuleMeta,
    doc: &serde_yaml::Mapping,
) -> Result<CorrelationRule, (String, &'static str)> {
    let corr = doc
        .get("correlation")
        .and_then(Yaml::as_mapping)
        .ok_or(("'correlation' must be a map".to_owned(), "correlation"))?;
    let kind_text = corr.get("type").and_then(Yaml::as_str).unwrap_or("");
    let kind = CorrelationKind::parse(kind_text).ok_or((
        format!("correlation type '{kind_text}' is not one of event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile"),
        "type",
    ))?;
    let rules =
        strings(corr.get("rules").unwrap_or(&Yaml::Null), "rules").map_err(|e| (e, "rules"))?;
    if rules.is_empty() {
        return Err(("a correlation needs 'rules'".into(), "correlation"));
    }
    let group_by = strings(corr.get("group-by").unwrap_or(&Yaml::Null), "group-by")
        .map_err(|e| (e, "group-by"))?;
    let timespan_ms = match corr.get("timespan").or_else(|| corr.get("timeframe")) {
        Some(v) => match scalar(v) {
            Some(Ok(t)) => parse_timespan(&t).map_err(|e| (e, "timespan"))?,
            _ => return Err(("'timespan' must be like 10m".into(), "timespan")),
        },
        None => return Err(("a correlation needs a 'timespan'".into(), "correlation")),
    };
    let mut threshold = Threshold::default();
    match corr.get("condition") {
        Some(Yaml::Mapping(c)) => {
            for (k, v) in c {
                let key = k.as_str().unwrap_or("");
                if key == "field" {
                    threshold.fields = strings(v, "field").map_err(|e| (e, "field"))?;
                    continue;
                }
                let n = match scalar(v) {
                    Some(Ok(t)) => t.trim().parse::<f64>().map_err(|_| {
                        (
                            format!("condition '{key}: {t}' needs a number"),
                            "condition",
                        )
                    })?,
                    _ => return Err((format!("condition '{key}' needs a number"), "condition")),
                };
                match key {
                    "gt" => threshold.ops.push((Cmp::Gt, n)),
                    "gte" => threshold.ops.push((Cmp::Gte, n)),
                    "lt" => threshold.ops.push((Cmp::Lt, n)),
                    "lte" => threshold.ops.push((Cmp::Lte, n)),
                    "eq" => threshold.ops.push((Cmp::Eq, n)),
                    "neq" => threshold.neq.push(n),
                    "percentile" => threshold.percentile = Some(n),
                    other => {
                        return Err((
                            format!(
                                "condition operator '{other}' is not gt, gte, lt, lte, eq or neq"
                            ),
                            "condition",
                        ))
                    }
                }
            }
        }
        None if matches!(
            kind,
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered
        ) =>
        {
            threshold.ops.push((Cmp::Gte, rules.len() as f64));
        }
        _ => {
            return Err((
                format!("a {} correlation needs a 'condition'", kind.as_str()),
                "condition",
            ))
        }
    }
    if threshold.ops.is_empty() && threshold.neq.is_empty() {
        return Err((
            "the condition has no comparison (gt, gte, lt, lte, eq, neq)".into(),
            "condition",
        ));
    }
    if kind.needs_field() && threshold.fields.is_empty() {
        return Err((
            format!("a {} correlation needs 'condition.field'", kind.as_str()),
            "condition",
        ));
    }
    let mut aliases = HashMap::new();
    if let Some(a) = corr.get("aliases") {
        let a = a
            .as_mapping()
            .ok_or(("'aliases' must be a map".to_owned(), "aliases"))?;
        for (alias, per) in a {
            let alias = alias.as_str().unwrap_or_default().to_owned();
            let per = per.as_mapping().ok_or((
                format!("alias '{alias}' must map rule names to fields"),
                "aliases",
            ))?;
            let mut m = HashMap::new();
            for (r, f) in per {
                if let (Some(r), Some(f)) = (r.as_str(), f.as_str()) {
                    m.insert(r.to_owned(), f.to_owned());
                }
            }
            aliases.insert(alias, m);
        }
    }
    // The specification puts `generate` at the top level; pySigma reads it inside `correlation`.
    let generate = doc
        .get("generate")
        .or_else(|| corr.get("generate"))
        .and_then(Yaml::as_bool)
        .unwrap_or(false);
    Ok(CorrelationRule {
        meta,
        kind,
        rules,
        group_by,
        timespan_ms,
        threshold,
        aliases,
        generate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("10m"), Ok(600_000));
        assert_eq!(parse_timespan("1h"), Ok(3_600_000));
        assert!(parse_timespan("10x").is_err());
        assert!(parse_timespan("m").is_err());
        assert!(parse_timespan("0s").is_err());
    }
}

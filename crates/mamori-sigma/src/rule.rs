//! CompiledDetection rules: search identifiers compiled into matchers, and their condition.

use std::path::PathBuf;

use serde::Serialize;
use serde_yaml::Value as Yaml;

use crate::condition::{self, Cond};
use crate::value::{compile_value, MissingPlaceholder, Modifiers, ValueMatcher};
use crate::view::{EventView, FieldValue};

/// `logsource` of a rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogSource {
    /// `category`
    pub category: Option<String>,
    /// `product`
    pub product: Option<String>,
    /// `service`
    pub service: Option<String>,
}

/// What every rule kind carries besides its logic.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RuleMeta {
    /// `id` (a UUID in SigmaHQ).
    pub id: Option<String>,
    /// `name`, the handle correlations and filters may use.
    pub name: Option<String>,
    /// `title`
    pub title: String,
    /// `level`, `informational` … `critical`.
    pub level: Option<String>,
    /// `status`
    pub status: Option<String>,
    /// `tags`, e.g. `attack.t1078`.
    pub tags: Vec<String>,
    /// `logsource`
    pub logsource: LogSource,
    /// The file the rule came from.
    pub file: PathBuf,
    /// The line its YAML document starts on.
    pub line: usize,
}

impl RuleMeta {
    /// The id, else the name, else the title: how reports refer to the rule.
    pub fn key(&self) -> &str {
        self.id
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.title)
    }

    /// Whether a correlation or filter reference names this rule.
    pub fn is_named(&self, r: &str) -> bool {
        self.id.as_deref() == Some(r) || self.name.as_deref() == Some(r)
    }
}

/// One `field|modifiers: values` of a search identifier, or a keyword list.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// `None` for keywords, which search the whole event.
    field: Option<String>,
    values: Vec<ValueMatcher>,
    all: bool,
    neq: bool,
}

/// A search identifier: maps ORed, items of a map ANDed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Selection {
    branches: Vec<Vec<Item>>,
}

/// A detection's search identifiers and condition; also the shape of a filter.
#[derive(Clone, Debug)]
pub struct CompiledDetection {
    pub(crate) names: Vec<String>,
    pub(crate) selections: Vec<Selection>,
    pub(crate) condition: Cond,
}

/// Why a detection did not compile.
#[derive(Debug)]
pub(crate) enum CompileError {
    /// Invalid: the reason, and a key near which the YAML says it.
    Invalid(String, Option<String>),
    /// The rule needs a placeholder value the configuration does not give.
    NeedsValue(String),
}

fn invalid(reason: impl Into<String>, near: Option<&str>) -> CompileError {
    CompileError::Invalid(reason.into(), near.map(str::to_owned))
}

/// A YAML scalar as Sigma compares it; `None` for `null`.
pub(crate) fn scalar(v: &Yaml) -> Option<Result<String, String>> {
    match v {
        Yaml::Null => None,
        Yaml::Bool(b) => Some(Ok(b.to_string())),
        Yaml::Number(n) => Some(Ok(n.to_string())),
        Yaml::String(s) => Some(Ok(s.clone())),
        Yaml::Tagged(t) => scalar(&t.value),
        Yaml::Sequence(_) | Yaml::Mapping(_) => {
            Some(Err("a list or map where a value belongs".into()))
        }
    }
}

fn compile_item(key: &str, value: &Yaml, opts: &crate::LoadOptions) -> Result<Item, CompileError> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or("").trim().to_owned();
    let mods: Vec<&str> = parts.collect();
    let mut m = Modifiers::parse(&mods).map_err(|e| invalid(e, Some(key)))?;
    let keyword = field.is_empty();
    if keyword && !m.steps.iter().any(|s| s == "contains") {
        // Keywords are found anywhere in the event's text.
        m.steps.push("contains".into());
    }
    let raw_values: Vec<&Yaml> = match value {
        Yaml::Sequence(s) => s.iter().collect(),
        v => vec![v],
    };
    if raw_values.is_empty() {
        return Err(invalid(
            format!("'{key}' has an empty list of values"),
            Some(key),
        ));
    }
    if m.exists {
        let want = match raw_values.as_slice() {
            [Yaml::Bool(b)] => *b,
            _ => {
                return Err(invalid(
                    format!("'{key}': 'exists' takes true or false"),
                    Some(key),
                ))
            }
        };
        return Ok(Item {
            field: Some(field),
            values: vec![ValueMatcher::Exists(want)],
            all: false,
            neq: false,
        });
    }
    if m.all && raw_values.len() < 2 && !keyword {
        return Err(invalid(
            format!("'{key}': 'all' needs a list of values"),
            Some(key),
        ));
    }
    let mut values = Vec::new();
    for v in raw_values {
        match scalar(v) {
            None => values.push(ValueMatcher::Null),
            Some(Err(e)) => return Err(invalid(format!("'{key}': {e}"), Some(key))),
            Some(Ok(s)) => match compile_value(&s, &m, opts) {
                Ok(Ok(vm)) => values.push(vm),
                Ok(Err(MissingPlaceholder(p))) => return Err(CompileError::NeedsValue(p)),
                Err(e) => return Err(invalid(format!("'{key}': {e}"), Some(key))),
            },
        }
    }
    Ok(Item {
        field: (!keyword).then_some(field),
        values,
        all: m.all,
        neq: m.neq,
    })
}

fn compile_selection(
    name: &str,
    v: &Yaml,
    opts: &crate::LoadOptions,
) -> Result<Selection, CompileError> {
    let map_items = |m: &serde_yaml::Mapping| -> Result<Vec<Item>, CompileError> {
        m.iter()
            .map(|(k, v)| {
                let key = scalar(k).and_then(Result::ok).ok_or_else(|| {
                    invalid(format!("'{name}' has a key that is not text"), Some(name))
                })?;
                compile_item(&key, v, opts)
            })
            .collect()
    };
    match v {
        Yaml::Mapping(m) => Ok(Selection {
            branches: vec![map_items(m)?],
        }),
        Yaml::Sequence(s) if s.iter().all(|x| matches!(x, Yaml::Mapping(_))) => Ok(Selection {
            branches: s
                .iter()
                .filter_map(|x| x.as_mapping())
                .map(map_items)
                .collect::<Result<_, _>>()?,
        }),
        Yaml::Sequence(s)
            if s.iter()
                .all(|x| !matches!(x, Yaml::Mapping(_) | Yaml::Sequence(_))) =>
        {
            Ok(Selection {
                branches: vec![vec![compile_item("", v, opts)?]],
            })
        }
        Yaml::String(_) | Yaml::Number(_) => Ok(Selection {
            branches: vec![vec![compile_item("", v, opts)?]],
        }),
        _ => Err(invalid(
            format!("'{name}' must be a map, a list of maps or a list of keywords"),
            Some(name),
        )),
    }
}

/// Reads `condition`: one string, or a list of them (ORed).
pub(crate) fn condition_text(det: &serde_yaml::Mapping) -> Result<String, CompileError> {
    match det.get("condition") {
        Some(Yaml::String(s)) => Ok(s.clone()),
        Some(Yaml::Sequence(list)) if !list.is_empty() => {
            let parts: Option<Vec<String>> = list
                .iter()
                .map(|c| c.as_str().map(|s| format!("({s})")))
                .collect();
            parts.map(|p| p.join(" or ")).ok_or_else(|| {
                invalid(
                    "'condition' must be text or a list of text",
                    Some("condition"),
                )
            })
        }
        _ => Err(invalid(
            "the detection has no 'condition'",
            Some("detection"),
        )),
    }
}

impl CompiledDetection {
    /// Compiles a `detection` (or a filter's `filter`) map with its condition text.
    pub(crate) fn compile(
        det: &serde_yaml::Mapping,
        condition_text: &str,
        skip: &[&str],
        opts: &crate::LoadOptions,
    ) -> Result<CompiledDetection, CompileError> {
        let mut names = Vec::new();
        let mut selections = Vec::new();
        for (k, v) in det {
            let Some(name) = k.as_str() else {
                return Err(invalid("a search identifier is not text", None));
            };
            if name == "condition" || skip.contains(&name) {
                continue;
            }
            selections.push(compile_selection(name, v, opts)?);
            names.push(name.to_owned());
        }
        let condition = condition::parse(condition_text, &names)
            .map_err(|e| invalid(format!("condition: {e}"), Some("condition")))?;
        Ok(CompiledDetection {
            names,
            selections,
            condition,
        })
    }

    /// The search identifiers, in the order the rule gives them.
    pub fn identifiers(&self) -> &[String] {
        &self.names
    }

    /// Whether the event satisfies the condition.
    pub fn matches(&self, view: &EventView<'_>) -> bool {
        self.condition.eval(&mut |i| {
            self.selections[i]
                .branches
                .iter()
                .any(|b| b.iter().all(|it| it.matches(view)))
        })
    }

    /// Every field the detection reads.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.selections
            .iter()
            .flat_map(|s| s.branches.iter().flatten())
            .filter_map(|i| i.field.as_deref())
    }

    /// For indexing: the lower-cased values `field` must equal for the
    /// detection to match, when the condition pins it; `None` when it does not.
    pub fn required_values(&self, field: &str) -> Option<Vec<String>> {
        self.required(&self.condition, field)
    }

    /// For the prefilter: needles one of which the record's text contains
    /// whenever the detection matches; `None` when the condition proves none.
    pub(crate) fn needles(&self, is_normalized: &dyn Fn(&str) -> bool) -> Option<Vec<String>> {
        self.needles_of(&self.condition, is_normalized)
    }

    fn needles_of(&self, c: &Cond, is_normalized: &dyn Fn(&str) -> bool) -> Option<Vec<String>> {
        match c {
            Cond::Sel(i) => {
                let mut all = Vec::new();
                for b in &self.selections[*i].branches {
                    all.extend(crate::prefilter::best(
                        b.iter().filter_map(|it| it.needles(is_normalized)),
                    )?);
                }
                (!all.is_empty()).then_some(all)
            }
            Cond::And(v) => {
                crate::prefilter::best(v.iter().filter_map(|c| self.needles_of(c, is_normalized)))
            }
            Cond::Or(v) => {
                let mut all = Vec::new();
                for c in v {
                    all.extend(self.needles_of(c, is_normalized)?);
                }
                Some(all)
            }
            Cond::Not(_) => None,
        }
    }

    fn required(&self, c: &Cond, field: &str) -> Option<Vec<String>> {
        match c {
            Cond::Sel(i) => {
                let mut all = Vec::new();
                for b in &self.selections[*i].branches {
                    let item = b
                        .iter()
                        .find(|it| it.field.as_deref() == Some(field) && !it.neq && !it.all)?;
                    for v in &item.values {
                        all.extend(v.exact_folded()?);
                    }
                }
                Some(all)
            }
            Cond::And(v) => v
                .iter()
                .filter_map(|c| self.required(c, field))
                .min_by_key(Vec::len),
            Cond::Or(v) => {
                let mut all = Vec::new();
                for c in v {
                    all.extend(self.required(c, field)?);
                }
                Some(all)
            }
            Cond::Not(_) => None,
        }
    }
}

impl Item {
    /// Needles one of which the record's text contains whenever the item
    /// matches; `is_normalized` tells fields read from the normalized event,
    /// whose values need not be in the text.
    fn needles(&self, is_normalized: &dyn Fn(&str) -> bool) -> Option<Vec<String>> {
        if self.neq || self.field.as_deref().is_some_and(is_normalized) {
            return None;
        }
        let per_value = |vm: &ValueMatcher| -> Option<Vec<String>> {
            match vm {
                ValueMatcher::Str(alts) => {
                    alts.iter().map(|a| a.needle().map(str::to_owned)).collect()
                }
                ValueMatcher::Regex(re) => {
                    crate::prefilter::regex_needle(re.as_str()).map(|n| vec![n])
                }
                _ => None,
            }
        };
        if self.all {
            crate::prefilter::best(self.values.iter().filter_map(per_value))
        } else {
            let mut all = Vec::new();
            for v in &self.values {
                all.extend(per_value(v)?);
            }
            (!all.is_empty()).then_some(all)
        }
    }

    fn matches(&self, view: &EventView<'_>) -> bool {
        let Some(field) = &self.field else {
            let hit = |vm: &ValueMatcher| view.any_text(&mut |t| vm.matches(t, &|_| Vec::new()));
            return if self.all {
                self.values.iter().all(hit)
            } else {
                self.values.iter().any(hit)
            };
        };
        let got = view.get(field);
        if let [ValueMatcher::Exists(want)] = self.values.as_slice() {
            return got.is_some() == *want;
        }
        let is_null = got.as_ref().is_none_or(|v| v.contains(&FieldValue::Null));
        let texts: Vec<&str> = got
            .iter()
            .flatten()
            .filter_map(|x| match x {
                FieldValue::Text(t) => Some(t.as_ref()),
                FieldValue::Null => None,
            })
            .collect();
        let other = |f: &str| view.strings(f);
        let hit = |vm: &ValueMatcher| match vm {
            ValueMatcher::Null => is_null,
            vm => texts.iter().any(|t| vm.matches(t, &other)),
        };
        if self.neq {
            // A field that is absent has no value to differ: no match, as for any comparison.
            !texts.is_empty() && !self.values.iter().any(hit)
        } else if self.all {
            self.values.iter().all(hit)
        } else {
            self.values.iter().any(hit)
        }
    }
}

impl ValueMatcher {
    /// The folded literal an exact, case-insensitive match compares with.
    pub(crate) fn exact_folded(&self) -> Option<Vec<String>> {
        match self {
            ValueMatcher::Str(alts) => alts.iter().map(|a| a.exact()).collect(),
            _ => None,
        }
    }
}

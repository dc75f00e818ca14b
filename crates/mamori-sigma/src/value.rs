//! Sigma values and their modifiers, compiled into matchers.
//!
//! A rule value goes through the transformation modifiers first (each may
//! turn one value into several alternatives: `windash`, `base64offset`,
//! `expand`), then becomes one [`ValueMatcher`] per original value.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use base64::Engine as _;
use regex::Regex;

/// A piece of a Sigma string value: literal bytes or a wildcard.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Lit(Vec<u8>),
    /// `*`: any sequence, empty included.
    Any,
    /// `?`: exactly one character.
    One,
}

/// Splits a value into literals and wildcards, applying Sigma's escapes:
/// `\*` and `\?` are literal, `\\` is one backslash, and a backslash before
/// anything else is itself.
pub(crate) fn parse_wildcards(s: &str) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::new();
    let mut lit = Vec::new();
    let mut chars = s.chars().peekable();
    let push_lit = |out: &mut Vec<Tok>, lit: &mut Vec<u8>| {
        if !lit.is_empty() {
            out.push(Tok::Lit(std::mem::take(lit)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    let mut b = [0; 4];
                    lit.extend_from_slice(n.encode_utf8(&mut b).as_bytes());
                }
                _ => lit.push(b'\\'),
            },
            '*' => {
                push_lit(&mut out, &mut lit);
                out.push(Tok::Any);
            }
            '?' => {
                push_lit(&mut out, &mut lit);
                out.push(Tok::One);
            }
            c => {
                let mut b = [0; 4];
                lit.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    push_lit(&mut out, &mut lit);
    out
}

fn has_wildcards(v: &[Tok]) -> bool {
    v.iter().any(|t| !matches!(t, Tok::Lit(_)))
}

fn literal_bytes(v: &[Tok]) -> Vec<u8> {
    v.iter()
        .flat_map(|t| match t {
            Tok::Lit(b) => b.clone(),
            _ => Vec::new(),
        })
        .collect()
}

/// Comparison of a number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmp {
    /// `lt`
    Lt,
    /// `lte`
    Lte,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// equality (a time part with no comparison modifier)
    Eq,
}

impl Cmp {
    pub(crate) fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Lte => a <= b,
            Cmp::Gt => a > b,
            Cmp::Gte => a >= b,
            Cmp::Eq => a == b,
        }
    }
}

/// Part of a date a time modifier extracts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimePart {
    /// 0–59
    Minute,
    /// 0–23
    Hour,
    /// 1–31
    Day,
    /// ISO week 1–53
    Week,
    /// 1–12
    Month,
    /// the year
    Year,
}

/// How one string pattern compares (after case folding unless `cased`).
#[derive(Clone, Debug)]
pub(crate) enum Pattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(Contains),
    Glob(Regex),
}

/// A substring search; ASCII needles use one automaton that ignores ASCII case
/// so that the haystack need not be lower-cased.
#[derive(Clone, Debug)]
pub(crate) struct Contains {
    needle: String,
    ac: Option<AhoCorasick>,
}

impl Contains {
    fn new(needle: String, cased: bool) -> Result<Self, String> {
        let ac = if cased || needle.is_ascii() {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(!cased)
                    .build([needle.as_str()])
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        Ok(Contains { needle, ac })
    }
}

/// A compiled string pattern.
#[derive(Clone, Debug)]
pub(crate) struct StrMatcher {
    pattern: Pattern,
    cased: bool,
    /// The value as a number, so that `1.0` equals `1`.
    number: Option<f64>,
    /// Text a field value must contain to match (see `prefilter`).
    needle: Option<String>,
}

fn eq_fold(a: &str, b_lower: &str) -> bool {
    if a.is_ascii() {
        a.eq_ignore_ascii_case(b_lower)
    } else {
        a.to_lowercase() == b_lower
    }
}

impl StrMatcher {
    fn new(toks: &[Tok], cased: bool) -> Result<Self, String> {
        let fold = |b: &[u8]| {
            let s = String::from_utf8_lossy(b).into_owned();
            if cased {
                s
            } else {
                s.to_lowercase()
            }
        };
        let n = toks.len();
        let pattern = match toks {
            [] => Pattern::Exact(String::new()),
            [Tok::Lit(b)] => Pattern::Exact(fold(b)),
            [Tok::Lit(b), Tok::Any] => Pattern::Prefix(fold(b)),
            [Tok::Any, Tok::Lit(b)] => Pattern::Suffix(fold(b)),
            [Tok::Any, Tok::Lit(b), Tok::Any] => Pattern::Contains(Contains::new(fold(b), cased)?),
            [Tok::Any] => Pattern::Prefix(String::new()),
            _ => {
                let mut re = String::from(if cased { "(?s)^" } else { "(?is)^" });
                for (i, t) in toks.iter().enumerate() {
                    match t {
                        Tok::Lit(b) => re.push_str(&regex::escape(&String::from_utf8_lossy(b))),
                        Tok::Any if i + 1 == n => {}
                        Tok::Any => re.push_str(".*"),
                        Tok::One => re.push('.'),
                    }
                }
                if !matches!(toks.last(), Some(Tok::Any)) {
                    re.push('$');
                }
                Pattern::Glob(Regex::new(&re).map_err(|e| e.to_string())?)
            }
        };
        let number = match toks {
            [Tok::Lit(b)] => std::str::from_utf8(b).ok().and_then(parse_number),
            _ => None,
        };
        let needle = if number.is_some() {
            None
        } else {
            toks.iter()
                .filter_map(|t| match t {
                    Tok::Lit(b) => crate::prefilter::needle(b),
                    _ => None,
                })
                .max_by_key(String::len)
        };
        Ok(StrMatcher {
            pattern,
            cased,
            number,
            needle,
        })
    }

    /// Text a field value must contain for this pattern to match it.
    pub(crate) fn needle(&self) -> Option<&str> {
        self.needle.as_deref()
    }

    /// The lower-cased literal of an exact match (no wildcard, not numeric-only).
    pub(crate) fn exact(&self) -> Option<String> {
        match &self.pattern {
            Pattern::Exact(p) if self.number.is_none() => Some(p.to_lowercase()),
            _ => None,
        }
    }

    pub(crate) fn matches(&self, v: &str) -> bool {
        let cased = self.cased;
        let hit = match &self.pattern {
            Pattern::Exact(p) if cased => v == p,
            Pattern::Exact(p) => eq_fold(v, p),
            Pattern::Prefix(p) if cased => v.starts_with(p.as_str()),
            Pattern::Prefix(p) if v.is_ascii() => {
                v.len() >= p.len() && v.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            }
            Pattern::Prefix(p) => v.to_lowercase().starts_with(p.as_str()),
            Pattern::Suffix(p) if cased => v.ends_with(p.as_str()),
            Pattern::Suffix(p) if v.is_ascii() => {
                v.len() >= p.len()
                    && v.as_bytes()[v.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes())
            }
            Pattern::Suffix(p) => v.to_lowercase().ends_with(p.as_str()),
            Pattern::Contains(c) => match &c.ac {
                Some(ac) => ac.is_match(v),
                None => v.to_lowercase().contains(c.needle.as_str()),
            },
            Pattern::Glob(re) => re.is_match(v),
        };
        hit || self
            .number
            .is_some_and(|n| parse_number(v).is_some_and(|x| x == n))
    }
}

fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// One compiled value of a detection item.
#[derive(Clone, Debug)]
pub(crate) enum ValueMatcher {
    /// Any of the alternatives one original value expanded into.
    Str(Vec<StrMatcher>),
    Regex(Regex),
    Cidr(ipnet::IpNet),
    /// `expand` of a `%name%` bound to a value list: looked up, not expanded.
    List(std::sync::Arc<dyn crate::ValueList>),
    Number(Cmp, f64),
    /// A part of a date, compared with a number.
    Time(TimePart, Cmp, f64),
    /// `null`: the field is absent or null.
    Null,
    /// `exists`: the field is present (or absent with `false`).
    Exists(bool),
    /// `fieldref`: compares with the value of another field of the same event.
    FieldRef {
        field: String,
        kind: RefKind,
        cased: bool,
    },
}

/// How a `fieldref` compares.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RefKind {
    Equal,
    Contains,
    Prefix,
    Suffix,
}

impl ValueMatcher {
    /// Whether the value matches one field value; `other` reads a field for `fieldref`.
    pub(crate) fn matches(&self, v: &str, other: &dyn Fn(&str) -> Vec<String>) -> bool {
        match self {
            ValueMatcher::Str(alts) => alts.iter().any(|m| m.matches(v)),
            ValueMatcher::Regex(re) => re.is_match(v),
            ValueMatcher::Cidr(net) => v
                .trim()
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| net.contains(&ip)),
            ValueMatcher::List(list) => list.contains(v.trim()),
            ValueMatcher::Number(cmp, n) => parse_number(v).is_some_and(|x| cmp.holds(x, *n)),
            ValueMatcher::Time(part, cmp, n) => {
                time_part(v, *part).is_some_and(|x| cmp.holds(x as f64, *n))
            }
            ValueMatcher::Null | ValueMatcher::Exists(_) => false,
            ValueMatcher::FieldRef { field, kind, cased } => other(field).iter().any(|o| {
                let (a, b) = if *cased {
                    (v.to_owned(), o.clone())
                } else {
                    (v.to_lowercase(), o.to_lowercase())
                };
                match kind {
                    RefKind::Equal => a == b,
                    RefKind::Contains => a.contains(&b),
                    RefKind::Prefix => a.starts_with(&b),
                    RefKind::Suffix => a.ends_with(&b),
                }
            }),
        }
    }
}

fn time_part(v: &str, part: TimePart) -> Option<u32> {
    use chrono::{Datelike, Timelike};
    let t = v.trim();
    let dt = chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.naive_utc())
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
        .or_else(|| {
            let n: i64 = t.parse().ok()?;
            let secs = if n > 100_000_000_000 { n / 1000 } else { n };
            chrono::DateTime::from_timestamp(secs, 0).map(|d| d.naive_utc())
        })?;
    Some(match part {
        TimePart::Minute => dt.minute(),
        TimePart::Hour => dt.hour(),
        TimePart::Day => dt.day(),
        TimePart::Week => dt.iso_week().week(),
        TimePart::Month => dt.month(),
        TimePart::Year => dt.year().max(0) as u32,
    })
}

/// A detection item's modifiers, parsed from `field|mod|mod`.
#[derive(Debug, Default)]
pub(crate) struct Modifiers {
    pub all: bool,
    pub neq: bool,
    pub cased: bool,
    pub exists: bool,
    pub fieldref: bool,
    pub cidr: bool,
    pub re: Option<String>,
    pub cmp: Option<Cmp>,
    pub time: Option<TimePart>,
    /// Transformations and wildcard wrappers, in order.
    pub steps: Vec<String>,
}

/// Every modifier of Sigma 2.1.
pub const MODIFIERS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "exists",
    "cased",
    "neq",
    "windash",
    "re",
    "i",
    "m",
    "s",
    "base64",
    "base64offset",
    "utf16le",
    "utf16be",
    "utf16",
    "wide",
    "lt",
    "lte",
    "gt",
    "gte",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
    "cidr",
    "expand",
    "fieldref",
];

impl Modifiers {
    pub(crate) fn parse(mods: &[&str]) -> Result<Self, String> {
        let mut m = Modifiers::default();
        let mut re_flags = String::new();
        for (i, &name) in mods.iter().enumerate() {
            match name {
                "all" => m.all = true,
                "neq" => m.neq = true,
                "cased" => m.cased = true,
                "exists" => m.exists = true,
                "fieldref" => m.fieldref = true,
                "cidr" => m.cidr = true,
                "re" => m.re = Some(String::new()),
                "i" | "m" | "s" => {
                    if m.re.is_none() || !mods[..i].contains(&"re") {
                        return Err(format!("modifier '{name}' only follows 're'"));
                    }
                    re_flags.push_str(name);
                }
                "lt" => m.cmp = Some(Cmp::Lt),
                "lte" => m.cmp = Some(Cmp::Lte),
                "gt" => m.cmp = Some(Cmp::Gt),
                "gte" => m.cmp = Some(Cmp::Gte),
                "minute" => m.time = Some(TimePart::Minute),
                "hour" => m.time = Some(TimePart::Hour),
                "day" => m.time = Some(TimePart::Day),
                "week" => m.time = Some(TimePart::Week),
                "month" => m.time = Some(TimePart::Month),
                "year" => m.time = Some(TimePart::Year),
                "contains" | "startswith" | "endswith" | "windash" | "base64" | "base64offset"
                | "utf16le" | "utf16be" | "utf16" | "wide" | "expand" => {
                    m.steps.push(name.to_owned())
                }
                other => return Err(format!("unknown modifier '{other}'")),
            }
        }
        if let Some(re) = &mut m.re {
            *re = re_flags;
        }
        Ok(m)
    }
}

/// A placeholder a rule needs and the configuration does not give.
#[derive(Debug)]
pub(crate) struct MissingPlaceholder(pub String);

/// The list a value names when it is exactly `%name%` under `expand` and
/// `name` is a value list (threat intelligence): such lists are too long to
/// expand into alternatives, and IP lists hold networks.
fn list_placeholder(
    raw: &str,
    m: &Modifiers,
    opts: &crate::LoadOptions,
) -> Result<Option<std::sync::Arc<dyn crate::ValueList>>, String> {
    let name = match raw.strip_prefix('%').and_then(|r| r.strip_suffix('%')) {
        Some(n) if !n.is_empty() && !n.contains('%') => n,
        _ => return Ok(None),
    };
    let Some(list) = opts.lists.get(name) else {
        return Ok(None);
    };
    if !m.steps.iter().any(|s| s == "expand") {
        return Ok(None);
    }
    if m.steps.len() > 1 || m.re.is_some() || m.cidr || m.cmp.is_some() || m.fieldref {
        return Err(format!(
            "%{name}% is a value list: it takes `expand` and no other modifier"
        ));
    }
    Ok(Some(list.clone()))
}

/// Compiles one YAML scalar (already a string) under the item's modifiers.
pub(crate) fn compile_value(
    raw: &str,
    m: &Modifiers,
    opts: &crate::LoadOptions,
) -> Result<Result<ValueMatcher, MissingPlaceholder>, String> {
    if let Some(list) = list_placeholder(raw, m, opts)? {
        return Ok(Ok(ValueMatcher::List(list)));
    }
    if let Some(flags) = &m.re {
        let mut pre = String::new();
        if !flags.is_empty() {
            pre = format!("(?{flags})");
        }
        if m.cased || flags.contains('i') {
            // `re` is case-sensitive by default; `i` folds.
        }
        let re = Regex::new(&format!("{pre}{raw}"))
            .map_err(|e| format!("bad regular expression: {e}"))?;
        return Ok(Ok(ValueMatcher::Regex(re)));
    }
    if m.cidr {
        let net = raw
            .trim()
            .parse::<ipnet::IpNet>()
            .or_else(|_| {
                raw.trim()
                    .parse::<std::net::IpAddr>()
                    .map(ipnet::IpNet::from)
            })
            .map_err(|_| format!("'{raw}' is not a CIDR network"))?;
        return Ok(Ok(ValueMatcher::Cidr(net)));
    }
    if let Some(part) = m.time {
        let n = parse_number(raw).ok_or_else(|| format!("'{raw}' is not a number"))?;
        return Ok(Ok(ValueMatcher::Time(part, m.cmp.unwrap_or(Cmp::Eq), n)));
    }
    if let Some(cmp) = m.cmp {
        let n = parse_number(raw).ok_or_else(|| format!("'{raw}' is not a number"))?;
        return Ok(Ok(ValueMatcher::Number(cmp, n)));
    }
    if m.fieldref {
        let kind = match m.steps.last().map(String::as_str) {
            Some("contains") => RefKind::Contains,
            Some("startswith") => RefKind::Prefix,
            Some("endswith") => RefKind::Suffix,
            _ => RefKind::Equal,
        };
        return Ok(Ok(ValueMatcher::FieldRef {
            field: raw.to_owned(),
            kind,
            cased: m.cased,
        }));
    }
    let mut alts = vec![parse_wildcards(raw)];
    for step in &m.steps {
        let mut next = Vec::new();
        for v in alts {
            match apply_step(step, v, &opts.placeholders)? {
                Ok(vs) => next.extend(vs),
                Err(missing) => return Ok(Err(missing)),
            }
        }
        if next.len() > 4096 {
            return Err(format!("'{raw}' expands into more than 4096 values"));
        }
        alts = next;
    }
    let matchers = alts
        .iter()
        .map(|v| StrMatcher::new(v, m.cased))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Ok(ValueMatcher::Str(matchers)))
}

fn apply_step(
    step: &str,
    mut v: Vec<Tok>,
    placeholders: &HashMap<String, Vec<String>>,
) -> Result<Result<Vec<Vec<Tok>>, MissingPlaceholder>, String> {
    let encoded = |v: &[Tok], what: &str| -> Result<Vec<u8>, String> {
        if has_wildcards(v) {
            return Err(format!("'{what}' cannot encode a value with wildcards"));
        }
        Ok(literal_bytes(v))
    };
    Ok(Ok(match step {
        "contains" => {
            if !matches!(v.first(), Some(Tok::Any)) {
                v.insert(0, Tok::Any);
            }
            if !matches!(v.last(), Some(Tok::Any)) {
                v.push(Tok::Any);
            }
            vec![v]
        }
        "startswith" => {
            if !matches!(v.last(), Some(Tok::Any)) {
                v.push(Tok::Any);
            }
            vec![v]
        }
        "endswith" => {
            if !matches!(v.first(), Some(Tok::Any)) {
                v.insert(0, Tok::Any);
            }
            vec![v]
        }
        "base64" => {
            let b = encoded(&v, step)?;
            vec![vec![Tok::Lit(
                base64::engine::general_purpose::STANDARD
                    .encode(b)
                    .into_bytes(),
            )]]
        }
        "base64offset" => {
            let b = encoded(&v, step)?;
            base64_offsets(&b)
                .into_iter()
                .map(|s| vec![Tok::Lit(s.into_bytes())])
                .collect()
        }
        "utf16le" | "wide" | "utf16be" | "utf16" => {
            let s = String::from_utf8_lossy(&encoded(&v, step)?).into_owned();
            let mut out = Vec::new();
            if step == "utf16" {
                out.extend_from_slice(&[0xFF, 0xFE]);
            }
            for u in s.encode_utf16() {
                let b = if step == "utf16be" {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                };
                out.extend_from_slice(&b);
            }
            vec![vec![Tok::Lit(out)]]
        }
        "windash" => windash(&v),
        "expand" => match expand(&v, placeholders) {
            Ok(vs) => vs,
            Err(m) => return Ok(Err(m)),
        },
        other => return Err(format!("unknown modifier '{other}'")),
    }))
}

/// The three forms a byte string takes inside Base64 depending on its offset,
/// with the characters that depend on the neighbouring bytes cut off.
fn base64_offsets(b: &[u8]) -> Vec<String> {
    let start = [0usize, 2, 3];
    let end = [0usize, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(b);
            let enc = base64::engine::general_purpose::STANDARD.encode(&padded);
            let cut = end[(b.len() + i) % 3];
            let hi = enc.len().saturating_sub(cut);
            enc.get(start[i]..hi).unwrap_or("").to_owned()
        })
        .collect()
}

const DASHES: [&str; 5] = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"];

/// Every spelling of a command line's flag dashes: a `-` or `/` that starts a
/// word (not inside one) may be any of the five dashes Windows accepts.
fn windash(v: &[Tok]) -> Vec<Vec<Tok>> {
    let mut out: Vec<Vec<Tok>> = vec![Vec::new()];
    for t in v {
        let Tok::Lit(b) = t else {
            for o in &mut out {
                o.push(t.clone());
            }
            continue;
        };
        let s = String::from_utf8_lossy(b);
        let mut pieces: Vec<Vec<String>> = vec![vec![String::new()]];
        let mut prev_word = false;
        let chars: Vec<char> = s.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            let next_word = chars
                .get(i + 1)
                .is_some_and(|n| n.is_alphanumeric() || *n == '_');
            if (c == '-' || c == '/') && !prev_word && next_word && pieces.len() < 6 {
                pieces.push(DASHES.iter().map(|d| (*d).to_owned()).collect());
                pieces.push(vec![String::new()]);
            } else if let Some(last) = pieces.last_mut() {
                last[0].push(c);
            }
            prev_word = c.is_alphanumeric() || c == '_';
        }
        let mut lits = vec![String::new()];
        for p in pieces {
            lits = lits
                .iter()
                .flat_map(|l| p.iter().map(move |x| format!("{l}{x}")))
                .collect();
        }
        out = out
            .iter()
            .flat_map(|o| {
                lits.iter().map(move |l| {
                    let mut n = o.clone();
                    n.push(Tok::Lit(l.clone().into_bytes()));
                    n
                })
            })
            .collect();
    }
    out
}

/// Replaces `%name%` placeholders with each configured value.
fn expand(
    v: &[Tok],
    placeholders: &HashMap<String, Vec<String>>,
) -> Result<Vec<Vec<Tok>>, MissingPlaceholder> {
    let mut out: Vec<Vec<Tok>> = vec![Vec::new()];
    for t in v {
        let Tok::Lit(b) = t else {
            for o in &mut out {
                o.push(t.clone());
            }
            continue;
        };
        let s = String::from_utf8_lossy(b).into_owned();
        let mut rest = s.as_str();
        let mut parts: Vec<Vec<Vec<Tok>>> = Vec::new();
        while let Some(start) = rest.find('%') {
            let Some(len) = rest[start + 1..].find('%') else {
                break;
            };
            let name = &rest[start + 1..start + 1 + len];
            if start > 0 && rest.as_bytes()[start - 1] == b'\\' {
                parts.push(vec![vec![Tok::Lit(
                    format!("{}%", &rest[..start - 1]).into_bytes(),
                )]]);
                rest = &rest[start + 1..];
                continue;
            }
            parts.push(vec![vec![Tok::Lit(rest.as_bytes()[..start].to_vec())]]);
            let values = placeholders
                .get(name)
                .ok_or_else(|| MissingPlaceholder(name.to_owned()))?;
            parts.push(values.iter().map(|x| parse_wildcards(x)).collect());
            rest = &rest[start + 2 + len..];
        }
        parts.push(vec![vec![Tok::Lit(rest.as_bytes().to_vec())]]);
        for p in parts {
            out = out
                .iter()
                .flat_map(|o| {
                    p.iter().map(move |x| {
                        let mut n = o.clone();
                        n.extend(x.iter().cloned());
                        n
                    })
                })
                .collect();
        }
    }
    Ok(out.into_iter().map(merge_lits).collect())
}

fn merge_lits(v: Vec<Tok>) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::new();
    for t in v {
        match (out.last_mut(), t) {
            (_, Tok::Lit(b)) if b.is_empty() => {}
            (Some(Tok::Lit(a)), Tok::Lit(b)) => a.extend_from_slice(&b),
            (Some(Tok::Any), Tok::Any) => {}
            (_, t) => out.push(t),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(mods: &[&str], v: &str) -> ValueMatcher {
        let ph = HashMap::from([(
            "Admins".to_owned(),
            vec!["root".to_owned(), "adm*".to_owned()],
        )]);
        let opts = crate::LoadOptions {
            placeholders: ph,
            ..crate::LoadOptions::default()
        };
        compile_value(v, &Modifiers::parse(mods).expect("mods"), &opts)
            .expect("compiles")
            .expect("no placeholder missing")
    }
    fn hit(vm: &ValueMatcher, s: &str) -> bool {
        vm.matches(s, &|_| Vec::new())
    }

    #[test]
    fn wildcards_and_escapes() {
        assert!(hit(&m(&[], "Get*"), "getObject"));
        assert!(hit(&m(&[], "a?c"), "ABC"));
        assert!(!hit(&m(&[], "a\\?c"), "abc"));
        assert!(hit(&m(&[], "a\\?c"), "a?c"));
        assert!(hit(&m(&[], "C:\\Windows\\\\*"), "c:\\windows\\x"));
        assert!(!hit(&m(&[], "C:\\Windows\\*"), "c:\\windows\\x"));
        assert!(hit(&m(&[], "a\\\\*"), "a\\zzz"));
        assert!(hit(&m(&[], "a\\\\\\*"), "a\\*"));
        assert!(!hit(&m(&[], "a\\\\\\*"), "a\\zz"));
        assert!(hit(&m(&["cased"], "Get"), "Get"));
        assert!(!hit(&m(&["cased"], "Get"), "get"));
        assert!(hit(&m(&[], "50053"), "50053.0"));
    }

    #[test]
    fn encodings() {
        assert!(hit(&m(&["base64"], "cmd"), "Y21k"));
        let offs = base64_offsets(b"http://");
        assert_eq!(offs, ["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"]);
        assert!(hit(&m(&["wide", "base64"], "cmd"), "YwBtAGQA"));
        assert!(hit(&m(&["utf16be", "base64", "contains"], "a"), "xxAGE=yy"));
        assert!(hit(&m(&["windash", "contains"], " -exec"), "x /exec"));
        assert!(hit(
            &m(&["windash", "contains"], " -exec"),
            "x \u{2014}exec"
        ));
        assert!(!hit(&m(&["windash", "contains"], "a-b"), "a/b"));
    }

    #[test]
    fn types() {
        assert!(hit(&m(&["cidr"], "10.0.0.0/8"), "10.1.2.3"));
        assert!(!hit(&m(&["cidr"], "10.0.0.0/8"), "11.1.2.3"));
        assert!(hit(&m(&["cidr"], "2001:db8::/32"), "2001:db8::1"));
        assert!(hit(&m(&["gte"], "7"), "7.5"));
        assert!(!hit(&m(&["lt"], "7"), "x"));
        assert!(hit(&m(&["re"], "^Get[A-Z]"), "GetObject"));
        assert!(!hit(&m(&["re"], "^get"), "GetObject"));
        assert!(hit(&m(&["re", "i"], "^get"), "GetObject"));
        assert!(hit(&m(&["hour"], "3"), "2024-01-01T03:59:00Z"));
        assert!(hit(&m(&["month", "gte"], "6"), "2024-07-01T00:00:00Z"));
        assert!(hit(&m(&["expand"], "%Admins%"), "admin"));
        assert!(hit(&m(&["expand"], "%Admins%"), "ROOT"));
        assert!(Modifiers::parse(&["bogus"]).is_err());
        assert!(Modifiers::parse(&["i"]).is_err());
    }

    #[derive(Debug)]
    struct Evens;
    impl crate::ValueList for Evens {
        fn contains(&self, v: &str) -> bool {
            v.parse::<u32>().is_ok_and(|n| n % 2 == 0)
        }
    }

    #[test]
    fn value_lists_are_looked_up_not_expanded() {
        let mut opts = crate::LoadOptions::default();
        opts.lists
            .insert("evens".into(), std::sync::Arc::new(Evens) as _);
        let mods = Modifiers::parse(&["expand"]).expect("mods");
        let vm = compile_value("%evens%", &mods, &opts)
            .expect("compiles")
            .expect("bound");
        assert!(hit(&vm, "42") && hit(&vm, " 8 "));
        assert!(!hit(&vm, "7"));
        // Only the whole value names a list; other modifiers are refused, not ignored.
        let contains = Modifiers::parse(&["contains", "expand"]).expect("mods");
        assert!(compile_value("%evens%", &contains, &opts).is_err());
        assert!(matches!(
            compile_value("x%evens%", &mods, &opts),
            Ok(Err(MissingPlaceholder(_)))
        ));
    }
}

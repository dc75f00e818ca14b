//! `pattern`, `diff` and `anomaly`: log templates mined from text, Drain-style.
//!
//! Each message is split on white space; tokens that look like a time, an IP
//! address, an id or a number are typed. Messages with the same number of
//! tokens and the same first two (typed) tokens share a leaf; a message joins
//! the leaf's template it agrees with most, if they agree on at least half of
//! the positions, and positions where they differ become dynamic (`<*>`, or
//! `<Type-n>` when every value there had that type). Templates keep what
//! `anomaly` needs: counts over time, and per dynamic position the values seen
//! (a bounded sample) and numeric statistics.

use std::collections::HashMap;

/// Tokens compared per message at most; the rest is one dynamic tail.
const MAX_TOKENS: usize = 64;
/// Share of positions a message must agree on to join a template.
const SIMILARITY: f64 = 0.5;
/// Templates kept at most; beyond, messages join the closest one.
const MAX_TEMPLATES: usize = 20_000;
/// Distinct values remembered per dynamic position.
const MAX_VALUES: usize = 64;
/// Time bins of the window for `anomaly`'s frequency test.
const BINS: usize = 20;

/// A token's type, when it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// A date or time of day.
    Time,
    /// An IPv4 or IPv6 address (with a port, perhaps).
    Ip,
    /// A hexadecimal or UUID-like id.
    Id,
    /// A number.
    Num,
}

impl TokenType {
    fn name(self) -> &'static str {
        match self {
            TokenType::Time => "Time",
            TokenType::Ip => "IP",
            TokenType::Id => "ID",
            TokenType::Num => "Num",
        }
    }
}

/// The type of a token, if it looks like a value rather than a word.
pub fn classify(t: &str) -> Option<TokenType> {
    let t = t.trim_matches(|c: char| matches!(c, ',' | ';' | '"' | '\'' | '(' | ')' | '[' | ']'));
    if t.is_empty() {
        return None;
    }
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    if t.parse::<f64>().is_ok() {
        return Some(TokenType::Num);
    }
    let host = t.rsplit_once(':').map_or(t, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            t
        }
    });
    if host.parse::<std::net::IpAddr>().is_ok() || t.parse::<std::net::IpAddr>().is_ok() {
        return Some(TokenType::Ip);
    }
    let time_like = t
        .bytes()
        .all(|b| b.is_ascii_digit() || b"-:.TZ+/".contains(&b))
        && (t.contains(':') || t.matches('-').count() == 2 || t.matches('/').count() == 2);
    if time_like {
        return Some(TokenType::Time);
    }
    let hexish = t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if hexish && t.len() >= 8 {
        return Some(TokenType::Id);
    }
    // Words with digits (`i-0abc12`, `v2`) vary like values.
    (digits * 3 >= t.len()).then_some(TokenType::Num)
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Lit(String),
    Var(Option<TokenType>),
}

/// What one dynamic position has seen.
#[derive(Clone, Debug, Default)]
struct Slot {
    values: HashMap<String, u64>,
    overflow: u64,
    numbers: u64,
    mean: f64,
    m2: f64,
    max_z_value: Option<f64>,
}

impl Slot {
    /// Records `n` occurrences of a value.
    fn add(&mut self, v: &str, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(c) = self.values.get_mut(v) {
            *c += n;
        } else if self.values.len() < MAX_VALUES {
            self.values.insert(v.to_owned(), n);
        } else {
            self.overflow += n;
        }
        let number = v
            .trim_matches(|c: char| !c.is_ascii_digit() && c != '.' && c != '-')
            .parse::<f64>();
        if let Ok(x) = number {
            // Welford's update for n equal values at once.
            let total = self.numbers + n;
            let d = x - self.mean;
            self.mean += d * n as f64 / total as f64;
            self.m2 += d * d * (self.numbers as f64) * (n as f64) / total as f64;
            self.numbers = total;
            if self
                .max_z_value
                .is_none_or(|m| (x - self.mean).abs() > (m - self.mean).abs())
            {
                self.max_z_value = Some(x);
            }
        }
    }
}

/// One template and what it has matched.
#[derive(Clone, Debug)]
pub struct Template {
    toks: Vec<Tok>,
    slots: HashMap<usize, Slot>,
    /// Messages in the window queried.
    pub count: u64,
    /// Messages in the earlier window (`diff`).
    pub previous: u64,
    /// First and last time seen in the window (µs).
    pub first: i64,
    /// Last time seen.
    pub last: i64,
    bins: [u64; BINS],
}

impl Template {
    /// The template as text: literal tokens, `<*>`, `<Type-n>`.
    pub fn text(&self) -> String {
        let mut n = 0;
        let words: Vec<String> = self
            .toks
            .iter()
            .map(|t| match t {
                Tok::Lit(s) => s.clone(),
                Tok::Var(ty) => {
                    n += 1;
                    match ty {
                        Some(ty) => format!("<{}-{n}>", ty.name()),
                        None => "<*>".into(),
                    }
                }
            })
            .collect();
        words.join(" ")
    }

    /// Error, Warning, Info or Debug, from the template's words.
    pub fn severity(&self) -> &'static str {
        let text = self.text().to_ascii_lowercase();
        let has = |ws: &[&str]| ws.iter().any(|w| text.contains(w));
        if has(&[
            "error",
            "fail",
            "fatal",
            "critical",
            "exception",
            "panic",
            "denied",
            "refused",
        ]) {
            "Error"
        } else if has(&["warn"]) {
            "Warning"
        } else if has(&["debug", "trace"]) {
            "Debug"
        } else {
            "Info"
        }
    }
}

/// Mines templates from a stream of messages.
#[derive(Debug, Default)]
pub struct Miner {
    templates: Vec<Template>,
    leaves: HashMap<(usize, String, String), Vec<usize>>,
    /// Messages in the window, and in the earlier window.
    pub total: u64,
    /// Messages in the earlier window.
    pub total_previous: u64,
    window: Option<(i64, i64)>,
    /// Messages in the first half of the window: the baseline a new pattern is new against.
    first_half: u64,
}

fn leaf_key(tokens: &[&str], types: &[Option<TokenType>], i: usize) -> String {
    match (tokens.get(i), types.get(i)) {
        (Some(_), Some(Some(ty))) => format!("<{}>", ty.name()),
        (Some(t), _) => (*t).to_owned(),
        _ => String::new(),
    }
}

impl Miner {
    /// A miner; `window` (µs, end exclusive) places messages in time bins for `anomaly`.
    pub fn new(window: Option<(i64, i64)>) -> Miner {
        Miner {
            window,
            ..Miner::default()
        }
    }

    /// Adds one message at a time (µs); `previous` for the earlier window of `diff`.
    pub fn add(&mut self, text: &str, time: i64, previous: bool) {
        let mut tokens: Vec<&str> = text.split_whitespace().collect();
        if tokens.len() > MAX_TOKENS {
            tokens.truncate(MAX_TOKENS);
        }
        let types: Vec<Option<TokenType>> = tokens.iter().map(|t| classify(t)).collect();
        let key = (
            tokens.len(),
            leaf_key(&tokens, &types, 0),
            leaf_key(&tokens, &types, 1),
        );
        let leaf = self.leaves.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let mut best: Option<(usize, f64)> = None;
        for &id in leaf {
            let sim = similarity(&self.templates[id].toks, &tokens, &types);
            if best.is_none_or(|(_, s)| sim > s) {
                best = Some((id, sim));
            }
        }
        let id = match best {
            Some((id, sim)) if sim >= SIMILARITY || self.templates.len() >= MAX_TEMPLATES => {
                merge(&mut self.templates[id], &tokens, &types);
                id
            }
            _ => {
                let toks = tokens
                    .iter()
                    .zip(&types)
                    .map(|(t, ty)| match ty {
                        Some(ty) => Tok::Var(Some(*ty)),
                        None => Tok::Lit((*t).to_owned()),
                    })
                    .collect();
                self.templates.push(Template {
                    toks,
                    slots: HashMap::new(),
                    count: 0,
                    previous: 0,
                    first: time,
                    last: time,
                    bins: [0; BINS],
                });
                let id = self.templates.len() - 1;
                self.leaves.entry(key).or_default().push(id);
                id
            }
        };
        let t = &mut self.templates[id];
        for (i, tok) in t.toks.iter().enumerate() {
            if matches!(tok, Tok::Var(_)) {
                if let Some(v) = tokens.get(i) {
                    t.slots.entry(i).or_default().add(v, 1);
                }
            }
        }
        if previous {
            t.previous += 1;
            self.total_previous += 1;
            return;
        }
        t.count += 1;
        t.first = t.first.min(time);
        t.last = t.last.max(time);
        if let Some((s, e)) = self.window {
            if e > s && (s..e).contains(&time) {
                let b = ((time - s) as f64 / (e - s) as f64 * BINS as f64) as usize;
                let b = b.min(BINS - 1);
                t.bins[b] += 1;
                if b < BINS / 2 {
                    self.first_half += 1;
                }
            }
        }
        self.total += 1;
    }

    /// The templates, most frequent first (in the window, then the earlier one).
    pub fn templates(&self) -> Vec<&Template> {
        let mut v: Vec<&Template> = self.templates.iter().collect();
        v.sort_by(|a, b| {
            (b.count, b.previous)
                .cmp(&(a.count, a.previous))
                .then_with(|| a.text().cmp(&b.text()))
        });
        v
    }

    /// The anomalies of a template: (type, description), per `anomaly`.
    pub fn anomalies(&self, t: &Template) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if t.count == 0 {
            return out;
        }
        if let Some((s, e)) = self.window {
            let half = s + (e - s) / 2;
            // A pattern is new against a baseline: the first half of the window must have some events.
            if t.first >= half && self.first_half >= 10 {
                out.push((
                    "new-pattern",
                    format!(
                        "first seen in the second half of the window ({} events)",
                        t.count
                    ),
                ));
            }
            let n = BINS as f64;
            let mean = t.bins.iter().sum::<u64>() as f64 / n;
            let var = t
                .bins
                .iter()
                .map(|&b| (b as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            let (peak, at) = t
                .bins
                .iter()
                .enumerate()
                .map(|(i, &b)| (b, i))
                .max()
                .unwrap_or((0, 0));
            if peak >= 5 && peak as f64 > mean + 3.0 * var.sqrt() {
                out.push((
                    "pattern-frequency",
                    format!(
                        "{peak} events in time bin {} of {BINS}, {mean:.1} on average",
                        at + 1
                    ),
                ));
            }
        }
        let mut slots: Vec<(&usize, &Slot)> = t.slots.iter().collect();
        slots.sort_by_key(|(i, _)| **i);
        for (i, s) in slots {
            let seen: u64 = s.values.values().sum::<u64>() + s.overflow;
            let codes: Vec<u16> = s
                .values
                .keys()
                .filter_map(|v| v.parse::<u16>().ok())
                .filter(|c| (100..600).contains(c))
                .collect();
            if !codes.is_empty() && codes.len() == s.values.len() {
                let errors: u64 = s
                    .values
                    .iter()
                    .filter(|(v, _)| v.starts_with('5'))
                    .map(|(_, n)| n)
                    .sum();
                if errors > 0 && errors * 2 < seen {
                    out.push((
                        "HTTP-error-code",
                        format!(
                            "token {}: {errors} of {seen} events have a 5xx status",
                            i + 1
                        ),
                    ));
                }
                continue;
            }
            if s.numbers >= 30 && s.numbers == seen {
                let sd = (s.m2 / s.numbers as f64).sqrt();
                if let Some(x) = s.max_z_value {
                    if sd > 0.0 && (x - s.mean).abs() > 4.0 * sd {
                        out.push((
                            "numerical-token",
                            format!(
                                "token {}: {x} against a mean of {:.2} (σ {sd:.2})",
                                i + 1,
                                s.mean
                            ),
                        ));
                    }
                }
                continue;
            }
            if let Some((top, n)) = s
                .values
                .iter()
                .max_by_key(|(v, n)| (**n, std::cmp::Reverse((*v).clone())))
            {
                if seen >= 20 && *n * 100 >= seen * 95 && *n < seen {
                    let mut rare: Vec<&str> = s
                        .values
                        .keys()
                        .filter(|v| *v != top)
                        .map(String::as_str)
                        .collect();
                    rare.sort_unstable();
                    rare.truncate(5);
                    out.push((
                        "token-variation",
                        format!(
                            "token {}: usually {top:?}, {} times otherwise ({})",
                            i + 1,
                            seen - n,
                            rare.join(", ")
                        ),
                    ));
                }
            }
        }
        out
    }
}

fn similarity(toks: &[Tok], tokens: &[&str], types: &[Option<TokenType>]) -> f64 {
    if toks.is_empty() {
        return 1.0;
    }
    let same = toks
        .iter()
        .zip(tokens.iter().zip(types))
        .filter(|(t, (w, ty))| match t {
            Tok::Lit(s) => s == *w,
            Tok::Var(Some(v)) => **ty == Some(*v),
            Tok::Var(None) => false,
        })
        .count();
    same as f64 / toks.len() as f64
}

fn merge(t: &mut Template, tokens: &[&str], types: &[Option<TokenType>]) {
    let before = t.count + t.previous;
    for (i, tok) in t.toks.iter_mut().enumerate() {
        let (w, ty) = (
            tokens.get(i).copied().unwrap_or(""),
            types.get(i).copied().flatten(),
        );
        let keep = match tok {
            Tok::Lit(s) => s == w,
            Tok::Var(Some(v)) => ty == Some(*v),
            Tok::Var(None) => true,
        };
        if !keep {
            // The position becomes dynamic: what it held so far is its first value.
            if let Tok::Lit(s) = tok {
                t.slots.entry(i).or_default().add(s, before);
            }
            *tok = Tok::Var(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_words_and_type_values() {
        let mut m = Miner::new(Some((0, 100)));
        for (i, user) in ["alice", "bob", "carol"].iter().enumerate() {
            m.add(
                &format!("Failed password for {user} from 10.0.0.{i} port 22{i} ssh2"),
                i as i64,
                false,
            );
        }
        m.add("session opened for user root", 5, false);
        let t = m.templates();
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0].text(),
            "Failed password for <*> from <IP-2> port <Num-3> ssh2"
        );
        assert_eq!(t[0].count, 3);
        assert_eq!(t[0].severity(), "Error");
        assert_eq!(t[1].text(), "session opened for user root");
        assert_eq!(t[1].severity(), "Info");
    }

    #[test]
    fn anomalies_of_each_kind() {
        let mut m = Miner::new(Some((0, 1000)));
        for i in 0..100 {
            let status = if i == 50 { 503 } else { 200 };
            let bytes = if i == 70 { 999_999 } else { 100 + i % 7 };
            let path = if i == 80 { "/admin" } else { "/x" };
            m.add(
                &format!("request GET {path} status {status} bytes {bytes}"),
                i * 5,
                false,
            );
        }
        for i in 0..12 {
            m.add("burst of something new", 900 + i, false);
        }
        let kinds: Vec<&str> = m
            .templates()
            .iter()
            .flat_map(|t| m.anomalies(t))
            .map(|(k, _)| k)
            .collect();
        for k in [
            "HTTP-error-code",
            "numerical-token",
            "token-variation",
            "new-pattern",
            "pattern-frequency",
        ] {
            assert!(kinds.contains(&k), "{k} not in {kinds:?}");
        }
    }

    #[test]
    fn types() {
        assert_eq!(classify("2026-11-24T08:00:00Z"), Some(TokenType::Time));
        assert_eq!(classify("08:00:01"), Some(TokenType::Time));
        assert_eq!(classify("10.1.2.3:443"), Some(TokenType::Ip));
        assert_eq!(classify("fe80::1"), Some(TokenType::Ip));
        assert_eq!(
            classify("3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            Some(TokenType::Id)
        );
        assert_eq!(classify("-12.5"), Some(TokenType::Num));
        assert_eq!(classify("password"), None);
        assert_eq!(classify("ssh2"), None);
    }
}

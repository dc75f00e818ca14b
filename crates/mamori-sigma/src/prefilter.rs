//! One substring search over an event's text that rules out, at once, the
//! rules the index cannot (keyword rules, rules without an exact value).
//!
//! A rule gets a set of needles when the condition proves that the event's
//! text must contain one of them, ignoring ASCII case, for the rule to match.
//! The proof rests on how a value read by a rule appears in the record's
//! text, so the search is used only where that holds (see [`eligible`]):
//! a needle is printable ASCII without `"`, `\` or `/` (which JSON may
//! escape), and has a character that compact JSON cannot have outside a
//! string (so it cannot match across a serialized object or a number's text).

use aho_corasick::{AhoCorasick, MatchKind};
use mamori_event::Event;
use regex_syntax::hir::{Hir, HirKind};

/// Shortest needle worth searching for.
const MIN_NEEDLE: usize = 3;

/// The needle a literal piece of a value yields: its longest run of
/// characters that appear unchanged in the record's text.
pub(crate) fn needle(lit: &[u8]) -> Option<String> {
    let ok = |b: &u8| (0x20..0x7f).contains(b) && !matches!(b, b'"' | b'\\' | b'/');
    let best = lit
        .split(|b| !ok(b))
        .filter(|run| run.len() >= MIN_NEEDLE && run.iter().any(|b| !json_outside_string(*b)))
        .max_by_key(|run| run.len())?;
    String::from_utf8(best.to_vec()).ok()
}

/// Whether compact JSON can have this byte outside a string (ignoring case,
/// as the search does): structure, numbers, `true`, `false`, `null`.
fn json_outside_string(b: u8) -> bool {
    matches!(
        b.to_ascii_lowercase(),
        b'{' | b'}' | b'[' | b']' | b':' | b',' | b'0'
            ..=b'9'
                | b'.'
                | b'+'
                | b'-'
                | b't'
                | b'r'
                | b'u'
                | b'e'
                | b'f'
                | b'a'
                | b'l'
                | b's'
                | b'n'
    )
}

/// A needle of a regular expression: the longest literal it must contain,
/// when the whole expression is a sequence that has one.
pub(crate) fn regex_needle(pattern: &str) -> Option<String> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let parts: Vec<&Hir> = match hir.kind() {
        HirKind::Concat(v) => v.iter().collect(),
        _ => vec![&hir],
    };
    parts
        .into_iter()
        .filter_map(|h| match h.kind() {
            HirKind::Literal(l) => needle(&l.0),
            _ => None,
        })
        .max_by_key(String::len)
}

/// Of several needle sets any one of which is necessary, the one that rules
/// out most: its shortest needle longest, then fewest needles.
pub(crate) fn best(sets: impl Iterator<Item = Vec<String>>) -> Option<Vec<String>> {
    sets.max_by_key(|s| {
        let shortest = s.iter().map(String::len).min().unwrap_or(0).min(12);
        (shortest, std::cmp::Reverse(s.len()))
    })
}

/// Whether an event's text allows the search: ASCII (so that no Unicode case
/// folding can turn other characters into a needle's) and no `\u` escape.
pub(crate) fn eligible(e: &Event) -> bool {
    let plain = |t: &str| t.is_ascii() && !t.contains("\\u");
    plain(&e.raw) && e.fields.as_deref().is_none_or(plain)
}

/// The search for one source's unindexed rules.
#[derive(Debug)]
pub(crate) struct Prefilter {
    ac: AhoCorasick,
    /// For each needle, the positions (in the route's unindexed list) of the rules it admits.
    admits: Vec<Vec<usize>>,
    /// Per position: the rule has no needles and is always tried.
    always: Vec<bool>,
}

impl Prefilter {
    /// A search over the needles of each rule (`None`: always tried); `None`
    /// when no rule has needles.
    pub(crate) fn new(rules: &[Option<Vec<String>>]) -> Option<Prefilter> {
        let mut patterns: Vec<String> = Vec::new();
        let mut admits: Vec<Vec<usize>> = Vec::new();
        for (pos, set) in rules.iter().enumerate() {
            for n in set.iter().flatten() {
                let lower = n.to_ascii_lowercase();
                let id = match patterns.iter().position(|p| *p == lower) {
                    Some(id) => id,
                    None => {
                        patterns.push(lower);
                        admits.push(Vec::new());
                        patterns.len() - 1
                    }
                };
                admits[id].push(pos);
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .ok()?;
        Some(Prefilter {
            ac,
            admits,
            always: rules.iter().map(Option::is_none).collect(),
        })
    }

    /// How many rules have needles.
    pub(crate) fn ruled_out(&self) -> usize {
        self.always.iter().filter(|a| !**a).count()
    }

    /// Marks in `admitted` (one flag per unindexed rule) the rules the event's text admits.
    pub(crate) fn admit(&self, e: &Event, admitted: &mut Vec<bool>) {
        admitted.clear();
        admitted.extend_from_slice(&self.always);
        for text in std::iter::once(e.raw.as_str()).chain(e.fields.as_deref()) {
            for m in self.ac.find_overlapping_iter(text) {
                for &pos in &self.admits[m.pattern().as_usize()] {
                    admitted[pos] = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_are_text_that_json_keeps_as_is() {
        assert_eq!(needle(b"TruffleHog").as_deref(), Some("TruffleHog"));
        assert_eq!(needle(b"/etc/shadow").as_deref(), Some("shadow"));
        assert_eq!(needle(b"say \"hi there\"").as_deref(), Some("hi there"));
        // Only characters compact JSON has outside strings: could match a number or `":true}`.
        assert_eq!(needle(b"1e300"), None);
        assert_eq!(needle(b"true}"), None);
        assert_eq!(needle(b"ab"), None);
        assert_eq!(needle("caf\u{e9}s".as_bytes()).as_deref(), Some("caf"));
        assert_eq!(needle("\u{e9}t\u{e9}s".as_bytes()), None);
        assert_eq!(
            regex_needle(".+:assumed-role/aws:.+").as_deref(),
            Some(":assumed-role")
        );
        assert_eq!(regex_needle("(?i)root"), None);
        assert_eq!(regex_needle("a|bcd"), None);
    }

    #[test]
    fn the_search_admits_rules_whose_needle_occurs() {
        let p = Prefilter::new(&[
            Some(vec!["Hog".into(), "shadow".into()]),
            None,
            Some(vec!["zzz".into()]),
        ])
        .expect("needles");
        let e = Event::new(
            mamori_event::SourceKind::Cloudtrail,
            mamori_event::Timestamp(0),
            r#"{"userAgent":"trufflehog"}"#.into(),
        );
        let mut admitted = Vec::new();
        p.admit(&e, &mut admitted);
        assert_eq!(admitted, [true, true, false]);
        assert!(eligible(&e));
        let escaped = Event::new(
            mamori_event::SourceKind::Cloudtrail,
            mamori_event::Timestamp(0),
            r#"{"userAgent":"truffle\u0068og"}"#.into(),
        );
        assert!(!eligible(&escaped));
    }
}

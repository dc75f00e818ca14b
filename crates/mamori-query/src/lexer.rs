//! Tokens of the Logs Insights language.
//!
//! `/` is division or the start of a regex literal depending on what came
//! before (after `like`, `=~`, `parse [field]`, `(` or `,` it is a regex),
//! so the lexer keeps the previous token to decide.

use crate::ast::Span;
use crate::QueryError;

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: Tok,
    /// Where.
    pub span: Span,
}

/// Token kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A name or field path: segments, backquoted ones unquoted.
    Name(Vec<String>),
    /// A string literal, unescaped.
    Str(String),
    /// A number as written.
    Num(String),
    /// A number followed by a unit: `5m`.
    Period(String, String),
    /// A regex literal's body.
    Regex(String),
    /// Punctuation and operators.
    Sym(&'static str),
}

impl Tok {
    /// A keyword (a one-segment name), lower-cased.
    pub fn keyword(&self) -> Option<String> {
        match self {
            Tok::Name(s) if s.len() == 1 => Some(s[0].to_ascii_lowercase()),
            _ => None,
        }
    }

    /// How an error message shows it.
    pub fn describe(&self) -> String {
        match self {
            Tok::Name(s) => format!("`{}`", s.join(".")),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Period(n, u) => format!("period {n}{u}"),
            Tok::Regex(r) => format!("regex /{r}/"),
            Tok::Sym(s) => format!("`{s}`"),
        }
    }
}

const SYMBOLS: [&str; 20] = [
    "!=", "<=", ">=", "=~", "|", ",", "(", ")", "[", "]", "=", "<", ">", "+", "-", "*", "/", "%",
    "^", ":",
];

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'@'
}

/// Splits `text` into tokens.
pub fn lex(text: &str) -> Result<Vec<Token>, QueryError> {
    let b = text.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let kind = if c == b'\'' || c == b'"' {
            let (s, end) = string(text, i, c)?;
            i = end;
            Tok::Str(s)
        } else if c == b'/' && regex_allowed(&out) {
            let (s, end) = regex(text, i)?;
            i = end;
            Tok::Regex(s)
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let num = text[start..i].to_owned();
            if i < b.len() && b[i].is_ascii_alphabetic() {
                let u0 = i;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                Tok::Period(num, text[u0..i].to_ascii_lowercase())
            } else {
                Tok::Num(num)
            }
        } else if is_name_char(c) || c == b'`' {
            let (segs, end) = name(text, i)?;
            i = end;
            Tok::Name(segs)
        } else if let Some(sym) = SYMBOLS.iter().find(|s| text[i..].starts_with(**s)) {
            i += sym.len();
            Tok::Sym(sym)
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            return Err(QueryError::parse(
                text,
                i,
                format!("unexpected character {ch:?}"),
            ));
        };
        out.push(Token {
            kind,
            span: start..i,
        });
    }
    Ok(out)
}

/// A `/` starts a regex after `like`, `=~`, `(`, `,`, `parse`, or the field after `parse`.
fn regex_allowed(prev: &[Token]) -> bool {
    let kw = |t: Option<&Token>, k: &str| t.and_then(|t| t.kind.keyword()).is_some_and(|w| w == k);
    match prev.last() {
        None => false,
        Some(t) => match &t.kind {
            Tok::Sym(s) => matches!(*s, "=~" | "(" | ","),
            Tok::Name(_) => {
                kw(Some(t), "like")
                    || kw(Some(t), "parse")
                    || kw(prev.len().checked_sub(2).and_then(|i| prev.get(i)), "parse")
            }
            _ => false,
        },
    }
}

fn string(text: &str, start: usize, quote: u8) -> Result<(String, usize), QueryError> {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = start + 1;
    let mut run = i;
    while i < b.len() {
        if b[i] == quote {
            out.push_str(&text[run..i]);
            return Ok((out, i + 1));
        }
        if b[i] == b'\\' && i + 1 < b.len() {
            out.push_str(&text[run..i]);
            match b[i + 1] {
                b'n' => out.push('\n'),
                b't' => out.push('\t'),
                b'r' => out.push('\r'),
                // Anything else escaped stands for itself, including the quote and `\`.
                _ => {
                    let ch = text[i + 1..].chars().next().unwrap_or('\\');
                    out.push(ch);
                    i += ch.len_utf8() - 1;
                }
            }
            i += 2;
            run = i;
            continue;
        }
        i += 1;
    }
    Err(QueryError::parse(text, start, "string not closed".into()))
}

fn regex(text: &str, start: usize) -> Result<(String, usize), QueryError> {
    let b = text.as_bytes();
    let mut i = start + 1;
    let mut out = String::new();
    let mut run = i;
    while i < b.len() {
        match b[i] {
            b'/' => {
                out.push_str(&text[run..i]);
                return Ok((out, i + 1));
            }
            // `\/` is a slash in the pattern; other escapes belong to the regex.
            b'\\' if b.get(i + 1) == Some(&b'/') => {
                out.push_str(&text[run..i]);
                out.push('/');
                i += 2;
                run = i;
            }
            b'\\' => i += 2,
            b'\n' => break,
            _ => i += 1,
        }
    }
    Err(QueryError::parse(
        text,
        start,
        "regex not closed with /".into(),
    ))
}

fn name(text: &str, start: usize) -> Result<(Vec<String>, usize), QueryError> {
    let b = text.as_bytes();
    let mut segs = Vec::new();
    let mut i = start;
    loop {
        if b.get(i) == Some(&b'`') {
            let close = text[i + 1..]
                .find('`')
                .ok_or_else(|| QueryError::parse(text, i, "backquoted name not closed".into()))?;
            segs.push(text[i + 1..i + 1 + close].to_owned());
            i += close + 2;
        } else {
            let s = i;
            while i < b.len() && is_name_char(b[i]) {
                i += 1;
            }
            if s == i {
                return Err(QueryError::parse(
                    text,
                    i,
                    "a field name ends with `.`".into(),
                ));
            }
            segs.push(text[s..i].to_owned());
        }
        // `@`-fields written `` @`aws.tag.x` ``: join the @ to the quoted segment.
        if segs.len() == 1 && segs[0] == "@" && b.get(i) == Some(&b'`') {
            let (rest, end) = name(text, i)?;
            let mut first = String::from("@");
            first.push_str(&rest[0]);
            segs = std::iter::once(first)
                .chain(rest.into_iter().skip(1))
                .collect();
            return Ok((segs, end));
        }
        if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(|&c| is_name_char(c) || c == b'`') {
            i += 1;
            continue;
        }
        return Ok((segs, i));
    }
}

#[cfg(test)]
mod tests {
    use super::{lex, Tok};

    fn kinds(q: &str) -> Vec<Tok> {
        lex(q)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn fields_paths_regexes_and_division() {
        let k = kinds("filter user.extra.sessionName.0 like /a\\/b/ | fields bytes / 2");
        assert_eq!(
            k[1],
            Tok::Name(vec![
                "user".into(),
                "extra".into(),
                "sessionName".into(),
                "0".into()
            ])
        );
        assert_eq!(k[3], Tok::Regex("a/b".into()));
        assert_eq!(k[7], Tok::Sym("/"));
        assert_eq!(
            kinds("fields `detail-type`, a.`b.c`")[1],
            Tok::Name(vec!["detail-type".into()])
        );
        assert_eq!(kinds("bin(5m)")[2], Tok::Period("5".into(), "m".into()));
        assert_eq!(
            kinds("parse @message /x(?<n>\\d+)/")[2],
            Tok::Regex("x(?<n>\\d+)".into())
        );
        assert_eq!(
            kinds("# comment\nlimit 1 # more"),
            vec![Tok::Name(vec!["limit".into()]), Tok::Num("1".into())]
        );
    }
}

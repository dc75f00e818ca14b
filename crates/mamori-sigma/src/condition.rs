//! The condition of a detection: `and`, `or`, `not`, parentheses,
//! `1 of`/`any of`/`all of` a pattern or `them`, over search identifiers.

/// A parsed condition; identifiers are indexes into the rule's selections.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// A search identifier.
    Sel(usize),
    /// All of these.
    And(Vec<Cond>),
    /// Any of these.
    Or(Vec<Cond>),
    /// Not this.
    Not(Box<Cond>),
}

impl Cond {
    /// Evaluates the condition given each selection's result (computed on demand).
    pub fn eval(&self, sel: &mut dyn FnMut(usize) -> bool) -> bool {
        match self {
            Cond::Sel(i) => sel(*i),
            Cond::And(v) => v.iter().all(|c| c.eval(sel)),
            Cond::Or(v) => v.iter().any(|c| c.eval(sel)),
            Cond::Not(c) => !c.eval(sel),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'(' {
            out.push((i, Token::Open));
            i += 1;
        } else if c == b')' {
            out.push((i, Token::Close));
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'*' || c == b'.' {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'-' | b'*' | b'.'))
            {
                i += 1;
            }
            out.push((start, Token::Word(text[start..i].to_owned())));
        } else if c == b'|' {
            return Err(format!(
                "'|' at column {}: the aggregation syntax of Sigma 1 (`| count()`, `| near`) is written as a correlation rule in Sigma 2",
                i + 1
            ));
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected '{ch}' at column {}", i + 1));
        }
    }
    Ok(out)
}

/// Whether an identifier matches a pattern where `*` is any sequence.
pub(crate) fn pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|k| go(rest, &n[k..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

struct Parser<'a> {
    toks: Vec<(usize, Token)>,
    pos: usize,
    names: &'a [String],
    text: &'a str,
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some((_, Token::Word(w))) => Some(w.as_str()),
            _ => None,
        }
    }
    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.text.len(), |t| t.0) + 1
    }
    fn or(&mut self) -> Result<Cond, String> {
        let mut v = vec![self.and()?];
        while self.peek_word() == Some("or") {
            self.pos += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Cond::Or(v)
        })
    }
    fn and(&mut self) -> Result<Cond, String> {
        let mut v = vec![self.not()?];
        while self.peek_word() == Some("and") {
            self.pos += 1;
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Cond::And(v)
        })
    }
    fn not(&mut self) -> Result<Cond, String> {
        if self.peek_word() == Some("not") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.operand()
    }
    fn operand(&mut self) -> Result<Cond, String> {
        let col = self.col();
        match self.toks.get(self.pos).cloned() {
            Some((_, Token::Open)) => {
                self.pos += 1;
                let c = self.or()?;
                match self.toks.get(self.pos) {
                    Some((_, Token::Close)) => {
                        self.pos += 1;
                        Ok(c)
                    }
                    _ => Err(format!("expected ')' at column {}", self.col())),
                }
            }
            Some((_, Token::Word(w))) if matches!(w.as_str(), "1" | "any" | "all") => {
                self.pos += 1;
                if self.peek_word() != Some("of") {
                    return Err(format!(
                        "expected 'of' after '{w}' at column {}",
                        self.col()
                    ));
                }
                self.pos += 1;
                let col = self.col();
                let Some(target) = self.peek_word().map(str::to_owned) else {
                    return Err(format!("expected a pattern or 'them' at column {col}"));
                };
                self.pos += 1;
                let picked: Vec<Cond> = self
                    .names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| {
                        !n.starts_with('_') && (target == "them" || pattern_matches(&target, n))
                    })
                    .map(|(i, _)| Cond::Sel(i))
                    .collect();
                if picked.is_empty() {
                    return Err(format!(
                        "'{w} of {target}' at column {col} names no search identifier"
                    ));
                }
                Ok(if w == "all" {
                    Cond::And(picked)
                } else {
                    Cond::Or(picked)
                })
            }
            Some((_, Token::Word(w))) if matches!(w.as_str(), "and" | "or" | "of" | "them") => {
                Err(format!("unexpected '{w}' at column {col}"))
            }
            Some((_, Token::Word(w))) => {
                self.pos += 1;
                match self.names.iter().position(|n| *n == w) {
                    Some(i) => Ok(Cond::Sel(i)),
                    None => Err(format!(
                        "'{w}' at column {col} is not a search identifier of the rule"
                    )),
                }
            }
            Some((_, Token::Close)) => Err(format!("unexpected ')' at column {col}")),
            None => Err("the condition ends too early".to_owned()),
        }
    }
}

/// Parses a condition over the named search identifiers.
pub fn parse(text: &str, names: &[String]) -> Result<Cond, String> {
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Err("the condition is empty".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        names,
        text,
    };
    let c = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected text at column {}", p.col()));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        [
            "selection",
            "filter_main_a",
            "filter_main_b",
            "_private",
            "keywords",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn precedence_and_selectors() {
        let n = names();
        let c = parse("selection and not 1 of filter_main_*", &n).expect("parses");
        assert_eq!(
            c,
            Cond::And(vec![
                Cond::Sel(0),
                Cond::Not(Box::new(Cond::Or(vec![Cond::Sel(1), Cond::Sel(2)])))
            ])
        );
        let c = parse("selection or keywords and not selection", &n).expect("parses");
        assert!(matches!(c, Cond::Or(_)));
        let c = parse("all of them", &n).expect("parses");
        assert_eq!(
            c,
            Cond::And(vec![Cond::Sel(0), Cond::Sel(1), Cond::Sel(2), Cond::Sel(4)])
        );
        let c = parse("not (selection or keywords)", &n).expect("parses");
        assert!(c.eval(&mut |i| i == 1));
        assert!(!c.eval(&mut |i| i == 4));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn errors_name_the_problem() {
        let n = names();
        assert!(parse("selection and", &n)
            .unwrap_err()
            .contains("ends too early"));
        assert!(parse("nope", &n).unwrap_err().contains("'nope'"));
        assert!(parse("1 of zz*", &n)
            .unwrap_err()
            .contains("names no search identifier"));
        assert!(parse("selection | count() > 5", &n)
            .unwrap_err()
            .contains("correlation"));
        assert!(parse("(selection", &n).unwrap_err().contains("')'"));
    }
}

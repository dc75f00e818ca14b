//! A recursive-descent parser for the Logs Insights language: the grammar
//! of `../shared/spec/insights-query-language.md` §9.

use crate::ast::*;
use crate::lexer::{lex, Tok, Token};
use crate::QueryError;

/// Parses a query.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        text,
        tokens,
        pos: 0,
    };
    let query = p.query()?;
    Ok(query)
}

const COMMANDS: &str =
    "fields, display, filter, filterIndex, where, stats, sort, limit, parse, dedup, pattern, diff, anomaly, unmask";

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.text.trim_end().len(), |t| t.span.start)
    }

    fn err<T>(&self, expected: &str) -> Result<T, QueryError> {
        let found = self
            .peek()
            .map_or("the end of the query".to_owned(), Tok::describe);
        Err(QueryError::parse(
            self.text,
            self.offset(),
            format!("expected {expected}, found {found}"),
        ))
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn at_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        let yes = self.at_sym(s);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), QueryError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            self.err(&format!("`{s}`"))
        }
    }

    fn at_kw(&self, k: &str) -> bool {
        self.peek().and_then(Tok::keyword).is_some_and(|w| w == k)
    }

    fn eat_kw(&mut self, k: &str) -> bool {
        let yes = self.at_kw(k);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let mut source = None;
        if self.at_kw("source") {
            source = Some(self.source()?);
            if self.peek().is_some() {
                self.expect_sym("|")?;
            }
        }
        let mut commands = Vec::new();
        loop {
            if self.peek().is_none() {
                if commands.is_empty() && source.is_none() {
                    return self.err(&format!("a command ({COMMANDS})"));
                }
                break;
            }
            commands.push(self.command()?);
            if self.peek().is_none() {
                break;
            }
            if !self.eat_sym("|") {
                return self.err("`|` between commands");
            }
        }
        Ok(Query { source, commands })
    }

    fn source(&mut self) -> Result<SourceSelect, QueryError> {
        let start = self.offset();
        self.pos += 1;
        let mut sel = SourceSelect::default();
        loop {
            let Some(kind) = self.peek().and_then(Tok::keyword) else {
                return self.err("`logGroups(…)` or `dataSource([…])` after SOURCE");
            };
            self.pos += 1;
            self.expect_sym("(")?;
            match kind.as_str() {
                "loggroups" => loop {
                    let Some(arg) = self.peek().and_then(Tok::keyword) else {
                        return self.err("`namePrefix:` or `accountIdentifiers:`");
                    };
                    self.pos += 1;
                    self.expect_sym(":")?;
                    let values = self.string_list()?;
                    match arg.as_str() {
                        "nameprefix" => sel.name_prefixes.extend(values),
                        "accountidentifiers" => sel.accounts.extend(values),
                        // Log classes mean nothing here: every store is one class.
                        "class" => {}
                        _ => {
                            self.pos -= 1;
                            return self.err("`namePrefix`, `accountIdentifiers` or `class`");
                        }
                    }
                    if !self.eat_sym(",") {
                        break;
                    }
                },
                "datasource" => sel.name_prefixes.extend(self.string_list()?),
                _ => {
                    self.pos -= 2;
                    return self.err("`logGroups(…)` or `dataSource([…])` after SOURCE");
                }
            }
            self.expect_sym(")")?;
            if !self.eat_kw("and") && !self.eat_sym(",") {
                break;
            }
        }
        sel.span = start..self.offset();
        Ok(sel)
    }

    fn string_list(&mut self) -> Result<Vec<String>, QueryError> {
        self.expect_sym("[")?;
        let mut out = Vec::new();
        loop {
            match self.next().map(|t| t.kind) {
                Some(Tok::Str(s)) | Some(Tok::Num(s)) => out.push(s),
                _ => {
                    self.pos -= 1;
                    return self.err("a quoted name");
                }
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_sym("]")?;
        Ok(out)
    }

    fn command(&mut self) -> Result<Command, QueryError> {
        let Some(word) = self.peek().and_then(Tok::keyword) else {
            return self.err(&format!("a command ({COMMANDS})"));
        };
        let cmd_pos = self.pos;
        self.pos += 1;
        Ok(match word.as_str() {
            "fields" => Command::Fields(self.items()?),
            "display" => Command::Display(self.items()?),
            "filter" | "where" | "filterindex" => Command::Filter(self.expr()?),
            "stats" => {
                let aggs = self.items()?;
                let by = if self.eat_kw("by") {
                    self.items()?
                } else {
                    Vec::new()
                };
                Command::Stats { aggs, by }
            }
            "sort" => {
                let mut keys = Vec::new();
                loop {
                    let expr = self.expr()?;
                    let desc = if self.eat_kw("desc") {
                        true
                    } else {
                        self.eat_kw("asc");
                        false
                    };
                    keys.push(SortKey { expr, desc });
                    if !self.eat_sym(",") {
                        break;
                    }
                }
                Command::Sort(keys)
            }
            "limit" => {
                self.eat_kw("any");
                match self.peek() {
                    Some(Tok::Num(n)) => match n.parse::<u64>() {
                        Ok(v) if v > 0 => {
                            self.pos += 1;
                            Command::Limit(v)
                        }
                        _ => return self.err("a whole number of rows, at least 1"),
                    },
                    _ => return self.err("a number of rows"),
                }
            }
            "parse" => self.parse_command()?,
            "dedup" => {
                let mut fields = Vec::new();
                loop {
                    match self.peek() {
                        Some(Tok::Name(_)) => fields.push(self.primary()?),
                        _ => return self.err("a field to dedup on"),
                    }
                    if !self.eat_sym(",") {
                        break;
                    }
                }
                Command::Dedup(fields)
            }
            "pattern" => {
                if self.peek().is_none() || self.at_sym("|") {
                    Command::Pattern(Expr::Field(vec!["@message".into()], 0..0))
                } else {
                    Command::Pattern(self.expr()?)
                }
            }
            "diff" => {
                let window = match self.peek().and_then(Tok::keyword).as_deref() {
                    Some("previousday") => DiffWindow::PreviousDay,
                    Some("previousweek") => DiffWindow::PreviousWeek,
                    Some("previousmonth") => DiffWindow::PreviousMonth,
                    _ if self.peek().is_none() || self.at_sym("|") => DiffWindow::Preceding,
                    _ => {
                        return self
                            .err("previousDay, previousWeek, previousMonth or the next command")
                    }
                };
                if window != DiffWindow::Preceding {
                    self.pos += 1;
                }
                Command::Diff(window)
            }
            "anomaly" => Command::Anomaly,
            "unmask" => Command::Unmask,
            "unnest" | "lookup" | "join" | "fillmissing" => {
                self.pos = cmd_pos;
                return Err(QueryError::parse(
                    self.text,
                    self.offset(),
                    format!("`{word}` is a Logs Insights command Mamori does not run yet"),
                ));
            }
            "count" | "sum" | "avg" | "min" | "max" => {
                self.pos = cmd_pos;
                return Err(QueryError::parse(
                    self.text,
                    self.offset(),
                    format!("unknown command `{word}`: aggregates go in `stats`, as in `stats {word}(…) by …`"),
                ));
            }
            _ => {
                self.pos = cmd_pos;
                return Err(QueryError::parse(
                    self.text,
                    self.offset(),
                    format!("unknown command `{word}`; the commands are {COMMANDS}"),
                ));
            }
        })
    }

    fn parse_command(&mut self) -> Result<Command, QueryError> {
        let field = match self.peek() {
            Some(Tok::Name(_)) => self.primary()?,
            _ => Expr::Field(vec!["@message".into()], 0..0),
        };
        match self.next().map(|t| t.kind) {
            Some(Tok::Str(glob)) => {
                if !self.eat_kw("as") {
                    return self.err("`as` and a name for each `*` of the pattern");
                }
                let mut names = Vec::new();
                loop {
                    match self.next().map(|t| t.kind) {
                        Some(Tok::Name(n)) => names.push(n.join(".")),
                        _ => {
                            self.pos -= 1;
                            return self.err("a field name");
                        }
                    }
                    if !self.eat_sym(",") {
                        break;
                    }
                }
                let stars = glob.matches('*').count();
                if stars != names.len() {
                    return Err(QueryError::parse(
                        self.text,
                        self.offset(),
                        format!(
                            "the pattern has {stars} `*` but {} names follow `as`",
                            names.len()
                        ),
                    ));
                }
                Ok(Command::Parse {
                    field,
                    pattern: ParsePattern::Glob(glob, names),
                })
            }
            Some(Tok::Regex(re)) => Ok(Command::Parse {
                field,
                pattern: ParsePattern::Regex(re),
            }),
            _ => {
                self.pos -= 1;
                self.err("a \"glob\" or /regex/ pattern after parse")
            }
        }
    }

    fn items(&mut self) -> Result<Vec<Item>, QueryError> {
        let mut out = Vec::new();
        loop {
            let start = self.offset();
            let expr = self.expr()?;
            let end = self.tokens[self.pos - 1].span.end;
            let text = expr
                .field_name()
                .unwrap_or_else(|| self.text[start..end].trim().to_owned());
            let alias = if self.eat_kw("as") {
                match self.next().map(|t| t.kind) {
                    Some(Tok::Name(n)) => Some(n.join(".")),
                    _ => {
                        self.pos -= 1;
                        return self.err("a name after `as`");
                    }
                }
            } else {
                None
            };
            out.push(Item { expr, alias, text });
            if !self.eat_sym(",") {
                return Ok(out);
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while self.eat_kw("or") {
            let right = self.and()?;
            left = Expr::Binary(Box::new(left), BinOp::Or, Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not()?;
        while self.eat_kw("and") {
            let right = self.not()?;
            left = Expr::Binary(Box::new(left), BinOp::And, Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        if self.eat_kw("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let left = self.additive()?;
        let op = match self.peek() {
            Some(Tok::Sym("=")) => Some(BinOp::Eq),
            Some(Tok::Sym("!=")) => Some(BinOp::Ne),
            Some(Tok::Sym("<")) => Some(BinOp::Lt),
            Some(Tok::Sym("<=")) => Some(BinOp::Le),
            Some(Tok::Sym(">")) => Some(BinOp::Gt),
            Some(Tok::Sym(">=")) => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            let right = self.additive()?;
            return Ok(Expr::Binary(Box::new(left), op, Box::new(right)));
        }
        if self.eat_sym("=~") {
            return match self.next().map(|t| t.kind) {
                Some(Tok::Regex(r)) => Ok(Expr::Like {
                    expr: Box::new(left),
                    pattern: Box::new(Expr::Regex(r)),
                    negated: false,
                }),
                _ => {
                    self.pos -= 1;
                    self.err("a /regex/ after =~")
                }
            };
        }
        let negated = self.at_kw("not")
            && self
                .tokens
                .get(self.pos + 1)
                .and_then(|t| t.kind.keyword())
                .is_some_and(|w| w == "like" || w == "in");
        if negated {
            self.pos += 1;
        }
        if self.eat_kw("like") {
            let pattern = match self.next().map(|t| t.kind) {
                Some(Tok::Str(s)) => Expr::Str(s),
                Some(Tok::Regex(r)) => Expr::Regex(r),
                _ => {
                    self.pos -= 1;
                    return self.err("a \"string\" or /regex/ after like");
                }
            };
            return Ok(Expr::Like {
                expr: Box::new(left),
                pattern: Box::new(pattern),
                negated,
            });
        }
        if self.eat_kw("in") {
            let Expr::List(list) = self.list()? else {
                return self.err("a [list] after in");
            };
            return Ok(Expr::In {
                expr: Box::new(left),
                list,
                negated,
            });
        }
        Ok(left)
    }

    fn list(&mut self) -> Result<Expr, QueryError> {
        self.expect_sym("[")?;
        let mut items = Vec::new();
        if !self.at_sym("]") {
            loop {
                items.push(self.additive()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        self.expect_sym("]")?;
        Ok(Expr::List(items))
    }

    fn additive(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.eat_sym("+") {
                BinOp::Add
            } else if self.eat_sym("-") {
                BinOp::Sub
            } else {
                return Ok(left);
            };
            let right = self.multiplicative()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.power()?;
        loop {
            let op = if self.eat_sym("*") {
                BinOp::Mul
            } else if self.eat_sym("/") {
                BinOp::Div
            } else if self.eat_sym("%") {
                BinOp::Mod
            } else {
                return Ok(left);
            };
            let right = self.power()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn power(&mut self) -> Result<Expr, QueryError> {
        let base = self.unary()?;
        if self.eat_sym("^") {
            let exp = self.power()?;
            return Ok(Expr::Binary(Box::new(base), BinOp::Pow, Box::new(exp)));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.eat_sym("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let Some(tok) = self.next() else {
            self.pos -= 1;
            return self.err("a field, value or function");
        };
        Ok(match tok.kind {
            Tok::Str(s) => Expr::Str(s),
            Tok::Num(n) => Expr::Num(n),
            Tok::Regex(r) => Expr::Regex(r),
            Tok::Period(n, unit) => period(self.text, &tok.span, &n, &unit)?,
            Tok::Sym("(") => {
                let e = self.expr()?;
                self.expect_sym(")")?;
                e
            }
            Tok::Sym("[") => {
                self.pos -= 1;
                self.list()?
            }
            Tok::Sym("*") => Expr::Star,
            Tok::Name(segs) if segs.len() == 1 && self.at_sym("(") => {
                self.pos += 1;
                let mut args = Vec::new();
                if !self.at_sym(")") {
                    loop {
                        args.push(self.expr()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                }
                self.expect_sym(")")?;
                Expr::Call(
                    segs[0].to_ascii_lowercase(),
                    args,
                    tok.span.start..self.tokens[self.pos - 1].span.end,
                )
            }
            Tok::Name(segs) => Expr::Field(segs, tok.span),
            Tok::Sym(_) => {
                self.pos -= 1;
                return self.err("a field, value or function");
            }
        })
    }
}

fn period(text: &str, span: &Span, n: &str, unit: &str) -> Result<Expr, QueryError> {
    let unit = match unit {
        "ms" | "msec" | "millisecond" | "milliseconds" => TimeUnit::Millisecond,
        "s" | "sec" | "secs" | "second" | "seconds" => TimeUnit::Second,
        "m" | "min" | "mins" | "minute" | "minutes" => TimeUnit::Minute,
        "h" | "hr" | "hrs" | "hour" | "hours" => TimeUnit::Hour,
        "d" | "day" | "days" => TimeUnit::Day,
        "w" | "week" | "weeks" => TimeUnit::Week,
        "mo" | "mon" | "month" | "months" => TimeUnit::Month,
        "q" | "qtr" | "quarter" | "quarters" => TimeUnit::Quarter,
        "y" | "yr" | "year" | "years" => TimeUnit::Year,
        _ => {
            return Err(QueryError::parse(
                text,
                span.start + n.len(),
                format!("unknown time unit `{unit}` (ms, s, m, h, d, w, mo, q, y)"),
            ))
        }
    };
    let value = n.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
        QueryError::parse(
            text,
            span.start,
            "a period is a whole number above 0".into(),
        )
    })?;
    Ok(Expr::Period(value, unit))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    const SEEDS: [&str; 4] = [
        "fields user.username | stats count(*) as count by user.username",
        "fields @timestamp,user.extra.sessionName.0, requestURI | sort @timestamp desc | filter user.username like /clickhouse.com/ | limit 10000",
        "filter requestURI like /secret/ and verb in [\"get\", 'list'] | parse @message \"* [*]\" as a, b | dedup a",
        "SOURCE logGroups(namePrefix: ['cloudtrail']) | stats pct(x, 95), count(*) by bin(5m) as t | sort t desc",
    ];

    proptest! {
        /// Any text, and any cut or byte change of a real query, parses or
        /// fails with an error; compiling what parses never panics either.
        #[test]
        fn no_input_panics(
            seed in 0..SEEDS.len(),
            cut in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            junk in "\\PC{0,40}",
        ) {
            let mut bytes = SEEDS[seed].as_bytes().to_vec();
            bytes.truncate(cut.index(bytes.len() + 1));
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            for text in [String::from_utf8_lossy(&bytes).into_owned(), junk] {
                if let Ok(q) = super::parse(&text) {
                    let _ = crate::compile(&q, &crate::CompileOptions::default());
                }
            }
        }
    }

    #[test]
    fn the_seed_queries_parse() {
        for q in SEEDS {
            super::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }
}

//! The parsed form of a Logs Insights query.

/// A byte range in the query text.
pub type Span = std::ops::Range<usize>;

/// A whole query: an optional `SOURCE` and the pipeline of commands.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// `SOURCE …`, when the query starts with one.
    pub source: Option<SourceSelect>,
    /// The commands, left to right.
    pub commands: Vec<Command>,
}

impl Query {
    /// Whether rows leave the scan only through `stats`: filters and field
    /// expressions may read the original record, but nothing sorts, limits,
    /// deduplicates or returns whole rows before the first `stats`. Such a
    /// query can read `raw` as views of the decompressed pages, since no
    /// operator keeps those pages alive by holding rows.
    pub fn rows_end_in_stats(&self) -> bool {
        for c in &self.commands {
            match c {
                Command::Stats { .. } => return true,
                Command::Fields(_)
                | Command::Display(_)
                | Command::Filter(_)
                | Command::Parse { .. }
                | Command::Unmask => {}
                Command::Sort(_)
                | Command::Limit(_)
                | Command::Dedup(_)
                | Command::Pattern(_)
                | Command::Diff(_)
                | Command::Anomaly => return false,
            }
        }
        false
    }
}

/// What `SOURCE logGroups(…)` / `SOURCE dataSource([…])` selects.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceSelect {
    /// Source kinds (`cloudtrail`, `k8s`, …) or prefixes of them.
    pub name_prefixes: Vec<String>,
    /// Cloud account ids.
    pub accounts: Vec<String>,
    /// Where it is in the query.
    pub span: Span,
}

/// One pipeline command.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `fields a, b as c`.
    Fields(Vec<Item>),
    /// `display a, b` (the last one counts).
    Display(Vec<Item>),
    /// `filter expr` (also `where`, `filterIndex`).
    Filter(Expr),
    /// `stats aggs [by keys]`.
    Stats {
        /// Aggregates.
        aggs: Vec<Item>,
        /// Group keys.
        by: Vec<Item>,
    },
    /// `sort a desc, b`.
    Sort(Vec<SortKey>),
    /// `limit n` (`limit any n` too).
    Limit(u64),
    /// `parse [field] "glob" as a, b` or `parse [field] /regex/`.
    Parse {
        /// The field parsed; `@message` when not given.
        field: Expr,
        /// How.
        pattern: ParsePattern,
    },
    /// `dedup a, b`.
    Dedup(Vec<Expr>),
    /// `pattern [expr]`: log templates of the text (`@message` when not given).
    Pattern(Expr),
    /// `diff [previousDay|previousWeek|previousMonth]`, after `pattern`.
    Diff(DiffWindow),
    /// `anomaly`, after `pattern`.
    Anomaly,
    /// `unmask`: Mamori masks nothing, so every value is already shown.
    Unmask,
}

/// The earlier window `diff` compares with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffWindow {
    /// The window of the same length just before.
    Preceding,
    /// The same window a day earlier.
    PreviousDay,
    /// A week earlier.
    PreviousWeek,
    /// A month (30 days) earlier.
    PreviousMonth,
}

/// How `parse` extracts fields.
#[derive(Clone, Debug, PartialEq)]
pub enum ParsePattern {
    /// A glob with `*` captures, and a name per capture.
    Glob(String, Vec<String>),
    /// A regular expression with named groups `(?<name>…)`.
    Regex(String),
}

/// An expression with an optional `as` name, and its text in the query
/// (the column name when there is no alias, as in Insights).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The expression.
    pub expr: Expr,
    /// `as name`.
    pub alias: Option<String>,
    /// The output name without an alias: a field's name (backquotes
    /// removed), else the expression as written.
    pub text: String,
}

impl Item {
    /// The output column's name.
    pub fn name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.text)
    }
}

/// A `sort` key.
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    /// What is sorted on.
    pub expr: Expr,
    /// Descending.
    pub desc: bool,
}

/// A time unit of a period literal (`5m`, `1h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// ms.
    Millisecond,
    /// s.
    Second,
    /// m.
    Minute,
    /// h.
    Hour,
    /// d.
    Day,
    /// w.
    Week,
    /// mo.
    Month,
    /// q.
    Quarter,
    /// y.
    Year,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `and`.
    And,
    /// `or`.
    Or,
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `^`.
    Pow,
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A field: its path segments (`user.extra.sessionName.0` → 4 segments).
    Field(Vec<String>, Span),
    /// `'text'` or `"text"`.
    Str(String),
    /// A number as written.
    Num(String),
    /// `/regex/`.
    Regex(String),
    /// `5m`.
    Period(i64, TimeUnit),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `not e`.
    Not(Box<Expr>),
    /// `-e`.
    Neg(Box<Expr>),
    /// `a op b`.
    Binary(Box<Expr>, BinOp, Box<Expr>),
    /// `a [not] like "text"|/re/`, `a =~ /re/`.
    Like {
        /// The value.
        expr: Box<Expr>,
        /// A `Str` (substring) or `Regex`.
        pattern: Box<Expr>,
        /// `not like`.
        negated: bool,
    },
    /// `a [not] in [..]`.
    In {
        /// The value.
        expr: Box<Expr>,
        /// The list's elements.
        list: Vec<Expr>,
        /// `not in`.
        negated: bool,
    },
    /// `name(args)`; the name lower-cased.
    Call(String, Vec<Expr>, Span),
    /// `*` as in `count(*)`.
    Star,
}

impl Expr {
    /// The dotted name of a field expression.
    pub fn field_name(&self) -> Option<String> {
        match self {
            Expr::Field(segs, _) => Some(segs.join(".")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_end_in_stats_only_when_nothing_holds_rows_before_it() {
        let ends = |q: &str| crate::parse(q).map(|q| q.rows_end_in_stats()).ok();
        assert_eq!(
            ends("filter a = 1 | fields b | stats count(*) by b"),
            Some(true)
        );
        assert_eq!(
            ends("parse @message 'x=*' as x | stats count(*) by x | sort x | limit 3"),
            Some(true)
        );
        assert_eq!(ends("fields a | limit 5"), Some(false));
        assert_eq!(
            ends("sort @timestamp desc | limit 10 | stats count(*)"),
            Some(false)
        );
        assert_eq!(ends("dedup a | stats count(*)"), Some(false));
        assert_eq!(ends("pattern @message"), Some(false));
    }
}

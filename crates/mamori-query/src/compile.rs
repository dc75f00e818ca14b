//! Logs Insights pipeline → one SQL statement over the `events` table.
//!
//! Each command wraps the statement so far (`SELECT … FROM (previous)`), so
//! every command sees exactly what the commands before it produced, as in
//! Insights. Columns computed by `fields` and `parse` get internal names
//! (`__c1`, …) so that a user's alias can never collide with a stored
//! column; the final projection gives them the user's names.
//!
//! How fields resolve and values coerce: [`crate::expr`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ast::*;
use crate::expr::{boolean, compile_expr, ident, quote, Env, Sql, Ty};
use crate::QueryError;

/// Options that come from outside the query text.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Rows returned when the query has no `limit` (Insights: 10,000).
    pub default_limit: u64,
    /// Earliest event time, µs since the epoch.
    pub start: Option<i64>,
    /// Latest event time (exclusive), µs since the epoch.
    pub end: Option<i64>,
    /// The table queried.
    pub table: String,
    /// The store holds only CloudTrail events in the range queried.
    pub only_cloudtrail: bool,
    /// Let a count grouped by dictionary columns count their keys first ([`PreCount`]).
    pub precount: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            default_limit: 10_000,
            start: None,
            end: None,
            table: "events".into(),
            only_cloudtrail: false,
            precount: true,
        }
    }
}

/// The compiled query.
#[derive(Clone, Debug, PartialEq)]
pub struct Compiled {
    /// The SQL statement.
    pub sql: String,
    /// The rows the commands produce, every column kept, before the final
    /// projection, order and default limit.
    pub rows: String,
    /// Output column names, in order.
    pub columns: Vec<String>,
    /// Source kinds `SOURCE` selected (empty: all).
    pub sources: Vec<String>,
    /// `pattern`: templates to mine before `sql` runs (it reads them from [`PATTERN_TABLE`]).
    pub pattern: Option<PatternStage>,
    /// Counts by dictionary keys to take before `sql` runs.
    pub precount: Option<PreCount>,
}

/// `stats count(*) … by` expressions of dictionary-encoded columns only:
/// the engine counts the rows by those columns' keys
/// ([`crate::precount::KeyCounter`]) into `table`, and the query's `stats`
/// sums those counts, grouped as written.
#[derive(Clone, Debug, PartialEq)]
pub struct PreCount {
    /// The table `sql` reads the counts from (one name per compiled query).
    pub table: String,
    /// SQL giving `columns` for every row that reaches the `stats`.
    pub input: String,
    /// The columns counted by.
    pub columns: Vec<String>,
    /// `input` is every event of the query's time range and sources, with
    /// no other condition: a file wholly in the range can be counted from
    /// the value counts in its footer.
    pub whole: bool,
    /// The source kinds `input` reads (empty: all).
    pub sources: Vec<String>,
}

/// The table `sql` reads a `pattern` command's templates from.
pub const PATTERN_TABLE: &str = "__patterns";

/// What the engine mines before running a query that has `pattern`.
#[derive(Clone, Debug, PartialEq)]
pub struct PatternStage {
    /// SQL giving the text (`__text`) and time (`__time`, µs) of each message.
    pub input: String,
    /// The same over the earlier window, for `diff`.
    pub previous: Option<String>,
    /// `anomaly`: one row per anomaly found.
    pub anomaly: bool,
    /// The query's time range (µs), if it has one.
    pub window: (Option<i64>, Option<i64>),
}

/// Columns of the templates table: always, with `diff`, with `anomaly`.
pub const PATTERN_COLUMNS: [&str; 4] = ["@pattern", "@ratio", "@sampleCount", "@severityLabel"];
/// Columns `diff` adds.
pub const DIFF_COLUMNS: [&str; 3] = ["@previousSampleCount", "@changePercent", "@diffType"];
/// Columns `anomaly` adds.
pub const ANOMALY_COLUMNS: [&str; 2] = ["@anomalyType", "@description"];

/// An output column: the user's name, the SQL that reads it, its type.
type OutColumn = (String, String, Ty);

/// What is in scope at a point of the pipeline.
struct Scope {
    /// The query's time range (µs).
    range: (Option<i64>, Option<i64>),
    /// Columns named by earlier commands: user name → (column, type).
    names: HashMap<String, (String, Ty)>,
    /// After `stats`, only its output exists.
    aggregated: bool,
    /// The current sort: SQL keys with direction.
    order: Vec<String>,
    /// `fields` outputs so far, and the last `display`.
    fields: Vec<OutColumn>,
    display: Option<Vec<OutColumn>>,
    /// Stats output columns.
    stats_out: Vec<OutColumn>,
    /// Only CloudTrail records can be read (the implied typed tests need no source guard).
    only_cloudtrail: bool,
    /// A first `stats` may count by dictionary keys; the one that does.
    precount_allowed: bool,
    precount: Option<PreCount>,
    /// The SQL of every event of the range and sources, when nothing else
    /// (an account of `SOURCE`) narrows them.
    base: Option<String>,
    /// The source kinds `SOURCE` selected (empty: all).
    sources: Vec<String>,
    limited: bool,
    counter: usize,
    columns: Vec<String>,
}

impl Scope {
    fn fresh(&mut self) -> String {
        self.counter += 1;
        format!("__c{}", self.counter)
    }
}

/// Compiles a parsed query to SQL.
pub fn compile(q: &Query, opts: &CompileOptions) -> Result<Compiled, QueryError> {
    let columns: Vec<String> = mamori_store::schema::schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut scope = Scope {
        range: (opts.start, opts.end),
        names: HashMap::new(),
        aggregated: false,
        order: Vec::new(),
        fields: Vec::new(),
        display: None,
        stats_out: Vec::new(),
        only_cloudtrail: false,
        precount_allowed: opts.precount,
        precount: None,
        base: None,
        sources: Vec::new(),
        limited: false,
        counter: 0,
        columns,
    };
    let mut wheres = Vec::new();
    if let Some(s) = opts.start {
        wheres.push(format!("\"time\" >= {}", micros_literal(s)));
    }
    if let Some(e) = opts.end {
        wheres.push(format!("\"time\" < {}", micros_literal(e)));
    }
    let sources = match &q.source {
        Some(sel) => source_filter(sel, &mut wheres)?,
        None => Vec::new(),
    };
    scope.only_cloudtrail = sources == ["cloudtrail"] || opts.only_cloudtrail;
    scope.sources = sources.clone();
    let mut sql = format!("SELECT * FROM {}", ident(&opts.table));
    if !wheres.is_empty() {
        sql = format!("{sql} WHERE {}", wheres.join(" AND "));
    }
    if q.source.as_ref().is_none_or(|s| s.accounts.is_empty()) {
        scope.base = Some(sql.clone());
    }
    let mut stats_seen = 0;
    let mut stage: Option<PatternStage> = None;
    let mut after_pattern = 0;
    for (i, cmd) in q.commands.iter().enumerate() {
        sql = match cmd {
            Command::Pattern(e) => {
                if scope.aggregated {
                    return Err(QueryError::invalid(
                        "pattern reads events: put it before stats, or use one of them",
                    ));
                }
                let text = expr(e, &scope)?;
                stage = Some(PatternStage {
                    input: format!(
                        "SELECT CAST({} AS VARCHAR) AS \"__text\", CAST(\"time\" AS BIGINT) AS \"__time\" FROM ({sql})",
                        text.text
                    ),
                    previous: None,
                    anomaly: false,
                    window: (opts.start, opts.end),
                });
                after_pattern = i + 1;
                pattern_scope(&mut scope, &PATTERN_COLUMNS);
                format!("SELECT * FROM {}", ident(PATTERN_TABLE))
            }
            Command::Diff(w) => {
                let st = right_after_pattern(&mut stage, i, after_pattern, "diff")?;
                if st.previous.is_some() || st.anomaly {
                    return Err(QueryError::invalid("diff comes right after pattern, once"));
                }
                let (start, end) = match st.window {
                    (Some(s), e) => (s, e.unwrap_or_else(now_micros)),
                    (None, _) => {
                        return Err(QueryError::invalid(
                            "diff compares the query's time range with an earlier one: give a range (--since, --start/--end)",
                        ))
                    }
                };
                let shift = match w {
                    DiffWindow::Preceding => end - start,
                    DiffWindow::PreviousDay => 86_400_000_000,
                    DiffWindow::PreviousWeek => 7 * 86_400_000_000,
                    DiffWindow::PreviousMonth => 30 * 86_400_000_000,
                };
                let prefix = Query {
                    source: q.source.clone(),
                    commands: q.commands[..after_pattern].to_vec(),
                };
                let earlier = CompileOptions {
                    start: Some(start - shift),
                    end: Some(end - shift),
                    ..opts.clone()
                };
                st.previous = compile(&prefix, &earlier)?.pattern.map(|p| p.input);
                st.window = (Some(start), Some(end));
                after_pattern = i + 1;
                pattern_scope(&mut scope, &DIFF_COLUMNS);
                sql
            }
            Command::Anomaly => {
                let st = right_after_pattern(&mut stage, i, after_pattern, "anomaly")?;
                st.anomaly = true;
                pattern_scope(&mut scope, &ANOMALY_COLUMNS);
                sql
            }
            Command::Unmask => sql,
            Command::Filter(e) => {
                let cond = boolean(expr(e, &scope)?);
                format!("SELECT * FROM ({sql}) WHERE {cond}")
            }
            Command::Fields(items) => {
                let mut extra = Vec::new();
                for it in items {
                    let (col, ty) = define(it, &mut scope, &mut extra)?;
                    scope.fields.retain(|(n, _, _)| n != it.name());
                    scope.fields.push((it.name().to_owned(), col, ty));
                }
                with_columns(sql, &extra)
            }
            Command::Display(items) => {
                let mut extra = Vec::new();
                let mut shown = Vec::new();
                for it in items {
                    let (col, ty) = define(it, &mut scope, &mut extra)?;
                    shown.push((it.name().to_owned(), col, ty));
                }
                scope.display = Some(shown);
                with_columns(sql, &extra)
            }
            Command::Parse { field, pattern } => parse_cmd(sql, field, pattern, &mut scope)?,
            Command::Sort(keys) => {
                let mut order = Vec::new();
                for k in keys {
                    let e = expr(&k.expr, &scope)?;
                    order.push(sort_key(&e, k.desc));
                }
                scope.order = order;
                sql
            }
            Command::Limit(n) => {
                scope.limited = true;
                format!(
                    "SELECT * FROM ({sql}) ORDER BY {} LIMIT {n}",
                    order_by(&scope).join(", ")
                )
            }
            Command::Dedup(fields) => {
                let mut keys = Vec::new();
                for f in fields {
                    keys.push(expr(f, &scope)?.text);
                }
                let rn = scope.fresh();
                let nulls: Vec<String> = keys.iter().map(|k| format!("{k} IS NULL")).collect();
                format!(
                    "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {} ORDER BY {}) AS {} FROM ({sql})) WHERE {} = 1 OR {}",
                    keys.join(", "),
                    order_by(&scope).join(", "),
                    ident(&rn),
                    ident(&rn),
                    nulls.join(" OR ")
                )
            }
            Command::Stats { aggs, by } => {
                stats_seen += 1;
                if stats_seen > 2 {
                    return Err(QueryError::invalid(
                        "a query has at most two stats commands",
                    ));
                }
                stats(sql, aggs, by, &mut scope)?
            }
        };
    }
    let (out, order, limit) = final_projection(&scope, opts);
    let select: Vec<String> = out
        .iter()
        .map(|(name, col, ty)| {
            let v = if *ty == Ty::Time {
                format!("to_char({col}, '%Y-%m-%d %H:%M:%S%.3f')")
            } else {
                col.clone()
            };
            format!("{v} AS {}", ident(name))
        })
        .collect();
    let mut text = format!("SELECT {} FROM ({sql})", select.join(", "));
    let rows = sql;
    if !order.is_empty() {
        text = format!("{text} ORDER BY {}", order.join(", "));
    }
    if let Some(n) = limit {
        text = format!("{text} LIMIT {n}");
    }
    Ok(Compiled {
        sql: text,
        rows,
        columns: out.into_iter().map(|(n, _, _)| n).collect(),
        sources,
        pattern: stage,
        precount: scope.precount,
    })
}

/// The pattern stage, when `cmd` follows `pattern` (or `diff`) directly.
fn right_after_pattern<'s>(
    stage: &'s mut Option<PatternStage>,
    i: usize,
    after_pattern: usize,
    cmd: &str,
) -> Result<&'s mut PatternStage, QueryError> {
    match stage {
        Some(st) if i == after_pattern => Ok(st),
        _ => Err(QueryError::invalid(format!(
            "{cmd} works on templates: put it right after `pattern` (as in `pattern @message | {cmd}`)"
        ))),
    }
}

/// After `pattern`, only the templates table exists; `columns` are added to it.
fn pattern_scope(scope: &mut Scope, columns: &[&str]) {
    if columns == PATTERN_COLUMNS {
        scope.names.clear();
        scope.stats_out.clear();
    }
    for c in columns {
        let ty = match *c {
            "@ratio" | "@sampleCount" | "@previousSampleCount" | "@changePercent" => Ty::Num,
            _ => Ty::Str,
        };
        scope.names.insert((*c).to_owned(), (ident(c), ty));
        scope.stats_out.push(((*c).to_owned(), ident(c), ty));
    }
    scope.aggregated = true;
    scope.limited = false;
    scope.fields.clear();
    scope.display = None;
    scope.order = vec![format!("{} DESC NULLS LAST", ident("@sampleCount"))];
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn micros_literal(us: i64) -> String {
    format!("to_timestamp_micros({us})")
}

/// Adds computed columns to a statement.
fn with_columns(sql: String, extra: &[(String, String)]) -> String {
    if extra.is_empty() {
        return sql;
    }
    let cols: Vec<String> = extra
        .iter()
        .map(|(col, e)| format!("{e} AS {col}"))
        .collect();
    format!("SELECT *, {} FROM ({sql})", cols.join(", "))
}

/// Compiles an item; a computed one gets a column of its own (pushed to `extra`).
fn define(
    it: &Item,
    scope: &mut Scope,
    extra: &mut Vec<(String, String)>,
) -> Result<(String, Ty), QueryError> {
    let e = expr(&it.expr, scope)?;
    if matches!(it.expr, Expr::Field(..)) && it.alias.is_none() {
        return Ok((e.text, e.ty));
    }
    let col = ident(&scope.fresh());
    extra.push((col.clone(), e.text));
    if let Some(a) = &it.alias {
        scope.names.insert(a.clone(), (col.clone(), e.ty));
    }
    Ok((col, e.ty))
}

fn sort_key(e: &Sql, desc: bool) -> String {
    format!(
        "{} {} NULLS LAST",
        e.text,
        if desc { "DESC" } else { "ASC" }
    )
}

/// The current order with a tiebreak, so that equal keys come out the same every time.
fn order_by(scope: &Scope) -> Vec<String> {
    let mut o = scope.order.clone();
    if scope.aggregated {
        // Group keys (and then aggregates) break ties.
        o.extend(
            scope
                .stats_out
                .iter()
                .map(|(_, c, _)| format!("{c} ASC NULLS LAST")),
        );
    } else {
        if o.is_empty() {
            o.push("\"time\" DESC".into());
        }
        o.push("\"uid\" ASC".into());
    }
    o
}

fn final_projection(
    scope: &Scope,
    opts: &CompileOptions,
) -> (Vec<OutColumn>, Vec<String>, Option<u64>) {
    let out = if let Some(d) = &scope.display {
        d.clone()
    } else if scope.aggregated {
        scope.stats_out.clone()
    } else if !scope.fields.is_empty() {
        scope.fields.clone()
    } else {
        vec![
            ("@timestamp".into(), "\"time\"".into(), Ty::Time),
            ("@message".into(), "\"raw\"".into(), Ty::Str),
        ]
    };
    let limit = (!scope.limited).then_some(opts.default_limit);
    (out, order_by(scope), limit)
}

/// `SOURCE logGroups(namePrefix: […], accountIdentifiers: […])` → conditions.
fn source_filter(sel: &SourceSelect, wheres: &mut Vec<String>) -> Result<Vec<String>, QueryError> {
    let mut kinds = Vec::new();
    for p in &sel.name_prefixes {
        let p = data_source_kind(p);
        let matched: Vec<&str> = mamori_event::SourceKind::ALL
            .iter()
            .map(|k| k.as_str())
            .filter(|k| k.starts_with(p.as_str()))
            .collect();
        if matched.is_empty() {
            let all: Vec<&str> = mamori_event::SourceKind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect();
            return Err(QueryError::invalid(format!(
                "SOURCE: no source kind starts with {p:?}; the kinds are {}",
                all.join(", ")
            )));
        }
        kinds.extend(matched.into_iter().map(str::to_owned));
    }
    kinds.sort();
    kinds.dedup();
    if !kinds.is_empty() {
        let list: Vec<String> = kinds.iter().map(|k| quote(k)).collect();
        wheres.push(format!("\"source\" IN ({})", list.join(", ")));
    }
    if !sel.accounts.is_empty() {
        let list: Vec<String> = sel.accounts.iter().map(|a| quote(a)).collect();
        wheres.push(format!("\"cloud_account_uid\" IN ({})", list.join(", ")));
    }
    Ok(kinds)
}

/// Insights data source names (`aws_cloudtrail.management`) → our kinds.
fn data_source_kind(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    let kind = match n.split('.').next().unwrap_or("") {
        "aws_cloudtrail" => "cloudtrail",
        "amazon_vpc" => "vpc_flow",
        "amazon_eks" | "kubernetes" => "k8s",
        "aws_guardduty" => "guardduty",
        "aws_securityhub" => "security_hub",
        _ => return n,
    };
    kind.to_owned()
}

fn parse_cmd(
    sql: String,
    field: &Expr,
    pattern: &ParsePattern,
    scope: &mut Scope,
) -> Result<String, QueryError> {
    let src = expr(field, scope)?;
    let (re, names): (String, Vec<String>) = match pattern {
        ParsePattern::Glob(glob, names) => {
            let parts: Vec<&str> = glob.split('*').collect();
            let mut re = String::from("(?s)");
            for (i, lit) in parts.iter().enumerate() {
                re.push_str(&regex::escape(lit));
                if i + 1 < parts.len() {
                    let last = i + 2 == parts.len() && parts[i + 1].is_empty();
                    re.push_str(if last { "(.*)" } else { "(.*?)" });
                }
            }
            (re, names.clone())
        }
        ParsePattern::Regex(r) => {
            let compiled = regex::Regex::new(r)
                .map_err(|e| QueryError::invalid(format!("parse /{r}/: {e}")))?;
            let mut names = Vec::new();
            for (i, n) in compiled.capture_names().enumerate().skip(1) {
                match n {
                    Some(n) => names.push(n.to_owned()),
                    None => names.push(format!("__unnamed{i}")),
                }
            }
            if names.iter().all(|n| n.starts_with("__unnamed")) {
                return Err(QueryError::invalid(format!(
                    "parse /{r}/ has no named group (?<name>…) to extract"
                )));
            }
            (r.clone(), names)
        }
    };
    let list = ident(&scope.fresh());
    let mut extra = vec![(
        list.clone(),
        format!(
            "regexp_match(CAST({} AS VARCHAR), {})",
            src.text,
            quote(&re)
        ),
    )];
    let sql = with_columns(sql, &extra);
    extra.clear();
    for (i, name) in names.iter().enumerate() {
        if name.starts_with("__unnamed") {
            continue;
        }
        let col = ident(&scope.fresh());
        extra.push((col.clone(), format!("{list}[{}]", i + 1)));
        scope.names.insert(name.clone(), (col, Ty::Str));
    }
    Ok(with_columns(sql, &extra))
}

fn stats(sql: String, aggs: &[Item], by: &[Item], scope: &mut Scope) -> Result<String, QueryError> {
    let mut select = Vec::new();
    let mut group = Vec::new();
    let mut out = Vec::new();
    let mut names = HashMap::new();
    for k in by {
        let e = expr(&k.expr, scope)?;
        if e.ty == Ty::Json {
            return Err(QueryError::invalid(format!(
                "stats … by {}: maps and lists (from jsonParse) are not allowed in stats; group by m.key",
                k.name()
            )));
        }
        let col = ident(&scope.fresh());
        select.push(format!("{} AS {col}", e.text));
        group.push(e.text.clone());
        names.insert(k.name().to_owned(), (col.clone(), e.ty));
        out.push((k.name().to_owned(), col, e.ty));
    }
    let mut earlier = HashMap::new();
    // The aggregates' SQL and output columns, selected after the groups.
    let mut agg_select = Vec::new();
    for a in aggs {
        let e = crate::functions::stats_item(&a.expr, &scope_ref(scope), &earlier)?;
        earlier.insert(a.name().to_owned(), e.clone());
        let col = ident(&scope.fresh());
        agg_select.push((e.text.clone(), col.clone()));
        names.insert(a.name().to_owned(), (col.clone(), e.ty));
        out.push((a.name().to_owned(), col, e.ty));
    }
    let all_counts = agg_select.iter().all(|(e, _)| e == "count(*)");
    let pre = if scope.precount_allowed && !scope.aggregated && all_counts {
        precount_columns(&group)
    } else {
        None
    };
    scope.precount_allowed = false;
    let mut text = match pre {
        Some(columns) => {
            let table = format!("__precount_{}", PRECOUNTS.fetch_add(1, Ordering::Relaxed));
            let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
            let sum = format!("sum({})", ident(crate::precount::COUNT_COLUMN));
            select.extend(agg_select.iter().map(|(_, col)| format!("{sum} AS {col}")));
            let text = format!("SELECT {} FROM {}", select.join(", "), ident(&table));
            scope.precount = Some(PreCount {
                table,
                input: format!("SELECT {} FROM ({sql})", cols.join(", ")),
                columns,
                whole: scope.base.as_deref() == Some(sql.as_str()),
                sources: scope.sources.clone(),
            });
            text
        }
        None => {
            select.extend(agg_select.iter().map(|(e, col)| format!("{e} AS {col}")));
            format!("SELECT {} FROM ({sql})", select.join(", "))
        }
    };
    if !group.is_empty() {
        text = format!("{text} GROUP BY {}", group.join(", "));
    }
    scope.names = names;
    scope.aggregated = true;
    scope.order.clear();
    scope.fields.clear();
    scope.display = None;
    scope.stats_out = out;
    Ok(text)
}

/// Names of the compiled queries' count tables.
static PRECOUNTS: AtomicU64 = AtomicU64::new(0);

/// The columns a count can count by first: the groups are expressions of
/// dictionary-encoded store columns only (at most [`crate::precount::MAX_COLUMNS`]).
fn precount_columns(group: &[String]) -> Option<Vec<String>> {
    if group.is_empty() {
        return None;
    }
    let schema = mamori_store::schema::schema();
    let mut columns: Vec<String> = Vec::new();
    for g in group {
        for name in identifiers(g)? {
            let dict = schema.field_with_name(&name).is_ok_and(|f| {
                matches!(
                    f.data_type(),
                    datafusion::arrow::datatypes::DataType::Dictionary(..)
                )
            });
            if !dict {
                return None;
            }
            if !columns.contains(&name) {
                columns.push(name);
            }
        }
    }
    (!columns.is_empty() && columns.len() <= crate::precount::MAX_COLUMNS).then_some(columns)
}

/// The double-quoted identifiers of a SQL expression (string literals
/// skipped); `None` if a quote is left open.
fn identifiers(sql: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' && c != '"' {
            continue;
        }
        let mut text = String::new();
        loop {
            match chars.next()? {
                q if q == c && chars.peek() == Some(&c) => {
                    chars.next();
                    text.push(c);
                }
                q if q == c => break,
                other => text.push(other),
            }
        }
        if c == '"' {
            out.push(text);
        }
    }
    Some(out)
}

fn scope_ref(scope: &Scope) -> Env<'_> {
    Env {
        names: &scope.names,
        aggregated: scope.aggregated,
        columns: &scope.columns,
        only_cloudtrail: scope.only_cloudtrail,
        range: scope.range,
    }
}

fn expr(e: &Expr, scope: &Scope) -> Result<Sql, QueryError> {
    compile_expr(e, &scope_ref(scope))
}

//! Logs Insights pipeline → one SQL statement over the `events` table.
//!
//! Each command wraps the statement so far (`SELECT … FROM (previous)`), so
//! every command sees exactly what the commands before it produced, as in
//! Insights. Columns computed by `fields` and `parse` get internal names
//! (`__c1`, …) so that a user's alias can never collide with a stored
//! column; the final projection gives them the user's names.
//!
//! Fields resolve in this order: names defined earlier in the query; system
//! fields (`@timestamp`, `@message`, …); the normalized fields, by their
//! documented names (`actor.user_name`, `src.ip`, `class_uid`), which are
//! typed columns; anything else is a path into the original record, read
//! from the JSON (`userIdentity.arn`, `user.extra.sessionName.0`). A text
//! record (syslog, VPC flow, ALB) is read through its named fields.

use std::collections::HashMap;

use crate::ast::*;
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
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            default_limit: 10_000,
            start: None,
            end: None,
            table: "events".into(),
        }
    }
}

/// The compiled query.
#[derive(Clone, Debug, PartialEq)]
pub struct Compiled {
    /// The SQL statement.
    pub sql: String,
    /// Output column names, in order.
    pub columns: Vec<String>,
    /// Source kinds `SOURCE` selected (empty: all).
    pub sources: Vec<String>,
}

/// Static types, enough to coerce as Insights does (§4.3 of the spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Num,
    Bool,
    Time,
}

/// A compiled expression.
#[derive(Clone, Debug)]
pub(crate) struct Sql {
    pub text: String,
    pub ty: Ty,
    /// A literal's value, for coercion decisions.
    pub literal: Option<String>,
}

impl Sql {
    pub(crate) fn new(text: String, ty: Ty) -> Sql {
        Sql {
            text,
            ty,
            literal: None,
        }
    }
}

/// Quotes an identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Normalized field groups: `actor.user_name` is the column `actor_user_name`.
const GROUPS: [&str; 9] = [
    "actor", "src", "dst", "api", "cloud", "http", "network", "finding", "status",
];

/// What is in scope at a point of the pipeline.
struct Scope {
    /// Columns named by earlier commands: user name → (column, type).
    names: HashMap<String, (String, Ty)>,
    /// After `stats`, only its output exists.
    aggregated: bool,
    /// The current sort: SQL keys with direction.
    order: Vec<String>,
    /// `fields` outputs so far, and the last `display`.
    fields: Vec<(String, String, Ty)>,
    display: Option<Vec<(String, String, Ty)>>,
    /// Stats output columns.
    stats_out: Vec<(String, String, Ty)>,
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
        names: HashMap::new(),
        aggregated: false,
        order: Vec::new(),
        fields: Vec::new(),
        display: None,
        stats_out: Vec::new(),
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
    let mut sql = format!("SELECT * FROM {}", ident(&opts.table));
    if !wheres.is_empty() {
        sql = format!("{sql} WHERE {}", wheres.join(" AND "));
    }
    let mut stats_seen = 0;
    for cmd in &q.commands {
        if scope.limited && !matches!(cmd, Command::Display(_) | Command::Limit(_)) {
            // Insights allows filter after limit (it filters the limited set); keep the order.
        }
        sql = match cmd {
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
    if !order.is_empty() {
        text = format!("{text} ORDER BY {}", order.join(", "));
    }
    if let Some(n) = limit {
        text = format!("{text} LIMIT {n}");
    }
    Ok(Compiled {
        sql: text,
        columns: out.into_iter().map(|(n, _, _)| n).collect(),
        sources,
    })
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
) -> (Vec<(String, String, Ty)>, Vec<String>, Option<u64>) {
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
        let col = ident(&scope.fresh());
        select.push(format!("{} AS {col}", e.text));
        group.push(e.text.clone());
        names.insert(k.name().to_owned(), (col.clone(), e.ty));
        out.push((k.name().to_owned(), col, e.ty));
    }
    for a in aggs {
        let e = crate::functions::aggregate(&a.expr, scope_ref(scope))?;
        let col = ident(&scope.fresh());
        select.push(format!("{} AS {col}", e.text));
        names.insert(a.name().to_owned(), (col.clone(), e.ty));
        out.push((a.name().to_owned(), col, e.ty));
    }
    let mut text = format!("SELECT {} FROM ({sql})", select.join(", "));
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

/// A read-only view of the scope for expression compilation.
pub(crate) struct Env<'a> {
    names: &'a HashMap<String, (String, Ty)>,
    aggregated: bool,
    columns: &'a [String],
}

fn scope_ref(scope: &Scope) -> Env<'_> {
    Env {
        names: &scope.names,
        aggregated: scope.aggregated,
        columns: &scope.columns,
    }
}

fn expr(e: &Expr, scope: &Scope) -> Result<Sql, QueryError> {
    compile_expr(e, &scope_ref(scope))
}

/// Compiles an expression.
pub(crate) fn compile_expr(e: &Expr, env: &Env) -> Result<Sql, QueryError> {
    Ok(match e {
        Expr::Field(segs, _) => field(segs, env)?,
        Expr::Str(s) => Sql {
            text: quote(s),
            ty: Ty::Str,
            literal: Some(s.clone()),
        },
        Expr::Num(n) => {
            let v: f64 = n
                .parse()
                .map_err(|_| QueryError::invalid(format!("{n} is not a number")))?;
            let text = if n.contains('.') {
                format!("{v:?}")
            } else {
                n.clone()
            };
            Sql {
                text,
                ty: Ty::Num,
                literal: Some(n.clone()),
            }
        }
        Expr::Regex(r) => {
            return Err(QueryError::invalid(format!(
                "/{r}/: a regex goes after like, =~ or parse"
            )))
        }
        Expr::Period(..) => {
            return Err(QueryError::invalid(
                "a time period goes inside bin(), datefloor() or dateceil()",
            ))
        }
        Expr::List(_) => return Err(QueryError::invalid("a [list] goes after in")),
        Expr::Star => return Err(QueryError::invalid("* goes inside count(*)")),
        Expr::Not(inner) => Sql::new(
            format!("(NOT {})", boolean(compile_expr(inner, env)?)),
            Ty::Bool,
        ),
        Expr::Neg(inner) => Sql::new(
            format!("(- {})", numeric(&compile_expr(inner, env)?)),
            Ty::Num,
        ),
        Expr::Binary(l, op, r) => binary(compile_expr(l, env)?, *op, compile_expr(r, env)?),
        Expr::Like {
            expr,
            pattern,
            negated,
        } => {
            let v = format!("CAST({} AS VARCHAR)", compile_expr(expr, env)?.text);
            let test = match pattern.as_ref() {
                Expr::Regex(r) => {
                    regex::Regex::new(r)
                        .map_err(|err| QueryError::invalid(format!("/{r}/: {err}")))?;
                    format!("regexp_like({v}, {})", quote(r))
                }
                Expr::Str(s) => format!("(strpos({v}, {}) > 0)", quote(s)),
                _ => return Err(QueryError::invalid("like takes a \"string\" or /regex/")),
            };
            let text = if *negated {
                format!("(NOT {test})")
            } else {
                test
            };
            Sql::new(text, Ty::Bool)
        }
        Expr::In {
            expr,
            list,
            negated,
        } => {
            let v = compile_expr(expr, env)?;
            let mut tests = Vec::new();
            for item in list {
                let i = compile_expr(item, env)?;
                tests.push(binary(v.clone(), BinOp::Eq, i).text);
            }
            if tests.is_empty() {
                tests.push("FALSE".into());
            }
            let any = format!("({})", tests.join(" OR "));
            Sql::new(
                if *negated {
                    format!("(NOT {any})")
                } else {
                    any
                },
                Ty::Bool,
            )
        }
        Expr::Call(name, args, _) => crate::functions::scalar(name, args, env)?,
    })
}

fn field(segs: &[String], env: &Env) -> Result<Sql, QueryError> {
    let name = segs.join(".");
    if let Some((col, ty)) = env.names.get(&name) {
        return Ok(Sql::new(col.clone(), *ty));
    }
    if env.aggregated {
        let known: Vec<&String> = env.names.keys().collect();
        return Err(QueryError::invalid(format!(
            "{name} is not in the output of stats (it has {known:?})"
        )));
    }
    if let Some(sys) = name.strip_prefix('@') {
        let (text, ty) = match sys {
            "timestamp" => ("\"time\"".to_owned(), Ty::Time),
            "message" => ("\"raw\"".to_owned(), Ty::Str),
            "ingestionTime" => ("\"ingest_time\"".to_owned(), Ty::Time),
            "logStream" => ("\"origin\"".to_owned(), Ty::Str),
            "log" => (
                "concat(coalesce(\"cloud_account_uid\", ''), ':', \"source\")".to_owned(),
                Ty::Str,
            ),
            "ptr" => (
                "concat(\"source\", '/', to_char(\"time\", '%Y-%m-%d'), '/', \"uid\")".to_owned(),
                Ty::Str,
            ),
            "source" | "data_source_name" => ("\"source\"".to_owned(), Ty::Str),
            "aws.account" => ("\"cloud_account_uid\"".to_owned(), Ty::Str),
            "aws.region" => ("\"cloud_region\"".to_owned(), Ty::Str),
            _ => {
                return Err(QueryError::invalid(format!(
                    "unknown system field @{sys}; Mamori has @timestamp, @message, @ingestionTime, @logStream, @log, @ptr, @source, @aws.account, @aws.region"
                )))
            }
        };
        return Ok(Sql::new(text, ty));
    }
    let column = segs.join("_");
    let typed = if segs.len() > 1 {
        GROUPS.contains(&segs[0].as_str())
    } else {
        column.contains('_') && column != "time_flags"
    };
    if typed && column != "raw" && env.columns.iter().any(|c| *c == column) {
        let ty = column_type(&column);
        return Ok(Sql::new(ident(&column), ty));
    }
    Ok(Sql::new(raw_path(segs), Ty::Str))
}

/// The type of a typed column, as the coercion rules see it.
fn column_type(column: &str) -> Ty {
    let numeric = [
        "class_uid",
        "category_uid",
        "activity_id",
        "type_uid",
        "severity_id",
        "status_id",
        "src_port",
        "dst_port",
        "http_status",
        "http_bytes_in",
        "http_bytes_out",
        "network_protocol_num",
        "network_bytes",
        "network_packets",
    ];
    if numeric.contains(&column) {
        Ty::Num
    } else if column == "actor_is_mfa" {
        Ty::Bool
    } else if column == "ingest_time" {
        Ty::Time
    } else {
        Ty::Str
    }
}

/// A path in the original record (a text record's named fields stand in for JSON).
pub(crate) fn raw_path(segs: &[String]) -> String {
    let mut args = vec!["coalesce(\"fields\", \"raw\")".to_owned()];
    for s in segs {
        if !s.is_empty() && s.len() < 10 && s.bytes().all(|b| b.is_ascii_digit()) {
            args.push(s.clone());
        } else {
            args.push(quote(s));
        }
    }
    format!("json_as_text({})", args.join(", "))
}

/// As a boolean: comparisons are already; numbers are true when not 0.
pub(crate) fn boolean(e: Sql) -> String {
    match e.ty {
        Ty::Bool => e.text,
        Ty::Num => format!("({} <> 0)", e.text),
        Ty::Str | Ty::Time => format!("({} IS NOT NULL)", e.text),
    }
}

/// As a number: strings that do not read as numbers are null.
pub(crate) fn numeric(e: &Sql) -> String {
    match e.ty {
        Ty::Num => e.text.clone(),
        Ty::Bool => format!("CAST({} AS BIGINT)", e.text),
        Ty::Time => format!("(CAST({} AS BIGINT) / 1000)", e.text),
        Ty::Str => format!("try_cast({} AS DOUBLE)", e.text),
    }
}

fn is_number(s: &str) -> bool {
    s.trim().parse::<f64>().is_ok()
}

fn binary(l: Sql, op: BinOp, r: Sql) -> Sql {
    let sym = match op {
        BinOp::And => return Sql::new(format!("({} AND {})", boolean(l), boolean(r)), Ty::Bool),
        BinOp::Or => return Sql::new(format!("({} OR {})", boolean(l), boolean(r)), Ty::Bool),
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::Pow => {
            return Sql::new(
                format!("power(CAST({} AS DOUBLE), {})", numeric(&l), numeric(&r)),
                Ty::Num,
            )
        }
        BinOp::Eq => "=",
        BinOp::Ne => "<>",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
    };
    if matches!(
        op,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod
    ) {
        let left = if op == BinOp::Div {
            format!("CAST({} AS DOUBLE)", numeric(&l))
        } else {
            numeric(&l)
        };
        return Sql::new(format!("({left} {sym} {})", numeric(&r)), Ty::Num);
    }
    // Comparisons coerce as Insights does: numbers compare as numbers when
    // the other side reads as one, times against times, the rest as text.
    let lit_num = |s: &Sql| s.literal.as_deref().is_some_and(is_number);
    let text = match (l.ty, r.ty) {
        (Ty::Num, Ty::Num) => format!("({} {sym} {})", l.text, r.text),
        (Ty::Time, Ty::Str) if r.literal.is_some() => {
            format!("({} {sym} CAST({} AS TIMESTAMP))", l.text, r.text)
        }
        (Ty::Str, Ty::Time) if l.literal.is_some() => {
            format!("(CAST({} AS TIMESTAMP) {sym} {})", l.text, r.text)
        }
        (Ty::Time, Ty::Time) => format!("({} {sym} {})", l.text, r.text),
        (Ty::Time, Ty::Num) | (Ty::Num, Ty::Time) => {
            format!("({} {sym} {})", numeric(&l), numeric(&r))
        }
        (Ty::Str, Ty::Num) | (Ty::Num, Ty::Str) | (Ty::Bool, Ty::Num) | (Ty::Num, Ty::Bool) => {
            let s = if l.ty == Ty::Num { &r } else { &l };
            if s.literal.is_some() && !lit_num(s) {
                format!(
                    "(CAST({} AS VARCHAR) {sym} CAST({} AS VARCHAR))",
                    l.text, r.text
                )
            } else {
                format!("({} {sym} {})", numeric(&l), numeric(&r))
            }
        }
        _ => format!(
            "(CAST({} AS VARCHAR) {sym} CAST({} AS VARCHAR))",
            l.text, r.text
        ),
    };
    Sql::new(text, Ty::Bool)
}

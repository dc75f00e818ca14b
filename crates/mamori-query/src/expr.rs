//! Expressions: field resolution and Insights' coercions, compiled to SQL.
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

/// Static types, enough to coerce as Insights does (§4.3 of the spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Num,
    Bool,
    Time,
    /// A map or list from `jsonParse`, as its JSON text: null to string,
    /// number and date functions, false in comparisons, read with `m.key`.
    Json,
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

/// CloudTrail paths whose value the parser also puts in a typed column: for
/// a CloudTrail record, `path = 'v'` implies `column = 'v'`, so the typed
/// test is added and statistics and bloom filters prune for it
/// (`sourceIPAddress` goes to `src_ip` or `src_hostname`, see [`implied`]).
const CLOUDTRAIL_IMPLIED: [(&str, &str); 8] = [
    ("eventName", "api_operation"),
    ("eventSource", "api_service"),
    ("eventID", "uid"),
    ("awsRegion", "cloud_region"),
    ("recipientAccountId", "cloud_account_uid"),
    ("userIdentity.arn", "actor_user_uid"),
    ("userIdentity.accessKeyId", "actor_credential_uid"),
    ("userIdentity.userName", "actor_user_name"),
];

/// Normalized field groups: `actor.user_name` is the column `actor_user_name`.
const GROUPS: [&str; 9] = [
    "actor", "src", "dst", "api", "cloud", "http", "network", "finding", "status",
];

/// A read-only view of the scope for expression compilation.
pub(crate) struct Env<'a> {
    pub(crate) names: &'a HashMap<String, (String, Ty)>,
    pub(crate) aggregated: bool,
    pub(crate) columns: &'a [String],
    pub(crate) only_cloudtrail: bool,
    /// The query's time range (µs), for queryStartTime() and queryEndTime().
    pub(crate) range: (Option<i64>, Option<i64>),
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
        Expr::Binary(l, op, r) => {
            let (left, right) = (compile_expr(l, env)?, compile_expr(r, env)?);
            for (a, b) in [(&left, &right), (&right, &left)] {
                if let (Ty::Time, Some(lit)) = (a.ty, &b.literal) {
                    let ok = b.ty == Ty::Num
                        || mamori_event::Timestamp::parse_iso8601(lit).is_some()
                        || mamori_event::Timestamp::parse_iso8601(&format!("{lit}T00:00:00Z"))
                            .is_some();
                    if !ok {
                        return Err(QueryError::invalid(format!(
                            "{lit:?} is not a time: compare timestamps with 2026-11-20, 2026-11-20T10:00:00Z or epoch milliseconds"
                        )));
                    }
                }
            }
            let read_raw = [&left, &right].iter().any(|x| reads_record(&x.text));
            let test = binary(left, *op, right);
            match (op, l.as_ref(), r.as_ref()) {
                (BinOp::Eq, Expr::Field(segs, _), Expr::Str(v))
                | (BinOp::Eq, Expr::Str(v), Expr::Field(segs, _)) => {
                    if let Some(exact) = cloudtrail_id_test(segs, v, env) {
                        return Ok(Sql::new(exact, Ty::Bool));
                    }
                    let mut text = test.text;
                    if let Some(pre) = implied(segs, v, env) {
                        text = format!("({text} AND {pre})");
                    }
                    if let Some(pre) = read_raw.then(|| text_prefilter(v, env)).flatten() {
                        text = format!("({pre} AND {text})");
                    }
                    Sql::new(text, Ty::Bool)
                }
                _ => test,
            }
        }
        Expr::Like {
            expr,
            pattern,
            negated,
        } => {
            let subject = compile_expr(expr, env)?;
            if subject.ty == Ty::Json {
                return Ok(Sql::new("FALSE".into(), Ty::Bool));
            }
            let v = format!("CAST({} AS VARCHAR)", subject.text);
            let raw_like = match pattern.as_ref() {
                Expr::Str(p) if !*negated && reads_record(&subject.text) => text_prefilter(p, env),
                _ => None,
            };
            let test = match pattern.as_ref() {
                Expr::Regex(r) => {
                    regex::Regex::new(r)
                        .map_err(|err| QueryError::invalid(format!("/{r}/: {err}")))?;
                    format!("regexp_like({v}, {})", quote(r))
                }
                Expr::Str(s) => format!("(strpos({v}, {}) > 0)", quote(s)),
                _ => return Err(QueryError::invalid("like takes a \"string\" or /regex/")),
            };
            let text = match (negated, raw_like) {
                (true, _) => format!("(NOT {test})"),
                (false, Some(pre)) => format!("({pre} AND {test})"),
                (false, None) => test,
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

/// `eventID = 'v'` over CloudTrail records only, as a test of the `uid`
/// column alone: the parser copies `eventID` there verbatim, and gives a
/// record without one a content hash (`h:` and hex) instead, so for any
/// other value the two tests agree and the original record (a page of `raw`
/// decompressed for one event) need not be read.
fn cloudtrail_id_test(segs: &[String], value: &str, env: &Env) -> Option<String> {
    let is_id = matches!(segs, [s] if s == "eventID");
    (is_id
        && env.only_cloudtrail
        && !env.aggregated
        && !env.names.contains_key("eventID")
        && !value.starts_with("h:"))
    .then(|| format!("\"uid\" = {}", quote(value)))
}

/// The typed test a CloudTrail path's equality implies, guarded to CloudTrail records.
fn implied(segs: &[String], value: &str, env: &Env) -> Option<String> {
    let path = segs.join(".");
    if env.names.contains_key(&path) || env.aggregated {
        return None;
    }
    let column = if path == "sourceIPAddress" {
        if value.parse::<std::net::IpAddr>().is_ok() {
            "src_ip"
        } else {
            "src_hostname"
        }
    } else {
        CLOUDTRAIL_IMPLIED
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, c)| *c)?
    };
    let test = format!("{} = {}", ident(column), quote(value));
    Some(if env.only_cloudtrail {
        test
    } else {
        format!("(\"source\" <> 'cloudtrail' OR {test})")
    })
}

fn field(segs: &[String], env: &Env) -> Result<Sql, QueryError> {
    let name = segs.join(".");
    if let Some((col, ty)) = env.names.get(&name) {
        return Ok(Sql::new(col.clone(), *ty));
    }
    // `m.key.sub` on a map from jsonParse.
    for k in (1..segs.len()).rev() {
        if let Some((col, Ty::Json)) = env.names.get(&segs[..k].join(".")) {
            return Ok(Sql::new(json_path(col, &segs[k..]), Ty::Str));
        }
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
    if typed && column == "api_request_uid" {
        return Ok(Sql::new(request_uid(), Ty::Str));
    }
    if typed && column != "raw" && env.columns.contains(&column) {
        let ty = column_type(&column);
        return Ok(Sql::new(ident(&column), ty));
    }
    let raw = record_path(segs, env);
    if let Some(typed) = cloudtrail_column(&name) {
        let text = if env.only_cloudtrail {
            typed
        } else {
            format!("CASE WHEN \"source\" = 'cloudtrail' THEN {typed} ELSE {raw} END")
        };
        return Ok(Sql::new(text, Ty::Str));
    }
    Ok(Sql::new(raw, Ty::Str))
}

/// `api.request_uid`, which the store keeps only inside the original record
/// (docs/store-layout.md): each record's parser finds it again, so the value
/// is the one ingest saw, for every source, by one definition.
fn request_uid() -> String {
    "mamori_request_uid(CAST(\"source\" AS VARCHAR), \"raw\")".to_owned()
}

/// CloudTrail paths whose value a typed column holds exactly (the parser
/// copies them verbatim), read from the column instead of the JSON: grouping
/// by `eventName` then reads a dictionary column, not 10M records.
fn cloudtrail_column(path: &str) -> Option<String> {
    Some(match path {
        // Insights events have no top-level eventName (the column holds insightDetails.eventName).
        "eventName" => {
            "CASE WHEN \"event_code\" = 'AwsCloudTrailInsight' THEN NULL ELSE \"api_operation\" END"
                .to_owned()
        }
        "awsRegion" => "\"cloud_region\"".to_owned(),
        // The parser puts an address in src_ip and anything else in src_hostname.
        "sourceIPAddress" => "coalesce(\"src_ip\", \"src_hostname\")".to_owned(),
        _ => return None,
    })
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
/// The record's JSON as fields read it: a text record's named fields, else
/// the original (when the store holds only CloudTrail, the original: no copy).
const RECORD: &str = "coalesce(\"fields\", \"raw\")";
const RECORD_CLOUDTRAIL: &str = "\"raw\"";

/// Whether compiled SQL is a read of a path of the record (not of a jsonParse map).
fn reads_record(sql: &str) -> bool {
    [RECORD, RECORD_CLOUDTRAIL]
        .iter()
        .any(|r| sql.starts_with(&format!("json_as_text({r}")))
}

fn record_path(segs: &[String], env: &Env) -> String {
    json_path(
        if env.only_cloudtrail {
            RECORD_CLOUDTRAIL
        } else {
            RECORD
        },
        segs,
    )
}

/// A substring test on the record's text that any record whose path equals
/// (or contains) `v` passes, so that JSON is parsed only for records that
/// have the text: such a value appears verbatim unless the record escapes
/// it, so values with characters JSON may escape are not tested, nor values
/// of only number characters (a number's text may be written otherwise),
/// and a record with a `\u` escape always passes.
fn text_prefilter(v: &str, env: &Env) -> Option<String> {
    let plain = v.len() >= 3
        && v.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\' | b'/'))
        && v.bytes().any(|b| !b"0123456789.eE+-".contains(&b));
    // A text record's fields are JSON Mamori wrote: those records are always parsed.
    let text_record = if env.only_cloudtrail {
        ""
    } else {
        "\"fields\" IS NOT NULL OR "
    };
    plain.then(|| {
        format!(
            "({text_record}contains(\"raw\", {}) OR contains(\"raw\", '\\u'))",
            quote(v)
        )
    })
}

/// A path into JSON text.
fn json_path(json: &str, segs: &[String]) -> String {
    let mut args = vec![json.to_owned()];
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
        Ty::Str | Ty::Time | Ty::Json => format!("({} IS NOT NULL)", e.text),
    }
}

/// As a number: strings that do not read as numbers are null.
pub(crate) fn numeric(e: &Sql) -> String {
    match e.ty {
        Ty::Num => e.text.clone(),
        Ty::Bool => format!("CAST({} AS BIGINT)", e.text),
        Ty::Time => format!("(CAST({} AS BIGINT) / 1000)", e.text),
        Ty::Str => format!("try_cast({} AS DOUBLE)", e.text),
        Ty::Json => "CAST(NULL AS DOUBLE)".to_owned(),
    }
}

fn is_number(s: &str) -> bool {
    s.trim().parse::<f64>().is_ok()
}

pub(crate) fn binary(l: Sql, op: BinOp, r: Sql) -> Sql {
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
    if l.ty == Ty::Json || r.ty == Ty::Json {
        return Sql::new("FALSE".into(), Ty::Bool);
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

#[cfg(test)]
mod tests {
    use crate::compile::{compile, CompileOptions};

    fn sql(q: &str) -> String {
        let q = crate::parse(q).expect("parse");
        compile(&q, &CompileOptions::default())
            .expect("compile")
            .sql
    }

    /// Over CloudTrail alone, an event id is looked up in the uid column and
    /// the record is not read; a content hash (a record without eventID) and
    /// a query over every source still test the record's eventID.
    #[test]
    fn event_ids_read_the_uid_column_where_it_is_exact() {
        let ct = "SOURCE logGroups(namePrefix: ['cloudtrail']) | filter eventID = 'e-1' | stats count(*)";
        let s = sql(ct);
        assert!(s.contains("\"uid\" = 'e-1'") && !s.contains("raw"), "{s}");
        for q in [
            "SOURCE logGroups(namePrefix: ['cloudtrail']) | filter eventID = 'h:0a1b' | stats count(*)",
            "filter eventID = 'e-1' | stats count(*)",
        ] {
            let s = sql(q);
            assert!(s.contains("'eventID')"), "{q}: {s}");
        }
    }
}

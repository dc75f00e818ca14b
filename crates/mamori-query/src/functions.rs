//! Logs Insights functions (§5 of the spec) as SQL, and the few that
//! DataFusion lacks (IP address tests) as user-defined functions.

use crate::ast::{Expr, TimeUnit};
use crate::expr::{boolean, compile_expr, numeric, Env, Sql, Ty};
use crate::QueryError;

fn arity(name: &str, args: &[Expr], min: usize, max: usize) -> Result<(), QueryError> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(QueryError::invalid(format!(
            "{name}() takes {want} argument(s), not {}",
            args.len()
        )));
    }
    Ok(())
}

fn text(s: &Sql) -> String {
    if s.ty == Ty::Json {
        // Maps and lists are null to string functions.
        return "CAST(NULL AS VARCHAR)".into();
    }
    format!("CAST({} AS VARCHAR)", s.text)
}

/// `bin(5m)`, `datefloor(t, 1h)`: the period as an interval, capped per
/// unit as Insights does (`bin(300s)` is `bin(60s)`).
fn interval(e: &Expr) -> Result<(String, Option<&'static str>), QueryError> {
    let Expr::Period(n, unit) = e else {
        return Err(QueryError::invalid(
            "expected a time period such as 5m, 1h or 1d",
        ));
    };
    let (cap, name) = match unit {
        TimeUnit::Millisecond => (1000, "milliseconds"),
        TimeUnit::Second => (60, "seconds"),
        TimeUnit::Minute => (60, "minutes"),
        TimeUnit::Hour => (24, "hours"),
        TimeUnit::Day => (i64::MAX, "days"),
        TimeUnit::Week => (i64::MAX, "weeks"),
        TimeUnit::Month => return Ok((String::new(), Some("month"))),
        TimeUnit::Quarter => return Ok((String::new(), Some("quarter"))),
        TimeUnit::Year => return Ok((String::new(), Some("year"))),
    };
    let (n, name) = match (unit, (*n).min(cap)) {
        (TimeUnit::Week, w) => (w * 7, "days"),
        (_, v) => (v, name),
    };
    Ok((format!("INTERVAL '{n} {name}'"), None))
}

fn floor_time(ts: &str, period: &Expr) -> Result<String, QueryError> {
    Ok(match interval(period)? {
        (_, Some(trunc)) => format!("date_trunc('{trunc}', {ts})"),
        (iv, None) => format!("date_bin({iv}, {ts}, TIMESTAMP '1970-01-01T00:00:00Z')"),
    })
}

/// A scalar function call.
pub(crate) fn scalar(name: &str, args: &[Expr], env: &Env) -> Result<Sql, QueryError> {
    if matches!(name, "bin" | "datefloor" | "dateceil") {
        return time_fn(name, args, env);
    }
    if is_aggregate(name) {
        return Err(QueryError::invalid(format!(
            "{name}() is an aggregate: it goes in stats, as in `stats {name}(…) by …`"
        )));
    }
    let a: Vec<Sql> = args
        .iter()
        .map(|x| compile_expr(x, env))
        .collect::<Result<_, _>>()?;
    let num = |t: String| Ok(Sql::new(t, Ty::Num));
    let st = |t: String| Ok(Sql::new(t, Ty::Str));
    let bo = |t: String| Ok(Sql::new(t, Ty::Bool));
    match name {
        "abs" | "ceil" | "floor" | "sqrt" | "log" => {
            arity(name, args, 1, 1)?;
            let f = if name == "log" { "ln" } else { name };
            num(format!("{f}({})", numeric(&a[0])))
        }
        "greatest" | "least" => {
            arity(name, args, 1, 100)?;
            let xs: Vec<String> = a.iter().map(numeric).collect();
            num(format!("{name}({})", xs.join(", ")))
        }
        "round" => {
            arity(name, args, 1, 2)?;
            match a.get(1) {
                Some(d) => num(format!(
                    "round(CAST({} AS DOUBLE), {})",
                    numeric(&a[0]),
                    numeric(d)
                )),
                None => num(format!("round(CAST({} AS DOUBLE))", numeric(&a[0]))),
            }
        }
        "tonumber" | "todouble" => {
            arity(name, args, 1, 1)?;
            num(format!("try_cast({} AS DOUBLE)", text(&a[0])))
        }
        "toint" | "tolong" => {
            arity(name, args, 1, 1)?;
            num(format!(
                "CAST(try_cast({} AS DOUBLE) AS BIGINT)",
                text(&a[0])
            ))
        }
        "ispresent" => {
            arity(name, args, 1, 1)?;
            bo(format!("({} IS NOT NULL)", a[0].text))
        }
        "isnumeric" => {
            arity(name, args, 1, 1)?;
            bo(format!("(try_cast({} AS DOUBLE) IS NOT NULL)", text(&a[0])))
        }
        "isempty" => {
            arity(name, args, 1, 1)?;
            bo(format!("({} IS NULL OR {} = '')", a[0].text, text(&a[0])))
        }
        "isblank" => {
            arity(name, args, 1, 1)?;
            bo(format!(
                "({} IS NULL OR trim({}) = '')",
                a[0].text,
                text(&a[0])
            ))
        }
        "coalesce" => {
            arity(name, args, 1, 100)?;
            let same = a.iter().all(|x| x.ty == a[0].ty);
            let xs: Vec<String> = a
                .iter()
                .map(|x| if same { x.text.clone() } else { text(x) })
                .collect();
            Ok(Sql::new(
                format!("coalesce({})", xs.join(", ")),
                if same { a[0].ty } else { Ty::Str },
            ))
        }
        "if" => {
            arity(name, args, 3, 3)?;
            let (x, y) = unify(&a[1], &a[2]);
            Ok(Sql::new(
                format!("CASE WHEN {} THEN {x} ELSE {y} END", boolean(a[0].clone())),
                if a[1].ty == a[2].ty { a[1].ty } else { Ty::Str },
            ))
        }
        "case" => {
            arity(name, args, 2, 21)?;
            let mut t = String::from("CASE");
            for pair in a.chunks(2) {
                match pair {
                    [c, v] => t.push_str(&format!(" WHEN {} THEN {}", boolean(c.clone()), text(v))),
                    [d] => t.push_str(&format!(" ELSE {}", text(d))),
                    _ => {}
                }
            }
            st(format!("{t} END"))
        }
        "concat" => {
            let xs: Vec<String> = a.iter().map(text).collect();
            st(format!("concat({})", xs.join(", ")))
        }
        "ltrim" | "rtrim" | "trim" => {
            arity(name, args, 1, 2)?;
            let f = if name == "trim" { "btrim" } else { name };
            match a.get(1) {
                Some(chars) => st(format!("{f}({}, {})", text(&a[0]), text(chars))),
                None => st(format!("{f}({})", text(&a[0]))),
            }
        }
        "strlen" => {
            arity(name, args, 1, 1)?;
            num(format!("character_length({})", text(&a[0])))
        }
        "toupper" | "tolower" => {
            arity(name, args, 1, 1)?;
            let f = if name == "toupper" { "upper" } else { "lower" };
            st(format!("{f}({})", text(&a[0])))
        }
        "substr" => {
            arity(name, args, 2, 3)?;
            let start = format!("CAST({} AS BIGINT) + 1", numeric(&a[1]));
            match a.get(2) {
                Some(n) => st(format!(
                    "substr({}, {start}, CAST({} AS BIGINT))",
                    text(&a[0]),
                    numeric(n)
                )),
                None => st(format!("substr({}, {start})", text(&a[0]))),
            }
        }
        "replace" => {
            arity(name, args, 3, 3)?;
            st(format!(
                "replace({}, {}, {})",
                text(&a[0]),
                text(&a[1]),
                text(&a[2])
            ))
        }
        "strcontains" => {
            arity(name, args, 2, 3)?;
            let ci = a.get(2).is_some_and(|x| {
                x.literal
                    .as_deref()
                    .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
            });
            if ci {
                bo(format!(
                    "(strpos(lower({}), lower({})) > 0)",
                    text(&a[0]),
                    text(&a[1])
                ))
            } else {
                bo(format!("(strpos({}, {}) > 0)", text(&a[0]), text(&a[1])))
            }
        }
        "startswith" | "endswith" => {
            arity(name, args, 2, 2)?;
            let f = if name == "startswith" {
                "starts_with"
            } else {
                "ends_with"
            };
            bo(format!("{f}({}, {})", text(&a[0]), text(&a[1])))
        }
        "regexreplace" => {
            arity(name, args, 3, 3)?;
            if let Some(p) = &a[1].literal {
                regex::Regex::new(p)
                    .map_err(|e| QueryError::invalid(format!("regexReplace pattern {p:?}: {e}")))?;
            }
            st(format!(
                "regexp_replace({}, {}, {}, 'g')",
                text(&a[0]),
                text(&a[1]),
                text(&a[2])
            ))
        }
        "frommillis" => {
            arity(name, args, 1, 1)?;
            Ok(Sql::new(
                format!("to_timestamp_millis(CAST({} AS BIGINT))", numeric(&a[0])),
                Ty::Time,
            ))
        }
        "tomillis" => {
            arity(name, args, 1, 1)?;
            if a[0].ty != Ty::Time {
                return Err(QueryError::invalid(
                    "toMillis() takes a timestamp, such as @timestamp",
                ));
            }
            num(format!("(CAST({} AS BIGINT) / 1000)", a[0].text))
        }
        "now" => {
            arity(name, args, 0, 0)?;
            num("(CAST(now() AS BIGINT) / 1000000000)".into())
        }
        "messagesize" => {
            arity(name, args, 1, 1)?;
            num(format!("octet_length({})", text(&a[0])))
        }
        "split" => {
            arity(name, args, 2, 2)?;
            st(format!(
                "CAST(string_to_array({}, {}) AS VARCHAR)",
                text(&a[0]),
                text(&a[1])
            ))
        }
        "dectohex" => {
            arity(name, args, 1, 1)?;
            st(format!("to_hex(CAST({} AS BIGINT))", numeric(&a[0])))
        }
        "hextodec" => {
            arity(name, args, 1, 1)?;
            num(format!("mamori_hextodec({})", text(&a[0])))
        }
        "formatdate" | "strftime" => {
            arity(name, args, 2, 2)?;
            if a[0].ty != Ty::Time {
                return Err(QueryError::invalid(format!(
                    "{name}() takes a timestamp first, such as @timestamp"
                )));
            }
            st(format!("to_char({}, {})", a[0].text, text(&a[1])))
        }
        "haversine" => {
            arity(name, args, 4, 4)?;
            let r = |i: usize| format!("radians(CAST({} AS DOUBLE))", numeric(&a[i]));
            num(format!(
                "(2 * 6371 * asin(sqrt(power(sin(({lat2} - {lat1}) / 2), 2) + cos({lat1}) * cos({lat2}) * power(sin(({lon2} - {lon1}) / 2), 2))))",
                lat1 = r(0),
                lon1 = r(1),
                lat2 = r(2),
                lon2 = r(3)
            ))
        }
        "querystarttime" | "queryendtime" | "querytimerange" => {
            arity(name, args, 0, 0)?;
            let ms = |v: Option<i64>| v.map(|us| (us / 1000).to_string());
            let (start, end) = (ms(env.range.0), ms(env.range.1));
            let v = match name {
                "querystarttime" => start,
                "queryendtime" => end,
                _ => env
                    .range
                    .0
                    .zip(env.range.1)
                    .map(|(s, e)| ((e - s) / 1000).to_string()),
            };
            match v {
                Some(v) => num(v),
                None => Err(QueryError::invalid(format!(
                    "{name}() needs the query's time range: give --since, or --start and --end"
                ))),
            }
        }
        "jsonarraysize" => {
            arity(name, args, 1, 1)?;
            num(format!("json_length({})", text(&a[0])))
        }
        "isprivateip" | "ispublicip" | "isreservedip" => {
            arity(name, args, 1, 1)?;
            bo(format!("mamori_{name}({})", text(&a[0])))
        }
        "ipv4tonumber" => {
            arity(name, args, 1, 1)?;
            num(format!("mamori_ipv4tonumber({})", text(&a[0])))
        }
        "isvalidip" | "isvalidipv4" | "isvalidipv6" => {
            arity(name, args, 1, 1)?;
            bo(format!("mamori_{name}({})", text(&a[0])))
        }
        "isipinsubnet" | "isipv4insubnet" | "isipv6insubnet" => {
            arity(name, args, 2, 2)?;
            bo(format!("mamori_{name}({}, {})", text(&a[0]), text(&a[1])))
        }
        "base64encode" | "base64decode" | "urlencode" | "urldecode" | "hextoascii" => {
            arity(name, args, 1, 1)?;
            st(format!("mamori_{name}({})", text(&a[0])))
        }
        "parsedate" => {
            arity(name, args, 2, 2)?;
            let Some(pattern) = &a[1].literal else {
                return Err(QueryError::invalid(
                    "parseDate(s, pattern) takes the pattern as a string",
                ));
            };
            let fmt = java_to_strftime(pattern)?;
            num(format!(
                "mamori_parsedate({}, {})",
                text(&a[0]),
                crate::expr::quote(&fmt)
            ))
        }
        "jsonarraycontains" => {
            arity(name, args, 2, 2)?;
            bo(format!(
                "mamori_jsonarraycontains({}, {})",
                text(&a[0]),
                text(&a[1])
            ))
        }
        "jsonparse" => {
            arity(name, args, 1, 1)?;
            Ok(Sql::new(
                format!("mamori_jsonparse({})", text(&a[0])),
                Ty::Json,
            ))
        }
        "jsonstringify" => {
            arity(name, args, 1, 1)?;
            st(if a[0].ty == Ty::Json {
                a[0].text.clone()
            } else {
                "CAST(NULL AS VARCHAR)".into()
            })
        }
        _ => Err(QueryError::invalid(format!(
            "unknown function {name}(); see docs/query.md for the functions Mamori runs"
        ))),
    }
}

/// A Java `DateTimeFormatter` pattern (what Insights' parseDate takes) as a
/// strftime one, for the letters logs use.
fn java_to_strftime(p: &str) -> Result<String, QueryError> {
    let mut out = String::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .map(|n| i + 1 + n);
            let end = end.ok_or_else(|| {
                QueryError::invalid(format!("parseDate pattern {p:?}: quote not closed"))
            })?;
            chars[i + 1..end]
                .iter()
                .for_each(|&x| push_literal(&mut out, x));
            i = end + 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let spec = match (c, run) {
            ('y', 2) => "%y",
            ('y', _) | ('u', _) => "%Y",
            ('M', 1) | ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('a', _) => "%p",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', n) if n <= 3 => "%3f",
            ('S', n) if n <= 6 => "%6f",
            ('S', _) => "%9f",
            ('E', n) if n <= 3 => "%a",
            ('E', _) => "%A",
            ('X', _) | ('x', _) => "%:z",
            ('Z', _) => "%z",
            (c, _) if c.is_ascii_alphabetic() => {
                return Err(QueryError::invalid(format!(
                    "parseDate pattern {p:?}: the letter {c:?} is not supported"
                )))
            }
            _ => {
                for _ in 0..run {
                    push_literal(&mut out, c);
                }
                i += run;
                continue;
            }
        };
        out.push_str(spec);
        i += run;
    }
    Ok(out)
}

/// A character that stands for itself in a strftime pattern (`%` is written `%%`).
fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push('%');
    }
    out.push(c);
}

fn unify(a: &Sql, b: &Sql) -> (String, String) {
    if a.ty == b.ty {
        (a.text.clone(), b.text.clone())
    } else {
        (text(a), text(b))
    }
}

fn time_fn(name: &str, args: &[Expr], env: &Env) -> Result<Sql, QueryError> {
    match name {
        "bin" => {
            arity(name, args, 1, 1)?;
            Ok(Sql::new(floor_time("\"time\"", &args[0])?, Ty::Time))
        }
        _ => {
            arity(name, args, 2, 2)?;
            let ts = compile_expr(&args[0], env)?;
            if ts.ty != Ty::Time {
                return Err(QueryError::invalid(format!(
                    "{name}() takes a timestamp first, such as @timestamp"
                )));
            }
            let floor = floor_time(&ts.text, &args[1])?;
            if name == "datefloor" {
                return Ok(Sql::new(floor, Ty::Time));
            }
            let step = match interval(&args[1])? {
                (_, Some(unit)) => format!("INTERVAL '1 {unit}'"),
                (iv, None) => iv,
            };
            Ok(Sql::new(
                format!(
                    "CASE WHEN {floor} = {t} THEN {t} ELSE {floor} + {step} END",
                    t = ts.text
                ),
                Ty::Time,
            ))
        }
    }
}

fn is_aggregate(name: &str) -> bool {
    matches!(
        name,
        "count"
            | "count_distinct"
            | "sum"
            | "avg"
            | "stddev"
            | "min"
            | "max"
            | "pct"
            | "earliest"
            | "latest"
            | "sortsfirst"
            | "sortslast"
    )
}

/// A `stats` item: an aggregate, or arithmetic over aggregates, numbers and
/// the names of earlier items of the same `stats`
/// (`sum(bytes)/1024/1024 as mb`, `max(x) - min(x) as spread, spread * 2 as twice`).
pub(crate) fn stats_item(
    e: &Expr,
    env: &Env,
    earlier: &std::collections::HashMap<String, Sql>,
) -> Result<Sql, QueryError> {
    match e {
        Expr::Call(..) => aggregate(e, env),
        Expr::Num(_) => compile_expr(e, env),
        Expr::Neg(inner) => Ok(Sql::new(
            format!("(- {})", numeric(&stats_item(inner, env, earlier)?)),
            Ty::Num,
        )),
        Expr::Binary(l, op, r) => Ok(crate::expr::binary(
            stats_item(l, env, earlier)?,
            *op,
            stats_item(r, env, earlier)?,
        )),
        Expr::Field(..) => {
            let name = e.field_name().unwrap_or_default();
            earlier.get(&name).cloned().ok_or_else(|| {
                QueryError::invalid(format!(
                    "{name} in stats: only aggregates, numbers and names of earlier items of the same stats can be used"
                ))
            })
        }
        _ => Err(QueryError::invalid(
            "stats takes aggregate functions such as count(*), sum(x), avg(x), or arithmetic over them",
        )),
    }
}

/// An aggregate function call in `stats`.
fn aggregate(e: &Expr, env: &Env) -> Result<Sql, QueryError> {
    let Expr::Call(name, args, _) = e else {
        return Err(QueryError::invalid(
            "stats takes aggregate functions such as count(*), sum(x), avg(x)",
        ));
    };
    if !is_aggregate(name) {
        return Err(QueryError::invalid(format!(
            "{name}() is not an aggregate; stats takes count, count_distinct, sum, avg, stddev, min, max, pct, earliest, latest, sortsFirst, sortsLast"
        )));
    }
    if name == "count" && (args.is_empty() || matches!(args.first(), Some(Expr::Star))) {
        arity(name, args, 0, 1)?;
        return Ok(Sql::new("count(*)".into(), Ty::Num));
    }
    let a: Vec<Sql> = args
        .iter()
        .map(|x| compile_expr(x, env))
        .collect::<Result<_, _>>()?;
    if a.iter().any(|x| x.ty == Ty::Json) {
        return Err(QueryError::invalid(format!(
            "{name}(): maps and lists (from jsonParse) are not allowed in stats; read a value with m.key"
        )));
    }
    let num = |t: String| Ok(Sql::new(t, Ty::Num));
    match name.as_str() {
        "count" => {
            arity(name, args, 1, 1)?;
            num(format!("count({})", a[0].text))
        }
        "count_distinct" => {
            arity(name, args, 1, 1)?;
            num(format!("count(DISTINCT {})", a[0].text))
        }
        "sum" | "avg" | "stddev" => {
            arity(name, args, 1, 1)?;
            num(format!("{name}(CAST({} AS DOUBLE))", numeric(&a[0])))
        }
        "min" | "max" | "sortsfirst" | "sortslast" => {
            arity(name, args, 1, 1)?;
            let f = match name.as_str() {
                "sortsfirst" => "min",
                "sortslast" => "max",
                f => f,
            };
            Ok(Sql::new(format!("{f}({})", a[0].text), a[0].ty))
        }
        "pct" => {
            arity(name, args, 2, 2)?;
            let p = a[1]
                .literal
                .as_deref()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or_else(|| {
                    QueryError::invalid("pct(field, p) takes a percentile p from 0 to 100")
                })?;
            num(format!(
                "approx_percentile_cont(CAST({} AS DOUBLE), {})",
                numeric(&a[0]),
                p / 100.0
            ))
        }
        "earliest" | "latest" => {
            arity(name, args, 1, 1)?;
            let f = if name == "earliest" {
                "first_value"
            } else {
                "last_value"
            };
            Ok(Sql::new(
                format!("{f}({} ORDER BY \"time\" ASC)", a[0].text),
                a[0].ty,
            ))
        }
        _ => Err(QueryError::invalid(format!("unknown aggregate {name}()"))),
    }
}

#[cfg(test)]
mod tests {
    use super::java_to_strftime;

    #[test]
    fn java_patterns_become_strftime() {
        let f = |p: &str| java_to_strftime(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(f("yyyy-MM-dd'T'HH:mm:ss.SSSX"), "%Y-%m-%dT%H:%M:%S.%3f%:z");
        assert_eq!(f("dd/MMM/yyyy:HH:mm:ss Z"), "%d/%b/%Y:%H:%M:%S %z");
        assert_eq!(f("yyyy '100%' %"), "%Y 100%% %%");
        assert!(java_to_strftime("yyyy 'open").is_err());
        assert!(java_to_strftime("QQ").is_err());
    }
}

//! Newest-first search. A row-wise query read newest first with a limit —
//! `filter sourceIPAddress = '…' | limit 100`, Insights' default order —
//! needs only the newest rows that match, yet `ORDER BY time DESC LIMIT n`
//! sorts every match of the range and decompresses the original record of
//! each. When its filters need typed columns only, a first pass finds the
//! times of the newest n matches, reading no `raw` and skipping what cannot
//! make the limit; a second reads `raw` over those times only. Otherwise it
//! runs over the newest day, then the two days before it, then four, …, and
//! stops as soon as the limit is met. Windows are disjoint in time and the
//! order (time, then uid) is total, so the rows are exactly those of one run
//! over the whole range.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::ast::{BinOp, Command, Expr, Query};
use crate::compile::{compile, CompileOptions};
use crate::engine::QueryResult;
use crate::{Engine, QueryError};

const DAY_US: i64 = 86_400_000_000;

/// The row limit of `q` if it can run in windows: only row-wise commands
/// (filter, fields, display), sorted by nothing or by `@timestamp desc`
/// alone, with its one `limit` (if any) last, no field named `@timestamp`, and
/// not a lookup by event id (which the bloom filters answer in one pass).
pub fn windowed_limit(q: &Query, default_limit: u64) -> Option<u64> {
    let n = q.commands.len();
    let mut limit = default_limit;
    for (i, c) in q.commands.iter().enumerate() {
        match c {
            // One event per id: a lookup reads every window anyway, so one pass is cheaper.
            Command::Filter(e) if is_id_lookup(e) => return None,
            Command::Filter(_) | Command::Unmask => {}
            Command::Fields(items) | Command::Display(items) => {
                if items
                    .iter()
                    .any(|it| it.alias.as_deref() == Some("@timestamp"))
                {
                    return None;
                }
            }
            Command::Sort(keys) => {
                let by_time_desc = matches!(keys.as_slice(), [k] if k.desc
                    && matches!(&k.expr, Expr::Field(p, _) if p.len() == 1 && p[0] == "@timestamp"));
                if !by_time_desc {
                    return None;
                }
            }
            Command::Limit(k) if i + 1 == n => limit = *k,
            _ => return None,
        }
    }
    Some(limit)
}

/// `eventID = '…'`, alone or and-ed with other tests. (A field `uid` is a
/// path of the record, not the event uid: `docs/query.md`.)
fn is_id_lookup(e: &Expr) -> bool {
    let is_id = |e: &Expr| matches!(e, Expr::Field(p, _) if p.len() == 1 && p[0] == "eventID");
    match e {
        Expr::Binary(a, BinOp::And, b) => is_id_lookup(a) || is_id_lookup(b),
        Expr::Binary(a, BinOp::Eq, b) => {
            (is_id(a) && matches!(**b, Expr::Str(_))) || (is_id(b) && matches!(**a, Expr::Str(_)))
        }
        _ => false,
    }
}

/// Runs `q` over `[lo, hi)` (µs: the span of the files registered, within
/// the query's range) newest first, until `limit` rows are found: in two
/// passes, or in windows when its filters read `raw` (see the module).
pub fn run_newest_first(
    engine: &Engine,
    q: &Query,
    opts: &CompileOptions,
    (lo, hi): (i64, i64),
    limit: u64,
) -> Result<(Option<SchemaRef>, Vec<RecordBatch>), QueryError> {
    let found = windows(engine, q, opts, (lo, hi), limit);
    // The tables go back to every file of the query, whatever happened.
    engine.narrow(None, None)?;
    found
}

fn windows(
    engine: &Engine,
    q: &Query,
    opts: &CompileOptions,
    (lo, hi): (i64, i64),
    limit: u64,
) -> Result<(Option<SchemaRef>, Vec<RecordBatch>), QueryError> {
    let whole = CompileOptions {
        start: Some(lo),
        end: Some(hi),
        ..opts.clone()
    };
    let kept = compile(&unordered(q), &whole)?.rows;
    let times = format!(
        "SELECT count(*), CAST(min(\"time\") AS BIGINT), CAST(max(\"time\") AS BIGINT) \
         FROM (SELECT \"time\" FROM ({kept}) ORDER BY \"time\" DESC LIMIT {limit})"
    );
    if let Some(found) = engine.run_top_unless_scanning(&times, "raw")? {
        // Once it holds `limit` rows, the first pass skips files and row
        // groups older than the last; a rare value's bloom filters rule out
        // most of the others.
        let mut out = (None, Vec::new());
        if let Some((first, last)) = newest_times(&found) {
            let window = CompileOptions {
                start: Some(first),
                end: Some(last.saturating_add(1)),
                ..opts.clone()
            };
            engine.narrow(window.start, window.end)?;
            let r = engine.run_pass(&compile(q, &window)?.sql)?;
            out = (Some(r.schema), r.batches);
        }
        // The query's own limit (or the default) holds its rows to `limit`.
        return finish(engine, q, opts, out);
    }
    // The filters read `raw`: newest windows first, each read whole.
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut schema = None;
    let mut rows = 0u64;
    let (mut end, mut width) = (hi, DAY_US);
    while end > lo && rows < limit {
        let start = end.saturating_sub(width).max(lo);
        let window = CompileOptions {
            start: Some(start),
            end: Some(end),
            ..opts.clone()
        };
        end = start;
        width = width.saturating_mul(2);
        engine.narrow(window.start, window.end)?;
        let r = engine.run_pass(&compile(q, &window)?.sql)?;
        schema.get_or_insert(r.schema);
        for b in r.batches {
            let left = (limit - rows) as usize;
            if left == 0 {
                break;
            }
            let b = if b.num_rows() > left {
                b.slice(0, left)
            } else {
                b
            };
            rows += b.num_rows() as u64;
            batches.push(b);
        }
    }
    finish(engine, q, opts, (schema, batches))
}

/// The rows found, with the query's columns even when there were none.
fn finish(
    engine: &Engine,
    q: &Query,
    opts: &CompileOptions,
    (schema, batches): (Option<SchemaRef>, Vec<RecordBatch>),
) -> Result<(Option<SchemaRef>, Vec<RecordBatch>), QueryError> {
    let schema = match schema {
        Some(s) => s,
        None => engine.schema_of(&compile(q, opts)?.sql)?,
    };
    Ok((Some(schema), batches))
}

/// `q` without its sort and limit: the rows it keeps, in no order.
fn unordered(q: &Query) -> Query {
    Query {
        source: q.source.clone(),
        commands: q
            .commands
            .iter()
            .filter(|c| !matches!(c, Command::Sort(_) | Command::Limit(_)))
            .cloned()
            .collect(),
    }
}

/// First and last time (µs) of the rows a `times` query counted, or `None` when there are none.
fn newest_times(r: &QueryResult) -> Option<(i64, i64)> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    let b = r.batches.iter().find(|b| b.num_rows() == 1)?;
    let col = |i: usize| {
        b.column(i)
            .as_primitive_opt::<Int64Type>()
            .filter(|a| a.is_valid(0))
            .map(|a| a.value(0))
    };
    match (col(0), col(1), col(2)) {
        (Some(n), Some(first), Some(last)) if n > 0 => Some((first, last)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::windowed_limit;

    fn limit(q: &str) -> Option<u64> {
        windowed_limit(&crate::parse(q).ok()?, 10_000)
    }

    #[test]
    fn which_queries_run_in_windows() {
        assert_eq!(
            limit("filter sourceIPAddress = '1.2.3.4' | limit 100"),
            Some(100)
        );
        assert_eq!(limit("fields @timestamp, eventName"), Some(10_000));
        assert_eq!(limit("sort @timestamp desc | limit 5"), Some(5));
        assert_eq!(limit("sort @timestamp asc | limit 5"), None);
        assert_eq!(limit("stats count(*) by eventName"), None);
        // An event id matches one event: no window can end the search early.
        assert_eq!(limit("filter eventID = 'e-1' | limit 100"), None);
        assert_eq!(limit("filter 'e-1' = eventID and eventName = 'X'"), None);
        assert_eq!(limit("filter uid = 'e-1' | limit 5"), Some(5));
        assert_eq!(
            limit("filter eventID = 'e-1' or eventName = 'X'"),
            Some(10_000)
        );
    }
}

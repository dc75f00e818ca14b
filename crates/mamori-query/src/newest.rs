//! Newest-first search in widening time windows. A row-wise query read
//! newest first with a limit — `filter sourceIPAddress = '…' | limit 100`,
//! Insights' default order — needs only the newest rows that match, yet
//! `ORDER BY time DESC LIMIT n` over the whole range reads every file. Run
//! over the newest day, then the two days before it, then four, …, it stops
//! as soon as the limit is met. Windows are disjoint in time and the order
//! (time, then uid) is total, so the rows are exactly those of one run over
//! the whole range.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::ast::{BinOp, Command, Expr, Query};
use crate::compile::{compile, CompileOptions};
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
/// the query's range) newest window first, until `limit` rows are found.
///
/// Each window runs in two passes when the query's filters can be decided
/// without the original record: the first finds the times of the rows the
/// window contributes, reading only typed columns; the second reads `raw`
/// only over those times. A frequent value (`filter sourceIPAddress = …` on
/// an address of every 5,000th event) otherwise decompresses `raw` for
/// every match in the window, not for the hundred shown.
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
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut schema = None;
    let mut rows = 0u64;
    let (mut end, mut width) = (hi, DAY_US);
    let unordered = unordered(q);
    let mut two_pass: Option<bool> = None;
    while end > lo && rows < limit {
        let start = end.saturating_sub(width).max(lo);
        let left = limit - rows;
        let mut window = CompileOptions {
            start: Some(start),
            end: Some(end),
            ..opts.clone()
        };
        end = start;
        width = width.saturating_mul(2);
        engine.narrow(window.start, window.end)?;
        let kept = compile(&unordered, &window)?.rows;
        let times = format!(
            "SELECT count(*), CAST(min(\"time\") AS BIGINT), CAST(max(\"time\") AS BIGINT) \
             FROM (SELECT \"time\" FROM ({kept}) ORDER BY \"time\" DESC LIMIT {left})"
        );
        if *two_pass.get_or_insert(!engine.scans_column(&times, "raw")?) {
            match newest_times(engine, &times)? {
                None => continue,
                Some((first, last)) => {
                    window.start = Some(first);
                    window.end = Some(last.saturating_add(1));
                    engine.narrow(window.start, window.end)?;
                }
            }
        }
        let c = compile(q, &window)?;
        let r = engine.run(&c.sql)?;
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
    if schema.is_none() && hi > lo {
        // Every window was found empty in its first pass: the columns are still the query's.
        schema = Some(engine.schema_of(&compile(q, opts)?.sql)?);
    }
    Ok((schema, batches))
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

/// First and last time (µs) of the rows `times` counted, or `None` when there are none.
fn newest_times(engine: &Engine, times: &str) -> Result<Option<(i64, i64)>, QueryError> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    let r = engine.run(times)?;
    let Some(b) = r.batches.iter().find(|b| b.num_rows() == 1) else {
        return Ok(None);
    };
    let col = |i: usize| {
        b.column(i)
            .as_primitive_opt::<Int64Type>()
            .filter(|a| a.is_valid(0))
            .map(|a| a.value(0))
    };
    Ok(match (col(0), col(1), col(2)) {
        (Some(n), Some(first), Some(last)) if n > 0 => Some((first, last)),
        _ => None,
    })
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

//! Search (Logs Insights and SQL) and the timelines: an entity's, and a finding's.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use mamori_event::EntityKind;
use mamori_query::{CompileOptions, Engine, EngineOptions, QueryError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, caller, json_body, ApiError, ApiResult};
use crate::serve::audit;
use crate::serve::auth::Caller;
use crate::serve::pipeline::Shared;

/// Rows a query answers with at most.
const MAX_ROWS: usize = 10_000;
/// Memory one API query may use.
const QUERY_MEMORY: usize = 1 << 30;

#[derive(Deserialize, Default)]
pub struct QueryBody {
    /// A Logs Insights query.
    query: Option<String>,
    /// Or SQL.
    sql: Option<String>,
    /// A period back from now: 15m, 24h, 7d.
    since: Option<String>,
    /// Start (2026-11-01 or RFC 3339).
    start: Option<String>,
    /// End, exclusive.
    end: Option<String>,
    /// Rows at most (default 1000, at most 10,000).
    limit: Option<usize>,
}

fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Store(e) => ApiError::internal(e),
        other => ApiError::bad(other.to_string()),
    }
}

/// Rows as JSON objects, at most `limit`; whether more were cut.
/// Appends `b`'s rows to `out` as JSON objects; `Cancelled` once `limit` is passed.
fn push_rows(
    b: &mamori_query::output::RecordBatch,
    out: &mut Vec<Value>,
    limit: usize,
    truncated: &mut bool,
) -> Result<(), QueryError> {
    let mut buf = Vec::new();
    mamori_query::output::json_lines(b, &mut buf).map_err(|e| QueryError::Engine(e.to_string()))?;
    for line in buf.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        if out.len() >= limit {
            *truncated = true;
            return Err(QueryError::Cancelled);
        }
        out.push(serde_json::from_slice(line).map_err(|e| QueryError::Engine(e.to_string()))?);
    }
    Ok(())
}

fn rows(engine: &Engine, sql: &str, limit: usize) -> ApiResult<(Vec<String>, Vec<Value>, bool)> {
    let mut out = Vec::new();
    let mut truncated = false;
    let r = engine.stream(sql, |b| push_rows(b, &mut out, limit, &mut truncated));
    let columns = match r {
        Ok(schema) => schema.fields().iter().map(|f| f.name().clone()).collect(),
        Err(QueryError::Cancelled) if truncated => Vec::new(),
        Err(e) => return Err(query_error(e)),
    };
    with_columns(columns, out, truncated)
}

/// A row-wise query read newest first: newest windows first (see `mamori_query::newest`).
fn newest_rows(
    e: &Engine,
    parsed: &mamori_query::ast::Query,
    opts: &CompileOptions,
    span: (i64, i64),
    query_limit: u64,
    limit: usize,
) -> ApiResult<(Vec<String>, Vec<Value>, bool)> {
    // One row past the page tells whether there are more.
    let want = query_limit.min(limit as u64 + 1);
    let (schema, batches) =
        mamori_query::newest::run_newest_first(e, parsed, opts, span, want).map_err(query_error)?;
    let (mut out, mut truncated) = (Vec::new(), false);
    for b in &batches {
        match push_rows(b, &mut out, limit, &mut truncated) {
            Err(QueryError::Cancelled) => break,
            r => r.map_err(query_error)?,
        }
    }
    let columns = schema
        .map(|s| s.fields().iter().map(|f| f.name().clone()).collect())
        .unwrap_or_default();
    with_columns(columns, out, truncated)
}

fn with_columns(
    columns: Vec<String>,
    out: Vec<Value>,
    truncated: bool,
) -> ApiResult<(Vec<String>, Vec<Value>, bool)> {
    let columns = if columns.is_empty() {
        out.first()
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    } else {
        columns
    };
    Ok((columns, out, truncated))
}

/// The store, read-locked.
fn read_store(s: &Shared) -> ApiResult<std::sync::RwLockReadGuard<'_, mamori_store::Store>> {
    s.store
        .read()
        .map_err(|_| ApiError::internal("store lock poisoned"))
}

fn engine(s: &Shared, opts: &EngineOptions) -> ApiResult<Engine> {
    let store = read_store(s)?;
    Engine::open(&store, opts).map_err(query_error)
}

fn base_opts(start: Option<i64>, end: Option<i64>) -> EngineOptions {
    EngineOptions {
        memory_limit: QUERY_MEMORY,
        threads: 2,
        start,
        end,
        ..EngineOptions::default()
    }
}

/// Runs a Logs Insights or SQL query over the store.
pub async fn query(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    c: Option<Extension<Caller>>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = caller(c)?;
    let q: QueryBody = json_body(&body)?;
    let (start, end) =
        crate::query_cmd::time_range(q.since.as_deref(), q.start.as_deref(), q.end.as_deref())
            .map_err(|e| ApiError::bad(format!("{e:#}")))?;
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_ROWS);
    let text = match (&q.query, &q.sql) {
        (Some(t), None) | (None, Some(t)) if !t.trim().is_empty() => t.clone(),
        _ => {
            return Err(ApiError::bad(
                "give exactly one of query (Logs Insights) or sql",
            ))
        }
    };
    let is_sql = q.sql.is_some();
    let t0 = std::time::Instant::now();
    let result = blocking(move || {
        let r: ApiResult<(String, Vec<String>, Vec<Value>, bool)> = (|| {
            if is_sql {
                let e = engine(&s, &base_opts(start, end))?;
                let (columns, rows, truncated) = rows(&e, &text, limit)?;
                return Ok((text.clone(), columns, rows, truncated));
            }
            let parsed = mamori_query::parse(&text).map_err(|e| ApiError::bad(e.to_string()))?;
            let only_cloudtrail = {
                let store = read_store(&s)?;
                crate::query_cmd::only_cloudtrail(&store, start, end)
            };
            let opts = CompileOptions {
                start,
                end,
                only_cloudtrail,
                ..CompileOptions::default()
            };
            let compiled = mamori_query::compile(&parsed, &opts).map_err(query_error)?;
            let e = engine(
                &s,
                &EngineOptions {
                    sources: compiled.sources.clone(),
                    raw_as_view: parsed.rows_end_in_stats(),
                    ..base_opts(start, end)
                },
            )?;
            e.prepare(&compiled).map_err(query_error)?;
            if let Some(query_limit) =
                mamori_query::newest::windowed_limit(&parsed, opts.default_limit)
            {
                let span = {
                    let store = read_store(&s)?;
                    crate::query_cmd::span_of(&store, &compiled.sources, start, end)
                };
                if let Some(span) = span {
                    let (columns, rows, truncated) =
                        newest_rows(&e, &parsed, &opts, span, query_limit, limit)?;
                    return Ok((compiled.sql, columns, rows, truncated));
                }
            }
            let (columns, rows, truncated) = rows(&e, &compiled.sql, limit)?;
            Ok((compiled.sql, columns, rows, truncated))
        })();
        let outcome = match &r {
            Ok((_, _, rows, _)) => format!("{} rows", rows.len()),
            Err(e) => format!("error: {}", e.1),
        };
        audit::record(
            &s,
            Some(&c),
            &addr.ip().to_string(),
            "query.run",
            if is_sql { "sql" } else { "insights" },
            &outcome,
            json!({ "query": text, "start": start, "end": end }),
        );
        r
    })
    .await?;
    let (sql, columns, rows, truncated) = result;
    Ok(Json(json!({
        "columns": columns,
        "rows": rows,
        "truncated": truncated,
        "sql": sql,
        "elapsed_ms": t0.elapsed().as_millis() as u64,
    })))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

const TIMELINE_COLUMNS: &str =
    "time, CAST(source AS VARCHAR) AS source, coalesce(api_operation, event_code) AS operation, \
     actor_user_name, actor_user_uid, actor_credential_uid, src_ip, src_country, dst_ip, \
     CAST(status_code AS VARCHAR) AS status, status_detail, uid, raw";

fn entity_filter(values: &[String]) -> String {
    let list = values
        .iter()
        .map(|v| quote(v))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "(actor_user_name IN ({list}) OR actor_user_uid IN ({list}) OR actor_credential_uid IN ({list}) \
         OR src_ip IN ({list}) OR dst_ip IN ({list}))"
    )
}

fn range_sql(start: Option<i64>, end: Option<i64>) -> String {
    let mut w = Vec::new();
    if let Some(s) = start {
        w.push(format!("time >= to_timestamp_micros({s})"));
    }
    if let Some(e) = end {
        w.push(format!("time < to_timestamp_micros({e})"));
    }
    if w.is_empty() {
        "TRUE".into()
    } else {
        w.join(" AND ")
    }
}

/// Marks each row with the findings (of the newest 5,000) its event is part of.
fn mark_findings(s: &Shared, rows: &mut [Value]) -> ApiResult<()> {
    let uid_of = |r: &Value| r.get("uid").and_then(Value::as_str).map(str::to_owned);
    let uids: Vec<String> = rows.iter().filter_map(uid_of).collect();
    let by_uid = s.findings()?.findings_of_events(&uids)?;
    for r in rows.iter_mut() {
        let Some(fs) = uid_of(r).and_then(|u| by_uid.get(&u)) else {
            continue;
        };
        let marks: Vec<Value> = fs
            .iter()
            .map(|f| json!({ "id": f.id, "title": f.title, "severity": f.severity.as_str() }))
            .collect();
        if let Some(o) = r.as_object_mut() {
            o.insert("findings".into(), Value::Array(marks));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct TimelineParams {
    /// A user name, ARN, access key id or IP address.
    entity: String,
    since: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<usize>,
}

/// Everything one user, ARN, access key or address did, across all sources, with detections inline.
pub async fn timeline(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    c: Option<Extension<Caller>>,
    Query(p): Query<TimelineParams>,
) -> ApiResult<impl IntoResponse> {
    let c = caller(c)?;
    let entity = p.entity.trim().to_owned();
    if entity.is_empty() || entity.len() > 2048 {
        return Err(ApiError::bad(
            "entity: a user, ARN, access key id or IP address",
        ));
    }
    let (start, end) =
        crate::query_cmd::time_range(p.since.as_deref(), p.start.as_deref(), p.end.as_deref())
            .map_err(|e| ApiError::bad(format!("{e:#}")))?;
    let limit = p.limit.unwrap_or(2000).clamp(1, MAX_ROWS);
    blocking(move || {
        let e = engine(&s, &base_opts(start, end))?;
        let sql = format!(
            "SELECT {TIMELINE_COLUMNS} FROM events WHERE {} AND {} ORDER BY time LIMIT {}",
            entity_filter(std::slice::from_ref(&entity)),
            range_sql(start, end),
            limit + 1
        );
        let (columns, mut rows, _) = rows(&e, &sql, limit + 1)?;
        let truncated = rows.len() > limit;
        rows.truncate(limit);
        mark_findings(&s, &mut rows)?;
        audit::record(
            &s,
            Some(&c),
            &addr.ip().to_string(),
            "timeline.view",
            &entity,
            &format!("{} rows", rows.len()),
            json!({ "start": start, "end": end }),
        );
        Ok(Json(
            json!({ "entity": entity, "columns": columns, "rows": rows, "truncated": truncated }),
        ))
    })
    .await
}

/// A finding's events and, around them (an hour either side), what its entities did.
pub async fn finding_timeline(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    blocking(move || {
        let f = s.findings()?.get(&id)?;
        let hour = 3_600_000_000;
        let (start, end) = (f.first_seen.0 - hour, f.last_seen.0 + hour + 1);
        let values: Vec<String> = f
            .entities
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EntityKind::User | EntityKind::Ip | EntityKind::AccessKey
                )
            })
            .map(|e| e.value.clone())
            .take(20)
            .collect();
        let uids = f
            .event_uids
            .iter()
            .take(1000)
            .map(|u| quote(u))
            .collect::<Vec<_>>()
            .join(", ");
        let mut cond = Vec::new();
        if !uids.is_empty() {
            cond.push(format!("uid IN ({uids})"));
        }
        if !values.is_empty() {
            cond.push(entity_filter(&values));
        }
        if cond.is_empty() {
            return Ok(Json(json!({ "rows": [], "columns": [] })));
        }
        let e = engine(&s, &base_opts(Some(start), Some(end)))?;
        let sql = format!(
            "SELECT {TIMELINE_COLUMNS} FROM events WHERE ({}) AND {} ORDER BY time LIMIT 500",
            cond.join(" OR "),
            range_sql(Some(start), Some(end))
        );
        let (columns, mut rows, _) = rows(&e, &sql, 500)?;
        let mine: std::collections::HashSet<&str> =
            f.event_uids.iter().map(String::as_str).collect();
        for r in &mut rows {
            let inside = r
                .get("uid")
                .and_then(Value::as_str)
                .is_some_and(|u| mine.contains(u));
            if let Some(o) = r.as_object_mut() {
                o.insert("in_finding".into(), Value::Bool(inside));
            }
        }
        Ok(Json(json!({ "columns": columns, "rows": rows })))
    })
    .await
}

//! Health, metrics, ingest, rules, sources and tokens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use mamori_event::SourceKind;
use mamori_sigma::{Detector, LoadOptions, RuleSet};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, caller, json_body, ApiError, ApiResult};
use crate::serve::auth::{Caller, Role};
use crate::serve::pipeline::Shared;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when the pipeline takes arrivals and the findings database answers.
pub async fn readyz(State(s): State<Arc<Shared>>) -> ApiResult<impl IntoResponse> {
    let db = blocking(move || s.findings().map(|_| ()).map_err(ApiError::from)).await;
    match db {
        Ok(()) => Ok(Json(json!({ "status": "ready" }))),
        Err(e) => Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}", e.1),
        )),
    }
}

pub async fn health(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": s.started.elapsed().as_secs(),
    }))
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::serve::console::OPENAPI,
    )
}

pub async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

pub async fn me(c: Option<Extension<Caller>>) -> ApiResult<impl IntoResponse> {
    let c = caller(c)?;
    Ok(Json(json!({ "name": c.name, "role": c.role.as_str() })))
}

#[derive(Deserialize)]
pub struct IngestParams {
    /// Read every record as this source kind.
    source: Option<String>,
}

/// Spools the body durably, then answers: 202 with counts once it is safe.
pub async fn ingest(
    State(s): State<Arc<Shared>>,
    Query(p): Query<IngestParams>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let kind = match p.source.as_deref() {
        None | Some("") | Some("auto") => None,
        Some(k) => Some(SourceKind::from_name(k).ok_or_else(|| {
            ApiError::bad(format!(
                "source {k:?}: not a source kind ({})",
                SourceKind::ALL.map(SourceKind::as_str).join(", ")
            ))
        })?),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad(
            "empty body: send JSON, JSON lines, or a source's native file",
        ));
    }
    let (events, rejected, reasons) =
        blocking(move || s.accept(&body, kind, "http").map_err(ApiError::from)).await?;
    let out = json!({ "accepted": events, "rejected": rejected, "reasons": reasons });
    if events == 0 {
        // Kept in the dead letter all the same, as every rejected record is.
        return Ok((
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "no record could be read",
                "accepted": 0, "rejected": rejected, "reasons": reasons,
            })),
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(out)))
}

pub async fn rules(State(s): State<Arc<Shared>>) -> ApiResult<impl IntoResponse> {
    let board = s
        .rules
        .read()
        .map_err(|_| ApiError::internal("rules lock poisoned"))?;
    Ok(Json(
        json!({ "rules": board.rules, "failed": board.failed }),
    ))
}

#[derive(Deserialize)]
pub struct RuleTest {
    /// A Sigma rule (YAML).
    rule: String,
    /// Records to run it on (any source's native JSON).
    #[serde(default)]
    events: Vec<Value>,
}

/// Loads a rule and runs it over the records given: what it would find.
pub async fn rules_test(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    c: Option<Extension<Caller>>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = caller(c)?;
    let t: RuleTest = json_body(&body)?;
    blocking(move || {
        let set = RuleSet::load_texts(
            vec![(PathBuf::from("request.yml"), t.rule)],
            &LoadOptions::default(),
        );
        let problems: Vec<String> = set
            .report
            .errors
            .iter()
            .chain(&set.report.needs_values)
            .map(ToString::to_string)
            .collect();
        if !problems.is_empty() || set.rules.is_empty() && set.correlations.is_empty() {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                if problems.is_empty() {
                    "no rule in the text".into()
                } else {
                    problems.join("; ")
                },
            ));
        }
        let text: String = t.events.iter().map(|e| format!("{e}\n")).collect();
        let parsed = s.parse("request", text.as_bytes(), None, "test");
        let mut det = Detector::new(Arc::new(set), None);
        let mut found = Vec::new();
        let mut rejected = Vec::new();
        for r in &parsed.records {
            match r {
                mamori_store::ParsedRecord::Event(e) => det.process(e, &mut found),
                mamori_store::ParsedRecord::Reject(r) => {
                    rejected.push(format!("event {}: {}", r.line, r.reason))
                }
            }
        }
        det.flush(&mut found);
        crate::serve::audit::record(
            &s,
            Some(&c),
            &addr.ip().to_string(),
            "rules.test",
            "request.yml",
            "ok",
            json!({ "events": t.events.len(), "matches": found.len() }),
        );
        Ok(Json(json!({ "matches": found, "rejected": rejected })))
    })
    .await
}

/// Each source: stored events and bytes, time range, rate, last arrival, silence, retention.
pub async fn sources(State(s): State<Arc<Shared>>) -> ApiResult<impl IntoResponse> {
    blocking(move || {
        let (stats, total) = s.store.read().map_err(|_| ApiError::internal("store lock"))?.stats();
        let health = s.sources.lock().map_err(|_| ApiError::internal("sources lock"))?.snapshot();
        let mut names: Vec<String> = stats.keys().chain(health.keys()).cloned().collect();
        names.sort();
        names.dedup();
        let retention = |n: &str| s.config.retention.get(n).or_else(|| s.config.retention.get("default")).copied();
        let rows: Vec<Value> = names
            .iter()
            .map(|n| {
                let st = stats.get(n).cloned().unwrap_or_default();
                let h = health.get(n);
                json!({
                    "source": n,
                    "events": st.events,
                    "files": st.files,
                    "bytes": st.bytes,
                    "first_event": st.min_time.map(|t| t.to_string()),
                    "last_event": st.max_time.map(|t| t.to_string()),
                    "retention_days": retention(n),
                    "received_since_start": h.map_or(0, |h| h.events),
                    "last_arrival": h.and_then(|h| h.last_arrival_us).map(|t| mamori_event::Timestamp(t).to_string()),
                    "lag_seconds": h.and_then(|h| Some((h.last_arrival_us? - h.last_event_us?) as f64 / 1e6)),
                    "rate_per_minute": h.and_then(|h| h.usual_rate()),
                    "expected_interval_seconds": h.and_then(|h| h.expected_interval_us).map(|u| u / 1_000_000),
                    "silent": h.is_some_and(|h| h.silent),
                })
            })
            .collect();
        Ok(Json(json!({ "sources": rows, "total": { "events": total.events, "bytes": total.bytes, "files": total.files } })))
    })
    .await
}

pub async fn tokens(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let list: Vec<Value> = s
        .tokens
        .list()
        .into_iter()
        .map(|(name, role, created)| json!({ "name": name, "role": role.as_str(), "created": created }))
        .collect();
    Json(json!({ "tokens": list }))
}

#[derive(Deserialize)]
pub struct NewToken {
    name: String,
    role: Role,
}

pub async fn token_create(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    c: Option<Extension<Caller>>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = caller(c)?;
    let t: NewToken = json_body(&body)?;
    blocking(move || {
        let token = s
            .tokens
            .create(&t.name, t.role)
            .map_err(|e| ApiError(StatusCode::CONFLICT, format!("{e:#}")))?;
        crate::serve::audit::record(
            &s,
            Some(&c),
            &addr.ip().to_string(),
            "token.create",
            &t.name,
            "ok",
            json!({ "role": t.role.as_str() }),
        );
        Ok((
            StatusCode::CREATED,
            Json(json!({ "name": t.name, "role": t.role.as_str(), "token": token })),
        ))
    })
    .await
}

pub async fn token_revoke(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    c: Option<Extension<Caller>>,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let c = caller(c)?;
    blocking(move || {
        if !s.tokens.revoke(&name)? {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no token named {name:?}"),
            ));
        }
        crate::serve::audit::record(
            &s,
            Some(&c),
            &addr.ip().to_string(),
            "token.revoke",
            &name,
            "ok",
            json!({}),
        );
        Ok(Json(json!({ "revoked": name })))
    })
    .await
}

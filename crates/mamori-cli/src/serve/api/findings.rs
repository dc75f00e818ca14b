//! The findings queue and the workflow: list, get, status, assign, note, bulk.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use mamori_findings::{Filter, Severity, Status};
use serde::Deserialize;
use serde_json::json;

use super::{blocking, caller, json_body, ApiError, ApiResult};
use crate::inspect::now;
use crate::serve::audit;
use crate::serve::auth::Caller;
use crate::serve::pipeline::Shared;

#[derive(Deserialize)]
pub struct ListParams {
    /// Statuses, comma-separated.
    status: Option<String>,
    /// Severities, comma-separated.
    severity: Option<String>,
    /// Rule id or title.
    rule: Option<String>,
    /// An entity value.
    entity: Option<String>,
    /// At most (default 500).
    limit: Option<usize>,
}

fn parse_list<T>(v: Option<&str>, what: &str, f: impl Fn(&str) -> Option<T>) -> ApiResult<Vec<T>> {
    v.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| f(s).ok_or_else(|| ApiError::bad(format!("{what} {s:?} is not one"))))
        .collect()
}

pub async fn list(
    State(s): State<Arc<Shared>>,
    Query(p): Query<ListParams>,
) -> ApiResult<impl IntoResponse> {
    let filter = Filter {
        status: parse_list(p.status.as_deref(), "status", Status::parse)?,
        severity: parse_list(p.severity.as_deref(), "severity", Severity::parse)?,
        rule: p.rule.filter(|r| !r.is_empty()),
        entity: p.entity.filter(|r| !r.is_empty()),
        limit: Some(p.limit.unwrap_or(500).min(10_000)),
        ..Filter::default()
    };
    blocking(move || {
        let fs = s.findings()?.list(&filter)?;
        Ok(Json(json!({ "findings": fs })))
    })
    .await
}

pub async fn get_one(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    blocking(move || {
        let mut st = s.findings()?;
        let f = st.get(&id)?;
        let history = st.history(&id)?;
        let context = mamori_findings::context_lines(&f.enrichment);
        Ok(Json(
            json!({ "finding": f, "history": history, "context": context }),
        ))
    })
    .await
}

#[derive(Deserialize)]
pub struct StatusBody {
    status: String,
    #[serde(default)]
    note: Option<String>,
}

fn status_of(s: &str) -> ApiResult<Status> {
    Status::parse(s).ok_or_else(|| {
        ApiError::bad(format!(
            "status {s:?}: NEW, NOTIFIED, RESOLVED or SUPPRESSED"
        ))
    })
}

pub async fn status(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = caller(c)?;
    let b: StatusBody = json_body(&body)?;
    let to = status_of(&b.status)?;
    blocking(move || {
        let f = s
            .findings()?
            .set_status(&id, to, &c.name, b.note.as_deref(), now())?;
        audit::record(
            &s,
            Some(&c),
            &addr.ip().to_string(),
            "finding.status",
            &id,
            "ok",
            json!({ "status": to.as_str(), "note": b.note }),
        );
        Ok(Json(json!({ "finding": f })))
    })
    .await
}

#[derive(Deserialize)]
pub struct AssignBody {
    assignee: String,
    #[serde(default)]
    note: Option<String>,
}

pub async fn assign(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = caller(c)?;
    let b: AssignBody = json_body(&body)?;
    blocking(move || {
        let f = s
            .findings()?
            .assign(&id, &b.assignee, &c.name, b.note.as_deref(), now())?;
        audit::record(
            &s,
            Some(&c),
            &addr.ip().to_string(),
            "finding.assign",
            &id,
            "ok",
            json!({ "assignee": b.assignee }),
        );
        Ok(Json(json!({ "finding": f })))
    })
    .await
}

#[derive(Deserialize)]
pub struct NoteBody {
    text: String,
}

pub async fn note(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = caller(c)?;
    let b: NoteBody = json_body(&body)?;
    blocking(move || {
        s.findings()?.note(&id, &c.name, &b.text, now())?;
        audit::record(
            &s,
            Some(&c),
            &addr.ip().to_string(),
            "finding.note",
            &id,
            "ok",
            json!({ "text": b.text }),
        );
        Ok(Json(json!({ "noted": id })))
    })
    .await
}

#[derive(Deserialize)]
pub struct BulkBody {
    ids: Vec<String>,
    status: Option<String>,
    assignee: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// The same change on many findings; each one's outcome is reported.
pub async fn bulk(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    c: Option<Extension<Caller>>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = caller(c)?;
    let b: BulkBody = json_body(&body)?;
    if b.ids.is_empty() || b.ids.len() > 1000 {
        return Err(ApiError::bad("ids: 1 to 1000 finding ids"));
    }
    if b.status.is_none() && b.assignee.is_none() {
        return Err(ApiError::bad("give a status, an assignee, or both"));
    }
    let to = b.status.as_deref().map(status_of).transpose()?;
    blocking(move || {
        let mut st = s.findings()?;
        let mut results = Vec::new();
        for id in &b.ids {
            let r = (|| {
                if let Some(a) = &b.assignee {
                    st.assign(id, a, &c.name, b.note.as_deref(), now())?;
                }
                if let Some(to) = to {
                    st.set_status(id, to, &c.name, b.note.as_deref(), now())?;
                }
                Ok::<_, mamori_findings::FindingsError>(())
            })();
            results.push(match r {
                Ok(()) => json!({ "id": id, "ok": true }),
                Err(e) => json!({ "id": id, "ok": false, "error": e.to_string() }),
            });
        }
        audit::record(
            &s,
            Some(&c),
            &addr.ip().to_string(),
            "finding.bulk",
            &b.ids.join(","),
            "ok",
            json!({ "status": to.map(Status::as_str), "assignee": b.assignee }),
        );
        Ok(Json(json!({ "results": results })))
    })
    .await
}

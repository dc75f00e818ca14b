//! The HTTP API under `/api/`, `/metrics`, the health endpoints and the
//! console. Every route is in [`ROUTES`] with what it needs; one middleware
//! enforces it, and a route missing from the table is refused (fail closed).

mod findings;
mod query;
mod system;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;

use super::auth::{Caller, Need};
use super::pipeline::Shared;

/// Default largest request body.
const MAX_BODY: usize = 16 << 20;

/// What each route needs: `None` is public.
pub const ROUTES: &[(&str, &str, Option<Need>)] = &[
    ("GET", "/", None),
    ("GET", "/assets/{file}", None),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/api/health", None),
    ("GET", "/api/openapi.json", None),
    ("GET", "/metrics", Some(Need::Read)),
    ("GET", "/api/me", Some(Need::Any)),
    ("POST", "/api/ingest", Some(Need::Ingest)),
    ("POST", "/api/query", Some(Need::Read)),
    ("GET", "/api/timeline", Some(Need::Read)),
    ("GET", "/api/findings", Some(Need::Read)),
    ("POST", "/api/findings/bulk", Some(Need::Work)),
    ("GET", "/api/findings/{id}", Some(Need::Read)),
    ("GET", "/api/findings/{id}/timeline", Some(Need::Read)),
    ("POST", "/api/findings/{id}/status", Some(Need::Work)),
    ("POST", "/api/findings/{id}/assign", Some(Need::Work)),
    ("POST", "/api/findings/{id}/notes", Some(Need::Work)),
    ("GET", "/api/rules", Some(Need::Read)),
    ("POST", "/api/rules/test", Some(Need::Work)),
    ("GET", "/api/sources", Some(Need::Read)),
    ("GET", "/api/tokens", Some(Need::Admin)),
    ("POST", "/api/tokens", Some(Need::Admin)),
    ("DELETE", "/api/tokens/{name}", Some(Need::Admin)),
];

/// An error answer: a status and a message, as `{"error": …}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    /// 400.
    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
    /// 500, for what is not the caller's fault.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(format!("{e:#}"))
    }
}

impl From<mamori_findings::FindingsError> for ApiError {
    fn from(e: mamori_findings::FindingsError) -> Self {
        use mamori_findings::FindingsError as E;
        let status = match &e {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Invalid(_) => StatusCode::CONFLICT,
            E::Db { .. } => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

/// What a handler returns.
pub type ApiResult<T> = Result<T, ApiError>;

/// Parses a JSON body with a message that says what is wrong (axum's
/// extractor answers in plain text).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("request body: {e}")))
}

/// Runs blocking work (the store, the findings database) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker: {e}")))?
}

/// The caller's address, for the audit log.
pub fn remote(req_addr: Option<&ConnectInfo<SocketAddr>>) -> String {
    req_addr.map_or_else(|| "unknown".into(), |c| c.0.ip().to_string())
}

/// The service's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.config.serve.max_body_bytes.unwrap_or(MAX_BODY);
    Router::new()
        .route("/", get(super::console::index))
        .route("/assets/{file}", get(super::console::asset))
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/api/health", get(system::health))
        .route("/api/openapi.json", get(system::openapi))
        .route("/metrics", get(system::metrics))
        .route("/api/me", get(system::me))
        .route("/api/ingest", post(system::ingest))
        .route("/api/query", post(query::query))
        .route("/api/timeline", get(query::timeline))
        .route("/api/findings", get(findings::list))
        .route("/api/findings/bulk", post(findings::bulk))
        .route("/api/findings/{id}", get(findings::get_one))
        .route("/api/findings/{id}/timeline", get(query::finding_timeline))
        .route("/api/findings/{id}/status", post(findings::status))
        .route("/api/findings/{id}/assign", post(findings::assign))
        .route("/api/findings/{id}/notes", post(findings::note))
        .route("/api/rules", get(system::rules))
        .route("/api/rules/test", post(system::rules_test))
        .route("/api/sources", get(system::sources))
        .route(
            "/api/tokens",
            get(system::tokens).post(system::token_create),
        )
        .route("/api/tokens/{name}", delete(system::token_revoke))
        .fallback(not_found)
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            authorize,
        ))
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), count))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("no route {method} {}", uri.path()),
    )
}

async fn count(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let r = next.run(req).await;
    shared.metrics.http(r.status().as_u16());
    // axum answers an oversized body in plain text: say it in JSON like every other error.
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE
        && r.headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|v| v != "application/json")
    {
        let limit = shared.config.serve.max_body_bytes.unwrap_or(MAX_BODY);
        return ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {limit} bytes ([serve] max_body_bytes)"),
        )
        .into_response();
    }
    r
}

/// Checks the bearer token against what the route needs, and records refusals in the audit log.
async fn authorize(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = req.method().as_str().to_owned();
    let need = ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, n)| *n);
    let need = match need {
        Some(None) => return next.run(req).await,
        Some(Some(n)) => n,
        None => {
            return ApiError(
                StatusCode::FORBIDDEN,
                format!("{method} {path}: no access rule"),
            )
            .into_response()
        }
    };
    let addr = remote(req.extensions().get::<ConnectInfo<SocketAddr>>());
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let caller = token.and_then(|t| shared.tokens.check(t));
    let Some(caller) = caller else {
        let why = if token.is_some() {
            "unknown token"
        } else {
            "no token"
        };
        let s = Arc::clone(&shared);
        let target = format!("{method} {path}");
        tokio::task::spawn_blocking(move || {
            super::audit::record(&s, None, &addr, "auth.refused", &target, why, json!({}))
        });
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": format!("{why}: send Authorization: Bearer <token>") })),
        )
            .into_response();
    };
    if !caller.role.allows(need) {
        let s = Arc::clone(&shared);
        let (c, target) = (caller.clone(), format!("{method} {path}"));
        tokio::task::spawn_blocking(move || {
            super::audit::record(
                &s,
                Some(&c),
                &addr,
                "auth.denied",
                &target,
                "denied",
                json!({}),
            )
        });
        return ApiError(
            StatusCode::FORBIDDEN,
            format!("role {} may not {method} {path}", caller.role.as_str()),
        )
        .into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The caller the middleware found (routes that need a role only).
pub fn caller(req_caller: Option<axum::Extension<Caller>>) -> ApiResult<Caller> {
    req_caller
        .map(|c| c.0)
        .ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "no caller".into()))
}

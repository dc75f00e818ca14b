//! The web console: one page, its script and style, built into the binary
//! (no CDN, no build step), and the OpenAPI description of the API.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The OpenAPI 3 description of `/api/`.
pub const OPENAPI: &str = include_str!("../../console/openapi.json");

const INDEX: &str = include_str!("../../console/index.html");
const APP_JS: &str = include_str!("../../console/app.js");
const STYLE: &str = include_str!("../../console/style.css");

/// `/`.
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// `/assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (ty, body) = match file.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "style.css" => ("text/css; charset=utf-8", STYLE),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

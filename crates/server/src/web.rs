//! The browser client, embedded into the binary at build time from `web/static/` and served
//! at `/`. Paths that name a file serve it; other paths outside `/api` serve `index.html`, so
//! the client's own routes (`/game/<id>`, shared as links) load the app. In debug builds the
//! files are read from disk, so editing the client needs no rebuild.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use versus_protocol::ErrorCode;

use crate::error::problem_response;

#[derive(RustEmbed)]
#[folder = "../../web/static/"]
struct Assets;

/// Serves an embedded file, the app shell for client routes, or a 404 problem.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return problem_response(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            Some("no such route".into()),
            Vec::new(),
        );
    }
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let file = |path: &str| file(path, if_none_match.as_deref());
    let path = uri.path().trim_start_matches('/');
    let api = path.starts_with("api/") || path == "api";
    if !api && let Some(response) = file(if path.is_empty() { "index.html" } else { path }) {
        return response;
    }
    // A client route (no dot in the last segment, not an API path): the app shell.
    let last = path.rsplit('/').next().unwrap_or("");
    if !api
        && !last.contains('.')
        && let Some(response) = file("index.html")
    {
        return response;
    }
    problem_response(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        Some("no such route".into()),
        Vec::new(),
    )
}

fn file(path: &str, if_none_match: Option<&str>) -> Option<Response> {
    let asset = Assets::get(path)?;
    let mime = asset.metadata.mimetype().to_owned();
    // Every file is revalidated (ES modules import each other by fixed paths, so a cached old
    // module must never mix with a new one); the ETag makes revalidation a 304.
    let etag = format!("\"{}\"", hex::encode(&asset.metadata.sha256_hash()[..16]));
    let fresh = if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, asset.data.into_owned()).into_response()
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Some(response)
}

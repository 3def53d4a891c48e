//! Logs, request ids and metrics.
//!
//! Logging follows one rule: an event is logged once, at the boundary that handles it (the
//! access log line per request here; internal errors in `error.rs`). Field names carry units
//! (`duration_ms`). Tokens, passwords, emails and the database URL are never logged.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use versus_protocol::ErrorCode;

use crate::config::{Config, LogFormat};
use crate::error::{REQUEST_ID, problem_response};

/// Installs the global `tracing` subscriber (the binary calls this once; tests do not, unless
/// `TEST_LOG` is set).
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal (and never with NO_COLOR): log files stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match config.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The process-wide Prometheus recorder (installed once; every server in the process shares it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Renders `/metrics`, refreshing the process gauges first.
pub fn render_metrics(handle: &PrometheusHandle) -> String {
    if let Some(rss) = resident_memory_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(rss as f64);
    }
    handle.render()
}

/// Resident set size from `/proc/self/statm` (Linux); `None` elsewhere.
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Gives every request an id (the client's `x-request-id` if it sent a sane one), scopes it
/// for error bodies, records metrics and writes one access-log line.
pub async fn observe(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert("x-request-id", v);
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    let status = response.status();
    // Bare framework responses (unknown route, wrong method, body limit, timeout) become
    // problem documents too, so every error a client sees has the same shape.
    if status.is_client_error() || status.is_server_error() {
        let has_body_type = response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE);
        if !has_body_type
            || response.headers()[axum::http::header::CONTENT_TYPE] == "text/plain; charset=utf-8"
        {
            let code = match status {
                StatusCode::NOT_FOUND => Some(ErrorCode::NotFound),
                StatusCode::METHOD_NOT_ALLOWED => Some(ErrorCode::MethodNotAllowed),
                StatusCode::PAYLOAD_TOO_LARGE => Some(ErrorCode::PayloadTooLarge),
                StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => {
                    Some(ErrorCode::Unavailable)
                }
                StatusCode::INTERNAL_SERVER_ERROR => Some(ErrorCode::Internal),
                _ => None,
            };
            if let Some(code) = code {
                let headers = std::mem::take(response.headers_mut());
                response = REQUEST_ID.sync_scope(id.clone(), || {
                    problem_response(status, code, None, Vec::new())
                });
                for (name, value) in headers.iter() {
                    if name != axum::http::header::CONTENT_TYPE
                        && name != axum::http::header::CONTENT_LENGTH
                    {
                        response.headers_mut().insert(name.clone(), value.clone());
                    }
                }
            }
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let elapsed = started.elapsed();
    let labels = [
        ("method", method.to_string()),
        ("route", route.clone()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status = status.as_u16(),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

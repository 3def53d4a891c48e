//! Browser-facing protections: security headers on every response (a strict Content
//! Security Policy on the client's pages), the WebSocket `Origin` check, and CORS (off
//! unless `cors_allowed_origins` names origins).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// The policy of the browser client's pages: its own scripts only (ES modules, no inline
/// script), styles from itself (inline `style` attributes allowed: the boards size pieces
/// with them), no plugins, no framing, API and WebSocket calls to the same origin only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Middleware: security headers on every response.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let docs = req.uri().path().starts_with("/api/docs");
    let mut response = next.run(req).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if html && !docs {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    } else if html {
        // The API documentation page (Swagger UI) runs its own scripts; it still may not
        // be framed.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
    }
    if state.config.tls.is_some() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Whether a WebSocket upgrade's `Origin` is allowed: no `Origin` (not a browser: bots,
/// the load generator), an origin on `ws_allowed_origins` (`*`: any), or — with an empty
/// list — an origin whose host (and port) is the request's `Host`.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.to_ascii_lowercase();
    if !allowed.is_empty() {
        return allowed.iter().any(|a| a == "*" || *a == origin);
    }
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
    else {
        return false;
    };
    let Some(origin_host) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    if origin_host == host {
        return true;
    }
    // A proxy that passes the host without its port (nginx's `$host`): compare host names.
    let without_port = |h: &str| -> String {
        match h.rsplit_once(':') {
            Some((name, port))
                if !name.ends_with(']')
                    && port.chars().all(|c| c.is_ascii_digit())
                    && !name.contains(':') =>
            {
                name.to_string()
            }
            Some((name, port))
                if name.ends_with(']') && port.chars().all(|c| c.is_ascii_digit()) =>
            {
                name.to_string()
            }
            _ => h.to_string(),
        }
    };
    without_port(&host) == host && without_port(origin_host) == host
}

/// The CORS layer for `cors_allowed_origins`, or `None` (no CORS headers at all).
pub fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(list)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([
                header::RETRY_AFTER,
                header::HeaderName::from_static("x-request-id"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn the_same_host_is_allowed_by_default_and_others_are_not() {
        assert!(origin_allowed(&headers(None, "a.test"), &[]));
        assert!(origin_allowed(
            &headers(Some("https://a.test"), "a.test"),
            &[]
        ));
        assert!(origin_allowed(
            &headers(Some("http://A.test:8080"), "a.test:8080"),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("https://evil.test"), "a.test"),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("https://a.test:9"), "a.test:8"),
            &[]
        ));
        // nginx's `$host` drops the port: host names are compared.
        assert!(origin_allowed(
            &headers(Some("https://a.test:8443"), "a.test"),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("https://b.test:8443"), "a.test"),
            &[]
        ));
        assert!(origin_allowed(
            &headers(Some("http://[::1]:80"), "[::1]:80"),
            &[]
        ));
        assert!(!origin_allowed(&headers(Some("null"), "a.test"), &[]));
        let list = vec!["https://b.test".to_string()];
        assert!(origin_allowed(
            &headers(Some("https://b.test"), "a.test"),
            &list
        ));
        assert!(!origin_allowed(
            &headers(Some("https://a.test"), "a.test"),
            &list
        ));
        assert!(origin_allowed(
            &headers(Some("https://x.test"), "a.test"),
            &["*".into()]
        ));
    }
}

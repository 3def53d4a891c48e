//! The router: every route and every middleware, assembled in one place.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::HeaderBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;
use versus_protocol::ErrorCode;

use crate::error::problem_response;
use crate::routes;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Versus",
        description = "The REST API of Versus, a real-time multiplayer game backend. Errors are \
            `application/problem+json` (RFC 9457) with a stable `code`. Authenticate with \
            `Authorization: Bearer <token>` from register, guest or login.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Registration, login, tokens and profiles"),
        (name = "games", description = "Game kinds, games, sessions, moves and actions"),
        (name = "ratings", description = "Ratings, leaderboards, statistics, game history and PGN"),
        (name = "matchmaking", description = "\"Play now\": tickets in the matchmaking pool"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "chat", description = "Game and lobby chat rooms (history, posting, deleting) and blocks"),
        (name = "social", description = "Friends and presence, invites (to a player or by link) and notifications"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An opaque token from register, guest or login"))
                    .build(),
            ),
        );
    }
}

/// Paths the per-address request limit does not count (`limits::http_limit` exempts the
/// health and readiness probes), so their operations never answer its 429.
const RATE_LIMIT_EXEMPT: &[&str] = &["/healthz", "/readyz"];

/// Adds the responses that come from the middleware rather than from a handler, to every
/// operation of the finished document (after the routers are merged: a `Modify` on
/// [`ApiDoc`] would run before any route exists):
///
/// - `429 rate_limited` with `Retry-After`: the per-address request limit (`limits.rs`), on
///   every operation except the exempt probes;
/// - `503 unavailable`: the request did not complete within `request_timeout_seconds`
///   (`TimeoutLayer`), on every operation;
/// - on every operation with a JSON body, the body's rejections (`ApiJson`): `400` (not
///   JSON), `413` (over `max_body_bytes`), `415` (not `application/json`) and `422` (not the
///   documented shape).
///
/// A 429 or 503 the handler already documents (for another cause) keeps its description,
/// extended with the middleware's cause; a body rejection the handler documents is left as
/// the handler says it.
pub(crate) fn add_common_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ObjectBuilder, Type};
    let retry_after = HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .minimum(Some(1)),
        ))
        .description(Some("Seconds to wait before trying again"))
        .build();
    for (path, item) in openapi.paths.paths.iter_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut op.responses.responses;
            if !RATE_LIMIT_EXEMPT.contains(&path.as_str()) {
                problem_entry(
                    responses,
                    "429",
                    "`rate_limited`: too many requests from this address \
                     (`http_requests_per_second_per_address`); see `Retry-After`",
                    true,
                    Some(("Retry-After", &retry_after)),
                );
            }
            problem_entry(
                responses,
                "503",
                "`unavailable`: the request did not complete within `request_timeout_seconds`",
                true,
                None,
            );
            if op.request_body.is_some() {
                problem_entry(
                    responses,
                    "400",
                    "`malformed_request`: the body is not valid JSON",
                    false,
                    None,
                );
                problem_entry(
                    responses,
                    "413",
                    "`payload_too_large`: the body is larger than `max_body_bytes`",
                    false,
                    None,
                );
                problem_entry(
                    responses,
                    "415",
                    "`unsupported_media_type`: the body is not `application/json`",
                    false,
                    None,
                );
                problem_entry(
                    responses,
                    "422",
                    "`malformed_request`: the body is not the documented JSON object",
                    false,
                    None,
                );
            }
        }
    }
}

/// Documents `cause` under `status` in `responses`: a new problem response with `cause` as
/// its description; when the handler documents that status already and `extend` is set,
/// `cause` is appended to its description (a different cause of the same status). `header`
/// is added to the response if given.
fn problem_entry(
    responses: &mut std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::Response>,
    >,
    status: &str,
    cause: &str,
    extend: bool,
    header: Option<(&str, &utoipa::openapi::Header)>,
) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let slot = responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::Ref(Ref::new("")));
    let mut response = match std::mem::replace(slot, RefOr::Ref(Ref::new(""))) {
        RefOr::T(response) => response,
        // New (or a reference, which our annotations never produce): a problem response.
        RefOr::Ref(_) => ResponseBuilder::new()
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    };
    if response.description.is_empty() {
        response.description = cause.to_string();
    } else if extend && !response.description.contains(cause) {
        response.description = format!("{}; or {cause}", response.description);
    }
    if let Some((name, header)) = header {
        response
            .headers
            .entry(name.to_string())
            .or_insert_with(|| header.clone().into());
    }
    *slot = RefOr::T(response);
}

/// The OpenAPI document, generated from the handlers' annotations, with the middleware's
/// responses added.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_parts().1
}

/// The API routes and their finished OpenAPI document.
fn api_parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut api) = api_router().split_for_parts();
    add_common_responses(&mut api);
    (router, api)
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::accounts::router())
        .merge(routes::games::router())
        .merge(routes::chat::router())
        .merge(routes::ratings::router())
        .merge(routes::social::router())
        .merge(routes::matchmaking::router())
        .merge(routes::system::router())
}

/// Builds the whole application.
pub fn build(state: AppState) -> Router {
    let (router, api) = api_parts();
    let body_limit = state.config.max_body_bytes;
    let timeout = state.config.request_timeout;
    let cors = crate::headers::cors(&state.config.cors_allowed_origins);
    let router = router
        .route("/api/v1/ws", get(crate::ws::upgrade))
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", api))
        .fallback(crate::web::serve)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout.max(Duration::from_millis(1)),
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::http_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::headers::security_headers,
        ))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| -> Response {
                tracing::error!("a handler panicked");
                problem_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    None,
                    Vec::new(),
                )
            },
        ));
    // CORS (only when configured) answers preflights before the rate limit counts them.
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        // Outermost: every response, even a timeout or a caught panic, gets a request id, a
        // problem body, a metric and one access-log line.
        .layer(axum::middleware::from_fn(crate::telemetry::observe))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status the middleware can answer is documented on every operation it can answer
    /// it on, whatever the handler's annotation says (schemathesis checks the live server
    /// against this document).
    #[test]
    fn every_operation_documents_the_middleware_responses() {
        let api = openapi();
        let mut operations = 0;
        for (path, item) in &api.paths.paths {
            for (method, op) in [
                ("get", &item.get),
                ("post", &item.post),
                ("put", &item.put),
                ("patch", &item.patch),
                ("delete", &item.delete),
            ] {
                let Some(op) = op else { continue };
                operations += 1;
                let responses = &op.responses.responses;
                let mut expected = vec!["503"];
                if !RATE_LIMIT_EXEMPT.contains(&path.as_str()) {
                    expected.push("429");
                }
                if op.request_body.is_some() {
                    expected.extend(["400", "413", "415", "422"]);
                }
                for status in expected {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} does not document {status}"
                    );
                }
                if let Some(utoipa::openapi::RefOr::T(limited)) = responses.get("429") {
                    assert!(
                        limited
                            .description
                            .contains("`rate_limited`: too many requests"),
                        "{method} {path}: {}",
                        limited.description
                    );
                    assert!(
                        limited.headers.contains_key("Retry-After"),
                        "{method} {path}"
                    );
                }
            }
        }
        assert!(operations >= 58, "{operations}");
    }
}

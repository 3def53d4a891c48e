//! The router: every route and every middleware, assembled in one place.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
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
    modifiers(&BearerAuth, &CommonResponses),
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

/// Responses every operation may give, whatever its handler does: the per-address request
/// limit (429). Added where a handler's annotation does not list them already.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let limited = ResponseBuilder::new()
            .description(
                "`rate_limited`: too many requests from this address \
                 (`http_requests_per_second_per_address`); see `Retry-After`",
            )
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
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
                op.responses
                    .responses
                    .entry("429".to_string())
                    .or_insert_with(|| limited.clone().into());
            }
        }
    }
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
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
    let (router, api) = api_router().split_for_parts();
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

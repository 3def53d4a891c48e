//! Matchmaking over REST ("play now", issue 9): make, read (poll) and cancel a ticket. The
//! pool, the policy and the pass are in `crate::matchmaking`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use versus_protocol::{ErrorCode, PlayerRef, Problem, Ticket, TicketRequest};

use crate::auth::Authed;
use crate::error::ApiError;
use crate::routes::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_ticket))
        .routes(routes!(get_ticket, cancel_ticket))
}

fn ticket_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            "the ticket id is not a UUID",
        )
    })
}

/// "Play now": wait in the pool for a player of a close rating. Poll the ticket (or listen
/// on the WebSocket for a `ticket` message) to learn the game once paired. The ticket expires
/// `matchmaking_grace_ms` after the player's last WebSocket connection closed or last poll.
#[utoipa::path(post, path = "/api/v1/matchmaking/tickets", tag = "matchmaking",
    security(("bearer" = [])),
    request_body = TicketRequest,
    responses(
        (status = 201, description = "Waiting in the pool", body = Ticket),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: you already have a waiting ticket for this kind; `limit_reached`: you already sit in `max_open_games_per_player` open games", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_kind`, `validation_failed` or `malformed_request`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_ticket(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<TicketRequest>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    let player = PlayerRef {
        id: authed.player.id,
        username: authed.player.username.clone(),
    };
    let ticket = state.matchmaking.create(&player, req).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

/// One of your tickets: `waiting`, `matched` (with the game and the opponent), `cancelled` or
/// `expired`. Polling a waiting ticket keeps it alive.
#[utoipa::path(get, path = "/api/v1/matchmaking/tickets/{id}", tag = "matchmaking",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The ticket id")),
    responses(
        (status = 200, description = "The ticket", body = Ticket),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket of yours", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authed: Authed,
) -> Result<Json<Ticket>, ApiError> {
    let id = ticket_id(&id)?;
    Ok(Json(state.matchmaking.get(authed.player.id, id).await?))
}

/// Leave the pool.
#[utoipa::path(delete, path = "/api/v1/matchmaking/tickets/{id}", tag = "matchmaking",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The ticket id")),
    responses(
        (status = 200, description = "Cancelled", body = Ticket),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: the ticket is no longer waiting (matched, cancelled or expired)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn cancel_ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authed: Authed,
) -> Result<Json<Ticket>, ApiError> {
    let id = ticket_id(&id)?;
    Ok(Json(state.matchmaking.cancel(authed.player.id, id).await?))
}

//! Chat over REST: a game's rooms and the lobby's (history, post, delete), and blocks. The
//! live side is the WebSocket (`chat_subscribe`, …); both go through `chat::ChatService`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use versus_protocol::{
    BlockList, ChatPage, ChatPostRequest, ChatPosted, ErrorCode, GameChatSide, PlayerRef, Problem,
};

use super::ApiJson;
use crate::auth::Authed;
use crate::chat::RoomId;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(game_history, game_post))
        .routes(routes!(game_delete))
        .routes(routes!(lobby_history, lobby_post))
        .routes(routes!(lobby_delete))
        .routes(routes!(list_blocks))
        .routes(routes!(block, unblock))
}

fn me(a: &Authed) -> PlayerRef {
    PlayerRef {
        id: a.player.id,
        username: a.player.username.clone(),
    }
}

fn bad_request(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedRequest, detail)
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query<T>(q: QueryResult<T>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| bad_request(e.body_text()))
}

fn game_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| bad_request("the game id is not a UUID"))
}

fn seq_of(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .map_err(|_| bad_request("the seq is not a number"))
}

/// Which game room a request means: the named side, else the caller's own.
async fn game_room(
    state: &AppState,
    authed: &Authed,
    game: Uuid,
    side: Option<GameChatSide>,
) -> RoomId {
    match side {
        Some(GameChatSide::Players) => RoomId::Players(game),
        Some(GameChatSide::Spectators) => RoomId::Spectators(game),
        None => state.chat.own_game_room(&me(authed), game).await,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryParams {
    /// Game chat only: `players` or `spectators` (default: the room you belong to).
    room: Option<GameChatSide>,
    /// Only entries with a smaller seq (default: the newest).
    before: Option<u64>,
    /// Entries in the page, 1–100 (default 50).
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RoomParams {
    /// `players` or `spectators` (default: the room you belong to).
    room: Option<GameChatSide>,
}

/// A page of a game's chat, oldest first. Players read the players' room; spectators (and
/// the players once the session is over) the spectators' room. A blocked player's messages
/// come as `hidden` entries.
#[utoipa::path(get, path = "/api/v1/games/{id}/chat", tag = "chat",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id"), HistoryParams),
    responses(
        (status = 200, description = "The page", body = ChatPage),
        (status = 400, description = "Invalid id or query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not your room", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game", body = Problem, content_type = "application/problem+json"),
    ))]
async fn game_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authed: Authed,
    q: QueryResult<HistoryParams>,
) -> Result<Json<ChatPage>, ApiError> {
    let game = game_id(&id)?;
    let q = query(q)?;
    let room = game_room(&state, &authed, game, q.room).await;
    Ok(Json(
        state
            .chat
            .history(&me(&authed), room, q.before, q.limit)
            .await?,
    ))
}

/// Write in a game's chat. Answered once the message is durably stored; it reaches the
/// room's WebSocket subscribers at the same time.
#[utoipa::path(post, path = "/api/v1/games/{id}/chat", tag = "chat",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id")),
    request_body = ChatPostRequest,
    responses(
        (status = 200, description = "Stored", body = ChatPosted),
        (status = 400, description = "Not JSON, or the id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (not your room) or `muted`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`chat_empty`, `chat_too_long` or `malformed_request`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`chat_rate_limited`; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn game_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authed: Authed,
    ApiJson(req): ApiJson<ChatPostRequest>,
) -> Result<Json<ChatPosted>, ApiError> {
    let game = game_id(&id)?;
    let room = game_room(&state, &authed, game, req.room).await;
    let entry = state.chat.post(&me(&authed), room, &req.text).await?;
    Ok(Json(ChatPosted { entry }))
}

/// Delete your own message `seq` from a game's chat: others see it as deleted (a
/// `deletion` entry follows in the room's sequence).
#[utoipa::path(delete, path = "/api/v1/games/{id}/chat/{seq}", tag = "chat",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id"),
        ("seq" = u64, Path, description = "The message's seq"), RoomParams),
    responses(
        (status = 200, description = "The deletion entry (stored)", body = ChatPosted),
        (status = 400, description = "Invalid id, seq or query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not your message or not your room", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game or message (or already deleted)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn game_delete(
    State(state): State<AppState>,
    Path((id, seq)): Path<(String, String)>,
    authed: Authed,
    q: QueryResult<RoomParams>,
) -> Result<Json<ChatPosted>, ApiError> {
    let game = game_id(&id)?;
    let seq = seq_of(&seq)?;
    let q = query(q)?;
    let room = game_room(&state, &authed, game, q.room).await;
    let entry = state.chat.delete(&me(&authed), room, seq).await?;
    Ok(Json(ChatPosted { entry }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LobbyHistoryParams {
    /// Only entries with a smaller seq (default: the newest).
    before: Option<u64>,
    /// Entries in the page, 1–100 (default 50).
    limit: Option<u32>,
}

/// A page of the lobby's chat, oldest first.
#[utoipa::path(get, path = "/api/v1/lobby/chat", tag = "chat",
    security(("bearer" = [])),
    params(LobbyHistoryParams),
    responses(
        (status = 200, description = "The page", body = ChatPage),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn lobby_history(
    State(state): State<AppState>,
    authed: Authed,
    q: QueryResult<LobbyHistoryParams>,
) -> Result<Json<ChatPage>, ApiError> {
    let q = query(q)?;
    Ok(Json(
        state
            .chat
            .history(&me(&authed), RoomId::Lobby, q.before, q.limit)
            .await?,
    ))
}

/// Write in the lobby's chat (registered players; guests chat in games only unless
/// `chat_guests_in_lobby` is set).
#[utoipa::path(post, path = "/api/v1/lobby/chat", tag = "chat",
    security(("bearer" = [])),
    request_body = ChatPostRequest,
    responses(
        (status = 200, description = "Stored", body = ChatPosted),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`muted` or `guests_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`chat_empty`, `chat_too_long` or `malformed_request`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`chat_rate_limited`; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn lobby_post(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<ChatPostRequest>,
) -> Result<Json<ChatPosted>, ApiError> {
    let entry = state
        .chat
        .post(&me(&authed), RoomId::Lobby, &req.text)
        .await?;
    Ok(Json(ChatPosted { entry }))
}

/// Delete your own message `seq` from the lobby's chat.
#[utoipa::path(delete, path = "/api/v1/lobby/chat/{seq}", tag = "chat",
    security(("bearer" = [])),
    params(("seq" = u64, Path, description = "The message's seq")),
    responses(
        (status = 200, description = "The deletion entry (stored)", body = ChatPosted),
        (status = 400, description = "Invalid seq", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not your message", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message (or already deleted)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn lobby_delete(
    State(state): State<AppState>,
    Path(seq): Path<String>,
    authed: Authed,
) -> Result<Json<ChatPosted>, ApiError> {
    let seq = seq_of(&seq)?;
    let entry = state.chat.delete(&me(&authed), RoomId::Lobby, seq).await?;
    Ok(Json(ChatPosted { entry }))
}

/// The players you block.
#[utoipa::path(get, path = "/api/v1/me/blocks", tag = "chat",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Blocked players", body = BlockList),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_blocks(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<BlockList>, ApiError> {
    let ids = state
        .store
        .blocked_players(authed.player.id)
        .await
        .map_err(ApiError::internal)?;
    let mut players = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(p) = state
            .store
            .player_by_id(id)
            .await
            .map_err(ApiError::internal)?
        {
            players.push(PlayerRef {
                id: p.id,
                username: p.username,
            });
        }
    }
    Ok(Json(BlockList { players }))
}

async fn target(state: &AppState, authed: &Authed, username: &str) -> Result<Uuid, ApiError> {
    let p = state
        .store
        .player_by_username(username)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("player"))?;
    if p.id == authed.player.id {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
            "you cannot block yourself",
        ));
    }
    Ok(p.id)
}

/// Block a player: their chat messages are hidden from you from now on (live and in
/// history), on every node; any friendship and pending friend requests between you end, and
/// their notifications are hidden from you. Idempotent.
#[utoipa::path(put, path = "/api/v1/me/blocks/{username}", tag = "chat",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The player to block")),
    responses(
        (status = 204, description = "Blocked"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such player", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: yourself", body = Problem, content_type = "application/problem+json"),
    ))]
async fn block(
    State(state): State<AppState>,
    Path(username): Path<String>,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    let other = target(&state, &authed, &username).await?;
    state.chat.set_block(authed.player.id, other, true).await?;
    state.social.blocked(authed.player.id, other).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblock a player. Idempotent.
#[utoipa::path(delete, path = "/api/v1/me/blocks/{username}", tag = "chat",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The player to unblock")),
    responses(
        (status = 204, description = "Not blocked (any more)"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such player", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: yourself", body = Problem, content_type = "application/problem+json"),
    ))]
async fn unblock(
    State(state): State<AppState>,
    Path(username): Path<String>,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    let other = target(&state, &authed, &username).await?;
    state.chat.set_block(authed.player.id, other, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Games over REST: kinds, create, lobby, read, join, moves and the other actions. Every
//! mutation goes through the game's actor (`crate::games`), exactly as over the WebSocket.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use rand::Rng;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use versus_protocol::{
    ActionAck, CreateGameRequest, DrawRequest, ErrorCode, EventList, FieldError, GameEvent,
    GameList, GameSettings, GameSummary, GameView, KindInfo, KindList, MoveAck, MoveRequest,
    PlayerRef, PlayerSeat, Problem, SeatChoice, SessionState, SettingInfo,
};
use versus_store::{EventRecord, LobbyQuery, NewGame, NewSeat, NewSession, NewSessionBundle};

use crate::auth::{Authed, MaybeAuthed};
use crate::domain;
use crate::error::ApiError;
use crate::games::{ActOk, Action, visibility};
use crate::routes::ApiJson;
use crate::state::AppState;
use crate::{now_ms, time_from_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_kinds))
        .routes(routes!(create_game, list_games))
        .routes(routes!(list_my_games))
        .routes(routes!(get_game))
        .routes(routes!(get_events))
        .routes(routes!(join))
        .routes(routes!(make_move))
        .routes(routes!(resign))
        .routes(routes!(draw))
        .routes(routes!(abort))
        .routes(routes!(claim_victory))
        .routes(routes!(rematch))
}

fn player_ref(a: &Authed) -> PlayerRef {
    PlayerRef {
        id: a.player.id,
        username: a.player.username.clone(),
    }
}

/// The settings a kind accepts: real-time kinds have no clock but a number of players and
/// the points that win.
fn settings_info(realtime: bool) -> Vec<SettingInfo> {
    [
        (
            "time_control",
            "null for no clock, or {initial_seconds: 1..86400, increment_seconds: 0..600}",
        ),
        (
            "rated",
            "true for a rated game (changes ratings), false for casual",
        ),
        (
            "visibility",
            "public (listed in the lobby) or private (reachable by link only)",
        ),
        (
            "creator_seat",
            "first, second or random: the creator's seat",
        ),
        (
            "players",
            "real-time kinds only: 2 to 4 players (default 2); the session starts when all are seated",
        ),
        (
            "points_to_win",
            "real-time kinds only: the points that win the session, 1 to 25 (default 3)",
        ),
    ]
    .into_iter()
    .filter(|(n, _)| match *n {
        "time_control" => !realtime,
        "players" | "points_to_win" => realtime,
        _ => true,
    })
    .map(|(n, d)| SettingInfo {
        name: n.into(),
        description: d.into(),
    })
    .collect()
}

/// The game kinds this server offers.
#[utoipa::path(get, path = "/api/v1/kinds", tag = "games",
    responses((status = 200, description = "Every kind", body = KindList)))]
async fn list_kinds() -> Json<KindList> {
    Json(KindList {
        kinds: versus_rules::kinds()
            .iter()
            .map(|k| KindInfo {
                id: k.id.into(),
                name: k.name.into(),
                min_seats: k.min_seats as u32,
                max_seats: k.max_seats as u32,
                realtime: k.realtime,
                supports_draw_offers: k.supports_draw_offers,
                supports_clock: k.supports_clock,
                move_format: k.move_format.into(),
                settings: settings_info(k.realtime),
            })
            .collect(),
    })
}

fn validate_create(req: &CreateGameRequest) -> Result<(String, Option<String>), ApiError> {
    let mut errors = Vec::new();
    if versus_rules::kind(&req.kind).is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownKind,
            format!(
                "no game kind `{}`; see GET /api/v1/kinds",
                req.kind.chars().take(32).collect::<String>()
            ),
        ));
    }
    let name = match domain::profile_text("name", &req.name, 80, false) {
        Ok(Some(n)) => Some(n),
        Ok(None) => {
            errors.push(FieldError {
                field: "name".into(),
                reason: "empty".into(),
                message: "a name is required".into(),
            });
            None
        }
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let description = match req
        .description
        .as_deref()
        .map(|d| domain::profile_text("description", d, 500, true))
    {
        None => None,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            errors.push(e);
            None
        }
    };
    let realtime = versus_rules::kind(&req.kind).is_some_and(|k| k.realtime);
    for (field, value, range) in [
        ("settings.players", req.settings.players, 2..=4),
        (
            "settings.points_to_win",
            req.settings.points_to_win,
            1..=crate::games::realtime::MAX_POINTS,
        ),
    ] {
        match value {
            Some(_) if !realtime => errors.push(FieldError {
                field: field.into(),
                reason: "not_supported".into(),
                message: "only real-time kinds take this setting".into(),
            }),
            Some(v) if !range.contains(&v) => errors.push(FieldError {
                field: field.into(),
                reason: "out_of_range".into(),
                message: format!("must be between {} and {}", range.start(), range.end()),
            }),
            _ => {}
        }
    }
    if realtime && req.settings.time_control.is_some() {
        errors.push(FieldError {
            field: "settings.time_control".into(),
            reason: "not_supported".into(),
            message: "real-time kinds have no clock".into(),
        });
    }
    if let Some(tc) = req.settings.time_control {
        if !(1..=86_400).contains(&tc.initial_seconds) {
            errors.push(FieldError {
                field: "settings.time_control.initial_seconds".into(),
                reason: "out_of_range".into(),
                message: "must be between 1 and 86400".into(),
            });
        }
        if tc.increment_seconds > 600 {
            errors.push(FieldError {
                field: "settings.time_control.increment_seconds".into(),
                reason: "out_of_range".into(),
                message: "must be between 0 and 600".into(),
            });
        }
    }
    match name {
        Some(n) if errors.is_empty() => Ok((n, description)),
        _ => Err(ApiError::validation(errors)),
    }
}

/// The rows of a new game whose first session waits with `creator` seated (per
/// `settings.creator_seat`): what `POST /api/v1/games` stores, and what the matchmaking pass
/// stores for each pair before the second player joins through the game's actor.
pub(crate) fn new_game_rows(
    kind: &str,
    name: String,
    description: Option<String>,
    settings: &GameSettings,
    creator: &PlayerRef,
    now: i64,
) -> Result<(NewGame, NewSessionBundle), ApiError> {
    let game_id = Uuid::new_v4();
    let session_id = Uuid::now_v7();
    let seat = match settings.creator_seat {
        SeatChoice::First => 0,
        SeatChoice::Second => 1,
        SeatChoice::Random => rand::rng().random_range(0..2),
    };
    let event = GameEvent::SeatTaken {
        seat,
        player: creator.clone(),
    };
    let payload = serde_json::to_string(&event).map_err(ApiError::internal)?;
    let settings_json = serde_json::to_string(settings).map_err(ApiError::internal)?;
    Ok((
        NewGame {
            id: game_id,
            kind: kind.into(),
            name,
            description,
            settings: settings_json,
            visibility: settings.visibility.as_str().into(),
            rated: settings.rated,
            created_by: creator.id,
            created_at_ms: now,
        },
        NewSessionBundle {
            session: NewSession {
                id: session_id,
                game_id,
                number: 1,
                state: SessionState::Waiting.as_str().into(),
                start_time_ms: None,
                created_at_ms: now,
            },
            seats: vec![NewSeat {
                session_id,
                seat: i64::from(seat),
                player_id: creator.id,
                joined_at_ms: now,
            }],
            events: vec![EventRecord {
                session_id,
                seq: 1,
                at_ms: now,
                event_type: event.type_name().into(),
                player_id: None,
                client_move_id: None,
                payload,
            }],
        },
    ))
}

/// Create a game. The creator takes a seat; the session waits for the other seat.
#[utoipa::path(post, path = "/api/v1/games", tag = "games",
    security(("bearer" = [])),
    request_body = CreateGameRequest,
    responses(
        (status = 201, description = "The new game", body = GameView),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`limit_reached`: the caller already sits in `max_open_games_per_player` open games", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_kind`, `validation_failed` or `malformed_request`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_game(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<CreateGameRequest>,
) -> Result<(StatusCode, Json<GameView>), ApiError> {
    let (name, description) = validate_create(&req)?;
    state.games.check_open_games(authed.player.id).await?;
    let (game, first) = new_game_rows(
        &req.kind,
        name,
        description,
        &req.settings,
        &player_ref(&authed),
        now_ms(),
    )?;
    let game_id = game.id;
    state.store.create_game(game, first).await?;
    let view = state.games.snapshot(game_id).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LobbyParams {
    /// `waiting`, `in_progress`, `finished` or `aborted`.
    state: Option<SessionState>,
    /// A kind id.
    kind: Option<String>,
    /// 1–100 (default 20).
    limit: Option<u32>,
    offset: Option<u32>,
}

/// The lobby: public games, newest first, filtered by session state and kind.
#[utoipa::path(get, path = "/api/v1/games", tag = "games",
    params(LobbyParams),
    responses(
        (status = 200, description = "A page of games", body = GameList),
        (status = 400, description = "A query parameter is invalid", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_games(
    State(state): State<AppState>,
    query: Result<Query<LobbyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<GameList>, ApiError> {
    page(&state, query, None).await
}

/// The caller's own games (public and private, any state), newest first.
#[utoipa::path(get, path = "/api/v1/me/games", tag = "games",
    security(("bearer" = [])),
    params(LobbyParams),
    responses(
        (status = 200, description = "A page of the caller's games", body = GameList),
        (status = 400, description = "A query parameter is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_my_games(
    State(state): State<AppState>,
    authed: Authed,
    query: Result<Query<LobbyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<GameList>, ApiError> {
    page(&state, query, Some(authed.player.id)).await
}

/// A page of games: the public lobby (`player` None) or one player's games.
async fn page(
    state: &AppState,
    query: Result<Query<LobbyParams>, axum::extract::rejection::QueryRejection>,
    player: Option<Uuid>,
) -> Result<Json<GameList>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            e.body_text(),
        )
    })?;
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let offset = q.offset.unwrap_or(0).min(1_000_000);
    let rows = state
        .store
        .list_games(&LobbyQuery {
            state: q.state.map(|s| s.as_str().to_string()),
            kind: q.kind.filter(|k| k.len() <= 32),
            include_private: player.is_some(),
            player_id: player,
            limit: i64::from(limit) + 1,
            offset: i64::from(offset),
        })
        .await?;
    let has_more = rows.len() > limit as usize;
    let games = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| GameSummary {
            id: r.game.id,
            kind: r.game.kind,
            name: r.game.name,
            description: r.game.description,
            settings: serde_json::from_str(&r.game.settings).unwrap_or_default(),
            created_by: r.game.created_by,
            created_at: time_from_ms(r.game.created_at_ms),
            session_id: r.session.id,
            state: SessionState::parse(&r.session.state).unwrap_or(SessionState::Waiting),
            participants: r
                .seats
                .into_iter()
                .map(|s| PlayerSeat {
                    seat: s.seat as u32,
                    player: PlayerRef {
                        id: s.player_id,
                        username: s.username,
                    },
                })
                .collect(),
        })
        .collect();
    Ok(Json(GameList {
        games,
        limit,
        offset,
        has_more,
    }))
}

/// A game and its current session: participants, state, moves, clocks, result, position.
#[utoipa::path(get, path = "/api/v1/games/{id}", tag = "games",
    security((), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id")),
    responses(
        (status = 200, description = "The game", body = GameView),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A token was sent and it is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game, or a private game the caller may not see", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_game(
    State(state): State<AppState>,
    id: GameId,
    viewer: MaybeAuthed,
) -> Result<Json<GameView>, ApiError> {
    visibility::check(state.games.store(), id.0, viewer.player_id()).await?;
    Ok(Json(state.games.snapshot(id.0).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsParams {
    /// Only events with a greater seq (default 0: all).
    after: Option<u64>,
}

/// The current session's journal after a sequence number.
#[utoipa::path(get, path = "/api/v1/games/{id}/events", tag = "games",
    security((), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id"), EventsParams),
    responses(
        (status = 200, description = "Events in seq order", body = EventList),
        (status = 400, description = "Invalid id or query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A token was sent and it is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game, or a private game the caller may not see", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_events(
    State(state): State<AppState>,
    id: GameId,
    viewer: MaybeAuthed,
    query: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventList>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            e.body_text(),
        )
    })?;
    visibility::check(state.games.store(), id.0, viewer.player_id()).await?;
    Ok(Json(EventList {
        events: state.games.events(id.0, q.after.unwrap_or(0)).await?,
    }))
}

/// A `{id}` path segment that must be a UUID (400 otherwise, as a problem document).
#[derive(Debug, Clone, Copy)]
struct GameId(Uuid);

impl axum::extract::FromRequestParts<AppState> for GameId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::MalformedRequest,
                    e.body_text(),
                )
            })?;
        Uuid::parse_str(&raw).map(GameId).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedRequest,
                "the game id is not a UUID",
            )
        })
    }
}

async fn action(
    state: &AppState,
    id: GameId,
    authed: &Authed,
    action: Action,
) -> Result<Json<ActionAck>, ApiError> {
    match state
        .games
        .act_as_client(id.0, player_ref(authed), action)
        .await?
    {
        ActOk::Action(ack) => Ok(Json(ack)),
        ActOk::Move(_) | ActOk::Input { .. } => {
            Err(ApiError::internal("a non-move action returned a move ack"))
        }
    }
}

/// Take the free seat; the session starts when every seat is taken.
#[utoipa::path(post, path = "/api/v1/games/{id}/join", tag = "games",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id")),
    responses(
        (status = 200, description = "Seated (committed)", body = ActionAck),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game, or a private game the caller may not see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`game_full`, `already_seated`, `game_over` or `limit_reached` (too many open games)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn join(
    State(state): State<AppState>,
    id: GameId,
    authed: Authed,
) -> Result<Json<ActionAck>, ApiError> {
    action(&state, id, &authed, Action::Join).await
}

/// Make a move. Answered once the move is durably committed; a retry with the same
/// `client_move_id` returns the original acknowledgement (`duplicate: true`).
#[utoipa::path(post, path = "/api/v1/games/{id}/moves", tag = "games",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id")),
    request_body = MoveRequest,
    responses(
        (status = 200, description = "Committed", body = MoveAck),
        (status = 400, description = "Not JSON, or the id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_participant`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_your_turn`, `game_over` or `invalid_state` (not started)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`malformed_move`, `illegal_move`, `validation_failed` or `malformed_request`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn make_move(
    State(state): State<AppState>,
    id: GameId,
    authed: Authed,
    ApiJson(req): ApiJson<MoveRequest>,
) -> Result<Json<MoveAck>, ApiError> {
    let action = Action::Move {
        mv: req.mv,
        client_move_id: req.client_move_id,
    };
    match state
        .games
        .act_as_client(id.0, player_ref(&authed), action)
        .await?
    {
        ActOk::Move(ack) => Ok(Json(ack)),
        ActOk::Action(_) | ActOk::Input { .. } => {
            Err(ApiError::internal("a move returned an action ack"))
        }
    }
}

/// Resign: the opponent wins.
#[utoipa::path(post, path = "/api/v1/games/{id}/resign", tag = "games",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id")),
    responses(
        (status = 200, description = "Committed", body = ActionAck),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_participant`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`game_over` or `invalid_state`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn resign(
    State(state): State<AppState>,
    id: GameId,
    authed: Authed,
) -> Result<Json<ActionAck>, ApiError> {
    action(&state, id, &authed, Action::Resign).await
}

/// Offer, accept or decline a draw (kinds with `supports_draw_offers`). Offering while the
/// opponent's offer is pending accepts it.
#[utoipa::path(post, path = "/api/v1/games/{id}/draw", tag = "games",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id")),
    request_body = DrawRequest,
    responses(
        (status = 200, description = "Committed", body = ActionAck),
        (status = 400, description = "Not JSON, or the id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_participant`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`game_over`, `invalid_state` or `not_supported`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The JSON has the wrong shape", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn draw(
    State(state): State<AppState>,
    id: GameId,
    authed: Authed,
    ApiJson(req): ApiJson<DrawRequest>,
) -> Result<Json<ActionAck>, ApiError> {
    action(&state, id, &authed, Action::Draw(req.action)).await
}

/// Abort: while waiting, or before both sides have moved.
#[utoipa::path(post, path = "/api/v1/games/{id}/abort", tag = "games",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id")),
    responses(
        (status = 200, description = "Committed", body = ActionAck),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_participant`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`game_over` or `invalid_state`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn abort(
    State(state): State<AppState>,
    id: GameId,
    authed: Authed,
) -> Result<Json<ActionAck>, ApiError> {
    action(&state, id, &authed, Action::Abort).await
}

/// Claim the win once the opponent's seat-hold window has run out while they are away.
#[utoipa::path(post, path = "/api/v1/games/{id}/claim-victory", tag = "games",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id")),
    responses(
        (status = 200, description = "Committed", body = ActionAck),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_participant`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`game_over` or `invalid_state`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn claim_victory(
    State(state): State<AppState>,
    id: GameId,
    authed: Authed,
) -> Result<Json<ActionAck>, ApiError> {
    action(&state, id, &authed, Action::ClaimVictory).await
}

/// Ask for a rematch of a finished session; when every player asked, a new session starts
/// (seats rotate) and `new_session_id` is set.
#[utoipa::path(post, path = "/api/v1/games/{id}/rematch", tag = "games",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id")),
    responses(
        (status = 200, description = "Committed", body = ActionAck),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_participant`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rematch(
    State(state): State<AppState>,
    id: GameId,
    authed: Authed,
) -> Result<Json<ActionAck>, ApiError> {
    action(&state, id, &authed, Action::Rematch).await
}

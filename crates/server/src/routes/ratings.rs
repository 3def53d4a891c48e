//! Scorekeeping over REST (issue 7): leaderboards, a player's rank and neighbours, per-kind
//! statistics with rating history, game history, and PGN export of chess sessions.
//!
//! Read-only: ratings and statistics are written by the store when a session's `ended`
//! event is committed (see `versus_store::Store::append_journal`), never here.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use versus_protocol::{
    ErrorCode, HistoryGame, KindStats, Leaderboard, LeaderboardAround, LeaderboardEntry,
    PlayerGames, PlayerStats, Problem, RatingHistoryPoint,
};
use versus_store::{HistoryQuery, LeaderboardRow, PlayerRecord, RatingRecord};

use crate::error::ApiError;
use crate::state::AppState;
use crate::time_from_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(leaderboard))
        .routes(routes!(leaderboard_around))
        .routes(routes!(points_leaderboard))
        .routes(routes!(player_stats))
        .routes(routes!(player_games))
        .routes(routes!(game_pgn))
}

/// Largest leaderboard page.
pub const MAX_LEADERBOARD_LIMIT: u32 = 100;
/// Largest `radius` of around-me.
pub const MAX_RADIUS: u32 = 50;
/// Rating history points in the stats.
const HISTORY_POINTS: i64 = 100;
/// Largest page of a player's games.
const MAX_GAMES_LIMIT: u32 = 100;

fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::MalformedRequest,
        e.body_text(),
    )
}

fn known_kind(kind: &str) -> Result<(), ApiError> {
    if versus_rules::kind(kind).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!(
                "no game kind `{}`; see GET /api/v1/kinds",
                kind.chars().take(32).collect::<String>()
            ),
        ));
    }
    Ok(())
}

async fn player_named(state: &AppState, username: &str) -> Result<PlayerRecord, ApiError> {
    state
        .store
        .player_by_username(username)
        .await?
        .ok_or_else(|| ApiError::not_found("player"))
}

/// A leaderboard line on the wire.
pub fn entry(row: &LeaderboardRow) -> LeaderboardEntry {
    let r = &row.rating;
    LeaderboardEntry {
        rank: row.rank.max(1) as u64,
        player_name: r.username.clone(),
        player_id: r.player_id,
        score: r.score,
        rating: r.rating,
        deviation: r.deviation,
        provisional: provisional(r),
        games: r.games.max(0) as u64,
        wins: r.wins.max(0) as u64,
        losses: r.losses.max(0) as u64,
        draws: r.draws.max(0) as u64,
        rated_games: r.rated_games.max(0) as u64,
    }
}

fn provisional(r: &RatingRecord) -> bool {
    versus_rules::rating::Rating {
        rating: r.rating,
        deviation: r.deviation,
        volatility: r.volatility,
    }
    .provisional()
}

/// Reads a page of a kind's leaderboard.
pub async fn read_board(
    store: &versus_store::DynStore,
    kind: &str,
    limit: u32,
    offset: u64,
) -> Result<Leaderboard, versus_store::StoreError> {
    let rows = store
        .leaderboard(kind, i64::from(limit), offset.min(i64::MAX as u64) as i64)
        .await?;
    let total = store.leaderboard_size(kind).await?;
    Ok(Leaderboard {
        kind: kind.to_owned(),
        total: total.max(0) as u64,
        leaderboard: rows.iter().map(entry).collect(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// Lines per page: 1 to 100 (default 50).
    limit: Option<u32>,
    /// Lines to skip (default 0).
    offset: Option<u64>,
}

/// A page of a kind's leaderboard, best first: rank, player, score (the rounded Glicko-2
/// rating) and statistics. Only players with at least one rated game of the kind appear;
/// equal scores are ranked by the older account first.
#[utoipa::path(get, path = "/api/v1/leaderboards/{kind}", tag = "ratings",
    params(("kind" = String, Path, description = "The game kind, e.g. `chess`"), PageParams),
    responses(
        (status = 200, description = "The page", body = Leaderboard),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game kind", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "limit out of range", body = Problem, content_type = "application/problem+json"),
    ))]
async fn leaderboard(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    query: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Leaderboard>, ApiError> {
    let Query(q) = query.map_err(bad_query)?;
    known_kind(&kind)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_LEADERBOARD_LIMIT).contains(&limit) {
        return Err(out_of_range("limit", "1 to 100"));
    }
    Ok(Json(
        read_board(&state.store, &kind, limit, q.offset.unwrap_or(0)).await?,
    ))
}

/// A page of a real-time kind's points leaderboard: points scored over all finished
/// sessions (light cycles: rounds won), most first; every player with a finished session
/// appears, rated or not. Turn-based kinds have no points: their board is empty.
#[utoipa::path(get, path = "/api/v1/leaderboards/{kind}/points", tag = "ratings",
    params(("kind" = String, Path, description = "The game kind, e.g. `lightcycles`"), PageParams),
    responses(
        (status = 200, description = "The page", body = versus_protocol::PointsLeaderboard),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game kind", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "limit out of range", body = Problem, content_type = "application/problem+json"),
    ))]
async fn points_leaderboard(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    query: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<versus_protocol::PointsLeaderboard>, ApiError> {
    let Query(q) = query.map_err(bad_query)?;
    known_kind(&kind)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_LEADERBOARD_LIMIT).contains(&limit) {
        return Err(out_of_range("limit", "1 to 100"));
    }
    let offset = q.offset.unwrap_or(0).min(i64::MAX as u64 / 2);
    let rows = state
        .store
        .points_leaderboard(&kind, i64::from(limit), offset as i64)
        .await?;
    Ok(Json(versus_protocol::PointsLeaderboard {
        kind,
        leaderboard: rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| versus_protocol::PointsEntry {
                rank: offset + i as u64 + 1,
                player_name: r.username,
                player_id: r.player_id,
                points: r.points,
                sessions: r.sessions.max(0) as u64,
            })
            .collect(),
    }))
}

fn out_of_range(field: &str, range: &str) -> ApiError {
    ApiError::validation(vec![versus_protocol::FieldError {
        field: field.into(),
        reason: "out_of_range".into(),
        message: format!("{field} must be {range}"),
    }])
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AroundParams {
    /// Lines above and below the player: 0 to 50 (default 5).
    radius: Option<u32>,
}

/// The player's own line of a kind's leaderboard with the lines just above and below.
#[utoipa::path(get, path = "/api/v1/leaderboards/{kind}/around/{username}", tag = "ratings",
    params(
        ("kind" = String, Path, description = "The game kind"),
        ("username" = String, Path, description = "The player (case-insensitive)"),
        AroundParams,
    ),
    responses(
        (status = 200, description = "The player's neighbourhood, best first", body = LeaderboardAround),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such kind or player, or the player has no rated game of the kind", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "radius out of range", body = Problem, content_type = "application/problem+json"),
    ))]
async fn leaderboard_around(
    State(state): State<AppState>,
    Path((kind, username)): Path<(String, String)>,
    query: Result<Query<AroundParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LeaderboardAround>, ApiError> {
    let Query(q) = query.map_err(bad_query)?;
    known_kind(&kind)?;
    let radius = q.radius.unwrap_or(5);
    if radius > MAX_RADIUS {
        return Err(out_of_range("radius", "0 to 50"));
    }
    let player = player_named(&state, &username).await?;
    let rows = state
        .store
        .leaderboard_around(&kind, player.id, i64::from(radius))
        .await?
        .ok_or_else(|| ApiError::not_found("rated player"))?;
    let rank = rows
        .iter()
        .find(|r| r.rating.player_id == player.id)
        .map(|r| r.rank.max(1) as u64)
        .unwrap_or(1);
    let total = state.store.leaderboard_size(&kind).await?;
    Ok(Json(LeaderboardAround {
        kind,
        total: total.max(0) as u64,
        rank,
        leaderboard: rows.iter().map(entry).collect(),
    }))
}

/// Per kind the player finished a game of: rating (provisional or not), rank, peak, games,
/// wins, losses, draws, streak and the rating history.
#[utoipa::path(get, path = "/api/v1/players/{username}/stats", tag = "ratings",
    params(("username" = String, Path, description = "The player (case-insensitive)")),
    responses(
        (status = 200, description = "The statistics", body = PlayerStats),
        (status = 404, description = "No such player", body = Problem, content_type = "application/problem+json"),
    ))]
async fn player_stats(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<Json<PlayerStats>, ApiError> {
    let player = player_named(&state, &username).await?;
    let mut stats = Vec::new();
    for r in state.store.player_ratings(player.id).await? {
        let rated = r.rated_games > 0;
        let rank = if rated {
            state
                .store
                .leaderboard_entry(&r.kind, player.id)
                .await?
                .map(|e| e.rank.max(1) as u64)
        } else {
            None
        };
        let history = state
            .store
            .rating_history(player.id, &r.kind, HISTORY_POINTS)
            .await?
            .into_iter()
            .map(|p| RatingHistoryPoint {
                session_id: p.session_id,
                at: time_from_ms(p.at_ms),
                rating: p.rating,
            })
            .collect();
        stats.push(KindStats {
            provisional: provisional(&r),
            kind: r.kind,
            rating: r.rating,
            score: r.score,
            deviation: r.deviation,
            rank,
            peak: rated.then_some(r.peak),
            rated_games: r.rated_games.max(0) as u64,
            games: r.games.max(0) as u64,
            wins: r.wins.max(0) as u64,
            losses: r.losses.max(0) as u64,
            draws: r.draws.max(0) as u64,
            streak: r.streak,
            history,
        });
    }
    Ok(Json(PlayerStats {
        player_id: player.id,
        username: player.username,
        stats,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct GamesParams {
    /// Only this kind.
    kind: Option<String>,
    /// A session id from `next_before`: only sessions that ended before it.
    before: Option<Uuid>,
    /// 1 to 100 (default 20).
    limit: Option<u32>,
}

/// The player's finished sessions, newest first, with opponent, result and rating change.
#[utoipa::path(get, path = "/api/v1/players/{username}/games", tag = "ratings",
    params(("username" = String, Path, description = "The player (case-insensitive)"), GamesParams),
    responses(
        (status = 200, description = "A page of the history", body = PlayerGames),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such player or kind", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "limit out of range", body = Problem, content_type = "application/problem+json"),
    ))]
async fn player_games(
    State(state): State<AppState>,
    Path(username): Path<String>,
    query: Result<Query<GamesParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PlayerGames>, ApiError> {
    let Query(q) = query.map_err(bad_query)?;
    if let Some(kind) = &q.kind {
        known_kind(kind)?;
    }
    let limit = q.limit.unwrap_or(20);
    if !(1..=MAX_GAMES_LIMIT).contains(&limit) {
        return Err(out_of_range("limit", "1 to 100"));
    }
    let player = player_named(&state, &username).await?;
    let rows = state
        .store
        .player_history(&HistoryQuery {
            player_id: player.id,
            kind: q.kind.clone(),
            before_session: q.before,
            limit: i64::from(limit) + 1,
        })
        .await?;
    let has_more = rows.len() > limit as usize;
    let games: Vec<HistoryGame> = rows
        .into_iter()
        .take(limit as usize)
        .map(|h| {
            let (opponent_id, opponent) = h
                .opponents
                .first()
                .cloned()
                .map_or((None, None), |(id, name)| (Some(id), Some(name)));
            HistoryGame {
                game_id: h.game_id,
                session_id: h.session_id,
                kind: h.kind,
                rated: h.rated,
                ended_at: time_from_ms(h.end_time_ms),
                seat: h.seat.max(0) as u32,
                result: h.result,
                opponent,
                opponent_id,
                rating_change: match (h.rating_before, h.rating_after) {
                    (Some(b), Some(a)) => Some(a.round() as i64 - b.round() as i64),
                    _ => None,
                },
                rating_before: h.rating_before,
                rating_after: h.rating_after,
            }
        })
        .collect();
    let next_before = if has_more {
        games.last().map(|g| g.session_id)
    } else {
        None
    };
    Ok(Json(PlayerGames { games, next_before }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PgnParams {
    /// A session of the game (default: its current session).
    session: Option<Uuid>,
}

/// A chess session in PGN (Portable Game Notation), with the Seven Tag Roster. A session in
/// progress has result `*`.
#[utoipa::path(get, path = "/api/v1/games/{id}/pgn", tag = "ratings",
    security((), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The game id"), PgnParams),
    responses(
        (status = 401, description = "A token was sent and it is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The PGN text", body = String, content_type = "application/x-chess-pgn"),
        (status = 400, description = "Invalid id or query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game or session (or a private game the caller may not see)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a chess game (`not_supported`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn game_pgn(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    viewer: crate::auth::MaybeAuthed,
    query: Result<Query<PgnParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(bad_query)?;
    let id = Uuid::parse_str(&raw_id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            "the game id is not a UUID",
        )
    })?;
    if !crate::games::visibility::may_see(&state.store, id, viewer.player_id()).await? {
        return Err(ApiError::not_found("game"));
    }
    let game = state
        .store
        .game(id)
        .await?
        .ok_or_else(|| ApiError::not_found("game"))?;
    if game.kind != "chess" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::NotSupported,
            "PGN exists only for chess games",
        ));
    }
    let session_id = q
        .session
        .or(game.current_session_id)
        .ok_or_else(|| ApiError::not_found("session"))?;
    let session = state
        .store
        .session(session_id)
        .await?
        .filter(|s| s.game_id == game.id)
        .ok_or_else(|| ApiError::not_found("session"))?;
    let seats = state.store.seats(session.id).await?;
    let events = state.store.journal(session.id, 0).await?;
    let name = |seat: i64| {
        seats
            .iter()
            .find(|s| s.seat == seat)
            .map_or_else(|| "?".to_owned(), |s| s.username.clone())
    };
    let sans: Vec<String> = events
        .iter()
        .filter(|e| e.event_type == "moved")
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.payload).ok())
        .filter_map(|v| v["move"]["san"].as_str().map(str::to_owned))
        .collect();
    let result = match session
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
    {
        Some(r) if r["outcome"] == "win" && r["winner"] == 0 => "1-0",
        Some(r) if r["outcome"] == "win" && r["winner"] == 1 => "0-1",
        Some(r) if r["outcome"] == "draw" => "1/2-1/2",
        _ => "*",
    };
    let date = time_from_ms(session.start_time_ms.unwrap_or(session.created_at_ms))
        .format("%Y.%m.%d")
        .to_string();
    let pgn = render_pgn(
        &[
            ("Event", pgn_escape(&game.name)),
            ("Site", "Versus".into()),
            ("Date", date),
            ("Round", session.number.to_string()),
            ("White", pgn_escape(&name(0))),
            ("Black", pgn_escape(&name(1))),
            ("Result", result.into()),
        ],
        &sans,
        result,
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/x-chess-pgn; charset=utf-8",
        )],
        pgn,
    )
        .into_response())
}

fn pgn_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Tag pairs, a blank line, then the movetext wrapped at 80 columns.
fn render_pgn(tags: &[(&str, String)], sans: &[String], result: &str) -> String {
    let mut out = String::new();
    for (k, v) in tags {
        out.push_str(&format!("[{k} \"{v}\"]\n"));
    }
    out.push('\n');
    let mut tokens: Vec<String> = Vec::new();
    for (i, san) in sans.iter().enumerate() {
        if i % 2 == 0 {
            tokens.push(format!("{}.", i / 2 + 1));
        }
        tokens.push(san.clone());
    }
    tokens.push(result.to_owned());
    let mut line = String::new();
    for t in tokens {
        if !line.is_empty() && line.len() + 1 + t.len() > 80 {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&t);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgn_numbers_moves_and_ends_with_the_result() {
        let sans: Vec<String> = ["f3", "e5", "g4", "Qh4#"].map(String::from).to_vec();
        let pgn = render_pgn(&[("White", "a".into())], &sans, "0-1");
        assert_eq!(pgn, "[White \"a\"]\n\n1. f3 e5 2. g4 Qh4# 0-1\n");
    }
}

//! Ratings, leaderboards, statistics and game history (issue 7): the REST bodies and the
//! payloads of the rating and leaderboard WebSocket messages.
//!
//! A rating is Glicko-2, one per player per game kind; `score` is the rating rounded, and is
//! what leaderboards rank by (ties: the older account first). A rating is `provisional`
//! while its deviation is above 110 (the system is not yet sure of the player's strength).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One line of a points leaderboard (real-time kinds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct PointsEntry {
    /// 1 = most points; equal points are ordered by player id.
    pub rank: u64,
    pub player_name: String,
    pub player_id: Uuid,
    /// Points scored over all finished sessions of the kind (light cycles: rounds won).
    pub points: i64,
    /// Finished sessions of the kind.
    pub sessions: u64,
}

/// `GET /api/v1/leaderboards/{kind}/points`: a page of a real-time kind's points board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct PointsLeaderboard {
    pub kind: String,
    pub leaderboard: Vec<PointsEntry>,
}

/// One line of a leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct LeaderboardEntry {
    /// 1 = best. Ranks are distinct: equal scores are ordered by the older account first.
    pub rank: u64,
    pub player_name: String,
    pub player_id: Uuid,
    /// The rating, rounded.
    pub score: i64,
    pub rating: f64,
    pub deviation: f64,
    pub provisional: bool,
    /// Finished games of this kind, rated and casual.
    pub games: u64,
    pub wins: u64,
    pub losses: u64,
    pub draws: u64,
    /// Finished rated games of this kind.
    pub rated_games: u64,
}

/// `GET /api/v1/leaderboards/{kind}`: a page of the kind's leaderboard, best first. Only
/// players with at least one rated game of the kind appear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Leaderboard {
    pub kind: String,
    /// How many players the whole leaderboard holds.
    pub total: u64,
    pub leaderboard: Vec<LeaderboardEntry>,
}

/// `GET /api/v1/leaderboards/{kind}/around/{username}`: the player's line with up to
/// `radius` lines above and below, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct LeaderboardAround {
    pub kind: String,
    pub total: u64,
    /// The player's own rank.
    pub rank: u64,
    pub leaderboard: Vec<LeaderboardEntry>,
}

/// A point of a rating history: the rating after a rated session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct RatingHistoryPoint {
    pub session_id: Uuid,
    pub at: DateTime<Utc>,
    pub rating: f64,
}

/// A player's rating and statistics in one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct KindStats {
    pub kind: String,
    /// Glicko-2 rating (1500 before the first rated game).
    pub rating: f64,
    /// The rating, rounded.
    pub score: i64,
    pub deviation: f64,
    pub provisional: bool,
    /// The leaderboard rank; `null` without a rated game.
    pub rank: Option<u64>,
    /// The highest score after a rated game; `null` without one.
    pub peak: Option<i64>,
    pub rated_games: u64,
    /// Finished games, rated and casual.
    pub games: u64,
    pub wins: u64,
    pub losses: u64,
    pub draws: u64,
    /// Positive: wins in a row; negative: losses in a row; 0 after a draw.
    pub streak: i64,
    /// The rating after each of the last (up to 100) rated games, oldest first.
    pub history: Vec<RatingHistoryPoint>,
}

/// `GET /api/v1/players/{username}/stats`: one entry per kind the player finished a game of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct PlayerStats {
    pub player_id: Uuid,
    pub username: String,
    pub stats: Vec<KindStats>,
}

/// One finished session in a player's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct HistoryGame {
    pub game_id: Uuid,
    pub session_id: Uuid,
    pub kind: String,
    pub rated: bool,
    pub ended_at: DateTime<Utc>,
    /// The player's seat.
    pub seat: u32,
    /// `win`, `loss` or `draw`, for this player.
    pub result: String,
    /// The opponent's username (`null` if the seat was never taken).
    pub opponent: Option<String>,
    pub opponent_id: Option<Uuid>,
    /// Rated sessions only: the rating before and after, and the change of the rounded score.
    pub rating_before: Option<f64>,
    pub rating_after: Option<f64>,
    pub rating_change: Option<i64>,
}

/// `GET /api/v1/players/{username}/games`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct PlayerGames {
    pub games: Vec<HistoryGame>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    pub next_before: Option<Uuid>,
}

/// WebSocket `rating_update`: your rating changed because a rated session of yours ended.
/// Sent to every connection of the player that sent `subscribe_rating`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct RatingUpdate {
    pub kind: String,
    pub game_id: Uuid,
    pub session_id: Uuid,
    /// `win`, `loss` or `draw`.
    pub result: String,
    pub rating: f64,
    pub score: i64,
    pub deviation: f64,
    pub provisional: bool,
    /// The change of the rounded score.
    pub change: i64,
    /// The new leaderboard rank.
    pub rank: Option<u64>,
}

/// WebSocket `leaderboard_update`: the kind's leaderboard changed. Coalesced: at most one per
/// board per second; carries the top `limit` lines as they are now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct LeaderboardUpdate {
    pub kind: String,
    pub total: u64,
    pub leaderboard: Vec<LeaderboardEntry>,
    /// The players whose rating changed since the previous update.
    pub changed: Vec<String>,
}

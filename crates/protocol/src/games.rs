//! Games, sessions, moves and game events: the REST bodies and the journal's event vocabulary
//! (the same [`GameEvent`] values travel over the WebSocket inside `event` messages).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Who may find a game: `public` games are listed in the lobby; `private` ones only by link.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Public,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// Which seat the creator takes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SeatChoice {
    /// Seat 0: moves first (X, red, white).
    First,
    /// Seat 1.
    Second,
    #[default]
    Random,
}

/// A chess-style clock: each player has `initial_seconds`, plus `increment_seconds` per move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeControl {
    /// 1 to 86400 (a day).
    #[schema(minimum = 1, maximum = 86400)]
    pub initial_seconds: u32,
    /// 0 to 600.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 600)]
    pub increment_seconds: u32,
}

/// A game's settings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct GameSettings {
    /// `null` (or absent): no clock.
    #[serde(default)]
    pub time_control: Option<TimeControl>,
    /// Rated games change ratings (scorekeeping); casual ones only statistics.
    #[serde(default)]
    pub rated: bool,
    #[serde(default)]
    pub visibility: Visibility,
    /// The creator's seat.
    #[serde(default)]
    pub creator_seat: SeatChoice,
    /// Real-time kinds only: the number of players, 2 to 4 (default 2). The session starts
    /// when that many seats are taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 2, maximum = 4)]
    pub players: Option<u32>,
    /// Real-time kinds only: the points that win the session, 1 to 25 (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 25)]
    pub points_to_win: Option<u32>,
}

/// `POST /api/v1/games`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGameRequest {
    /// A game kind id from `GET /api/v1/kinds`.
    #[schema(max_length = 32)]
    pub kind: String,
    /// 1–80 characters.
    #[schema(min_length = 1, max_length = 80)]
    pub name: String,
    /// Up to 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[serde(default)]
    pub settings: GameSettings,
}

/// One setting a kind accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct SettingInfo {
    pub name: String,
    pub description: String,
}

/// A game kind (`GET /api/v1/kinds`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct KindInfo {
    pub id: String,
    pub name: String,
    pub min_seats: u32,
    pub max_seats: u32,
    pub realtime: bool,
    pub supports_draw_offers: bool,
    pub supports_clock: bool,
    /// How a move of this kind is written, e.g. `{"cell": 0..8}`.
    pub move_format: String,
    pub settings: Vec<SettingInfo>,
}

/// `GET /api/v1/kinds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct KindList {
    pub kinds: Vec<KindInfo>,
}

/// The state of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Waiting,
    InProgress,
    Finished,
    Aborted,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Waiting => "waiting",
            SessionState::InProgress => "in_progress",
            SessionState::Finished => "finished",
            SessionState::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => SessionState::Waiting,
            "in_progress" => SessionState::InProgress,
            "finished" => SessionState::Finished,
            "aborted" => SessionState::Aborted,
            _ => return None,
        })
    }

    pub fn is_over(self) -> bool {
        matches!(self, SessionState::Finished | SessionState::Aborted)
    }
}

/// A player as shown inside games.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct PlayerRef {
    pub id: Uuid,
    pub username: String,
}

/// A seat and who holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Participant {
    pub seat: u32,
    pub player: PlayerRef,
    /// Whether the player has a live WebSocket subscription to this game now.
    pub connected: bool,
    /// While the player is away: until when the seat is held (after it, the opponent may
    /// claim the win).
    pub seat_held_until: Option<DateTime<Utc>>,
    /// `win`, `loss`, `draw` or `aborted` once the session is over.
    pub result: Option<String>,
}

/// One accepted move, as listed in a game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct MoveEntry {
    pub seq: u64,
    pub seat: u32,
    pub player_id: Uuid,
    /// The canonical move (chess: `{"uci": "e2e4", "san": "e4"}`).
    #[serde(rename = "move")]
    #[schema(value_type = Object)]
    pub mv: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// The clocks at one instant `at`: `remaining_ms` per seat; the clock of `running` (if any)
/// has been ticking since `at`, so its current value is `remaining_ms[running] - (now - at)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Clocks {
    pub remaining_ms: Vec<i64>,
    pub running: Option<u32>,
    pub increment_ms: i64,
    pub at: DateTime<Utc>,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct GameResult {
    /// `win`, `draw` or `aborted`.
    pub outcome: String,
    /// The winning seat (`win` only).
    pub winner: Option<u32>,
    /// e.g. `checkmate`, `three_in_a_row`, `resignation`, `timeout`, `agreement`,
    /// `abandoned`, `aborted`, `stalemate`, `threefold_repetition`, `points` (real-time).
    pub reason: String,
    /// Real-time kinds: the points per seat at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Vec<u32>>,
}

/// A game and its current session (`GET /api/v1/games/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct GameView {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub settings: GameSettings,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// The current session (a rematch starts a new one).
    pub session_id: Uuid,
    pub session_number: u32,
    pub state: SessionState,
    pub participants: Vec<Participant>,
    pub moves: Vec<MoveEntry>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub clocks: Option<Clocks>,
    pub result: Option<GameResult>,
    /// The kind's view of the position (board; chess: `fen`).
    #[schema(value_type = Object)]
    pub position: serde_json::Value,
    /// The seat to move, while in progress.
    pub to_move: Option<u32>,
    /// The seat with a pending draw offer.
    pub draw_offer: Option<u32>,
    /// Seats that asked for a rematch.
    pub rematch_offers: Vec<u32>,
    /// The sequence number of the last event of this session.
    pub last_seq: u64,
    /// Real-time kinds: the server's tick period in milliseconds (`realtime_tick_hz`), so a
    /// client that starts from this view (a subscription, a resync) animates at the server's
    /// rate. Absent for turn-based kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_ms: Option<u32>,
}

/// A lobby row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct GameSummary {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub settings: GameSettings,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub session_id: Uuid,
    pub state: SessionState,
    pub participants: Vec<PlayerSeat>,
}

/// A seat in a lobby row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct PlayerSeat {
    pub seat: u32,
    pub player: PlayerRef,
}

/// `GET /api/v1/games`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct GameList {
    pub games: Vec<GameSummary>,
    pub limit: u32,
    pub offset: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

/// `POST /api/v1/games/{id}/moves`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// Per kind: tictactoe `{"cell": 0..8}`, connect4 `{"column": 0..6}`, chess
    /// `{"uci": "e2e4"}` or `{"san": "e4"}`.
    #[serde(rename = "move")]
    #[schema(value_type = Object)]
    pub mv: serde_json::Value,
    /// Chosen by the client, 1–64 characters; a retry with the same id returns the original
    /// acknowledgement and is never applied twice.
    #[schema(min_length = 1, max_length = 64)]
    pub client_move_id: String,
}

/// The acknowledgement of an accepted move: it is durably committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct MoveAck {
    pub game_id: Uuid,
    pub session_id: Uuid,
    pub seq: u64,
    pub client_move_id: String,
    /// The canonical move as stored.
    #[serde(rename = "move")]
    #[schema(value_type = Object)]
    pub mv: serde_json::Value,
    /// `true` when this is a retry answered from the journal (nothing was applied again).
    pub duplicate: bool,
}

/// A draw action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DrawAction {
    Offer,
    Accept,
    Decline,
}

/// `POST /api/v1/games/{id}/draw`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawRequest {
    pub action: DrawAction,
}

/// The acknowledgement of a committed game action (join, resign, draw, abort, claim, rematch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ActionAck {
    pub game_id: Uuid,
    /// The session the action applied to.
    pub session_id: Uuid,
    /// The sequence number of the event the action produced.
    pub seq: u64,
    /// Set when the action started a new session (an accepted rematch).
    pub new_session_id: Option<Uuid>,
}

/// Something that happened in a session, in journal order. Stored in the journal and sent
/// to subscribers inside `event` messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GameEvent {
    /// A player took a seat.
    SeatTaken {
        seat: u32,
        player: PlayerRef,
    },
    /// Every seat is taken; play begins (clocks start).
    Started {
        clocks: Option<Clocks>,
        /// Real-time kinds: the simulation's parameters, seed included.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        realtime: Option<crate::realtime::RealtimeConfig>,
        /// Real-time kinds: round 1's spawns (with `realtime`, a client's whole starting
        /// state: an empty `width × height` board with each spawn cell marked, tick 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        round_start: Option<crate::realtime::RoundStart>,
    },
    /// Real-time kinds: ticks the server ran, in order, with the inputs that took effect in
    /// them (the last accepted input per seat per tick). Replaying `inputs` rebuilds `ticks`
    /// exactly. Subscribers receive these as `ticks` messages (without `inputs`), not `event`.
    Ticks {
        ticks: Vec<crate::realtime::TickDelta>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        inputs: Vec<crate::realtime::TickInput>,
    },
    /// A move was accepted.
    Moved {
        seat: u32,
        player_id: Uuid,
        #[serde(rename = "move")]
        #[schema(value_type = Object)]
        mv: serde_json::Value,
        client_move_id: String,
        clocks: Option<Clocks>,
        /// The seat to move next (`null` when the move ended the game; an `ended` event follows).
        to_move: Option<u32>,
    },
    DrawOffered {
        seat: u32,
    },
    DrawDeclined {
        seat: u32,
    },
    /// A player's last connection dropped; their seat is held until `hold_until`.
    PlayerLeft {
        seat: u32,
        hold_until: DateTime<Utc>,
    },
    /// The player is back.
    PlayerReturned {
        seat: u32,
    },
    RematchOffered {
        seat: u32,
    },
    /// Both asked: the rematch is `session_id` (a new session of the same game).
    RematchStarted {
        session_id: Uuid,
    },
    /// The server resumed the session after a restart or a takeover. Time the server was
    /// down (`paused_ms`) is not charged: `clocks` restart from here, and seat holds are
    /// re-armed (`holds`: seat-hold deadlines per seat, `null` where no hold runs).
    Resumed {
        paused_ms: i64,
        clocks: Option<Clocks>,
        holds: Vec<Option<DateTime<Utc>>>,
    },
    /// The session is over.
    Ended {
        result: GameResult,
        clocks: Option<Clocks>,
    },
}

impl GameEvent {
    /// The event's `type` tag, as stored in the journal's `event_type` column.
    pub fn type_name(&self) -> &'static str {
        match self {
            GameEvent::SeatTaken { .. } => "seat_taken",
            GameEvent::Started { .. } => "started",
            GameEvent::Moved { .. } => "moved",
            GameEvent::DrawOffered { .. } => "draw_offered",
            GameEvent::DrawDeclined { .. } => "draw_declined",
            GameEvent::PlayerLeft { .. } => "player_left",
            GameEvent::PlayerReturned { .. } => "player_returned",
            GameEvent::RematchOffered { .. } => "rematch_offered",
            GameEvent::RematchStarted { .. } => "rematch_started",
            GameEvent::Resumed { .. } => "resumed",
            GameEvent::Ended { .. } => "ended",
            GameEvent::Ticks { .. } => "ticks",
        }
    }
}

/// A journal event with its place: what `event` messages carry and
/// `GET /api/v1/games/{id}/events` lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct EventEnvelope {
    pub game_id: Uuid,
    pub session_id: Uuid,
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub event: GameEvent,
}

/// `GET /api/v1/games/{id}/events?after=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct EventList {
    pub events: Vec<EventEnvelope>,
}

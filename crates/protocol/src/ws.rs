//! The WebSocket protocol (`GET /api/v1/ws`), version [`PROTOCOL_VERSION`].
//!
//! One connection carries any number of games. Every frame is a JSON text message with a
//! `type`. The client's first message must be [`ClientMessage::Hello`] (the token travels in
//! the message, never in the URL). Requests may carry an `id` (1–64 characters) that the
//! server echoes in the reply (`ack`, `subscribed`, `error`, …). docs/PROTOCOL.md documents
//! every message with its reply and errors; `docs/protocol.schema.json` is generated from
//! these types.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::PublicPlayer;
use crate::chat::{ChatEntry, ChatPage};
use crate::error::ErrorCode;
use crate::games::{ActionAck, DrawAction, EventEnvelope, GameView, MoveAck};
use crate::ratings::{Leaderboard, LeaderboardUpdate, RatingUpdate};

/// The protocol version this server speaks. A client states the version it speaks in
/// `hello`; an unsupported one is refused with `unsupported_protocol`.
pub const PROTOCOL_VERSION: u32 = 1;

/// WebSocket close codes the server uses (besides 1000 normal and 1001 going away).
pub mod close_code {
    /// The client broke the protocol (first message not `hello`, unparseable frames
    /// repeatedly, unsupported version).
    pub const PROTOCOL_ERROR: u16 = 4000;
    /// The token in `hello` is unknown, expired or revoked.
    pub const UNAUTHORIZED: u16 = 4001;
    /// The client did not read fast enough: its outbox filled up. Reconnect and resume with
    /// `since_seq`.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// No frame (not even a pong) arrived within the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4009;
    /// `hello` did not arrive in time.
    pub const HELLO_TIMEOUT: u16 = 4010;
    /// The player already has `ws_max_connections_per_player` connections open (after a
    /// `limit_reached` error). Close another one first.
    pub const TOO_MANY_CONNECTIONS: u16 = 4013;
    /// The client kept sending after its message credits ran out (after `rate_limited`
    /// errors). Reconnect later, and send less often.
    pub const RATE_LIMITED: u16 = 4029;
    /// A frame exceeded the maximum message size.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server is shutting down; reconnect (to any node).
    pub const GOING_AWAY: u16 = 1001;
}

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Must be first. Reply: `welcome`, or close 4001 (bad token) / `error`
    /// `unsupported_protocol` then close 4000.
    Hello {
        /// The protocol version the client speaks (currently 1).
        protocol: u32,
        /// A bearer token from register, guest or login.
        token: String,
    },
    /// Follow a game (as a player if you hold a seat, else as a spectator). Without
    /// `since_seq` the reply carries a snapshot and live events follow; with it, the events
    /// after `since_seq` follow the reply, then live ones (or a snapshot with `resync: true`
    /// when the gap is too large). Errors: `not_found`.
    Subscribe {
        #[serde(default)]
        id: Option<String>,
        game_id: Uuid,
        /// The session the client's `since_seq` refers to; if it is not the game's current
        /// session (a rematch started meanwhile) the reply is a resync snapshot.
        #[serde(default)]
        session_id: Option<Uuid>,
        #[serde(default)]
        since_seq: Option<u64>,
    },
    /// Stop following a game. Reply: `unsubscribed`.
    Unsubscribe {
        #[serde(default)]
        id: Option<String>,
        game_id: Uuid,
    },
    /// Take the free seat. Reply: `action_ack`. Errors: `game_full`, `already_seated`,
    /// `invalid_state`, `not_found`.
    Join {
        #[serde(default)]
        id: Option<String>,
        game_id: Uuid,
    },
    /// Make a move. Reply: `move_ack` once it is durably committed. Errors: `malformed_move`,
    /// `illegal_move`, `not_your_turn`, `not_a_participant`, `game_over`, `invalid_state`.
    Move {
        #[serde(default)]
        id: Option<String>,
        game_id: Uuid,
        #[serde(rename = "move")]
        mv: serde_json::Value,
        /// 1–64 characters; a retry with the same id is answered with the original ack.
        client_move_id: String,
    },
    /// Resign. Reply: `action_ack`. Errors: `not_a_participant`, `game_over`, `invalid_state`.
    Resign {
        #[serde(default)]
        id: Option<String>,
        game_id: Uuid,
    },
    /// Offer, accept or decline a draw. Reply: `action_ack`. Errors: `not_supported`,
    /// `invalid_state` (no pending offer to answer, or your own), `not_a_participant`, `game_over`.
    Draw {
        #[serde(default)]
        id: Option<String>,
        game_id: Uuid,
        action: DrawAction,
    },
    /// Abort before both sides have moved. Reply: `action_ack`. Errors: `invalid_state`.
    Abort {
        #[serde(default)]
        id: Option<String>,
        game_id: Uuid,
    },
    /// Claim the win after the opponent's seat-hold window ran out. Reply: `action_ack`.
    /// Errors: `invalid_state`.
    ClaimVictory {
        #[serde(default)]
        id: Option<String>,
        game_id: Uuid,
    },
    /// Ask for a rematch of a finished session; when every player asked, a new session
    /// starts. Reply: `action_ack` (with `new_session_id` once it starts).
    Rematch {
        #[serde(default)]
        id: Option<String>,
        game_id: Uuid,
    },
    /// Real-time kinds: steer your cycle. Counts in the next tick the server runs (a late
    /// input counts in the tick after); the last accepted input of a tick wins. Reply:
    /// `input_accepted` (naming that tick; not yet durable: the input is durable once that
    /// tick arrives in a `ticks` message). Errors: `reversal` (the
    /// opposite of your current direction), `eliminated` (out for this round),
    /// `not_a_participant`, `invalid_state` (not started, or not a real-time game),
    /// `game_over`, `not_found`.
    Input {
        #[serde(default)]
        id: Option<String>,
        game_id: Uuid,
        dir: crate::realtime::Direction,
    },
    /// Application-level ping. Reply: `pong`.
    Ping {
        #[serde(default)]
        id: Option<String>,
    },
    /// Follow a chat room (`lobby`, `game:<id>:players`, `game:<id>:spectators`). Without
    /// `since_seq` the reply carries the room's recent history; with it, exactly the entries
    /// after `since_seq` (or the recent history with `resync: true` when too many were
    /// missed). Live `chat` entries follow. Errors: `not_found`, `forbidden` (not your room),
    /// `guests_not_allowed` (the lobby), `rate_limited` (too many rooms on the connection).
    ChatSubscribe {
        #[serde(default)]
        id: Option<String>,
        room: String,
        #[serde(default)]
        since_seq: Option<u64>,
    },
    /// Stop following a chat room. Reply: `chat_unsubscribed`. Errors: `not_subscribed`.
    ChatUnsubscribe {
        #[serde(default)]
        id: Option<String>,
        room: String,
    },
    /// Write to a room (you need not follow it). Reply: `chat_ack` once the entry is durably
    /// stored. Errors: `chat_empty`, `chat_too_long`, `chat_rate_limited`, `muted`,
    /// `forbidden`, `guests_not_allowed`, `not_found`.
    ChatSend {
        #[serde(default)]
        id: Option<String>,
        room: String,
        text: String,
    },
    /// Delete your own message `seq`. Reply: `chat_ack` (the seq of the deletion entry).
    /// Errors: `forbidden` (not yours), `not_found`.
    ChatDelete {
        #[serde(default)]
        id: Option<String>,
        room: String,
        seq: u64,
    },
    /// Read older entries: up to `limit` (default 50, at most 100) entries before `before`
    /// (default: the newest). Reply: `chat_history`.
    ChatHistory {
        #[serde(default)]
        id: Option<String>,
        room: String,
        #[serde(default)]
        before: Option<u64>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Follow a kind's leaderboard. Reply: `leaderboard_subscribed` (with the top `limit`
    /// lines, default 10, at most 100); then `leaderboard_update` whenever it changes (at
    /// most once per second). Errors: `unknown_kind`, `rate_limited` (too many).
    LeaderboardSubscribe {
        #[serde(default)]
        id: Option<String>,
        kind: String,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Stop following a leaderboard. Reply: `leaderboard_unsubscribed`. Errors:
    /// `not_subscribed`.
    LeaderboardUnsubscribe {
        #[serde(default)]
        id: Option<String>,
        kind: String,
    },
    /// Follow your own ratings. Reply: `rating_subscribed`; then a `rating_update` as soon as
    /// a rated session of yours ends.
    RatingSubscribe {
        #[serde(default)]
        id: Option<String>,
    },
    /// Stop following your ratings. Reply: `rating_unsubscribed`. Errors: `not_subscribed`.
    RatingUnsubscribe {
        #[serde(default)]
        id: Option<String>,
    },
    /// "Play now": wait in the matchmaking pool (like `POST /api/v1/matchmaking/tickets`).
    /// Reply: `ticket` (state `waiting`); later a `ticket` with state `matched` (and the
    /// game) or `expired`. Errors: `unknown_kind`, `validation_failed`, `invalid_state` (you
    /// already wait for this kind).
    MatchmakingJoin {
        #[serde(default)]
        id: Option<String>,
        kind: String,
        #[serde(default)]
        time_control: Option<crate::games::TimeControl>,
        #[serde(default)]
        rated: bool,
    },
    /// Leave the pool. Reply: `ticket` (state `cancelled`). Errors: `not_found`, `invalid_state`
    /// (no longer waiting).
    MatchmakingCancel {
        #[serde(default)]
        id: Option<String>,
        ticket_id: Uuid,
    },
}

/// Your role in a subscribed game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Role {
    Player { seat: u32 },
    Spectator,
}

/// Limits the server enforces on this connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConnectionLimits {
    /// Largest accepted frame, in bytes.
    pub max_message_bytes: u64,
    /// The server pings this often; answer with pong (browsers do automatically).
    pub ping_interval_ms: u64,
    /// The connection is closed (4009) after this long without any frame from the client.
    pub idle_timeout_ms: u64,
    /// Messages that may wait for the client; beyond it the connection is closed (4008).
    pub outbox_capacity: u64,
    /// Message credits: this many refill each second (0: no limit)…
    #[serde(default)]
    pub messages_per_second: u64,
    /// …up to this many. A message without a credit is answered `rate_limited` and dropped
    /// (`ping` never is); after `message_burst` such messages in a row, close 4029.
    #[serde(default)]
    pub message_burst: u64,
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The reply to `hello`.
    Welcome {
        protocol: u32,
        player: PublicPlayer,
        server_time: DateTime<Utc>,
        limits: ConnectionLimits,
    },
    /// The reply to `subscribe`.
    Subscribed {
        id: Option<String>,
        game_id: Uuid,
        session_id: Uuid,
        role: Role,
        /// The sequence number of the session's last event at subscription time.
        last_seq: u64,
        /// The whole game at `last_seq`: sent when no `since_seq` was given, or on resync.
        snapshot: Option<Box<GameView>>,
        /// `true` when `since_seq` could not be served event by event (too far behind, or
        /// ahead of the journal): discard local state and use `snapshot`.
        resync: bool,
    },
    Unsubscribed {
        id: Option<String>,
        game_id: Uuid,
    },
    /// A committed event of a subscribed game. Per session, `seq` increases by exactly 1.
    Event(EventEnvelope),
    /// Real-time kinds: committed ticks of a subscribed game (one or more, in order), sent
    /// only after the journal commit that holds them. It takes the place of the `event` with
    /// the same `seq` (a `ticks` journal event): `seq` counts on without gaps across both.
    Ticks {
        game_id: Uuid,
        session_id: Uuid,
        seq: u64,
        ticks: Vec<crate::realtime::TickDelta>,
    },
    /// The reply to `move`: the move is durably committed.
    MoveAck {
        id: Option<String>,
        #[serde(flatten)]
        ack: MoveAck,
    },
    /// The reply to join, resign, draw, abort, claim_victory and rematch.
    ActionAck {
        id: Option<String>,
        #[serde(flatten)]
        ack: ActionAck,
    },
    /// The reply to `input`: it will take effect in tick `tick` (unless a later input of yours
    /// in the same tick replaces it). Not an acknowledgement of durability.
    InputAccepted {
        id: Option<String>,
        game_id: Uuid,
        tick: u64,
    },
    /// A request failed; `id` echoes the request's id. Nothing changed.
    Error {
        id: Option<String>,
        code: ErrorCode,
        message: String,
        /// `unsupported_protocol` only: the versions this server speaks.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        supported: Vec<u32>,
    },
    /// The reply to `ping`.
    Pong {
        id: Option<String>,
        server_time: DateTime<Utc>,
    },
    /// The reply to `chat_subscribe`: `entries` are the history (or the missed entries),
    /// oldest first; live `chat` messages with greater seqs follow.
    ChatSubscribed {
        id: Option<String>,
        room: String,
        /// The room's last seq at subscription time.
        last_seq: u64,
        entries: Vec<ChatEntry>,
        /// Older entries exist (page with `chat_history`).
        has_more: bool,
        /// `true` when `since_seq` could not be served entry by entry: replace local state.
        resync: bool,
    },
    ChatUnsubscribed {
        id: Option<String>,
        room: String,
    },
    /// A new entry of a followed room. Per room, `seq` increases by exactly 1.
    Chat(ChatEntry),
    /// The reply to `chat_send` and `chat_delete`: the entry is durably stored as `seq`.
    ChatAck {
        id: Option<String>,
        room: String,
        seq: u64,
    },
    /// The reply to `chat_history`.
    ChatHistory {
        id: Option<String>,
        #[serde(flatten)]
        page: ChatPage,
    },
    /// The reply to `leaderboard_subscribe`: the board now.
    LeaderboardSubscribed {
        id: Option<String>,
        #[serde(flatten)]
        board: Leaderboard,
    },
    /// The reply to `leaderboard_unsubscribe`.
    LeaderboardUnsubscribed {
        id: Option<String>,
        kind: String,
    },
    /// A followed leaderboard changed (at most one per board per second).
    LeaderboardUpdate(LeaderboardUpdate),
    /// The reply to `rating_subscribe`.
    RatingSubscribed {
        id: Option<String>,
    },
    /// The reply to `rating_unsubscribe`.
    RatingUnsubscribed {
        id: Option<String>,
    },
    /// Your rating changed: a rated session of yours ended.
    RatingUpdate(RatingUpdate),
    /// A matchmaking ticket of yours: the reply to `matchmaking_join` / `matchmaking_cancel`
    /// (with their `id`), and pushed (`id` null) on every connection of yours when it is
    /// matched (both players at once) or expires.
    Ticket {
        id: Option<String>,
        ticket: crate::matchmaking::Ticket,
    },
    /// A new notification of yours (also stored: `GET /api/v1/notifications`), pushed on every
    /// connection of yours.
    Notification(crate::social::Notification),
    /// A friend came online, started or finished a game, or went offline (coalesced).
    Presence(crate::social::PresenceUpdate),
}

/// The machine-readable JSON Schema of both directions, as checked in under
/// `docs/protocol.schema.json`.
pub fn json_schema() -> serde_json::Value {
    let client = schemars::schema_for!(ClientMessage);
    let server = schemars::schema_for!(ServerMessage);
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Versus WebSocket protocol",
        "description": format!("Protocol version {PROTOCOL_VERSION}. See docs/PROTOCOL.md."),
        "version": PROTOCOL_VERSION,
        "client_to_server": client,
        "server_to_client": server,
    })
}

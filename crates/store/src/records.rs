//! Plain records the store reads and writes. No behaviour beyond conversions.

use uuid::Uuid;

/// A player row.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerRecord {
    pub id: Uuid,
    pub username: String,
    /// The email address sealed by the server (`SealedEmail::sealed`); the store never sees
    /// it in clear.
    pub email_sealed: Option<String>,
    /// argon2id PHC string; `None` for guests.
    pub password_hash: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub guest: bool,
    pub created_at_ms: i64,
}

/// An email address as stored: sealed by the server with an authenticated cipher, and its
/// keyed hash, on which uniqueness and login by email rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEmail {
    pub sealed: String,
    pub index: String,
}

/// A row whose email address is to be (re)sealed: in clear from before sealing existed, or
/// sealed under a key that is no longer current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailToReseal {
    pub player_id: Uuid,
    /// The address in clear (a row from before migration 0008).
    pub plain: Option<String>,
    pub sealed: Option<String>,
}

/// What [`crate::Store::create_player`] needs.
#[derive(Debug, Clone)]
pub struct NewPlayer {
    pub id: Uuid,
    pub username: String,
    pub email: Option<SealedEmail>,
    pub password_hash: Option<String>,
    pub guest: bool,
    pub created_at_ms: i64,
}

/// A profile change: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub display_name: Option<Option<String>>,
    pub bio: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
}

/// A bearer token, stored only as the hex SHA-256 of the token.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub token_hash: String,
    pub player_id: Uuid,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub token_hash: String,
    pub player_id: Uuid,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

// --- games, sessions, seats and the journal ------------------------------------------------

/// A game: what a player creates (kind, name, settings). Its play-throughs are sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct GameRecord {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    /// The settings as JSON text (the server owns their shape).
    pub settings: String,
    /// `public` or `private`.
    pub visibility: String,
    pub rated: bool,
    pub created_by: Uuid,
    pub created_at_ms: i64,
    /// The latest session (a rematch creates a new one).
    pub current_session_id: Option<Uuid>,
}

/// What [`crate::Store::create_game`] inserts for the game row.
#[derive(Debug, Clone)]
pub struct NewGame {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub settings: String,
    pub visibility: String,
    pub rated: bool,
    pub created_by: Uuid,
    pub created_at_ms: i64,
}

/// One play-through of a game.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub game_id: Uuid,
    /// 1 for the first session of a game, 2 for the first rematch, …
    pub number: i64,
    /// `waiting`, `in_progress`, `finished` or `aborted`.
    pub state: String,
    pub start_time_ms: Option<i64>,
    pub end_time_ms: Option<i64>,
    /// The result as JSON text, once finished or aborted.
    pub result: Option<String>,
    /// The sequence number of the last journal event (0 before the first).
    pub last_seq: i64,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub game_id: Uuid,
    pub number: i64,
    pub state: String,
    pub start_time_ms: Option<i64>,
    pub created_at_ms: i64,
}

/// A player's place in a session (the seed's `PlayerGameSessions`), with the username joined in.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatRecord {
    pub session_id: Uuid,
    pub seat: i64,
    pub player_id: Uuid,
    pub username: String,
    /// `win`, `loss`, `draw` or `aborted` once the session is over.
    pub result: Option<String>,
    pub score: Option<f64>,
    pub joined_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewSeat {
    pub session_id: Uuid,
    pub seat: i64,
    pub player_id: Uuid,
    pub joined_at_ms: i64,
}

/// A seat's final result, written when the session ends.
#[derive(Debug, Clone)]
pub struct SeatResult {
    pub session_id: Uuid,
    pub seat: i64,
    pub result: String,
    pub score: f64,
    /// Real-time kinds: the points the seat scored in the session; added to the player's
    /// points for the kind (`kind_points`) when the session finishes.
    pub points: Option<i64>,
}

/// One event of a session's journal. `(session_id, seq)` is unique and gap-free from 1;
/// `(session_id, player_id, client_move_id)` is unique when `client_move_id` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub session_id: Uuid,
    pub seq: i64,
    pub at_ms: i64,
    /// e.g. `seat_taken`, `started`, `moved`, `ended` (the server owns the vocabulary).
    pub event_type: String,
    pub player_id: Option<Uuid>,
    pub client_move_id: Option<String>,
    /// The event body as JSON text.
    pub payload: String,
}

/// The session row's new state, written with an event.
#[derive(Debug, Clone)]
pub struct SessionUpdate {
    pub state: String,
    /// Set when `Some` (never cleared).
    pub start_time_ms: Option<i64>,
    /// Set when `Some` (never cleared).
    pub end_time_ms: Option<i64>,
    /// Set when `Some` (never cleared).
    pub result: Option<String>,
}

/// A new session with its seats and first events: a game's first session, or a rematch.
/// Inserting it also makes it the game's `current_session_id`.
#[derive(Debug, Clone)]
pub struct NewSessionBundle {
    pub session: NewSession,
    pub seats: Vec<NewSeat>,
    pub events: Vec<EventRecord>,
}

/// One append to the journal and everything that must commit with it, atomically.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub event: EventRecord,
    /// Changes to the event's session row (its `last_seq` is always set to `event.seq`).
    pub session: Option<SessionUpdate>,
    /// A seat taken by this event.
    pub seat: Option<NewSeat>,
    /// Final per-seat results written by this event.
    pub seat_results: Vec<SeatResult>,
    /// A session created by this event (a rematch).
    pub new_session: Option<NewSessionBundle>,
    /// The writer's lease fencing number: when set, the append is refused (`Fenced`) unless
    /// the game's lease still carries exactly this number.
    pub fence: Option<i64>,
}

impl JournalEntry {
    /// An entry that appends only the event.
    pub fn event(event: EventRecord) -> Self {
        JournalEntry {
            event,
            session: None,
            seat: None,
            seat_results: Vec::new(),
            new_session: None,
            fence: None,
        }
    }
}

/// A page of the lobby: games whose current session matches.
#[derive(Debug, Clone, Default)]
pub struct LobbyQuery {
    /// Only games whose current session is in this state.
    pub state: Option<String>,
    pub kind: Option<String>,
    /// Only public games unless set.
    pub include_private: bool,
    /// Only games with a seat held by this player.
    pub player_id: Option<Uuid>,
    pub limit: i64,
    pub offset: i64,
}

/// A lobby row: the game, its current session and that session's seats.
#[derive(Debug, Clone, PartialEq)]
pub struct LobbyEntry {
    pub game: GameRecord,
    pub session: SessionRecord,
    pub seats: Vec<SeatRecord>,
}

/// The result of trying to take a game's lease.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseOutcome {
    /// This node holds the lease now, with `fence`.
    Acquired {
        fence: i64,
        /// The previous holder, if any held it before.
        previous_owner: Option<String>,
        /// When the previous holder was last known alive (its last renewal or release).
        previous_alive_ms: i64,
        /// Whether the previous holder released it on purpose (else it died or was cut off).
        previous_released: bool,
    },
    /// Another node holds a live lease until `expires_at_ms`.
    Held { owner: String, expires_at_ms: i64 },
    /// No such game.
    NotFound,
}

// --- chat (issue 8) ----------------------------------------------------------------------------

/// What a chat entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    /// Written by a player.
    Message,
    /// Written by the server (derived from game events).
    System,
    /// The author deleted the message `target_seq`.
    Deletion,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Message => "message",
            ChatKind::System => "system",
            ChatKind::Deletion => "deletion",
        }
    }

    pub fn parse(s: &str) -> Option<ChatKind> {
        match s {
            "message" => Some(ChatKind::Message),
            "system" => Some(ChatKind::System),
            "deletion" => Some(ChatKind::Deletion),
            _ => None,
        }
    }
}

/// What [`crate::Store::append_chat`] needs: the room assigns the seq.
#[derive(Debug, Clone)]
pub struct NewChatEntry {
    pub room: String,
    pub at_ms: i64,
    pub kind: ChatKind,
    pub author_id: Option<Uuid>,
    pub body: Option<String>,
    /// `Deletion` only: the seq of the author's message to delete.
    pub target_seq: Option<i64>,
}

/// A stored chat entry, with its author's username.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRecord {
    pub room: String,
    pub seq: i64,
    pub at_ms: i64,
    pub kind: ChatKind,
    pub author_id: Option<Uuid>,
    pub author_username: Option<String>,
    /// `None` once deleted.
    pub body: Option<String>,
    pub target_seq: Option<i64>,
    pub deleted: bool,
}

/// A player's chat mute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuteRecord {
    pub player_id: Uuid,
    pub until_ms: i64,
    /// `operator` or `flood`.
    pub reason: String,
}

// --- ratings, statistics and leaderboards (issue 7) ----------------------------------------

/// A player's rating and statistics in one game kind (all finished games count in the
/// statistics; only rated ones move the rating).
#[derive(Debug, Clone, PartialEq)]
pub struct RatingRecord {
    pub player_id: Uuid,
    pub username: String,
    pub kind: String,
    pub rating: f64,
    pub deviation: f64,
    pub volatility: f64,
    /// The rating rounded: what the leaderboard ranks by.
    pub score: i64,
    /// The highest score reached after a rated game.
    pub peak: i64,
    pub rated_games: i64,
    pub games: i64,
    pub wins: i64,
    pub losses: i64,
    pub draws: i64,
    /// Positive: wins in a row; negative: losses in a row; 0 after a draw.
    pub streak: i64,
    pub updated_at_ms: i64,
}

/// One leaderboard line: the rank (1 = best; ties on score ordered by player id, so ranks
/// are distinct and stable) and the player's rating.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderboardRow {
    pub rank: i64,
    pub rating: RatingRecord,
}

/// A line of a kind's points leaderboard (real-time kinds).
#[derive(Debug, Clone, PartialEq)]
pub struct PointsRow {
    pub player_id: Uuid,
    pub username: String,
    pub points: i64,
    pub sessions: i64,
}

/// A page of a player's finished sessions, newest first.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub player_id: Uuid,
    pub kind: Option<String>,
    /// Only sessions that ended before this one (the previous page's last session).
    pub before_session: Option<Uuid>,
    pub limit: i64,
}

/// One finished session in a player's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub game_id: Uuid,
    pub session_id: Uuid,
    pub kind: String,
    pub rated: bool,
    pub end_time_ms: i64,
    pub seat: i64,
    /// `win`, `loss` or `draw`.
    pub result: String,
    /// The other players of the session: (id, username).
    pub opponents: Vec<(Uuid, String)>,
    /// The player's rating before and after (rated sessions only).
    pub rating_before: Option<f64>,
    pub rating_after: Option<f64>,
}

/// A point of a player's rating history in one kind: the rating after a rated session.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingPoint {
    pub session_id: Uuid,
    pub at_ms: i64,
    pub rating: f64,
}

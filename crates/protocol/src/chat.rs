//! Chat (issue 8): rooms, their entries, and the REST bodies of chat.
//!
//! A room is named by a string: `lobby`, `game:<game_id>:players` (the seated players of the
//! game's current session) or `game:<game_id>:spectators` (everyone else; the players may
//! read and write it once the session is over). Every entry of a room has a `seq`: 1, 2, 3, …
//! with no gaps, assigned when the entry is durably stored; a client resumes a room with the
//! last `seq` it saw, like game events. Deleting a message is itself an entry (`deletion`,
//! naming `target_seq`) in the same sequence.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::games::PlayerRef;

/// Longest chat message, in characters (after control characters are stripped).
pub const CHAT_MAX_CHARS: usize = 500;

/// The lobby's room name.
pub const LOBBY_ROOM: &str = "lobby";

/// What a chat entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatEntryKind {
    /// Written by a player (`author`, `text`; `text` is null and `deleted` true once the author
    /// deleted it).
    Message,
    /// Written by the server: joins, leaves, disconnects, draw offers, results.
    System,
    /// The author deleted their message `target_seq`: show it as deleted.
    Deletion,
    /// A message by a player you block: nothing to show (it keeps the sequence gap-free).
    Hidden,
}

/// One entry of a chat room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ChatEntry {
    pub room: String,
    /// Per room: 1, 2, 3, … with no gaps.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub kind: ChatEntryKind,
    /// The writer (`message`, `deletion`); null for `system` and `hidden`.
    pub author: Option<PlayerRef>,
    /// The message (`message`, `system`); null when deleted or hidden.
    pub text: Option<String>,
    /// `deletion`: the seq of the deleted message.
    pub target_seq: Option<u64>,
    /// `message`: the author deleted it.
    pub deleted: bool,
}

/// A page of a room's history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ChatPage {
    pub room: String,
    pub entries: Vec<ChatEntry>,
    /// The room's last seq when the page was read.
    pub last_seq: u64,
    /// Older entries exist: ask again with `before` = the first entry's seq.
    pub has_more: bool,
}

/// `POST /api/v1/games/{id}/chat` and `POST /api/v1/lobby/chat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatPostRequest {
    /// 1–500 characters: control characters are stripped and surrounding whitespace trimmed,
    /// and what is left must not be empty.
    #[schema(max_length = 500)]
    pub text: String,
    /// Game chat only: `players` or `spectators` (default: the room you belong to).
    #[serde(default)]
    pub room: Option<GameChatSide>,
}

/// Which of a game's two rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GameChatSide {
    Players,
    Spectators,
}

/// The reply to a chat post or delete: the entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ChatPosted {
    pub entry: ChatEntry,
}

/// `GET /api/v1/me/blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct BlockList {
    pub players: Vec<PlayerRef>,
}

//! Social (issue 9): friends and their presence, invites to a seat in a game (to a player or
//! by link), and notifications.
//!
//! Presence is one of `online`, `in_game` (with the game) or `offline` (with when the player
//! was last seen). Notifications are stored and also delivered live over the WebSocket
//! (`notification`); friends' presence changes arrive as `presence` messages.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::games::PlayerRef;

/// Where a player is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Connected (a WebSocket on some node), not seated in a running game.
    Online,
    /// Connected and seated in a game session in progress (`game_id`).
    InGame,
    /// No connection anywhere (`last_seen` when known).
    Offline,
}

/// A player's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Presence {
    pub status: PresenceStatus,
    /// The game the player is playing (`in_game` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game_id: Option<Uuid>,
    /// When the player's last connection went away (`offline` only, when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
}

/// One of your friends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Friend {
    pub player: PlayerRef,
    /// Friends since.
    pub since: DateTime<Utc>,
    pub presence: Presence,
}

/// A pending friend request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct FriendRequest {
    pub from: PlayerRef,
    pub to: PlayerRef,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/v1/friends`: your friends (by username) and your pending requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct FriendList {
    pub friends: Vec<Friend>,
    /// Requests other players sent you.
    pub incoming: Vec<FriendRequest>,
    /// Requests you sent.
    pub outgoing: Vec<FriendRequest>,
}

/// `POST /api/v1/friends/requests` body: whom to ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FriendRequestCreate {
    /// The other player's username.
    #[schema(min_length = 3, max_length = 24, pattern = "^[A-Za-z0-9_-]{3,24}$")]
    pub username: String,
}

/// What sending a friend request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FriendRequestStatus {
    /// The request waits for the other player.
    Sent,
    /// You are friends (the other player had asked you too, or you already were).
    Friends,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct FriendRequestResult {
    pub status: FriendRequestStatus,
}

/// The state of an invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InviteState {
    Pending,
    Accepted,
    Declined,
    /// Cancelled by its sender (a link: revoked).
    Cancelled,
    /// Not answered in time.
    Expired,
}

/// An invite to a seat in a game: to one player, or a link anyone holding its code may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Invite {
    pub id: Uuid,
    pub game_id: Uuid,
    pub from: PlayerRef,
    /// The invited player (absent for a link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<PlayerRef>,
    /// A link invite.
    pub link: bool,
    pub state: InviteState,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/v1/games/{id}/invites` body: whom to invite (a friend or any player).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteCreate {
    /// The invited player's username.
    #[schema(min_length = 3, max_length = 24, pattern = "^[A-Za-z0-9_-]{3,24}$")]
    pub username: String,
}

/// A new invite link. The code is shown only here: the server keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct InviteLink {
    pub invite: Invite,
    /// 256 random bits, base64url.
    pub code: String,
    /// The web client's path that joins with this code (`/invite/<code>`).
    pub path: String,
}

/// `GET /api/v1/invite-links/{code}`: what a link invites to, before using it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct InviteLinkInfo {
    /// The invite (its `state` says whether it can still be used).
    pub invite: Invite,
    /// The game's kind id.
    pub kind: String,
    /// The game's name.
    pub name: String,
}

/// `GET /api/v1/invites`: your pending invites, sent and received, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct InviteList {
    pub received: Vec<Invite>,
    pub sent: Vec<Invite>,
}

/// Accepting an invite: you hold a seat in `game_id` now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct InviteAccepted {
    pub game_id: Uuid,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// `data`: `{from: PlayerRef}`.
    FriendRequest,
    /// `data`: `{friend: PlayerRef}`.
    FriendAccepted,
    /// `data`: `{invite: Invite, kind}`.
    Invite,
    /// `data`: `{game_id}`.
    GameStarted,
    /// `data`: `{game_id}`.
    YourTurn,
    /// `data`: `{game_id, result}`.
    GameResult,
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Notification {
    /// Sorts by creation.
    pub id: Uuid,
    pub kind: NotificationKind,
    /// What it is about (see the kind).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

/// `GET /api/v1/notifications`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct NotificationPage {
    pub notifications: Vec<Notification>,
    /// How many of yours are unread (all of them, not only this page).
    pub unread: i64,
}

/// `POST /api/v1/notifications/read` body: which to mark read (all when absent).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationsRead {
    /// At most [`NotificationsRead::MAX_IDS`] (1000) ids; ids that are not yours are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 1000)]
    pub ids: Option<Vec<Uuid>>,
}

impl NotificationsRead {
    /// The most ids one request may name.
    pub const MAX_IDS: usize = 1000;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct NotificationsMarked {
    /// How many changed from unread to read.
    pub marked: u64,
}

/// A friend's presence changed (WebSocket `presence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct PresenceUpdate {
    pub player: PlayerRef,
    pub presence: Presence,
}

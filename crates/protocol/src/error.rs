//! Error bodies: RFC 9457 `application/problem+json` with a stable machine-readable `code`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error code a client can receive, over REST (`code` in the problem body) or the
/// WebSocket. Codes are stable: clients branch on them, humans read `title`/`detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request body is not valid JSON, or not the expected shape.
    MalformedRequest,
    /// A field broke a rule; `errors` says which field and why.
    ValidationFailed,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The request's `Content-Type` is not `application/json`.
    UnsupportedMediaType,
    /// No bearer token, or a token that is unknown, expired or revoked.
    Unauthorized,
    /// The player is known but may not do this.
    Forbidden,
    /// No such resource (or it is private and the caller may not see it).
    NotFound,
    /// The username is taken (usernames are unique ignoring case).
    UsernameTaken,
    /// The email address belongs to another account.
    EmailTaken,
    /// Login or password did not match.
    InvalidCredentials,
    /// Too many requests or failed attempts; retry after `Retry-After` seconds.
    RateLimited,
    /// The HTTP method is not allowed on this route.
    MethodNotAllowed,
    /// The server is not ready (e.g. the database is unreachable).
    Unavailable,
    /// Something failed inside the server. Details are logged, never sent.
    Internal,
    /// No such game kind.
    UnknownKind,
    /// The move is not well-formed for this kind (wrong shape, out of range, bad notation).
    MalformedMove,
    /// The move is well-formed but not legal in this position.
    IllegalMove,
    /// It is the other player's turn.
    NotYourTurn,
    /// The session is over (finished or aborted): no more moves or actions.
    GameOver,
    /// The caller holds no seat in this session.
    NotAParticipant,
    /// Every seat is taken.
    GameFull,
    /// The caller already holds a seat in this session.
    AlreadySeated,
    /// The action does not fit the session's state (e.g. abort after both sides moved, a
    /// draw answer with no offer pending, claiming a win while the opponent's seat is held).
    InvalidState,
    /// This kind does not support the action (e.g. draw offers in tic-tac-toe).
    NotSupported,
    /// The WebSocket protocol version is not supported; see `supported` in the message.
    UnsupportedProtocol,
    /// The first WebSocket message must be `hello` with a token.
    HelloRequired,
    /// The game's actor is saturated; retry shortly.
    Overloaded,
    /// The client is not subscribed to that game.
    NotSubscribed,
    /// A chat message with nothing left after control characters are stripped.
    ChatEmpty,
    /// A chat message over 500 characters.
    ChatTooLong,
    /// Too many chat messages in this room; retry after the `Retry-After` seconds.
    ChatRateLimited,
    /// The player may not chat until the mute ends (an operator's, or after flooding).
    Muted,
    /// Guests may chat only in games, not in the lobby.
    GuestsNotAllowed,
    /// A per-player quota is used up (open games, WebSocket connections); free one first.
    LimitReached,
    /// Real-time input refused: it would reverse the cycle into its own trail.
    Reversal,
    /// Real-time input refused: your cycle is out for the rest of this round.
    Eliminated,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedRequest => "malformed_request",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::UsernameTaken => "username_taken",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::UnknownKind => "unknown_kind",
            ErrorCode::MalformedMove => "malformed_move",
            ErrorCode::IllegalMove => "illegal_move",
            ErrorCode::NotYourTurn => "not_your_turn",
            ErrorCode::GameOver => "game_over",
            ErrorCode::NotAParticipant => "not_a_participant",
            ErrorCode::GameFull => "game_full",
            ErrorCode::AlreadySeated => "already_seated",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::NotSupported => "not_supported",
            ErrorCode::UnsupportedProtocol => "unsupported_protocol",
            ErrorCode::HelloRequired => "hello_required",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::NotSubscribed => "not_subscribed",
            ErrorCode::ChatEmpty => "chat_empty",
            ErrorCode::ChatTooLong => "chat_too_long",
            ErrorCode::ChatRateLimited => "chat_rate_limited",
            ErrorCode::Muted => "muted",
            ErrorCode::GuestsNotAllowed => "guests_not_allowed",
            ErrorCode::LimitReached => "limit_reached",
            ErrorCode::Reversal => "reversal",
            ErrorCode::Eliminated => "eliminated",
        }
    }
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct FieldError {
    /// The JSON field name, e.g. `username`.
    pub field: String,
    /// A machine-readable reason, e.g. `too_short`, `invalid_characters`.
    pub reason: String,
    /// A sentence for humans.
    pub message: String,
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:versus:error:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// A human-readable explanation specific to this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The stable machine-readable error code.
    pub code: ErrorCode,
    /// The request id (also in the `x-request-id` response header), for support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Per-field validation failures (`validation_failed` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

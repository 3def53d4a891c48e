//! Plain records the store reads and writes. No behaviour beyond conversions.

use uuid::Uuid;

/// A player row.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerRecord {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    /// argon2id PHC string; `None` for guests.
    pub password_hash: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub guest: bool,
    pub created_at_ms: i64,
}

/// What [`crate::Store::create_player`] needs.
#[derive(Debug, Clone)]
pub struct NewPlayer {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
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

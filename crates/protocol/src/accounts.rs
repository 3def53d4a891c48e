//! Accounts: registration, login, guests, tokens and profiles.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/v1/auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–24 characters: letters, digits, `_` and `-`. Unique ignoring case.
    #[schema(min_length = 3, max_length = 24, pattern = "^[A-Za-z0-9_-]{3,24}$")]
    pub username: String,
    /// A valid email address, unique ignoring case. Never shown to other players.
    #[schema(max_length = 254)]
    pub email: String,
    /// At least 8 characters (at most 256).
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The username or the email address (at most 254 bytes; longer is refused with 401).
    #[schema(max_length = 254)]
    pub login: String,
    /// At most 256 characters, like every password (longer is refused with 401 before any
    /// hashing, and not counted as a failure).
    #[schema(max_length = 256)]
    pub password: String,
}

/// A player as everyone may see them (never the email).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct PublicPlayer {
    pub id: Uuid,
    pub username: String,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    /// Guests are created by `POST /api/v1/auth/guest` and have no password.
    pub guest: bool,
    pub created_at: DateTime<Utc>,
}

/// The caller's own account (`GET /api/v1/me`): the public profile plus private fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Me {
    #[serde(flatten)]
    pub player: PublicPlayer,
    /// `null` for guests.
    pub email: Option<String>,
}

/// Returned by register, guest and login: a bearer token and who it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct AuthResponse {
    /// Opaque bearer token: send it as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub player: Me,
}

/// `PATCH /api/v1/me`: every field optional; `null` for a profile field clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// Up to 40 characters, no control characters. `null` clears it.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, max_length = 40)]
    #[schemars(with = "Option<String>")]
    pub display_name: Option<Option<String>>,
    /// Up to 500 characters. `null` clears it.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, max_length = 500)]
    #[schemars(with = "Option<String>")]
    pub bio: Option<Option<String>>,
    /// An `https://` or `http://` URL, up to 500 characters. `null` clears it.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, max_length = 500)]
    #[schemars(with = "Option<String>")]
    pub avatar_url: Option<Option<String>>,
    /// A password change: needs `old_password`; revokes every other token of the player.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub new_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub old_password: Option<String>,
}

/// Distinguishes "absent" (`None`) from "null" (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S, T>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: Serialize,
    {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Health {
    /// `ok`, or `unavailable` (readiness only).
    pub status: String,
}

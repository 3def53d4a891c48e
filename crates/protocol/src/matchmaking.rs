//! Matchmaking ("play now", issue 9): tickets over REST (`/api/v1/matchmaking/tickets`) and
//! the WebSocket (`matchmaking_join`, `matchmaking_cancel`, `ticket`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::games::{PlayerRef, TimeControl};

/// Ask to be paired with another player of a close rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    /// A kind id (see `GET /api/v1/kinds`).
    #[schema(max_length = 32)]
    pub kind: String,
    /// `null` (or absent) for no clock. Only players asking for the same time control are
    /// paired.
    #[serde(default)]
    pub time_control: Option<TimeControl>,
    /// Rated or casual; only players asking for the same are paired.
    #[serde(default)]
    pub rated: bool,
}

/// Where a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// In the pool, waiting for a partner.
    Waiting,
    /// Paired: `game_id` is the game both players are seated in.
    Matched,
    /// Cancelled by its player.
    Cancelled,
    /// Its player's last connection went away (and the grace period ran out).
    Expired,
}

/// A matchmaking ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Ticket {
    pub id: Uuid,
    pub kind: String,
    pub time_control: Option<TimeControl>,
    pub rated: bool,
    /// The player's Glicko-2 rating for the kind when the ticket was made (1500 if unrated).
    pub rating: f64,
    pub state: TicketState,
    pub created_at: DateTime<Utc>,
    /// When it was matched, cancelled or expired.
    pub ended_at: Option<DateTime<Utc>>,
    /// The largest rating difference the ticket accepts now (waiting) or accepted when it was
    /// paired: `min(base + rate × seconds waited, max)`.
    pub max_gap: f64,
    /// Set once matched: the game both players are seated in.
    pub game_id: Option<Uuid>,
    /// Set once matched.
    pub opponent: Option<PlayerRef>,
}

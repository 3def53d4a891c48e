//! Real-time games (kind `lightcycles`): the inputs clients send, the per-tick deltas the
//! server broadcasts, and the session parameters stored with the game's `started` event.
//!
//! These mirror `versus_rules::lightcycles` field for field (the JSON is identical; a server
//! unit test checks it), so clients, the load generator and the generated web types need no
//! rules crate. docs/PROTOCOL.md ("Real-time games") describes the flow.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A direction of travel. `up` decreases `y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    Left,
    Right,
}

/// Everything a session's simulation depends on, fixed when it starts (in its `started`
/// event), so a replay of the journal is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct RealtimeConfig {
    pub width: u16,
    pub height: u16,
    pub players: u32,
    pub points_to_win: u32,
    /// Seed of the spawn positions.
    pub seed: u64,
    /// Ticks the cycles stand still after each spawn.
    pub countdown_ticks: u32,
    /// Milliseconds between ticks (50 = 20 Hz). Informational: the rules count ticks only.
    pub tick_ms: u32,
}

/// An accepted input, as journaled: it took effect in tick `tick`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct TickInput {
    pub tick: u64,
    pub seat: u32,
    pub dir: Direction,
}

/// One cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Cycle {
    pub x: u16,
    pub y: u16,
    /// The direction it moved in last (or was spawned facing).
    pub dir: Direction,
    pub alive: bool,
}

/// Why a cycle was eliminated: `wall`, `trail` (with `owner`), `head_on` (with `with`) or
/// `same_cell` (with `with`: the other seats).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Elimination {
    pub seat: u32,
    /// `wall`, `trail`, `head_on` or `same_cell`.
    pub cause: String,
    /// `trail`: whose trail (may be the cycle's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<u32>,
    /// `head_on`: a seat; `same_cell`: a list of seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub with: Option<serde_json::Value>,
}

/// The end of a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct RoundEnd {
    pub round: u32,
    /// The survivor, who scored a point; `null` for a draw round.
    pub winner: Option<u32>,
    /// Scores after this round, by seat.
    pub scores: Vec<u32>,
}

/// The start of a round: the board is cleared and the cycles respawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct RoundStart {
    pub round: u32,
    /// By seat.
    pub spawns: Vec<Cycle>,
    /// Cycles stand still through this tick number and move from the next one.
    pub frozen_until: u64,
}

/// What changed in one tick. Empty parts are omitted, so a typical tick is
/// `{"tick":123,"steps":[[0,12,30],[1,35,17]]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct TickDelta {
    /// The tick number this delta brings the state to.
    pub tick: u64,
    /// New heads of the cycles that moved: `[seat, x, y]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<(u32, u16, u16)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eliminations: Vec<Elimination>,
    /// Score changes: set in the tick a round ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_end: Option<RoundEnd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_start: Option<RoundStart>,
    /// Set in the tick the session is won.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<u32>,
}

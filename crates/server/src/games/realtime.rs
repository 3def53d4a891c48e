//! Real-time kinds (light cycles): the conversions between the rules' simulation types and
//! their wire mirrors in `versus_protocol::realtime`, and the session parameters.
//!
//! The actor owns the tick loop (`actor.rs`); the committed simulation is part of the
//! session's fold (`state.rs`). Nothing here does I/O.

use std::time::Duration;

use versus_protocol::GameSettings;
use versus_protocol::realtime::{Direction, RealtimeConfig, RoundStart, TickDelta};
use versus_rules::lightcycles;

/// Default number of players of a real-time game.
pub const DEFAULT_PLAYERS: u32 = 2;
/// Default points that win a session.
pub const DEFAULT_POINTS: u32 = 3;
/// Largest `points_to_win` a game may ask for.
pub const MAX_POINTS: u32 = 25;

/// The seats of a game of kind `info` with `settings`.
pub fn seats(info: &versus_rules::KindInfo, settings: &GameSettings) -> usize {
    if info.realtime {
        settings
            .players
            .map(|p| p as usize)
            .unwrap_or(DEFAULT_PLAYERS as usize)
            .clamp(info.min_seats, info.max_seats)
    } else {
        info.max_seats
    }
}

/// The parameters of a session that starts now, with `seed`.
pub fn config(
    settings: &GameSettings,
    players: usize,
    seed: u64,
    tick: Duration,
    countdown: Duration,
) -> RealtimeConfig {
    let side: u16 = match players {
        0..=2 => 40,
        _ => 56,
    };
    let tick_ms = tick.as_millis().max(1);
    RealtimeConfig {
        width: side,
        height: side,
        players: players as u32,
        points_to_win: settings
            .points_to_win
            .unwrap_or(DEFAULT_POINTS)
            .clamp(1, MAX_POINTS),
        seed,
        countdown_ticks: u32::try_from(countdown.as_millis() / tick_ms).unwrap_or(u32::MAX),
        tick_ms: u32::try_from(tick_ms).unwrap_or(u32::MAX),
    }
}

/// The rules' config for a session's parameters.
pub fn rules_config(c: &RealtimeConfig) -> lightcycles::Config {
    lightcycles::Config {
        width: c.width,
        height: c.height,
        players: c.players as usize,
        points_to_win: c.points_to_win,
        seed: c.seed,
        countdown_ticks: c.countdown_ticks,
    }
}

/// A session's simulation at tick 0.
pub fn start(c: &RealtimeConfig) -> Result<lightcycles::State, String> {
    lightcycles::State::new(rules_config(c)).map_err(|e| format!("bad real-time config: {e}"))
}

/// The current round's start (spawns) of `sim`, on the wire.
pub fn round_start(sim: &lightcycles::State) -> Result<RoundStart, String> {
    let start = lightcycles::RoundStart {
        round: sim.round(),
        spawns: sim.cycles().to_vec(),
        frozen_until: sim.frozen_until(),
    };
    serde_json::to_value(start)
        .and_then(serde_json::from_value)
        .map_err(|e| format!("round start does not convert: {e}"))
}

pub fn rules_dir(d: Direction) -> lightcycles::Direction {
    match d {
        Direction::Up => lightcycles::Direction::Up,
        Direction::Down => lightcycles::Direction::Down,
        Direction::Left => lightcycles::Direction::Left,
        Direction::Right => lightcycles::Direction::Right,
    }
}

/// The wire form of a tick's delta. Both types serialize to the same JSON, so this is a
/// re-reading of it; it cannot fail for values the rules produce.
pub fn wire_delta(d: &lightcycles::TickDelta) -> Result<TickDelta, String> {
    serde_json::to_value(d)
        .and_then(serde_json::from_value)
        .map_err(|e| format!("tick delta does not convert: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_deltas_have_the_rules_json() {
        // Play random-ish sessions and compare the JSON of every delta both ways.
        for seed in 0..20u64 {
            let config = lightcycles::Config {
                width: 8,
                height: 8,
                players: 2 + (seed % 3) as usize,
                points_to_win: 2,
                seed,
                countdown_ticks: 1,
            };
            let mut state = lightcycles::State::new(config).unwrap();
            for t in 0..200u64 {
                let seat = (t % config.players as u64) as usize;
                let dir = lightcycles::Direction::ALL[((t * 7 + seed) % 4) as usize];
                let _ = state.input(seat, dir);
                let delta = state.tick();
                let wire = wire_delta(&delta).unwrap();
                assert_eq!(
                    serde_json::to_value(&wire).unwrap(),
                    serde_json::to_value(&delta).unwrap()
                );
                if state.is_over() {
                    break;
                }
            }
        }
    }
}

//! A session's in-memory state as a pure fold over its journal.
//!
//! [`Live::apply`] is the ONLY way the state changes, both when an actor replays a journal
//! after a restart and when it applies an event it has just committed. So a replayed session
//! is, by construction, the session that was live. No I/O and no clock here: times arrive
//! inside events.

use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;
use versus_protocol::{
    Clocks, EventEnvelope, GameEvent, GameResult, GameSettings, GameView, MoveEntry, Participant,
    PlayerRef, ServerMessage, SessionState,
};
use versus_rules::GameState;

use crate::time_from_ms;

/// The parts of a game that do not change between sessions.
#[derive(Debug, Clone)]
pub struct GameMeta {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub settings: GameSettings,
    pub created_by: Uuid,
    pub created_at_ms: i64,
    pub seats: usize,
    pub supports_draw_offers: bool,
    /// A real-time kind: the actor runs a tick loop while the session is in progress.
    pub realtime: bool,
    /// Real-time kinds: this node's tick period (ms), shown in the game view.
    pub tick_ms: Option<u32>,
}

/// A committed event, with its wire form serialized once for every subscriber.
#[derive(Debug, Clone)]
pub struct Committed {
    pub seq: u64,
    pub at_ms: i64,
    pub event: GameEvent,
    /// `ServerMessage::Event` as JSON text.
    pub wire: bytes::Bytes,
}

/// The acknowledgement remembered for a `(player, client_move_id)`.
#[derive(Debug, Clone)]
pub struct RememberedMove {
    pub seq: u64,
    pub mv: serde_json::Value,
}

/// The current session of a game.
#[derive(Debug)]
pub struct Live {
    pub session_id: Uuid,
    pub number: u32,
    pub state: SessionState,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub result: Option<GameResult>,
    pub seats: Vec<Option<PlayerRef>>,
    pub rules: Box<dyn GameState>,
    pub events: Vec<Committed>,
    pub moves: Vec<MoveEntry>,
    pub acks: HashMap<(Uuid, String), RememberedMove>,
    pub clocks: Option<Clocks>,
    pub draw_offer: Option<u32>,
    pub rematch_offers: BTreeSet<u32>,
    /// Seat-hold deadline (ms) per seat while that player is away.
    pub holds: Vec<Option<i64>>,
    /// Set once a rematch started: the new session.
    pub rematch_session: Option<Uuid>,
    /// Real-time kinds, once started: the simulation as of the last committed tick.
    pub sim: Option<versus_rules::lightcycles::State>,
}

impl Live {
    pub fn new(meta: &GameMeta, session_id: Uuid, number: u32) -> Option<Live> {
        Some(Live {
            session_id,
            number,
            state: SessionState::Waiting,
            start_ms: None,
            end_ms: None,
            result: None,
            seats: vec![None; meta.seats],
            rules: versus_rules::new_game(&meta.kind)?,
            events: Vec::new(),
            moves: Vec::new(),
            acks: HashMap::new(),
            clocks: None,
            draw_offer: None,
            rematch_offers: BTreeSet::new(),
            holds: vec![None; meta.seats],
            rematch_session: None,
            sim: None,
        })
    }

    pub fn last_seq(&self) -> u64 {
        self.events.last().map(|e| e.seq).unwrap_or(0)
    }

    pub fn seat_of(&self, player: Uuid) -> Option<u32> {
        self.seats
            .iter()
            .position(|s| s.as_ref().is_some_and(|p| p.id == player))
            .map(|i| i as u32)
    }

    /// The seat to move while in progress.
    pub fn to_move(&self) -> Option<u32> {
        if self.state != SessionState::InProgress || self.sim.is_some() {
            return None;
        }
        self.rules.status().to_move().map(|s| s as u32)
    }

    /// Folds one event into the state. `Err` means the journal contradicts the rules (a bug
    /// or corruption): the caller must stop using this state.
    pub fn apply(
        &mut self,
        meta: &GameMeta,
        seq: u64,
        at_ms: i64,
        event: GameEvent,
    ) -> Result<(), String> {
        if seq != self.last_seq() + 1 {
            return Err(format!(
                "event seq {seq} does not follow {}",
                self.last_seq()
            ));
        }
        match &event {
            GameEvent::SeatTaken { seat, player } => {
                let slot = self
                    .seats
                    .get_mut(*seat as usize)
                    .ok_or("seat out of range")?;
                *slot = Some(player.clone());
            }
            GameEvent::Started {
                clocks,
                realtime,
                round_start,
            } => {
                self.state = SessionState::InProgress;
                self.start_ms = Some(at_ms);
                self.clocks = clocks.clone();
                if let Some(config) = realtime {
                    let sim = super::realtime::start(config)?;
                    if round_start.as_ref() != Some(&super::realtime::round_start(&sim)?) {
                        return Err("the journaled spawns do not replay".into());
                    }
                    self.sim = Some(sim);
                }
            }
            GameEvent::Ticks { ticks, inputs } => {
                let sim = self
                    .sim
                    .as_mut()
                    .ok_or("ticks before the session started")?;
                for delta in ticks {
                    if delta.tick != sim.tick_count() + 1 {
                        return Err(format!(
                            "tick {} does not follow {}",
                            delta.tick,
                            sim.tick_count()
                        ));
                    }
                    for input in inputs.iter().filter(|i| i.tick == delta.tick) {
                        sim.input(input.seat as usize, super::realtime::rules_dir(input.dir))
                            .map_err(|e| format!("journal input refused: {e}"))?;
                    }
                    let replayed = super::realtime::wire_delta(&sim.tick())?;
                    if &replayed != delta {
                        return Err(format!("tick {} does not replay", delta.tick));
                    }
                }
            }
            GameEvent::Moved {
                seat,
                player_id,
                mv,
                client_move_id,
                clocks,
                ..
            } => {
                self.rules
                    .apply(*seat as usize, mv)
                    .map_err(|e| format!("journal move rejected: {e}"))?;
                self.moves.push(MoveEntry {
                    seq,
                    seat: *seat,
                    player_id: *player_id,
                    mv: mv.clone(),
                    at: time_from_ms(at_ms),
                });
                self.acks.insert(
                    (*player_id, client_move_id.clone()),
                    RememberedMove {
                        seq,
                        mv: mv.clone(),
                    },
                );
                self.clocks = clocks.clone();
                self.draw_offer = None;
                // Moving proves presence (a REST-only player never subscribes).
                if let Some(h) = self.holds.get_mut(*seat as usize) {
                    *h = None;
                }
            }
            GameEvent::DrawOffered { seat } => self.draw_offer = Some(*seat),
            GameEvent::DrawDeclined { .. } => self.draw_offer = None,
            GameEvent::PlayerLeft { seat, hold_until } => {
                if let Some(h) = self.holds.get_mut(*seat as usize) {
                    *h = Some(hold_until.timestamp_millis());
                }
            }
            GameEvent::PlayerReturned { seat } => {
                if let Some(h) = self.holds.get_mut(*seat as usize) {
                    *h = None;
                }
            }
            GameEvent::RematchOffered { seat } => {
                self.rematch_offers.insert(*seat);
            }
            GameEvent::RematchStarted { session_id } => self.rematch_session = Some(*session_id),
            GameEvent::Resumed { clocks, holds, .. } => {
                self.clocks = clocks.clone();
                self.holds = holds
                    .iter()
                    .map(|h| h.map(|t| t.timestamp_millis()))
                    .collect();
                self.holds.resize(meta.seats, None);
            }
            GameEvent::Ended { result, clocks } => {
                self.state = if result.outcome == "aborted" {
                    SessionState::Aborted
                } else {
                    SessionState::Finished
                };
                self.end_ms = Some(at_ms);
                self.result = Some(result.clone());
                self.clocks = clocks.clone();
                self.draw_offer = None;
                self.holds = vec![None; meta.seats];
            }
        }
        let envelope = EventEnvelope {
            game_id: meta.id,
            session_id: self.session_id,
            seq,
            at: time_from_ms(at_ms),
            event: event.clone(),
        };
        let wire: bytes::Bytes = serde_json::to_vec(&wire_message(envelope))
            .map_err(|e| format!("cannot serialize event: {e}"))?
            .into();
        self.events.push(Committed {
            seq,
            at_ms,
            event,
            wire,
        });
        Ok(())
    }

    pub fn envelope(&self, meta: &GameMeta, c: &Committed) -> EventEnvelope {
        EventEnvelope {
            game_id: meta.id,
            session_id: self.session_id,
            seq: c.seq,
            at: time_from_ms(c.at_ms),
            event: c.event.clone(),
        }
    }

    /// The per-seat result strings of a finished session.
    pub fn seat_result(&self, seat: u32) -> Option<String> {
        let r = self.result.as_ref()?;
        Some(
            match (r.outcome.as_str(), r.winner) {
                ("win", Some(w)) if w == seat => "win",
                ("win", _) => "loss",
                ("draw", _) => "draw",
                _ => "aborted",
            }
            .to_string(),
        )
    }

    /// The public view. `connected[seat]` says whether that seat's player is online here.
    pub fn view(&self, meta: &GameMeta, connected: &[bool]) -> GameView {
        GameView {
            id: meta.id,
            kind: meta.kind.clone(),
            name: meta.name.clone(),
            description: meta.description.clone(),
            settings: meta.settings,
            created_by: meta.created_by,
            created_at: time_from_ms(meta.created_at_ms),
            session_id: self.session_id,
            session_number: self.number,
            state: self.state,
            participants: self
                .seats
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    p.as_ref().map(|p| Participant {
                        seat: i as u32,
                        player: p.clone(),
                        connected: connected.get(i).copied().unwrap_or(false),
                        seat_held_until: self.holds.get(i).copied().flatten().map(time_from_ms),
                        result: self.seat_result(i as u32),
                    })
                })
                .collect(),
            moves: self.moves.clone(),
            start_time: self.start_ms.map(time_from_ms),
            end_time: self.end_ms.map(time_from_ms),
            clocks: self.clocks.clone(),
            result: self.result.clone(),
            position: match &self.sim {
                Some(sim) => sim.snapshot_json(),
                // A real-time session has no board before it starts (its size and spawns
                // come with `started`).
                None if meta.realtime => serde_json::Value::Null,
                None => self.rules.view(),
            },
            to_move: self.to_move(),
            draw_offer: self.draw_offer,
            rematch_offers: self.rematch_offers.iter().copied().collect(),
            last_seq: self.last_seq(),
            tick_ms: meta.tick_ms,
        }
    }
}

/// How a committed event is sent to subscribers: `ticks` journal events as `ticks` messages
/// (the deltas only), everything else as `event`.
pub fn wire_message(envelope: EventEnvelope) -> ServerMessage {
    match envelope.event {
        GameEvent::Ticks { ticks, .. } => ServerMessage::Ticks {
            game_id: envelope.game_id,
            session_id: envelope.session_id,
            seq: envelope.seq,
            ticks,
        },
        _ => ServerMessage::Event(envelope),
    }
}

/// Pure clock arithmetic. Times are wall-clock milliseconds.
pub mod clock {
    use versus_protocol::Clocks;

    use crate::time_from_ms;

    /// Fresh clocks for a started session: everyone has `initial_ms`; `running` ticks from `now`.
    pub fn start(
        seats: usize,
        initial_ms: i64,
        increment_ms: i64,
        running: Option<u32>,
        now_ms: i64,
    ) -> Clocks {
        Clocks {
            remaining_ms: vec![initial_ms; seats],
            running,
            increment_ms,
            at: time_from_ms(now_ms),
        }
    }

    /// The running seat's remaining time at `now_ms` (may be ≤ 0: flagged).
    pub fn remaining_now(c: &Clocks, seat: u32, now_ms: i64) -> i64 {
        let base = c.remaining_ms.get(seat as usize).copied().unwrap_or(0);
        if c.running == Some(seat) {
            base - (now_ms - c.at.timestamp_millis()).max(0)
        } else {
            base
        }
    }

    /// When the running clock reaches zero.
    pub fn deadline_ms(c: &Clocks) -> Option<i64> {
        let s = c.running?;
        Some(c.at.timestamp_millis() + c.remaining_ms.get(s as usize).copied().unwrap_or(0).max(0))
    }

    /// The clocks after `mover` moved at `now_ms` (increment added); `next` runs from now.
    /// `None` when the mover's time had already run out.
    pub fn after_move(c: &Clocks, mover: u32, next: Option<u32>, now_ms: i64) -> Option<Clocks> {
        let left = remaining_now(c, mover, now_ms);
        if left <= 0 {
            return None;
        }
        let mut out = c.clone();
        if let Some(slot) = out.remaining_ms.get_mut(mover as usize) {
            *slot = left + c.increment_ms;
        }
        out.running = next;
        out.at = time_from_ms(now_ms);
        Some(out)
    }

    /// The clocks frozen at `now_ms` (every running clock charged up to now, none running).
    pub fn stopped(c: &Clocks, now_ms: i64) -> Clocks {
        let mut out = c.clone();
        if let Some(s) = c.running
            && let Some(slot) = out.remaining_ms.get_mut(s as usize)
        {
            *slot = remaining_now(c, s, now_ms).max(0);
        }
        out.running = None;
        out.at = time_from_ms(now_ms);
        out
    }

    /// After downtime: the running clock is charged only up to `alive_until_ms` (the last
    /// moment the server is known to have been up) and restarts at `now_ms`.
    pub fn resumed(c: &Clocks, alive_until_ms: i64, now_ms: i64) -> Clocks {
        let mut out = c.clone();
        if let Some(s) = c.running
            && let Some(slot) = out.remaining_ms.get_mut(s as usize)
        {
            let charged_until = alive_until_ms.max(c.at.timestamp_millis());
            *slot = remaining_now(c, s, charged_until).max(1);
        }
        out.at = time_from_ms(now_ms);
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_move_charges_the_mover_and_adds_the_increment() {
            let c = start(2, 10_000, 2_000, Some(0), 1_000);
            let after = after_move(&c, 0, Some(1), 4_000).unwrap();
            assert_eq!(after.remaining_ms, vec![9_000, 10_000]);
            assert_eq!(after.running, Some(1));
            assert_eq!(deadline_ms(&after), Some(14_000));
        }

        #[test]
        fn a_move_after_the_flag_is_refused() {
            let c = start(2, 1_000, 0, Some(0), 0);
            assert!(after_move(&c, 0, Some(1), 1_000).is_none());
            assert_eq!(stopped(&c, 5_000).remaining_ms, vec![0, 1_000]);
        }

        #[test]
        fn downtime_is_not_charged() {
            let c = start(2, 10_000, 0, Some(1), 0);
            // Up until 3 s, down until 60 s: only 3 s are charged.
            let r = resumed(&c, 3_000, 60_000);
            assert_eq!(r.remaining_ms, vec![10_000, 7_000]);
            assert_eq!(deadline_ms(&r), Some(67_000));
        }
    }
}

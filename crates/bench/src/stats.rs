//! What a run counts: HDR latency histograms, counters, errors by code, bytes per message,
//! and the verification tallies. One [`Stats`] is shared by every client task of a run behind
//! a plain mutex that is only ever held for a few arithmetic operations (never across an
//! `.await`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// The instant every timestamp a client embeds in a move id or a chat text is measured from
/// (all clients live in this process, so they share the clock).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`].
pub fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// A latency histogram in microseconds (1 µs to 100 s, 3 significant digits).
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds"))
    }
}

impl Latency {
    /// Records a duration given in nanoseconds.
    pub fn record_ns(&mut self, ns: u64) {
        let us = (ns / 1000).clamp(1, 100_000_000);
        // Saturating: a value outside the bounds is clamped above, so this cannot fail.
        let _ = self.0.record(us);
    }

    pub fn record(&mut self, d: Duration) {
        self.record_ns(d.as_nanos() as u64);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn summary(&self) -> LatencySummary {
        let h = &self.0;
        let q = |p: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(p)
            }
        };
        LatencySummary {
            count: h.len(),
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if h.is_empty() { 0 } else { h.max() },
            mean_us: if h.is_empty() { 0.0 } else { h.mean() },
        }
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

/// Everything the clients of a run count.
#[derive(Debug, Default)]
pub struct Stats {
    /// Move sent → the opponent receives the committed `moved` event.
    pub move_to_opponent: Latency,
    /// Move sent → the mover's `move_ack`.
    pub move_to_ack: Latency,
    /// Chat sent → another member of the room receives the entry.
    pub chat_to_member: Latency,
    /// Chat sent → `chat_ack`.
    pub chat_to_ack: Latency,
    /// Matchmaking ticket sent → the `matched` push.
    pub ticket_to_match: Latency,
    /// Connection dropped → resubscribed (every missed event replayed next).
    pub resume: Latency,
    /// WebSocket connect + hello → welcome.
    pub connect: Latency,
    /// Real-time: `input` sent → `input_accepted`.
    pub input_to_ack: Latency,
    /// Real-time: `input` sent → the `ticks` message of the tick it took effect in.
    pub input_to_tick: Latency,

    pub connections_opened: u64,
    pub connections_failed: u64,
    pub connections_live: i64,
    pub moves_sent: u64,
    pub moves_acked: u64,
    pub duplicate_acks: u64,
    /// Open loop: ticks that found it was not the client's turn (the opponent's event was late).
    pub open_loop_late: u64,
    pub sessions_finished: u64,
    pub chat_sent: u64,
    pub chat_acked: u64,
    pub chat_received: u64,
    pub tickets: u64,
    pub tickets_matched: u64,
    pub resumes: u64,
    pub resyncs: u64,
    pub pings: u64,
    /// Real-time: tick deltas received (all clients), and those during the measured run.
    pub rt_ticks: u64,
    pub rt_ticks_in_run: u64,
    /// Real-time: `ticks` messages received.
    pub rt_tick_msgs: u64,
    pub rt_inputs_sent: u64,
    pub rt_inputs_accepted: u64,
    pub rt_sessions_finished: u64,
    /// Real-time: text bytes each player received during the measured run (one entry per
    /// player task that ended).
    pub rt_player_bytes: Vec<u64>,
    /// Real-time: the same bytes summed with their WebSocket frame headers.
    pub rt_wire_bytes: u64,

    pub msgs_sent: u64,
    pub bytes_sent: u64,
    pub msgs_received: u64,
    pub bytes_received: u64,

    /// Error replies by code, and transport failures (`close:<code>`, `connect`, `io`).
    pub errors: BTreeMap<String, u64>,

    pub verify: Verify,
}

/// What the run checked while it measured.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Verify {
    /// Events received (game events and chat entries) whose sequence number was checked.
    pub events_checked: u64,
    /// Sequence numbers skipped (summed over every gap).
    pub seq_gaps: u64,
    /// Events received twice.
    pub seq_duplicates: u64,
    /// Acknowledged moves checked against the game's final state read over REST.
    pub acked_checked_rest: u64,
    /// Acknowledged moves checked against the opponent's received events.
    pub acked_checked_opponent: u64,
    /// Acknowledged moves absent from the final state or from the opponent's stream.
    pub acked_missing: u64,
    /// … of which absent from the final state read over REST.
    pub acked_missing_rest: u64,
    /// … of which absent from the opponent's received events.
    pub acked_missing_opponent: u64,
    /// Acknowledged moves whose opponent did not run to its clean end (aborted while
    /// reconnecting) and had not received them: not evidence either way.
    pub acked_unverifiable: u64,
    /// Real-time: tick deltas that do not follow the previous one (a missing or repeated tick).
    pub tick_gaps: u64,
    /// Matchmaking pairs whose two sides disagree (different game or opponent).
    pub match_mismatches: u64,
    /// Descriptions of the first violations (at most 20).
    pub samples: Vec<String>,
}

impl Verify {
    pub fn violations(&self) -> u64 {
        self.seq_gaps
            + self.seq_duplicates
            + self.acked_missing
            + self.match_mismatches
            + self.tick_gaps
    }

    pub fn note(&mut self, what: String) {
        if self.samples.len() < 20 {
            self.samples.push(what);
        }
    }
}

impl Stats {
    pub fn error(&mut self, code: impl Into<String>) {
        *self.errors.entry(code.into()).or_default() += 1;
    }
}

/// A cloneable handle to the run's [`Stats`].
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<Mutex<Stats>>);

impl Shared {
    /// Locks the stats. Callers do a few updates and drop the guard before any `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Stats> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

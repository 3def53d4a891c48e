//! What every client task of a run shares: the options, the stats, the phase of the run, the
//! connection pacer and the reconnect-storm signal.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::Options;
use crate::stats::Shared;

/// Where the run is. Clients watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Setting up and connecting: clients connect, say hello, subscribe, then wait.
    Connect,
    /// Measuring: play, chat, tickets.
    Run,
    /// Stop sending new work, finish what is in flight, drain, close.
    Stop,
}

/// Hands out connection slots at a fixed rate (`--connect-rate`), so thousands of clients do
/// not open their sockets in the same millisecond. 0 means no pacing.
#[derive(Debug)]
pub struct Pacer {
    next: Mutex<Instant>,
    gap: Duration,
}

impl Pacer {
    pub fn new(rate: f64) -> Pacer {
        let gap = if rate > 0.0 {
            Duration::from_secs_f64(1.0 / rate)
        } else {
            Duration::ZERO
        };
        Pacer {
            next: Mutex::new(Instant::now()),
            gap,
        }
    }

    /// Waits for this caller's slot.
    pub async fn wait(&self) {
        if self.gap.is_zero() {
            return;
        }
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.gap;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// The shared context of a run.
#[derive(Debug)]
pub struct Ctx {
    pub opts: Options,
    pub stats: Shared,
    pub phase: watch::Receiver<Phase>,
    /// Incremented for every reconnect storm: clients drop their socket and resume.
    pub storm: watch::Receiver<u32>,
    pub pacer: Pacer,
    pub storm_pacer: Pacer,
    /// Handshakes (connect, hello, subscribe) in flight at once (`--connect-concurrency`), so
    /// a server slower than the connect rate is not buried under hellos that time out.
    pub connecting: tokio::sync::Semaphore,
}

pub type CtxRef = Arc<Ctx>;

impl Ctx {
    /// A handshake slot: hold it while connecting and subscribing.
    pub async fn connect_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.connecting.acquire().await.ok()
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Waits until the run reaches `phase` (or a later one).
    pub async fn wait_for(&self, phase: Phase) {
        let mut rx = self.phase.clone();
        let _ = rx.wait_for(|p| *p >= phase).await;
    }
}

/// A per-client interval whose first tick is spread over one period (by the client's index),
/// so keepalives and open-loop moves of thousands of clients do not fire in one sweep.
pub fn spread_interval(period: Duration, index: usize, count: usize) -> tokio::time::Interval {
    let count = count.max(1) as u128;
    let offset_ns = period.as_nanos() * (index as u128 % count) / count;
    let start = Instant::now() + Duration::from_nanos(offset_ns as u64);
    let mut i = tokio::time::interval_at(start, period.max(Duration::from_micros(1)));
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

/// Resolves once the run reaches [`Phase::Stop`] (drops the watch guard at once, so the
/// future stays `Send`).
pub async fn until_stop(rx: &mut watch::Receiver<Phase>) {
    let _ = rx.wait_for(|p| *p == Phase::Stop).await.map(|_| ());
}

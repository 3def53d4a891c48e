//! A WebSocket connection's outbox: the bounded queue of frames that feeds, chat, ratings,
//! social and matchmaking hand to the connection's task, which writes them to the socket.
//!
//! Every connected client has one, so its idle size is part of the memory per connection
//! (docs/PERFORMANCE.md). A `tokio::sync::mpsc` channel allocates its first block of 32 slots
//! and its cache-padded shared state when it is made, about 1.5 KiB before anything is sent;
//! this queue is a `VecDeque` behind a mutex (allocated on the first frame, released when a
//! burst has drained) and a `Notify`, about 100 bytes when idle. The bound and the
//! non-blocking `try_send` are the same: a full outbox refuses the frame and its sender kicks
//! the client as a slow consumer (close 4008).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::games::Wire;

/// Frames a drained queue keeps room for; a larger buffer (after a burst: a resume's replay,
/// a busy game) is given back once it is empty.
const KEEP_CAPACITY: usize = 8;

struct Queue {
    frames: VecDeque<Wire>,
    /// The receiver is gone: every frame is refused.
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    capacity: usize,
    ready: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending side; cloned into every registry that delivers to the connection.
#[derive(Clone)]
pub struct Outbox(Arc<Shared>);

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("capacity", &self.0.capacity)
            .finish_non_exhaustive()
    }
}

/// The receiving side, owned by the connection's task.
pub struct OutboxRx(Arc<Shared>);

/// A new outbox holding at most `capacity` frames (at least 1).
pub fn outbox(capacity: usize) -> (Outbox, OutboxRx) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            frames: VecDeque::new(),
            closed: false,
        }),
        capacity: capacity.max(1),
        ready: Notify::new(),
    });
    (Outbox(shared.clone()), OutboxRx(shared))
}

impl Outbox {
    /// Queues `frame` without waiting. `Err` gives it back when the outbox is full (the
    /// client is not reading fast enough) or the connection is gone.
    pub fn try_send(&self, frame: Wire) -> Result<(), Wire> {
        {
            let mut q = self.0.lock();
            if q.closed || q.frames.len() >= self.0.capacity {
                return Err(frame);
            }
            q.frames.push_back(frame);
        }
        self.0.ready.notify_one();
        Ok(())
    }
}

impl OutboxRx {
    /// The next frame, waiting for one. Cancel-safe: a frame is taken only when it is
    /// returned. Never `None` while an [`Outbox`] exists (the connection's task holds one);
    /// `Option` so it reads like a channel's `recv` in a `select!`.
    pub async fn recv(&mut self) -> Option<Wire> {
        loop {
            if let Some(frame) = self.try_recv() {
                return Some(frame);
            }
            // A send between the check above and this wait leaves a permit in `ready`
            // (`notify_one` stores one when nobody waits), so it is never missed.
            self.0.ready.notified().await;
        }
    }

    /// The next frame, if one is queued.
    pub fn try_recv(&mut self) -> Option<Wire> {
        let mut q = self.0.lock();
        let frame = q.frames.pop_front();
        if q.frames.is_empty() && q.frames.capacity() > KEEP_CAPACITY {
            q.frames.shrink_to(KEEP_CAPACITY);
        }
        frame
    }
}

impl Drop for OutboxRx {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.closed = true;
        q.frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(s: &str) -> Wire {
        Wire::from(s.to_string())
    }

    #[tokio::test]
    async fn frames_arrive_in_order_and_a_full_or_closed_outbox_refuses() {
        let (tx, mut rx) = outbox(2);
        assert!(tx.try_send(wire("1")).is_ok());
        assert!(tx.clone().try_send(wire("2")).is_ok());
        assert_eq!(tx.try_send(wire("3")).err().as_deref(), Some("3"));
        assert_eq!(rx.recv().await.as_deref(), Some("1"));
        assert!(tx.try_send(wire("4")).is_ok());
        assert_eq!(rx.recv().await.as_deref(), Some("2"));
        assert_eq!(rx.try_recv().as_deref(), Some("4"));
        assert!(rx.try_recv().is_none());
        drop(rx);
        assert!(tx.try_send(wire("5")).is_err());
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_frame_sent_from_another_task() {
        let (tx, mut rx) = outbox(4);
        let waiter = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        assert!(tx.try_send(wire("x")).is_ok());
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await;
        assert_eq!(
            got.ok().and_then(Result::ok).flatten().as_deref(),
            Some("x")
        );
    }

    #[test]
    fn a_drained_burst_gives_its_buffer_back() {
        let (tx, mut rx) = outbox(256);
        for i in 0..200 {
            assert!(tx.try_send(wire(&i.to_string())).is_ok());
        }
        while rx.try_recv().is_some() {}
        assert!(rx.0.lock().frames.capacity() <= KEEP_CAPACITY);
    }
}

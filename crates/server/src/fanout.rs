//! Gap-free fan-out by sequence number: what a node's feeds (game events in
//! `games/feed.rs`, chat rooms in `chat/feed.rs`) share.
//!
//! A [`Fanout`] holds a node's local subscribers to one numbered stream (a game's sessions, a
//! chat room) with, per subscriber, the stream it is on and the last seq delivered to it. An
//! entry is delivered to a subscriber only when it is exactly the next one, so a duplicate
//! (the owner published twice, or a catch-up crossed a live message) is dropped and a gap is
//! visible ([`Fanout::behind`]) so the feed can fetch what is missing from durable storage. A
//! ring of recent entries serves subscribers that join while entries arrive. Sending never
//! waits: a subscriber whose bounded outbox is full is kicked (close 4008) and removed.

use std::collections::{HashMap, VecDeque};

use uuid::Uuid;
use versus_protocol::close_code;

use crate::games::{Kick, Wire};

/// One local subscriber: where to send, how far it got, and the feed's own data `X`.
#[derive(Debug)]
pub struct Tracked<X> {
    pub outbox: crate::outbox::Outbox,
    pub kick: Kick,
    /// The stream (a game session; `Uuid::nil()` for a chat room) `delivered` counts in.
    pub stream: Uuid,
    /// The last seq this subscriber has (or was given in its start reply).
    pub delivered: u64,
    pub extra: X,
}

/// A node's subscribers to one numbered stream. Not shared: one feed task owns it.
#[derive(Debug)]
pub struct Fanout<X> {
    pub subs: HashMap<u64, Tracked<X>>,
    ring: VecDeque<(Uuid, u64, Wire)>,
    ring_capacity: usize,
}

impl<X> Fanout<X> {
    pub fn new(ring_capacity: usize) -> Self {
        Fanout {
            subs: HashMap::new(),
            ring: VecDeque::new(),
            ring_capacity: ring_capacity.max(1),
        }
    }

    /// Keeps a received entry for subscribers that are still being started.
    pub fn remember(&mut self, stream: Uuid, seq: u64, wire: &Wire) {
        self.ring.push_back((stream, seq, wire.clone()));
        while self.ring.len() > self.ring_capacity {
            self.ring.pop_front();
        }
    }

    /// The lowest `delivered` among subscribers that `seq` would leave a gap for (the bus
    /// dropped something): fetch the entries after it before delivering `seq`.
    pub fn behind(&self, stream: Uuid, seq: u64) -> Option<u64> {
        self.subs
            .values()
            .filter(|s| s.stream == stream && s.delivered + 1 < seq)
            .map(|s| s.delivered)
            .min()
    }

    /// Adds a subscriber whose start reply is already in its outbox, first giving it what the
    /// ring holds after its `delivered`. Returns `false` (and kicks it) if its outbox is full.
    pub fn admit(
        &mut self,
        conn: u64,
        mut sub: Tracked<X>,
        shape: impl Fn(&X, &Wire) -> Wire,
    ) -> bool {
        for (stream, seq, wire) in &self.ring {
            if *stream == sub.stream && *seq == sub.delivered + 1 {
                if sub.outbox.try_send(shape(&sub.extra, wire)).is_err() {
                    sub.kick.kick(close_code::SLOW_CONSUMER);
                    return false;
                }
                sub.delivered = *seq;
            }
        }
        self.subs.insert(conn, sub);
        true
    }

    /// Delivers entry `seq` of `stream` to every subscriber exactly one behind it, through
    /// `shape` (a per-subscriber view of the entry). With `restart_on_new_stream`, a
    /// subscriber on another stream moves to this one when `seq` is 1 (a rematch's new
    /// session). Returns the subscribers kicked for a full outbox (already removed).
    pub fn deliver(
        &mut self,
        stream: Uuid,
        seq: u64,
        wire: &Wire,
        restart_on_new_stream: bool,
        shape: impl Fn(&X, &Wire) -> Wire,
    ) -> Vec<(u64, Tracked<X>)> {
        let mut kicked = Vec::new();
        for (conn, sub) in self.subs.iter_mut() {
            if sub.stream != stream {
                if !restart_on_new_stream || seq != 1 {
                    continue;
                }
                sub.stream = stream;
                sub.delivered = 0;
            }
            if seq != sub.delivered + 1 {
                continue;
            }
            if sub.outbox.try_send(shape(&sub.extra, wire)).is_err() {
                sub.kick.kick(close_code::SLOW_CONSUMER);
                kicked.push(*conn);
                continue;
            }
            sub.delivered = seq;
        }
        let kicked: Vec<_> = kicked
            .into_iter()
            .filter_map(|c| self.subs.remove(&c).map(|s| (c, s)))
            .collect();
        if !kicked.is_empty() {
            metrics::counter!("ws_slow_consumers_total").increment(kicked.len() as u64);
        }
        kicked
    }

    pub fn remove(&mut self, conn: u64) -> Option<Tracked<X>> {
        self.subs.remove(&conn)
    }

    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(s: &str) -> Wire {
        Wire::from(s.to_string())
    }

    #[tokio::test]
    async fn entries_reach_a_subscriber_once_and_in_order_and_gaps_are_reported() {
        let (tx, mut rx) = crate::outbox::outbox(8);
        let mut fan = Fanout::new(4);
        let sub = Tracked {
            outbox: tx,
            kick: Kick::default(),
            stream: Uuid::nil(),
            delivered: 1,
            extra: (),
        };
        fan.remember(Uuid::nil(), 2, &wire("2"));
        assert!(fan.admit(7, sub, |_, w| w.clone()));
        assert_eq!(rx.recv().await.unwrap().as_str(), "2");
        fan.deliver(Uuid::nil(), 2, &wire("2"), false, |_, w| w.clone());
        assert_eq!(fan.behind(Uuid::nil(), 4), Some(2));
        fan.deliver(Uuid::nil(), 4, &wire("4"), false, |_, w| w.clone());
        fan.deliver(Uuid::nil(), 3, &wire("3"), false, |_, w| w.clone());
        fan.deliver(Uuid::nil(), 4, &wire("4"), false, |_, w| w.clone());
        assert_eq!(rx.recv().await.unwrap().as_str(), "3");
        assert_eq!(rx.recv().await.unwrap().as_str(), "4");
        assert!(rx.try_recv().is_none());
    }

    #[test]
    fn a_full_outbox_kicks_the_subscriber() {
        let (tx, _rx) = crate::outbox::outbox(1);
        let mut fan = Fanout::new(4);
        let kick = Kick::default();
        let sub = Tracked {
            outbox: tx,
            kick: kick.clone(),
            stream: Uuid::nil(),
            delivered: 0,
            extra: (),
        };
        assert!(fan.admit(1, sub, |_, w| w.clone()));
        assert!(
            fan.deliver(Uuid::nil(), 1, &wire("1"), false, |_, w| w.clone())
                .is_empty()
        );
        let kicked = fan.deliver(Uuid::nil(), 2, &wire("2"), false, |_, w| w.clone());
        assert_eq!(kicked.len(), 1);
        assert!(fan.is_empty());
    }
}

//! Feeds: how a node delivers a game's events to its own WebSocket subscribers.
//!
//! A node has at most one feed per game, started when the first local connection subscribes
//! and stopped when the last one leaves. The feed listens on the game's events subject (the
//! owner publishes every committed event there, wherever it runs), and gives each local
//! subscriber exactly the events after the ones it already has: per subscriber it tracks the
//! session and last seq delivered, drops duplicates, and fetches from the owner what a gap
//! (a message the bus dropped) left out. A subscriber whose outbox is full is kicked (close
//! 4008) — the feed never waits for a client.
//!
//! Presence: the feed tells the owner which players are subscribed here (on the first and
//! last connection, and again every `presence_refresh`), so the owner knows who is away even
//! when players are connected to other nodes, and forgets the players of a node that died.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use tokio::sync::mpsc;
use uuid::Uuid;
use versus_protocol::{ErrorCode, PlayerRef, Role, ServerMessage, Visibility, close_code};

use super::{FeedStart, GameHub, GameReply, GameRequest, Kick, Wire};
use crate::bus::game_events_subject;
use crate::fanout::{Fanout, Tracked};

/// A local connection's subscription to a game.
#[derive(Debug, Clone)]
pub struct LocalSubscriber {
    pub conn_id: u64,
    pub player: PlayerRef,
    pub request_id: Option<String>,
    pub session_id: Option<Uuid>,
    pub since_seq: Option<u64>,
    /// The connection's bounded outbox of serialized server messages.
    pub outbox: crate::outbox::Outbox,
    pub kick: Kick,
    /// The games the connection follows; a subscription that fails is taken out again.
    pub subscriptions: Subscriptions,
}

/// The set of games one connection follows (shared by the connection and the feeds).
pub type Subscriptions = Arc<Mutex<std::collections::HashSet<Uuid>>>;

impl LocalSubscriber {
    /// Answers the subscription with an error and forgets it.
    fn fail(&self, game_id: Uuid, code: ErrorCode, message: &str) {
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&game_id);
        if let Some(w) = error_wire(self.request_id.clone(), code, message) {
            let _ = self.outbox.try_send(w);
        }
    }
}

#[derive(Debug)]
enum FeedCmd {
    Add(LocalSubscriber),
    Remove { conn_id: u64 },
}

/// This node's feeds, one per followed game. Cheap to clone.
#[derive(Clone)]
pub struct Feeds {
    inner: Arc<FeedsInner>,
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feeds")
    }
}

struct FeedsInner {
    hub: GameHub,
    feeds: Mutex<HashMap<Uuid, mpsc::Sender<FeedCmd>>>,
}

/// Commands queued for one feed.
const FEED_MAILBOX: usize = 1024;

fn error_wire(id: Option<String>, code: ErrorCode, message: &str) -> Option<Wire> {
    let msg = ServerMessage::Error {
        id,
        code,
        message: message.into(),
        supported: Vec::new(),
    };
    serde_json::to_string(&msg).ok().map(Wire::from)
}

impl Feeds {
    pub fn new(hub: GameHub) -> Feeds {
        Feeds {
            inner: Arc::new(FeedsInner {
                hub,
                feeds: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Starts following `game_id` for a local connection: the reply (`subscribed`, then
    /// events) arrives in its outbox.
    pub fn subscribe(&self, game_id: Uuid, sub: LocalSubscriber) {
        let mut cmd = FeedCmd::Add(sub);
        for _ in 0..2 {
            let tx = self.feed(game_id);
            match tx.try_send(cmd) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(FeedCmd::Add(sub))) => {
                    sub.fail(
                        game_id,
                        ErrorCode::Overloaded,
                        "too many subscriptions at once; retry",
                    );
                    return;
                }
                Err(mpsc::error::TrySendError::Full(_)) => return,
                Err(mpsc::error::TrySendError::Closed(c)) => {
                    self.forget(game_id, &tx);
                    cmd = c;
                }
            }
        }
    }

    /// Stops following `game_id` for a local connection.
    pub fn unsubscribe(&self, game_id: Uuid, conn_id: u64) {
        let tx = self
            .inner
            .feeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&game_id)
            .cloned();
        if let Some(tx) = tx
            && let Err(mpsc::error::TrySendError::Full(cmd)) =
                tx.try_send(FeedCmd::Remove { conn_id })
        {
            tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(10), tx.send(cmd)).await;
            });
        }
    }

    fn feed(&self, game_id: Uuid) -> mpsc::Sender<FeedCmd> {
        let mut feeds = self.inner.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds
            .entry(game_id)
            .or_insert_with(|| {
                let (tx, rx) = mpsc::channel(FEED_MAILBOX);
                tokio::spawn(run(self.clone(), game_id, tx.clone(), rx));
                tx
            })
            .clone()
    }

    fn forget(&self, game_id: Uuid, tx: &mpsc::Sender<FeedCmd>) {
        let mut feeds = self.inner.feeds.lock().unwrap_or_else(|p| p.into_inner());
        if feeds.get(&game_id).is_some_and(|t| t.same_channel(tx)) {
            feeds.remove(&game_id);
        }
    }
}

/// What the feed needs from an event message to place it.
#[derive(Deserialize)]
struct Head {
    session_id: Uuid,
    seq: u64,
}

struct Feed {
    feeds: Feeds,
    game_id: Uuid,
    /// The local subscribers, per session and seq (the stream is the session; a rematch
    /// moves them to the new one).
    fan: Fanout<PlayerRef>,
    /// Presence updates to the owner, sent in order by one task.
    presence: mpsc::Sender<(Uuid, bool)>,
}

async fn run(
    feeds: Feeds,
    game_id: Uuid,
    me: mpsc::Sender<FeedCmd>,
    mut rx: mpsc::Receiver<FeedCmd>,
) {
    let hub = feeds.inner.hub.clone();
    let cfg = *hub.config();
    let shutdown = hub.inner.shutdown.clone();
    // Listen before asking the owner anything, so no event published later is missed.
    let mut events = match hub.bus().subscribe(game_events_subject(game_id)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(%game_id, error = %e, "cannot follow the game's events");
            feeds.forget(game_id, &me);
            rx.close();
            while let Some(cmd) = rx.recv().await {
                if let FeedCmd::Add(sub) = cmd {
                    sub.fail(game_id, ErrorCode::Internal, "internal error");
                }
            }
            return;
        }
    };
    let (presence, presence_rx) = mpsc::channel(256);
    tokio::spawn(report_presence(hub.clone(), game_id, presence_rx));
    let mut feed = Feed {
        feeds: feeds.clone(),
        game_id,
        fan: Fanout::new(cfg.replay_limit.max(16)),
        presence,
    };
    metrics::gauge!("feeds_active").increment(1.0);
    let mut refresh = tokio::time::interval(cfg.presence_refresh);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(FeedCmd::Add(sub)) => {
                    feed.add(sub).await;
                    // A subscription that failed leaves no subscriber behind.
                    if feed.fan.is_empty() {
                        break;
                    }
                }
                Some(FeedCmd::Remove { conn_id }) => {
                    feed.remove(conn_id);
                    if feed.fan.is_empty() {
                        break;
                    }
                }
                None => break,
            },
            msg = events.next() => {
                let Some(msg) = msg else { break };
                feed.on_event(msg.payload).await;
            }
            _ = refresh.tick() => feed.refresh_presence(),
            () = shutdown.cancelled() => break,
        }
    }
    // Stop: hand any subscription that raced in to a fresh feed (or, when the node is
    // shutting down, refuse it: the client reconnects to another node).
    feeds.forget(game_id, &me);
    rx.close();
    while let Some(cmd) = rx.recv().await {
        if let FeedCmd::Add(sub) = cmd {
            if shutdown.is_cancelled() {
                sub.fail(
                    game_id,
                    ErrorCode::Unavailable,
                    "the server is shutting down",
                );
            } else {
                feeds.subscribe(game_id, sub);
            }
        }
    }
    metrics::gauge!("feeds_active").decrement(1.0);
}

/// Sends presence updates to the owner one at a time, in order.
async fn report_presence(hub: GameHub, game_id: Uuid, mut rx: mpsc::Receiver<(Uuid, bool)>) {
    let node = hub.node().to_string();
    while let Some((player, connected)) = rx.recv().await {
        let request = GameRequest::Presence {
            node: node.clone(),
            player,
            connected,
        };
        if let Err(e) = hub.request(game_id, request).await {
            tracing::debug!(%game_id, error = ?e, "presence update not delivered");
        }
    }
}

impl Feed {
    fn player_count(&self, player: Uuid) -> usize {
        self.fan
            .subs
            .values()
            .filter(|s| s.extra.id == player)
            .count()
    }

    async fn add(&mut self, sub: LocalSubscriber) {
        let request = GameRequest::Feed {
            player: sub.player.clone(),
            session_id: sub.session_id,
            since_seq: sub.since_seq,
        };
        let start: FeedStart = match self.feeds.inner.hub.request(self.game_id, request).await {
            Ok(GameReply::Feed(start)) => *start,
            Ok(_) => {
                sub.fail(self.game_id, ErrorCode::Internal, "internal error");
                return;
            }
            Err(e) => {
                sub.fail(self.game_id, e.code, &e.message);
                return;
            }
        };
        // A private game is followed only by its insiders (its players are, by their seat).
        // (Without a snapshot, as on a resume, the store says.)
        let public = start
            .snapshot
            .as_ref()
            .is_some_and(|v| v.settings.visibility == Visibility::Public);
        if !public
            && matches!(start.role, Role::Spectator)
            && let Err(e) = super::visibility::check(
                self.feeds.inner.hub.store(),
                self.game_id,
                Some(sub.player.id),
            )
            .await
        {
            sub.fail(self.game_id, e.code, &e.message);
            return;
        }
        let reply = ServerMessage::Subscribed {
            id: sub.request_id.clone(),
            game_id: self.game_id,
            session_id: start.session_id,
            role: start.role,
            last_seq: start.last_seq,
            snapshot: start.snapshot,
            resync: start.resync,
        };
        let Ok(json) = serde_json::to_string(&reply) else {
            return;
        };
        let mut ok = sub.outbox.try_send(Wire::from(json)).is_ok();
        for e in start.events {
            ok = ok && sub.outbox.try_send(Wire::from(e)).is_ok();
        }
        if !ok {
            sub.kick.kick(close_code::SLOW_CONSUMER);
            return;
        }
        let entry = Tracked {
            outbox: sub.outbox,
            kick: sub.kick,
            stream: start.session_id,
            delivered: start.last_seq,
            extra: sub.player.clone(),
        };
        let first = self.player_count(sub.player.id) == 0;
        // Admitting also hands over the events this feed received while the owner answered.
        if self.fan.admit(sub.conn_id, entry, |_, w| w.clone()) && first {
            let _ = self.presence.try_send((sub.player.id, true));
        }
    }

    fn remove(&mut self, conn_id: u64) {
        if let Some(sub) = self.fan.remove(conn_id) {
            self.gone(sub.extra.id);
        }
    }

    /// After a subscriber left: if it was the player's last one here, they are away.
    fn gone(&self, player: Uuid) {
        if self.player_count(player) == 0 {
            let _ = self.presence.try_send((player, false));
        }
    }

    fn refresh_presence(&self) {
        let mut players: Vec<Uuid> = self.fan.subs.values().map(|s| s.extra.id).collect();
        players.sort();
        players.dedup();
        for p in players {
            let _ = self.presence.try_send((p, true));
        }
    }

    async fn on_event(&mut self, payload: bytes::Bytes) {
        let Ok(head) = serde_json::from_slice::<Head>(&payload) else {
            return;
        };
        let Ok(wire) = Wire::try_from(payload) else {
            return;
        };
        self.fan.remember(head.session_id, head.seq, &wire);
        // A gap (the bus dropped a message): fetch what is missing from the owner first.
        if let Some(after) = self.fan.behind(head.session_id, head.seq) {
            self.catch_up(head.session_id, after).await;
        }
        self.deliver(head.session_id, head.seq, &wire);
    }

    /// Delivers one event to every subscriber exactly one behind it; a rematch's session
    /// (seq 1 of a new stream) moves subscribers over.
    fn deliver(&mut self, session: Uuid, seq: u64, wire: &Wire) {
        for (_, sub) in self.fan.deliver(session, seq, wire, true, |_, w| w.clone()) {
            self.gone(sub.extra.id);
        }
    }

    async fn catch_up(&mut self, session: Uuid, after: u64) {
        let Ok(events) = self.feeds.inner.hub.events(self.game_id, after).await else {
            return;
        };
        for e in events {
            if e.session_id != session {
                continue;
            }
            let seq = e.seq;
            if let Ok(json) = serde_json::to_string(&super::state::wire_message(e)) {
                self.deliver(session, seq, &Wire::from(json));
            }
        }
    }
}

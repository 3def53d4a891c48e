//! Chat feeds: how a node delivers a room's entries to its own WebSocket subscribers.
//!
//! One feed per followed room per node, started by the first local subscriber and stopped
//! with the last. It listens on the room's bus subject (whichever node appended the entry
//! published it there, after the commit) and delivers through a [`Fanout`]: per subscriber,
//! exactly the entries after the last one it has, in seq order, a gap (a dropped bus message,
//! or two nodes' appends published out of order) filled from the database. Each subscriber
//! sees a blocked author's messages as `hidden` entries (same seq, no text).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use serde::Deserialize;
use tokio::sync::mpsc;
use uuid::Uuid;
use versus_protocol::{ChatEntryKind, ErrorCode, ServerMessage, close_code};

use super::{BlockSet, ChatService, Inner, RoomId, view};
use crate::fanout::{Fanout, Tracked};
use crate::games::{Kick, Wire};

/// The chat rooms one connection follows (shared by the connection and the feeds).
pub type ChatRooms = Arc<Mutex<HashSet<RoomId>>>;

/// A local connection's subscription to a room.
#[derive(Debug, Clone)]
pub struct ChatSubscriber {
    pub conn_id: u64,
    pub request_id: Option<String>,
    pub since_seq: Option<u64>,
    pub outbox: crate::outbox::Outbox,
    pub kick: Kick,
    pub blocks: Arc<BlockSet>,
    pub rooms: ChatRooms,
}

impl ChatSubscriber {
    /// Answers the subscription with an error and forgets it.
    pub fn fail(&self, room: RoomId, code: ErrorCode, message: &str) {
        self.rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&room);
        let msg = ServerMessage::Error {
            id: self.request_id.clone(),
            code,
            message: message.into(),
            supported: Vec::new(),
        };
        if let Ok(json) = serde_json::to_string(&msg) {
            let _ = self.outbox.try_send(Wire::from(json));
        }
    }
}

#[derive(Debug)]
enum Cmd {
    Add(ChatSubscriber),
    Remove { conn_id: u64 },
}

/// This node's chat feeds, one per followed room.
#[derive(Clone)]
pub struct ChatFeeds {
    service: Weak<Inner>,
    feeds: Arc<Mutex<HashMap<RoomId, mpsc::Sender<Cmd>>>>,
}

const FEED_MAILBOX: usize = 1024;
/// Most entries read at once to fill a gap.
const CATCH_UP_LIMIT: usize = 1000;

impl ChatFeeds {
    pub(super) fn new(service: Weak<Inner>) -> ChatFeeds {
        ChatFeeds {
            service,
            feeds: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Starts following `room` for a local connection (already allowed to read it): the reply
    /// (`chat_subscribed`, then live `chat` entries) arrives in its outbox.
    pub fn subscribe(&self, room: RoomId, sub: ChatSubscriber) {
        let mut cmd = Cmd::Add(sub);
        for _ in 0..2 {
            let tx = self.feed(room);
            match tx.try_send(cmd) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(Cmd::Add(sub))) => {
                    sub.fail(
                        room,
                        ErrorCode::Overloaded,
                        "too many subscriptions at once; retry",
                    );
                    return;
                }
                Err(mpsc::error::TrySendError::Full(_)) => return,
                Err(mpsc::error::TrySendError::Closed(c)) => {
                    self.forget(room, &tx);
                    cmd = c;
                }
            }
        }
    }

    pub fn unsubscribe(&self, room: RoomId, conn_id: u64) {
        let tx = self
            .feeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&room)
            .cloned();
        if let Some(tx) = tx
            && let Err(mpsc::error::TrySendError::Full(cmd)) = tx.try_send(Cmd::Remove { conn_id })
        {
            tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(10), tx.send(cmd)).await;
            });
        }
    }

    fn feed(&self, room: RoomId) -> mpsc::Sender<Cmd> {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds
            .entry(room)
            .or_insert_with(|| {
                let (tx, rx) = mpsc::channel(FEED_MAILBOX);
                tokio::spawn(run(self.clone(), room, tx.clone(), rx));
                tx
            })
            .clone()
    }

    fn forget(&self, room: RoomId, tx: &mpsc::Sender<Cmd>) {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        if feeds.get(&room).is_some_and(|t| t.same_channel(tx)) {
            feeds.remove(&room);
        }
    }
}

/// What the feed reads of a published entry.
#[derive(Deserialize)]
struct Head {
    seq: u64,
    kind: ChatEntryKind,
    author: Option<AuthorHead>,
}

#[derive(Deserialize)]
struct AuthorHead {
    id: Uuid,
}

struct Feed {
    service: ChatService,
    room: RoomId,
    fan: Fanout<Arc<BlockSet>>,
}

async fn run(feeds: ChatFeeds, room: RoomId, me: mpsc::Sender<Cmd>, mut rx: mpsc::Receiver<Cmd>) {
    let Some(service) = feeds.service.upgrade().map(ChatService::from_inner) else {
        return;
    };
    // Listen before reading any history, so no entry published later is missed.
    let mut entries = match service.inner.bus.subscribe(room.subject()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(room = %room.name(), error = %e, "cannot follow the chat room");
            feeds.forget(room, &me);
            rx.close();
            while let Some(cmd) = rx.recv().await {
                if let Cmd::Add(sub) = cmd {
                    sub.fail(room, ErrorCode::Internal, "internal error");
                }
            }
            return;
        }
    };
    let replay = service.config().replay_limit;
    let mut feed = Feed {
        service,
        room,
        fan: Fanout::new(replay.max(16)),
    };
    metrics::gauge!("chat_feeds_active").increment(1.0);
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Add(sub)) => feed.add(sub).await,
                Some(Cmd::Remove { conn_id }) => {
                    feed.fan.remove(conn_id);
                    if feed.fan.is_empty() {
                        break;
                    }
                }
                None => break,
            },
            msg = entries.next() => {
                let Some(msg) = msg else { break };
                feed.on_entry(msg.payload).await;
            }
        }
    }
    feeds.forget(room, &me);
    rx.close();
    while let Some(cmd) = rx.recv().await {
        if let Cmd::Add(sub) = cmd {
            feeds.subscribe(room, sub);
        }
    }
    metrics::gauge!("chat_feeds_active").decrement(1.0);
}

fn wire_of(msg: &ServerMessage) -> Option<Wire> {
    serde_json::to_string(msg).ok().map(Wire::from)
}

impl Feed {
    async fn add(&mut self, sub: ChatSubscriber) {
        let cfg = *self.service.config();
        let mut reply = None;
        if let Some(since) = sub.since_seq {
            let last = self
                .service
                .inner
                .store
                .chat_last_seq(&self.room.name())
                .await;
            let missed = self
                .service
                .after(self.room, since, cfg.replay_limit + 1)
                .await;
            if let (Ok(last), Ok(missed)) = (last, missed)
                && since <= last.max(0) as u64
                && missed.len() <= cfg.replay_limit
            {
                let delivered = missed.last().map(|e| e.seq).unwrap_or(since);
                reply = Some((
                    ServerMessage::ChatSubscribed {
                        id: sub.request_id.clone(),
                        room: self.room.name(),
                        last_seq: delivered,
                        entries: missed.into_iter().map(|e| view(e, &sub.blocks)).collect(),
                        has_more: false,
                        resync: false,
                    },
                    delivered,
                ));
            }
        }
        let (reply, delivered) = match reply {
            Some(r) => r,
            None => match self
                .service
                .page(self.room, None, cfg.history_limit, &sub.blocks)
                .await
            {
                Ok(page) => {
                    let delivered = page.entries.last().map(|e| e.seq).unwrap_or(0);
                    (
                        ServerMessage::ChatSubscribed {
                            id: sub.request_id.clone(),
                            room: page.room,
                            last_seq: delivered,
                            entries: page.entries,
                            has_more: page.has_more,
                            resync: sub.since_seq.is_some(),
                        },
                        delivered,
                    )
                }
                Err(e) => {
                    sub.fail(self.room, e.code, &e.message);
                    return;
                }
            },
        };
        let Some(wire) = wire_of(&reply) else { return };
        if sub.outbox.try_send(wire).is_err() {
            sub.kick.kick(close_code::SLOW_CONSUMER);
            return;
        }
        let tracked = Tracked {
            outbox: sub.outbox,
            kick: sub.kick,
            stream: Uuid::nil(),
            delivered,
            extra: sub.blocks,
        };
        // The ring holds published wires: re-shape them for this subscriber's blocks.
        self.fan.admit(sub.conn_id, tracked, reshape);
    }

    async fn on_entry(&mut self, payload: bytes::Bytes) {
        let Ok(head) = serde_json::from_slice::<Head>(&payload) else {
            return;
        };
        let Ok(wire) = Wire::try_from(payload) else {
            return;
        };
        self.fan.remember(Uuid::nil(), head.seq, &wire);
        if let Some(after) = self.fan.behind(Uuid::nil(), head.seq) {
            self.catch_up(after).await;
        }
        self.deliver(&head, &wire);
    }

    fn deliver(&mut self, head: &Head, wire: &Wire) {
        let author = head
            .author
            .as_ref()
            .filter(|_| head.kind == ChatEntryKind::Message)
            .map(|a| a.id);
        match author {
            None => {
                self.fan
                    .deliver(Uuid::nil(), head.seq, wire, false, |_, w| w.clone());
            }
            Some(_) => {
                self.fan
                    .deliver(Uuid::nil(), head.seq, wire, false, reshape);
            }
        }
    }

    async fn catch_up(&mut self, after: u64) {
        let Ok(entries) = self.service.after(self.room, after, CATCH_UP_LIMIT).await else {
            return;
        };
        for e in entries {
            let head = Head {
                seq: e.seq,
                kind: e.kind,
                author: e.author.as_ref().map(|a| AuthorHead { id: a.id }),
            };
            if let Some(wire) = wire_of(&ServerMessage::Chat(e)) {
                self.deliver(&head, &wire);
            }
        }
    }
}

/// The subscriber's view of a published entry: a blocked author's message becomes `hidden`.
/// Only messages are re-parsed, and only for subscribers who block someone.
fn reshape(blocks: &Arc<BlockSet>, wire: &Wire) -> Wire {
    if blocks.read().unwrap_or_else(|p| p.into_inner()).is_empty() {
        return wire.clone();
    }
    match serde_json::from_str::<ServerMessage>(wire.as_str()) {
        Ok(ServerMessage::Chat(entry)) => {
            let viewed = view(entry.clone(), blocks);
            if viewed == entry {
                wire.clone()
            } else {
                wire_of(&ServerMessage::Chat(viewed)).unwrap_or_else(|| wire.clone())
            }
        }
        _ => wire.clone(),
    }
}

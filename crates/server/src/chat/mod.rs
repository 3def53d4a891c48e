//! Chat (issue 8): the lobby's room and, per game, a players' room and a spectators' room.
//!
//! This module owns the chat rules (length, control characters, rate limit and flood mute,
//! mutes, blocks, who may read and write which room), the append path (validate → store,
//! which assigns the room's next seq in the insert's transaction → publish on the bus), the
//! system messages derived from game events, and (in `feed.rs`) how a node delivers a room's
//! entries to its WebSocket subscribers. It does not touch SQL (the `Store` does) or game
//! state (it reads seats through the store, and hears of game events through the hub's tap).
//!
//! One writer per room, in a cluster: the room's counter row in the database
//! (`chat_rooms.last_seq`). An append increments it in the same transaction as the insert;
//! the row stays locked until the commit, so seqs are gap-free and entry n is committed
//! before entry n + 1 exists. Any node may append to any room; the entry is published on the
//! room's subject (`versus.chat.…`) only after the commit (durable before visible), and
//! every node's feed orders what it hears by seq and fetches any gap from the database.
//!
//! System messages are group-committed: the node's one system writer takes every note already
//! queued and writes all their entries in one transaction (`Store::append_chat_batch`, which
//! advances each room's counter row once by its number of entries), then publishes them in
//! order.

pub mod feed;
pub mod socket;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;
use versus_protocol::{
    CHAT_MAX_CHARS, ChatEntry, ChatEntryKind, ChatPage, ErrorCode, GameEvent, LOBBY_ROOM,
    PlayerRef, ServerMessage,
};
use versus_store::{ChatKind, ChatRecord, DynStore, NewChatEntry, StoreError};

use crate::bus::Bus;
use crate::error::ApiError;

/// Chat knobs (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct ChatConfig {
    /// Messages a player may send in one room at once (the bucket's size).
    pub burst: u32,
    /// One more message is allowed every this long (the steady rate).
    pub refill: Duration,
    /// Refused messages (over the rate) that earn a flood mute.
    pub flood_strikes: u32,
    /// How long a flood mute lasts.
    pub flood_mute: Duration,
    /// Entries in a history page by default (and the recent history sent on subscribe).
    pub history_limit: usize,
    /// Most missed entries replayed one by one on resubscribe; more → resync.
    pub replay_limit: usize,
    /// Whether guests may write in the lobby (they always may in games).
    pub guests_in_lobby: bool,
}

/// A chat room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomId {
    Lobby,
    Players(Uuid),
    Spectators(Uuid),
}

impl RoomId {
    /// `lobby`, `game:<id>:players` or `game:<id>:spectators`.
    pub fn parse(s: &str) -> Option<RoomId> {
        if s == LOBBY_ROOM {
            return Some(RoomId::Lobby);
        }
        let rest = s.strip_prefix("game:")?;
        let (id, side) = rest.split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match side {
            "players" => Some(RoomId::Players(id)),
            "spectators" => Some(RoomId::Spectators(id)),
            _ => None,
        }
    }

    pub fn name(&self) -> String {
        match self {
            RoomId::Lobby => LOBBY_ROOM.to_string(),
            RoomId::Players(g) => format!("game:{g}:players"),
            RoomId::Spectators(g) => format!("game:{g}:spectators"),
        }
    }

    /// The bus subject its committed entries are published on.
    pub fn subject(&self) -> String {
        match self {
            RoomId::Lobby => "versus.chat.lobby".to_string(),
            RoomId::Players(g) => format!("versus.chat.game.{g}.players"),
            RoomId::Spectators(g) => format!("versus.chat.game.{g}.spectators"),
        }
    }
}

/// Block changes, published so every node updates its connections at once.
const BLOCKS_SUBJECT: &str = "versus.chat.blocks";

/// Why a chat request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl ChatError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ChatError {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "chat store error");
        ChatError::new(ErrorCode::Internal, "internal error")
    }

    fn not_found() -> Self {
        ChatError::new(ErrorCode::NotFound, "no such room or message")
    }

    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Forbidden | ErrorCode::Muted | ErrorCode::GuestsNotAllowed => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::ChatEmpty | ErrorCode::ChatTooLong | ErrorCode::ValidationFailed => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorCode::ChatRateLimited | ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::MalformedRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::CONFLICT,
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        let mut api = ApiError::new(e.status(), e.code, e.message);
        api.retry_after_secs = e.retry_after_secs;
        api
    }
}

/// Strips control characters and surrounding whitespace; refuses empty and over-long text.
pub fn clean_text(text: &str) -> Result<String, ChatError> {
    let kept: String = text.chars().filter(|c| !c.is_control()).collect();
    let kept = kept.trim();
    if kept.is_empty() {
        return Err(ChatError::new(ErrorCode::ChatEmpty, "the message is empty"));
    }
    if kept.chars().count() > CHAT_MAX_CHARS {
        return Err(ChatError::new(
            ErrorCode::ChatTooLong,
            format!("a message has at most {CHAT_MAX_CHARS} characters"),
        ));
    }
    Ok(kept.to_string())
}

/// The set of players one player blocks, shared by that player's connections on this node.
pub type BlockSet = RwLock<HashSet<Uuid>>;

/// A token bucket per (player, room), with the count of refusals in a row.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    strikes: u32,
}

/// A block change on the bus.
#[derive(Debug, Serialize, Deserialize)]
struct BlockChange {
    player: Uuid,
    blocked: Uuid,
    on: bool,
}

/// A game event for the system messages, from the game's owner.
#[derive(Debug)]
pub struct SystemNote {
    pub game_id: Uuid,
    pub seats: Vec<Option<PlayerRef>>,
    pub event: GameEvent,
    /// A `moved` event of a long game only (issue 9, for the social side): the player whose
    /// turn it is now, when they are not following the game and should be told.
    pub turn_of: Option<Uuid>,
    /// A `moved` event of a long game only: the mover may hold an unread `your_turn` for
    /// the game (now done with). Without it, and without `turn_of`, the note is not sent.
    pub mover_told: bool,
}

/// System notes waiting for the writer (dropped, with a metric, beyond this).
const SYSTEM_QUEUE: usize = 4096;

/// The chat of this node. Cheap to clone.
#[derive(Clone)]
pub struct ChatService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ChatService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChatService")
    }
}

struct Inner {
    store: DynStore,
    bus: Bus,
    config: ChatConfig,
    buckets: Mutex<HashMap<(Uuid, RoomId), Bucket>>,
    blocks: Mutex<HashMap<Uuid, Weak<BlockSet>>>,
    system: mpsc::Sender<SystemNote>,
    feeds: feed::ChatFeeds,
}

impl ChatService {
    /// Starts the node's chat: the system-message writer and the block-change listener.
    pub fn start(store: DynStore, bus: Bus, config: ChatConfig) -> ChatService {
        let (system, system_rx) = mpsc::channel(SYSTEM_QUEUE);
        let service = ChatService {
            inner: Arc::new_cyclic(|weak: &Weak<Inner>| Inner {
                store,
                bus,
                config,
                buckets: Mutex::new(HashMap::new()),
                blocks: Mutex::new(HashMap::new()),
                system,
                feeds: feed::ChatFeeds::new(weak.clone()),
            }),
        };
        tokio::spawn(write_system_notes(service.clone(), system_rx));
        tokio::spawn(follow_block_changes(service.clone()));
        service
    }

    fn from_inner(inner: Arc<Inner>) -> ChatService {
        ChatService { inner }
    }

    pub fn config(&self) -> &ChatConfig {
        &self.inner.config
    }

    pub fn feeds(&self) -> &feed::ChatFeeds {
        &self.inner.feeds
    }

    /// Where the game owners send their committed events (see [`SystemNote`]).
    pub fn system_notes(&self) -> mpsc::Sender<SystemNote> {
        self.inner.system.clone()
    }

    /// Checks that `player` may read (or, with `write`, post to) `room`.
    pub async fn access(
        &self,
        player: &PlayerRef,
        room: RoomId,
        write: bool,
    ) -> Result<(), ChatError> {
        let store = &self.inner.store;
        let game_id = match room {
            RoomId::Lobby => {
                if write && !self.inner.config.guests_in_lobby {
                    let p = store
                        .player_by_id(player.id)
                        .await
                        .map_err(ChatError::internal)?;
                    if p.is_some_and(|p| p.guest) {
                        return Err(ChatError::new(
                            ErrorCode::GuestsNotAllowed,
                            "guests may chat in games only; register to use the lobby chat",
                        ));
                    }
                }
                return Ok(());
            }
            RoomId::Players(g) | RoomId::Spectators(g) => g,
        };
        let game = store
            .game(game_id)
            .await
            .map_err(ChatError::internal)?
            .ok_or_else(ChatError::not_found)?;
        let Some(session_id) = game.current_session_id else {
            return Err(ChatError::not_found());
        };
        let session = store
            .session(session_id)
            .await
            .map_err(ChatError::internal)?
            .ok_or_else(ChatError::not_found)?;
        let seats = store.seats(session_id).await.map_err(ChatError::internal)?;
        let seated = seats.iter().any(|s| s.player_id == player.id);
        // A private game's chat is as invisible to outsiders as the game itself.
        if game.visibility == "private"
            && !seated
            && !crate::games::visibility::may_see(store, game_id, Some(player.id))
                .await
                .map_err(ChatError::internal)?
        {
            return Err(ChatError::not_found());
        }
        let over = matches!(session.state.as_str(), "finished" | "aborted");
        match room {
            RoomId::Players(_) if !seated => Err(ChatError::new(
                ErrorCode::Forbidden,
                "the players' chat is for the players of the game",
            )),
            RoomId::Spectators(_) if seated && !over => Err(ChatError::new(
                ErrorCode::Forbidden,
                "players see the spectators' chat once the game is over",
            )),
            _ => Ok(()),
        }
    }

    /// The room a player belongs to in a game (players' if seated, else spectators').
    pub async fn own_game_room(&self, player: &PlayerRef, game_id: Uuid) -> RoomId {
        match self.access(player, RoomId::Players(game_id), false).await {
            Ok(()) => RoomId::Players(game_id),
            Err(_) => RoomId::Spectators(game_id),
        }
    }

    /// Posts a message: checked, stored (which assigns its seq), then published.
    pub async fn post(
        &self,
        player: &PlayerRef,
        room: RoomId,
        text: &str,
    ) -> Result<ChatEntry, ChatError> {
        let text = clean_text(text)?;
        let now = crate::now_ms();
        if let Some(mute) = self
            .inner
            .store
            .active_mute(player.id, now)
            .await
            .map_err(ChatError::internal)?
        {
            return Err(muted(mute.until_ms, now));
        }
        self.access(player, room, true).await?;
        self.take_token(player.id, room, now).await?;
        let record = self
            .inner
            .store
            .append_chat(NewChatEntry {
                room: room.name(),
                at_ms: now,
                kind: ChatKind::Message,
                author_id: Some(player.id),
                body: Some(text),
                target_seq: None,
            })
            .await
            .map_err(ChatError::internal)?;
        let entry = entry_of(record);
        self.publish(room, &entry).await;
        metrics::counter!("chat_messages_total").increment(1);
        Ok(entry)
    }

    /// Deletes the author's own message `seq`: a `deletion` entry in the same room.
    pub async fn delete(
        &self,
        player: &PlayerRef,
        room: RoomId,
        seq: u64,
    ) -> Result<ChatEntry, ChatError> {
        self.access(player, room, false).await?;
        let name = room.name();
        let target = self
            .inner
            .store
            .chat_entry(&name, seq as i64)
            .await
            .map_err(ChatError::internal)?
            .filter(|e| e.kind == ChatKind::Message && !e.deleted)
            .ok_or_else(ChatError::not_found)?;
        if target.author_id != Some(player.id) {
            return Err(ChatError::new(
                ErrorCode::Forbidden,
                "only the author may delete a message",
            ));
        }
        let record = self
            .inner
            .store
            .append_chat(NewChatEntry {
                room: name,
                at_ms: crate::now_ms(),
                kind: ChatKind::Deletion,
                author_id: Some(player.id),
                body: None,
                target_seq: Some(seq as i64),
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ChatError::not_found(),
                e => ChatError::internal(e),
            })?;
        let entry = entry_of(record);
        self.publish(room, &entry).await;
        Ok(entry)
    }

    /// A page of history before `before` (default: the newest), as `player` sees it.
    pub async fn history(
        &self,
        player: &PlayerRef,
        room: RoomId,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> Result<ChatPage, ChatError> {
        self.access(player, room, false).await?;
        let blocks = self.block_set(player.id).await?;
        let limit = limit
            .map(|l| l as usize)
            .unwrap_or(self.inner.config.history_limit)
            .clamp(1, 100);
        self.page(room, before, limit, &blocks).await
    }

    pub(crate) async fn page(
        &self,
        room: RoomId,
        before: Option<u64>,
        limit: usize,
        blocks: &BlockSet,
    ) -> Result<ChatPage, ChatError> {
        let name = room.name();
        let store = &self.inner.store;
        let last_seq = store
            .chat_last_seq(&name)
            .await
            .map_err(ChatError::internal)?;
        let before = before.map(|b| b as i64).unwrap_or(i64::MAX);
        let mut records = store
            .chat_before(&name, before, limit as i64 + 1)
            .await
            .map_err(ChatError::internal)?;
        let has_more = records.len() > limit;
        if has_more {
            records.remove(0);
        }
        let last_seq = records
            .last()
            .map(|r| r.seq)
            .unwrap_or(0)
            .max(last_seq)
            .max(0) as u64;
        Ok(ChatPage {
            room: name,
            entries: records
                .into_iter()
                .map(|r| view(entry_of(r), blocks))
                .collect(),
            last_seq,
            has_more,
        })
    }

    /// Entries after `after`, at most `limit`, as a subscriber sees them.
    pub(crate) async fn after(
        &self,
        room: RoomId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatEntry>, ChatError> {
        Ok(self
            .inner
            .store
            .chat_after(&room.name(), after as i64, limit as i64)
            .await
            .map_err(ChatError::internal)?
            .into_iter()
            .map(entry_of)
            .collect())
    }

    /// Takes one message from the player's bucket for the room; refusals in a row earn a
    /// flood mute.
    async fn take_token(&self, player: Uuid, room: RoomId, now_ms: i64) -> Result<(), ChatError> {
        let cfg = self.inner.config;
        let refill = cfg.refill.as_secs_f64().max(0.001);
        let (allowed, flood, wait) = {
            let mut buckets = self.inner.buckets.lock().unwrap_or_else(|p| p.into_inner());
            if buckets.len() > 100_000 {
                let now = Instant::now();
                buckets.retain(|_, b| {
                    now.duration_since(b.at).as_secs_f64() < refill * cfg.burst as f64
                });
            }
            let b = buckets.entry((player, room)).or_insert(Bucket {
                tokens: cfg.burst as f64,
                at: Instant::now(),
                strikes: 0,
            });
            let now = Instant::now();
            b.tokens =
                (b.tokens + now.duration_since(b.at).as_secs_f64() / refill).min(cfg.burst as f64);
            b.at = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                b.strikes = 0;
                (true, false, 0.0)
            } else {
                b.strikes += 1;
                let flood = b.strikes >= cfg.flood_strikes;
                if flood {
                    b.strikes = 0;
                }
                (false, flood, (1.0 - b.tokens) * refill)
            }
        };
        if allowed {
            return Ok(());
        }
        if flood {
            let until = now_ms + cfg.flood_mute.as_millis() as i64;
            self.inner
                .store
                .mute_player(player, until, "flood", now_ms)
                .await
                .map_err(ChatError::internal)?;
            metrics::counter!("chat_flood_mutes_total").increment(1);
            return Err(muted(until, now_ms));
        }
        let mut e = ChatError::new(ErrorCode::ChatRateLimited, "too many messages; slow down");
        e.retry_after_secs = Some(wait.ceil().max(1.0) as u64);
        Err(e)
    }

    async fn publish(&self, room: RoomId, entry: &ChatEntry) {
        let Ok(json) = serde_json::to_vec(&ServerMessage::Chat(entry.clone())) else {
            return;
        };
        if let Err(e) = self
            .inner
            .bus
            .publish(room.subject(), Bytes::from(json))
            .await
        {
            // Feeds notice the gap with the next entry and read it from the database.
            tracing::warn!(room = %room.name(), error = %e, "cannot publish a chat entry");
        }
    }

    /// The players `player` blocks, shared by its connections on this node and kept up to
    /// date by block changes from any node.
    pub async fn block_set(&self, player: Uuid) -> Result<Arc<BlockSet>, ChatError> {
        if let Some(set) = self
            .inner
            .blocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&player)
            .and_then(Weak::upgrade)
        {
            return Ok(set);
        }
        let ids = self
            .inner
            .store
            .blocked_players(player)
            .await
            .map_err(ChatError::internal)?;
        let set = Arc::new(RwLock::new(ids.into_iter().collect::<HashSet<_>>()));
        let mut blocks = self.inner.blocks.lock().unwrap_or_else(|p| p.into_inner());
        blocks.retain(|_, w| w.strong_count() > 0);
        match blocks.get(&player).and_then(Weak::upgrade) {
            Some(existing) => Ok(existing),
            None => {
                blocks.insert(player, Arc::downgrade(&set));
                Ok(set)
            }
        }
    }

    /// `player` blocks (`on`) or unblocks `blocked`, everywhere at once.
    pub async fn set_block(&self, player: Uuid, blocked: Uuid, on: bool) -> Result<(), ChatError> {
        let store = &self.inner.store;
        if on {
            store
                .block_player(player, blocked, crate::now_ms())
                .await
                .map_err(ChatError::internal)?;
        } else {
            store
                .unblock_player(player, blocked)
                .await
                .map_err(ChatError::internal)?;
        }
        let change = BlockChange {
            player,
            blocked,
            on,
        };
        self.apply_block(&change);
        if let Ok(json) = serde_json::to_vec(&change) {
            let _ = self
                .inner
                .bus
                .publish(BLOCKS_SUBJECT.to_string(), Bytes::from(json))
                .await;
        }
        Ok(())
    }

    fn apply_block(&self, change: &BlockChange) {
        let set = self
            .inner
            .blocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&change.player)
            .and_then(Weak::upgrade);
        if let Some(set) = set {
            let mut set = set.write().unwrap_or_else(|p| p.into_inner());
            if change.on {
                set.insert(change.blocked);
            } else {
                set.remove(&change.blocked);
            }
        }
    }

    /// Writes system messages (already in commit order) in ONE transaction, then publishes
    /// each entry, in order, once committed. If the batch fails, its entries are written one
    /// by one, so one bad entry cannot lose the others.
    async fn write_system(&self, entries: Vec<(RoomId, NewChatEntry)>) {
        if entries.is_empty() {
            return;
        }
        let store = &self.inner.store;
        let batch: Vec<NewChatEntry> = entries.iter().map(|(_, e)| e.clone()).collect();
        let written = store.append_chat_batch(&batch).await;
        metrics::histogram!("chat_system_batch_entries").record(batch.len() as f64);
        metrics::counter!("chat_system_commits_total").increment(1);
        match written {
            Ok(records) => {
                for ((room, _), record) in entries.iter().zip(records) {
                    self.publish(*room, &entry_of(record)).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, entries = batch.len(), "cannot write a batch of system chat messages; writing them one by one");
                for (room, entry) in entries {
                    metrics::counter!("chat_system_commits_total").increment(1);
                    match store.append_chat(entry).await {
                        Ok(record) => self.publish(room, &entry_of(record)).await,
                        Err(e) => {
                            tracing::warn!(room = %room.name(), error = %e, "cannot write a system chat message");
                        }
                    }
                }
            }
        }
    }
}

fn muted(until_ms: i64, now_ms: i64) -> ChatError {
    let mut e = ChatError::new(
        ErrorCode::Muted,
        format!(
            "you are muted until {}",
            crate::time_from_ms(until_ms).to_rfc3339()
        ),
    );
    e.retry_after_secs = Some(((until_ms - now_ms).max(0) as u64).div_ceil(1000).max(1));
    e
}

/// A stored entry as it goes on the wire.
pub fn entry_of(r: ChatRecord) -> ChatEntry {
    ChatEntry {
        room: r.room,
        seq: r.seq.max(0) as u64,
        at: crate::time_from_ms(r.at_ms),
        kind: match r.kind {
            ChatKind::Message => ChatEntryKind::Message,
            ChatKind::System => ChatEntryKind::System,
            ChatKind::Deletion => ChatEntryKind::Deletion,
        },
        author: match (r.author_id, r.author_username) {
            (Some(id), Some(username)) => Some(PlayerRef { id, username }),
            _ => None,
        },
        text: r.body,
        target_seq: r.target_seq.map(|s| s.max(0) as u64),
        deleted: r.deleted,
    }
}

/// The entry as a player who blocks `blocks` sees it: a blocked author's message is hidden.
pub fn view(entry: ChatEntry, blocks: &BlockSet) -> ChatEntry {
    let blocked = entry.kind == ChatEntryKind::Message
        && entry.author.as_ref().is_some_and(|a| {
            blocks
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&a.id)
        });
    if blocked { hidden(entry) } else { entry }
}

fn hidden(entry: ChatEntry) -> ChatEntry {
    ChatEntry {
        kind: ChatEntryKind::Hidden,
        author: None,
        text: None,
        target_seq: None,
        deleted: false,
        ..entry
    }
}

/// The sentence a game event is shown as in the game's chat, if any.
pub fn system_text(seats: &[Option<PlayerRef>], event: &GameEvent) -> Option<String> {
    let name = |seat: &u32| {
        seats
            .get(*seat as usize)
            .and_then(|p| p.as_ref())
            .map(|p| p.username.clone())
            .unwrap_or_else(|| format!("seat {}", seat + 1))
    };
    Some(match event {
        GameEvent::SeatTaken { player, .. } => format!("{} joined the game", player.username),
        GameEvent::Started { .. } => "The game started".to_string(),
        GameEvent::PlayerLeft { seat, .. } => format!("{} disconnected", name(seat)),
        GameEvent::PlayerReturned { seat } => format!("{} is back", name(seat)),
        GameEvent::DrawOffered { seat } => format!("{} offers a draw", name(seat)),
        GameEvent::DrawDeclined { seat } => format!("{} declines the draw", name(seat)),
        GameEvent::RematchOffered { seat } => format!("{} asks for a rematch", name(seat)),
        GameEvent::RematchStarted { .. } => "A rematch started".to_string(),
        GameEvent::Ended { result, .. } => {
            let reason = result.reason.replace('_', " ");
            match (result.outcome.as_str(), result.winner) {
                ("win", Some(w)) => format!("Game over: {} wins ({reason})", name(&w)),
                ("aborted", _) => "The game was aborted".to_string(),
                _ => format!("Game over: draw ({reason})"),
            }
        }
        GameEvent::Moved { .. } | GameEvent::Resumed { .. } | GameEvent::Ticks { .. } => {
            return None;
        }
    })
}

/// Most system notes written in one transaction (each note is one entry in each of the
/// game's two rooms).
const SYSTEM_BATCH: usize = 256;

/// Writes system messages in the order the game owners committed the events. Group commit,
/// like the journal writer: it takes the first waiting note and every other note already
/// queued (up to [`SYSTEM_BATCH`]) and writes all their entries in one transaction, so a
/// burst of game events costs one commit (one fsync), not two per event; when idle, a note
/// is written at once.
async fn write_system_notes(chat: ChatService, mut rx: mpsc::Receiver<SystemNote>) {
    let mut notes = Vec::with_capacity(SYSTEM_BATCH);
    while rx.recv_many(&mut notes, SYSTEM_BATCH).await > 0 {
        let at_ms = crate::now_ms();
        let mut entries = Vec::with_capacity(notes.len() * 2);
        for note in notes.drain(..) {
            let Some(text) = system_text(&note.seats, &note.event) else {
                continue;
            };
            for room in [
                RoomId::Players(note.game_id),
                RoomId::Spectators(note.game_id),
            ] {
                let entry = NewChatEntry {
                    room: room.name(),
                    at_ms,
                    kind: ChatKind::System,
                    author_id: None,
                    body: Some(text.clone()),
                    target_seq: None,
                };
                entries.push((room, entry));
            }
        }
        chat.write_system(entries).await;
    }
}

/// Applies block changes made on other nodes to this node's connections.
async fn follow_block_changes(chat: ChatService) {
    let mut sub = match chat.inner.bus.subscribe(BLOCKS_SUBJECT.to_string()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot follow chat block changes");
            return;
        }
    };
    while let Some(msg) = sub.next().await {
        if let Ok(change) = serde_json::from_slice::<BlockChange>(&msg.payload) {
            chat.apply_block(&change);
        }
    }
}

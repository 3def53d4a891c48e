//! Live scorekeeping (issue 7): rating and leaderboard updates over the bus, delivered to
//! this node's WebSocket watchers.
//!
//! Ratings are written by the store in the transaction that commits a session's `ended`
//! event. After that commit the game's owner calls [`announce_session_end`], which reads the
//! new ratings and ranks and publishes:
//! - on `versus.ratings.<player_id>`: a ready-to-send `rating_update` message per player;
//! - on `versus.leaderboard.<kind>`: a notice naming the players whose rating changed.
//!
//! Every node with local watchers listens ([`Scoreboard`]): one bus subscription per watched
//! player and per watched board, started with the first local watcher and dropped with the
//! last. Leaderboard notices are coalesced per board: the first change after a quiet second
//! is sent at once, later ones wait so that each board sends at most one update per
//! `coalesce` interval (1 s), each carrying the board as it is then. Delivery is
//! `try_send` into the connection's bounded outbox; a full outbox kicks the client (4008).
//! Notices are best-effort (a crash between the commit and the announcement loses them, not
//! the rating): a client that reconnects reads the current state over REST.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;
use versus_protocol::{LeaderboardUpdate, RatingUpdate, ServerMessage, close_code};
use versus_store::{DynStore, HistoryQuery};

use crate::bus::Bus;
use crate::games::{Kick, Wire};
use crate::routes::ratings::entry;

/// At most one leaderboard update per board per this interval.
pub const LEADERBOARD_COALESCE: Duration = Duration::from_secs(1);

/// The subject of a player's rating updates.
pub fn rating_subject(player_id: Uuid) -> String {
    format!("versus.ratings.{player_id}")
}

/// The subject of a kind's leaderboard change notices.
pub fn leaderboard_subject(kind: &str) -> String {
    format!("versus.leaderboard.{kind}")
}

/// What travels on `versus.leaderboard.<kind>`.
#[derive(Debug, Serialize, Deserialize)]
struct BoardNotice {
    changed: Vec<String>,
}

/// Reads the new ratings of a finished session's players and publishes them (in a task of
/// its own: the game's actor never waits for it).
pub fn announce_session_end(store: DynStore, bus: Bus, game_id: Uuid, session_id: Uuid) {
    tokio::spawn(async move {
        if let Err(e) = announce(&store, &bus, game_id, session_id).await {
            tracing::warn!(%game_id, %session_id, error = %e, "cannot announce new ratings");
        }
    });
}

async fn announce(
    store: &DynStore,
    bus: &Bus,
    game_id: Uuid,
    session_id: Uuid,
) -> Result<(), String> {
    let err = |e: versus_store::StoreError| e.to_string();
    let Some(game) = store.game(game_id).await.map_err(err)? else {
        return Ok(());
    };
    if !game.rated {
        return Ok(());
    }
    let mut changed = Vec::new();
    for seat in store.seats(session_id).await.map_err(err)? {
        let history = store
            .player_history(&HistoryQuery {
                player_id: seat.player_id,
                kind: Some(game.kind.clone()),
                before_session: None,
                limit: 20,
            })
            .await
            .map_err(err)?;
        let Some(h) = history.into_iter().find(|h| h.session_id == session_id) else {
            continue;
        };
        let (Some(before), Some(after)) = (h.rating_before, h.rating_after) else {
            continue;
        };
        let Some(line) = store
            .leaderboard_entry(&game.kind, seat.player_id)
            .await
            .map_err(err)?
        else {
            continue;
        };
        let e = entry(&line);
        let msg = ServerMessage::RatingUpdate(RatingUpdate {
            kind: game.kind.clone(),
            game_id,
            session_id,
            result: h.result,
            rating: after,
            score: after.round() as i64,
            deviation: e.deviation,
            provisional: e.provisional,
            change: after.round() as i64 - before.round() as i64,
            rank: Some(e.rank),
        });
        let json = serde_json::to_string(&msg).map_err(|e| e.to_string())?;
        bus.publish(rating_subject(seat.player_id), Bytes::from(json))
            .await
            .map_err(|e| e.to_string())?;
        changed.push(seat.username);
    }
    if !changed.is_empty() {
        let json = serde_json::to_vec(&BoardNotice { changed }).map_err(|e| e.to_string())?;
        bus.publish(leaderboard_subject(&game.kind), Bytes::from(json))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One local connection watching a topic.
#[derive(Debug, Clone)]
pub struct Watcher {
    pub conn_id: u64,
    pub outbox: crate::outbox::Outbox,
    pub kick: Kick,
    /// Leaderboards: the lines of the top the watcher wants.
    pub limit: usize,
}

impl Watcher {
    fn deliver(&self, wire: &Wire) {
        if self.outbox.try_send(wire.clone()).is_err() {
            self.kick.kick(close_code::SLOW_CONSUMER);
        }
    }
}

struct Topic {
    watchers: Vec<Watcher>,
    /// Becomes true once the bus subscription is live.
    ready: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl Drop for Topic {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// This node's rating and leaderboard watchers. Cheap to clone.
#[derive(Clone)]
pub struct Scoreboard {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Scoreboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scoreboard")
    }
}

struct Inner {
    store: DynStore,
    bus: Bus,
    coalesce: Duration,
    ratings: Mutex<HashMap<Uuid, Topic>>,
    boards: Mutex<HashMap<String, Topic>>,
}

/// How long a watcher waits for a new bus subscription before the reply is sent anyway.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

async fn wait_ready(mut ready: watch::Receiver<bool>) {
    let _ = tokio::time::timeout(READY_TIMEOUT, ready.wait_for(|r| *r)).await;
}

impl Scoreboard {
    pub fn new(store: DynStore, bus: Bus, coalesce: Duration) -> Scoreboard {
        Scoreboard {
            inner: Arc::new(Inner {
                store,
                bus,
                coalesce,
                ratings: Mutex::new(HashMap::new()),
                boards: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    /// Adds a watcher of `player`'s ratings; resolves once updates will be delivered.
    pub async fn watch_rating(&self, player: Uuid, watcher: Watcher) {
        let ready = {
            let mut map = self.inner.ratings.lock().unwrap_or_else(|p| p.into_inner());
            let topic = map.entry(player).or_insert_with(|| {
                let (tx, rx) = watch::channel(false);
                let task = tokio::spawn(rating_task(self.clone(), player, tx));
                Topic {
                    watchers: Vec::new(),
                    ready: rx,
                    task,
                }
            });
            topic.watchers.retain(|w| w.conn_id != watcher.conn_id);
            topic.watchers.push(watcher);
            topic.ready.clone()
        };
        wait_ready(ready).await;
    }

    /// Removes a watcher of `player`'s ratings; returns whether it was there.
    pub fn unwatch_rating(&self, player: Uuid, conn_id: u64) -> bool {
        remove(&self.inner.ratings, &player, conn_id)
    }

    /// Adds a watcher of `kind`'s leaderboard; resolves once updates will be delivered.
    pub async fn watch_board(&self, kind: &str, watcher: Watcher) {
        let ready = {
            let mut map = self.inner.boards.lock().unwrap_or_else(|p| p.into_inner());
            let topic = map.entry(kind.to_owned()).or_insert_with(|| {
                let (tx, rx) = watch::channel(false);
                let task = tokio::spawn(board_task(self.clone(), kind.to_owned(), tx));
                Topic {
                    watchers: Vec::new(),
                    ready: rx,
                    task,
                }
            });
            topic.watchers.retain(|w| w.conn_id != watcher.conn_id);
            topic.watchers.push(watcher);
            topic.ready.clone()
        };
        wait_ready(ready).await;
    }

    /// Removes a watcher of a leaderboard; returns whether it was there.
    pub fn unwatch_board(&self, kind: &str, conn_id: u64) -> bool {
        remove(&self.inner.boards, kind, conn_id)
    }

    /// How many boards a connection watches.
    pub fn boards_of(&self, conn_id: u64) -> usize {
        self.inner
            .boards
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|t| t.watchers.iter().any(|w| w.conn_id == conn_id))
            .count()
    }

    /// Forgets every watcher of a closed connection.
    pub fn forget_connection(&self, conn_id: u64) {
        forget(&self.inner.boards, conn_id);
        forget(&self.inner.ratings, conn_id);
    }

    fn rating_watchers(&self, player: Uuid) -> Vec<Watcher> {
        self.inner
            .ratings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&player)
            .map(|t| t.watchers.clone())
            .unwrap_or_default()
    }

    fn board_watchers(&self, kind: &str) -> Vec<Watcher> {
        self.inner
            .boards
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(kind)
            .map(|t| t.watchers.clone())
            .unwrap_or_default()
    }
}

fn forget<K>(map: &Mutex<HashMap<K, Topic>>, conn_id: u64) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.retain(|_, t| {
        t.watchers.retain(|w| w.conn_id != conn_id);
        !t.watchers.is_empty()
    });
}

fn remove<K, Q>(map: &Mutex<HashMap<K, Topic>>, key: &Q, conn_id: u64) -> bool
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    let Some(topic) = map.get_mut(key) else {
        return false;
    };
    let before = topic.watchers.len();
    topic.watchers.retain(|w| w.conn_id != conn_id);
    let removed = topic.watchers.len() != before;
    if topic.watchers.is_empty() {
        map.remove(key);
    }
    removed
}

/// Forwards a player's rating updates (already serialized by the publisher).
async fn rating_task(board: Scoreboard, player: Uuid, ready: watch::Sender<bool>) {
    let mut sub = match board.inner.bus.subscribe(rating_subject(player)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%player, error = %e, "cannot follow ratings");
            let _ = ready.send(true);
            return;
        }
    };
    let _ = ready.send(true);
    while let Some(msg) = sub.next().await {
        let Ok(text) = String::from_utf8(msg.payload.to_vec()) else {
            continue;
        };
        let wire = Wire::from(text);
        for w in board.rating_watchers(player) {
            w.deliver(&wire);
        }
    }
}

/// Collects a board's change notices and sends at most one update per `coalesce`.
async fn board_task(board: Scoreboard, kind: String, ready: watch::Sender<bool>) {
    let mut sub = match board.inner.bus.subscribe(leaderboard_subject(&kind)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%kind, error = %e, "cannot follow a leaderboard");
            let _ = ready.send(true);
            return;
        }
    };
    let _ = ready.send(true);
    let mut changed: BTreeSet<String> = BTreeSet::new();
    let mut last_sent: Option<tokio::time::Instant> = None;
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let wait = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = sub.next() => {
                let Some(msg) = msg else { return };
                if let Ok(notice) = serde_json::from_slice::<BoardNotice>(&msg.payload) {
                    changed.extend(notice.changed);
                }
                if due.is_none() {
                    let now = tokio::time::Instant::now();
                    due = Some(match last_sent {
                        Some(t) if t + board.inner.coalesce > now => t + board.inner.coalesce,
                        _ => now,
                    });
                }
            }
            () = wait => {
                due = None;
                last_sent = Some(tokio::time::Instant::now());
                let names: Vec<String> = std::mem::take(&mut changed).into_iter().collect();
                send_board(&board, &kind, names).await;
            }
        }
    }
}

async fn send_board(board: &Scoreboard, kind: &str, changed: Vec<String>) {
    let watchers = board.board_watchers(kind);
    let Some(max) = watchers.iter().map(|w| w.limit).max() else {
        return;
    };
    let store = &board.inner.store;
    let (rows, total) = match (
        store.leaderboard(kind, max as i64, 0).await,
        store.leaderboard_size(kind).await,
    ) {
        (Ok(r), Ok(t)) => (r, t),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(%kind, error = %e, "cannot read a leaderboard");
            return;
        }
    };
    let lines: Vec<_> = rows.iter().map(entry).collect();
    let mut by_limit: HashMap<usize, Wire> = HashMap::new();
    metrics::counter!("leaderboard_updates_total").increment(1);
    for w in watchers {
        let wire = by_limit.entry(w.limit).or_insert_with(|| {
            let msg = ServerMessage::LeaderboardUpdate(LeaderboardUpdate {
                kind: kind.to_owned(),
                total: total.max(0) as u64,
                leaderboard: lines.iter().take(w.limit).cloned().collect(),
                changed: changed.clone(),
            });
            Wire::from(serde_json::to_string(&msg).unwrap_or_default())
        });
        w.deliver(wire);
    }
}

/// What a WebSocket connection hands over for `leaderboard_subscribe` / `rating_subscribe`.
#[derive(Debug)]
pub struct WsWatch {
    pub scores: Scoreboard,
    pub player: Uuid,
    pub watcher: Watcher,
    pub max_pending: usize,
}

/// Boards one connection may follow at once.
pub const MAX_BOARDS_PER_CONNECTION: usize = 8;
/// Lines of the top sent to a leaderboard watcher by default.
pub const DEFAULT_WATCH_LIMIT: u32 = 10;

type Pending = futures_util::stream::FuturesUnordered<crate::ws::Reply>;

/// `leaderboard_subscribe`: an immediate error, or a reply that follows through `pending`.
pub fn ws_watch_board(
    w: WsWatch,
    id: Option<String>,
    kind: String,
    limit: Option<u32>,
    pending: &mut Pending,
) -> Option<ServerMessage> {
    use versus_protocol::ErrorCode;
    if let Some(bad) = crate::ws::bad_id(&id) {
        return Some(bad);
    }
    if versus_rules::kind(&kind).is_none() {
        return Some(crate::ws::error(
            id,
            ErrorCode::UnknownKind,
            "no such game kind",
        ));
    }
    let limit = limit.unwrap_or(DEFAULT_WATCH_LIMIT);
    if !(1..=crate::routes::ratings::MAX_LEADERBOARD_LIMIT).contains(&limit) {
        return Some(crate::ws::error(
            id,
            ErrorCode::ValidationFailed,
            "limit must be 1 to 100",
        ));
    }
    if w.scores.boards_of(w.watcher.conn_id) >= MAX_BOARDS_PER_CONNECTION {
        return Some(crate::ws::error(
            id,
            ErrorCode::RateLimited,
            "too many leaderboards on this connection",
        ));
    }
    if pending.len() >= w.max_pending {
        return Some(crate::ws::error(
            id,
            ErrorCode::Overloaded,
            "too many requests in flight on this connection",
        ));
    }
    let mut watcher = w.watcher;
    watcher.limit = limit as usize;
    pending.push(Box::pin(async move {
        w.scores.watch_board(&kind, watcher).await;
        match crate::routes::ratings::read_board(w.scores.store(), &kind, limit, 0).await {
            Ok(board) => ServerMessage::LeaderboardSubscribed { id, board },
            Err(e) => {
                tracing::error!(error = %e, "cannot read a leaderboard");
                crate::ws::error(id, ErrorCode::Internal, "internal error")
            }
        }
    }));
    None
}

/// `rating_subscribe`: an immediate error, or a reply that follows through `pending`.
pub fn ws_watch_rating(
    w: WsWatch,
    id: Option<String>,
    pending: &mut Pending,
) -> Option<ServerMessage> {
    if let Some(bad) = crate::ws::bad_id(&id) {
        return Some(bad);
    }
    if pending.len() >= w.max_pending {
        return Some(crate::ws::error(
            id,
            versus_protocol::ErrorCode::Overloaded,
            "too many requests in flight on this connection",
        ));
    }
    pending.push(Box::pin(async move {
        w.scores.watch_rating(w.player, w.watcher).await;
        ServerMessage::RatingSubscribed { id }
    }));
    None
}

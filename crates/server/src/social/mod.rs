//! Social (issue 9): notifications and presence, live over the bus.
//!
//! **Inbox.** Every player has one bus subject, `versus.inbox.<player_id>`, carrying
//! ready-to-send `ServerMessage`s for them (`notification`, `presence`). Each node holds one
//! subscription to all of them (`versus.inbox.*`, one task and one bounded queue for the
//! node, not one per player: an idle connection costs no subscription) and delivers each
//! message to the bounded outboxes of its own WebSockets of that player, if any (a full one
//! is kicked, 4008); a message for a player with no connection here is dropped. So every
//! node sees every inbox message of the cluster: they are few (notifications and coalesced
//! presence changes), see docs/SCALING.md. Notifications are stored first
//! (`notifications` table), so a player who was offline reads them later over REST.
//!
//! **Presence across nodes.** A player is online while any node holds a WebSocket of theirs.
//! Each node counts its connections per player and writes the count to
//! `presence_connections (player, node, connections, expires_at)`; it refreshes the expiry of
//! all its rows every `presence_refresh_ms` (expiry = 3 refreshes), so a dead node's rows
//! expire and any node's sweep deletes them and announces those players offline. A change
//! (a connection opened or closed here, a game of theirs run here started or ended) only marks
//! the player dirty; every `presence_coalesce_ms` the node writes its counts for the dirty
//! players and, for each one, claims the announcement in the database
//! (`SocialStore::claim_presence_change`): one transaction locks the player's row of
//! `presence_announced` (what friends were last told, cluster-wide), reads their presence
//! (online anywhere? seated in a game in progress?) and records it only when it differs. Only
//! the node whose claim changed the row publishes a `presence` message to each friend's
//! inbox. So a connection that flaps within the window sends nothing, two nodes noticing one
//! change announce it once, and no node holds a memory of what was said that another node's
//! announcement could make stale (a player connected to one node while a game of theirs runs
//! on another is announced by both, each comparing with the same row). Going offline records
//! `last_seen` in the same transaction. Becoming friends claims both players' presence first
//! ([`Social::befriended`]), then tells the new friend directly if nothing changed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use versus_protocol::{
    GameEvent, Notification, NotificationKind, PlayerRef, Presence, PresenceStatus, PresenceUpdate,
    ServerMessage, close_code,
};
use versus_store::{AnnouncedPresence, DynStore, NewNotification, NotificationRecord};

use crate::bus::Bus;
use crate::games::Wire;
use crate::ratings::Watcher;
use crate::{now_ms, time_from_ms};

/// Knobs of the social features (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct SocialConfig {
    /// How long an invite stays valid.
    pub invite_ttl: Duration,
    /// Presence changes are coalesced over this window.
    pub presence_coalesce: Duration,
    /// How often a node refreshes its presence rows (they expire after three).
    pub presence_refresh: Duration,
}

/// The subject of a player's inbox.
pub fn inbox_subject(player_id: Uuid) -> String {
    format!("versus.inbox.{player_id}")
}

/// Every player's inbox: what a node subscribes to.
const INBOXES: &str = "versus.inbox.*";

/// Game events the social side turns into notifications and presence.
const TAP_QUEUE: usize = 4096;

/// Most queued game events turned into notifications in one transaction.
const TAP_BATCH: usize = 128;

/// A notification kind's stored name (its wire name).
fn kind_name(kind: NotificationKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// This node's social service. Cheap to clone.
#[derive(Clone)]
pub struct Social {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Social {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Social")
    }
}

struct Local {
    watchers: Vec<Watcher>,
    /// The connection count this node last wrote to the database for the player (skips
    /// writing the same count again when a game start or end marks the player).
    written: Option<i64>,
}

struct Inner {
    store: DynStore,
    bus: Bus,
    node: String,
    config: SocialConfig,
    local: Mutex<HashMap<Uuid, Local>>,
    dirty: Mutex<HashSet<Uuid>>,
    /// This node's writes of its presence counts take turns (one at a time): a reconnect
    /// storm's writes wait here, not in the database pool everyone else needs.
    presence_writes: tokio::sync::Semaphore,
    /// Players whose first connection here is not written yet ([`Social::write_arrivals`]),
    /// and the presence task's wake-up for them.
    arrived: Mutex<HashSet<Uuid>>,
    arrivals: tokio::sync::Notify,
    tap: mpsc::Sender<crate::chat::SystemNote>,
}

impl Social {
    /// Starts the service and its presence task (stops with `shutdown`).
    pub fn start(
        store: DynStore,
        bus: Bus,
        node: String,
        config: SocialConfig,
        shutdown: CancellationToken,
    ) -> Social {
        let (tap, tap_rx) = mpsc::channel(TAP_QUEUE);
        let social = Social {
            inner: Arc::new(Inner {
                store,
                bus,
                node,
                config,
                local: Mutex::new(HashMap::new()),
                dirty: Mutex::new(HashSet::new()),
                presence_writes: tokio::sync::Semaphore::new(1),
                arrived: Mutex::new(HashSet::new()),
                arrivals: tokio::sync::Notify::new(),
                tap,
            }),
        };
        tokio::spawn(inbox_task(social.clone()));
        tokio::spawn(presence_task(social.clone(), shutdown));
        tokio::spawn(tap_task(social.clone(), tap_rx));
        social
    }

    pub fn config(&self) -> &SocialConfig {
        &self.inner.config
    }

    /// Where the game actors hand their committed events (game starts and results).
    pub fn game_tap(&self) -> mpsc::Sender<crate::chat::SystemNote> {
        self.inner.tap.clone()
    }

    /// A WebSocket of `player` is open on this node: deliver their inbox to it.
    pub fn connect(&self, player: Uuid, watcher: Watcher) {
        let first = {
            let mut local = self.inner.local.lock().unwrap_or_else(|p| p.into_inner());
            let entry = local.entry(player).or_insert_with(|| Local {
                watchers: Vec::new(),
                written: None,
            });
            entry.watchers.retain(|w| w.conn_id != watcher.conn_id);
            entry.watchers.push(watcher);
            entry.watchers.len() == 1
        };
        if first {
            // Online in the database at once (`GET /api/v1/friends` shows it); the
            // announcement waits for the coalescing window. The presence task writes every
            // first connection queued meanwhile in one transaction (a reconnect storm's
            // writes must not fill the database or its one writer), as the count is then, so
            // a late write cannot undo a newer one; the player is marked again once written,
            // so a flush that ran before it (after a quick disconnect) is followed by one that
            // writes the true count again.
            self.inner
                .arrived
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(player);
            self.inner.arrivals.notify_one();
        }
        self.mark(player);
    }

    /// The WebSocket `conn_id` of `player` closed.
    pub fn disconnect(&self, player: Uuid, conn_id: u64) {
        {
            let mut local = self.inner.local.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = local.get_mut(&player) {
                entry.watchers.retain(|w| w.conn_id != conn_id);
                if entry.watchers.is_empty() {
                    local.remove(&player);
                }
            }
        }
        self.mark(player);
    }

    /// Writes this node's connection counts of `players` (as they are once this write's turn
    /// comes: writes are one at a time, [`Inner::presence_writes`]), in one transaction,
    /// skipping counts this node already wrote. `only_if_online`: skip counts of 0 (a
    /// connection that is already gone; the flush records that).
    async fn write_presences(&self, players: &[Uuid], only_if_online: bool) {
        let _turn = self.inner.presence_writes.acquire().await;
        let counts: Vec<(Uuid, i64)> = {
            let local = self.inner.local.lock().unwrap_or_else(|p| p.into_inner());
            players
                .iter()
                .filter_map(|p| {
                    let (n, written) = local
                        .get(p)
                        .map_or((0, None), |l| (l.watchers.len() as i64, l.written));
                    ((!only_if_online || n > 0) && written != Some(n)).then_some((*p, n))
                })
                .collect()
        };
        if counts.is_empty() {
            return;
        }
        let store = &self.inner.store;
        let node = &self.inner.node;
        let written: Vec<(Uuid, i64)> = match store
            .set_node_presences(node, &counts, self.expiry())
            .await
        {
            Ok(()) => counts,
            Err(e) => {
                // One bad row (a player deleted meanwhile) must not cost the others.
                tracing::warn!(error = %e, players = counts.len(), "cannot record presence in one batch; one by one");
                let mut ok = Vec::with_capacity(counts.len());
                for (p, n) in counts {
                    match store.set_node_presence(p, node, n, self.expiry()).await {
                        Ok(()) => ok.push((p, n)),
                        Err(e) => tracing::warn!(player = %p, error = %e, "cannot record presence"),
                    }
                }
                ok
            }
        };
        let mut local = self.inner.local.lock().unwrap_or_else(|p| p.into_inner());
        for (p, n) in written {
            if let Some(l) = local.get_mut(&p) {
                l.written = Some(n);
            }
        }
    }

    /// Writes the first connections' presence, batched: whatever arrived while the previous
    /// write ran goes in the next (one transaction), then those players are marked for the
    /// coalesced announcement.
    async fn write_arrivals(&self) {
        let arrived: Vec<Uuid> = self
            .inner
            .arrived
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        if arrived.is_empty() {
            return;
        }
        self.write_presences(&arrived, true).await;
        for p in arrived {
            self.mark(p);
        }
    }

    fn mark(&self, player: Uuid) {
        self.inner
            .dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(player);
    }

    /// The players with a WebSocket on this node.
    fn local_players(&self) -> Vec<Uuid> {
        self.inner
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect()
    }

    fn local_len(&self) -> usize {
        self.inner
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn local_count(&self, player: Uuid) -> i64 {
        self.inner
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&player)
            .map_or(0, |l| l.watchers.len() as i64)
    }

    fn deliver_local(&self, player: Uuid, wire: &Wire) {
        let watchers = self
            .inner
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&player)
            .map(|l| l.watchers.clone())
            .unwrap_or_default();
        for w in watchers {
            if w.outbox.try_send(wire.clone()).is_err() {
                w.kick.kick(close_code::SLOW_CONSUMER);
            }
        }
    }

    /// Publishes a ready-to-send message to `player`'s inbox (every node holding one of their
    /// connections delivers it).
    pub async fn send_to(&self, player: Uuid, msg: &ServerMessage) {
        let Ok(json) = serde_json::to_string(msg) else {
            return;
        };
        if let Err(e) = self
            .inner
            .bus
            .publish(inbox_subject(player), Bytes::from(json))
            .await
        {
            tracing::warn!(%player, error = %e, "cannot publish to an inbox");
        }
    }

    /// Stores a notification for `player` and delivers it live. `from`: the player who
    /// caused it, if any (hidden from `player`'s list while they block `from`).
    pub async fn notify(
        &self,
        player: Uuid,
        from: Option<Uuid>,
        kind: NotificationKind,
        data: serde_json::Value,
    ) -> Result<Notification, versus_store::StoreError> {
        let kind_str = kind_name(kind);
        let record = self
            .inner
            .store
            .create_notification(NewNotification {
                id: Uuid::now_v7(),
                player_id: player,
                from_id: from,
                kind: kind_str,
                payload: data.to_string(),
                created_at_ms: now_ms(),
            })
            .await?;
        let n = notification(&record);
        self.send_to(player, &ServerMessage::Notification(n.clone()))
            .await;
        Ok(n)
    }

    /// Stores several notifications in one transaction (one commit for a batch of game
    /// starts and results), then delivers each live. If the batch cannot be stored, each is
    /// tried on its own, so one bad row (a player deleted meanwhile) loses no other.
    pub async fn notify_many(&self, items: Vec<(Uuid, NotificationKind, serde_json::Value)>) {
        if items.is_empty() {
            return;
        }
        let now = now_ms();
        let batch: Vec<NewNotification> = items
            .iter()
            .map(|(player, kind, data)| NewNotification {
                id: Uuid::now_v7(),
                player_id: *player,
                from_id: None,
                kind: kind_name(*kind),
                payload: data.to_string(),
                created_at_ms: now,
            })
            .collect();
        match self.inner.store.create_notifications(batch).await {
            Ok(records) => {
                for record in &records {
                    let n = notification(record);
                    self.send_to(record.player_id, &ServerMessage::Notification(n))
                        .await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, notifications = items.len(), "cannot store a batch of notifications; storing them one by one");
                for (player, kind, data) in items {
                    if let Err(e) = self.notify(player, None, kind, data).await {
                        tracing::warn!(%player, error = %e, "cannot store a notification");
                    }
                }
            }
        }
    }

    /// `player`'s presence across the cluster, now.
    pub async fn presence_of(&self, player: Uuid) -> Result<Presence, versus_store::StoreError> {
        let store = &self.inner.store;
        let now = now_ms();
        if store.is_online(player, now).await? {
            Ok(match store.playing(player).await? {
                Some(game_id) => Presence {
                    status: PresenceStatus::InGame,
                    game_id: Some(game_id),
                    last_seen: None,
                },
                None => Presence {
                    status: PresenceStatus::Online,
                    game_id: None,
                    last_seen: None,
                },
            })
        } else {
            Ok(Presence {
                status: PresenceStatus::Offline,
                game_id: None,
                last_seen: store.last_seen(player).await?.map(time_from_ms),
            })
        }
    }

    /// `player` has just blocked `other`: whatever was between them socially ends (their
    /// friendship, so neither hears the other's presence any more, and friend requests
    /// either way). Notifications from `other` are kept but hidden from `player` while the
    /// block lasts (`SocialStore::notifications`).
    pub async fn blocked(&self, player: Uuid, other: Uuid) -> Result<(), versus_store::StoreError> {
        self.inner.store.end_friendship(player, other).await
    }

    /// `a` and `b` have just become friends: each hears the other's presence at once. Each
    /// one's presence is claimed first (a change still waiting for the next flush), which
    /// tells all their friends, the new one included, when it changed; otherwise only the new
    /// friend is told.
    pub async fn befriended(&self, a: Uuid, b: Uuid) {
        for (about, to) in [(a, b), (b, a)] {
            match self.announce(about).await {
                Ok(true) => {}
                Ok(false) => self.tell_presence(about, to).await,
                Err(e) => tracing::warn!(player = %about, error = %e, "cannot announce presence"),
            }
        }
    }

    /// Sends `to` the current presence of `about`.
    async fn tell_presence(&self, about: Uuid, to: Uuid) {
        let (Ok(presence), Ok(Some(record))) = (
            self.presence_of(about).await,
            self.inner.store.player_by_id(about).await,
        ) else {
            return;
        };
        let msg = ServerMessage::Presence(PresenceUpdate {
            player: PlayerRef {
                id: about,
                username: record.username,
            },
            presence,
        });
        self.send_to(to, &msg).await;
    }

    fn expiry(&self) -> i64 {
        now_ms() + 3 * self.inner.config.presence_refresh.as_millis() as i64
    }

    /// Writes this node's counts for the dirty players and announces what changed for them
    /// and for `expired` (players whose rows on a dead node expired).
    async fn flush(&self, expired: Vec<Uuid>) {
        let dirty: Vec<Uuid> = self
            .inner
            .dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        self.write_presences(&dirty, false).await;
        let players: HashSet<Uuid> = dirty.into_iter().chain(expired).collect();
        for player in players {
            if let Err(e) = self.announce(player).await {
                tracing::warn!(%player, error = %e, "cannot announce presence");
            }
        }
    }

    /// Tells `player`'s friends of their presence if it changed since it was last announced
    /// (by any node); whether it had. Friendless players' changes are claimed only when they
    /// go offline (so `last_seen` is right when they make a friend; a new friendship claims
    /// the rest).
    async fn announce(&self, player: Uuid) -> Result<bool, versus_store::StoreError> {
        let store = &self.inner.store;
        let now = now_ms();
        let friends = store.friend_ids(player).await?;
        // Nobody to tell, and not going offline (connected here): no claim to write. A new
        // friendship claims both players' presence itself, and going offline (which records
        // `last_seen`) is still claimed.
        if friends.is_empty() && self.local_count(player) > 0 {
            return Ok(false);
        }
        let Some(change) = store.claim_presence_change(player, now).await? else {
            return Ok(false);
        };
        if friends.is_empty() {
            return Ok(true);
        }
        let presence = match change {
            AnnouncedPresence::Offline => Presence {
                status: PresenceStatus::Offline,
                game_id: None,
                last_seen: Some(time_from_ms(now)),
            },
            AnnouncedPresence::Online => Presence {
                status: PresenceStatus::Online,
                game_id: None,
                last_seen: None,
            },
            AnnouncedPresence::InGame(game_id) => Presence {
                status: PresenceStatus::InGame,
                game_id: Some(game_id),
                last_seen: None,
            },
        };
        let Some(record) = store.player_by_id(player).await? else {
            return Ok(false);
        };
        let msg = ServerMessage::Presence(PresenceUpdate {
            player: PlayerRef {
                id: player,
                username: record.username,
            },
            presence,
        });
        for friend in friends {
            self.send_to(friend, &msg).await;
        }
        Ok(true)
    }
}

/// A stored notification on the wire.
pub fn notification(r: &NotificationRecord) -> Notification {
    Notification {
        id: r.id,
        kind: serde_json::from_value(serde_json::Value::String(r.kind.clone()))
            .unwrap_or(NotificationKind::GameStarted),
        data: serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null),
        created_at: time_from_ms(r.created_at_ms),
        read: r.read_at_ms.is_some(),
    }
}

/// Forwards every inbox message to this node's connections of its player, if any.
async fn inbox_task(social: Social) {
    let mut sub = match social.inner.bus.subscribe(INBOXES.to_string()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot follow the players' inboxes");
            return;
        }
    };
    while let Some(msg) = sub.next().await {
        let Some(player) = msg
            .subject
            .strip_prefix("versus.inbox.")
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            continue;
        };
        if social.local_count(player) == 0 {
            continue;
        }
        let Ok(text) = String::from_utf8(msg.payload.to_vec()) else {
            continue;
        };
        social.deliver_local(player, &Wire::from(text));
    }
}

/// Coalesces presence changes, refreshes this node's rows and sweeps dead nodes' rows.
async fn presence_task(social: Social, shutdown: CancellationToken) {
    let config = social.inner.config;
    let mut flush = tokio::time::interval(config.presence_coalesce);
    let mut refresh = tokio::time::interval(config.presence_refresh);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let store = social.inner.store.clone();
    let node = social.inner.node.clone();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = social.inner.arrivals.notified() => social.write_arrivals().await,
            _ = flush.tick() => social.flush(Vec::new()).await,
            _ = refresh.tick() => {
                match store.refresh_node_presence(&node, social.expiry()).await {
                    // Fewer rows than players here: some expired while this node was slow
                    // to refresh (another node's sweep deleted them and announced those
                    // players offline). Write them all again at the next flush.
                    Ok(rows) if rows < social.local_len() as u64 => {
                        for p in social.local_players() {
                            social.mark(p);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot refresh presence"),
                }
                match store.expire_presence(now_ms()).await {
                    Ok(expired) if !expired.is_empty() => social.flush(expired).await,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot expire presence"),
                }
            }
        }
    }
    // A clean stop: this node's players are gone from here at once.
    match store.clear_node_presence(&node).await {
        Ok(players) => {
            for p in players {
                let _ = social.announce(p).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot clear presence"),
    }
}

/// A game is "long" — worth a `your_turn` notification — when it has no clock (played at
/// leisure, like correspondence chess) or gives each player at least this much time
/// (classical and slower).
pub const LONG_GAME_MIN_INITIAL_SECONDS: u32 = 30 * 60;

/// Whether a player should hear of their turn in a game with these settings.
pub fn is_long_game(settings: &versus_protocol::GameSettings) -> bool {
    settings
        .time_control
        .as_ref()
        .is_none_or(|tc| tc.initial_seconds >= LONG_GAME_MIN_INITIAL_SECONDS)
}

/// The ids of `player`'s unread `your_turn` notifications for `game_id` (among their 100
/// newest unread ones).
async fn unread_turns(
    social: &Social,
    player: Uuid,
    game_id: Uuid,
) -> Result<Vec<Uuid>, versus_store::StoreError> {
    let game = serde_json::json!(game_id);
    Ok(social
        .inner
        .store
        .notifications(player, None, true, 100)
        .await?
        .into_iter()
        .filter(|n| {
            n.kind == "your_turn"
                && serde_json::from_str::<serde_json::Value>(&n.payload)
                    .is_ok_and(|d| d["game_id"] == game)
        })
        .map(|n| n.id)
        .collect())
}

/// A move in a long game: the mover's unread `your_turn` for it is done with (marked read),
/// and the player to move, when away (`to`), is told — unless an unread one for the game is
/// waiting already. So a player has at most one unread `your_turn` per game.
async fn turn_moved(social: &Social, game_id: Uuid, mover: Option<Uuid>, to: Option<Uuid>) {
    let Some(mover) = mover else {
        return tell_turn(social, game_id, to).await;
    };
    match unread_turns(social, mover, game_id).await {
        Ok(ids) if !ids.is_empty() => {
            if let Err(e) = social
                .inner
                .store
                .mark_notifications_read(mover, Some(&ids), now_ms())
                .await
            {
                tracing::warn!(player = %mover, error = %e, "cannot mark notifications read");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(player = %mover, error = %e, "cannot read notifications"),
    }
    tell_turn(social, game_id, to).await;
}

/// Tells `to`, when away, that it is their turn — unless an unread one is waiting.
async fn tell_turn(social: &Social, game_id: Uuid, to: Option<Uuid>) {
    let Some(player) = to else {
        return;
    };
    match unread_turns(social, player, game_id).await {
        Ok(ids) if !ids.is_empty() => {}
        Ok(_) => {
            let data = serde_json::json!({ "game_id": game_id });
            if let Err(e) = social
                .notify(player, None, NotificationKind::YourTurn, data)
                .await
            {
                tracing::warn!(%player, error = %e, "cannot store a notification");
            }
        }
        Err(e) => tracing::warn!(%player, error = %e, "cannot read notifications"),
    }
}

/// Turns committed game events into notifications (start, result, your turn) and presence
/// changes. The actor sends `moved` events of long games only, naming the player to tell.
async fn tap_task(social: Social, mut rx: mpsc::Receiver<crate::chat::SystemNote>) {
    let mut notes = Vec::with_capacity(TAP_BATCH);
    while rx.recv_many(&mut notes, TAP_BATCH).await > 0 {
        // Starts and results of everything queued go in one transaction; a `moved` note
        // (your turn) first flushes what is pending, so notes keep their order.
        let mut pending: Vec<(Uuid, NotificationKind, serde_json::Value)> = Vec::new();
        for note in notes.drain(..) {
            if let GameEvent::Moved { player_id, .. } = &note.event {
                social.notify_many(std::mem::take(&mut pending)).await;
                let mover = note.mover_told.then_some(*player_id);
                turn_moved(&social, note.game_id, mover, note.turn_of).await;
                continue;
            }
            let (kind, data) = match &note.event {
                GameEvent::Started { .. } => (
                    NotificationKind::GameStarted,
                    serde_json::json!({ "game_id": note.game_id }),
                ),
                GameEvent::Ended { result, .. } => (
                    NotificationKind::GameResult,
                    serde_json::json!({ "game_id": note.game_id, "result": result }),
                ),
                _ => continue,
            };
            for p in note.seats.iter().flatten().map(|p| p.id) {
                social.mark(p);
                pending.push((p, kind, data.clone()));
            }
        }
        social.notify_many(pending).await;
    }
}

#[cfg(test)]
mod tests {
    use versus_protocol::{GameSettings, TimeControl};

    use super::is_long_game;

    #[test]
    fn games_without_a_clock_or_with_thirty_minutes_or_more_are_long() {
        let with = |initial_seconds| GameSettings {
            time_control: Some(TimeControl {
                initial_seconds,
                increment_seconds: 0,
            }),
            ..GameSettings::default()
        };
        assert!(is_long_game(&GameSettings::default()));
        assert!(is_long_game(&with(30 * 60)));
        assert!(is_long_game(&with(3 * 24 * 3600)));
        assert!(!is_long_game(&with(30 * 60 - 1)));
        assert!(!is_long_game(&with(180)));
    }
}

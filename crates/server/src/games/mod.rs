//! Live games: one actor (task) per game owns its current session, on exactly one node of the
//! cluster at a time; the hub routes requests to wherever the owner runs; the journal writer
//! commits every game's events with group commit.
//!
//! Data flow (DESIGN.md §3): a request (REST handler or WebSocket connection) → the hub →
//! the owner's actor: directly through its bounded mailbox when the owner is this node, else
//! over the bus (`versus.game.<id>.cmd`) to the node that owns it → the actor validates with
//! the rules and assigns the next seq → the journal writer commits (grouped with other games,
//! fenced by the game's lease) → only then does the actor apply the event, reply, and publish
//! it on `versus.game.<id>.events` → every node's feed for that game (`feed.rs`) `try_send`s it
//! into its local subscribers' bounded outboxes.
//!
//! Ownership: a game's lease (in the database, with a fencing number) says which node runs its
//! actor. A request that finds no owner on the bus starts an actor here, which first takes the
//! lease; if another node holds it, the request is retried until that node answers or its
//! lease expires (failover). No lock is held across an `.await`: the hub's map is touched only
//! synchronously.

pub mod actor;
pub mod feed;
pub mod journal;
pub mod realtime;
pub mod state;
pub mod visibility;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use versus_protocol::{
    ActionAck, DrawAction, ErrorCode, EventEnvelope, GameView, MoveAck, PlayerRef, Role,
};
use versus_store::DynStore;

use crate::bus::{Bus, BusError, game_cmd_subject};
use crate::error::ApiError;
use journal::JournalWriter;

/// A serialized server message, shared by every outbox it is sent to (cheap to clone).
pub type Wire = axum::extract::ws::Utf8Bytes;

/// Knobs of the live-game machinery (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct GameConfig {
    /// Commands waiting for one actor.
    pub mailbox_capacity: usize,
    /// How long a disconnected player's seat is held.
    pub seat_hold: Duration,
    /// Most missed events replayed one by one on subscribe; more → a snapshot (resync).
    pub replay_limit: usize,
    /// An actor with no present players and no pending deadline stops after this long.
    pub idle_stop: Duration,
    /// Real-time kinds: the time between two ticks (`realtime_tick_hz`).
    pub tick: Duration,
    /// Real-time kinds: how long cycles stand still after each spawn.
    pub countdown: Duration,
    /// Real-time kinds: most ticks run but not yet committed; at the cap the simulation
    /// holds (skips ticks) until the journal catches up. Bounds what a crash can lose.
    pub max_uncommitted_ticks: usize,
    /// How long a game's lease lasts without renewal (failover time).
    pub lease_ttl: Duration,
    /// How often a node renews its leases (and records its heartbeat).
    pub lease_renew_interval: Duration,
    /// How often feeds re-announce their players' presence to the owner.
    pub presence_refresh: Duration,
    /// A presence not re-announced for this long is gone (its node died).
    pub presence_ttl: Duration,
    /// How long one bus request waits for the owner's reply.
    pub request_timeout: Duration,
    /// Games (waiting or in progress) one player may sit in at once; 0: no limit. Checked
    /// when a player creates or joins a game.
    pub max_open_games_per_player: usize,
}

/// Why a game request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameError {
    pub code: ErrorCode,
    pub message: String,
}

impl GameError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        GameError {
            code,
            message: message.into(),
        }
    }

    pub fn not_found() -> Self {
        GameError::new(ErrorCode::NotFound, "game not found")
    }

    pub fn internal() -> Self {
        GameError::new(ErrorCode::Internal, "internal error")
    }

    pub fn unavailable() -> Self {
        GameError::new(
            ErrorCode::Unavailable,
            "the game is moving between nodes; retry shortly",
        )
    }

    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::NotAParticipant | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::MalformedMove | ErrorCode::IllegalMove | ErrorCode::ValidationFailed => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorCode::Overloaded | ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::CONFLICT,
        }
    }
}

impl From<GameError> for ApiError {
    fn from(e: GameError) -> Self {
        if e.code == ErrorCode::Internal {
            // Already logged where it happened.
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "internal error",
            );
        }
        ApiError::new(e.status(), e.code, e.message)
    }
}

/// A player action on a game.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Action {
    Join,
    Move {
        mv: serde_json::Value,
        client_move_id: String,
    },
    Resign,
    Draw(DrawAction),
    Abort,
    ClaimVictory,
    Rematch,
    /// Real-time kinds: steer.
    Input {
        dir: versus_protocol::realtime::Direction,
    },
}

/// What an accepted action returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ActOk {
    Move(MoveAck),
    Action(ActionAck),
    /// An accepted real-time input: it takes effect in `tick`.
    Input {
        tick: u64,
    },
}

/// What a node's feed needs to start following a game for one subscriber.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedStart {
    pub session_id: Uuid,
    pub role: Role,
    pub last_seq: u64,
    /// Set when the subscriber must start from a snapshot (no `since_seq`, or a resync).
    pub snapshot: Option<Box<GameView>>,
    pub resync: bool,
    /// The missed events (`ServerMessage::Event` JSON), when served event by event.
    pub events: Vec<String>,
}

/// A request to a game's owner (over the bus, or straight to a local actor).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum GameRequest {
    Snapshot,
    Events {
        after: u64,
    },
    Act {
        player: PlayerRef,
        action: Action,
    },
    Feed {
        player: PlayerRef,
        session_id: Option<Uuid>,
        since_seq: Option<u64>,
    },
    /// A node reports (or refreshes) that `player` has a live subscription there.
    Presence {
        node: String,
        player: Uuid,
        connected: bool,
    },
}

/// The owner's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum GameReply {
    Snapshot(Box<GameView>),
    Events(Vec<EventEnvelope>),
    Act(ActOk),
    Feed(Box<FeedStart>),
    Done,
    Error(GameError),
    /// This node does not (or no longer) own the game: ask again (the owner may be moving).
    Retry,
}

/// Messages to a local actor.
#[derive(Debug)]
pub enum Command {
    Request {
        request: GameRequest,
        reply: oneshot::Sender<GameReply>,
    },
    /// The lease renewal that started at `checked_at_ms` did not find this node's lease: stop
    /// at once, without touching the store (an actor that took its lease just after that
    /// renewal started ignores it).
    LeaseLost { checked_at_ms: i64 },
}

/// Closes a connection from outside (a feed kicking a slow subscriber) with a close code.
#[derive(Debug, Clone, Default)]
pub struct Kick {
    token: CancellationToken,
    code: Arc<AtomicU16>,
}

impl Kick {
    pub fn kick(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        self.token.cancel();
    }

    pub async fn kicked(&self) -> u16 {
        self.token.cancelled().await;
        self.code.load(Ordering::SeqCst)
    }
}

pub(crate) struct HubInner {
    pub(crate) store: DynStore,
    pub(crate) journal: JournalWriter,
    pub(crate) bus: Bus,
    pub(crate) node: String,
    pub(crate) config: GameConfig,
    actors: Mutex<HashMap<Uuid, mpsc::Sender<Command>>>,
    pub(crate) shutdown: CancellationToken,
    /// Where committed events go for the chat's system messages (set once at start).
    pub(crate) event_tap: std::sync::OnceLock<mpsc::Sender<crate::chat::SystemNote>>,
    /// Where committed events go for notifications and presence (issue 9; set once).
    pub(crate) social_tap: std::sync::OnceLock<mpsc::Sender<crate::chat::SystemNote>>,
}

/// Finds the owner of a game — here or on another node — and starts one when there is none.
/// Cheap to clone.
#[derive(Clone)]
pub struct GameHub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for GameHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GameHub")
    }
}

impl GameHub {
    pub fn new(
        store: DynStore,
        journal: JournalWriter,
        bus: Bus,
        node: String,
        config: GameConfig,
        shutdown: CancellationToken,
    ) -> Self {
        GameHub {
            inner: Arc::new(HubInner {
                store,
                journal,
                bus,
                node,
                config,
                actors: Mutex::new(HashMap::new()),
                shutdown,
                event_tap: std::sync::OnceLock::new(),
                social_tap: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    pub fn config(&self) -> &GameConfig {
        &self.inner.config
    }

    /// Sends every event this node's actors commit (as owners) to `tap`, for the chat's
    /// system messages. Set once; a full tap drops (system messages are best effort).
    pub fn set_event_tap(&self, tap: mpsc::Sender<crate::chat::SystemNote>) {
        let _ = self.inner.event_tap.set(tap);
    }

    /// Like [`GameHub::set_event_tap`], for the social side (game starts and results become
    /// notifications and presence changes). Best effort too.
    pub fn set_social_tap(&self, tap: mpsc::Sender<crate::chat::SystemNote>) {
        let _ = self.inner.social_tap.set(tap);
    }

    /// Hands the opening events of a session that was created already started, outside any
    /// actor (matchmaking seats both players in its pairing transaction), to the chat's and
    /// the social side's taps — what an owner does for the events it commits. Best effort,
    /// like the taps.
    pub fn announce_opening(
        &self,
        game_id: Uuid,
        seats: &[Option<versus_protocol::PlayerRef>],
        events: &[versus_protocol::GameEvent],
    ) {
        for event in events {
            let note = || crate::chat::SystemNote {
                game_id,
                seats: seats.to_vec(),
                event: event.clone(),
                turn_of: None,
                mover_told: false,
            };
            if let Some(tap) = self.inner.event_tap.get()
                && tap.try_send(note()).is_err()
            {
                metrics::counter!("chat_system_notes_dropped_total").increment(1);
            }
            if matches!(event, versus_protocol::GameEvent::Started { .. })
                && let Some(tap) = self.inner.social_tap.get()
                && tap.try_send(note()).is_err()
            {
                metrics::counter!("social_notes_dropped_total").increment(1);
            }
        }
    }

    /// Starts this node's background duties: lease renewal (and the node heartbeat), and
    /// adopting orphaned in-progress games (failover and crash recovery). Call once.
    pub fn start_background(&self) {
        tokio::spawn(renew_leases(self.clone()));
        tokio::spawn(adopt_orphans(self.clone()));
    }

    /// The local actor of a game, if this node runs it.
    fn local(&self, game_id: Uuid) -> Option<mpsc::Sender<Command>> {
        self.inner
            .actors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&game_id)
            .cloned()
    }

    /// Starts a local actor for the game (it takes the lease first) unless one runs already.
    fn start_local(&self, game_id: Uuid) -> mpsc::Sender<Command> {
        let mut actors = self.inner.actors.lock().unwrap_or_else(|p| p.into_inner());
        actors
            .entry(game_id)
            .or_insert_with(|| {
                let (tx, rx) = mpsc::channel(self.inner.config.mailbox_capacity.max(1));
                tokio::spawn(actor::run(self.inner.clone(), game_id, tx.clone(), rx));
                tx
            })
            .clone()
    }

    /// Sends `request` to the game's owner, wherever it is, and waits for its reply. Takes
    /// the game over when no node owns it; retries while ownership moves (failover, drain).
    pub async fn request(
        &self,
        game_id: Uuid,
        request: GameRequest,
    ) -> Result<GameReply, GameError> {
        let cfg = self.inner.config;
        let deadline = tokio::time::Instant::now()
            + cfg.lease_ttl
            + cfg.request_timeout
            + Duration::from_secs(2);
        let payload: bytes::Bytes = serde_json::to_vec(&request)
            .map_err(|_| GameError::internal())?
            .into();
        let mut backoff = Duration::from_millis(20);
        loop {
            let reply = match self.local(game_id) {
                Some(tx) => self.ask_local(game_id, &tx, request.clone()).await,
                None => match self
                    .inner
                    .bus
                    .request(
                        game_cmd_subject(game_id),
                        payload.clone(),
                        cfg.request_timeout,
                    )
                    .await
                {
                    Ok(bytes) => {
                        serde_json::from_slice::<GameReply>(&bytes).unwrap_or(GameReply::Retry)
                    }
                    Err(BusError::NoResponders) if self.inner.shutdown.is_cancelled() => {
                        // A draining node takes nothing over: another node will.
                        return Err(GameError::unavailable());
                    }
                    Err(BusError::NoResponders) => {
                        // Nobody owns it: try to here. The actor takes the lease or, if another
                        // node still holds it, answers Retry and stops.
                        let tx = self.start_local(game_id);
                        self.ask_local(game_id, &tx, request.clone()).await
                    }
                    Err(BusError::TimedOut) => {
                        return Err(GameError::new(
                            ErrorCode::Overloaded,
                            "the game did not answer in time",
                        ));
                    }
                    Err(e) => {
                        tracing::error!(%game_id, error = %e, "bus request failed");
                        return Err(GameError::internal());
                    }
                },
            };
            match reply {
                GameReply::Retry => {
                    if tokio::time::Instant::now() >= deadline || self.inner.shutdown.is_cancelled()
                    {
                        return Err(GameError::unavailable());
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(250));
                }
                GameReply::Error(e) => return Err(e),
                other => return Ok(other),
            }
        }
    }

    async fn ask_local(
        &self,
        game_id: Uuid,
        tx: &mpsc::Sender<Command>,
        request: GameRequest,
    ) -> GameReply {
        let (reply, rx) = oneshot::channel();
        match tx.try_send(Command::Request { request, reply }) {
            Ok(()) => rx.await.unwrap_or(GameReply::Retry),
            Err(mpsc::error::TrySendError::Full(_)) => GameReply::Error(GameError::new(
                ErrorCode::Overloaded,
                "the game is busy; retry shortly",
            )),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.inner.forget(game_id, tx);
                GameReply::Retry
            }
        }
    }

    pub async fn snapshot(&self, game_id: Uuid) -> Result<GameView, GameError> {
        match self.request(game_id, GameRequest::Snapshot).await? {
            GameReply::Snapshot(v) => Ok(*v),
            _ => Err(GameError::internal()),
        }
    }

    pub async fn events(&self, game_id: Uuid, after: u64) -> Result<Vec<EventEnvelope>, GameError> {
        match self.request(game_id, GameRequest::Events { after }).await? {
            GameReply::Events(e) => Ok(e),
            _ => Err(GameError::internal()),
        }
    }

    /// [`GameHub::act`] on behalf of a client (REST or WebSocket): a private game the player
    /// may not see answers `not_found`, as if it did not exist (see [`visibility`]). Joining
    /// checks first; other actions only when refused for lack of a seat, so a seated
    /// player's moves cost no extra query.
    pub async fn act_as_client(
        &self,
        game_id: Uuid,
        player: PlayerRef,
        action: Action,
    ) -> Result<ActOk, GameError> {
        let viewer = player.id;
        if matches!(action, Action::Join) {
            visibility::check(self.store(), game_id, Some(viewer)).await?;
            self.check_open_games(viewer).await?;
        }
        match self.act(game_id, player, action).await {
            Err(e) if e.code == ErrorCode::NotAParticipant => {
                visibility::check(self.store(), game_id, Some(viewer)).await?;
                Err(e)
            }
            other => other,
        }
    }

    /// The open-games quota: `limit_reached` when `player` already sits in
    /// `max_open_games_per_player` games that are waiting or in progress. (Two concurrent
    /// requests may both pass; the quota bounds what one player holds, not exactly.)
    pub async fn check_open_games(&self, player: Uuid) -> Result<(), GameError> {
        let max = self.config().max_open_games_per_player;
        if max == 0 {
            return Ok(());
        }
        let mut open = 0;
        for state in ["waiting", "in_progress"] {
            let rows = self
                .store()
                .list_games(&versus_store::LobbyQuery {
                    state: Some(state.to_string()),
                    kind: None,
                    include_private: true,
                    player_id: Some(player),
                    limit: max as i64,
                    offset: 0,
                })
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "counting open games failed");
                    GameError::internal()
                })?;
            open += rows.len();
        }
        if open >= max {
            return Err(GameError::new(
                ErrorCode::LimitReached,
                format!("you already sit in {max} open games; finish or abort one first"),
            ));
        }
        Ok(())
    }

    pub async fn act(
        &self,
        game_id: Uuid,
        player: PlayerRef,
        action: Action,
    ) -> Result<ActOk, GameError> {
        match self
            .request(game_id, GameRequest::Act { player, action })
            .await?
        {
            GameReply::Act(ok) => Ok(ok),
            _ => Err(GameError::internal()),
        }
    }

    /// How many games this node owns (for metrics).
    pub fn loaded(&self) -> usize {
        self.inner
            .actors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

impl HubInner {
    /// Removes `game_id`'s entry if it is still `tx` (a newer actor may have replaced it).
    pub(crate) fn forget(&self, game_id: Uuid, tx: &mpsc::Sender<Command>) {
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        if actors.get(&game_id).is_some_and(|t| t.same_channel(tx)) {
            actors.remove(&game_id);
        }
    }

    fn local_games(&self) -> Vec<(Uuid, mpsc::Sender<Command>)> {
        self.actors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }
}

/// Renews this node's leases (one statement for all of them) and records its heartbeat; an
/// actor whose lease was not renewed (it expired, another node took over) is told to stop.
async fn renew_leases(hub: GameHub) {
    let inner = &hub.inner;
    let mut tick = tokio::time::interval(inner.config.lease_renew_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = inner.shutdown.cancelled() => return,
        }
        let now = crate::now_ms();
        if let Err(e) = inner.store.record_heartbeat(&inner.node, now).await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
        let ttl = inner.config.lease_ttl.as_millis() as i64;
        match inner.store.renew_leases(&inner.node, now, ttl).await {
            Ok(held) => {
                let held: std::collections::HashSet<Uuid> = held.into_iter().collect();
                for (game_id, tx) in inner.local_games() {
                    if !held.contains(&game_id) {
                        let _ = tx.try_send(Command::LeaseLost { checked_at_ms: now });
                    }
                }
                metrics::gauge!("games_owned").set(held.len() as f64);
            }
            Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
        }
    }
}

/// Adopts in-progress games nobody owns (their node died, or this node restarted), so their
/// clocks run and their deadlines fire even if no player sends anything.
async fn adopt_orphans(hub: GameHub) {
    let inner = &hub.inner;
    let period = (inner.config.lease_ttl / 2).max(Duration::from_millis(100));
    loop {
        if inner.shutdown.is_cancelled() {
            return;
        }
        match inner.store.orphaned_games(crate::now_ms(), 100).await {
            Ok(games) => {
                for game_id in games {
                    if hub.local(game_id).is_none() {
                        // A snapshot request starts the actor (and takes the lease) here, or
                        // finds that another node was quicker.
                        let h = hub.clone();
                        tokio::spawn(async move {
                            let _ = h.request(game_id, GameRequest::Snapshot).await;
                        });
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list orphaned games"),
        }
        // Jitter so that nodes do not all race for the same orphans at once.
        let jitter = Duration::from_millis(rand::random::<u64>() % 250);
        tokio::select! {
            () = tokio::time::sleep(period + jitter) => {}
            () = inner.shutdown.cancelled() => return,
        }
    }
}

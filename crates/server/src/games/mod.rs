//! Live games: one actor (task) per game owns its current session; the hub finds or starts
//! actors; the journal writer commits every game's events with group commit.
//!
//! Data flow (DESIGN.md §3): a request (REST handler or WebSocket connection) → the game's
//! actor through a bounded mailbox → the actor validates with the rules and assigns the next
//! seq → the journal writer commits (grouped with other games) → only then does the actor
//! apply the event to its state, reply, and `try_send` the serialized event into every
//! subscriber's bounded outbox. A subscriber whose outbox is full is kicked (it resumes by
//! seq). No lock is held across an `.await`: the hub's map is touched only synchronously.

pub mod actor;
pub mod journal;
pub mod state;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use versus_protocol::{
    ActionAck, DrawAction, ErrorCode, EventEnvelope, GameView, MoveAck, PlayerRef,
};
use versus_store::DynStore;

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
    /// An actor with no subscribers and no pending deadline stops after this long.
    pub idle_stop: Duration,
}

/// Why a game request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::NotAParticipant | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::MalformedMove | ErrorCode::IllegalMove | ErrorCode::ValidationFailed => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
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
#[derive(Debug, Clone)]
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
}

/// What an accepted action returns.
#[derive(Debug, Clone)]
pub enum ActOk {
    Move(MoveAck),
    Action(ActionAck),
}

/// Closes a connection from outside (an actor kicking a slow subscriber) with a close code.
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

/// A connection's subscription to a game.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub conn_id: u64,
    pub player: PlayerRef,
    pub request_id: Option<String>,
    pub session_id: Option<Uuid>,
    pub since_seq: Option<u64>,
    /// The connection's bounded outbox of serialized server messages.
    pub outbox: mpsc::Sender<Wire>,
    pub kick: Kick,
}

/// Messages to an actor.
#[derive(Debug)]
pub enum Command {
    Snapshot {
        reply: oneshot::Sender<Result<GameView, GameError>>,
    },
    Events {
        after: u64,
        reply: oneshot::Sender<Result<Vec<EventEnvelope>, GameError>>,
    },
    Act {
        player: PlayerRef,
        action: Action,
        reply: oneshot::Sender<Result<ActOk, GameError>>,
    },
    Subscribe(Subscription),
    /// `player` lets the actor update presence even if it had already dropped the
    /// subscription (a kicked slow consumer).
    Unsubscribe {
        conn_id: u64,
        player: Uuid,
    },
}

impl Command {
    /// Answers the command with `err` (used when the game cannot be loaded).
    fn fail(self, err: GameError) {
        match self {
            Command::Snapshot { reply } => {
                let _ = reply.send(Err(err));
            }
            Command::Events { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Command::Act { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Command::Subscribe(sub) => {
                let msg = versus_protocol::ServerMessage::Error {
                    id: sub.request_id,
                    code: err.code,
                    message: err.message,
                    supported: Vec::new(),
                };
                if let Ok(json) = serde_json::to_string(&msg) {
                    let _ = sub.outbox.try_send(Wire::from(json));
                }
            }
            Command::Unsubscribe { .. } => {}
        }
    }
}

pub(crate) struct HubInner {
    pub(crate) store: DynStore,
    pub(crate) journal: JournalWriter,
    pub(crate) config: GameConfig,
    actors: Mutex<HashMap<Uuid, mpsc::Sender<Command>>>,
    /// The last moment the previous run of this node was known alive (its last heartbeat).
    pub(crate) alive_until_ms: Option<i64>,
    /// When this hub started: events older than this were written by an earlier run.
    pub(crate) started_at_ms: i64,
    pub(crate) shutdown: CancellationToken,
}

/// Finds or starts the actor of a game. Cheap to clone.
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
        config: GameConfig,
        alive_until_ms: Option<i64>,
        shutdown: CancellationToken,
    ) -> Self {
        GameHub {
            inner: Arc::new(HubInner {
                store,
                journal,
                config,
                actors: Mutex::new(HashMap::new()),
                alive_until_ms,
                started_at_ms: crate::now_ms(),
                shutdown,
            }),
        }
    }

    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    /// Starts the actor of every session that was in progress, so clocks run and the
    /// downtime is accounted for. Returns how many were resumed.
    pub async fn recover(&self) -> Result<usize, versus_store::StoreError> {
        let sessions = self.inner.store.live_sessions().await?;
        let mut resumed = 0;
        for s in sessions.iter().filter(|s| s.state == "in_progress") {
            if self.snapshot(s.game_id).await.is_ok() {
                resumed += 1;
            }
        }
        Ok(resumed)
    }

    /// Sends a command to the game's actor, starting it if needed.
    fn send(&self, game_id: Uuid, mut cmd: Command) -> Result<(), GameError> {
        for _ in 0..2 {
            let tx = {
                let mut actors = self.inner.actors.lock().unwrap_or_else(|p| p.into_inner());
                actors
                    .entry(game_id)
                    .or_insert_with(|| {
                        let (tx, rx) = mpsc::channel(self.inner.config.mailbox_capacity.max(1));
                        tokio::spawn(actor::run(self.inner.clone(), game_id, tx.clone(), rx));
                        tx
                    })
                    .clone()
            };
            match tx.try_send(cmd) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(c)) => {
                    c.fail(GameError::new(
                        ErrorCode::Overloaded,
                        "the game is busy; retry shortly",
                    ));
                    return Ok(());
                }
                Err(mpsc::error::TrySendError::Closed(c)) => {
                    // The actor stopped (idle or failed): forget it and start a fresh one.
                    self.inner.forget(game_id, &tx);
                    cmd = c;
                }
            }
        }
        cmd.fail(GameError::internal());
        Ok(())
    }

    async fn call<T>(
        &self,
        game_id: Uuid,
        make: impl FnOnce(oneshot::Sender<Result<T, GameError>>) -> Command,
    ) -> Result<T, GameError> {
        let (tx, rx) = oneshot::channel();
        self.send(game_id, make(tx))?;
        rx.await.map_err(|_| GameError::internal())?
    }

    pub async fn snapshot(&self, game_id: Uuid) -> Result<GameView, GameError> {
        self.call(game_id, |reply| Command::Snapshot { reply })
            .await
    }

    pub async fn events(&self, game_id: Uuid, after: u64) -> Result<Vec<EventEnvelope>, GameError> {
        self.call(game_id, |reply| Command::Events { after, reply })
            .await
    }

    pub async fn act(
        &self,
        game_id: Uuid,
        player: PlayerRef,
        action: Action,
    ) -> Result<ActOk, GameError> {
        self.call(game_id, |reply| Command::Act {
            player,
            action,
            reply,
        })
        .await
    }

    /// The actor of a game, for a connection that waits for replies itself.
    pub fn act_detached(
        &self,
        game_id: Uuid,
        player: PlayerRef,
        action: Action,
    ) -> oneshot::Receiver<Result<ActOk, GameError>> {
        let (reply, rx) = oneshot::channel();
        let _ = self.send(
            game_id,
            Command::Act {
                player,
                action,
                reply,
            },
        );
        rx
    }

    pub fn subscribe(&self, game_id: Uuid, sub: Subscription) {
        let _ = self.send(game_id, Command::Subscribe(sub));
    }

    /// Best effort: a full mailbox is waited for in the background so presence stays right.
    pub fn unsubscribe(&self, game_id: Uuid, conn_id: u64, player: Uuid) {
        let tx = self
            .inner
            .actors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&game_id)
            .cloned();
        if let Some(tx) = tx
            && let Err(mpsc::error::TrySendError::Full(cmd)) =
                tx.try_send(Command::Unsubscribe { conn_id, player })
        {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(10), tx.send(cmd)).await;
            });
        }
    }

    /// How many actors are loaded (for metrics).
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
}

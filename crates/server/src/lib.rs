//! The `versus` server as a library: configuration, the HTTP API and (from the live-games work
//! on) the WebSocket gateway and game actors. `main.rs` is a thin CLI over [`run`]; tests use
//! [`spawn`] to start a real server on port 0.

// No `unwrap`/`expect` outside tests (no panic may depend on what a client sent);
// each remaining one is allowed where it is, with its reason. Tests may use both.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod app;
pub mod auth;
pub mod bus;
pub mod chat;
pub mod config;
pub mod domain;
pub mod error;
pub mod fanout;
pub mod games;
pub mod headers;
pub mod limits;
pub mod listen;
pub mod matchmaking;
pub mod outbox;
pub mod ratings;
pub mod routes;
pub mod social;
pub mod state;
pub mod telemetry;
pub mod vault;
pub mod web;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use secrecy::ExposeSecret;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::LoginThrottle;
use crate::config::Config;
use crate::games::GameHub;
use crate::games::journal::JournalWriter;
use crate::state::AppState;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A stored millisecond timestamp as a `DateTime`.
pub fn time_from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot create the data folder {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Store(#[from] versus_store::StoreError),
    #[error("cannot connect to the bus: {0}")]
    Bus(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    #[error("email keys: {0}")]
    Vault(#[from] vault::VaultError),
    #[error("cannot seal email addresses: {0}")]
    Reseal(#[from] vault::ResealError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// A running server: its bound address, a way to stop it, and its task.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), ServeError>>,
}

impl RunningServer {
    /// Asks the server to stop and waits for it to drain.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        self.task.await.unwrap_or(Ok(()))
    }
}

/// Opens the store, binds the listener and starts serving in a background task.
pub async fn spawn(config: Config) -> Result<RunningServer, ServeError> {
    let url = config.database_url.expose_secret().to_string();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
    }
    let vault = Arc::new(vault::EmailVault::for_node(
        config.email_keys.as_ref().map(|k| k.expose_secret()),
        url.starts_with("sqlite:"),
        &config.data_dir,
    )?);
    let store = versus_store::connect(&versus_store::ConnectOptions {
        url,
        max_connections: config.database_max_connections,
    })
    .await?;
    // Addresses stored in clear before sealing existed are sealed now (once; then none).
    let sealed = vault::reseal(&store, &vault, false).await?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed email addresses stored in clear");
    }
    let tls = match &config.tls {
        Some((cert, key)) => Some(listen::tls_acceptor(cert, key).map_err(ServeError::Tls)?),
        None => None,
    };
    let listener =
        listen::bind(config.listen, config.listen_backlog).map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = config.database_kind(), tls = tls.is_some(), "listening");

    let shutdown = CancellationToken::new();
    let bus = match &config.nats_url {
        Some(url) => bus::Bus::nats(url.expose_secret(), &config.node_id, config.bus_capacity)
            .await
            .map_err(|e| ServeError::Bus(e.to_string()))?,
        None => bus::Bus::in_process(config.bus_capacity),
    };
    // Leases this node held before a crash or restart are free again: this node's own
    // adopter (or another node) takes the games over, accounting for the downtime.
    let freed = store
        .release_all_leases(&config.node_id, now_ms(), false)
        .await?;
    tracing::info!(node = %config.node_id, bus = bus.kind(), freed_leases = freed, "node starting");
    let (journal, journal_task) =
        JournalWriter::spawn(store.clone(), config.journal, &config.node_id);
    let games = GameHub::new(
        store.clone(),
        journal,
        bus.clone(),
        config.node_id.clone(),
        config.games,
        shutdown.clone(),
    );
    games.start_background();
    let feeds = games::feed::Feeds::new(games.clone());
    let matchmaking = matchmaking::Matchmaker::start(
        store.clone(),
        games.clone(),
        bus.clone(),
        config.matchmaking,
        shutdown.clone(),
    );
    let chat = chat::ChatService::start(store.clone(), bus.clone(), config.chat);
    games.set_event_tap(chat.system_notes());
    let social = social::Social::start(
        store.clone(),
        bus.clone(),
        config.node_id.clone(),
        config.social,
        shutdown.clone(),
    );
    games.set_social_tap(social.game_tap());
    let state = AppState {
        throttle: Arc::new(LoginThrottle::new(config.login_window)),
        ws: config.ws,
        limits: Arc::new(limits::Limits::new(&config.limits)),
        config: Arc::new(config),
        store: store.clone(),
        vault,
        metrics: telemetry::metrics_handle(),
        games,
        feeds,
        chat,
        scores: ratings::Scoreboard::new(store.clone(), bus.clone(), ratings::LEADERBOARD_COALESCE),
        matchmaking,
        social,
        bus: bus.clone(),
        shutdown: shutdown.clone(),
    };
    let grace = state.config.shutdown_grace;
    let limits = state.limits.clone();
    let listen_opts = listen::ListenOptions {
        header_read_timeout: state.config.limits.header_read_timeout,
        limit_connections: !state.config.trust_forwarded_for,
        tls: tls.clone(),
    };
    let app = app::build(state);
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let serve = listen::serve(listener, app, limits, listen_opts, stop.clone());
        let result = tokio::select! {
            r = serve => r.map_err(ServeError::from),
            // In-flight requests get `grace` to finish once shutdown starts.
            () = async { stop.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("shutdown grace period over; dropping remaining connections");
                Ok(())
            }
        };
        // Actors stop on the same token; once they and the hub are gone, the journal writer
        // drains what is queued and ends. Then the pool can close.
        let _ = tokio::time::timeout(grace, journal_task).await;
        bus.flush().await;
        store.close().await;
        tracing::info!("stopped");
        result
    });
    Ok(RunningServer {
        addr,
        shutdown,
        task,
    })
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(config: Config) -> Result<(), ServeError> {
    // Listen for signals before anything else: a SIGTERM that arrives right after the server
    // logs "listening" must already drain gracefully, not kill the process.
    let signals = shutdown_signal()?;
    let server = spawn(config).await?;
    let stop = server.shutdown.clone();
    tokio::spawn(async move {
        signals.await;
        tracing::info!("shutdown requested; draining");
        stop.cancel();
    });
    server.task.await.unwrap_or(Ok(()))
}

/// Installs the SIGINT and SIGTERM handlers now; the returned future ends at the first signal.
fn shutdown_signal() -> Result<impl Future<Output = ()>, ServeError> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}

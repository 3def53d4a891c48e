//! The state every handler shares: cheap to clone (everything behind `Arc`).

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use versus_store::DynStore;

use tokio_util::sync::CancellationToken;

use crate::auth::LoginThrottle;
use crate::bus::Bus;
use crate::config::Config;
use crate::games::GameHub;
use crate::games::feed::Feeds;
use crate::ws::WsConfig;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    /// Seals, opens and indexes players' email addresses (`crate::vault`).
    pub vault: Arc<crate::vault::EmailVault>,
    pub throttle: Arc<LoginThrottle>,
    pub metrics: PrometheusHandle,
    pub games: GameHub,
    /// This node's deliveries of game events to its WebSocket subscribers.
    pub feeds: Feeds,
    /// Chat rooms: rules, appends, history and this node's chat feeds.
    pub chat: crate::chat::ChatService,
    /// This node's rating and leaderboard watchers (issue 7).
    pub scores: crate::ratings::Scoreboard,
    /// This node's part of the cluster's one matchmaking pool (issue 9).
    pub matchmaking: crate::matchmaking::Matchmaker,
    /// Notifications and presence (issue 9).
    pub social: crate::social::Social,
    /// The cluster's bus (in-process without NATS).
    pub bus: Bus,
    pub ws: WsConfig,
    /// Flood limits and connection counts.
    pub limits: Arc<crate::limits::Limits>,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
}

//! The state every handler shares: cheap to clone (everything behind `Arc`).

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use versus_store::DynStore;

use crate::auth::LoginThrottle;
use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub throttle: Arc<LoginThrottle>,
    pub metrics: PrometheusHandle,
}

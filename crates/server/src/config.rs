//! Configuration: built-in defaults, then an optional TOML file (`--config`), then `VERSUS_*`
//! environment variables, then command-line flags — each layer overriding the one before.
//!
//! Every setting is validated here, once, at start: an invalid value stops the server with a
//! message naming the setting and the rule it broke. Secrets (the database URL, which may
//! carry a password) are wrapped so they never reach a log line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Connections the kernel queues for `accept` (capped by `net.core.somaxconn`).
    pub listen_backlog: u32,
    /// Folder for local data (the SQLite database by default).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`. Secret: may carry a password.
    pub database_url: SecretString,
    /// Upper bound of the database connection pool.
    pub database_max_connections: u32,
    pub log_format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `versus_server=debug,info`.
    pub log_level: String,
    /// How long a bearer token lives.
    pub token_ttl: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// A request that takes longer is answered 503.
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Failed logins allowed per account within `login_window`.
    pub login_max_failures_per_account: u32,
    /// Failed logins allowed per client address within `login_window`.
    pub login_max_failures_per_address: u32,
    pub login_window: Duration,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// This node's name (heartbeats; cluster ownership later).
    pub node_id: String,
    /// How often the node records that it is alive (bounds how much downtime a crash can
    /// charge to a clock).
    pub heartbeat_interval: Duration,
    /// `nats://…`: the cluster's bus. `None`: one node, the bus runs in process. Secret:
    /// may carry credentials.
    pub nats_url: Option<SecretString>,
    /// The keyring sealing players' email addresses (`id:base64-key,…`, current first;
    /// `crate::vault`). `None`: SQLite nodes generate one in `data_dir`. Secret.
    pub email_keys: Option<SecretString>,
    /// Queue of each bus subscription (messages beyond it are dropped and recovered by seq).
    pub bus_capacity: usize,
    pub ws: crate::ws::WsConfig,
    pub games: crate::games::GameConfig,
    pub journal: crate::games::journal::JournalConfig,
    pub chat: crate::chat::ChatConfig,
    pub matchmaking: crate::matchmaking::MatchmakingConfig,
    pub social: crate::social::SocialConfig,
    /// Flood limits (per address, per connection, per player).
    pub limits: crate::limits::LimitsConfig,
    /// `(certificate chain, private key)` PEM files: the server speaks HTTPS and WSS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Browser origins (`https://host[:port]`) allowed to open a WebSocket. Empty: only the
    /// server's own host; `["*"]`: any.
    pub ws_allowed_origins: Vec<String>,
    /// Origins answered with CORS headers. Empty (the default): no CORS at all.
    pub cors_allowed_origins: Vec<String>,
}

/// Every key the file and the environment may set, with its default. The single source of
/// truth for names: the env var of `data_dir` is `VERSUS_DATA_DIR`, and so on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: String,
    listen_backlog: u32,
    data_dir: String,
    database_url: Option<String>,
    database_max_connections: u32,
    log_format: String,
    log_level: String,
    token_ttl_hours: u64,
    max_body_bytes: usize,
    request_timeout_seconds: u64,
    shutdown_grace_seconds: u64,
    login_max_failures_per_account: u32,
    login_max_failures_per_address: u32,
    login_window_seconds: u64,
    trust_forwarded_for: bool,
    node_id: String,
    heartbeat_interval_ms: u64,
    nats_url: Option<String>,
    email_keys: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    bus_capacity: usize,
    lease_ttl_ms: u64,
    presence_refresh_ms: u64,
    game_request_timeout_ms: u64,
    ws_max_message_bytes: usize,
    ws_ping_interval_ms: u64,
    ws_idle_timeout_ms: u64,
    ws_hello_timeout_ms: u64,
    ws_outbox_capacity: usize,
    ws_max_pending: usize,
    ws_max_subscriptions: usize,
    ws_read_buffer_bytes: usize,
    seat_hold_seconds: u64,
    game_mailbox_capacity: usize,
    game_replay_limit: usize,
    game_idle_stop_seconds: u64,
    realtime_tick_hz: u64,
    realtime_countdown_ms: u64,
    realtime_max_uncommitted_ticks: usize,
    journal_queue_capacity: usize,
    group_commit_max_batch: usize,
    group_commit_window_ms: u64,
    chat_burst: u32,
    chat_refill_ms: u64,
    chat_flood_strikes: u32,
    chat_flood_mute_seconds: u64,
    chat_history_limit: usize,
    chat_replay_limit: usize,
    chat_guests_in_lobby: bool,
    matchmaking_pass_ms: u64,
    matchmaking_grace_ms: u64,
    matchmaking_gap_base: u32,
    matchmaking_gap_per_second: u32,
    matchmaking_gap_max: u32,
    invite_ttl_seconds: u64,
    presence_coalesce_ms: u64,
    http_requests_per_second_per_address: u32,
    http_burst_per_address: u32,
    connections_per_second_per_address: u32,
    connections_burst_per_address: u32,
    max_connections: usize,
    max_connections_per_address: usize,
    header_read_timeout_ms: u64,
    ws_messages_per_second: u32,
    ws_message_burst: u32,
    ws_max_connections: usize,
    ws_max_connections_per_player: usize,
    max_open_games_per_player: usize,
    ws_allowed_origins: String,
    cors_allowed_origins: String,
}

/// The defaults, as `(key, value)`; also the list of keys read from `VERSUS_*`.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("listen", "127.0.0.1:8080"),
    ("listen_backlog", "4096"),
    ("data_dir", "./data"),
    ("database_max_connections", "8"),
    ("log_format", "human"),
    ("log_level", "info"),
    ("token_ttl_hours", "720"),
    ("max_body_bytes", "65536"),
    ("request_timeout_seconds", "30"),
    ("shutdown_grace_seconds", "10"),
    ("login_max_failures_per_account", "5"),
    ("login_max_failures_per_address", "20"),
    ("login_window_seconds", "900"),
    ("trust_forwarded_for", "false"),
    ("node_id", "local"),
    ("heartbeat_interval_ms", "1000"),
    ("bus_capacity", "65536"),
    ("lease_ttl_ms", "5000"),
    ("presence_refresh_ms", "3000"),
    ("game_request_timeout_ms", "5000"),
    ("ws_max_message_bytes", "16384"),
    ("ws_ping_interval_ms", "15000"),
    ("ws_idle_timeout_ms", "45000"),
    ("ws_hello_timeout_ms", "10000"),
    ("ws_outbox_capacity", "256"),
    ("ws_max_pending", "32"),
    ("ws_max_subscriptions", "64"),
    ("ws_read_buffer_bytes", "1024"),
    ("seat_hold_seconds", "60"),
    ("game_mailbox_capacity", "256"),
    ("game_replay_limit", "200"),
    ("game_idle_stop_seconds", "60"),
    ("realtime_tick_hz", "20"),
    ("realtime_countdown_ms", "3000"),
    ("realtime_max_uncommitted_ticks", "10"),
    ("journal_queue_capacity", "4096"),
    ("group_commit_max_batch", "512"),
    ("group_commit_window_ms", "0"),
    ("chat_burst", "5"),
    ("chat_refill_ms", "2000"),
    ("chat_flood_strikes", "5"),
    ("chat_flood_mute_seconds", "300"),
    ("chat_history_limit", "50"),
    ("chat_replay_limit", "200"),
    ("chat_guests_in_lobby", "false"),
    ("matchmaking_pass_ms", "200"),
    ("matchmaking_grace_ms", "10000"),
    ("matchmaking_gap_base", "100"),
    ("matchmaking_gap_per_second", "25"),
    ("matchmaking_gap_max", "400"),
    ("invite_ttl_seconds", "86400"),
    ("presence_coalesce_ms", "1000"),
    ("http_requests_per_second_per_address", "200"),
    ("http_burst_per_address", "1000"),
    ("connections_per_second_per_address", "100"),
    ("connections_burst_per_address", "500"),
    ("max_connections", "60000"),
    ("max_connections_per_address", "512"),
    ("header_read_timeout_ms", "10000"),
    ("ws_messages_per_second", "50"),
    ("ws_message_burst", "200"),
    ("ws_max_connections", "50000"),
    ("ws_max_connections_per_player", "16"),
    ("max_open_games_per_player", "20"),
    ("ws_allowed_origins", ""),
    ("cors_allowed_origins", ""),
];

/// Settings with no default (absent unless set).
const OPTIONAL_KEYS: &[&str] = &[
    "database_url",
    "nats_url",
    "email_keys",
    "tls_cert",
    "tls_key",
];

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {reason}")]
pub struct ConfigError {
    pub setting: String,
    pub reason: String,
}

fn invalid(setting: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        reason: reason.into(),
    }
}

/// Values given on the command line (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub values: Vec<(&'static str, String)>,
}

/// Loads the layers in order and validates the result.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let mut builder = config::Config::builder();
    for (key, value) in DEFAULTS {
        builder = builder
            .set_default(*key, *value)
            .map_err(|e| invalid(key, e.to_string()))?;
    }
    if let Some(path) = file {
        if !path.exists() {
            return Err(invalid(
                "config",
                format!("the file {} does not exist", path.display()),
            ));
        }
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
    }
    // Only known keys are read from the environment, so unrelated VERSUS_* variables (for
    // example the test suite's) are not mistaken for settings.
    for (name, value) in env {
        let Some(key) = name.strip_prefix("VERSUS_") else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        let known = DEFAULTS
            .iter()
            .map(|(k, _)| *k)
            .chain(OPTIONAL_KEYS.iter().copied())
            .find(|k| *k == key);
        if let Some(k) = known {
            builder = builder
                .set_override(k, value)
                .map_err(|e| invalid(k, e.to_string()))?;
        }
    }
    for (key, value) in &overrides.values {
        builder = builder
            .set_override(*key, value.as_str())
            .map_err(|e| invalid(key, e.to_string()))?;
    }
    let raw: RawConfig = builder
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| invalid(&setting_of(&e), e.to_string()))?;
    validate(raw)
}

/// Best effort: the key a `config` error is about.
fn setting_of(err: &config::ConfigError) -> String {
    let text = err.to_string();
    if let Some(start) = text.find('`')
        && let Some(len) = text[start + 1..].find('`')
    {
        return text[start + 1..start + 1 + len].to_string();
    }
    if let Some(start) = text.find("unknown field")
        && let Some(q) = text[start..].find('`')
    {
        let rest = &text[start + q + 1..];
        if let Some(end) = rest.find('`') {
            return rest[..end].to_string();
        }
    }
    "config".into()
}

fn range(name: &str, v: usize, min: usize, max: usize) -> Result<usize, ConfigError> {
    if v < min || v > max {
        Err(invalid(name, format!("must be between {min} and {max}")))
    } else {
        Ok(v)
    }
}

fn ms(name: &str, v: u64, min: u64, max: u64) -> Result<Duration, ConfigError> {
    range(name, v as usize, min as usize, max as usize).map(|v| Duration::from_millis(v as u64))
}

/// A comma-separated list of origins (`http(s)://host[:port]`, lower-cased, no path), or
/// `*` where `star` allows it.
fn origins(name: &str, raw: &str, star: bool) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for o in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if o == "*" && star {
            out.push(o.to_string());
            continue;
        }
        let rest = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
            .ok_or_else(|| invalid(name, format!("`{o}` is not like https://host[:port]")))?;
        let ok = !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !ok {
            return Err(invalid(
                name,
                format!("`{o}` is not like https://host[:port]"),
            ));
        }
        out.push(o.to_ascii_lowercase());
    }
    Ok(out)
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let listen: SocketAddr = raw.listen.parse().map_err(|_| {
        invalid(
            "listen",
            format!("`{}` is not an address like 127.0.0.1:8080", raw.listen),
        )
    })?;
    if raw.data_dir.trim().is_empty() {
        return Err(invalid("data_dir", "must not be empty"));
    }
    let data_dir = PathBuf::from(&raw.data_dir);
    let database_url = match raw.database_url {
        Some(url) if !url.trim().is_empty() => {
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(invalid(
                    "database_url",
                    "must start with sqlite:, postgres:// or postgresql://",
                ));
            }
            url
        }
        _ => format!("sqlite://{}", data_dir.join("versus.db").display()),
    };
    if raw.database_max_connections == 0 || raw.database_max_connections > 1000 {
        return Err(invalid(
            "database_max_connections",
            "must be between 1 and 1000",
        ));
    }
    let log_format = match raw.log_format.as_str() {
        "human" => LogFormat::Human,
        "json" => LogFormat::Json,
        other => {
            return Err(invalid(
                "log_format",
                format!("`{other}` is not one of: human, json"),
            ));
        }
    };
    if tracing_subscriber::EnvFilter::try_new(&raw.log_level).is_err() {
        return Err(invalid(
            "log_level",
            format!("`{}` is not a valid log filter", raw.log_level),
        ));
    }
    let positive = |name: &str, v: u64| -> Result<u64, ConfigError> {
        if v == 0 {
            Err(invalid(name, "must be greater than 0"))
        } else {
            Ok(v)
        }
    };
    if raw.max_body_bytes < 1024 || raw.max_body_bytes > 16 * 1024 * 1024 {
        return Err(invalid(
            "max_body_bytes",
            "must be between 1024 and 16777216",
        ));
    }
    Ok(Config {
        listen,
        data_dir,
        database_url: SecretString::from(database_url),
        database_max_connections: raw.database_max_connections,
        log_format,
        log_level: raw.log_level,
        token_ttl: {
            if raw.token_ttl_hours > 87_600 {
                return Err(invalid(
                    "token_ttl_hours",
                    "must be between 1 and 87600 (ten years)",
                ));
            }
            Duration::from_secs(positive("token_ttl_hours", raw.token_ttl_hours)? * 3600)
        },
        max_body_bytes: raw.max_body_bytes,
        request_timeout: Duration::from_secs(positive(
            "request_timeout_seconds",
            raw.request_timeout_seconds,
        )?),
        shutdown_grace: Duration::from_secs(raw.shutdown_grace_seconds),
        listen_backlog: range("listen_backlog", raw.listen_backlog as usize, 1, 65_535)? as u32,
        login_max_failures_per_account: positive(
            "login_max_failures_per_account",
            raw.login_max_failures_per_account.into(),
        )? as u32,
        login_max_failures_per_address: positive(
            "login_max_failures_per_address",
            raw.login_max_failures_per_address.into(),
        )? as u32,
        login_window: Duration::from_secs(positive(
            "login_window_seconds",
            raw.login_window_seconds,
        )?),
        trust_forwarded_for: raw.trust_forwarded_for,
        node_id: {
            let ok = !raw.node_id.is_empty()
                && raw.node_id.len() <= 64
                && raw
                    .node_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(invalid(
                    "node_id",
                    "1 to 64 characters of letters, digits, - and _",
                ));
            }
            raw.node_id
        },
        heartbeat_interval: ms(
            "heartbeat_interval_ms",
            raw.heartbeat_interval_ms,
            10,
            60_000,
        )?,
        nats_url: match raw.nats_url {
            Some(u) if !u.trim().is_empty() => {
                if !(u.starts_with("nats://") || u.starts_with("tls://")) {
                    return Err(invalid("nats_url", "must start with nats:// or tls://"));
                }
                Some(SecretString::from(u))
            }
            _ => None,
        },
        email_keys: match raw.email_keys {
            Some(k) if !k.trim().is_empty() => {
                // The message never quotes a key.
                crate::vault::check_keyring(&k).map_err(|e| invalid("email_keys", e))?;
                Some(SecretString::from(k))
            }
            _ => None,
        },
        bus_capacity: range("bus_capacity", raw.bus_capacity, 64, 1 << 22)?,
        ws: crate::ws::WsConfig {
            max_message_bytes: range(
                "ws_max_message_bytes",
                raw.ws_max_message_bytes,
                1024,
                1 << 20,
            )?,
            ping_interval: ms("ws_ping_interval_ms", raw.ws_ping_interval_ms, 100, 600_000)?,
            idle_timeout: ms("ws_idle_timeout_ms", raw.ws_idle_timeout_ms, 200, 3_600_000)?,
            hello_timeout: ms("ws_hello_timeout_ms", raw.ws_hello_timeout_ms, 100, 600_000)?,
            outbox_capacity: range("ws_outbox_capacity", raw.ws_outbox_capacity, 8, 1 << 16)?,
            max_pending: range("ws_max_pending", raw.ws_max_pending, 1, 1024)?,
            max_subscriptions: range("ws_max_subscriptions", raw.ws_max_subscriptions, 1, 4096)?,
            read_buffer_bytes: range(
                "ws_read_buffer_bytes",
                raw.ws_read_buffer_bytes,
                512,
                1 << 20,
            )?,
        },
        games: crate::games::GameConfig {
            max_open_games_per_player: range(
                "max_open_games_per_player",
                raw.max_open_games_per_player,
                0,
                1_000_000,
            )?,
            mailbox_capacity: range(
                "game_mailbox_capacity",
                raw.game_mailbox_capacity,
                1,
                1 << 16,
            )?,
            seat_hold: Duration::from_secs(raw.seat_hold_seconds),
            replay_limit: {
                if raw.game_replay_limit + 1 >= raw.ws_outbox_capacity {
                    return Err(invalid(
                        "game_replay_limit",
                        "must be smaller than ws_outbox_capacity - 1",
                    ));
                }
                raw.game_replay_limit
            },
            idle_stop: Duration::from_secs(positive(
                "game_idle_stop_seconds",
                raw.game_idle_stop_seconds,
            )?),
            tick: {
                let hz = range("realtime_tick_hz", raw.realtime_tick_hz as usize, 1, 200)?;
                Duration::from_micros(1_000_000 / hz as u64)
            },
            countdown: ms(
                "realtime_countdown_ms",
                raw.realtime_countdown_ms,
                0,
                60_000,
            )?,
            max_uncommitted_ticks: range(
                "realtime_max_uncommitted_ticks",
                raw.realtime_max_uncommitted_ticks,
                1,
                10_000,
            )?,
            lease_ttl: ms("lease_ttl_ms", raw.lease_ttl_ms, 300, 600_000)?,
            // Renew often: the last renewal is also the "last known alive" of a crashed
            // node, which bounds the time a crash can charge to a clock.
            lease_renew_interval: ms(
                "heartbeat_interval_ms",
                raw.heartbeat_interval_ms,
                10,
                60_000,
            )?
            .min(Duration::from_millis(raw.lease_ttl_ms / 3).max(Duration::from_millis(10))),
            presence_refresh: ms("presence_refresh_ms", raw.presence_refresh_ms, 50, 600_000)?,
            presence_ttl: Duration::from_millis(raw.presence_refresh_ms.saturating_mul(3)),
            request_timeout: ms(
                "game_request_timeout_ms",
                raw.game_request_timeout_ms,
                100,
                600_000,
            )?,
        },
        journal: crate::games::journal::JournalConfig {
            queue_capacity: range(
                "journal_queue_capacity",
                raw.journal_queue_capacity,
                1,
                1 << 20,
            )?,
            max_batch: range(
                "group_commit_max_batch",
                raw.group_commit_max_batch,
                1,
                100_000,
            )?,
            window: ms(
                "group_commit_window_ms",
                raw.group_commit_window_ms,
                0,
                1000,
            )?,
        },
        chat: crate::chat::ChatConfig {
            burst: range("chat_burst", raw.chat_burst as usize, 1, 1000)? as u32,
            refill: ms("chat_refill_ms", raw.chat_refill_ms, 1, 3_600_000)?,
            flood_strikes: range(
                "chat_flood_strikes",
                raw.chat_flood_strikes as usize,
                1,
                1000,
            )? as u32,
            flood_mute: ms(
                "chat_flood_mute_seconds",
                raw.chat_flood_mute_seconds.saturating_mul(1000),
                1000,
                86_400_000,
            )?,
            history_limit: range("chat_history_limit", raw.chat_history_limit, 1, 100)?,
            // Capped below the outbox, so a resume's reply and its entries always fit in it.
            replay_limit: range("chat_replay_limit", raw.chat_replay_limit, 1, 10_000)?
                .min(raw.ws_outbox_capacity.saturating_sub(2).max(1)),
            guests_in_lobby: raw.chat_guests_in_lobby,
        },
        matchmaking: crate::matchmaking::MatchmakingConfig {
            realtime_tick: {
                let hz = range("realtime_tick_hz", raw.realtime_tick_hz as usize, 1, 200)?;
                Duration::from_micros(1_000_000 / hz as u64)
            },
            realtime_countdown: ms(
                "realtime_countdown_ms",
                raw.realtime_countdown_ms,
                0,
                60_000,
            )?,
            pass_interval: ms("matchmaking_pass_ms", raw.matchmaking_pass_ms, 10, 1000)?,
            grace: ms(
                "matchmaking_grace_ms",
                raw.matchmaking_grace_ms,
                100,
                3_600_000,
            )?,
            gap: crate::matchmaking::GapBound {
                base: range(
                    "matchmaking_gap_base",
                    raw.matchmaking_gap_base as usize,
                    0,
                    10_000,
                )? as f64,
                per_second: range(
                    "matchmaking_gap_per_second",
                    raw.matchmaking_gap_per_second as usize,
                    0,
                    10_000,
                )? as f64,
                max: range(
                    "matchmaking_gap_max",
                    raw.matchmaking_gap_max as usize,
                    0,
                    10_000,
                )? as f64,
            },
        },
        social: crate::social::SocialConfig {
            invite_ttl: ms(
                "invite_ttl_seconds",
                raw.invite_ttl_seconds.saturating_mul(1000),
                1000,
                30 * 86_400_000,
            )?,
            presence_coalesce: ms("presence_coalesce_ms", raw.presence_coalesce_ms, 10, 60_000)?,
            presence_refresh: ms("presence_refresh_ms", raw.presence_refresh_ms, 50, 600_000)?,
        },
        ws_allowed_origins: origins("ws_allowed_origins", &raw.ws_allowed_origins, true)?,
        cors_allowed_origins: origins("cors_allowed_origins", &raw.cors_allowed_origins, false)?,
        tls: match (
            raw.tls_cert.filter(|v| !v.trim().is_empty()),
            raw.tls_key.filter(|v| !v.trim().is_empty()),
        ) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
            (Some(_), None) => return Err(invalid("tls_key", "tls_cert needs tls_key")),
            (None, Some(_)) => return Err(invalid("tls_cert", "tls_key needs tls_cert")),
        },
        limits: crate::limits::LimitsConfig {
            http_per_second: range(
                "http_requests_per_second_per_address",
                raw.http_requests_per_second_per_address as usize,
                0,
                1_000_000,
            )? as u32,
            http_burst: range(
                "http_burst_per_address",
                raw.http_burst_per_address as usize,
                1,
                10_000_000,
            )? as u32,
            connections_per_second: range(
                "connections_per_second_per_address",
                raw.connections_per_second_per_address as usize,
                0,
                1_000_000,
            )? as u32,
            connections_burst: range(
                "connections_burst_per_address",
                raw.connections_burst_per_address as usize,
                1,
                10_000_000,
            )? as u32,
            max_connections: range("max_connections", raw.max_connections, 0, 10_000_000)?,
            max_connections_per_address: range(
                "max_connections_per_address",
                raw.max_connections_per_address,
                0,
                10_000_000,
            )?,
            header_read_timeout: ms(
                "header_read_timeout_ms",
                raw.header_read_timeout_ms,
                100,
                600_000,
            )?,
            ws_messages_per_second: range(
                "ws_messages_per_second",
                raw.ws_messages_per_second as usize,
                0,
                1_000_000,
            )? as u32,
            ws_message_burst: range(
                "ws_message_burst",
                raw.ws_message_burst as usize,
                1,
                1_000_000,
            )? as u32,
            ws_max_connections: range("ws_max_connections", raw.ws_max_connections, 0, 10_000_000)?,
            ws_max_connections_per_player: range(
                "ws_max_connections_per_player",
                raw.ws_max_connections_per_player,
                0,
                1_000_000,
            )?,
            ws_concurrent_hellos: (raw.database_max_connections as usize / 2).max(1),
        },
    })
}

impl Config {
    /// Defaults only (no file, no environment): handy for tests and embedding.
    pub fn defaults() -> Result<Config, ConfigError> {
        load(None, std::iter::empty(), &Overrides::default())
    }

    /// Which backend the database URL names, for logs (never the URL itself).
    pub fn database_kind(&self) -> &'static str {
        if self.database_url.expose_secret().starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_use_sqlite_in_the_data_dir() {
        let c = Config::defaults().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_kind(), "sqlite");
        assert!(c.database_url.expose_secret().ends_with("versus.db"));
    }

    #[test]
    fn layers_override_in_order_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("versus.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1000\"\nlog_level = \"debug\"\ndata_dir = \"/from/file\"\n",
        )
        .unwrap();
        let overrides = Overrides {
            values: vec![("listen", "127.0.0.1:3000".into())],
        };
        let c = load(
            Some(&file),
            env(&[
                ("VERSUS_LISTEN", "127.0.0.1:2000"),
                ("VERSUS_DATA_DIR", "/from/env"),
                ("VERSUS_TEST_X", "ignored"),
            ]),
            &overrides,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 3000, "flag beats env and file");
        assert_eq!(c.data_dir, PathBuf::from("/from/env"), "env beats file");
        assert_eq!(c.log_level, "debug", "file beats default");
    }

    #[test]
    fn invalid_settings_are_named() {
        let e = load(
            None,
            env(&[("VERSUS_LISTEN", "nowhere")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(e.setting, "listen");
        let e = load(
            None,
            env(&[("VERSUS_DATABASE_URL", "mysql://x")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(e.setting, "database_url");
        let e = load(
            None,
            env(&[("VERSUS_TOKEN_TTL_HOURS", "soon")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(e.setting, "token_ttl_hours", "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let e = load(Some(&file), env(&[]), &Overrides::default()).unwrap_err();
        assert_eq!(e.setting, "lisen", "{e}");
    }

    #[test]
    fn the_database_url_never_shows_in_debug_output() {
        let c = load(
            None,
            env(&[("VERSUS_DATABASE_URL", "postgres://u:hunter2@db/versus")]),
            &Overrides::default(),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.database_kind(), "postgres");
    }
}

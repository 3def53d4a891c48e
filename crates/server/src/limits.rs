//! Flood limits: token buckets per client address (HTTP requests, new TCP connections), per
//! WebSocket connection (message credits), counters of open TCP connections (per client
//! address and in total) and of WebSocket connections (per player and in total). Every limit
//! is a configuration key; a rate or a cap of 0 turns it off.
//!
//! The per-address maps are bounded ([`MAX_ADDRESSES`]): when full, idle addresses (whose
//! bucket has refilled) are swept; if none is idle the new address is refused (fail closed,
//! like the login throttle). IPv6 addresses are keyed by their /64 prefix, since one client
//! usually holds a whole /64. No lock is held across an `.await`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

/// Most addresses a per-address limiter tracks at once.
pub const MAX_ADDRESSES: usize = 100_000;

/// A rate and a burst: `per_second` tokens refill each second, up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// `per_second` 0 means no limit.
    pub fn new(per_second: u32, burst: u32) -> Rate {
        Rate {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
        }
    }

    pub fn is_off(&self) -> bool {
        self.per_second <= 0.0
    }
}

/// A token bucket.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: rate.burst,
            last: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.last = now;
    }

    /// Takes one token, or says how long until one is there.
    pub fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        if rate.is_off() {
            return Ok(());
        }
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(missing / rate.per_second))
        }
    }

    fn is_full(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= rate.burst
    }
}

/// The key of an address: IPv4 as is, IPv6 by its /64.
fn key_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// One token bucket per client address, bounded.
#[derive(Debug)]
pub struct AddressLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl AddressLimiter {
    pub fn new(rate: Rate) -> AddressLimiter {
        AddressLimiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_off(&self) -> bool {
        self.rate.is_off()
    }

    /// Counts one request (or connection) from `ip`; `Err` carries the wait until the next.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.rate.is_off() {
            return Ok(());
        }
        let key = key_of(ip);
        let rate = self.rate;
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(&key) && map.len() >= MAX_ADDRESSES {
            map.retain(|_, b| !b.is_full(rate, now));
            if map.len() >= MAX_ADDRESSES {
                return Err(Duration::from_secs(1));
            }
        }
        map.entry(key)
            .or_insert_with(|| Bucket::full(rate, now))
            .take(rate, now)
    }
}

/// Counts open WebSocket connections, in total and per player.
#[derive(Debug)]
pub struct Connections {
    max_total: usize,
    max_per_player: usize,
    total: AtomicUsize,
    per_player: Mutex<HashMap<Uuid, usize>>,
}

/// Holds one connection's place in the total count; gives it back when dropped.
#[derive(Debug)]
pub struct TotalSlot(Arc<Connections>);

impl Drop for TotalSlot {
    fn drop(&mut self) {
        self.0.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Holds one connection's place in its player's count; gives it back when dropped.
#[derive(Debug)]
pub struct PlayerSlot(Arc<Connections>, Uuid);

impl Drop for PlayerSlot {
    fn drop(&mut self) {
        let mut map = self.0.per_player.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

impl Connections {
    /// `max_total` / `max_per_player` 0: no limit.
    pub fn new(max_total: usize, max_per_player: usize) -> Arc<Connections> {
        Arc::new(Connections {
            max_total,
            max_per_player,
            total: AtomicUsize::new(0),
            per_player: Mutex::new(HashMap::new()),
        })
    }

    /// A place among all connections, if the total cap allows.
    pub fn enter(self: &Arc<Self>) -> Option<TotalSlot> {
        let before = self.total.fetch_add(1, Ordering::Relaxed);
        let slot = TotalSlot(self.clone());
        if self.max_total > 0 && before >= self.max_total {
            return None; // (dropping the slot gives the count back)
        }
        Some(slot)
    }

    /// A place among `player`'s connections, if the per-player cap allows.
    pub fn enter_player(self: &Arc<Self>, player: Uuid) -> Option<PlayerSlot> {
        let mut map = self.per_player.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(player).or_insert(0);
        if self.max_per_player > 0 && *n >= self.max_per_player {
            if *n == 0 {
                map.remove(&player);
            }
            return None;
        }
        *n += 1;
        Some(PlayerSlot(self.clone(), player))
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

/// Counts open TCP connections (HTTP and WebSocket alike), in total and per client address
/// (keyed like [`AddressLimiter`]: IPv4 as is, IPv6 by its /64). Checked at accept, before
/// any byte is read; a connection's place is given back when its socket is dropped (for a
/// WebSocket, when the upgraded connection ends).
///
/// The per-address map holds only addresses with an open connection, so it never holds more
/// entries than there are open connections (at most `max_total` when that is set).
#[derive(Debug)]
pub struct OpenConnections {
    max_total: usize,
    max_per_address: usize,
    total: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// Why [`OpenConnections::enter`] refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenRefusal {
    /// The node holds `max_connections` already.
    Total,
    /// The address holds `max_connections_per_address` already.
    Address,
}

/// One open connection's place; given back when dropped.
#[derive(Debug)]
pub struct OpenSlot {
    owner: Arc<OpenConnections>,
    /// `None` when the address is not counted (behind a trusted proxy).
    key: Option<IpAddr>,
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.owner.total.fetch_sub(1, Ordering::Relaxed);
        if let Some(key) = self.key {
            let mut map = self
                .owner
                .per_address
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
    }
}

impl OpenConnections {
    /// `max_total` / `max_per_address` 0: no limit.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<OpenConnections> {
        Arc::new(OpenConnections {
            max_total,
            max_per_address,
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
        })
    }

    /// A place for a new connection from `ip` (`None`: count it in the total only), if both
    /// caps allow. The address cap is checked first, so one flooding address is told so
    /// (429) rather than filling the node.
    pub fn enter(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<OpenSlot, OpenRefusal> {
        let key = ip.map(key_of);
        if let Some(key) = key {
            let mut map = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
            let n = map.entry(key).or_insert(0);
            if self.max_per_address > 0 && *n >= self.max_per_address {
                return Err(OpenRefusal::Address);
            }
            *n += 1;
        }
        // From here on the slot owns its counts: dropping it (refused or closed) gives them back.
        let before = self.total.fetch_add(1, Ordering::Relaxed);
        let slot = OpenSlot {
            owner: self.clone(),
            key,
        };
        if self.max_total > 0 && before >= self.max_total {
            return Err(OpenRefusal::Total);
        }
        Ok(slot)
    }

    /// Open connections now.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Open connections from `ip`'s address (its /64 for IPv6) now.
    pub fn from_address(&self, ip: IpAddr) -> usize {
        let map = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key_of(ip)).copied().unwrap_or(0)
    }
}

/// Every flood limit of one node.
#[derive(Debug)]
pub struct Limits {
    /// HTTP requests per client address.
    pub http: AddressLimiter,
    /// New TCP connections per peer address (checked at accept).
    pub connections: AddressLimiter,
    /// Open TCP connections, per peer address and in total (checked at accept).
    pub open: Arc<OpenConnections>,
    /// WebSocket message credits (each connection holds its own bucket).
    pub ws_messages: Rate,
    pub ws: Arc<Connections>,
    /// WebSocket `hello`s whose token is being looked up at once: at most half the database
    /// pool, so a reconnect storm's lookups leave the other half to everyone else's requests
    /// (the rest wait here, in order, within their connection's task).
    pub ws_hellos: tokio::sync::Semaphore,
}

/// The configuration of [`Limits`].
#[derive(Debug, Clone, Copy)]
pub struct LimitsConfig {
    pub http_per_second: u32,
    pub http_burst: u32,
    pub connections_per_second: u32,
    pub connections_burst: u32,
    /// Open TCP connections per node (0: no cap).
    pub max_connections: usize,
    /// Open TCP connections per peer address (0: no cap; not checked behind a trusted proxy).
    pub max_connections_per_address: usize,
    pub ws_messages_per_second: u32,
    pub ws_message_burst: u32,
    pub ws_max_connections: usize,
    pub ws_max_connections_per_player: usize,
    /// See [`Limits::ws_hellos`]: half of `database_max_connections`, at least 1.
    pub ws_concurrent_hellos: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
}

impl Limits {
    pub fn new(c: &LimitsConfig) -> Limits {
        Limits {
            http: AddressLimiter::new(Rate::new(c.http_per_second, c.http_burst)),
            connections: AddressLimiter::new(Rate::new(
                c.connections_per_second,
                c.connections_burst,
            )),
            open: OpenConnections::new(c.max_connections, c.max_connections_per_address),
            ws_messages: Rate::new(c.ws_messages_per_second, c.ws_message_burst),
            ws: Connections::new(c.ws_max_connections, c.ws_max_connections_per_player),
            ws_hellos: tokio::sync::Semaphore::new(c.ws_concurrent_hellos.max(1)),
        }
    }
}

/// Middleware: the per-address HTTP request limit (`429 rate_limited` with `Retry-After`).
/// Health and readiness probes are exempt (a load balancer probes from one address).
pub async fn http_limit(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::extract::FromRequestParts;
    use axum::response::IntoResponse;
    if state.limits.http.is_off() || matches!(req.uri().path(), "/healthz" | "/readyz") {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let ip = match crate::auth::ClientAddr::from_request_parts(&mut parts, &state).await {
        Ok(a) => a.0,
        Err(e) => return e.into_response(),
    };
    if let Err(wait) = state.limits.http.check(ip, Instant::now()) {
        metrics::counter!("http_requests_refused_total", "reason" => "address_rate").increment(1);
        let mut e = crate::error::ApiError::rate_limited(retry_after_secs(wait));
        e.detail = Some("too many requests from this address; see Retry-After".into());
        return e.into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}

/// Seconds for a `Retry-After` header (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_the_burst_then_refills_at_the_rate() {
        let rate = Rate::new(2, 3);
        let t0 = Instant::now();
        let mut b = Bucket::full(rate, t0);
        for _ in 0..3 {
            assert!(b.take(rate, t0).is_ok());
        }
        let wait = b.take(rate, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(b.take(rate, t0 + Duration::from_millis(500)).is_ok());
        assert!(b.take(rate, t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn a_rate_of_zero_is_off() {
        let rate = Rate::new(0, 1);
        let t0 = Instant::now();
        let mut b = Bucket::full(rate, t0);
        for _ in 0..1000 {
            assert!(b.take(rate, t0).is_ok());
        }
    }

    #[test]
    fn addresses_are_limited_separately_and_ipv6_by_its_64() {
        let l = AddressLimiter::new(Rate::new(1, 2));
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check(a, t0).is_ok());
        assert!(l.check(a, t0).is_ok());
        assert!(l.check(a, t0).is_err());
        assert!(l.check(b, t0).is_ok());
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        assert!(l.check(v6a, t0).is_ok());
        assert!(l.check(v6b, t0).is_ok());
        assert!(l.check(v6a, t0).is_err(), "same /64, same bucket");
    }

    #[test]
    fn connection_counts_are_capped_and_given_back() {
        let c = Connections::new(2, 1);
        let p = Uuid::now_v7();
        let s1 = c.enter().unwrap();
        let s2 = c.enter().unwrap();
        assert!(c.enter().is_none());
        assert_eq!(c.total(), 2);
        drop(s1);
        assert!(c.enter().is_some());
        let p1 = c.enter_player(p).unwrap();
        assert!(c.enter_player(p).is_none());
        drop(p1);
        assert!(c.enter_player(p).is_some());
        drop(s2);
    }

    #[test]
    fn open_connections_are_capped_per_address_and_in_total_and_given_back() {
        let open = OpenConnections::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = open.enter(Some(a)).unwrap();
        let _a2 = open.enter(Some(a)).unwrap();
        assert_eq!(open.enter(Some(a)).unwrap_err(), OpenRefusal::Address);
        assert_eq!(open.from_address(a), 2, "a refusal holds no place");
        let _b1 = open.enter(Some(b)).unwrap();
        assert_eq!(open.enter(Some(b)).unwrap_err(), OpenRefusal::Total);
        assert_eq!(open.enter(None).unwrap_err(), OpenRefusal::Total);
        assert_eq!(open.total(), 3);
        assert_eq!(open.from_address(b), 1);
        drop(a1);
        assert_eq!(open.from_address(a), 1);
        let _a3 = open.enter(Some(a)).unwrap();
        // IPv6 by its /64; uncounted addresses count in the total only.
        let open = OpenConnections::new(0, 1);
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        let _v = open.enter(Some(v6a)).unwrap();
        assert_eq!(open.enter(Some(v6b)).unwrap_err(), OpenRefusal::Address);
        let _n1 = open.enter(None).unwrap();
        let _n2 = open.enter(None).unwrap();
        assert_eq!(open.total(), 3);
    }
}

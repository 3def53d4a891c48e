//! Authentication: argon2id password hashing (always on the blocking pool, never on the async
//! threads), opaque bearer tokens (stored only as their SHA-256), the [`Authed`] extractor,
//! and the login throttle.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use versus_store::PlayerRecord;

use crate::error::ApiError;
use crate::state::AppState;

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes) on the blocking pool.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let hash: Result<PasswordHash, _> = Argon2::default().hash_password(password.as_bytes());
        hash.map(|h| h.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// The hash verified against when a login names no account, so that "no such user" and
/// "wrong password" take the same time. Made once, from a random password, on first use.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let (random, _) = new_token();
        let hash: Result<PasswordHash, _> = Argon2::default().hash_password(random.as_bytes());
        hash.map(|h| h.to_string()).unwrap_or_default()
    })
}

/// Checks `password` against `hash` (or a dummy hash) on the blocking pool.
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && real
    })
    .await
    .map_err(ApiError::internal)
}

/// A new random bearer token (256 bits, base64url) and its stored hash.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// The stored form of a token: hex SHA-256. Tokens are high-entropy, so a fast hash suffices.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The bearer token of a request, if it carries one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

/// The authenticated player of a request (401 otherwise).
#[derive(Debug, Clone)]
pub struct Authed {
    pub player: PlayerRecord,
    pub token_hash: String,
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        authenticate(state, token).await
    }
}

/// The player of a request that may be anonymous: `None` without an `Authorization` header;
/// a header with a bad, expired or revoked token is still 401.
#[derive(Debug, Clone)]
pub struct MaybeAuthed(pub Option<Authed>);

impl MaybeAuthed {
    pub fn player_id(&self) -> Option<uuid::Uuid> {
        self.0.as_ref().map(|a| a.player.id)
    }
}

impl FromRequestParts<AppState> for MaybeAuthed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return Ok(MaybeAuthed(None));
        }
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        authenticate(state, token)
            .await
            .map(|a| MaybeAuthed(Some(a)))
    }
}

/// Resolves a token to its player (shared by REST and, later, the WebSocket handshake).
pub async fn authenticate(state: &AppState, token: &str) -> Result<Authed, ApiError> {
    let hash = token_hash(token);
    match state.store.token_player(&hash, crate::now_ms()).await? {
        Some((_, player)) => Ok(Authed {
            player,
            token_hash: hash,
        }),
        None => Err(ApiError::unauthorized()),
    }
}

/// The client's address: the socket peer, or the first `X-Forwarded-For` entry when the
/// server is configured to trust its proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                // The last entry is the one our proxy appended: the address it saw. Entries
                // before it were written by the client and prove nothing.
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return Ok(ClientAddr(ip));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok(ClientAddr(peer))
    }
}

/// Counts failed logins per key (an account or an address) in fixed windows. Bounded: at
/// most `MAX_KEYS` keys are tracked; when full, expired windows are swept, and if none has
/// expired new keys are throttled outright (fail closed under a flood of distinct keys).
#[derive(Debug)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<String, Window>>,
    window: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

const MAX_KEYS: usize = 100_000;

impl LoginThrottle {
    pub fn new(window: Duration) -> Self {
        LoginThrottle {
            windows: Mutex::new(HashMap::new()),
            window,
        }
    }

    /// Counts one attempt for `key` — as a failure until [`LoginThrottle::forgive`] or
    /// [`LoginThrottle::clear`] says otherwise — or refuses it with `Err(retry_after_secs)`
    /// when `key` already has `limit` in its current window. Counting before the password is
    /// checked means concurrent guesses cannot slip past the limit. When the map is full and
    /// nothing in it has expired, a new key is refused (fail closed under a flood of keys).
    pub fn attempt(&self, key: &str, limit: u32, now: Instant) -> Result<(), u64> {
        let window = self.window;
        let retry = |started: Instant| {
            (window.saturating_sub(now.duration_since(started)))
                .as_secs()
                .max(1)
        };
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            map.retain(|_, w| now.duration_since(w.started) < window);
            if map.len() >= MAX_KEYS {
                return Err(window.as_secs().max(1));
            }
        }
        let w = map.entry(key.to_string()).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(w.started) >= window {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        if w.failures >= limit {
            return Err(retry(w.started));
        }
        w.failures = w.failures.saturating_add(1);
        Ok(())
    }

    /// Takes back one attempt counted for `key` (it did not fail).
    pub fn forgive(&self, key: &str) {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = map.get_mut(key) {
            w.failures = w.failures.saturating_sub(1);
        }
    }

    /// Forgets `key` (after a successful login to that account).
    pub fn clear(&self, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_blocks_after_the_limit_and_reopens_after_the_window() {
        let t = LoginThrottle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(t.attempt("k", 3, t0).is_ok());
        }
        let retry = t.attempt("k", 3, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(retry, 50);
        assert!(t.attempt("other", 3, t0).is_ok());
        assert!(
            t.attempt("k", 3, t0 + Duration::from_secs(61)).is_ok(),
            "a new window"
        );
        t.clear("k");
        assert!(t.attempt("k", 3, t0).is_ok());
        // Forgiven attempts do not count.
        for _ in 0..10 {
            t.attempt("ok", 3, t0).unwrap();
            t.forgive("ok");
        }
        assert!(t.attempt("ok", 3, t0).is_ok());
    }

    #[test]
    fn tokens_are_random_and_hash_deterministically() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), ha);
        assert_eq!(ha.len(), 64);
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify_password("wrong horse".into(), Some(h))
                .await
                .unwrap()
        );
        assert!(!verify_password("anything".into(), None).await.unwrap());
    }
}

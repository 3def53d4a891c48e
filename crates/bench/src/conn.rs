//! One client's WebSocket connection and its HTTP setup calls.
//!
//! The client speaks the real protocol with the protocol crate's types: JSON text frames of
//! [`ClientMessage`] out, [`ServerMessage`] in. Buffers are small (a bench process holds
//! thousands of these), and every frame is counted in the run's [`Shared`] stats.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use versus_protocol::{AuthResponse, ClientMessage, PROTOCOL_VERSION, ServerMessage};

use crate::stats::Shared;

/// Why a connection ended or could not be used.
#[derive(Debug)]
pub enum ConnError {
    /// Could not connect or the handshake failed.
    Connect(String),
    /// The server closed the socket (with this close code, 0 when none).
    Closed(u16),
    /// A transport error.
    Io(String),
    /// A frame that is not a server message.
    Decode(String),
    /// `hello` was refused.
    Refused(String),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Connect(e) => write!(f, "connect: {e}"),
            ConnError::Closed(c) => write!(f, "closed with {c}"),
            ConnError::Io(e) => write!(f, "io: {e}"),
            ConnError::Decode(e) => write!(f, "decode: {e}"),
            ConnError::Refused(e) => write!(f, "hello refused: {e}"),
        }
    }
}

impl ConnError {
    /// The key this error is counted under in the report's errors.
    pub fn key(&self) -> String {
        match self {
            ConnError::Connect(_) => "connect".into(),
            ConnError::Closed(c) => format!("close:{c}"),
            ConnError::Io(_) => "io".into(),
            ConnError::Decode(_) => "decode".into(),
            ConnError::Refused(_) => "hello_refused".into(),
        }
    }
}

/// A WebSocket client connection that counts what it sends and receives.
pub struct Conn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    stats: Shared,
}

/// Small buffers: a bench process holds thousands of connections.
pub fn client_ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// `http://host:port` → `ws://host:port/api/v1/ws`.
pub fn ws_url(base: &str) -> String {
    let rest = base
        .strip_prefix("http://")
        .map(|r| format!("ws://{r}"))
        .or_else(|| base.strip_prefix("https://").map(|r| format!("wss://{r}")))
        .unwrap_or_else(|| base.to_string());
    format!("{}/api/v1/ws", rest.trim_end_matches('/'))
}

impl Conn {
    /// Opens a raw WebSocket to `url` (no `hello`).
    pub async fn open(url: &str, stats: &Shared) -> Result<Conn, ConnError> {
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(client_ws_config()), true)
                .await
                .map_err(|e| ConnError::Connect(e.to_string()))?;
        Ok(Conn {
            ws,
            stats: stats.clone(),
        })
    }

    /// Opens the game server's WebSocket and says `hello`; returns once `welcome` arrived.
    pub async fn connect(base: &str, token: &str, stats: &Shared) -> Result<Conn, ConnError> {
        let started = Instant::now();
        let mut conn = Conn::open(&ws_url(base), stats).await?;
        conn.send(&ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            token: token.to_string(),
        })
        .await?;
        match conn.recv().await? {
            ServerMessage::Welcome { .. } => {
                let mut s = stats.lock();
                s.connect.record(started.elapsed());
                s.connections_opened += 1;
                s.connections_live += 1;
                Ok(conn)
            }
            ServerMessage::Error { code, message, .. } => {
                Err(ConnError::Refused(format!("{code:?}: {message}")))
            }
            other => Err(ConnError::Refused(format!("unexpected {other:?}"))),
        }
    }

    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), ConnError> {
        // Serializing a protocol type cannot fail (no maps with non-string keys).
        let text = serde_json::to_string(msg).unwrap_or_default();
        self.send_text(text).await
    }

    pub async fn send_text(&mut self, text: String) -> Result<(), ConnError> {
        {
            let mut s = self.stats.lock();
            s.msgs_sent += 1;
            s.bytes_sent += text.len() as u64;
        }
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| ConnError::Io(e.to_string()))
    }

    /// The next text frame (pings are answered by tungstenite; pongs are skipped).
    pub async fn recv_text(&mut self) -> Result<String, ConnError> {
        loop {
            match self.ws.next().await {
                None => return Err(ConnError::Closed(0)),
                Some(Err(e)) => return Err(ConnError::Io(e.to_string())),
                Some(Ok(Message::Text(t))) => {
                    let mut s = self.stats.lock();
                    s.msgs_received += 1;
                    s.bytes_received += t.len() as u64;
                    drop(s);
                    return Ok(t.to_string());
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(ConnError::Closed(
                        frame.map(|f| u16::from(f.code)).unwrap_or(0),
                    ));
                }
                Some(Ok(Message::Binary(b))) => {
                    return Err(ConnError::Decode(format!(
                        "a binary frame of {} bytes",
                        b.len()
                    )));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next server message.
    pub async fn recv(&mut self) -> Result<ServerMessage, ConnError> {
        let text = self.recv_text().await?;
        serde_json::from_str(&text).map_err(|e| ConnError::Decode(e.to_string()))
    }

    /// Closes the socket politely (best effort, bounded).
    pub async fn close(mut self) {
        self.stats.lock().connections_live -= 1;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }

    /// Forgets the socket without a close handshake (a dropped connection).
    pub fn drop_hard(self) {
        self.stats.lock().connections_live -= 1;
    }
}

/// The HTTP side: guests, games, joins and final states.
#[derive(Debug, Clone)]
pub struct Http {
    pub base: String,
    client: reqwest::Client,
}

impl Http {
    pub fn new(base: &str) -> Http {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()
            .expect("an HTTP client");
        Http {
            base: base.trim_end_matches('/').to_string(),
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn check<T: serde::de::DeserializeOwned>(
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, String> {
        let resp = resp.map_err(|e| format!("http: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            let code = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(String::from))
                .unwrap_or_else(|| format!("http_{}", status.as_u16()));
            return Err(code);
        }
        resp.json::<T>().await.map_err(|e| format!("http: {e}"))
    }

    /// A guest account: no password, so no argon2 time on the server per client.
    pub async fn guest(&self) -> Result<AuthResponse, String> {
        Self::check(
            self.client
                .post(self.url("/api/v1/auth/guest"))
                .send()
                .await,
        )
        .await
    }

    /// Creates a casual public game of `kind` with the creator on seat 0.
    pub async fn create_game(
        &self,
        token: &str,
        kind: &str,
    ) -> Result<versus_protocol::GameView, String> {
        self.create_game_with(token, kind, serde_json::json!({}))
            .await
    }

    /// [`Http::create_game`] with more settings (e.g. a real-time kind's `players`).
    pub async fn create_game_with(
        &self,
        token: &str,
        kind: &str,
        extra: serde_json::Value,
    ) -> Result<versus_protocol::GameView, String> {
        let mut settings = serde_json::json!({"creator_seat": "first", "rated": false});
        if let (Some(s), Some(e)) = (settings.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let body = serde_json::json!({
            "kind": kind,
            "name": "bench",
            "settings": settings,
        });
        Self::check(
            self.client
                .post(self.url("/api/v1/games"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await,
        )
        .await
    }

    pub async fn join(
        &self,
        token: &str,
        game_id: uuid::Uuid,
    ) -> Result<versus_protocol::ActionAck, String> {
        Self::check(
            self.client
                .post(self.url(&format!("/api/v1/games/{game_id}/join")))
                .bearer_auth(token)
                .send()
                .await,
        )
        .await
    }

    pub async fn game(&self, game_id: uuid::Uuid) -> Result<versus_protocol::GameView, String> {
        Self::check(
            self.client
                .get(self.url(&format!("/api/v1/games/{game_id}")))
                .send()
                .await,
        )
        .await
    }

    /// The raw `/metrics` text (Prometheus exposition format).
    pub async fn metrics(&self) -> Result<String, String> {
        let resp = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        resp.text().await.map_err(|e| e.to_string())
    }
}

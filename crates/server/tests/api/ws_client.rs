//! A small typed WebSocket client for the tests: connects to `/api/v1/ws`, says `hello`, and
//! speaks [`ClientMessage`] / [`ServerMessage`] (so every reply is also checked against the
//! wire types).
//!
//! Every message the client receives is kept in [`WsClient::log`], in arrival order. Two ways
//! to read:
//!
//! - in order: [`WsClient::recv`] returns the next message not yet returned by `recv`
//!   (reading from the socket when needed), [`WsClient::recv_until`] skips to the first one
//!   that matches;
//! - by key: [`WsClient::reply`] waits for the reply carrying a request id, and
//!   [`WsClient::expect_event`] for the event with a given `seq`, wherever they are in the
//!   log (so the order in which replies and events arrive does not matter).
//!
//! Every wait has a deadline ([`WAIT`]); a closed connection fails the test with its close
//! code, except in [`WsClient::expect_close`] and [`raw_ending`].

// Not every test uses every helper.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;
use versus_protocol::{
    ActionAck, ClientMessage, ConnectionLimits, DrawAction, ErrorCode, EventEnvelope, GameEvent,
    GameView, MoveAck, PROTOCOL_VERSION, PublicPlayer, Role, ServerMessage,
};

use crate::helpers::TestApp;

/// How long any single wait on the socket may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A raw WebSocket connection (no `hello` sent yet).
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// `ws://127.0.0.1:<port>/api/v1/ws`.
pub fn ws_url(app: &TestApp) -> String {
    format!("ws://{}/api/v1/ws", app.addr)
}

/// Opens a WebSocket to the server without saying anything.
pub async fn connect_raw(app: &TestApp) -> Ws {
    let (ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(ws_url(app)))
        .await
        .expect("the WebSocket handshake finishes in time")
        .expect("the WebSocket handshake succeeds");
    assert_eq!(resp.status(), 101);
    ws
}

/// Opens a WebSocket over a TCP socket with a tiny receive buffer and segment size, so that
/// when the client stops reading, the server's writes block after a few dozen KiB instead of
/// the megabytes loopback buffers otherwise absorb (the server sizes its send buffer from the
/// segment size the client announces).
pub async fn connect_raw_small_buffer(app: &TestApp) -> Ws {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("a socket");
    // Both must be set before connecting: they bound the advertised window and MSS.
    socket.set_recv_buffer_size(2048).expect("SO_RCVBUF");
    socket.set_tcp_mss(536).expect("TCP_MAXSEG");
    socket.set_nonblocking(true).expect("non-blocking");
    let socket = tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
    let tcp = tokio::time::timeout(WAIT, socket.connect(app.addr))
        .await
        .expect("connects in time")
        .expect("connects");
    let (ws, resp) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::client_async(ws_url(app), MaybeTlsStream::Plain(tcp)),
    )
    .await
    .expect("the WebSocket handshake finishes in time")
    .expect("the WebSocket handshake succeeds");
    assert_eq!(resp.status(), 101);
    ws
}

/// The `hello` message for `token`.
pub fn hello(token: &str) -> ClientMessage {
    ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        token: token.to_string(),
    }
}

/// Sends one text frame.
pub async fn send_text(ws: &mut Ws, text: String) {
    tokio::time::timeout(WAIT, ws.send(Message::text(text)))
        .await
        .expect("the frame is sent in time")
        .expect("the frame is sent");
}

/// Reads the next text frame as a [`ServerMessage`] (skipping pings and pongs), within
/// [`WAIT`]. Panics on a close, an error or the end of the stream.
pub async fn read_message(ws: &mut Ws) -> ServerMessage {
    read_message_by(ws, tokio::time::Instant::now() + WAIT).await
}

/// Like [`read_message`], with a deadline.
pub async fn read_message_by(ws: &mut Ws, deadline: tokio::time::Instant) -> ServerMessage {
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the awaited message arrives in time");
        match frame {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).unwrap_or_else(|e| {
                    panic!("the server sent something that is not a ServerMessage ({e}): {text}")
                });
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(frame))) => {
                panic!("the server closed the connection: {frame:?}")
            }
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A close frame with this code.
    Close(u16),
    /// A close frame without a code.
    CloseWithoutCode,
    /// The stream ended or failed without a close frame (e.g. a reset).
    Dropped(String),
}

impl Ending {
    pub fn code(&self) -> Option<u16> {
        match self {
            Ending::Close(code) => Some(*code),
            _ => None,
        }
    }
}

/// Reads until the connection ends (within `within`), returning how; text frames on the way
/// are parsed (so they must still be valid [`ServerMessage`]s) and returned too.
pub async fn read_until_closed(ws: &mut Ws, within: Duration) -> (Vec<ServerMessage>, Ending) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the connection was not closed within {within:?} ({} messages read)",
                    seen.len()
                )
            });
        match frame {
            Some(Ok(Message::Text(text))) => seen.push(
                serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("not a ServerMessage ({e}): {text}")),
            ),
            Some(Ok(Message::Close(Some(frame)))) => {
                return (seen, Ending::Close(u16::from(frame.code)));
            }
            Some(Ok(Message::Close(None))) => return (seen, Ending::CloseWithoutCode),
            Some(Ok(_)) => {}
            Some(Err(e)) => return (seen, Ending::Dropped(e.to_string())),
            None => return (seen, Ending::Dropped("end of stream".into())),
        }
    }
}

/// Stops speaking WebSocket and reads the raw bytes the server sends until it closes the TCP
/// connection, then returns the close code found among them. Unlike [`read_until_closed`],
/// this writes nothing (tungstenite flushes queued automatic pongs when it reads, and a write
/// to a socket the server has already closed resets the connection before the close frame is
/// read), so it sees the close frame of a server that closed first. Bytes tungstenite had
/// already buffered are not seen; use it when nothing is expected before the close.
pub async fn raw_ending(ws: Ws, within: Duration) -> Ending {
    use tokio::io::AsyncReadExt;
    let MaybeTlsStream::Plain(mut tcp) = ws.into_inner() else {
        panic!("a plain TCP connection")
    };
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(within, tcp.read_to_end(&mut bytes))
        .await
        .unwrap_or_else(|_| panic!("the server did not close the connection within {within:?}"));
    match (close_code_in(&bytes), read) {
        (Some(Some(code)), _) => Ending::Close(code),
        (Some(None), _) => Ending::CloseWithoutCode,
        (None, Err(e)) => Ending::Dropped(e.to_string()),
        (None, Ok(_)) => Ending::Dropped("end of stream".into()),
    }
}

/// The close frame among raw server frames (unmasked): `Some(code)` if there is one.
fn close_code_in(mut bytes: &[u8]) -> Option<Option<u16>> {
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let (len, header) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n if n < 126 => (n as usize, 2),
            _ => return None,
        };
        let payload = bytes.get(header..header + len)?;
        if opcode == 0x8 {
            return Some(
                (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
            );
        }
        bytes = &bytes[header + len..];
    }
    None
}

/// Writes raw bytes to the connection (below WebSocket framing).
pub async fn write_raw_bytes(ws: &mut Ws, bytes: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
        panic!("a plain TCP connection")
    };
    tcp.write_all(bytes).await.expect("raw bytes are written");
}

/// The reply to a subscribe.
#[derive(Debug, Clone)]
pub struct Subscribed {
    pub session_id: Uuid,
    pub role: Role,
    pub last_seq: u64,
    pub snapshot: Option<Box<GameView>>,
    pub resync: bool,
    /// Where the reply is in the client's log (events after it followed it).
    pub log_index: usize,
}

/// A connected, welcomed client.
pub struct WsClient {
    ws: Ws,
    /// Who the server says we are (from `welcome`).
    pub player: PublicPlayer,
    /// The limits from `welcome`.
    pub limits: ConnectionLimits,
    /// Every message received, in arrival order.
    pub log: Vec<ServerMessage>,
    /// The index in `log` of the next message [`WsClient::recv`] returns.
    cursor: usize,
    next_id: u64,
}

impl WsClient {
    /// Connects, sends `hello` with `token`, and asserts the `welcome`.
    pub async fn connect(app: &TestApp, token: &str) -> WsClient {
        Self::handshake(connect_raw(app).await, token).await
    }

    /// Says `hello` on an open connection and asserts the `welcome`.
    pub async fn handshake(mut ws: Ws, token: &str) -> WsClient {
        send_text(&mut ws, serde_json::to_string(&hello(token)).unwrap()).await;
        match read_message(&mut ws).await {
            ServerMessage::Welcome {
                protocol,
                player,
                limits,
                ..
            } => {
                assert_eq!(protocol, PROTOCOL_VERSION);
                WsClient {
                    ws,
                    player,
                    limits,
                    log: Vec::new(),
                    cursor: 0,
                    next_id: 0,
                }
            }
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// A fresh request id (`r1`, `r2`, …).
    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("r{}", self.next_id)
    }

    pub async fn send(&mut self, msg: &ClientMessage) {
        self.send_raw(&serde_json::to_string(msg).unwrap()).await;
    }

    pub async fn send_raw(&mut self, text: &str) {
        send_text(&mut self.ws, text.to_string()).await;
    }

    /// Sends any frame (binary, ping, …).
    pub async fn send_frame(&mut self, frame: Message) {
        tokio::time::timeout(WAIT, self.ws.send(frame))
            .await
            .expect("the frame is sent in time")
            .expect("the frame is sent");
    }

    /// Reads one more message from the socket into the log.
    async fn read(&mut self, deadline: tokio::time::Instant) {
        let msg = read_message_by(&mut self.ws, deadline).await;
        self.log.push(msg);
    }

    /// The next message not yet returned by `recv` (waiting at most [`WAIT`]).
    pub async fn recv(&mut self) -> ServerMessage {
        if self.cursor == self.log.len() {
            self.read(tokio::time::Instant::now() + WAIT).await;
        }
        self.cursor += 1;
        self.log[self.cursor - 1].clone()
    }

    /// Skips to the next message that matches `pred` and returns it (waiting at most
    /// [`WAIT`] in all).
    pub async fn recv_until(&mut self, pred: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.cursor == self.log.len() {
                self.read(deadline).await;
            }
            self.cursor += 1;
            if pred(&self.log[self.cursor - 1]) {
                return self.log[self.cursor - 1].clone();
            }
        }
    }

    /// Waits (at most [`WAIT`] in all) until `find` picks something from a message of the
    /// log, wherever it is.
    pub async fn find_in_log<T>(&mut self, find: impl Fn(&ServerMessage) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut checked = 0;
        loop {
            if let Some(found) = self.log[checked..].iter().find_map(&find) {
                return found;
            }
            checked = self.log.len();
            self.read(deadline).await;
        }
    }

    /// Waits for the first event of `session_id` that matches `pred` (anywhere in the log).
    pub async fn wait_event(
        &mut self,
        session_id: Uuid,
        pred: impl Fn(&GameEvent) -> bool,
    ) -> EventEnvelope {
        self.find_in_log(|m| match m {
            ServerMessage::Event(e) if e.session_id == session_id && pred(&e.event) => {
                Some(e.clone())
            }
            _ => None,
        })
        .await
    }

    /// Waits for the event `seq` of `session_id` (anywhere in the log).
    pub async fn expect_event(&mut self, session_id: Uuid, seq: u64) -> EventEnvelope {
        self.find_in_log(|m| match m {
            ServerMessage::Event(e) if e.session_id == session_id && e.seq == seq => {
                Some(e.clone())
            }
            _ => None,
        })
        .await
    }

    /// Every event of `session_id` received so far, in arrival order.
    pub fn events(&self, session_id: Uuid) -> Vec<EventEnvelope> {
        self.log
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Event(e) if e.session_id == session_id => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    /// Waits for the reply that echoes request id `id` (anywhere in the log).
    pub async fn reply(&mut self, id: &str) -> ServerMessage {
        self.find_in_log(|m| (reply_id(m) == Some(id)).then(|| m.clone()))
            .await
    }

    /// Sends `msg` (which must carry an `id`) and waits for its reply.
    pub async fn request(&mut self, msg: &ClientMessage) -> ServerMessage {
        let value = serde_json::to_value(msg).unwrap();
        let id = value["id"]
            .as_str()
            .expect("request() needs a message with an id")
            .to_string();
        self.send(msg).await;
        self.reply(&id).await
    }

    /// Subscribes to `game_id` (resuming after `since` = `(session_id, since_seq)` if given)
    /// and returns the `subscribed` reply; panics on an error.
    pub async fn subscribe(&mut self, game_id: Uuid, since: Option<(Uuid, u64)>) -> Subscribed {
        let id = self.next_id();
        let msg = ClientMessage::Subscribe {
            id: Some(id.clone()),
            game_id,
            session_id: since.map(|s| s.0),
            since_seq: since.map(|s| s.1),
        };
        match self.request(&msg).await {
            ServerMessage::Subscribed {
                game_id: g,
                session_id,
                role,
                last_seq,
                snapshot,
                resync,
                ..
            } => {
                assert_eq!(g, game_id);
                let log_index = self
                    .log
                    .iter()
                    .position(|m| reply_id(m) == Some(id.as_str()))
                    .unwrap();
                Subscribed {
                    session_id,
                    role,
                    last_seq,
                    snapshot,
                    resync,
                    log_index,
                }
            }
            other => panic!("expected subscribed, got {other:?}"),
        }
    }

    /// Sends a move and returns the reply (an ack or an error).
    pub async fn try_move(
        &mut self,
        game_id: Uuid,
        mv: Value,
        client_move_id: &str,
    ) -> ServerMessage {
        let id = self.next_id();
        self.request(&ClientMessage::Move {
            id: Some(id),
            game_id,
            mv,
            client_move_id: client_move_id.to_string(),
        })
        .await
    }

    /// Sends a move and returns its ack; panics on an error.
    pub async fn make_move(&mut self, game_id: Uuid, mv: Value, client_move_id: &str) -> MoveAck {
        match self.try_move(game_id, mv.clone(), client_move_id).await {
            ServerMessage::MoveAck { ack, .. } => ack,
            other => panic!("move {mv} was refused: {other:?}"),
        }
    }

    /// Sends an action built from a fresh request id and returns the reply.
    pub async fn act(
        &mut self,
        build: impl FnOnce(Option<String>) -> ClientMessage,
    ) -> ServerMessage {
        let id = self.next_id();
        self.request(&build(Some(id))).await
    }

    /// Like [`WsClient::act`], asserting an `action_ack`.
    pub async fn act_ok(
        &mut self,
        build: impl FnOnce(Option<String>) -> ClientMessage,
    ) -> ActionAck {
        match self.act(build).await {
            ServerMessage::ActionAck { ack, .. } => ack,
            other => panic!("expected action_ack, got {other:?}"),
        }
    }

    pub async fn join(&mut self, game_id: Uuid) -> ActionAck {
        self.act_ok(|id| ClientMessage::Join { id, game_id }).await
    }

    pub async fn draw(&mut self, game_id: Uuid, action: DrawAction) -> ServerMessage {
        self.act(|id| ClientMessage::Draw {
            id,
            game_id,
            action,
        })
        .await
    }

    pub async fn claim_victory(&mut self, game_id: Uuid) -> ServerMessage {
        self.act(|id| ClientMessage::ClaimVictory { id, game_id })
            .await
    }

    /// An application-level ping; asserts the `pong` echoes its id.
    pub async fn ping(&mut self) {
        let id = self.next_id();
        match self
            .request(&ClientMessage::Ping {
                id: Some(id.clone()),
            })
            .await
        {
            ServerMessage::Pong { id: echoed, .. } => {
                assert_eq!(echoed.as_deref(), Some(id.as_str()))
            }
            other => panic!("expected pong, got {other:?}"),
        }
    }

    /// Reads until the server ends the connection; returns how (and logs what came before).
    pub async fn expect_close(mut self, within: Duration) -> (Vec<ServerMessage>, Ending) {
        let (seen, ending) = read_until_closed(&mut self.ws, within).await;
        self.log.extend(seen);
        (self.log, ending)
    }

    /// Closes the connection (a normal close) and waits for the server's answer.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(WAIT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// The underlying connection, for tests that speak raw frames.
    pub fn ws(&mut self) -> &mut Ws {
        &mut self.ws
    }

    /// See [`raw_ending`].
    pub async fn raw_ending(self, within: Duration) -> Ending {
        raw_ending(self.ws, within).await
    }
}

/// The request id a reply echoes, if it is a reply.
pub fn reply_id(msg: &ServerMessage) -> Option<&str> {
    match msg {
        ServerMessage::Subscribed { id, .. }
        | ServerMessage::Unsubscribed { id, .. }
        | ServerMessage::MoveAck { id, .. }
        | ServerMessage::ActionAck { id, .. }
        | ServerMessage::Error { id, .. }
        | ServerMessage::Pong { id, .. }
        | ServerMessage::ChatSubscribed { id, .. }
        | ServerMessage::ChatUnsubscribed { id, .. }
        | ServerMessage::ChatAck { id, .. }
        | ServerMessage::ChatHistory { id, .. }
        | ServerMessage::LeaderboardSubscribed { id, .. }
        | ServerMessage::LeaderboardUnsubscribed { id, .. }
        | ServerMessage::RatingSubscribed { id }
        | ServerMessage::RatingUnsubscribed { id }
        | ServerMessage::Ticket { id, .. }
        | ServerMessage::InputAccepted { id, .. } => id.as_deref(),
        ServerMessage::Welcome { .. }
        | ServerMessage::Event(_)
        | ServerMessage::Ticks { .. }
        | ServerMessage::Chat(_)
        | ServerMessage::LeaderboardUpdate(_)
        | ServerMessage::RatingUpdate(_)
        | ServerMessage::Notification(_)
        | ServerMessage::Presence(_) => None,
    }
}

/// Asserts `msg` is an `error` with `code` and a message. (That it echoes the request id is
/// checked by finding it with [`WsClient::reply`].)
pub fn assert_ws_error(msg: &ServerMessage, code: ErrorCode) {
    match msg {
        ServerMessage::Error {
            code: got, message, ..
        } => {
            assert_eq!(*got, code, "error message: {message}");
            assert!(!message.is_empty());
        }
        other => panic!("expected error {code:?}, got {other:?}"),
    }
}

/// Asserts that `events` are exactly `first..=last`, each once, in order.
pub fn assert_gap_free(events: &[EventEnvelope], first: u64, last: u64) {
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (first..=last).collect();
    assert_eq!(seqs, expected, "events are not exactly {first}..={last}");
}

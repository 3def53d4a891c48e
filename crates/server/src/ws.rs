//! The WebSocket gateway (`GET /api/v1/ws`): one task per connection.
//!
//! The connection task decodes frames, checks the handshake (`hello` with a token and a
//! protocol version — never a token in the URL), and forwards requests to game actors. It
//! never waits on an actor inline: replies to actions are collected in a bounded set of
//! pending futures, and game events arrive through the connection's bounded outbox. A
//! client that does not drain its outbox is kicked by the actor (close 4008) and resumes by
//! sequence number; a client silent for longer than the idle timeout is closed (4009).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use uuid::Uuid;
use versus_protocol::{
    ClientMessage, ConnectionLimits, ErrorCode, PROTOCOL_VERSION, PlayerRef, ServerMessage,
    close_code,
};

use crate::auth;
use crate::games::feed::{Feeds, LocalSubscriber, Subscriptions};
use crate::games::{ActOk, Action, GameError, GameHub, Kick};
use crate::routes::accounts::public_player;
use crate::state::AppState;

/// Connection knobs (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    pub max_message_bytes: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub hello_timeout: Duration,
    pub outbox_capacity: usize,
    /// Actions awaiting their reply, per connection.
    pub max_pending: usize,
    /// Games one connection may follow at once.
    pub max_subscriptions: usize,
    /// The socket's read buffer (memory per connection).
    pub read_buffer_bytes: usize,
}

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// Upgrades to a WebSocket. Documented in docs/PROTOCOL.md (not part of the OpenAPI spec).
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    let cfg = state.ws;
    // Cross-site WebSocket hijacking: a browser page from another origin may not connect.
    if !crate::headers::origin_allowed(&headers, &state.config.ws_allowed_origins) {
        metrics::counter!("ws_refused_total", "reason" => "origin").increment(1);
        return axum::response::IntoResponse::into_response(crate::error::ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "this Origin may not open a WebSocket here (ws_allowed_origins)",
        ));
    }
    // The node-wide cap (`ws_max_connections`), counted from the upgrade on.
    let Some(slot) = state.limits.ws.enter() else {
        metrics::counter!("ws_refused_total", "reason" => "node_full").increment(1);
        let mut e = crate::error::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Overloaded,
            "this node holds as many WebSocket connections as it may; retry (another node)",
        );
        e.retry_after_secs = Some(5);
        return axum::response::IntoResponse::into_response(e);
    };
    // Small buffers: an idle connection should cost a few KiB, not tungstenite's default
    // 128 KiB read buffer. Frames larger than the buffer are still read, in several steps.
    ws.max_message_size(cfg.max_message_bytes)
        .max_frame_size(cfg.max_message_bytes)
        .read_buffer_size(cfg.read_buffer_bytes)
        .write_buffer_size(0)
        .max_write_buffer_size(cfg.max_message_bytes.max(64 * 1024) * 4)
        .on_upgrade(move |socket| connection(socket, state, slot))
}

pub(crate) type Reply = Pin<Box<dyn Future<Output = ServerMessage> + Send>>;

/// A REST-style error as a WebSocket `error` (its detail, or the code's title).
fn api_error(id: Option<String>, e: crate::error::ApiError) -> ServerMessage {
    let message = e.detail.clone().unwrap_or_else(|| format!("{:?}", e.code));
    error(id, e.code, message)
}

pub(crate) fn error(
    id: Option<String>,
    code: ErrorCode,
    message: impl Into<String>,
) -> ServerMessage {
    ServerMessage::Error {
        id,
        code,
        message: message.into(),
        supported: Vec::new(),
    }
}

fn game_error(id: Option<String>, e: GameError) -> ServerMessage {
    error(id, e.code, e.message)
}

/// How long one write to a client may take: a peer that stops reading (a zero receive
/// window) cannot hold its connection task, and its presence, hostage.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

async fn send_frame(socket: &mut WebSocket, frame: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await,
        Ok(Ok(()))
    )
}

async fn send(socket: &mut WebSocket, msg: &ServerMessage) -> bool {
    match serde_json::to_string(msg) {
        Ok(json) => send_frame(socket, Message::Text(json.into())).await,
        Err(_) => false,
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

async fn connection(mut socket: WebSocket, state: AppState, _slot: crate::limits::TotalSlot) {
    metrics::gauge!("ws_connections").increment(1.0);
    // Both boxed: the handshake's futures (token lookup, database) are freed once it is done,
    // and the long-lived part is one allocation of its own size.
    let handshake = Box::pin(handshake(&mut socket, &state)).await;
    if let Some((player, _player_slot)) = handshake {
        // The socket and the state stay here, in the task's own future (which has room for
        // them anyway); the loop's box borrows them instead of holding a second copy.
        Box::pin(serve(&mut socket, &state, player)).await;
    }
    metrics::gauge!("ws_connections").decrement(1.0);
}

/// Waits for `hello`, checks version, token and the per-player connection cap, answers
/// `welcome`.
async fn handshake(
    socket: &mut WebSocket,
    state: &AppState,
) -> Option<(PlayerRef, crate::limits::PlayerSlot)> {
    let cfg = state.ws;
    let first = match tokio::time::timeout(cfg.hello_timeout, socket.recv()).await {
        Err(_) => {
            close(socket, close_code::HELLO_TIMEOUT, "hello expected").await;
            return None;
        }
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(_) => {
            send(
                socket,
                &error(
                    None,
                    ErrorCode::HelloRequired,
                    "the first message must be a hello text frame",
                ),
            )
            .await;
            close(socket, close_code::PROTOCOL_ERROR, "hello expected").await;
            return None;
        }
    };
    let (protocol, token) = match serde_json::from_str::<ClientMessage>(first.as_str()) {
        Ok(ClientMessage::Hello { protocol, token }) => (protocol, token),
        _ => {
            send(
                socket,
                &error(
                    None,
                    ErrorCode::HelloRequired,
                    "the first message must be hello",
                ),
            )
            .await;
            close(socket, close_code::PROTOCOL_ERROR, "hello expected").await;
            return None;
        }
    };
    if protocol != PROTOCOL_VERSION {
        let msg = ServerMessage::Error {
            id: None,
            code: ErrorCode::UnsupportedProtocol,
            message: format!("protocol {protocol} is not supported"),
            supported: vec![PROTOCOL_VERSION],
        };
        send(socket, &msg).await;
        close(socket, close_code::PROTOCOL_ERROR, "unsupported protocol").await;
        return None;
    }
    // A reconnect storm's token lookups take at most half the database pool.
    let permit = state.limits.ws_hellos.acquire().await;
    let authed = auth::authenticate(state, &token).await;
    drop(permit);
    let authed = match authed {
        Ok(a) => a,
        Err(_) => {
            send(
                socket,
                &error(
                    None,
                    ErrorCode::Unauthorized,
                    "the token is unknown, expired or revoked",
                ),
            )
            .await;
            close(socket, close_code::UNAUTHORIZED, "unauthorized").await;
            return None;
        }
    };
    // The per-player cap (`ws_max_connections_per_player`).
    let Some(slot) = state.limits.ws.enter_player(authed.player.id) else {
        metrics::counter!("ws_refused_total", "reason" => "player_full").increment(1);
        send(
            socket,
            &error(
                None,
                ErrorCode::LimitReached,
                "too many connections for this player; close another one first",
            ),
        )
        .await;
        close(
            socket,
            close_code::TOO_MANY_CONNECTIONS,
            "too many connections",
        )
        .await;
        return None;
    };
    let welcome = ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        player: public_player(&authed.player),
        server_time: chrono::Utc::now(),
        limits: ConnectionLimits {
            max_message_bytes: cfg.max_message_bytes as u64,
            ping_interval_ms: cfg.ping_interval.as_millis() as u64,
            idle_timeout_ms: cfg.idle_timeout.as_millis() as u64,
            outbox_capacity: cfg.outbox_capacity as u64,
            messages_per_second: state.limits.ws_messages.per_second as u64,
            message_burst: state.limits.ws_messages.burst as u64,
        },
    };
    if !send(socket, &welcome).await {
        return None;
    }
    Some((
        PlayerRef {
            id: authed.player.id,
            username: authed.player.username,
        },
        slot,
    ))
}

/// The connection's main loop, after a successful handshake.
async fn serve(socket: &mut WebSocket, state: &AppState, player: PlayerRef) {
    let cfg = state.ws;
    let (hub, feeds, chat, scores) = (&state.games, &state.feeds, &state.chat, &state.scores);
    let chat_rooms: crate::chat::feed::ChatRooms = Arc::new(Mutex::new(HashSet::new()));
    let conn_id = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    let (outbox, mut outbox_rx) = crate::outbox::outbox(cfg.outbox_capacity);
    state
        .matchmaking
        .connected(player.id, conn_id, outbox.clone());
    let kick = Kick::default();
    // Notifications and friends' presence (issue 9), on every connection of the player.
    state.social.connect(
        player.id,
        crate::ratings::Watcher {
            conn_id,
            outbox: outbox.clone(),
            kick: kick.clone(),
            limit: 0,
        },
    );
    let subscriptions: Subscriptions = Arc::new(Mutex::new(HashSet::new()));
    let mut pending: FuturesUnordered<Reply> = FuturesUnordered::new();
    let mut ping = tokio::time::interval_at(Instant::now() + cfg.ping_interval, cfg.ping_interval);
    let mut last_heard = Instant::now();
    let shutdown = &state.shutdown;
    let credit_rate = state.limits.ws_messages;
    let mut credits = crate::limits::Bucket::full(credit_rate, Instant::now());
    // Messages refused in a row for lack of credits; at `burst` of them the client is closed.
    let mut refused: u32 = 0;

    loop {
        tokio::select! {
            code = kick.kicked() => {
                let reason = if code == close_code::SLOW_CONSUMER { "slow consumer: resume with since_seq" } else { "going away" };
                Box::pin(close(&mut *socket, code, reason)).await;
                break;
            }
            () = shutdown.cancelled() => {
                Box::pin(close(&mut *socket, close_code::GOING_AWAY, "server shutting down")).await;
                break;
            }
            frame = socket.recv() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => {
                        if is_too_big(e) {
                            Box::pin(close(&mut *socket, close_code::MESSAGE_TOO_BIG, "message too big")).await;
                        }
                        break;
                    }
                    None => break,
                };
                last_heard = Instant::now();
                // Message credits (pings exempt: a `ping` is never refused).
                if let Message::Text(_) | Message::Binary(_) = &frame {
                    match credits.take(credit_rate, last_heard) {
                        Ok(()) => refused = 0,
                        Err(wait) if !is_ping(&frame) => {
                            refused += 1;
                            metrics::counter!("ws_messages_refused_total").increment(1);
                            if f64::from(refused) > credit_rate.burst {
                                Box::pin(close(&mut *socket, close_code::RATE_LIMITED, "too many messages")).await;
                                break;
                            }
                            let reply = error(
                                request_id(&frame),
                                ErrorCode::RateLimited,
                                format!(
                                    "too many messages; this one was dropped (next credit in {} ms)",
                                    wait.as_millis().max(1)
                                ),
                            );
                            if !send(&mut *socket, &reply).await { break; }
                            continue;
                        }
                        Err(_) => {}
                    }
                }
                match frame {
                    Message::Text(text) => {
                        let ctx = Ctx { hub, feeds, chat, chat_rooms: &chat_rooms, scores, matchmaking: &state.matchmaking, player: &player, conn_id, outbox: &outbox, kick: &kick, cfg: &cfg };
                        if let Some(reply) = handle_text(&ctx, text.as_str(), &subscriptions, &mut pending)
                            && !send(&mut *socket, &reply).await
                        {
                            break;
                        }
                    }
                    Message::Binary(_) => {
                        let reply = error(None, ErrorCode::MalformedRequest, "binary frames are not supported; send JSON text");
                        if !send(&mut *socket, &reply).await { break; }
                    }
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            Some(wire) = outbox_rx.recv() => {
                if !send_frame(&mut *socket, Message::Text(wire)).await { break; }
            }
            Some(reply) = pending.next(), if !pending.is_empty() => {
                if !send(&mut *socket, &reply).await { break; }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > cfg.idle_timeout {
                    Box::pin(close(&mut *socket, close_code::IDLE_TIMEOUT, "idle timeout")).await;
                    break;
                }
                if Box::pin(socket.send(Message::Ping(Default::default()))).await.is_err() { break; }
            }
        }
    }
    let followed: Vec<Uuid> = subscriptions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .collect();
    for game_id in followed {
        feeds.unsubscribe(game_id, conn_id);
    }
    let rooms: Vec<_> = chat_rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .collect();
    for room in rooms {
        chat.feeds().unsubscribe(room, conn_id);
    }
    scores.forget_connection(conn_id);
    state.social.disconnect(player.id, conn_id);
    state.matchmaking.disconnected(player.id, conn_id);
}

struct Ctx<'a> {
    hub: &'a GameHub,
    feeds: &'a Feeds,
    chat: &'a crate::chat::ChatService,
    chat_rooms: &'a crate::chat::feed::ChatRooms,
    scores: &'a crate::ratings::Scoreboard,
    matchmaking: &'a crate::matchmaking::Matchmaker,
    player: &'a PlayerRef,
    conn_id: u64,
    outbox: &'a crate::outbox::Outbox,
    kick: &'a Kick,
    cfg: &'a WsConfig,
}

/// Handles one text frame; returns an immediate reply, if any (replies of actions arrive
/// later through `pending`, subscription replies through the outbox).
fn handle_text(
    ctx: &Ctx<'_>,
    text: &str,
    subscriptions: &Subscriptions,
    pending: &mut FuturesUnordered<Reply>,
) -> Option<ServerMessage> {
    let msg = match serde_json::from_str::<ClientMessage>(text) {
        Ok(m) => m,
        Err(e) => {
            // Echo the request id when the frame is JSON with a string `id`.
            let id = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| {
                    v.get("id")
                        .and_then(|i| i.as_str())
                        .map(|s| s.chars().take(64).collect())
                });
            return Some(error(
                id,
                ErrorCode::MalformedRequest,
                format!("not a valid message: {e}"),
            ));
        }
    };
    let (id, game_id, action) = match msg {
        ClientMessage::Hello { .. } => {
            return Some(error(
                None,
                ErrorCode::InvalidState,
                "hello was already received",
            ));
        }
        ClientMessage::Ping { id } => {
            return Some(bad_id(&id).unwrap_or(ServerMessage::Pong {
                id,
                server_time: chrono::Utc::now(),
            }));
        }
        ClientMessage::Subscribe {
            id,
            game_id,
            session_id,
            since_seq,
        } => {
            if let Some(bad) = bad_id(&id) {
                return Some(bad);
            }
            {
                let mut subs = subscriptions.lock().unwrap_or_else(|p| p.into_inner());
                if !subs.contains(&game_id) && subs.len() >= ctx.cfg.max_subscriptions {
                    return Some(error(
                        id,
                        ErrorCode::RateLimited,
                        "too many subscriptions on this connection",
                    ));
                }
                subs.insert(game_id);
            }
            ctx.feeds.subscribe(
                game_id,
                LocalSubscriber {
                    conn_id: ctx.conn_id,
                    player: ctx.player.clone(),
                    request_id: id,
                    session_id,
                    since_seq,
                    outbox: ctx.outbox.clone(),
                    kick: ctx.kick.clone(),
                    subscriptions: subscriptions.clone(),
                },
            );
            return None;
        }
        ClientMessage::Unsubscribe { id, game_id } => {
            if !subscriptions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&game_id)
            {
                return Some(error(
                    id,
                    ErrorCode::NotSubscribed,
                    "not subscribed to that game",
                ));
            }
            ctx.feeds.unsubscribe(game_id, ctx.conn_id);
            return Some(ServerMessage::Unsubscribed { id, game_id });
        }
        ClientMessage::LeaderboardSubscribe { id, kind, limit } => {
            return crate::ratings::ws_watch_board(ctx_watch(ctx), id, kind, limit, pending);
        }
        ClientMessage::LeaderboardUnsubscribe { id, kind } => {
            if bad_id(&id).is_some() || !ctx.scores.unwatch_board(&kind, ctx.conn_id) {
                return Some(error(
                    id,
                    ErrorCode::NotSubscribed,
                    "not following that leaderboard",
                ));
            }
            return Some(ServerMessage::LeaderboardUnsubscribed { id, kind });
        }
        ClientMessage::RatingSubscribe { id } => {
            return crate::ratings::ws_watch_rating(ctx_watch(ctx), id, pending);
        }
        ClientMessage::MatchmakingJoin {
            id,
            kind,
            time_control,
            rated,
        } => {
            if let Some(e) = bad_id(&id) {
                return Some(e);
            }
            let mm = ctx.matchmaking.clone();
            let player = ctx.player.clone();
            let req = versus_protocol::TicketRequest {
                kind,
                time_control,
                rated,
            };
            pending.push(Box::pin(async move {
                match mm.create(&player, req).await {
                    Ok(ticket) => ServerMessage::Ticket { id, ticket },
                    Err(e) => api_error(id, e),
                }
            }));
            return None;
        }
        ClientMessage::MatchmakingCancel { id, ticket_id } => {
            if let Some(e) = bad_id(&id) {
                return Some(e);
            }
            let mm = ctx.matchmaking.clone();
            let player = ctx.player.id;
            pending.push(Box::pin(async move {
                match mm.cancel(player, ticket_id).await {
                    Ok(ticket) => ServerMessage::Ticket { id, ticket },
                    Err(e) => api_error(id, e),
                }
            }));
            return None;
        }
        ClientMessage::RatingUnsubscribe { id } => {
            if bad_id(&id).is_some() || !ctx.scores.unwatch_rating(ctx.player.id, ctx.conn_id) {
                return Some(error(
                    id,
                    ErrorCode::NotSubscribed,
                    "not following your ratings",
                ));
            }
            return Some(ServerMessage::RatingUnsubscribed { id });
        }
        msg @ (ClientMessage::ChatSubscribe { .. }
        | ClientMessage::ChatUnsubscribe { .. }
        | ClientMessage::ChatSend { .. }
        | ClientMessage::ChatDelete { .. }
        | ClientMessage::ChatHistory { .. }) => {
            return handle_chat(ctx, msg, pending);
        }
        ClientMessage::Join { id, game_id } => (id, game_id, Action::Join),
        ClientMessage::Move {
            id,
            game_id,
            mv,
            client_move_id,
        } => (id, game_id, Action::Move { mv, client_move_id }),
        ClientMessage::Resign { id, game_id } => (id, game_id, Action::Resign),
        ClientMessage::Draw {
            id,
            game_id,
            action,
        } => (id, game_id, Action::Draw(action)),
        ClientMessage::Abort { id, game_id } => (id, game_id, Action::Abort),
        ClientMessage::ClaimVictory { id, game_id } => (id, game_id, Action::ClaimVictory),
        ClientMessage::Rematch { id, game_id } => (id, game_id, Action::Rematch),
        ClientMessage::Input { id, game_id, dir } => (id, game_id, Action::Input { dir }),
    };
    if let Some(bad) = bad_id(&id) {
        return Some(bad);
    }
    if pending.len() >= ctx.cfg.max_pending {
        return Some(error(
            id,
            ErrorCode::Overloaded,
            "too many requests in flight on this connection",
        ));
    }
    let hub = ctx.hub.clone();
    let player = ctx.player.clone();
    pending.push(Box::pin(async move {
        match hub.act_as_client(game_id, player, action).await {
            Ok(ActOk::Move(ack)) => ServerMessage::MoveAck { id, ack },
            Ok(ActOk::Action(ack)) => ServerMessage::ActionAck { id, ack },
            Ok(ActOk::Input { tick }) => ServerMessage::InputAccepted { id, game_id, tick },
            Err(e) => game_error(id, e),
        }
    }));
    None
}

/// What the rating and leaderboard requests need of the connection.
fn ctx_watch(ctx: &Ctx<'_>) -> crate::ratings::WsWatch {
    crate::ratings::WsWatch {
        scores: ctx.scores.clone(),
        player: ctx.player.id,
        watcher: crate::ratings::Watcher {
            conn_id: ctx.conn_id,
            outbox: ctx.outbox.clone(),
            kick: ctx.kick.clone(),
            limit: 0,
        },
        max_pending: ctx.cfg.max_pending,
    }
}

/// The chat messages (see `chat::socket`).
fn handle_chat(
    ctx: &Ctx<'_>,
    msg: ClientMessage,
    pending: &mut FuturesUnordered<Reply>,
) -> Option<ServerMessage> {
    let id = match &msg {
        ClientMessage::ChatSubscribe { id, .. }
        | ClientMessage::ChatUnsubscribe { id, .. }
        | ClientMessage::ChatSend { id, .. }
        | ClientMessage::ChatDelete { id, .. }
        | ClientMessage::ChatHistory { id, .. } => id.clone(),
        _ => None,
    };
    if let Some(bad) = bad_id(&id) {
        return Some(bad);
    }
    let conn = crate::chat::socket::ConnChat {
        chat: ctx.chat,
        player: ctx.player,
        conn_id: ctx.conn_id,
        outbox: ctx.outbox,
        kick: ctx.kick,
        rooms: ctx.chat_rooms,
        max_rooms: ctx.cfg.max_subscriptions,
    };
    match crate::chat::socket::handle(&conn, msg)? {
        crate::chat::socket::Answer::Now(reply) => Some(reply),
        crate::chat::socket::Answer::Outbox => None,
        crate::chat::socket::Answer::Later(reply) => {
            if pending.len() >= ctx.cfg.max_pending {
                return Some(error(
                    id,
                    ErrorCode::Overloaded,
                    "too many requests in flight on this connection",
                ));
            }
            pending.push(reply);
            None
        }
    }
}

/// Whether a frame is a `ping` message (looked at only when credits ran out).
fn is_ping(frame: &Message) -> bool {
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
    }
    match frame {
        Message::Text(text) => {
            serde_json::from_str::<Kind<'_>>(text.as_str()).is_ok_and(|k| k.kind == "ping")
        }
        _ => false,
    }
}

/// The `id` of a text frame, if it is JSON with a valid string `id` (for error replies).
fn request_id(frame: &Message) -> Option<String> {
    let Message::Text(text) = frame else {
        return None;
    };
    serde_json::from_str::<serde_json::Value>(text.as_str())
        .ok()?
        .get("id")?
        .as_str()
        .filter(|s| !s.is_empty() && s.chars().count() <= 64)
        .map(str::to_owned)
}

/// Request ids are 1–64 characters.
pub(crate) fn bad_id(id: &Option<String>) -> Option<ServerMessage> {
    match id {
        Some(s) if s.is_empty() || s.chars().count() > 64 => Some(error(
            None,
            ErrorCode::ValidationFailed,
            "id must be 1 to 64 characters",
        )),
        _ => None,
    }
}

/// Whether a read failed because a frame or message exceeded the size limit.
fn is_too_big(e: axum::Error) -> bool {
    let inner = e.into_inner();
    matches!(
        inner.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}

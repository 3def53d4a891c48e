//! The transport floor: the same WebSocket stack as the `versus` server (axum 0.8 with its
//! tungstenite, the same buffer settings, one task per connection with a bounded outbox and a
//! keepalive ping) but no authentication, no JSON, no game logic and no durability. Two
//! clients that connect with the same `?pair=` are paired; every text frame one sends is
//! relayed to the other and echoed back to the sender as its acknowledgement (`a` + frame).
//!
//! Run `play` against it with `versus-bench run --floor` to read every figure as a ratio to
//! what the stack itself costs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::conn::Conn;
use crate::ctx::{CtxRef, Phase, spread_interval};
use crate::stats::now_ns;

/// The same defaults as the server's `ws_*` settings.
const MAX_MESSAGE_BYTES: usize = 16384;
const READ_BUFFER_BYTES: usize = 1024;
const OUTBOX_CAPACITY: usize = 256;
const PING_INTERVAL: Duration = Duration::from_secs(15);

type Outbox = mpsc::Sender<Utf8Bytes>;

#[derive(Default)]
struct Lobby {
    waiting: HashMap<u64, (Outbox, oneshot::Sender<Outbox>)>,
}

type LobbyRef = Arc<Mutex<Lobby>>;

#[derive(serde::Deserialize)]
struct PairQuery {
    pair: u64,
}

/// Serves the floor on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let lobby: LobbyRef = Arc::default();
    let app = Router::new()
        .route("/floor", get(upgrade))
        .with_state(lobby);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn upgrade(
    ws: WebSocketUpgrade,
    Query(q): Query<PairQuery>,
    State(lobby): State<LobbyRef>,
) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_MESSAGE_BYTES.max(64 * 1024) * 4)
        .on_upgrade(move |socket| connection(socket, lobby, q.pair))
}

async fn connection(mut socket: WebSocket, lobby: LobbyRef, pair: u64) {
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(OUTBOX_CAPACITY);
    let waiter = {
        let mut l = lobby.lock().unwrap_or_else(|p| p.into_inner());
        match l.waiting.remove(&pair) {
            Some((peer, hand_over)) => {
                let _ = hand_over.send(tx.clone());
                Ok(peer)
            }
            None => {
                let (hand_tx, hand_rx) = oneshot::channel();
                l.waiting.insert(pair, (tx.clone(), hand_tx));
                Err(hand_rx)
            }
        }
    };
    let mut partner: Option<Outbox> = None;
    let mut hand_rx = match waiter {
        Ok(peer) => {
            partner = Some(peer);
            None
        }
        Err(rx) => Some(rx),
    };
    let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
    loop {
        tokio::select! {
            Ok(peer) = async { hand_rx.as_mut().expect("guarded").await }, if hand_rx.is_some() => {
                partner = Some(peer);
                hand_rx = None;
            }
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Some(p) = &partner
                        && p.try_send(text.clone()).is_err()
                    {
                        break;
                    }
                    let ack: Utf8Bytes = format!("a{}", text.as_str()).into();
                    if tx.try_send(ack).is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            Some(out) = rx.recv() => {
                if socket.send(Message::Text(out)).await.is_err() {
                    break;
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    lobby
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .waiting
        .remove(&pair);
}

/// One player of `play` against the floor: closed loop (the creator starts; each side sends
/// its frame when the other's arrives) or open loop on a timer. Frames are `<n>:<nanos>`;
/// the counter `n` of the other side is checked for gaps and duplicates.
pub async fn player(ctx: CtxRef, pair: u64, idx: usize, index: usize, count: usize) {
    let stats = ctx.stats.clone();
    ctx.pacer.wait().await;
    let url = format!(
        "{}/floor?pair={pair}",
        ctx.opts
            .url
            .replacen("http://", "ws://", 1)
            .trim_end_matches('/')
    );
    let started = Instant::now();
    let slot = ctx.connect_slot().await;
    let mut conn = match Conn::open(&url, &stats).await {
        Ok(c) => {
            let mut s = stats.lock();
            s.connect.record(started.elapsed());
            s.connections_opened += 1;
            s.connections_live += 1;
            c
        }
        Err(e) => {
            let mut s = stats.lock();
            s.connections_failed += 1;
            s.error(e.key());
            return;
        }
    };
    drop(slot);
    ctx.wait_for(Phase::Run).await;
    let open_loop = ctx.opts.rate > 0.0;
    let pairs = count / 2;
    let period = if open_loop {
        Duration::from_secs_f64(pairs.max(1) as f64 / ctx.opts.rate)
    } else {
        Duration::from_secs(3600)
    };
    let mut tick = spread_interval(period, index / 2, pairs);
    let mut phase = ctx.phase.clone();
    let mut sent = 0u64;
    let mut expected = 1u64;
    let mut my_turn = idx == 0;
    let mut stopping = false;
    let mut drain_until: Option<Instant> = None;
    let send = |n: u64| format!("{n}:{}", now_ns());
    if my_turn && !open_loop {
        sent += 1;
        stats.lock().moves_sent += 1;
        let _ = conn.send_text(send(sent)).await;
        my_turn = false;
    }
    loop {
        let deadline = drain_until.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            text = conn.recv_text() => match text {
                Ok(text) => {
                    if let Some(ack) = text.strip_prefix('a') {
                        let mut s = stats.lock();
                        s.moves_acked += 1;
                        if let Some(t) = ack.split_once(':').and_then(|(_, t)| t.parse::<u64>().ok()) {
                            s.move_to_ack.record_ns(now_ns().saturating_sub(t));
                        }
                        continue;
                    }
                    if let Some((n, t)) = text.split_once(':') {
                        let n: u64 = n.parse().unwrap_or(0);
                        crate::play::check_seq(&mut expected, n, &stats, "floor frame");
                        if let Ok(t) = t.parse::<u64>() {
                            stats.lock().move_to_opponent.record_ns(now_ns().saturating_sub(t));
                        }
                    }
                    my_turn = true;
                    if !open_loop && !stopping {
                        sent += 1;
                        stats.lock().moves_sent += 1;
                        let _ = conn.send_text(send(sent)).await;
                        my_turn = false;
                    }
                }
                Err(e) => {
                    stats.lock().error(e.key());
                    conn.drop_hard();
                    return;
                }
            },
            _ = tick.tick(), if open_loop && !stopping => {
                if my_turn {
                    sent += 1;
                    stats.lock().moves_sent += 1;
                    let _ = conn.send_text(send(sent)).await;
                    my_turn = false;
                } else {
                    stats.lock().open_loop_late += 1;
                }
            }
            () = crate::ctx::until_stop(&mut phase), if !stopping => {
                stopping = true;
                drain_until = Some(Instant::now() + ctx.opts.drain);
            }
            () = tokio::time::sleep_until(deadline), if drain_until.is_some() => break,
        }
    }
    conn.close().await;
}

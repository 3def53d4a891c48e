//! Slow and broken clients: connections that never send a byte or stop halfway through a
//! request line or the HTTP/2 preface, slowloris (headers trickled byte by byte), a client
//! that never reads its responses, half-open connections (gone without a FIN) and a reconnect
//! storm of thousands of WebSocket clients. In each case the server closes what it must and
//! keeps serving everyone else.
//!
//! The tests print what they measured (lines starting `[measured]`; run with `--nocapture`
//! to see them); docs/SECURITY.md quotes them. They assert only that everyone else is served,
//! with generous deadlines, never how fast.
//!
//! (SQLite only: nothing here depends on the backend.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use versus_protocol::ServerMessage;

use crate::helpers::{Binary, Db, PASSWORD, TestApp, http_client, run_test};
use crate::ws_client::{WsClient, hello};

/// Reads until the server closes the connection; `Some(elapsed since start)` if it did
/// within `within`.
async fn closed_within(tcp: &mut TcpStream, start: Instant, within: Duration) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::from_std(start + within);
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A TCP connection to `to` from the loopback address `from` (any 127.x.y.z works on Linux),
/// so one test can play several client addresses.
pub async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    socket.connect(to).await
}

/// "n=…, p50=…, max=…" of some durations, in milliseconds.
fn summary(samples: &[Duration]) -> String {
    if samples.is_empty() {
        return "n=0".into();
    }
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let p50 = ms[ms.len() / 2];
    let p99 = ms[(ms.len() * 99 / 100).min(ms.len() - 1)];
    let max = ms[ms.len() - 1];
    format!(
        "n={} p50={p50:.1}ms p99={p99:.1}ms max={max:.1}ms",
        ms.len()
    )
}

/// `GET path` on a fresh connection (no pooling: a short header deadline also closes idle
/// keep-alive connections, and a pooled one could be reused just as the server closes it, a
/// client-side race rather than a refusal); asserts 200 and returns how long it took.
async fn timed_get(client: &reqwest::Client, url: String) -> Duration {
    let start = Instant::now();
    let resp = client.get(url).send().await.expect("served");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.bytes().await.expect("the whole body");
    start.elapsed()
}

fn unpooled_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_by_the_header_deadline() {
    run_test(
        Db::Sqlite,
        &[("header_read_timeout_ms", "1000")],
        |app: TestApp| async move {
            // What a stalled client may have sent when it stops: nothing, half a request line,
            // part of the HTTP/2 preface, or the whole preface (HTTP/2 is not served).
            let stalls: [(&str, &[u8]); 4] = [
                ("nothing", b""),
                ("half a request line", b"GET /api/v1/ki"),
                ("part of the HTTP/2 preface", b"PRI * HTTP/2.0\r\n"),
                (
                    "the HTTP/2 preface",
                    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
                ),
            ];
            let start = Instant::now();
            let mut stalled = Vec::new();
            for (what, bytes) in stalls {
                for _ in 0..20 {
                    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
                    tcp.write_all(bytes).await.unwrap();
                    stalled.push((what, tcp));
                }
            }
            // While they hang, a normal client is served, over HTTP and WebSocket.
            let client = unpooled_client();
            let mut latencies = Vec::new();
            for _ in 0..10 {
                latencies.push(timed_get(&client, app.url("/api/v1/kinds")).await);
            }
            let (token, _) = app.guest().await;
            let mut ws = WsClient::connect(&app, &token).await;
            ws.ping().await;
            // Each stalled connection is closed, within the deadline plus generous slack.
            let mut closed = Vec::new();
            for (what, tcp) in &mut stalled {
                let after = closed_within(tcp, start, Duration::from_secs(15)).await;
                let after =
                    after.unwrap_or_else(|| panic!("a connection that sent {what} stays open"));
                closed.push((*what, after));
            }
            for (what, _) in stalls {
                let times: Vec<Duration> = closed
                    .iter()
                    .filter(|(w, _)| *w == what)
                    .map(|(_, d)| *d)
                    .collect();
                eprintln!(
                    "[measured] stalled on {what} (header deadline 1000ms): closed after {}",
                    summary(&times)
                );
            }
            eprintln!(
                "[measured] meanwhile GET /api/v1/kinds: {}",
                summary(&latencies)
            );
            timed_get(&client, app.url("/healthz")).await;
        },
    )
    .await;
}

#[tokio::test]
async fn slowloris_connections_are_closed_and_others_are_served() {
    run_test(
        Db::Sqlite,
        &[("header_read_timeout_ms", "500")],
        |app: TestApp| async move {
            // 40 clients each send a request line and half a header, then one header byte
            // now and then: the deadline is for the whole head, not between bytes.
            let start = Instant::now();
            let mut slow = Vec::new();
            for _ in 0..40 {
                let mut tcp = TcpStream::connect(app.addr).await.unwrap();
                tcp.write_all(b"GET /api/v1/kinds HTTP/1.1\r\nhost: x\r\nx-slow: ")
                    .await
                    .unwrap();
                slow.push(tcp);
            }
            let trickle = async {
                for _ in 0..5 {
                    for tcp in &mut slow {
                        let _ = tcp.write_all(b"a").await;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            // Meanwhile a normal client is served.
            let client = unpooled_client();
            let normal = async {
                let mut latencies = Vec::new();
                for _ in 0..10 {
                    latencies.push(timed_get(&client, app.url("/api/v1/kinds")).await);
                }
                latencies
            };
            let ((), latencies) = tokio::join!(trickle, normal);
            // Every slow connection is closed by the header deadline.
            let mut closed = Vec::new();
            for tcp in &mut slow {
                closed.push(
                    closed_within(tcp, start, Duration::from_secs(10))
                        .await
                        .expect("a slowloris connection stays open"),
                );
            }
            eprintln!(
                "[measured] 40 slowloris connections (header deadline 500ms): closed after {}",
                summary(&closed)
            );
            eprintln!(
                "[measured] meanwhile GET /api/v1/kinds: {}",
                summary(&latencies)
            );
            timed_get(&client, app.url("/healthz")).await;
        },
    )
    .await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_deadline() {
    run_test(
        Db::Sqlite,
        &[("header_read_timeout_ms", "500")],
        |app: TestApp| async move {
            let mut tcp = TcpStream::connect(app.addr).await.unwrap();
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 1024];
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
            // Then silence, as from a client that vanished without a FIN (half-open).
            assert!(
                closed_within(&mut tcp, Instant::now(), Duration::from_secs(10))
                    .await
                    .is_some(),
                "the idle connection stays open"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn a_client_that_never_reads_does_not_stall_others() {
    run_test(Db::Sqlite, &[], |app: TestApp| async move {
        // Pipelined requests for the largest document, never read: the server's writes to
        // this socket block once the buffers are full.
        let mut stuck = Vec::new();
        for _ in 0..4 {
            let mut tcp = TcpStream::connect(app.addr).await.unwrap();
            let request = b"GET /api/openapi.json HTTP/1.1\r\nhost: x\r\n\r\n".repeat(200);
            let _ = tokio::time::timeout(Duration::from_secs(2), tcp.write_all(&request)).await;
            stuck.push(tcp);
        }
        let client = unpooled_client();
        let mut latencies = Vec::new();
        for _ in 0..20 {
            latencies.push(timed_get(&client, app.url("/api/v1/kinds")).await);
        }
        let (token, _) = app.guest().await;
        let start = Instant::now();
        let mut ws = WsClient::connect(&app, &token).await;
        ws.ping().await;
        let ws_latency = start.elapsed();
        eprintln!(
            "[measured] 4 never-reading clients (200 pipelined GET /api/openapi.json each): meanwhile GET /api/v1/kinds {}, WebSocket hello+welcome+ping {:.1}ms",
            summary(&latencies),
            ws_latency.as_secs_f64() * 1000.0
        );
        drop(stuck);
    })
    .await;
}

// --- the reconnect storm -------------------------------------------------------------------

/// Players in the storm, and connections each opens (at once, twice over). 8 per player
/// stays under the default per-player cap of 16 even while a player's first connections are
/// still being torn down as the second ones arrive.
const STORM_PLAYERS: usize = 300;
const STORM_CONNECTIONS_PER_PLAYER: usize = 8;
/// Client addresses the storm comes from (127.0.0.10 …): with the default per-address limits
/// (500 new connections in a burst, 512 open), 30 addresses carry 2×2,400 connections.
const STORM_ADDRESSES: usize = 30;

/// Soft limit on open files of this process (Linux; `None` elsewhere).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One storm client: connects from `from`, says hello, is welcomed, hangs up without a close
/// frame, reconnects, is welcomed again and closes. Returns the time to each welcome.
async fn storm_client(
    from: Ipv4Addr,
    server: SocketAddr,
    token: String,
) -> Result<[Duration; 2], String> {
    let mut times = [Duration::ZERO; 2];
    for (round, time) in times.iter_mut().enumerate() {
        let start = Instant::now();
        let welcomed = async {
            let tcp = connect_from(from, server)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let url = format!("ws://{server}/api/v1/ws");
            let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
                .await
                .map_err(|e| format!("upgrade: {e}"))?;
            let text = serde_json::to_string(&hello(&token)).unwrap();
            ws.send(Message::text(text))
                .await
                .map_err(|e| format!("hello: {e}"))?;
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return match serde_json::from_str::<ServerMessage>(text.as_str()) {
                            Ok(ServerMessage::Welcome { .. }) => Ok(ws),
                            _ => Err(format!("expected welcome, got {text}")),
                        };
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => return Err(format!("expected welcome, got {other:?}")),
                }
            }
        };
        let ws = tokio::time::timeout(Duration::from_secs(45), welcomed)
            .await
            .map_err(|_| format!("round {round}: not welcomed within 45 s"))??;
        *time = start.elapsed();
        if round == 0 {
            drop(ws); // hang up: the storm's other half
        } else {
            let mut ws = ws;
            let _ = ws.close(None).await;
        }
    }
    Ok(times)
}

/// A REST call for the player who is not in the storm; asserts the status, returns the body
/// and records the latency.
async fn timed_rest(
    req: reqwest::RequestBuilder,
    expect: u16,
    latencies: &mut Vec<Duration>,
) -> Value {
    let start = Instant::now();
    let resp = req.send().await.expect("served");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expect, "{body}");
    latencies.push(start.elapsed());
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_storm_of_thousands_of_clients_leaves_everyone_else_served() {
    let clients = STORM_PLAYERS * STORM_CONNECTIONS_PER_PLAYER;
    if let Some(limit) = open_files_limit() {
        assert!(
            limit >= clients as u64 + 1000,
            "this test opens {clients} sockets at once; raise the open-files limit (ulimit -n, now {limit})"
        );
    }
    // The real binary, with its default limits, in its own process (its own runtime).
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let mut server = Binary::start(&["--listen", "127.0.0.1:0", "--data-dir", &data_dir]);
    let addr = server.addr;
    let base = server.base_url.clone();
    let http = http_client();

    // The storm's players: guests (from 127.0.0.1, 15 at a time).
    let mut tokens = Vec::new();
    for _ in 0..STORM_PLAYERS / 15 {
        let mut batch = Vec::new();
        for _ in 0..15 {
            let (http, base) = (http.clone(), base.clone());
            batch.push(tokio::spawn(async move {
                let resp = http
                    .post(format!("{base}/api/v1/auth/guest"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201);
                resp.json::<Value>().await.unwrap()["token"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }));
        }
        for t in batch {
            tokens.push(t.await.unwrap());
        }
    }
    assert_eq!(tokens.len(), STORM_PLAYERS);

    // The players who are not in the storm: alice and bob, playing tic-tac-toe.
    let register = |name: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let resp = http
                .post(format!("{base}/api/v1/auth/register"))
                .json(&json!({ "username": name, "email": format!("{name}@example.com"), "password": PASSWORD }))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            resp.json::<Value>().await.unwrap()["token"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let alice = register("alice").await;
    let bob = register("bob").await;
    let ws_url = format!("ws://{addr}/api/v1/ws");
    let connect = |token: String| {
        let url = ws_url.clone();
        async move {
            let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            WsClient::handshake(ws, &token).await
        }
    };
    let mut a = connect(alice.clone()).await;
    let mut b = connect(bob.clone()).await;
    // Alice's REST connection, opened before the storm and kept alive.
    let alice_http = http_client();
    let resp = alice_http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The storm: every client at once, from STORM_ADDRESSES addresses.
    let storm_start = Instant::now();
    let mut storm = Vec::with_capacity(clients);
    for i in 0..clients {
        let from = Ipv4Addr::new(127, 0, 0, 10 + (i % STORM_ADDRESSES) as u8);
        let token = tokens[i % STORM_PLAYERS].clone();
        storm.push(tokio::spawn(storm_client(from, addr, token)));
    }
    let storming = Arc::new(AtomicBool::new(true));

    // Meanwhile, until the storm is over (and at least once each):
    // - alice and bob play game after game: REST to create and read it (on alice's kept-alive
    //   connection, as a browser does), WebSocket to join and move;
    // - alice asks for `/api/v1/kinds` (no database) and `/api/v1/me` (a token lookup) on
    //   her kept-alive connection;
    // - a new visitor asks for `/api/v1/kinds` on a fresh connection each time.
    // Every request is timed; each has a generous deadline (the client's timeout, or the
    // WebSocket helper's wait), so "served" is all that is asserted.
    let games_loop = {
        let storming = storming.clone();
        let (base, http, alice) = (base.clone(), alice_http.clone(), alice.clone());
        async move {
            let (mut create, mut read, mut moves) = (Vec::new(), Vec::new(), Vec::new());
            let mut games = 0;
            loop {
                let body = json!({ "kind": "tictactoe", "name": "beside the storm", "settings": { "creator_seat": "first" } });
                let req = http
                    .post(format!("{base}/api/v1/games"))
                    .bearer_auth(&alice)
                    .json(&body);
                let view = timed_rest(req, 201, &mut create).await;
                let id: Uuid = view["id"].as_str().unwrap().parse().unwrap();
                let start = Instant::now();
                b.join(id).await;
                moves.push(start.elapsed());
                for (i, cell) in [0, 3, 1, 4, 2].into_iter().enumerate() {
                    let mover = if i % 2 == 0 { &mut a } else { &mut b };
                    let start = Instant::now();
                    mover
                        .make_move(id, json!({ "cell": cell }), &format!("g{games}-m{i}"))
                        .await;
                    moves.push(start.elapsed());
                }
                let req = http.get(format!("{base}/api/v1/games/{id}"));
                let view = timed_rest(req, 200, &mut read).await;
                assert_eq!(view["state"], "finished", "{view}");
                games += 1;
                if !storming.load(Ordering::Relaxed) {
                    return (games, create, read, moves);
                }
            }
        }
    };
    let requests_loop = {
        let storming = storming.clone();
        let (base, http, alice) = (base.clone(), alice_http.clone(), alice.clone());
        async move {
            let (mut kinds, mut me) = (Vec::new(), Vec::new());
            loop {
                timed_rest(http.get(format!("{base}/api/v1/kinds")), 200, &mut kinds).await;
                let req = http.get(format!("{base}/api/v1/me")).bearer_auth(&alice);
                timed_rest(req, 200, &mut me).await;
                if !storming.load(Ordering::Relaxed) {
                    return (kinds, me);
                }
                tokio::time::sleep(Duration::from_millis(50)).await; // pacing, not waiting
            }
        }
    };
    let visitor_loop = {
        let storming = storming.clone();
        let base = base.clone();
        let visitor = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        async move {
            let mut fresh = Vec::new();
            loop {
                timed_rest(visitor.get(format!("{base}/api/v1/kinds")), 200, &mut fresh).await;
                if !storming.load(Ordering::Relaxed) {
                    return fresh;
                }
                tokio::time::sleep(Duration::from_millis(50)).await; // pacing, not waiting
            }
        }
    };
    let storm_done = async {
        let mut first = Vec::with_capacity(clients);
        let mut second = Vec::with_capacity(clients);
        let mut failures = Vec::new();
        for t in storm {
            match t.await.unwrap() {
                Ok([w1, w2]) => {
                    first.push(w1);
                    second.push(w2);
                }
                Err(e) => failures.push(e),
            }
        }
        let took = storm_start.elapsed();
        storming.store(false, Ordering::Relaxed);
        (first, second, failures, took)
    };
    let ((games, create, read, moves), (kinds, me), fresh, (first, second, failures, took)) =
        tokio::join!(games_loop, requests_loop, visitor_loop, storm_done);

    eprintln!(
        "[measured] reconnect storm: {clients} WebSocket clients ({STORM_PLAYERS} players x {STORM_CONNECTIONS_PER_PLAYER}, from {STORM_ADDRESSES} addresses), each connect+hello+welcome, hang up, again: all done in {:.1}s",
        took.as_secs_f64()
    );
    let lines = [
        ("storm, time to first welcome", &first),
        ("storm, time to second welcome", &second),
        ("meanwhile alice POST /api/v1/games", &create),
        ("meanwhile alice GET /api/v1/games/{id}", &read),
        ("meanwhile alice GET /api/v1/kinds (kept alive)", &kinds),
        ("meanwhile alice GET /api/v1/me (kept alive)", &me),
        ("meanwhile WebSocket join and moves", &moves),
        ("meanwhile a new visitor's GET /api/v1/kinds", &fresh),
    ];
    for (what, samples) in lines {
        eprintln!("[measured]   {what}: {}", summary(samples));
    }
    eprintln!("[measured]   games played beside the storm: {games}");
    assert!(
        failures.is_empty(),
        "{} of {clients} storm clients failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(
        first.len(),
        clients,
        "every storm client was welcomed twice"
    );
    // After the storm: still serving, and the connections are given back.
    let resp = alice_http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let status = server.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}; log:\n{}", server.log());
}

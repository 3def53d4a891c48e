//! Floods: per-address limits on HTTP requests and new connections, caps on open connections
//! (per address and per node), WebSocket message credits, caps on WebSocket connections (per
//! player and per node) and on open games per player. Each test turns one limit down to a few and checks the documented refusal, that
//! the refused request changed nothing, and that others are still served.
//!
//! (SQLite only: the limits live in memory, not in the database.)

use std::net::Ipv4Addr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use versus_protocol::{ClientMessage, ErrorCode, ServerMessage, close_code};

use crate::games::{create, create_raw, player, post_action};
use crate::helpers::{Db, TestApp, assert_problem, json_body, run_test};
use crate::slow_clients::connect_from;
use crate::ws_client::{WsClient, connect_raw, hello, read_until_closed, send_text, ws_url};

/// One raw HTTP/1.1 request on a fresh TCP connection; the response's first line.
async fn fresh_connection_status(app: &TestApp) -> String {
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut bytes)).await;
    String::from_utf8_lossy(&bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn http_requests_over_the_per_address_limit_get_429_with_retry_after() {
    let settings = [
        ("http_requests_per_second_per_address", "1"),
        ("http_burst_per_address", "5"),
    ];
    run_test(Db::Sqlite, &settings, |app| async move {
        let mut statuses = Vec::new();
        let mut refused = None;
        for _ in 0..20 {
            let resp = app.get("/api/v1/kinds").await;
            statuses.push(resp.status());
            if resp.status() == StatusCode::TOO_MANY_REQUESTS && refused.is_none() {
                refused = Some(resp);
            }
        }
        assert!(
            statuses[..5].iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
        let resp = refused.expect("a request over the limit is refused");
        let retry: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1);
        assert_problem(resp, 429, "rate_limited").await;
        // A refused registration creates nothing.
        let resp = app
            .register_with("mallory", "m@example.com", crate::helpers::PASSWORD)
            .await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            let profile = app.get("/api/v1/players/mallory").await.status();
            assert!(matches!(profile.as_u16(), 404 | 429), "{profile}");
        }
        // Probes are exempt.
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
        assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn new_connections_over_the_per_address_limit_are_refused_with_429() {
    let settings = [
        ("connections_per_second_per_address", "1"),
        ("connections_burst_per_address", "3"),
    ];
    run_test(Db::Sqlite, &settings, |app| async move {
        let mut lines = Vec::new();
        for _ in 0..12 {
            lines.push(fresh_connection_status(&app).await);
        }
        assert!(
            lines[..3].iter().all(|l| l.starts_with("HTTP/1.1 200")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("HTTP/1.1 429")),
            "some connection over the limit is refused: {lines:?}"
        );
    })
    .await;
}

/// A loopback client address other than the test client's own 127.0.0.1.
fn addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// `GET /healthz` on a fresh connection from `from`; the response's first line ("" if the
/// connection was closed or reset without one).
async fn status_from(from: Ipv4Addr, app: &TestApp) -> String {
    let Ok(mut tcp) = connect_from(from, app.addr).await else {
        return String::new();
    };
    let _ = tcp
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await;
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut bytes)).await;
    String::from_utf8_lossy(&bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// What the server says, unasked, to a connection from `from` it refuses at accept: the whole
/// response up to its close. Panics if it says nothing and keeps the connection open.
async fn refusal_from(from: Ipv4Addr, app: &TestApp) -> String {
    let mut tcp = connect_from(from, app.addr).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut bytes))
        .await
        .expect("a refused connection is closed at once")
        .expect("closed cleanly, after the canned answer");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Polls (up to 10 s) until a fresh connection from `from` is served: a refused connection's
/// place is given back once the server has seen the close.
async fn served_again(from: Ipv4Addr, app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let line = status_from(from, app).await;
        if line.starts_with("HTTP/1.1 200") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place is never given back: {line:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks a canned refusal: status line, `Retry-After`, and the problem document's code.
fn assert_refusal(response: &str, status: &str, code: &str) {
    assert!(
        response.starts_with(&format!("HTTP/1.1 {status}")),
        "{response:?}"
    );
    let lower = response.to_ascii_lowercase();
    assert!(lower.contains("\r\nretry-after: "), "{response:?}");
    assert!(lower.contains("\r\nconnection: close\r\n"), "{response:?}");
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    let problem: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["code"], code, "{response:?}");
    assert_eq!(problem["status"].to_string(), status[..3], "{response:?}");
}

#[tokio::test]
async fn open_connections_over_the_per_address_cap_are_refused_with_429() {
    // A long header deadline: the held connections stay open for the whole test.
    let settings = [
        ("max_connections_per_address", "3"),
        ("header_read_timeout_ms", "60000"),
    ];
    run_test(Db::Sqlite, &settings, |app| async move {
        // Three silent connections from one address fill its places.
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(connect_from(addr(2), app.addr).await.unwrap());
        }
        assert_refusal(&refusal_from(addr(2), &app).await, "429", "rate_limited");
        // Other addresses are served.
        assert_eq!(app.get("/api/v1/kinds").await.status(), StatusCode::OK);
        assert!(status_from(addr(3), &app).await.starts_with("HTTP/1.1 200"));
        // A WebSocket holds its place after the upgrade, for as long as it is open.
        let alice = player(&app, "alice").await;
        let mut sockets = Vec::new();
        for _ in 0..3 {
            let tcp = connect_from(addr(4), app.addr).await.unwrap();
            let (ws, _) = tokio_tungstenite::client_async(
                ws_url(&app),
                tokio_tungstenite::MaybeTlsStream::Plain(tcp),
            )
            .await
            .unwrap();
            sockets.push(WsClient::handshake(ws, &alice.token).await);
        }
        assert_refusal(&refusal_from(addr(4), &app).await, "429", "rate_limited");
        sockets.pop().unwrap().close().await;
        served_again(addr(4), &app).await;
        // Closing a held connection gives its place back.
        drop(held.pop());
        served_again(addr(2), &app).await;
    })
    .await;
}

#[tokio::test]
async fn open_connections_over_the_node_cap_are_refused_with_503() {
    let settings = [
        ("max_connections", "4"),
        ("header_read_timeout_ms", "60000"),
    ];
    run_test(Db::Sqlite, &settings, |app| async move {
        let mut held = Vec::new();
        for n in 2..6 {
            held.push(connect_from(addr(n), app.addr).await.unwrap());
        }
        assert_refusal(&refusal_from(addr(6), &app).await, "503", "overloaded");
        assert_refusal(&refusal_from(addr(2), &app).await, "503", "overloaded");
        drop(held.pop());
        served_again(addr(6), &app).await;
    })
    .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_only_the_node_cap_applies_at_accept() {
    // Every connection comes from the proxy's address, so a per-address cap would cap the
    // proxy; it is not applied (the per-address HTTP request limit still is, on the
    // forwarded address).
    let settings = [
        ("trust_forwarded_for", "true"),
        ("max_connections_per_address", "2"),
        ("max_connections", "6"),
        ("header_read_timeout_ms", "60000"),
    ];
    run_test(Db::Sqlite, &settings, |app| async move {
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(connect_from(addr(2), app.addr).await.unwrap());
        }
        assert!(status_from(addr(2), &app).await.starts_with("HTTP/1.1 200"));
        held.push(connect_from(addr(2), app.addr).await.unwrap());
        assert_refusal(&refusal_from(addr(2), &app).await, "503", "overloaded");
    })
    .await;
}

#[tokio::test]
async fn a_websocket_client_over_its_message_credits_gets_rate_limited_then_closed_4029() {
    let settings = [("ws_messages_per_second", "1"), ("ws_message_burst", "3")];
    run_test(Db::Sqlite, &settings, |app| async move {
        let alice = player(&app, "alice").await;
        let mut ws = WsClient::connect(&app, &alice.token).await;
        assert_eq!(ws.limits.messages_per_second, 1);
        assert_eq!(ws.limits.message_burst, 3);
        // A burst of requests: the first three are served, then `rate_limited` (by id).
        for i in 0..6 {
            ws.send(&ClientMessage::RatingUnsubscribe {
                id: Some(format!("u{i}")),
            })
            .await;
        }
        let mut codes = Vec::new();
        for i in 0..6 {
            match ws.reply(&format!("u{i}")).await {
                ServerMessage::Error { code, .. } => codes.push(code),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(&codes[..3], &[ErrorCode::NotSubscribed; 3], "{codes:?}");
        assert!(codes.contains(&ErrorCode::RateLimited), "{codes:?}");
        // Pings are never refused.
        for i in 0..3 {
            let id = format!("p{i}");
            ws.send(&ClientMessage::Ping {
                id: Some(id.clone()),
            })
            .await;
            assert!(matches!(ws.reply(&id).await, ServerMessage::Pong { .. }));
        }
        // Keep flooding: closed with 4029.
        for i in 0..20 {
            ws.send(&ClientMessage::RatingUnsubscribe {
                id: Some(format!("f{i}")),
            })
            .await;
        }
        let (_, ending) = ws.expect_close(Duration::from_secs(10)).await;
        assert_eq!(ending.code(), Some(close_code::RATE_LIMITED));
        // Another connection of the same player is served.
        let mut again = WsClient::connect(&app, &alice.token).await;
        again
            .send(&ClientMessage::Ping {
                id: Some("x".into()),
            })
            .await;
        assert!(matches!(again.reply("x").await, ServerMessage::Pong { .. }));
    })
    .await;
}

#[tokio::test]
async fn a_player_over_the_connection_cap_gets_limit_reached_and_close_4013() {
    run_test(
        Db::Sqlite,
        &[("ws_max_connections_per_player", "2")],
        |app| async move {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            let first = WsClient::connect(&app, &alice.token).await;
            let _second = WsClient::connect(&app, &alice.token).await;
            let mut third = connect_raw(&app).await;
            send_text(
                &mut third,
                serde_json::to_string(&hello(&alice.token)).unwrap(),
            )
            .await;
            let (msgs, ending) = read_until_closed(&mut third, Duration::from_secs(10)).await;
            assert!(
                matches!(
                    msgs.as_slice(),
                    [ServerMessage::Error {
                        code: ErrorCode::LimitReached,
                        ..
                    }]
                ),
                "{msgs:?}"
            );
            assert_eq!(ending.code(), Some(close_code::TOO_MANY_CONNECTIONS));
            // Other players are not affected.
            let _bob = WsClient::connect(&app, &bob.token).await;
            // Closing one frees its place (once the server has seen the close).
            first.close().await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let mut ws = connect_raw(&app).await;
                send_text(
                    &mut ws,
                    serde_json::to_string(&hello(&alice.token)).unwrap(),
                )
                .await;
                match crate::ws_client::read_message(&mut ws).await {
                    ServerMessage::Welcome { .. } => break,
                    ServerMessage::Error {
                        code: ErrorCode::LimitReached,
                        ..
                    } => {
                        assert!(
                            tokio::time::Instant::now() < deadline,
                            "the place is never freed"
                        );
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => panic!("{other:?}"),
                }
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_node_at_its_websocket_cap_answers_503_before_upgrading() {
    run_test(
        Db::Sqlite,
        &[("ws_max_connections", "2")],
        |app| async move {
            let alice = player(&app, "alice").await;
            let _a = WsClient::connect(&app, &alice.token).await;
            let _b = connect_raw(&app).await; // counted from the upgrade, before hello
            match tokio_tungstenite::connect_async(ws_url(&app)).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                    assert_eq!(resp.status(), 503);
                    assert!(resp.headers().contains_key("retry-after"));
                    let body: serde_json::Value =
                        serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap();
                    assert_eq!(body["code"], "overloaded");
                }
                other => panic!("expected a 503, got {other:?}"),
            }
            // REST is still served.
            assert_eq!(app.get("/api/v1/kinds").await.status(), StatusCode::OK);
        },
    )
    .await;
}

#[tokio::test]
async fn a_player_holds_at_most_max_open_games() {
    run_test(
        Db::Sqlite,
        &[("max_open_games_per_player", "2")],
        |app| async move {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            let first = create(&app, &alice, "tictactoe", json!({})).await;
            let _second = create(&app, &alice, "connect4", json!({})).await;
            let body = json!({ "kind": "chess", "name": "third", "settings": {} });
            let resp = create_raw(&app, &alice.token, &body).await;
            assert_problem(resp, 409, "limit_reached").await;
            let mine = json_body(
                app.authed_get("/api/v1/me/games?state=waiting", &alice.token)
                    .await,
            )
            .await;
            assert_eq!(
                mine["games"].as_array().unwrap().len(),
                2,
                "nothing was created"
            );
            // Joining counts too: bob at his cap cannot join alice's game.
            create(&app, &bob, "tictactoe", json!({})).await;
            create(&app, &bob, "tictactoe", json!({})).await;
            let resp = post_action(&app, &bob, first.id, "join").await;
            assert_problem(resp, 409, "limit_reached").await;
            // Aborting one frees a place.
            let resp = post_action(&app, &alice, first.id, "abort").await;
            assert_eq!(resp.status(), StatusCode::OK);
            let resp = create_raw(&app, &alice.token, &body).await;
            assert_eq!(resp.status(), StatusCode::CREATED);
        },
    )
    .await;
}

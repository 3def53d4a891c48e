//! Slow and broken clients: slowloris (headers trickled byte by byte), a client that never
//! reads its responses, half-open connections (gone without a FIN) and a reconnect storm.
//! In each case the server closes what it must and keeps serving everyone else.
//!
//! (SQLite only: nothing here depends on the backend.)

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Db, TestApp, run_test};
use crate::ws_client::WsClient;

/// Reads until the server closes the connection; `true` if it did within `within`.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slowloris_connections_are_closed_and_others_are_served() {
    run_test(
        Db::Sqlite,
        &[("header_read_timeout_ms", "500")],
        |app: TestApp| async move {
            // 40 clients each send half a request line, then one header byte now and then.
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
            // Meanwhile a normal client is served. It opens a connection per request: the
            // short header deadline also closes idle keep-alive connections, and a pooled one
            // could be reused just as the server closes it (a client-side race, not a refusal).
            let fresh = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let normal = async {
                for _ in 0..5 {
                    let kinds = fresh.get(app.url("/api/v1/kinds")).send().await.unwrap();
                    assert_eq!(kinds.status(), StatusCode::OK);
                }
            };
            tokio::join!(trickle, normal);
            // Every slow connection is closed by the header deadline.
            for tcp in &mut slow {
                assert!(
                    closed_within(tcp, Duration::from_secs(10)).await,
                    "a slowloris connection stays open"
                );
            }
            let health = fresh.get(app.url("/healthz")).send().await.unwrap();
            assert_eq!(health.status(), StatusCode::OK);
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
                closed_within(&mut tcp, Duration::from_secs(10)).await,
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
        for _ in 0..10 {
            assert_eq!(app.get("/api/v1/kinds").await.status(), StatusCode::OK);
        }
        let (token, _) = app.guest().await;
        WsClient::connect(&app, &token).await;
        drop(stuck);
    })
    .await;
}

#[tokio::test]
async fn a_reconnect_storm_of_a_thousand_clients_leaves_the_server_serving() {
    let settings = [
        ("connections_per_second_per_address", "0"),
        ("http_requests_per_second_per_address", "0"),
        ("ws_max_connections_per_player", "0"),
    ];
    run_test(Db::Sqlite, &settings, |app: TestApp| async move {
        let (token, _) = app.guest().await;
        // 1000 WebSocket connections opened at once (one player, as a reconnecting fleet).
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let app_addr = app.addr;
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let url = format!("ws://{app_addr}/api/v1/ws");
                let Ok(Ok((mut ws, _))) = tokio::time::timeout(
                    Duration::from_secs(30),
                    tokio_tungstenite::connect_async(url),
                )
                .await
                else {
                    return false;
                };
                let hello = serde_json::to_string(&crate::ws_client::hello(&token)).unwrap();
                crate::ws_client::send_text(&mut ws, hello).await;
                let ok = matches!(
                    crate::ws_client::read_message(&mut ws).await,
                    versus_protocol::ServerMessage::Welcome { .. }
                );
                // Hang up at once: the storm's other half.
                drop(ws);
                ok
            }));
        }
        // During the storm, another client is served.
        assert_eq!(app.get("/api/v1/kinds").await.status(), StatusCode::OK);
        let mut welcomed = 0;
        for t in tasks {
            if t.await.unwrap_or(false) {
                welcomed += 1;
            }
        }
        assert_eq!(welcomed, 1000, "every client of the storm was welcomed");
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
        let (other, _) = app.guest().await;
        WsClient::connect(&app, &other).await;
    })
    .await;
}

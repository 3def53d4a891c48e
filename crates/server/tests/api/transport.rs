//! Transport: security headers on pages, the WebSocket `Origin` check, CORS (off unless
//! configured), and TLS in the binary (HTTPS and WSS with a certificate made in the test,
//! configured by keys and by the `--tls-cert`/`--tls-key` flags; stalled handshakes closed).
//!
//! (SQLite only: nothing here touches the database's behaviour.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use versus_protocol::ServerMessage;

use crate::helpers::{Binary, Db, TestApp, binary_command, run_test};
use crate::ws_client::{WsClient, hello, ws_url};

/// The CSP the server promises for its pages (a copy: changing it is a decision).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn ws_with_origin(app: &TestApp, origin: &str) -> Result<u16, u16> {
    let mut req = ws_url(app).into_client_request().unwrap();
    req.headers_mut().insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => Ok(resp.status().as_u16()),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn pages_carry_security_headers_and_no_cors_by_default() {
    run_test(Db::Sqlite, &[], |app| async move {
        for path in ["/", "/game/00000000-0000-4000-8000-000000000000"] {
            let resp = app.get(path).await;
            assert_eq!(resp.status(), StatusCode::OK);
            let h = resp.headers();
            assert_eq!(h["content-security-policy"], CSP, "{path}");
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["referrer-policy"], "no-referrer");
            assert!(
                !h.contains_key("strict-transport-security"),
                "no HSTS over plain HTTP"
            );
        }
        let resp = app.get("/api/docs/").await;
        assert_eq!(resp.headers()["x-frame-options"], "DENY");
        // API responses get the generic headers too, and no CORS headers even when asked.
        let resp = app
            .http
            .get(app.url("/api/v1/kinds"))
            .header("origin", "https://elsewhere.test")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert!(!resp.headers().contains_key("access-control-allow-origin"));
        let resp = app
            .http
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/me"))
            .header("origin", "https://elsewhere.test")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(!resp.headers().contains_key("access-control-allow-origin"));
    })
    .await;
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    run_test(
        Db::Sqlite,
        &[("cors_allowed_origins", "https://app.test")],
        |app| async move {
            let preflight = |origin: &'static str| {
                app.http
                    .request(reqwest::Method::OPTIONS, app.url("/api/v1/me"))
                    .header("origin", origin)
                    .header("access-control-request-method", "GET")
                    .header("access-control-request-headers", "authorization")
                    .send()
            };
            let resp = preflight("https://app.test").await.unwrap();
            assert_eq!(
                resp.headers()["access-control-allow-origin"],
                "https://app.test"
            );
            let resp = preflight("https://evil.test").await.unwrap();
            assert!(!resp.headers().contains_key("access-control-allow-origin"));
        },
    )
    .await;
}

#[tokio::test]
async fn a_websocket_from_another_origin_is_refused_with_403() {
    run_test(Db::Sqlite, &[], |app| async move {
        let own = format!("http://{}", app.addr);
        assert_eq!(ws_with_origin(&app, &own).await, Ok(101));
        assert_eq!(ws_with_origin(&app, "https://evil.test").await, Err(403));
        assert_eq!(ws_with_origin(&app, "null").await, Err(403));
        // No Origin at all (a bot, the load generator): allowed.
        let (token, _) = app.guest().await;
        WsClient::connect(&app, &token).await;
    })
    .await;
    run_test(
        Db::Sqlite,
        &[("ws_allowed_origins", "https://app.test")],
        |app| async move {
            assert_eq!(ws_with_origin(&app, "https://app.test").await, Ok(101));
            assert_eq!(ws_with_origin(&app, "https://evil.test").await, Err(403));
        },
    )
    .await;
}

/// A TLS client that trusts exactly `cert_der`.
fn tls_connector(cert_der: Vec<u8>) -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(cert_der))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn https_request(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    request: &str,
) -> String {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("the TLS handshake succeeds");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut bytes))
        .await
        .expect("the response arrives")
        .ok();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A self-signed certificate for `localhost`, written to `dir`: (cert path, key path, DER).
fn self_signed(dir: &std::path::Path) -> (String, String, Vec<u8>) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    (
        cert.display().to_string(),
        key.display().to_string(),
        generated.cert.der().to_vec(),
    )
}

/// HTTPS (with HSTS), a guest over HTTPS, WSS hello and welcome with its token, and plain
/// HTTP to the TLS port refused: what a TLS-terminating server at `addr` must do.
async fn speaks_https_and_wss(addr: SocketAddr, cert_der: Vec<u8>) {
    let connector = tls_connector(cert_der);
    // HTTPS, with HSTS.
    let resp = https_request(
        &connector,
        addr,
        "GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.to_ascii_lowercase()
            .contains("strict-transport-security: max-age="),
        "{resp}"
    );
    // A guest over HTTPS.
    let resp = https_request(
        &connector,
        addr,
        "POST /api/v1/auth/guest HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let body = &resp[resp.find("\r\n\r\n").unwrap() + 4..];
    let body = &body[body.find('{').unwrap()..=body.rfind('}').unwrap()];
    let token = serde_json::from_str::<serde_json::Value>(body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    // WSS: hello and welcome over TLS.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let url = format!("wss://localhost:{}/api/v1/ws", addr.port());
    let (mut ws, resp) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    assert_eq!(resp.status(), 101);
    let text = serde_json::to_string(&hello(&token)).unwrap();
    futures_util::SinkExt::send(&mut ws, tokio_tungstenite::tungstenite::Message::text(text))
        .await
        .unwrap();
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        futures_util::StreamExt::next(&mut ws),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let msg: ServerMessage = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert!(matches!(msg, ServerMessage::Welcome { .. }), "{msg:?}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut bytes)).await;
    assert!(!String::from_utf8_lossy(&bytes).contains("200 OK"));
}

#[tokio::test]
async fn the_server_terminates_tls_for_https_and_wss() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed(dir.path());
    run_test(
        Db::Sqlite,
        &[("tls_cert", &cert), ("tls_key", &key)],
        |app: TestApp| async move {
            // (`app` as a whole: the server and its data folder live until the end.)
            let app = app;
            speaks_https_and_wss(app.addr, der).await;
            drop(app);
        },
    )
    .await;
}

#[tokio::test]
async fn the_binary_serves_https_and_wss_with_the_tls_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed(dir.path());
    let data_dir = dir.path().join("data").display().to_string();
    let mut server = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    speaks_https_and_wss(server.addr, der).await;
    let status = server.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}; log:\n{}", server.log());
    // One flag without the other is refused, naming the missing one.
    let out = binary_command()
        .args(["check-config", "--tls-cert", &cert])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tls_key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads until the peer closes; how long after `start` it did, if within `within`.
async fn closed_after<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    start: Instant,
    within: Duration,
) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::from_std(start + within);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn stalled_tls_handshakes_and_silent_tls_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed(dir.path());
    let settings = [
        ("tls_cert", cert.as_str()),
        ("tls_key", key.as_str()),
        ("header_read_timeout_ms", "1000"),
    ];
    run_test(Db::Sqlite, &settings, |app: TestApp| async move {
        let app = app;
        let connector = tls_connector(der.clone());
        let start = Instant::now();
        // No ClientHello at all; the first 5 bytes of one (a record header); a finished
        // handshake and then no request.
        let mut silent = TcpStream::connect(app.addr).await.unwrap();
        let mut partial = TcpStream::connect(app.addr).await.unwrap();
        partial.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tcp = TcpStream::connect(app.addr).await.unwrap();
        let mut idle = connector.connect(name, tcp).await.expect("the handshake succeeds");
        // Meanwhile others are served.
        let resp = https_request(
            &connector,
            app.addr,
            "GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        let within = Duration::from_secs(15);
        let silent = closed_after(&mut silent, start, within).await;
        let partial = closed_after(&mut partial, start, within).await;
        let idle = closed_after(&mut idle, start, within).await;
        eprintln!(
            "[measured] TLS, header deadline 1000ms: no ClientHello closed after {silent:?}, part of one after {partial:?}, idle after the handshake after {idle:?}"
        );
        assert!(silent.is_some(), "a connection that never starts TLS stays open");
        assert!(partial.is_some(), "a stalled TLS handshake stays open");
        assert!(idle.is_some(), "a TLS connection that sends no request stays open");
    })
    .await;
}

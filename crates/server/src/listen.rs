//! The accept loop: takes TCP connections, refuses addresses that open them too fast,
//! optionally terminates TLS, and serves each connection with hyper (HTTP/1.1 and HTTP/2,
//! with upgrades for the WebSocket) in its own task.
//!
//! It exists (instead of `axum::serve`) for three protections: a per-address limit on new
//! connections (refused with a canned `429` and closed, before any parsing), a deadline for
//! a request's headers (slowloris: a client that trickles its headers is closed after
//! `header_read_timeout_ms`), and a deadline for the TLS handshake, which runs in the
//! connection's task so a slow handshake never stalls accepting.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::limits::{Limits, retry_after_secs};

/// How the loop treats connections.
#[derive(Clone)]
pub struct ListenOptions {
    /// A request's headers (and the TLS handshake) must arrive within this.
    pub header_read_timeout: Duration,
    /// Check [`Limits::connections`] against the TCP peer (off behind a trusted proxy,
    /// where every connection comes from the proxy).
    pub limit_connections: bool,
    /// Terminate TLS with this (HTTPS and WSS).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for ListenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenOptions")
            .field("header_read_timeout", &self.header_read_timeout)
            .field("limit_connections", &self.limit_connections)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Serves `app` on `listener` until `stop` is cancelled, then waits for open requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Arc<Limits>,
    opts: ListenOptions,
    stop: CancellationToken,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        if opts.limit_connections
            && let Err(wait) = limits.connections.check(peer.ip(), Instant::now())
        {
            metrics::counter!("connections_refused_total", "reason" => "address_rate").increment(1);
            refuse(&tcp, wait);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = opts.tls.clone();
        let handshake_deadline = opts.header_read_timeout;
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req)
            });
            match tls {
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        handshake_deadline,
                        acceptor.accept(tcp),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        _ => {
                            metrics::counter!("tls_handshakes_failed_total").increment(1);
                            return;
                        }
                    };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answers a refused connection with a canned `429` if the socket takes it right away, and
/// closes it. Never waits: a flooding client gets no task and no buffer.
fn refuse(tcp: &TcpStream, wait: Duration) {
    let body = r#"{"type":"urn:versus:error:rate_limited","title":"Too Many Requests","status":429,"code":"rate_limited","detail":"too many new connections from this address"}"#;
    let response = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/problem+json\r\nretry-after: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        retry_after_secs(wait),
        body.len()
    );
    let _ = tcp.try_write(response.as_bytes());
}

/// A TLS acceptor from PEM files: a certificate chain and its private key.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot parse the certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The peer address a request came from (set by [`serve`]).
pub fn peer(req: &axum::extract::Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

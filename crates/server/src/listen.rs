//! The accept loop: takes TCP connections, refuses addresses that open them too fast or hold
//! too many, optionally terminates TLS, and serves each connection with hyper (HTTP/1.1, with
//! upgrades for the WebSocket) in its own task.
//!
//! It exists (instead of `axum::serve`) for these protections:
//! - a per-address limit on new connections, and caps on open connections per address and
//!   per node, checked at accept before any byte is read (refused with a canned `429` or
//!   `503` and closed: a refused client gets no task and no buffer);
//! - a deadline for the TLS handshake, run in the connection's task so a slow handshake never
//!   stalls accepting;
//! - a deadline for a request's headers (`header_read_timeout_ms`), which starts as soon as
//!   the connection is served (and again after each response on a keep-alive connection): a
//!   client that sends nothing, half a request line or trickled headers is closed when it
//!   runs out.
//!
//! HTTP/2 is not served. hyper-util's automatic version detection waits for the 24-byte
//! HTTP/2 preface with no timer of its own, so a connection sending nothing (or part of the
//! preface) would stay open forever, and hyper's HTTP/2 server has no idle timeout. Nothing
//! here needs HTTP/2: the TLS acceptor offers only `http/1.1` (ALPN), and proxies speak
//! HTTP/1.1 to their upstreams. A prior-knowledge HTTP/2 client is refused by the HTTP/1
//! parser and closed.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::limits::{Limits, OpenRefusal, OpenSlot, retry_after_secs};

/// How the loop treats connections.
#[derive(Clone)]
pub struct ListenOptions {
    /// A request's headers (and the TLS handshake) must arrive within this.
    pub header_read_timeout: Duration,
    /// Check the per-address limits ([`Limits::connections`], and the per-address cap of
    /// [`Limits::open`]) against the TCP peer (off behind a trusted proxy, where every
    /// connection comes from the proxy). The node's total cap applies either way.
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

/// Binds the listening socket with room for `backlog` connections waiting to be accepted
/// (the kernel caps it at `net.core.somaxconn`). A reconnect storm arrives faster than any
/// loop accepts; connections beyond the backlog lose their SYN and retry a second or more
/// later, so a short backlog turns a burst into seconds of delay for everyone connecting.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std and tokio do: a restarted server can bind while old connections linger.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Serves `app` on `listener` until `stop` is cancelled, then waits for open requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Arc<Limits>,
    opts: ListenOptions,
    stop: CancellationToken,
) -> io::Result<()> {
    let tracker = TaskTracker::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout);
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
            refuse(&tcp, Refusal::AddressRate(wait));
            continue;
        }
        let counted_ip = opts.limit_connections.then_some(peer.ip());
        let slot = match limits.open.enter(counted_ip) {
            Ok(slot) => slot,
            Err(OpenRefusal::Address) => {
                metrics::counter!("connections_refused_total", "reason" => "address_open")
                    .increment(1);
                refuse(&tcp, Refusal::AddressOpen);
                continue;
            }
            Err(OpenRefusal::Total) => {
                metrics::counter!("connections_refused_total", "reason" => "node_open")
                    .increment(1);
                refuse(&tcp, Refusal::NodeOpen);
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let tls = opts.tls.clone();
        let handshake_deadline = opts.header_read_timeout;
        let stop = stop.clone();
        tracker.spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req)
            });
            match tls {
                None => {
                    serve_connection(
                        &builder,
                        Counted {
                            io: tcp,
                            _slot: slot,
                        },
                        svc,
                        &stop,
                    )
                    .await
                }
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(handshake_deadline, acceptor.accept(tcp));
                    let stream = tokio::select! {
                        r = handshake => match r {
                            Ok(Ok(stream)) => stream,
                            _ => {
                                metrics::counter!("tls_handshakes_failed_total").increment(1);
                                return;
                            }
                        },
                        () = stop.cancelled() => return,
                    };
                    serve_connection(
                        &builder,
                        Counted {
                            io: stream,
                            _slot: slot,
                        },
                        svc,
                        &stop,
                    )
                    .await;
                }
            }
        });
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Serves one connection until it ends; when `stop` is cancelled, lets the request in
/// flight finish and closes (an idle connection closes at once).
async fn serve_connection<S, Svc, B>(
    builder: &http1::Builder,
    io: S,
    svc: Svc,
    stop: &CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Svc: hyper::service::HttpService<Incoming, ResBody = B>,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = builder
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = stop.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// A socket that holds its place among the open connections for as long as it lives: through
/// hyper, and after a WebSocket upgrade inside the upgraded connection.
struct Counted<S> {
    io: S,
    _slot: OpenSlot,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Why a connection is refused at accept.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// Over the per-address new-connection rate; the wait until the next is allowed.
    AddressRate(Duration),
    /// The address holds `max_connections_per_address` open connections.
    AddressOpen,
    /// The node holds `max_connections` open connections.
    NodeOpen,
}

/// Answers a refused connection with a canned problem document (`429 rate_limited` or
/// `503 overloaded`, with `Retry-After`) if the socket takes it right away, and closes it.
/// Never waits: a flooding client gets no task and no buffer.
fn refuse(tcp: &TcpStream, why: Refusal) {
    let (status, code, detail, retry) = match why {
        Refusal::AddressRate(wait) => (
            "429 Too Many Requests",
            "rate_limited",
            "too many new connections from this address",
            retry_after_secs(wait),
        ),
        Refusal::AddressOpen => (
            "429 Too Many Requests",
            "rate_limited",
            "too many open connections from this address",
            1,
        ),
        Refusal::NodeOpen => (
            "503 Service Unavailable",
            "overloaded",
            "this server holds as many connections as it may; try again shortly",
            5,
        ),
    };
    let (number, title) = status.split_once(' ').unwrap_or((status, ""));
    let body = format!(
        r#"{{"type":"urn:versus:error:{code}","title":"{title}","status":{number},"code":"{code}","detail":"{detail}"}}"#
    );
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/problem+json\r\nretry-after: {retry}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
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

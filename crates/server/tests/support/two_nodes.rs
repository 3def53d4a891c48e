//! Shared by the two-node tests (`cluster_chat`, `cluster_social`, `cluster_matchmaking`,
//! `cluster_realtime`):
//! start a `versus` node (the real binary) on a PostgreSQL database and NATS, and speak to it
//! over HTTP and WebSocket. Each test binary includes it with `#[path]`.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub const STEP: Duration = Duration::from_secs(20);

pub fn nats_url(test: &str) -> Option<String> {
    match std::env::var("VERSUS_TEST_NATS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "VERSUS_TEST_NATS_URL is not set, but CI is: the cluster {test} test must run in CI"
                );
            }
            eprintln!("skipping the cluster {test} test: set VERSUS_TEST_NATS_URL to run it");
            None
        }
    }
}

/// A node: the child process, killed when dropped.
pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Extra `(VERSUS_…, value)` settings go after the defaults.
pub fn start_node(id: &str, database_url: &str, nats: &str, extra: &[(&str, &str)]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_versus"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("VERSUS_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("VERSUS_EMAIL_KEYS", versus_store::testing::TEST_EMAIL_KEYS);
    let mut child = cmd
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--node-id",
            id,
            "--log-format",
            "json",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--database-url", database_url, "--nats-url", nats])
        .env("VERSUS_DATABASE_MAX_CONNECTIONS", "4")
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("versus starts");
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    // Owned by a Node at once: killed and waited for even if the start fails below.
    let mut node = Node {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        _dir: dir,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(out) as Box<dyn std::io::Read + Send>,
        Box::new(err),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("the node logs that it listens");
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && let Some(addr) = v["fields"]["addr"].as_str().or(v["addr"].as_str())
            && line.contains("listening")
        {
            node.addr = addr.parse().unwrap();
            return node;
        }
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Registers `name` through `node`; returns its token.
pub async fn register(http: &reqwest::Client, node: &Node, name: &str) -> String {
    let resp = http
        .post(format!("http://{}/api/v1/auth/register", node.addr))
        .json(&json!({ "username": name, "email": format!("{name}@example.com"), "password": "correct horse battery staple" }))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "register {name}: {}",
        resp.status()
    );
    resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn connect(node: &Node, token: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", node.addr))
        .await
        .unwrap();
    send(
        &mut ws,
        json!({ "type": "hello", "protocol": 1, "token": token }),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "welcome");
    ws
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next text message, within [`STEP`] (pings and other frames do not extend it).
pub async fn recv(ws: &mut Ws) -> Value {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a message in time")
        {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("the socket ended: {other:?}"),
        }
    }
}

/// The next message of `type`, skipping others (game events, system entries are kept).
pub async fn recv_type(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let v = recv(ws).await;
        if v["type"] == ty {
            return v;
        }
    }
}

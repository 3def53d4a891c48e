//! Matchmaking across a cluster (issue 9): two `versus` nodes (the real binary) on one
//! PostgreSQL database and one NATS server share ONE pool. Two players connected to different
//! nodes are paired and both told at once; then many players spread over both nodes (both
//! nodes running pairing passes over the same pool at the same time) are each paired exactly
//! once.
//!
//! Needs PostgreSQL (`VERSUS_TEST_POSTGRES_URL`) and NATS (`VERSUS_TEST_NATS_URL`); skipped
//! with a message when one is missing, except in CI (`CI` set), where it fails. The node
//! helpers are the ones of `cluster_chat.rs`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use versus_store::testing::{fresh_postgres_database, postgres_server_url};

const STEP: Duration = Duration::from_secs(20);

fn nats_url() -> Option<String> {
    match std::env::var("VERSUS_TEST_NATS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "VERSUS_TEST_NATS_URL is not set, but CI is: the cluster matchmaking test must run in CI"
                );
            }
            eprintln!("skipping the cluster matchmaking test: set VERSUS_TEST_NATS_URL to run it");
            None
        }
    }
}

/// A node: the child process, killed when dropped.
struct Node {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(id: &str, database_url: &str, nats: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_versus"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("VERSUS_") {
            cmd.env_remove(name);
        }
    }
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

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(node: &Node, token: &str) -> Ws {
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

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(STEP, ws.next())
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
async fn recv_type(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let v = recv(ws).await;
        if v["type"] == ty {
            return v;
        }
    }
}

async fn guest(http: &reqwest::Client, node: &Node) -> String {
    let resp = http
        .post(format!("http://{}/api/v1/auth/guest", node.addr))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn one_pool_across_two_nodes() {
    let (Some(pg), Some(nats)) = (postgres_server_url(), nats_url()) else {
        return;
    };
    let db = fresh_postgres_database(&pg)
        .await
        .expect("a fresh database");
    let nodes = [
        start_node("mm-a", &db, &nats),
        start_node("mm-b", &db, &nats),
    ];
    let http = reqwest::Client::new();

    // Two players on different nodes, over the WebSocket: paired, both told.
    let alice = guest(&http, &nodes[0]).await;
    let bob = guest(&http, &nodes[1]).await;
    let mut wa = connect(&nodes[0], &alice).await;
    let mut wb = connect(&nodes[1], &bob).await;
    let join = json!({"type": "matchmaking_join", "id": "j", "kind": "tictactoe"});
    send(&mut wa, join.clone()).await;
    assert_eq!(
        recv_type(&mut wa, "ticket").await["ticket"]["state"],
        "waiting"
    );
    send(&mut wb, join).await;
    let matched = |v: &Value| v["ticket"]["state"] == "matched";
    let mut ta = recv_type(&mut wa, "ticket").await;
    while !matched(&ta) {
        ta = recv_type(&mut wa, "ticket").await;
    }
    let mut tb = recv_type(&mut wb, "ticket").await;
    while !matched(&tb) {
        tb = recv_type(&mut wb, "ticket").await;
    }
    assert_eq!(ta["ticket"]["game_id"], tb["ticket"]["game_id"]);

    // Many players over both nodes at once: everyone paired exactly once.
    const N: usize = 60;
    let tokens: Vec<(usize, String)> = join_all((0..N).map(|i| {
        let nodes = &nodes;
        async move { (i % 2, guest(&reqwest::Client::new(), &nodes[i % 2]).await) }
    }))
    .await;
    let tickets: Vec<String> = join_all(tokens.iter().map(|(n, t)| {
        let http = http.clone();
        let addr = nodes[*n].addr;
        async move {
            let resp = http
                .post(format!("http://{addr}/api/v1/matchmaking/tickets"))
                .bearer_auth(t)
                .json(&json!({"kind": "connect4"}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            resp.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    }))
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let finals: Vec<Value> = join_all(tokens.iter().zip(&tickets).map(|((n, t), id)| {
        let http = http.clone();
        // Read from the OTHER node: the pool is the cluster's.
        let addr = nodes[1 - *n].addr;
        async move {
            http.get(format!("http://{addr}/api/v1/matchmaking/tickets/{id}"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    }))
    .await;
    let mut games: HashMap<String, usize> = HashMap::new();
    for t in &finals {
        assert_eq!(t["state"], "matched", "{t}");
        *games
            .entry(t["game_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(games.len(), N / 2);
    assert!(games.values().all(|&n| n == 2), "{games:?}");
}

//! Social across a cluster (issue 9): two `versus` nodes (the real binary) on one PostgreSQL
//! database and one NATS server. Alice on node A and bob on node B become friends, see each
//! other online, alice invites bob and he accepts from the live notification on his node; the
//! game starts and both hear it. Then node B is killed: alice sees bob go offline once B's
//! presence rows expire.
//!
//! Needs PostgreSQL (`VERSUS_TEST_POSTGRES_URL`) and NATS (`VERSUS_TEST_NATS_URL`); skipped
//! with a message when one is missing, except in CI (`CI` set), where it fails.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
                    "VERSUS_TEST_NATS_URL is not set, but CI is: the cluster social test must run in CI"
                );
            }
            eprintln!("skipping the cluster social test: set VERSUS_TEST_NATS_URL to run it");
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
    // Short presence windows: a dead node's players go offline within a second.
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
        .env("VERSUS_PRESENCE_COALESCE_MS", "50")
        .env("VERSUS_PRESENCE_REFRESH_MS", "200")
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

async fn register(http: &reqwest::Client, node: &Node, name: &str) -> String {
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

async fn presence_of(ws: &mut Ws, who: &str, status: &str) -> Value {
    eprintln!("waiting for {who} {status}");
    loop {
        let v = recv_type(ws, "presence").await;
        if v["player"]["username"] == who && v["presence"]["status"] == status {
            return v;
        }
    }
}

async fn notification(ws: &mut Ws, kind: &str) -> Value {
    eprintln!("waiting for notification {kind}");
    loop {
        let v = recv_type(ws, "notification").await;
        if v["kind"] == kind {
            return v;
        }
    }
}

#[tokio::test]
async fn friends_on_two_nodes_see_presence_and_play_through_an_invite() {
    let (Some(pg), Some(nats)) = (postgres_server_url(), nats_url()) else {
        return;
    };
    let db = fresh_postgres_database(&pg)
        .await
        .expect("a fresh database");
    let a = start_node("social-a", &db, &nats);
    let mut b = start_node("social-b", &db, &nats);
    let http = reqwest::Client::new();
    let alice = register(&http, &a, "alice").await;
    let bob = register(&http, &b, "bob").await;
    let mut alice_ws = connect(&a, &alice).await;
    let mut bob_ws = connect(&b, &bob).await;

    // A friend request from node A reaches bob live on node B.
    let resp = http
        .post(format!("http://{}/api/v1/friends/requests", a.addr))
        .bearer_auth(&alice)
        .json(&json!({ "username": "bob" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let n = notification(&mut bob_ws, "friend_request").await;
    assert_eq!(n["data"]["from"]["username"], "alice");
    let resp = http
        .post(format!(
            "http://{}/api/v1/friends/requests/alice/accept",
            b.addr
        ))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    notification(&mut alice_ws, "friend_accepted").await;

    // Presence across nodes: alice, on A, sees bob (on B) online.
    presence_of(&mut alice_ws, "bob", "online").await;

    // Alice invites bob to a private game; he accepts from the notification, on node B.
    let game: Value = http
        .post(format!("http://{}/api/v1/games", a.addr))
        .bearer_auth(&alice)
        .json(&json!({ "kind": "tictactoe", "name": "invited", "settings": { "visibility": "private", "creator_seat": "first" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let game_id = game["id"].as_str().unwrap().to_string();
    let resp = http
        .post(format!("http://{}/api/v1/games/{game_id}/invites", a.addr))
        .bearer_auth(&alice)
        .json(&json!({ "username": "bob" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let n = notification(&mut bob_ws, "invite").await;
    let invite_id = n["data"]["invite"]["id"].as_str().unwrap().to_string();
    let resp = http
        .post(format!(
            "http://{}/api/v1/invites/{invite_id}/accept",
            b.addr
        ))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let n = notification(&mut alice_ws, "game_started").await;
    assert_eq!(n["data"]["game_id"], game_id.as_str());
    notification(&mut bob_ws, "game_started").await;
    let v = presence_of(&mut alice_ws, "bob", "in_game").await;
    assert_eq!(v["presence"]["game_id"], game_id.as_str());

    // Node B dies: its presence rows expire and alice sees bob offline, with a last seen.
    let _ = b.child.kill();
    let _ = b.child.wait();
    let v = presence_of(&mut alice_ws, "bob", "offline").await;
    assert!(v["presence"]["last_seen"].is_string());
    let friends: Value = http
        .get(format!("http://{}/api/v1/friends", a.addr))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(friends["friends"][0]["presence"]["status"], "offline");
}

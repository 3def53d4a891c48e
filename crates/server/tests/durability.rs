//! DESIGN.md §1, promise 1: durable before visible, with group commit.
//!
//! The tests hold the journal's write lock from outside the server (an exclusive SQLite
//! transaction, or `LOCK TABLE … IN EXCLUSIVE MODE` on PostgreSQL), so a commit cannot
//! complete. While it is held, nobody — not the mover, not the opponent — may learn of the
//! move; once it is released, everyone does. And moves of many games that queue up behind
//! one commit are committed together, in one or two transactions, not one per move.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_tungstenite::tungstenite::Message;
use versus_server::config::{self, Overrides};
use versus_store::testing::{fresh_postgres_database, fresh_sqlite_url, postgres_server_url};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Db {
    Sqlite,
    Postgres,
}

struct App {
    base: String,
    http: reqwest::Client,
    db_url: String,
    node: String,
    server: versus_server::RunningServer,
    _dir: tempfile::TempDir,
}

async fn start(db: Db) -> Option<App> {
    let dir = tempfile::tempdir().unwrap();
    let db_url = match db {
        Db::Sqlite => fresh_sqlite_url(dir.path()),
        Db::Postgres => fresh_postgres_database(&postgres_server_url()?)
            .await
            .unwrap(),
    };
    let node = format!("durability-{}", uuid::Uuid::new_v4().simple());
    let values = vec![
        ("listen", "127.0.0.1:0".to_string()),
        ("data_dir", dir.path().display().to_string()),
        ("database_url", db_url.clone()),
        ("node_id", node.clone()),
        (
            "email_keys",
            versus_store::testing::TEST_EMAIL_KEYS.to_string(),
        ),
    ];
    let cfg = config::load(None, std::iter::empty(), &Overrides { values }).unwrap();
    let server = versus_server::spawn(cfg).await.unwrap();
    Some(App {
        base: format!("http://{}", server.addr),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        db_url,
        node,
        server,
        _dir: dir,
    })
}

impl App {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn register(&self, name: &str) -> String {
        let body = json!({"username": name, "email": format!("{name}@example.com"), "password": "password123"});
        let (status, v) = self.post("/api/v1/auth/register", None, body).await;
        assert_eq!(status, 201);
        v["token"].as_str().unwrap().to_string()
    }

    /// A started tic-tac-toe game where `a` moves first; returns its id.
    async fn started_game(&self, a: &str, b: &str) -> String {
        let body =
            json!({"kind": "tictactoe", "name": "durable", "settings": {"creator_seat": "first"}});
        let (status, game) = self.post("/api/v1/games", Some(a), body).await;
        assert_eq!(status, 201);
        let id = game["id"].as_str().unwrap().to_string();
        let (status, _) = self
            .post(&format!("/api/v1/games/{id}/join"), Some(b), json!({}))
            .await;
        assert_eq!(status, 200);
        id
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let label = format!("node=\"{}\"", self.node);
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// Holds the journal's write lock until dropped or released.
enum Lock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Lock {
    async fn take(db: Db, url: &str) -> Lock {
        match db {
            Db::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query("BEGIN EXCLUSIVE")
                    .execute(&mut c)
                    .await
                    .unwrap();
                Lock::Sqlite(c)
            }
            Db::Postgres => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query("BEGIN").execute(&mut c).await.unwrap();
                sqlx::query("LOCK TABLE journal_events IN EXCLUSIVE MODE")
                    .execute(&mut c)
                    .await
                    .unwrap();
                Lock::Postgres(c)
            }
        }
    }

    async fn release(self) {
        match self {
            Lock::Sqlite(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
            Lock::Postgres(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_subscribed(app: &App, token: &str, game: &str) -> Ws {
    let url = format!("{}/api/v1/ws", app.base.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let hello = json!({"type": "hello", "protocol": 1, "token": token}).to_string();
    ws.send(Message::text(hello)).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "welcome");
    ws.send(Message::text(
        json!({"type": "subscribe", "game_id": game}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    ws
}

/// A notification or presence message (issue 9), not part of the game.
fn is_social(text: &str) -> bool {
    text.starts_with(r#"{"type":"notification""#) || text.starts_with(r#"{"type":"presence""#)
}

/// The next frame that is not a notification or presence message.
async fn next_game_frame(
    ws: &mut Ws,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if is_social(t.as_str()) => {}
            other => return other,
        }
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("a message")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg
            && !is_social(t.as_str())
        {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

async fn a_move_reaches_nobody_until_it_is_committed(db: Db) {
    let Some(app) = start(db).await else { return };
    let (a, b) = (app.register("alice").await, app.register("bob").await);
    let game = app.started_game(&a, &b).await;
    let mut opponent = ws_subscribed(&app, &b, &game).await;
    let mut mover = ws_subscribed(&app, &a, &game).await;

    let lock = Lock::take(db, &app.db_url).await;
    let send = json!({"type": "move", "id": "m1", "game_id": game, "move": {"cell": 4}, "client_move_id": "c1"});
    mover.send(Message::text(send.to_string())).await.unwrap();
    let rest_move = {
        let (http, url, a) = (
            app.http.clone(),
            format!("{}/api/v1/games/{game}/moves", app.base),
            a.clone(),
        );
        tokio::spawn(async move {
            // A retry of the same move over REST: must also wait for the commit.
            let resp = http
                .post(url)
                .bearer_auth(a)
                .json(&json!({"move": {"cell": 4}, "client_move_id": "c1"}))
                .send()
                .await;
            resp.map(|r| r.status().as_u16())
        })
    };
    // While the commit cannot complete, nobody hears of the move.
    // (Notifications and presence, e.g. the game's `game_started`, are not game events.)
    let quiet_opponent =
        tokio::time::timeout(Duration::from_millis(1500), next_game_frame(&mut opponent)).await;
    assert!(
        quiet_opponent.is_err(),
        "the opponent saw an uncommitted move: {quiet_opponent:?}"
    );
    let quiet_mover =
        tokio::time::timeout(Duration::from_millis(200), next_game_frame(&mut mover)).await;
    assert!(
        quiet_mover.is_err(),
        "the mover was acknowledged before the commit: {quiet_mover:?}"
    );
    assert!(
        !rest_move.is_finished(),
        "the REST retry was answered before the commit"
    );

    lock.release().await;
    let event = next_json(&mut opponent).await;
    assert_eq!(event["type"], "event");
    assert_eq!(event["event"]["type"], "moved");
    let seq = event["seq"].as_u64().unwrap();
    let mut acked = false;
    for _ in 0..2 {
        let m = next_json(&mut mover).await;
        if m["type"] == "move_ack" {
            assert_eq!(m["seq"].as_u64(), Some(seq));
            acked = true;
        }
    }
    assert!(acked, "the mover got its ack after the commit");
    assert_eq!(rest_move.await.unwrap().unwrap(), 200);
    app.server.stop().await.unwrap();
}

async fn moves_of_many_games_waiting_on_one_commit_are_committed_together(db: Db) {
    let Some(app) = start(db).await else { return };
    const GAMES: usize = 12;
    let mut games = Vec::new();
    for i in 0..GAMES {
        let (a, b) = (
            app.register(&format!("alice{i}")).await,
            app.register(&format!("bob{i}")).await,
        );
        games.push((app.started_game(&a, &b).await, a));
    }
    let lock = Lock::take(db, &app.db_url).await;
    let commits_before = app.metric("journal_commits_total").await;
    let mut moves = Vec::new();
    for (game, token) in &games {
        let (http, url, token) = (
            app.http.clone(),
            format!("{}/api/v1/games/{game}/moves", app.base),
            token.clone(),
        );
        moves.push(tokio::spawn(async move {
            let body = json!({"move": {"cell": 0}, "client_move_id": "first"});
            http.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    // Wait until every move is queued behind the blocked commit.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.metric("journal_pending_requests").await < GAMES as f64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "moves did not queue up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lock.release().await;
    for m in moves {
        assert_eq!(m.await.unwrap().unwrap(), 200);
    }
    let commits = app.metric("journal_commits_total").await - commits_before;
    assert!(
        commits <= 3.0,
        "{GAMES} moves took {commits} commits: they were not grouped (one is blocked, the rest follow together)"
    );
    app.server.stop().await.unwrap();
}

#[tokio::test]
async fn sqlite_a_move_reaches_nobody_until_it_is_committed() {
    a_move_reaches_nobody_until_it_is_committed(Db::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_move_reaches_nobody_until_it_is_committed() {
    a_move_reaches_nobody_until_it_is_committed(Db::Postgres).await;
}

#[tokio::test]
async fn sqlite_moves_of_many_games_waiting_on_one_commit_are_committed_together() {
    moves_of_many_games_waiting_on_one_commit_are_committed_together(Db::Sqlite).await;
}

#[tokio::test]
async fn postgres_moves_of_many_games_waiting_on_one_commit_are_committed_together() {
    moves_of_many_games_waiting_on_one_commit_are_committed_together(Db::Postgres).await;
}

//! Crash recovery of a real-time session (docs/ARCHITECTURE.md, "Real-time games"): the real
//! `versus` binary runs a light-cycles session at 50 Hz while a player steers over the
//! WebSocket; the test SIGKILLs the server mid-session (a few times, at seeded moments),
//! restarts it on the same database and checks that
//!
//! * every tick a client was shown before the kill is in the journal, unchanged (a client
//!   never sees a tick that a crash takes back: ticks are sent only after their commit);
//! * the journal replays (with `versus-rules`, from the seed in `started`) to exactly the
//!   state the restarted server shows;
//! * the session resumes from its last committed tick, by itself (no request needed): a new
//!   subscriber gets ticks numbered on from the snapshot's, gap-free.
//!
//! `REALTIME_CRASH_SEED=<n>` explores other kill moments.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use versus_rules::lightcycles;
use versus_store::testing::{fresh_postgres_database, postgres_server_url};

const STEP: Duration = Duration::from_secs(15);
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_real_time_session_resumes_from_its_last_committed_tick() {
    crash(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_real_time_session_resumes_from_its_last_committed_tick() {
    let Some(server) = postgres_server_url() else {
        return;
    };
    let url = fresh_postgres_database(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot create a PostgreSQL test database: {e}"));
    crash(Some(url)).await;
}

struct Server {
    child: Child,
    base: String,
    ws: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &Path, log_path: &Path, database_url: Option<&str>) -> Server {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .expect("the log file");
    let offset = log.metadata().expect("log metadata").len();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_versus"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("VERSUS_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("VERSUS_EMAIL_KEYS", versus_store::testing::TEST_EMAIL_KEYS);
    cmd.args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("VERSUS_HEARTBEAT_INTERVAL_MS", "100")
        .env("VERSUS_LEASE_TTL_MS", "1000")
        .env("VERSUS_REALTIME_TICK_HZ", "50")
        .env("VERSUS_REALTIME_COUNTDOWN_MS", "200")
        .env("VERSUS_LOG_LEVEL", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let child = cmd.spawn().expect("the versus binary starts");
    let mut server = Server {
        child,
        base: String::new(),
        ws: String::new(),
    };
    let deadline = Instant::now() + STEP;
    loop {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(log_path) {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes[offset as usize..]).into_owned();
        }
        if let Some(addr) = text.lines().find_map(|l| {
            let rest = &l[l.find("listening")?..];
            let rest = &rest[rest.find("addr=")? + 5..];
            rest.split_whitespace()
                .next()?
                .trim_matches('"')
                .parse::<std::net::SocketAddr>()
                .ok()
        }) {
            server.base = format!("http://{addr}");
            server.ws = format!("ws://{addr}/api/v1/ws");
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("the server exited at start: {status}");
        }
        assert!(Instant::now() < deadline, "no `listening` line in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut req = http.post(url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("the request is answered");
    assert!(resp.status().is_success(), "{:?}", resp.status());
    resp.json().await.expect("JSON")
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    let deadline = Instant::now() + STEP;
    loop {
        if let Ok(resp) = http.get(&url).send().await
            && resp.status() == 200
        {
            return resp.json().await.expect("JSON");
        }
        assert!(Instant::now() < deadline, "GET {url} does not succeed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &Server, token: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws.as_str())
        .await
        .expect("connects");
    let hello = json!({ "type": "hello", "protocol": 1, "token": token });
    ws.send(Message::text(hello.to_string())).await.unwrap();
    assert_eq!(read(&mut ws).await.expect("welcome")["type"], "welcome");
    ws
}

/// The next text message, or `None` when the connection ends.
async fn read(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(STEP, ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Rebuilds the session from its journal; returns the state and every journaled delta by tick.
fn replay(events: &[Value]) -> (lightcycles::State, BTreeMap<u64, Value>) {
    let c = events
        .iter()
        .find(|e| e["event"]["type"] == "started")
        .map(|e| e["event"]["realtime"].clone())
        .expect("a started event with its config");
    let mut state = lightcycles::State::new(lightcycles::Config {
        width: c["width"].as_u64().unwrap() as u16,
        height: c["height"].as_u64().unwrap() as u16,
        players: c["players"].as_u64().unwrap() as usize,
        points_to_win: c["points_to_win"].as_u64().unwrap() as u32,
        seed: c["seed"].as_u64().unwrap(),
        countdown_ticks: c["countdown_ticks"].as_u64().unwrap() as u32,
    })
    .unwrap();
    let mut deltas = BTreeMap::new();
    for e in events.iter().filter(|e| e["event"]["type"] == "ticks") {
        let inputs = e["event"]["inputs"].as_array().cloned().unwrap_or_default();
        for d in e["event"]["ticks"].as_array().unwrap() {
            let tick = d["tick"].as_u64().unwrap();
            for i in inputs.iter().filter(|i| i["tick"] == tick) {
                let dir: lightcycles::Direction = serde_json::from_value(i["dir"].clone()).unwrap();
                state
                    .input(i["seat"].as_u64().unwrap() as usize, dir)
                    .unwrap();
            }
            let replayed = serde_json::to_value(state.tick()).unwrap();
            assert_eq!(&replayed, d, "tick {tick} replays from the journal");
            deltas.insert(tick, d.clone());
        }
    }
    (state, deltas)
}

fn seed() -> u64 {
    std::env::var("REALTIME_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c1c1e)
}

async fn crash(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir: PathBuf = dir.path().join("data");
    let log_path = dir.path().join("server.log");
    let http = reqwest::Client::builder().timeout(STEP).build().unwrap();
    let mut server = start(&data_dir, &log_path, database_url.as_deref());
    let mut tokens = Vec::new();
    for name in ["alice", "bob"] {
        let body = post(
            &http,
            format!("{}/api/v1/auth/register", server.base),
            None,
            Some(json!({"username": name, "email": format!("{name}@example.com"), "password": "correct horse battery staple"})),
        )
        .await;
        tokens.push(body["token"].as_str().expect("a token").to_string());
    }
    let game = post(
        &http,
        format!("{}/api/v1/games", server.base),
        Some(&tokens[0]),
        Some(json!({"kind": "lightcycles", "name": "crash", "settings": {"points_to_win": 25, "creator_seat": "first"}})),
    )
    .await;
    let id = game["id"].as_str().unwrap().to_string();
    post(
        &http,
        format!("{}/api/v1/games/{id}/join", server.base),
        Some(&tokens[1]),
        None,
    )
    .await;

    let mut rng = seed();
    for round in 0..ROUNDS {
        // Follow the session as alice, steering now and then, until the kill.
        let mut ws = connect(&server, &tokens[0]).await;
        let sub = json!({"type": "subscribe", "id": "s", "game_id": id});
        ws.send(Message::text(sub.to_string())).await.unwrap();
        // Notifications (the game's start, pushed to the player's inbox) may come first.
        let subscribed = loop {
            let msg = read(&mut ws).await.expect("subscribed");
            if msg["type"] != "notification" {
                break msg;
            }
        };
        assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
        let snapshot_tick = subscribed["snapshot"]["position"]["tick"].as_u64().unwrap();
        let mut seq = subscribed["last_seq"].as_u64().unwrap();
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let kill_after = Duration::from_millis(400 + (rng >> 33) % 1200);
        let began = Instant::now();
        let mut seen: BTreeMap<u64, Value> = BTreeMap::new();
        let mut expected_tick = snapshot_tick + 1;
        let mut turn = 0u64;
        while began.elapsed() < kill_after {
            let msg = read(&mut ws).await.expect("messages until the kill");
            match msg["type"].as_str() {
                Some("ticks") => {
                    assert_eq!(msg["seq"].as_u64(), Some(seq + 1), "gap-free seqs");
                    seq += 1;
                    for d in msg["ticks"].as_array().unwrap() {
                        assert_eq!(d["tick"].as_u64(), Some(expected_tick), "ticks in order");
                        expected_tick += 1;
                        seen.insert(expected_tick - 1, d.clone());
                    }
                    turn += 1;
                    if turn.is_multiple_of(7) {
                        let dir = ["up", "left", "down", "right"][((turn / 7) % 4) as usize];
                        let input = json!({"type": "input", "game_id": id, "dir": dir});
                        ws.send(Message::text(input.to_string())).await.unwrap();
                    }
                }
                Some("event") => {
                    assert_eq!(msg["seq"].as_u64(), Some(seq + 1), "gap-free seqs");
                    seq += 1;
                }
                _ => {}
            }
        }
        assert!(
            !seen.is_empty(),
            "round {round}: ticks arrived before the kill"
        );
        let last_seen = *seen.keys().last().unwrap();
        // SIGKILL mid-session, restart on the same database.
        drop(ws);
        drop(server);
        server = start(&data_dir, &log_path, database_url.as_deref());
        let events = get(
            &http,
            format!("{}/api/v1/games/{id}/events?after=0", server.base),
        )
        .await;
        let events = events["events"].as_array().cloned().unwrap();
        let (_, journaled) = replay(&events);
        for (tick, delta) in &seen {
            assert_eq!(
                journaled.get(tick),
                Some(delta),
                "round {round}: tick {tick}, shown before the kill, is in the journal unchanged"
            );
        }
        let committed = *journaled.keys().last().unwrap();
        assert!(
            committed >= last_seen,
            "nothing a client saw was rolled back"
        );
        eprintln!(
            "round {round}: killed after {kill_after:?}; last tick shown {last_seen}, last committed {committed}"
        );
        // The restarted server resumed the session: by itself, it ticks on from there.
        let deadline = Instant::now() + STEP;
        loop {
            let view = get(&http, format!("{}/api/v1/games/{id}", server.base)).await;
            assert_eq!(view["state"], "in_progress");
            if view["position"]["tick"].as_u64().unwrap() > committed {
                break;
            }
            assert!(Instant::now() < deadline, "the session does not resume");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Finally the journal replays to exactly the state the server shows (the session ticks
    // on meanwhile, so the journal is read up to the view's last seq).
    let view_url = format!("{}/api/v1/games/{id}", server.base);
    let events_url = format!("{}/api/v1/games/{id}/events?after=0", server.base);
    let view = get(&http, view_url).await;
    let events = get(&http, events_url).await["events"]
        .as_array()
        .cloned()
        .unwrap();
    let last_seq = view["last_seq"].as_u64().unwrap();
    let upto: Vec<Value> = events
        .into_iter()
        .filter(|e| e["seq"].as_u64().unwrap() <= last_seq)
        .collect();
    let (state, _) = replay(&upto);
    assert_eq!(state.snapshot_json(), view["position"]);
    drop(server);
    drop(dir);
}

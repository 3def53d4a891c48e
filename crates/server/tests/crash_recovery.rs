//! Crash recovery of the real `versus` binary (DESIGN.md §1, promises 1, 2 and 4).
//!
//! Each test starts the executable on a database (SQLite in a temporary data folder, or a
//! fresh PostgreSQL database), seats two players in each of a dozen games (tic-tac-toe,
//! connect four and chess, half of them with a clock, half driven over REST and half over the
//! WebSocket) and plays them as fast as acknowledgements arrive. Mid-burst it SIGKILLs the
//! server, restarts it on the same database and checks, for every game:
//!
//! * every acknowledged move is in the journal exactly once, at its acknowledged seq, with
//!   the acknowledged move, and no move appears that was neither acknowledged nor in flight
//!   at the kill (promise 1);
//! * the listed moves replay (with `versus-rules`) to the position the server shows;
//! * a retry of the last acknowledged move returns the original ack (`duplicate: true`), and
//!   a retry of the move in flight at the kill is applied exactly once: answered as a
//!   duplicate if it had been committed, applied now if it had not (promise 2).
//!
//! It does this for several rounds at different (seeded, so reproducible) kill points; in most
//! rounds the restarted server is killed once more a few milliseconds after it starts, while
//! it resumes the sessions. In one round the server instead stays down for two seconds: a
//! timed game's running clock must not be charged that downtime, and its journal records a
//! `resumed` event with the pause (promise 4). Finally every game is played to its end.
//!
//! The server's stderr goes to `server.log` in the test's temporary folder and is printed
//! (with the seed) when the test fails. `CRASH_RECOVERY_SEED=<n>` replays or explores other
//! kill points and move choices; `CRASH_RECOVERY_ROUNDS=<n>` runs more rounds.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use versus_rules::GameState;
use versus_store::testing::{fresh_postgres_database, postgres_server_url};

/// Games played concurrently during the bursts.
const BURST_GAMES: usize = 12;
/// Kill/restart rounds before the games are played to the end (`CRASH_RECOVERY_ROUNDS`
/// overrides it, at least 2).
const ROUNDS: usize = 3;
/// The round after whose kill the server stays down for [`DOWNTIME`].
const CLOCK_ROUND: usize = 1;
const DOWNTIME: Duration = Duration::from_secs(2);
/// Seeds the kill points and the move choices: runs are reproducible, rounds differ.
/// `CRASH_RECOVERY_SEED` (a number) overrides it, to explore other kill points.
const SEED: u64 = 0x7e57_c0de_5eed_0001;
/// Longest wait for any single reply, start or readiness.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the final phase may take to play every game to its end.
const FINISH_TIMEOUT: Duration = Duration::from_secs(60);
/// The server's heartbeat interval in these tests: it bounds how much of the time just
/// before a crash may be charged or credited to a clock.
const HEARTBEAT_MS: u64 = 100;
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_acknowledged_moves_survive_sigkill_exactly_once() {
    crash_recovery(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_acknowledged_moves_survive_sigkill_exactly_once() {
    crash_recovery(Backend::Postgres).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------

async fn crash_recovery(backend: Backend) {
    let began = Instant::now();
    let tag = backend.name();
    let dir = tempfile::tempdir().unwrap();
    let (database_url, admin_url) = match backend {
        Backend::Sqlite => (None, None),
        Backend::Postgres => {
            let Some(server) = postgres_server_url() else {
                return;
            };
            let url = fresh_postgres_database(&server)
                .await
                .unwrap_or_else(|e| panic!("cannot create a PostgreSQL test database: {e}"));
            (Some(url), Some(server))
        }
    };
    let harness = Harness {
        data_dir: dir.path().join("data"),
        log_path: dir.path().join("server.log"),
        database_url: database_url.clone(),
    };
    let (seed, rounds) = parameters();
    // Declared after `dir`, so it runs (and can read the log) before the folder is removed.
    let _dump = DumpLogOnPanic {
        path: harness.log_path.clone(),
        label: tag,
        seed,
    };
    eprintln!("[{tag}] seed {seed}, {rounds} rounds");
    let mut server = harness.start().await;
    let mut api = Api::new(&server);
    let mut games = setup(&api, seed).await;
    eprintln!(
        "[{tag}] {} games set up in {:?}",
        games.len(),
        began.elapsed()
    );

    let mut total_in_flight = 0;
    for round in 0..rounds {
        let (delay, recovery_delay) = kill_delays(seed, round);
        let killed = Arc::new(AtomicBool::new(false));

        // Burst: every unfinished burst game is driven by its own task.
        let (burst, idle): (Vec<Game>, Vec<Game>) =
            games.into_iter().partition(|g| g.burst && !g.finished);
        let drivers: Vec<_> = burst
            .into_iter()
            .map(|g| {
                tokio::spawn(drive(
                    api.clone(),
                    g,
                    Instant::now() + STEP_TIMEOUT,
                    killed.clone(),
                    None,
                ))
            })
            .collect();
        tokio::time::sleep(delay).await;

        // The clock game's running clock just before the kill.
        let clock_before = if round == CLOCK_ROUND {
            let clock_game = idle.iter().find(|g| g.is_clock_game).expect("clock game");
            let view = api.game(&clock_game.id).await.expect("clock game view");
            Some((clock_game.id.clone(), view))
        } else {
            None
        };

        killed.store(true, Ordering::SeqCst);
        let killed_at_ms = wall_ms();
        server.sigkill();

        let mut games_after: Vec<Game> = idle;
        let mut acked_this_round = 0;
        for driver in drivers {
            let (game, outcome) = tokio::time::timeout(STEP_TIMEOUT, driver)
                .await
                .expect("a driver ends soon after the kill")
                .expect("a driver does not panic");
            match outcome {
                Ok(stop) => {
                    acked_this_round += stop.acked;
                }
                Err(e) => panic!("[{tag}] round {round}: game {}: {e}", game.describe()),
            }
            games_after.push(game);
        }
        games_after.sort_by_key(|g| g.index);
        games = games_after;

        if round == CLOCK_ROUND {
            tokio::time::sleep(DOWNTIME).await;
        }
        server = harness.start().await;
        if round != CLOCK_ROUND {
            // Another crash while the server recovers (resuming the sessions), then a restart.
            tokio::time::sleep(recovery_delay).await;
            server.sigkill();
            server = harness.start().await;
        }
        api = Api::new(&server);
        api.wait_ready().await;
        // First (the clock runs again from the restart on), the clock game's clock.
        if let Some((clock_game_id, view)) = &clock_before {
            check_clock_not_charged(&api, clock_game_id, view, killed_at_ms).await;
        }

        // Every game: the journal holds exactly the acknowledged moves (plus perhaps the one
        // in flight), then retries are answered exactly once.
        let mut in_flight = 0;
        let mut committed_unacked = 0;
        for game in &mut games {
            let before = verify_game(&api, game).await;
            game.finished = before.finished;
            if let Some(last) = game.acked.last().cloned() {
                let ack = send_once(&api, game, last.seat, &last.cmid, &last.mv).await;
                assert!(
                    ack.duplicate,
                    "game {}: a retry of the last acknowledged move {} must be answered as a \
                     duplicate, got {ack:?}",
                    game.describe(),
                    last.cmid
                );
                assert_eq!(
                    (ack.seq, &ack.mv),
                    (last.seq, &last.mv),
                    "game {}: a retry of {} returns the original seq and move",
                    game.describe(),
                    last.cmid
                );
            }
            if let Some(p) = game.in_flight.take() {
                in_flight += 1;
                let was_committed = before.moved.iter().any(|m| m.cmid == p.cmid);
                let ack = send_once(&api, game, p.seat, &p.cmid, &p.mv).await;
                assert_eq!(
                    ack.duplicate,
                    was_committed,
                    "game {}: the move in flight at the kill ({}) is answered as a duplicate \
                     exactly when it was already in the journal; ack {ack:?}",
                    game.describe(),
                    p.cmid
                );
                if was_committed {
                    committed_unacked += 1;
                    let m = before
                        .moved
                        .iter()
                        .find(|m| m.cmid == p.cmid)
                        .expect("just found");
                    assert_eq!(
                        ack.seq,
                        m.seq,
                        "game {}: duplicate ack of {} has the journal's seq",
                        game.describe(),
                        p.cmid
                    );
                } else {
                    assert!(
                        ack.seq > before.last_seq,
                        "game {}: {} applied after the restart gets a new seq: {ack:?}",
                        game.describe(),
                        p.cmid
                    );
                }
                assert_eq!(ack.cmid, p.cmid);
                game.acked.push(Acked {
                    cmid: p.cmid,
                    seat: p.seat,
                    seq: ack.seq,
                    mv: ack.mv,
                });
            }
            // After the retries: still every acknowledged move exactly once, nothing else.
            let after = verify_game(&api, game).await;
            game.finished = after.finished;
        }
        total_in_flight += in_flight;
        eprintln!(
            "[{tag}] round {round}: SIGKILL after {} ms of burst{}; {acked_this_round} moves \
             acknowledged in the burst; {in_flight} in flight at the kill ({committed_unacked} \
             of them committed before it, the rest applied on retry); {} games finished",
            delay.as_millis(),
            if round == CLOCK_ROUND {
                format!(", down for {DOWNTIME:?}")
            } else {
                format!(
                    ", and again {} ms into the restart",
                    recovery_delay.as_millis()
                )
            },
            games.iter().filter(|g| g.finished).count()
        );
    }
    assert!(
        total_in_flight > 0,
        "no move was in flight at any kill: the kills did not happen mid-burst"
    );

    // Play every game to its end.
    let deadline = Instant::now() + FINISH_TIMEOUT;
    let never = Arc::new(AtomicBool::new(false));
    let (open, done): (Vec<Game>, Vec<Game>) = games.into_iter().partition(|g| !g.finished);
    let drivers: Vec<_> = open
        .into_iter()
        .map(|g| tokio::spawn(drive(api.clone(), g, deadline, never.clone(), None)))
        .collect();
    let mut games = done;
    for driver in drivers {
        let (game, outcome) = tokio::time::timeout(FINISH_TIMEOUT + STEP_TIMEOUT, driver)
            .await
            .expect("the final phase ends")
            .expect("a driver does not panic");
        match outcome {
            Ok(stop) => assert!(
                stop.finished,
                "game {} did not finish within {FINISH_TIMEOUT:?}",
                game.describe()
            ),
            Err(e) => panic!("[{tag}] final phase: game {}: {e}", game.describe()),
        }
        games.push(game);
    }
    games.sort_by_key(|g| g.index);
    for game in &games {
        let state = verify_game(&api, game).await;
        assert!(
            state.finished,
            "game {} is finished on the server",
            game.describe()
        );
    }
    let moves: usize = games.iter().map(|g| g.acked.len()).sum();
    eprintln!(
        "[{tag}] all {} games finished ({moves} acknowledged moves); total {:?}",
        games.len(),
        began.elapsed()
    );

    drop(server);
    if let (Some(admin), Some(url)) = (admin_url, database_url) {
        // Best effort: a database left behind is swept by `.ci/run`.
        let _ = versus_store::testing::drop_postgres_database(&admin, &url).await;
    }
}

/// The seed and the number of rounds (see [`SEED`] and [`ROUNDS`]).
fn parameters() -> (u64, usize) {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let seed = env("CRASH_RECOVERY_SEED").unwrap_or(SEED);
    let rounds = env("CRASH_RECOVERY_ROUNDS").map_or(ROUNDS, |r| (r as usize).max(CLOCK_ROUND + 1));
    (seed, rounds)
}

/// The kill points of `round`, from the seed: 50–400 ms into the burst, and 0–40 ms after
/// the restarted server logs `listening` (while it resumes the sessions).
fn kill_delays(seed: u64, round: usize) -> (Duration, Duration) {
    let mut rng = Rng(seed ^ (round as u64 + 1).wrapping_mul(0x9e37_79b9));
    let burst = Duration::from_millis(50 + rng.next() % 351);
    (burst, Duration::from_millis(rng.next() % 41))
}

/// Registers the players, creates and joins the games, and starts the clock game.
async fn setup(api: &Api, seed: u64) -> Vec<Game> {
    let total = BURST_GAMES + 1;
    let tokens = futures_util::future::join_all(
        (0..2 * total).map(|i| register(api, format!("crash-p{i}"))),
    )
    .await;
    let kinds = ["tictactoe", "connect4", "chess"];
    let specs: Vec<(usize, &'static str, bool, Transport)> = (0..BURST_GAMES)
        .map(|i| {
            let transport = if i % 2 == 0 {
                Transport::Rest
            } else {
                Transport::Ws
            };
            (i, kinds[i % 3], (i / 3) % 2 == 0, transport)
        })
        .chain(std::iter::once((
            BURST_GAMES,
            "chess",
            true,
            Transport::Rest,
        )))
        .collect();
    let mut games =
        futures_util::future::join_all(specs.into_iter().map(|(index, kind, timed, transport)| {
            let seat0 = tokens[2 * index].clone();
            let seat1 = tokens[2 * index + 1].clone();
            async move {
                let id = create_game(api, &seat0, kind, index, timed).await;
                let resp = api
                    .http
                    .post(api.url(&format!("/api/v1/games/{id}/join")))
                    .bearer_auth(&seat1)
                    .send()
                    .await
                    .expect("join");
                assert_eq!(resp.status(), 200, "join: {}", resp.text().await.unwrap());
                Game {
                    index,
                    id,
                    kind,
                    timed,
                    transport,
                    tokens: [seat0, seat1],
                    burst: index < BURST_GAMES,
                    is_clock_game: index == BURST_GAMES,
                    think: match kind {
                        "tictactoe" => Duration::from_millis(60),
                        "connect4" => Duration::from_millis(15),
                        _ => Duration::ZERO,
                    },
                    acked: Vec::new(),
                    in_flight: None,
                    rng: Rng(seed.wrapping_add(index as u64 * 7919)),
                    next_cmid: 0,
                    finished: false,
                }
            }
        }))
        .await;
    // The clock game: both sides move once, so the first player's clock is running.
    let clock_game = games.pop().expect("the clock game");
    let never = Arc::new(AtomicBool::new(false));
    let (clock_game, outcome) = drive(
        api.clone(),
        clock_game,
        Instant::now() + STEP_TIMEOUT,
        never,
        Some(2),
    )
    .await;
    outcome.expect("the clock game's first moves");
    assert_eq!(clock_game.acked.len(), 2);
    games.push(clock_game);
    games
}

/// Promise 4: the clock of the player to move was not charged the downtime, and the journal
/// records the pause in a `resumed` event.
async fn check_clock_not_charged(api: &Api, game_id: &str, before: &Value, killed_at_ms: i64) {
    let clocks = &before["clocks"];
    let running = clocks["running"]
        .as_u64()
        .unwrap_or_else(|| panic!("a clock runs before the kill: {clocks}"));
    let left_at_kill = remaining_at(clocks, running, killed_at_ms);

    let after = api.game(game_id).await.expect("clock game view");
    let seen_at_ms = wall_ms();
    let clocks_after = &after["clocks"];
    assert_eq!(
        clocks_after["running"].as_u64(),
        Some(running),
        "the same clock runs after the restart: {clocks_after}"
    );
    let left_now = remaining_at(clocks_after, running, seen_at_ms);
    let charged = left_at_kill - left_now;
    let downtime = DOWNTIME.as_millis() as i64;
    eprintln!(
        "clock: {left_at_kill} ms left at the kill, {left_now} ms after a downtime of at least \
         {downtime} ms: charged {charged} ms"
    );
    assert!(
        charged < 1000,
        "the downtime was charged to the running clock: {left_at_kill} ms left at the kill, \
         {left_now} ms after the restart ({charged} ms charged for ≥ {downtime} ms down); \
         before: {clocks}, after: {clocks_after}"
    );
    assert!(
        charged > -1000,
        "the running clock was credited time: {left_at_kill} ms at the kill, {left_now} ms \
         after the restart; before: {clocks}, after: {clocks_after}"
    );

    let last_seq = before["last_seq"].as_u64().expect("last_seq");
    let events = api
        .events(game_id, last_seq)
        .await
        .expect("clock game events");
    let resumed: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"]["type"] == "resumed")
        .collect();
    assert_eq!(
        resumed.len(),
        1,
        "exactly one `resumed` event after the restart: {events:?}"
    );
    let paused_ms = resumed[0]["event"]["paused_ms"]
        .as_i64()
        .expect("paused_ms");
    assert!(
        (1500..60_000).contains(&paused_ms),
        "`resumed` records the ~{downtime} ms pause: paused_ms = {paused_ms}"
    );
}

/// The running seat's remaining time at `at_ms`, from a `clocks` object.
fn remaining_at(clocks: &Value, seat: u64, at_ms: i64) -> i64 {
    let base = clocks["remaining_ms"][seat as usize]
        .as_i64()
        .unwrap_or_else(|| panic!("remaining_ms[{seat}] in {clocks}"));
    let since = chrono::DateTime::parse_from_rfc3339(clocks["at"].as_str().expect("clocks.at"))
        .expect("clocks.at is RFC 3339")
        .timestamp_millis();
    base - (at_ms - since).max(0)
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

// ---------------------------------------------------------------------------------------------
// Games, players and the driver
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Rest,
    Ws,
}

/// A game as the test tracks it.
struct Game {
    index: usize,
    id: String,
    kind: &'static str,
    timed: bool,
    transport: Transport,
    /// Bearer tokens of the players in seat 0 and seat 1.
    tokens: [String; 2],
    /// Played in the bursts (the clock game is not).
    burst: bool,
    is_clock_game: bool,
    /// Pause after each acknowledged move, so short games last across rounds.
    think: Duration,
    /// Every acknowledged move, in order.
    acked: Vec<Acked>,
    /// The move sent but not acknowledged when the server died.
    in_flight: Option<Sent>,
    rng: Rng,
    next_cmid: u64,
    finished: bool,
}

impl Game {
    fn describe(&self) -> String {
        format!(
            "#{} {} ({}, {:?}{})",
            self.index,
            self.id,
            self.kind,
            self.transport,
            if self.timed { ", timed" } else { "" }
        )
    }
}

#[derive(Debug, Clone)]
struct Acked {
    cmid: String,
    seat: usize,
    seq: u64,
    mv: Value,
}

#[derive(Debug, Clone)]
struct Sent {
    cmid: String,
    seat: usize,
    mv: Value,
}

/// How a driver stopped (when it did not fail).
#[derive(Debug)]
struct Stopped {
    finished: bool,
    /// Moves acknowledged during this drive.
    acked: usize,
}

/// Plays `game` as fast as acknowledgements arrive (both seats, each over its own connection
/// when the game uses the WebSocket) until it ends, `max_moves` were played, the deadline
/// passes, or the server dies (`killed` set: the move in flight stays in `game.in_flight`).
/// Any other failure is an error.
async fn drive(
    api: Api,
    mut game: Game,
    deadline: Instant,
    killed: Arc<AtomicBool>,
    max_moves: Option<usize>,
) -> (Game, Result<Stopped, String>) {
    let result = drive_inner(&api, &mut game, deadline, &killed, max_moves).await;
    (game, result)
}

async fn drive_inner(
    api: &Api,
    game: &mut Game,
    deadline: Instant,
    killed: &AtomicBool,
    max_moves: Option<usize>,
) -> Result<Stopped, String> {
    let mut acked = 0;
    let gone = |e: SendError, acked: usize| -> Result<Stopped, String> {
        match e {
            SendError::Gone(_) if killed.load(Ordering::SeqCst) => Ok(Stopped {
                finished: false,
                acked,
            }),
            SendError::Gone(e) => Err(format!("connection lost while the server was up: {e}")),
            SendError::Failed(e) => Err(e),
        }
    };
    // Start from the server's state of the game.
    let view = match api.game(&game.id).await {
        Ok(v) => v,
        Err(e) => return gone(e, acked),
    };
    let mut rules = replay(game.kind, &view["moves"]).map_err(|e| format!("replay: {e}"))?;
    let mut sockets: [Option<WsStream>; 2] = [None, None];
    loop {
        let Some(seat) = rules.status().to_move() else {
            return Ok(Stopped {
                finished: true,
                acked,
            });
        };
        if Instant::now() >= deadline || max_moves.is_some_and(|m| acked >= m) {
            return Ok(Stopped {
                finished: false,
                acked,
            });
        }
        if killed.load(Ordering::SeqCst) {
            // Sent now, a move would only be refused at the door: not "in flight".
            return Ok(Stopped {
                finished: false,
                acked,
            });
        }
        let legal = rules.legal_moves();
        let mv = legal[game.rng.below(legal.len())].clone();
        let cmid = format!("g{}-m{}", game.index, game.next_cmid);
        game.next_cmid += 1;
        game.in_flight = Some(Sent {
            cmid: cmid.clone(),
            seat,
            mv: mv.clone(),
        });
        let sent = match game.transport {
            Transport::Rest => {
                api.rest_move(&game.id, &game.tokens[seat], &cmid, &mv)
                    .await
            }
            Transport::Ws => {
                if sockets[seat].is_none() {
                    match ws_connect(api, &game.tokens[seat]).await {
                        Ok(ws) => sockets[seat] = Some(ws),
                        Err(e) => return gone(e, acked),
                    }
                }
                let ws = sockets[seat].as_mut().expect("connected above");
                ws_move(ws, &game.id, &cmid, &mv).await
            }
        };
        let ack = match sent {
            Ok(ack) => ack,
            Err(e) => return gone(e, acked),
        };
        let canonical = rules
            .apply(seat, &mv)
            .map_err(|e| format!("the test's own move {mv} is illegal: {e}"))?;
        if ack.duplicate || ack.cmid != cmid || ack.mv != canonical {
            return Err(format!(
                "unexpected ack for a new move {cmid} {canonical}: {ack:?}"
            ));
        }
        if let Some(prev) = game.acked.last()
            && ack.seq <= prev.seq
        {
            return Err(format!(
                "ack seq {} does not follow the previous ack's {}",
                ack.seq, prev.seq
            ));
        }
        game.in_flight = None;
        game.acked.push(Acked {
            cmid,
            seat,
            seq: ack.seq,
            mv: ack.mv,
        });
        acked += 1;
        if !game.think.is_zero() {
            tokio::time::sleep(game.think).await;
        }
    }
}

/// Sends one move (a retry) over the game's transport, on a fresh connection; any failure
/// fails the test.
async fn send_once(api: &Api, game: &Game, seat: usize, cmid: &str, mv: &Value) -> Ack {
    let result = match game.transport {
        Transport::Rest => api.rest_move(&game.id, &game.tokens[seat], cmid, mv).await,
        Transport::Ws => match ws_connect(api, &game.tokens[seat]).await {
            Ok(mut ws) => {
                let ack = ws_move(&mut ws, &game.id, cmid, mv).await;
                let _ = ws.close(None).await;
                ack
            }
            Err(e) => Err(e),
        },
    };
    result.unwrap_or_else(|e| panic!("game {}: retry of {cmid}: {e:?}", game.describe()))
}

/// A rules state with `moves` (a GameView's `moves` array) applied.
fn replay(kind: &str, moves: &Value) -> Result<Box<dyn GameState>, String> {
    let mut rules = versus_rules::new_game(kind).ok_or_else(|| format!("unknown kind {kind}"))?;
    for (i, m) in moves
        .as_array()
        .ok_or("moves is not an array")?
        .iter()
        .enumerate()
    {
        let seat = m["seat"].as_u64().ok_or("move without seat")? as usize;
        rules
            .apply(seat, &m["move"])
            .map_err(|e| format!("move {i} ({m}) does not replay: {e}"))?;
    }
    Ok(rules)
}

/// A `moved` event of the journal.
#[derive(Debug)]
struct Moved {
    seq: u64,
    seat: u64,
    cmid: String,
    mv: Value,
}

/// What [`verify_game`] saw.
struct Verified {
    moved: Vec<Moved>,
    last_seq: u64,
    finished: bool,
}

/// Checks one game on the server against what the test was told: see the module docs.
async fn verify_game(api: &Api, game: &Game) -> Verified {
    let what = game.describe();
    let view = api
        .game(&game.id)
        .await
        .unwrap_or_else(|e| panic!("GET game {what}: {e:?}"));
    let events = api
        .events(&game.id, 0)
        .await
        .unwrap_or_else(|e| panic!("GET events {what}: {e:?}"));
    let last_seq = view["last_seq"].as_u64().expect("last_seq");

    // The journal: seqs 1..=last_seq without gaps.
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=last_seq).collect::<Vec<_>>(),
        "game {what}: event seqs run 1..=last_seq"
    );
    let moved: Vec<Moved> = events
        .iter()
        .filter(|e| e["event"]["type"] == "moved")
        .map(|e| Moved {
            seq: e["seq"].as_u64().unwrap(),
            seat: e["event"]["seat"].as_u64().unwrap(),
            cmid: e["event"]["client_move_id"].as_str().unwrap().to_string(),
            mv: e["event"]["move"].clone(),
        })
        .collect();

    // No move twice; nothing that was neither acknowledged nor in flight.
    for (i, m) in moved.iter().enumerate() {
        assert!(
            moved[..i].iter().all(|o| o.cmid != m.cmid),
            "game {what}: client_move_id {} appears twice in the journal: {moved:?}",
            m.cmid
        );
        let known = game.acked.iter().any(|a| a.cmid == m.cmid)
            || game.in_flight.as_ref().is_some_and(|p| p.cmid == m.cmid);
        assert!(
            known,
            "game {what}: the journal holds a move that was never sent: {m:?}"
        );
    }
    // Every acknowledged move exactly once, at its seq, unchanged.
    for a in &game.acked {
        let found: Vec<&Moved> = moved.iter().filter(|m| m.cmid == a.cmid).collect();
        assert_eq!(
            found.len(),
            1,
            "game {what}: acknowledged move {a:?} is in the journal exactly once; journal \
             moves: {moved:?}"
        );
        assert_eq!(
            (found[0].seq, found[0].seat, &found[0].mv),
            (a.seq, a.seat as u64, &a.mv),
            "game {what}: acknowledged move {} is stored as acknowledged",
            a.cmid
        );
    }

    // The view's move list: the journal's moves, strictly increasing seqs.
    let moves = view["moves"].as_array().expect("moves");
    assert_eq!(
        moves.len(),
        moved.len(),
        "game {what}: the view lists every journal move"
    );
    let mut prev = 0;
    for (entry, m) in moves.iter().zip(&moved) {
        let seq = entry["seq"].as_u64().unwrap();
        assert!(seq > prev, "game {what}: move seqs strictly increase");
        prev = seq;
        assert_eq!(
            (seq, entry["seat"].as_u64().unwrap(), &entry["move"]),
            (m.seq, m.seat, &m.mv),
            "game {what}: the view's move matches the journal"
        );
    }

    // The position is the listed moves replayed.
    let rules = replay(game.kind, &view["moves"])
        .unwrap_or_else(|e| panic!("game {what}: the listed moves do not replay: {e}"));
    assert_eq!(
        view["position"],
        rules.view(),
        "game {what}: the position is the listed moves replayed"
    );
    let finished = rules.status().is_finished();
    let state = view["state"].as_str().expect("state");
    if finished {
        assert_eq!(state, "finished", "game {what}: over by the rules");
    } else {
        assert_eq!(state, "in_progress", "game {what}: still running");
        assert_eq!(
            view["to_move"].as_u64(),
            rules.status().to_move().map(|s| s as u64),
            "game {what}: to_move"
        );
    }
    Verified {
        moved,
        last_seq,
        finished,
    }
}

async fn register(api: &Api, username: String) -> String {
    let resp = api
        .http
        .post(api.url("/api/v1/auth/register"))
        .json(&json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": PASSWORD,
        }))
        .send()
        .await
        .expect("register");
    let status = resp.status();
    let body: Value = resp.json().await.expect("register body");
    assert_eq!(status, 201, "register {username}: {body}");
    body["token"].as_str().expect("token").to_string()
}

async fn create_game(api: &Api, token: &str, kind: &str, index: usize, timed: bool) -> String {
    let time_control = if timed {
        json!({ "initial_seconds": 600, "increment_seconds": 0 })
    } else {
        Value::Null
    };
    let resp = api
        .http
        .post(api.url("/api/v1/games"))
        .bearer_auth(token)
        .json(&json!({
            "kind": kind,
            "name": format!("crash {index}"),
            "settings": { "creator_seat": "first", "time_control": time_control },
        }))
        .send()
        .await
        .expect("create game");
    let status = resp.status();
    let body: Value = resp.json().await.expect("create body");
    assert_eq!(status, 201, "create {kind}: {body}");
    body["id"].as_str().expect("id").to_string()
}

/// splitmix64: a tiny seeded generator, so move choices and kill points are reproducible.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------------
// Talking to the server
// ---------------------------------------------------------------------------------------------

/// Why a request got no answer: the server is gone (connection refused, reset or closed), or
/// something the test does not expect (an error status, a timeout, a malformed reply).
#[derive(Debug)]
enum SendError {
    Gone(String),
    Failed(String),
}

/// A move acknowledgement (REST `MoveAck` or WebSocket `move_ack`).
#[derive(Debug, Clone)]
struct Ack {
    seq: u64,
    cmid: String,
    mv: Value,
    duplicate: bool,
}

fn parse_ack(v: &Value) -> Result<Ack, SendError> {
    let bad = || SendError::Failed(format!("not a move ack: {v}"));
    Ok(Ack {
        seq: v["seq"].as_u64().ok_or_else(bad)?,
        cmid: v["client_move_id"].as_str().ok_or_else(bad)?.to_string(),
        mv: v["move"].clone(),
        duplicate: v["duplicate"].as_bool().ok_or_else(bad)?,
    })
}

/// An HTTP client for one server instance.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    ws_url: String,
}

impl Api {
    fn new(server: &Server) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(STEP_TIMEOUT)
                .build()
                .expect("an HTTP client"),
            base: server.base_url.clone(),
            ws_url: server.ws_url.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get_json(&self, path: &str) -> Result<Value, SendError> {
        let resp = self
            .http
            .get(self.url(path))
            .send()
            .await
            .map_err(request_error)?;
        let status = resp.status();
        let text = resp.text().await.map_err(request_error)?;
        if status != 200 {
            return Err(SendError::Failed(format!("GET {path}: {status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| SendError::Failed(format!("GET {path}: {e}")))
    }

    async fn game(&self, id: &str) -> Result<Value, SendError> {
        self.get_json(&format!("/api/v1/games/{id}")).await
    }

    async fn events(&self, id: &str, after: u64) -> Result<Vec<Value>, SendError> {
        let body = self
            .get_json(&format!("/api/v1/games/{id}/events?after={after}"))
            .await?;
        body["events"]
            .as_array()
            .cloned()
            .ok_or_else(|| SendError::Failed(format!("not an event list: {body}")))
    }

    async fn rest_move(
        &self,
        game_id: &str,
        token: &str,
        cmid: &str,
        mv: &Value,
    ) -> Result<Ack, SendError> {
        let resp = self
            .http
            .post(self.url(&format!("/api/v1/games/{game_id}/moves")))
            .bearer_auth(token)
            .json(&json!({ "move": mv, "client_move_id": cmid }))
            .send()
            .await
            .map_err(request_error)?;
        let status = resp.status();
        let text = resp.text().await.map_err(request_error)?;
        if status != 200 {
            return Err(SendError::Failed(format!(
                "move {cmid} {mv}: {status}: {text}"
            )));
        }
        let body: Value = serde_json::from_str(&text)
            .map_err(|e| SendError::Failed(format!("move {cmid}: {e}: {text}")))?;
        parse_ack(&body)
    }

    /// Polls `/readyz` until the database answers.
    async fn wait_ready(&self) {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the restarted server is not ready within {STEP_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn request_error(e: reqwest::Error) -> SendError {
    if e.is_timeout() {
        SendError::Failed(format!("no reply within {STEP_TIMEOUT:?}: {e}"))
    } else {
        SendError::Gone(e.to_string())
    }
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects, says hello with `token` and waits for `welcome`.
async fn ws_connect(api: &Api, token: &str) -> Result<WsStream, SendError> {
    let (mut ws, _) = tokio::time::timeout(
        STEP_TIMEOUT,
        tokio_tungstenite::connect_async(api.ws_url.as_str()),
    )
    .await
    .map_err(|_| SendError::Failed("the WebSocket handshake timed out".into()))?
    .map_err(|e| SendError::Gone(e.to_string()))?;
    let hello = json!({ "type": "hello", "protocol": 1, "token": token });
    ws.send(Message::text(hello.to_string()))
        .await
        .map_err(|e| SendError::Gone(e.to_string()))?;
    let reply = ws_read(&mut ws).await?;
    if reply["type"] != "welcome" {
        return Err(SendError::Failed(format!("hello answered with {reply}")));
    }
    Ok(ws)
}

/// Sends a `move` and waits for its `move_ack` (or `error`).
async fn ws_move(
    ws: &mut WsStream,
    game_id: &str,
    cmid: &str,
    mv: &Value,
) -> Result<Ack, SendError> {
    let msg = json!({
        "type": "move",
        "id": cmid,
        "game_id": game_id,
        "move": mv,
        "client_move_id": cmid,
    });
    ws.send(Message::text(msg.to_string()))
        .await
        .map_err(|e| SendError::Gone(e.to_string()))?;
    loop {
        let reply = ws_read(ws).await?;
        if reply["id"] != cmid {
            continue;
        }
        return match reply["type"].as_str() {
            Some("move_ack") => parse_ack(&reply),
            _ => Err(SendError::Failed(format!("move {cmid} {mv}: {reply}"))),
        };
    }
}

/// The next text message as JSON.
async fn ws_read(ws: &mut WsStream) -> Result<Value, SendError> {
    loop {
        match tokio::time::timeout(STEP_TIMEOUT, ws.next()).await {
            Err(_) => {
                return Err(SendError::Failed(format!(
                    "no WebSocket message within {STEP_TIMEOUT:?}"
                )));
            }
            Ok(None) => return Err(SendError::Gone("the WebSocket ended".into())),
            Ok(Some(Err(e))) => return Err(SendError::Gone(e.to_string())),
            Ok(Some(Ok(Message::Text(text)))) => {
                return serde_json::from_str(text.as_str())
                    .map_err(|e| SendError::Failed(format!("not JSON: {e}: {text}")));
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(SendError::Gone(format!("closed by the server: {frame:?}")));
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The process
// ---------------------------------------------------------------------------------------------

/// How to start the binary: the same data folder / database every time.
struct Harness {
    data_dir: PathBuf,
    log_path: PathBuf,
    database_url: Option<String>,
}

/// A running `versus` process; killed (SIGKILL) when dropped, on every exit path.
struct Server {
    child: Child,
    base_url: String,
    ws_url: String,
}

impl Server {
    /// SIGKILL, and reap the process.
    fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.sigkill();
    }
}

impl Harness {
    /// Starts the binary (stderr appended to the log file) and waits for its "listening"
    /// line.
    async fn start(&self) -> Server {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
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
            .arg(&self.data_dir)
            .env("VERSUS_HEARTBEAT_INTERVAL_MS", HEARTBEAT_MS.to_string())
            .env("VERSUS_LOG_LEVEL", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        if let Some(url) = &self.database_url {
            cmd.args(["--database-url", url]);
        }
        let child = cmd.spawn().expect("the versus binary starts");
        let mut server = Server {
            child,
            base_url: String::new(),
            ws_url: String::new(),
        };
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(addr) = read_from(&self.log_path, offset)
                .lines()
                .find_map(listening_addr)
            {
                server.base_url = format!("http://{addr}");
                server.ws_url = format!("ws://{addr}/api/v1/ws");
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "no `listening` line within {STEP_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The file's text from byte `offset` on.
fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// The address in a human log line `… listening addr=127.0.0.1:1234 …` (ANSI colours
/// stripped).
fn listening_addr(line: &str) -> Option<std::net::SocketAddr> {
    let line = strip_ansi(line);
    if !line.contains("listening") {
        return None;
    }
    let rest = &line[line.find("addr=")? + "addr=".len()..];
    rest.split_whitespace()
        .next()?
        .trim_matches('"')
        .parse()
        .ok()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Prints the server's log (warnings and errors in full, then the last lines) when the test
/// panics.
struct DumpLogOnPanic {
    path: PathBuf,
    label: &'static str,
    seed: u64,
}

impl Drop for DumpLogOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let log = strip_ansi(&read_from(&self.path, 0));
        let lines: Vec<&str> = log.lines().collect();
        let notable: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
            .collect();
        let tail = &lines[lines.len().saturating_sub(150)..];
        eprintln!(
            "===== [{}] seed {} (rerun with CRASH_RECOVERY_SEED={}); server log {}: {} lines; \
             warnings and errors:\n{}\n===== last {} lines:\n{}\n=====",
            self.label,
            self.seed,
            self.seed,
            self.path.display(),
            lines.len(),
            notable.join("\n"),
            tail.len(),
            tail.join("\n")
        );
    }
}

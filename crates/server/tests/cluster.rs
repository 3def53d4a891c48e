//! The cluster, for real (DESIGN.md §1 promise 5; the scale-out issue): three `versus` nodes on
//! one PostgreSQL database and one NATS server, behind nginx configured from `deploy/`.
//!
//! Every node is the real binary started with the settings of `deploy/node.env.example`, in
//! which the test replaces only what must differ on one machine (node id, listen address, data
//! folder, its own database and NATS) and shortens the lease, the presence refresh and the bus
//! request timeout so that a failover fits in a test. nginx runs `deploy/nginx/versus.conf`
//! with its placeholders filled in, as an ordinary process whose files all live in the test's
//! temporary folder.
//!
//! * [`games_survive_the_sigkill_of_a_node`]: games whose two players are connected to
//!   different nodes; the node owning the most games is SIGKILLed mid-play. Every game still
//!   plays to its end, every acknowledged move is in the journal exactly once, every client
//!   (players and spectators, reconnecting with `since_seq`) receives every event exactly
//!   once, the killed node's games are taken over (one `resumed` event each) within the lease
//!   time plus a margin, and the new owners know every player is connected. The players also
//!   chat in their game's room before and after the kill: every acknowledged message is
//!   stored once and reaches both players, gap-free across their reconnections.
//! * [`a_rolling_restart_under_load_fails_no_game`]: tables of players keep playing game after
//!   game through nginx while each node in turn is stopped with SIGTERM (drain), waited for
//!   (exit 0), restarted under the same id and waited for (`/readyz`): no game fails, no
//!   acknowledged move is lost or doubled, no client sees a gap or a duplicate.
//! * [`the_deploy_files_are_valid`]: the env file passes `versus check-config`, nginx accepts
//!   the filled template (`nginx -t`), and the systemd unit gives a drain enough time.
//! * [`a_dead_nodes_players_are_reported_away_and_back`]: when a node dies, the owner sees its
//!   players go away (their presence stops being refreshed) and come back when they reconnect.
//! * [`a_drain_is_not_held_up_by_a_failed_subscription`]: a failed subscribe leaves no feed
//!   behind that would hold a drain until the grace period runs out.
//!
//! Needs PostgreSQL (`VERSUS_TEST_POSTGRES_URL`), NATS (`VERSUS_TEST_NATS_URL`, e.g.
//! `nats://127.0.0.1:4222`) and nginx (`VERSUS_TEST_NGINX`, default `/usr/sbin/nginx`). When one
//! is missing the cluster tests are skipped with a message, except in CI (`CI` set), where
//! they fail. The cluster tests run one at a time (they measure timings). Each gets its own
//! database, left behind for inspection when it fails; the nodes' and nginx's logs are printed
//! then. Measurements (failover, drain and move times) are printed with `--nocapture`.
//!
//! For investigating: `CLUSTER_TEST_LOGS=1` prints the logs even when the test passes,
//! `CLUSTER_TEST_KEEP=1` keeps the temporary folder (logs, nginx files), `CLUSTER_TEST_LOG_LEVEL`
//! sets the nodes' log filter, `CLUSTER_TEST_LEASE_TTL_MS` the lease.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use versus_rules::GameState;
use versus_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_server_url};

/// Nodes in the cluster.
const NODES: usize = 3;
/// The lease of a game's owner (the deploy example says 5000): a dead node's games are taken
/// over at most this long after its last renewal. `CLUSTER_TEST_LEASE_TTL_MS` overrides it
/// (and the bus request timeout with it), e.g. to measure failover with the deploy defaults.
const LEASE_TTL_MS: u64 = 2000;
/// How often feeds re-announce presence (a dead node's players are away 3× this later).
const PRESENCE_REFRESH_MS: u64 = 500;

/// The lease in force (see [`LEASE_TTL_MS`]). How long a node waits for a game's owner on
/// another node is kept equal to it, as in the deploy example: a request in flight to a node
/// that dies fails after this long.
fn lease_ttl_ms() -> u64 {
    std::env::var("CLUSTER_TEST_LEASE_TTL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LEASE_TTL_MS)
}
/// Connections to PostgreSQL per node (the example's 16 × 3 nodes would crowd a shared
/// test server).
const DATABASE_MAX_CONNECTIONS: u32 = 8;
/// Failover may take the lease time plus this.
const FAILOVER_MARGIN: Duration = Duration::from_secs(3);
/// Longest wait for any single reply, start, connection or event.
const STEP: Duration = Duration::from_secs(20);
/// Longest time one move may take, retries included.
const MOVE_DEADLINE: Duration = Duration::from_secs(30);
/// Longest time all games (or tables) may take to finish once the disruption is over.
const FINISH: Duration = Duration::from_secs(90);
/// Games played in the SIGKILL test.
const KILL_GAMES: usize = 15;
/// Moves every game has made (at least) when the node is killed.
const MOVES_BEFORE_KILL: usize = 4;
/// Pairs of players playing game after game in the rolling-restart test.
const TABLES: usize = 12;
const KINDS: [&str; 3] = ["tictactoe", "connect4", "chess"];
const PASSWORD: &str = "correct horse battery staple";
const NATS_URL_ENV: &str = "VERSUS_TEST_NATS_URL";
const NGINX_ENV: &str = "VERSUS_TEST_NGINX";

/// The cluster tests measure timings: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// The SIGKILL test
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn games_survive_the_sigkill_of_a_node() {
    let Some(pre) = prerequisites("games_survive_the_sigkill_of_a_node") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let mut cluster = Cluster::start("kill", &pre).await;
    let ctx = cluster.ctx();
    let node_ws: Vec<String> = cluster.nodes.iter().map(Node::ws_url).collect();

    // Players and games, all through nginx.
    let tokens = register_all(&ctx, "kill", 2 * KILL_GAMES).await;
    let created = futures_util::future::join_all((0..KILL_GAMES).map(|i| {
        let ctx = ctx.clone();
        let (t0, t1) = (tokens[2 * i].clone(), tokens[2 * i + 1].clone());
        async move {
            let kind = KINDS[i % 3];
            let id = create_game(&ctx, &t0, kind, &format!("kill {i}"), (i / 3) % 2 == 0)
                .await
                .unwrap_or_else(|e| panic!("create game {i}: {e:?}"));
            join(&ctx, &t1, &id)
                .await
                .unwrap_or_else(|e| panic!("join game {i}: {e:?}"));
            id
        }
    }))
    .await;

    // The two players of each game on different nodes (directly, so the split is certain);
    // a spectator on every third game through nginx.
    let mut games: Vec<Game> = created
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let (a, b) = (i % NODES, (i + 1) % NODES);
            let room = format!("game:{id}:players");
            let players = [
                Client::new(
                    format!("g{i}/seat0"),
                    &tokens[2 * i],
                    &id,
                    &node_ws[a],
                    &ctx.lb_ws,
                )
                .on_node(a)
                .with_chat(room.clone()),
                Client::new(
                    format!("g{i}/seat1"),
                    &tokens[2 * i + 1],
                    &id,
                    &node_ws[b],
                    &ctx.lb_ws,
                )
                .on_node(b)
                .with_chat(room),
            ];
            let spectator = (i % 3 == 0).then(|| {
                let watcher = &tokens[2 * ((i + 1) % KILL_GAMES)];
                Client::new(
                    format!("g{i}/spectator"),
                    watcher,
                    &id,
                    &ctx.lb_ws,
                    &ctx.lb_ws,
                )
            });
            Game::new(
                i,
                id,
                KINDS[i % 3],
                (i / 3) % 2 == 0,
                i % 2 == 1,
                [tokens[2 * i].clone(), tokens[2 * i + 1].clone()],
                players,
                spectator,
                Duration::from_millis(40),
            )
        })
        .collect();
    let connected =
        futures_util::future::join_all(games.iter_mut().map(|g| g.keep_connected())).await;
    for r in connected {
        r.unwrap_or_else(|e| panic!("connecting the clients: {e}"));
    }

    // The victim: the node owning the most games.
    let node_ids: Vec<String> = cluster.nodes.iter().map(|n| n.id.clone()).collect();
    let owners = cluster.owners().await;
    let owned_counts: Vec<usize> = node_ids
        .iter()
        .map(|n| {
            games
                .iter()
                .filter(|g| owners.get(&g.id) == Some(n))
                .count()
        })
        .collect();
    let victim = (0..NODES).max_by_key(|v| owned_counts[*v]).expect("nodes");
    let victim_id = node_ids[victim].clone();
    eprintln!(
        "[kill] {} games set up in {:?}; games owned per node {owned_counts:?}; victim {victim_id}",
        games.len(),
        began.elapsed()
    );

    // Play until every game is in the middle.
    let progress: Arc<Vec<AtomicUsize>> =
        Arc::new((0..KILL_GAMES).map(|_| AtomicUsize::new(0)).collect());
    let killed = Arc::new(AtomicBool::new(false));
    let drivers: Vec<_> = games
        .into_iter()
        .map(|g| {
            (
                g.index,
                tokio::spawn(drive(ctx.clone(), g, progress.clone(), killed.clone())),
            )
        })
        .collect();
    let deadline = Instant::now() + STEP;
    while !drivers
        .iter()
        .all(|(i, d)| d.is_finished() || progress[*i].load(Ordering::SeqCst) >= MOVES_BEFORE_KILL)
    {
        assert!(
            Instant::now() < deadline,
            "the games did not reach {MOVES_BEFORE_KILL} moves each within {STEP:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Kill the victim.
    let owners_at_kill = cluster.owners().await;
    let killed_at_ms = wall_ms();
    let killed_at = Instant::now();
    cluster.nodes[victim].sigkill();
    killed.store(true, Ordering::SeqCst);
    let moves_before: usize = progress.iter().map(|p| p.load(Ordering::SeqCst)).sum();
    eprintln!(
        "[kill] SIGKILL {victim_id} after {moves_before} acknowledged moves; it owned {} games",
        owners_at_kill.values().filter(|o| **o == victim_id).count()
    );

    // Everything plays to its end.
    let mut games = Vec::new();
    let mut failures = Vec::new();
    for (_, d) in drivers {
        let (game, result) = tokio::time::timeout(FINISH, d)
            .await
            .expect("every game finishes in time")
            .expect("a driver does not panic");
        if let Err(e) = result {
            failures.push(format!("game {}: {e}", game.describe()));
        }
        games.push(game);
    }
    assert!(
        failures.is_empty(),
        "games failed:\n{}",
        failures.join("\n")
    );
    games.sort_by_key(|g| g.index);

    // The journal and every client's stream, per game.
    let mut takeovers = Vec::new();
    let mut failovers = Vec::new();
    let mut returned = 0;
    let mut chat_entries = 0;
    let mut problems = Vec::new();
    for game in &mut games {
        let verified = match verify(&ctx, game).await {
            Ok(v) => v,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        match verify_chat(&ctx, game).await {
            Ok(n) => chat_entries += n,
            Err(e) => problems.push(e),
        }
        let seats = verified.view["participants"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if seats.len() != 2 || seats.iter().any(|p| p["connected"] != true) {
            problems.push(format!(
                "game {}: every player is connected, yet the owner reports {seats:?}",
                game.describe()
            ));
        }
        let resumed: Vec<&Value> = verified
            .events
            .iter()
            .filter(|e| e["event"]["type"] == "resumed")
            .collect();
        let owned = owners_at_kill.get(&game.id) == Some(&victim_id);
        let after_kill: Vec<&Value> = verified
            .events
            .iter()
            .filter(|e| at_ms(e) > killed_at_ms)
            .collect();
        if !owned {
            if !resumed.is_empty() {
                problems.push(format!(
                    "game {}: not owned by the killed node, yet resumed: {resumed:?}",
                    game.describe()
                ));
            }
            continue;
        }
        let Some(first) = after_kill.first() else {
            continue; // over before the kill
        };
        if first["event"]["type"] != "resumed" || resumed.len() != 1 {
            problems.push(format!(
                "game {}: the killed node's game must resume once, first thing after the kill; \
                 events after the kill: {after_kill:?}",
                game.describe()
            ));
            continue;
        }
        let resumed_seq = first["seq"].as_u64().unwrap_or(0);
        // Presence across the takeover: nobody's presence survives a crash, so `resumed` holds
        // every seat; each player's feed reports them back (`player_returned`), unless the
        // player's own move cleared the hold first.
        returned += after_kill
            .iter()
            .filter(|e| e["event"]["type"] == "player_returned")
            .count();
        takeovers.push(Duration::from_millis(
            (at_ms(first) - killed_at_ms).max(0) as u64
        ));
        // The first move the new owner acknowledged.
        let first_ack = game
            .acked
            .iter()
            .zip(&game.records)
            .find(|(a, _)| a.seq > resumed_seq)
            .map(|(_, r)| r.acked.duration_since(killed_at));
        if let Some(t) = first_ack {
            failovers.push((game.index, t));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Failover time.
    assert!(
        !failovers.is_empty(),
        "no game of the killed node moved after the kill"
    );
    failovers.sort_by_key(|(_, t)| *t);
    takeovers.sort();
    let worst = failovers.last().expect("not empty").1;
    let lease = lease_ttl_ms();
    let limit = Duration::from_millis(lease) + FAILOVER_MARGIN;
    let reconnected: usize = games
        .iter()
        .flat_map(|g| g.clients())
        .filter(|c| c.resubscribes() > 0)
        .count();
    let retried: usize = games
        .iter()
        .flat_map(|g| &g.records)
        .filter(|r| r.attempts > 1)
        .count();
    let duplicates: usize = games.iter().map(|g| g.duplicates).sum();
    let moves: usize = games.iter().map(|g| g.acked.len()).sum();
    eprintln!(
        "[kill] {} games finished, {moves} acknowledged moves, each exactly once in the journal; \
         {reconnected} clients reconnected and resumed by seq without gap or duplicate; {retried} \
         moves retried with the same client_move_id ({duplicates} answered as duplicates)",
        games.len()
    );
    let chats: usize = games.iter().map(|g| g.chats.len()).sum();
    let chats_after: usize = games
        .iter()
        .flat_map(|g| &g.chats)
        .filter(|(_, _, text)| text.ends_with("after the kill"))
        .count();
    let chats_unknown: usize = games.iter().map(|g| g.chats_unknown).sum();
    eprintln!(
        "[kill] chat: {chats} acknowledged messages ({chats_after} of them sent after the kill) \
         each stored once and received by both players, gap-free across reconnections ({chat_entries} \
         room entries in all, system notes included); {chats_unknown} sends lost with their \
         connection"
    );
    eprintln!(
        "[kill] presence: every player is `connected` in every game at the end (their feeds \
         report to the new owners); {returned} `player_returned` after the takeovers"
    );
    eprintln!(
        "[kill] takeover (kill → `resumed` committed) over {} games: min {:?}, max {:?}",
        takeovers.len(),
        takeovers.first().copied().unwrap_or_default(),
        takeovers.last().copied().unwrap_or_default(),
    );
    eprintln!(
        "[kill] FAILOVER (kill → first move acknowledged by the new owner) over {} games: min \
         {:?}, median {:?}, max {worst:?} (lease {lease} ms; limit {limit:?}); total \
         {:?}",
        failovers.len(),
        failovers[0].1,
        failovers[failovers.len() / 2].1,
        began.elapsed()
    );
    assert!(
        worst <= limit,
        "failover took {worst:?} (game #{}), more than the lease ({lease} ms) plus \
         {FAILOVER_MARGIN:?}; all: {failovers:?}",
        failovers.last().expect("not empty").0
    );
    assert!(
        reconnected > 0,
        "no client had to reconnect: was the victim serving any?"
    );

    for g in &mut games {
        g.close();
    }
    cluster.finish().await;
}

// ---------------------------------------------------------------------------------------------
// Presence when a node dies
// ---------------------------------------------------------------------------------------------

/// A game owned by node 1, its players on nodes 2 (the one that dies) and 3, and a spectator
/// on node 1. When node 2 is SIGKILLed, the owner must report its player away
/// (`player_left`) within the presence expiry, and back (`player_returned`) once they
/// reconnect elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_nodes_players_are_reported_away_and_back() {
    let Some(pre) = prerequisites("a_dead_nodes_players_are_reported_away_and_back") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start("presence", &pre).await;
    let ctx = cluster.ctx();
    let tokens = register_all(&ctx, "pres", 3).await;
    // Created and joined through node 1 directly: node 1 starts the game's actor and owns it.
    let owner_ctx = Ctx {
        lb: cluster.nodes[0].url(),
        ..ctx.clone()
    };
    let id = create_game(&owner_ctx, &tokens[0], "chess", "presence", true)
        .await
        .unwrap_or_else(|e| panic!("create: {e:?}"));
    join(&owner_ctx, &tokens[1], &id)
        .await
        .unwrap_or_else(|e| panic!("join: {e:?}"));
    let owners = cluster.owners().await;
    assert_eq!(
        owners.get(&id),
        Some(&cluster.nodes[0].id),
        "node 1 owns the game"
    );
    let ws: Vec<String> = cluster.nodes.iter().map(Node::ws_url).collect();
    let mut away = Client::new("seat0".into(), &tokens[0], &id, &ws[1], &ctx.lb_ws);
    let mut opponent = Client::new("seat1".into(), &tokens[1], &id, &ws[2], &ctx.lb_ws);
    let mut spectator = Client::new("spectator".into(), &tokens[2], &id, &ws[0], &ctx.lb_ws);
    for c in [&mut away, &mut opponent, &mut spectator] {
        c.ensure_connected()
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
    }
    // Both players present for a few refreshes.
    tokio::time::sleep(Duration::from_millis(4 * PRESENCE_REFRESH_MS)).await;
    let seen = opponent.events_len();
    let killed_at = Instant::now();
    cluster.nodes[1].sigkill();
    let expiry = Duration::from_millis(3 * PRESENCE_REFRESH_MS);
    let within = expiry + Duration::from_millis(2 * PRESENCE_REFRESH_MS) + Duration::from_secs(1);
    let left = opponent
        .wait_for_event(seen, within, |e| {
            e["type"] == "player_left" && e["seat"] == 0
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the opponent was not told that seat 0 left within {within:?} of its node's \
                 death (presence expiry {expiry:?}): {e}"
            )
        });
    eprintln!(
        "[presence] `player_left` {:?} after the kill",
        left.duration_since(killed_at)
    );
    let seen = opponent.events_len();
    let reconnected_at = Instant::now();
    away.ensure_connected()
        .await
        .unwrap_or_else(|e| panic!("reconnecting seat 0: {e}"));
    let back = opponent
        .wait_for_event(seen, Duration::from_secs(3), |e| {
            e["type"] == "player_returned" && e["seat"] == 0
        })
        .await
        .unwrap_or_else(|e| panic!("seat 0 came back but was not reported: {e}"));
    eprintln!(
        "[presence] `player_returned` {:?} after seat 0 reconnected through nginx",
        back.duration_since(reconnected_at)
    );
    for c in [&away, &opponent, &spectator] {
        let s = c.stream.lock().unwrap();
        assert!(s.problems.is_empty(), "{}: {:?}", c.label, s.problems);
    }
    drop((away, opponent, spectator));
    cluster.finish().await;
}

/// A node asked to stop drains in well under its grace period, even after a subscription on
/// it failed (here: to a game that does not exist).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drain_is_not_held_up_by_a_failed_subscription() {
    let Some(pre) = prerequisites("a_drain_is_not_held_up_by_a_failed_subscription") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start("drain", &pre).await;
    let ctx = cluster.ctx();
    let tokens = register_all(&ctx, "drain", 1).await;
    let missing = "00000000-0000-4000-8000-000000000000";
    let mut client = Client::new(
        "subscriber".into(),
        &tokens[0],
        missing,
        &cluster.nodes[0].ws_url(),
        &ctx.lb_ws,
    );
    match client.connect().await {
        Err(Failure::Fatal(e)) if e.contains("not_found") => {}
        other => panic!("subscribing to a missing game must fail with not_found: {other:?}"),
    }
    drop(client);
    let node = &mut cluster.nodes[0];
    let t0 = Instant::now();
    node.sigterm();
    let status = node.wait_exit(cluster_grace() + STEP).await;
    let drained = t0.elapsed();
    eprintln!("[drain] exited with {status} {drained:?} after SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert!(
        drained < cluster_grace() / 2,
        "the drain took {drained:?}: it ran into the shutdown grace period ({:?})",
        cluster_grace()
    );
    cluster.finish().await;
}

/// Plays `game` to its end (reconnecting its clients as needed).
/// Both players chat after the second move (before the kill) and once more after the kill.
async fn drive(
    ctx: Ctx,
    mut game: Game,
    progress: Arc<Vec<AtomicUsize>>,
    killed: Arc<AtomicBool>,
) -> (Game, Result<(), String>) {
    let result = async {
        let mut chatted_after_kill = false;
        while !game.rules.status().is_finished() {
            game.keep_connected().await?;
            if killed.load(Ordering::SeqCst) && !chatted_after_kill {
                game.chat("still here after the kill").await?;
                chatted_after_kill = true;
            }
            play_move(&ctx, &mut game).await?;
            if game.acked.len() == 2 {
                game.chat("good luck").await?;
            }
            if let Some(p) = progress.get(game.index) {
                p.store(game.acked.len(), Ordering::SeqCst);
            }
            tokio::time::sleep(game.think).await;
        }
        Ok(())
    }
    .await;
    (game, result)
}

// ---------------------------------------------------------------------------------------------
// The rolling restart test
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_under_load_fails_no_game() {
    let Some(pre) = prerequisites("a_rolling_restart_under_load_fails_no_game") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let mut cluster = Cluster::start("rolling", &pre).await;
    let ctx = cluster.ctx();
    let tokens = register_all(&ctx, "roll", 2 * TABLES).await;

    let stop = Arc::new(AtomicBool::new(false));
    let progress: Arc<Vec<AtomicUsize>> =
        Arc::new((0..TABLES).map(|_| AtomicUsize::new(0)).collect());
    let load_started = Instant::now();
    let tables: Vec<_> = (0..TABLES)
        .map(|t| {
            tokio::spawn(table(
                ctx.clone(),
                t,
                [tokens[2 * t].clone(), tokens[2 * t + 1].clone()],
                stop.clone(),
                progress.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + STEP;
    while !progress.iter().all(|p| p.load(Ordering::SeqCst) >= 2) {
        if tables.iter().any(|t| t.is_finished()) {
            break; // a table failed: reported below
        }
        assert!(
            Instant::now() < deadline,
            "the tables did not start playing within {STEP:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Stop, restart and wait for each node in turn. Between nodes, wait until nginx has
    // forgotten the failures it saw while the node was down (its passive health check).
    let settle = nginx_fail_timeout() + Duration::from_millis(500);
    let mut windows = Vec::new();
    for i in 0..NODES {
        if tables.iter().any(|t| t.is_finished()) {
            break;
        }
        let node = &mut cluster.nodes[i];
        let t0 = Instant::now();
        node.sigterm();
        let status = node.wait_exit(STEP).await;
        let drained = t0.elapsed();
        assert!(
            status.success(),
            "node {} exited with {status} after SIGTERM",
            node.id
        );
        node.start();
        let http = ctx.http.clone();
        node.wait_ready(&http).await;
        let back = t0.elapsed();
        eprintln!(
            "[rolling] {}: drained and exited 0 in {drained:?}; ready again {back:?} after SIGTERM",
            node.id
        );
        if drained >= cluster_grace() {
            // See a_drain_is_not_held_up_by_a_failed_subscription.
            eprintln!(
                "[rolling] WARNING: {}'s drain ran into the shutdown grace period ({:?})",
                node.id,
                cluster_grace()
            );
        }
        windows.push((node.id.clone(), t0, t0 + drained, t0 + back));
        tokio::time::sleep(settle).await;
    }
    stop.store(true, Ordering::SeqCst);

    let mut failures = Vec::new();
    let mut played: Vec<TableGame> = Vec::new();
    for (t, handle) in tables.into_iter().enumerate() {
        match tokio::time::timeout(FINISH, handle).await {
            Err(_) => failures.push(format!("table {t} did not finish within {FINISH:?}")),
            Ok(Err(e)) => failures.push(format!("table {t} panicked: {e}")),
            Ok(Ok(Err(e))) => failures.push(format!("table {t}: {e}")),
            Ok(Ok(Ok(games))) => played.extend(games),
        }
    }
    let load_time = load_started.elapsed();
    assert!(
        failures.is_empty(),
        "failed games:\n{}",
        failures.join("\n")
    );
    assert_eq!(windows.len(), NODES, "every node was restarted");

    let moves: usize = played.iter().map(|g| g.records.len()).sum();
    let all: Vec<&MoveRecord> = played.iter().flat_map(|g| &g.records).collect();
    let mut latencies: Vec<Duration> = all.iter().map(|r| r.latency()).collect();
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    eprintln!(
        "[rolling] {} games on {TABLES} tables, all finished and verified; {moves} acknowledged \
         moves in {load_time:?} ({:.0} moves/s through nginx, paced by the players); move \
         latency p50 {:?}, p99 {:?}, max {:?}",
        played.len(),
        moves as f64 / load_time.as_secs_f64(),
        pct(50),
        pct(99),
        latencies.last().copied().unwrap_or_default()
    );
    for (id, t0, exited, ready) in &windows {
        let during: Vec<&&MoveRecord> = all
            .iter()
            .filter(|r| r.sent < *ready && r.acked > *t0)
            .collect();
        let worst = during.iter().map(|r| r.latency()).max().unwrap_or_default();
        let retried = during.iter().filter(|r| r.attempts > 1).count();
        eprintln!(
            "[rolling] {id}: drain {:?}, back {:?}; {} moves overlapped it, {retried} retried; \
             worst move latency {worst:?}",
            exited.duration_since(*t0),
            ready.duration_since(*t0),
            during.len()
        );
    }
    let mut slow: Vec<&&MoveRecord> = all
        .iter()
        .filter(|r| r.latency() > Duration::from_secs(1))
        .collect();
    slow.sort_by_key(|r| Reverse(r.latency()));
    for r in slow.iter().take(5) {
        eprintln!(
            "[rolling] slow move {} (game {}): {:?}, sent {:?} after the load started, {} attempts: {:?}",
            r.cmid,
            r.game,
            r.latency(),
            r.sent.duration_since(load_started),
            r.attempts,
            r.retries
        );
    }
    for (id, t0, _, _) in &windows {
        eprintln!(
            "[rolling] {id} stopped {:?} after the load started",
            t0.duration_since(load_started)
        );
    }
    for node in &cluster.nodes {
        eprintln!(
            "[rolling] {} (since its restart): {}",
            node.id,
            node.journal_stats(&ctx.http).await
        );
    }
    let closes: usize = played.iter().map(|g| g.going_away).sum();
    let reconnects: usize = played.iter().map(|g| g.resubscribes).sum();
    let duplicates: usize = played.iter().map(|g| g.duplicates).sum();
    eprintln!(
        "[rolling] clients got {closes} `going away` (1001) closes and resumed {reconnects} times \
         through nginx; {duplicates} retried moves were answered as duplicates; total {:?}",
        began.elapsed()
    );
    cluster.finish().await;
}

/// One finished game of a table, for the report.
struct TableGame {
    records: Vec<MoveRecord>,
    going_away: usize,
    resubscribes: usize,
    duplicates: usize,
}

/// Two players play game after game through nginx until `stop`, then finish the current one.
/// Every game is verified when it ends.
async fn table(
    ctx: Ctx,
    t: usize,
    tokens: [String; 2],
    stop: Arc<AtomicBool>,
    progress: Arc<Vec<AtomicUsize>>,
) -> Result<Vec<TableGame>, String> {
    let mut done = Vec::new();
    let mut n = 0;
    while n == 0 || !stop.load(Ordering::SeqCst) {
        let index = t * 1000 + n;
        let kind = KINDS[(t + n) % 3];
        let timed = (t + n).is_multiple_of(2);
        let name = format!("table {t} game {n}");
        let id = retrying(&format!("create game {index}"), || {
            create_game(&ctx, &tokens[0], kind, &name, timed)
        })
        .await?;
        retrying(&format!("join game {index}"), || {
            join(&ctx, &tokens[1], &id)
        })
        .await?;
        let players = [
            Client::new(
                format!("t{t}g{n}/seat0"),
                &tokens[0],
                &id,
                &ctx.lb_ws,
                &ctx.lb_ws,
            ),
            Client::new(
                format!("t{t}g{n}/seat1"),
                &tokens[1],
                &id,
                &ctx.lb_ws,
                &ctx.lb_ws,
            ),
        ];
        let mut game = Game::new(
            index,
            id,
            kind,
            timed,
            t % 2 == 1,
            tokens.clone(),
            players,
            None,
            Duration::from_millis(20),
        );
        while !game.rules.status().is_finished() {
            game.keep_connected().await?;
            play_move(&ctx, &mut game).await?;
            progress[t].fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(game.think).await;
        }
        verify(&ctx, &mut game).await?;
        let going_away = game.clients().map(Client::going_away).sum();
        let resubscribes = game.clients().map(Client::resubscribes).sum();
        done.push(TableGame {
            going_away,
            resubscribes,
            duplicates: game.duplicates,
            records: std::mem::take(&mut game.records),
        });
        game.close();
        n += 1;
    }
    Ok(done)
}

/// Retries `op` (a request through nginx that may meet a draining node) until it succeeds,
/// fails for good, or [`STEP`] passes.
async fn retrying<T, F, Fut>(what: &str, mut op: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let deadline = Instant::now() + STEP;
    let mut why = Vec::new();
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(Failure::Retry(e)) => why.push(e),
            Err(Failure::Fatal(e)) => return Err(format!("{what}: {e}")),
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: no success within {STEP:?}: {why:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The deploy files
// ---------------------------------------------------------------------------------------------

#[test]
fn the_deploy_files_are_valid() {
    // The env file: the settings a node behind nginx needs, all valid for the binary.
    let env = env_file(&deploy_path("node.env.example"));
    let get = |k: &str| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("deploy/node.env.example sets {k}"))
    };
    for key in [
        "VERSUS_DATABASE_URL",
        "VERSUS_NATS_URL",
        "VERSUS_NODE_ID",
        "VERSUS_LISTEN",
    ] {
        get(key);
    }
    assert_eq!(get("VERSUS_TRUST_FORWARDED_FOR"), "true");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = versus_command();
    cmd.arg("check-config")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("VERSUS_DATA_DIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = cmd.output().expect("versus check-config runs");
    assert!(
        out.status.success(),
        "versus check-config refuses deploy/node.env.example: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The unit: SIGTERM drains, and systemd waits longer than a drain may take.
    let unit = std::fs::read_to_string(deploy_path("systemd/versus@.service")).unwrap();
    let value = |k: &str| {
        unit.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("versus@.service sets {k}"))
            .trim()
            .to_string()
    };
    assert_eq!(value("KillSignal"), "SIGTERM");
    assert!(value("EnvironmentFile").contains("%i"));
    let stop_secs: u64 = value("TimeoutStopSec")
        .parse()
        .expect("TimeoutStopSec in seconds");
    let grace: u64 = get("VERSUS_SHUTDOWN_GRACE_SECONDS").parse().unwrap();
    assert!(
        stop_secs > 2 * grace,
        "TimeoutStopSec ({stop_secs}) must exceed twice VERSUS_SHUTDOWN_GRACE_SECONDS ({grace})"
    );

    // The nginx template, filled in, passes `nginx -t` (when nginx is installed).
    let nginx = nginx_path();
    if !nginx.is_file() {
        if std::env::var_os("CI").is_some() {
            panic!("nginx is not at {} but CI is set", nginx.display());
        }
        eprintln!("skipping nginx -t: no nginx at {}", nginx.display());
        return;
    }
    let prefix = dir.path().join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        nginx_config(
            &prefix,
            "127.0.0.1:8080",
            &["127.0.0.1:8081".into(), "127.0.0.1:8082".into()],
        ),
    )
    .unwrap();
    let out = Command::new(&nginx)
        .arg("-t")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .output()
        .expect("nginx -t runs");
    assert!(
        out.status.success(),
        "nginx -t refuses the filled template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Games, moves and verification
// ---------------------------------------------------------------------------------------------

/// A game as the test plays it.
struct Game {
    index: usize,
    id: String,
    kind: &'static str,
    timed: bool,
    /// Moves over REST through nginx (else over the mover's WebSocket).
    rest: bool,
    tokens: [String; 2],
    players: [Client; 2],
    spectator: Option<Client>,
    /// The test's own copy of the rules: it chooses the moves and checks the position.
    rules: Box<dyn GameState>,
    /// Every acknowledged move, in order, and how it went.
    acked: Vec<Acked>,
    records: Vec<MoveRecord>,
    duplicates: usize,
    /// Chat messages acknowledged: (seat, seq, text).
    chats: Vec<(usize, u64, String)>,
    /// Chat messages whose outcome is unknown (their connection was lost).
    chats_unknown: usize,
    next_cmid: u64,
    think: Duration,
    rng: Rng,
}

#[derive(Debug, Clone)]
struct Acked {
    cmid: String,
    seat: usize,
    seq: u64,
    mv: Value,
}

/// One move's timing.
#[derive(Debug, Clone)]
struct MoveRecord {
    game: usize,
    cmid: String,
    sent: Instant,
    acked: Instant,
    attempts: usize,
    /// Why each failed attempt failed.
    retries: Vec<String>,
}

impl MoveRecord {
    fn latency(&self) -> Duration {
        self.acked.duration_since(self.sent)
    }
}

impl Game {
    #[allow(clippy::too_many_arguments)]
    fn new(
        index: usize,
        id: String,
        kind: &'static str,
        timed: bool,
        rest: bool,
        tokens: [String; 2],
        players: [Client; 2],
        spectator: Option<Client>,
        think: Duration,
    ) -> Game {
        Game {
            index,
            id,
            kind,
            timed,
            rest,
            tokens,
            players,
            spectator,
            rules: versus_rules::new_game(kind).expect("a known kind"),
            acked: Vec::new(),
            records: Vec::new(),
            duplicates: 0,
            chats: Vec::new(),
            chats_unknown: 0,
            next_cmid: 0,
            think,
            rng: Rng(0x5eed_c105_7e55 ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        }
    }

    fn describe(&self) -> String {
        format!(
            "#{} {} ({}{}, moves over {})",
            self.index,
            self.id,
            self.kind,
            if self.timed { ", timed" } else { "" },
            if self.rest { "REST" } else { "WebSocket" }
        )
    }

    fn clients(&self) -> impl Iterator<Item = &Client> {
        self.players.iter().chain(self.spectator.as_ref())
    }

    fn clients_mut(&mut self) -> impl Iterator<Item = &mut Client> {
        self.players.iter_mut().chain(self.spectator.as_mut())
    }

    /// (Re)connects every client whose connection is gone (resuming by seq).
    async fn keep_connected(&mut self) -> Result<(), String> {
        for c in self.clients_mut() {
            c.ensure_connected().await?;
        }
        Ok(())
    }

    /// Both players say something in the players' room.
    async fn chat(&mut self, what: &str) -> Result<(), String> {
        for seat in 0..2 {
            let text = format!("g{} seat {seat}: {what}", self.index);
            match self.players[seat].send_chat(&text).await? {
                Some(seq) => self.chats.push((seat, seq, text)),
                None => self.chats_unknown += 1,
            }
        }
        Ok(())
    }

    fn close(&mut self) {
        for c in self.clients_mut() {
            c.conn = None;
        }
    }
}

/// Plays one random legal move for the side to move, retrying it with the same
/// `client_move_id` until it is acknowledged.
async fn play_move(ctx: &Ctx, game: &mut Game) -> Result<(), String> {
    let Some(seat) = game.rules.status().to_move() else {
        return Ok(());
    };
    let legal = game.rules.legal_moves();
    let mv = legal[game.rng.below(legal.len())].clone();
    let cmid = format!("g{}-m{}", game.index, game.next_cmid);
    game.next_cmid += 1;
    let sent = Instant::now();
    let mut attempts = 0;
    let mut retries = Vec::new();
    let ack = loop {
        attempts += 1;
        let result = if game.rest {
            rest_move(ctx, &game.id, &game.tokens[seat], &cmid, &mv).await
        } else {
            game.players[seat].send_move(&cmid, &mv).await
        };
        match result {
            Ok(ack) => break ack,
            Err(Failure::Retry(why)) => {
                retries.push(why);
                if sent.elapsed() > MOVE_DEADLINE {
                    return Err(format!(
                        "move {cmid} not acknowledged within {MOVE_DEADLINE:?}: {retries:?}"
                    ));
                }
                let backoff = 25 * (1 << retries.len().min(4)) as u64;
                tokio::time::sleep(Duration::from_millis(backoff)).await;
            }
            Err(Failure::Fatal(e)) => {
                return Err(format!(
                    "move {cmid} {mv}: {e} (earlier tries: {retries:?})"
                ));
            }
        }
    };
    let canonical = game
        .rules
        .apply(seat, &mv)
        .map_err(|e| format!("the test's own move {mv} is illegal: {e}"))?;
    if ack.cmid != cmid || ack.mv != canonical {
        return Err(format!("the ack of {cmid} {canonical} is {ack:?}"));
    }
    if ack.duplicate {
        if attempts == 1 {
            return Err(format!(
                "a new move {cmid} was answered as a duplicate: {ack:?}"
            ));
        }
        game.duplicates += 1;
    }
    if let Some(prev) = game.acked.last()
        && ack.seq <= prev.seq
    {
        return Err(format!(
            "the ack of {cmid} has seq {} after {}",
            ack.seq, prev.seq
        ));
    }
    game.records.push(MoveRecord {
        game: game.index,
        cmid: cmid.clone(),
        sent,
        acked: Instant::now(),
        attempts,
        retries,
    });
    game.acked.push(Acked {
        cmid,
        seat,
        seq: ack.seq,
        mv: ack.mv,
    });
    Ok(())
}

/// What [`verify`] read from the server.
struct Verified {
    view: Value,
    events: Vec<Value>,
}

/// Checks a finished game against what the test was told: the journal holds exactly the
/// acknowledged moves, each once, at its acknowledged seq; the position is those moves
/// replayed; and every client received exactly the journal's events after its first
/// snapshot, in order, each once.
async fn verify(ctx: &Ctx, game: &mut Game) -> Result<Verified, String> {
    let what = game.describe();
    let view = ctx.get_json(&format!("/api/v1/games/{}", game.id)).await?;
    let body = ctx
        .get_json(&format!("/api/v1/games/{}/events?after=0", game.id))
        .await?;
    let events = body["events"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("game {what}: not an event list: {body}"))?;
    let last_seq = view["last_seq"].as_u64().unwrap_or(0);
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap_or(0))
        .collect();
    if seqs != (1..=last_seq).collect::<Vec<_>>() {
        return Err(format!(
            "game {what}: journal seqs are not 1..={last_seq}: {seqs:?}"
        ));
    }
    if view["state"] != "finished" {
        return Err(format!(
            "game {what}: state {} (expected finished)",
            view["state"]
        ));
    }
    let moved: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"]["type"] == "moved")
        .collect();
    let listed: Vec<String> = moved
        .iter()
        .map(|m| {
            m["event"]["client_move_id"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    let acked: Vec<String> = game.acked.iter().map(|a| a.cmid.clone()).collect();
    if listed != acked {
        return Err(format!(
            "game {what}: the journal's moves {listed:?} are not exactly the acknowledged ones \
             {acked:?}"
        ));
    }
    for (m, a) in moved.iter().zip(&game.acked) {
        let stored = (
            m["seq"].as_u64(),
            m["event"]["seat"].as_u64(),
            &m["event"]["move"],
        );
        if stored != (Some(a.seq), Some(a.seat as u64), &a.mv) {
            return Err(format!(
                "game {what}: acknowledged move {a:?} is stored as {m}"
            ));
        }
    }
    if view["moves"].as_array().map(Vec::len) != Some(game.acked.len()) {
        return Err(format!("game {what}: the view does not list every move"));
    }
    if view["position"] != game.rules.view() {
        return Err(format!(
            "game {what}: position {} is not the moves replayed ({})",
            view["position"],
            game.rules.view()
        ));
    }
    for c in game.clients_mut() {
        c.caught_up(last_seq).await?;
        let stream = c.stream.lock().unwrap();
        if !stream.problems.is_empty() {
            return Err(format!(
                "game {what}: client {} saw: {:?}",
                c.label, stream.problems
            ));
        }
        let expected = &events[stream.base_seq as usize..];
        let same = stream.events.len() == expected.len()
            && stream.events.iter().zip(expected).all(|(got, want)| {
                ["game_id", "session_id", "seq", "at", "event"]
                    .iter()
                    .all(|k| got[*k] == want[*k])
            });
        if !same {
            return Err(format!(
                "game {what}: client {} received {:?} instead of the journal's {:?}",
                c.label,
                stream.events.iter().map(|e| &e["seq"]).collect::<Vec<_>>(),
                expected.iter().map(|e| &e["seq"]).collect::<Vec<_>>()
            ));
        }
    }
    Ok(Verified { view, events })
}

/// Checks a game's players' chat room: every acknowledged message is stored once, as sent, at
/// its acknowledged seq, and each player received exactly the room's entries after its first
/// subscription, in order, each once (across reconnections). Returns the room's size.
async fn verify_chat(ctx: &Ctx, game: &mut Game) -> Result<usize, String> {
    let what = game.describe();
    let page = ctx
        .get_json_as(
            &format!("/api/v1/games/{}/chat?room=players&limit=100", game.id),
            Some(&game.tokens[0]),
        )
        .await?;
    let entries = page["entries"].as_array().cloned().unwrap_or_default();
    let last = page["last_seq"].as_u64().unwrap_or(0);
    let first = entries.first().and_then(|e| e["seq"].as_u64()).unwrap_or(1);
    for (seat, seq, text) in &game.chats {
        let found: Vec<&Value> = entries
            .iter()
            .filter(|e| e["text"] == text.as_str())
            .collect();
        if found.len() != 1 || found[0]["seq"] != *seq {
            return Err(format!(
                "game {what}: chat message {text:?} of seat {seat}, acknowledged as seq {seq}, \
                 is stored as {found:?}"
            ));
        }
    }
    for c in game.players.iter_mut() {
        c.chat_caught_up(last).await?;
        let s = c.stream.lock().unwrap();
        if !s.problems.is_empty() {
            return Err(format!(
                "game {what}: client {} saw: {:?}",
                c.label, s.problems
            ));
        }
        if first > s.chat.base_seq + 1 {
            return Err(format!(
                "game {what}: the room has more entries than one page: {}",
                entries.len()
            ));
        }
        let want: Vec<&Value> = entries
            .iter()
            .filter(|e| e["seq"].as_u64().is_some_and(|q| q > s.chat.base_seq))
            .collect();
        let got: Vec<&Value> = s
            .chat
            .entries
            .iter()
            .filter(|e| e["seq"].as_u64().is_some_and(|q| q <= last))
            .collect();
        let same = want.len() == got.len()
            && want.iter().zip(&got).all(|(w, g)| {
                ["room", "seq", "kind", "text", "author"]
                    .iter()
                    .all(|k| w[*k] == g[*k])
            });
        if !same {
            return Err(format!(
                "game {what}: client {} received chat {:?} instead of the room's {:?}",
                c.label,
                got.iter()
                    .map(|e| (&e["seq"], &e["text"]))
                    .collect::<Vec<_>>(),
                want.iter()
                    .map(|e| (&e["seq"], &e["text"]))
                    .collect::<Vec<_>>()
            ));
        }
    }
    Ok(entries.len())
}

// ---------------------------------------------------------------------------------------------
// REST through nginx
// ---------------------------------------------------------------------------------------------

/// Why a request failed: `Retry` when it may be repeated (the node died, drained or answered
/// 503; nginx answered 502/504), `Fatal` when the answer is wrong.
#[derive(Debug)]
enum Failure {
    Retry(String),
    Fatal(String),
}

/// A move acknowledgement (REST `MoveAck` or WebSocket `move_ack`).
#[derive(Debug, Clone)]
struct Ack {
    seq: u64,
    cmid: String,
    mv: Value,
    duplicate: bool,
}

fn parse_ack(v: &Value) -> Result<Ack, Failure> {
    let bad = || Failure::Fatal(format!("not a move ack: {v}"));
    Ok(Ack {
        seq: v["seq"].as_u64().ok_or_else(bad)?,
        cmid: v["client_move_id"].as_str().ok_or_else(bad)?.to_string(),
        mv: v["move"].clone(),
        duplicate: v["duplicate"].as_bool().ok_or_else(bad)?,
    })
}

/// The test's way to the cluster: nginx's HTTP and WebSocket addresses.
#[derive(Clone)]
struct Ctx {
    http: reqwest::Client,
    lb: String,
    lb_ws: String,
}

impl Ctx {
    /// GET through nginx, retried while nodes come and go.
    async fn get_json(&self, path: &str) -> Result<Value, String> {
        self.get_json_as(path, None).await
    }

    /// GET through nginx with a bearer token (when given), retried while nodes come and go.
    async fn get_json_as(&self, path: &str, token: Option<&str>) -> Result<Value, String> {
        retrying(&format!("GET {path}"), || async move {
            let mut req = self.http.get(format!("{}{path}", self.lb));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| Failure::Retry(e.to_string()))?;
            let status = resp.status();
            let text = resp
                .text()
                .await
                .map_err(|e| Failure::Retry(e.to_string()))?;
            match status.as_u16() {
                200 => serde_json::from_str(&text).map_err(|e| Failure::Fatal(e.to_string())),
                502..=504 => Err(Failure::Retry(format!("{status}: {text}"))),
                _ => Err(Failure::Fatal(format!("{status}: {text}"))),
            }
        })
        .await
    }

    /// POST with a bearer token; the status and the JSON body (`Null` when none).
    async fn post(
        &self,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Failure> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.lb))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::Retry(format!("POST {path}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| Failure::Retry(format!("POST {path}: {e}")))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (502..=504).contains(&status) {
            return Err(Failure::Retry(format!("POST {path}: {status}: {text}")));
        }
        Ok((status, value))
    }
}

async fn register_all(ctx: &Ctx, prefix: &str, n: usize) -> Vec<String> {
    futures_util::future::join_all((0..n).map(|i| async move {
        let username = format!("{prefix}-p{i}");
        let body = json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": PASSWORD,
        });
        let resp = ctx
            .http
            .post(format!("{}/api/v1/auth/register", ctx.lb))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("register {username}: {e}"));
        let status = resp.status();
        let body: Value = resp.json().await.expect("a JSON body");
        assert_eq!(status, 201, "register {username}: {body}");
        body["token"].as_str().expect("a token").to_string()
    }))
    .await
}

async fn create_game(
    ctx: &Ctx,
    token: &str,
    kind: &str,
    name: &str,
    timed: bool,
) -> Result<String, Failure> {
    let time_control = if timed {
        json!({ "initial_seconds": 600, "increment_seconds": 2 })
    } else {
        Value::Null
    };
    let body = json!({
        "kind": kind,
        "name": name,
        "settings": { "creator_seat": "first", "time_control": time_control },
    });
    match ctx.post("/api/v1/games", token, Some(&body)).await? {
        (201, v) => v["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Failure::Fatal(format!("no id in {v}"))),
        (503, v) => Err(Failure::Retry(format!("create: 503 {v}"))),
        (s, v) => Err(Failure::Fatal(format!("create: {s} {v}"))),
    }
}

/// Takes the second seat. A retry of a join that did land is answered `already_seated`.
async fn join(ctx: &Ctx, token: &str, game_id: &str) -> Result<(), Failure> {
    match ctx
        .post(&format!("/api/v1/games/{game_id}/join"), token, None)
        .await?
    {
        (200, _) => Ok(()),
        (409, v) if v["code"] == "already_seated" => Ok(()),
        (503, v) => Err(Failure::Retry(format!("join: 503 {v}"))),
        (s, v) => Err(Failure::Fatal(format!("join: {s} {v}"))),
    }
}

async fn rest_move(
    ctx: &Ctx,
    game_id: &str,
    token: &str,
    cmid: &str,
    mv: &Value,
) -> Result<Ack, Failure> {
    let body = json!({ "move": mv, "client_move_id": cmid });
    match ctx
        .post(
            &format!("/api/v1/games/{game_id}/moves"),
            token,
            Some(&body),
        )
        .await?
    {
        (200, v) => parse_ack(&v),
        (503, v) if v["code"] == "unavailable" || v["code"] == "overloaded" => {
            Err(Failure::Retry(format!("503 {}", v["code"])))
        }
        (s, v) => Err(Failure::Fatal(format!("{s} {v}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket clients
// ---------------------------------------------------------------------------------------------

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What one client received of its game, checked as it arrives.
#[derive(Debug, Default)]
struct Stream {
    subscribed: bool,
    session: Option<String>,
    /// `last_seq` of the first subscription (its snapshot): events after it are expected.
    base_seq: u64,
    last_seq: u64,
    /// Every event received, in order.
    events: Vec<Value>,
    /// Gaps, duplicates, unexpected resyncs: anything here fails the test.
    problems: Vec<String>,
    resubscribes: usize,
    going_away: usize,
    /// The chat room followed on the same connection, checked the same way.
    chat: ChatStream,
}

/// What one client received of a chat room.
#[derive(Debug, Default)]
struct ChatStream {
    subscribed: bool,
    /// The room's `last_seq` at the first subscription: entries after it are expected.
    base_seq: u64,
    last_seq: u64,
    entries: Vec<Value>,
}

impl Stream {
    fn on_chat_subscribed(&mut self, v: &Value) {
        let last = v["last_seq"].as_u64().unwrap_or(0);
        if !self.chat.subscribed {
            self.chat.subscribed = true;
            self.chat.base_seq = last;
            self.chat.last_seq = last;
            return;
        }
        if v["resync"] != false {
            self.problems.push(format!(
                "resubscribing to chat since {} was not served entry by entry: {v}",
                self.chat.last_seq
            ));
        }
        // The entries missed since `since_seq`, then live ones.
        for e in v["entries"].as_array().cloned().unwrap_or_default() {
            self.on_chat(e);
        }
    }

    fn on_chat(&mut self, v: Value) {
        let seq = v["seq"].as_u64().unwrap_or(0);
        if seq != self.chat.last_seq + 1 {
            let what = if seq <= self.chat.last_seq {
                "duplicate"
            } else {
                "gap"
            };
            self.problems.push(format!(
                "chat {what}: entry seq {seq} after seq {}",
                self.chat.last_seq
            ));
        } else {
            self.chat.last_seq = seq;
            self.chat.entries.push(v);
        }
    }

    fn on_subscribed(&mut self, v: &Value) {
        let session = v["session_id"].as_str().map(str::to_string);
        let last = v["last_seq"].as_u64().unwrap_or(0);
        if !self.subscribed {
            self.subscribed = true;
            self.session = session;
            self.base_seq = last;
            self.last_seq = last;
            if v["snapshot"].is_null() {
                self.problems
                    .push(format!("first subscription without a snapshot: {v}"));
            }
            return;
        }
        self.resubscribes += 1;
        if v["resync"] != false || !v["snapshot"].is_null() {
            self.problems.push(format!(
                "resubscribing since {} was not served event by event: {v}",
                self.last_seq
            ));
        }
        if session != self.session {
            self.problems
                .push(format!("resubscribed to another session: {v}"));
        }
        if last < self.last_seq {
            self.problems.push(format!(
                "resubscribed at last_seq {last}, behind the {} already seen",
                self.last_seq
            ));
        }
    }

    fn on_event(&mut self, v: Value) {
        let seq = v["seq"].as_u64().unwrap_or(0);
        let session = v["session_id"].as_str().map(str::to_string);
        if session != self.session {
            self.problems
                .push(format!("an event of another session: {v}"));
        } else if seq != self.last_seq + 1 {
            let what = if seq <= self.last_seq {
                "duplicate"
            } else {
                "gap"
            };
            self.problems.push(format!(
                "{what}: event seq {seq} after seq {}",
                self.last_seq
            ));
        } else {
            self.last_seq = seq;
            self.events.push(v);
        }
    }
}

enum Incoming {
    Msg(Value),
    Closed,
}

struct Conn {
    sink: SplitSink<Ws, Message>,
    rx: mpsc::UnboundedReceiver<Incoming>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A player (or spectator) following one game over a WebSocket: the first connection goes to
/// `first_url`, every reconnection to `reconnect_url` (nginx), resuming with `since_seq`.
struct Client {
    label: String,
    token: String,
    game_id: String,
    first_url: String,
    reconnect_url: String,
    /// The node of the first connection, when it is a node.
    node: Option<usize>,
    /// A chat room to follow on the same connection (resumed by seq like the game).
    chat_room: Option<String>,
    stream: Arc<Mutex<Stream>>,
    conn: Option<Conn>,
    connects: usize,
    next_id: u64,
}

impl Client {
    fn new(
        label: String,
        token: &str,
        game_id: &str,
        first_url: &str,
        reconnect_url: &str,
    ) -> Client {
        Client {
            label,
            token: token.to_string(),
            game_id: game_id.to_string(),
            first_url: first_url.to_string(),
            reconnect_url: reconnect_url.to_string(),
            node: None,
            chat_room: None,
            stream: Arc::default(),
            conn: None,
            connects: 0,
            next_id: 0,
        }
    }

    fn on_node(mut self, node: usize) -> Client {
        self.node = Some(node);
        self
    }

    fn with_chat(mut self, room: String) -> Client {
        self.chat_room = Some(room);
        self
    }

    fn alive(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.reader.is_finished())
    }

    fn resubscribes(&self) -> usize {
        self.stream.lock().unwrap().resubscribes
    }

    fn going_away(&self) -> usize {
        self.stream.lock().unwrap().going_away
    }

    fn events_len(&self) -> usize {
        self.stream.lock().unwrap().events.len()
    }

    /// Connects (hello, subscribe — with `since_seq` after the first time) unless connected;
    /// retries for up to [`STEP`].
    async fn ensure_connected(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STEP;
        let mut why = Vec::new();
        while !self.alive() {
            match self.connect().await {
                Ok(()) => {}
                Err(Failure::Retry(e)) => why.push(e),
                Err(Failure::Fatal(e)) => return Err(format!("{}: {e}", self.label)),
            }
            if !self.alive() {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{}: cannot (re)connect within {STEP:?}: {why:?}",
                        self.label
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    async fn connect(&mut self) -> Result<(), Failure> {
        if let Some(mut old) = self.conn.take() {
            old.reader.abort();
            let _ = (&mut old.reader).await;
        }
        let url = if self.connects == 0 {
            &self.first_url
        } else {
            &self.reconnect_url
        };
        self.connects += 1;
        let (mut ws, _) =
            tokio::time::timeout(STEP, tokio_tungstenite::connect_async(url.as_str()))
                .await
                .map_err(|_| Failure::Retry(format!("{url}: the handshake timed out")))?
                .map_err(|e| Failure::Retry(format!("{url}: {e}")))?;
        let hello = json!({ "type": "hello", "protocol": 1, "token": self.token });
        ws.send(Message::text(hello.to_string()))
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        let welcome = loop {
            match tokio::time::timeout(STEP, ws.next()).await {
                Err(_) => return Err(Failure::Fatal("no welcome in time".into())),
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                    return Err(Failure::Retry("closed before welcome".into()));
                }
                Ok(Some(Ok(Message::Text(t)))) => {
                    break serde_json::from_str::<Value>(t.as_str()).unwrap_or(Value::Null);
                }
                Ok(Some(Ok(_))) => {}
            }
        };
        if welcome["type"] != "welcome" {
            return Err(Failure::Fatal(format!("hello answered with {welcome}")));
        }
        let (sink, stream) = ws.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(stream, self.stream.clone(), tx));
        self.conn = Some(Conn { sink, rx, reader });

        let id = self.fresh_id("sub");
        let mut msg = json!({ "type": "subscribe", "id": id, "game_id": self.game_id });
        {
            let s = self.stream.lock().unwrap();
            if s.subscribed {
                msg["since_seq"] = json!(s.last_seq);
                msg["session_id"] = json!(s.session);
            }
        }
        let reply = self.call(msg, &id).await?;
        match reply["type"].as_str() {
            Some("subscribed") => {}
            Some("error") if retryable(&reply) => {
                self.conn = None;
                return Err(Failure::Retry(format!("subscribe: {reply}")));
            }
            _ => return Err(Failure::Fatal(format!("subscribe answered with {reply}"))),
        }
        let Some(room) = self.chat_room.clone() else {
            return Ok(());
        };
        let id = self.fresh_id("chat");
        let mut msg = json!({ "type": "chat_subscribe", "id": id, "room": room });
        {
            let s = self.stream.lock().unwrap();
            if s.chat.subscribed {
                msg["since_seq"] = json!(s.chat.last_seq);
            }
        }
        let reply = self.call(msg, &id).await?;
        match reply["type"].as_str() {
            Some("chat_subscribed") => Ok(()),
            Some("error") if retryable(&reply) => {
                self.conn = None;
                Err(Failure::Retry(format!("chat_subscribe: {reply}")))
            }
            _ => Err(Failure::Fatal(format!(
                "chat_subscribe answered with {reply}"
            ))),
        }
    }

    /// Writes `text` to the client's chat room; the entry's seq once it is stored. A lost
    /// connection is not retried (the outcome is unknown: the message was sent at most once).
    async fn send_chat(&mut self, text: &str) -> Result<Option<u64>, String> {
        let room = self.chat_room.clone().expect("a chat room");
        let deadline = Instant::now() + STEP;
        loop {
            self.ensure_connected().await?;
            let id = self.fresh_id("say");
            let msg = json!({ "type": "chat_send", "id": id, "room": room, "text": text });
            match self.call(msg, &id).await {
                Ok(reply) if reply["type"] == "chat_ack" => return Ok(reply["seq"].as_u64()),
                // Refused, so not stored: safe to send again.
                Ok(reply) if retryable(&reply) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(reply) => {
                    return Err(format!("{}: chat_send answered with {reply}", self.label));
                }
                Err(Failure::Retry(_)) => return Ok(None),
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
    }

    fn fresh_id(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("{what}-{}", self.next_id)
    }

    /// Sends `msg` and waits for the reply carrying `id`.
    async fn call(&mut self, msg: Value, id: &str) -> Result<Value, Failure> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(Failure::Retry("not connected".into()));
        };
        if let Err(e) = conn.sink.send(Message::text(msg.to_string())).await {
            self.conn = None;
            return Err(Failure::Retry(format!("send: {e}")));
        }
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            match tokio::time::timeout_at(deadline, conn.rx.recv()).await {
                Err(_) => {
                    return Err(Failure::Fatal(format!(
                        "{}: no reply to {id} within {STEP:?}",
                        self.label
                    )));
                }
                Ok(None) | Ok(Some(Incoming::Closed)) => {
                    self.conn = None;
                    return Err(Failure::Retry(format!("{}: connection lost", self.label)));
                }
                Ok(Some(Incoming::Msg(v))) if v["id"] == id => return Ok(v),
                Ok(Some(Incoming::Msg(_))) => {}
            }
        }
    }

    async fn send_move(&mut self, cmid: &str, mv: &Value) -> Result<Ack, Failure> {
        if !self.alive() {
            self.connect().await?;
        }
        let msg = json!({
            "type": "move",
            "id": cmid,
            "game_id": self.game_id,
            "move": mv,
            "client_move_id": cmid,
        });
        let reply = self.call(msg, cmid).await?;
        match reply["type"].as_str() {
            Some("move_ack") => parse_ack(&reply),
            Some("error") if retryable(&reply) => Err(Failure::Retry(format!("{reply}"))),
            _ => Err(Failure::Fatal(format!("{reply}"))),
        }
    }

    /// Waits until an event after the first `from` ones matches `pred` (on the event body).
    async fn wait_for_event(
        &self,
        from: usize,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Instant, String> {
        let deadline = Instant::now() + within;
        loop {
            {
                let s = self.stream.lock().unwrap();
                if s.events.iter().skip(from).any(|e| pred(&e["event"])) {
                    return Ok(Instant::now());
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{}: the awaited event did not come within {within:?}; events: {:?}",
                        self.label,
                        s.events.iter().skip(from).collect::<Vec<_>>()
                    ));
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the client has every chat entry up to `last_seq` (reconnecting if needed).
    async fn chat_caught_up(&mut self, last_seq: u64) -> Result<(), String> {
        let deadline = Instant::now() + STEP;
        loop {
            if self.stream.lock().unwrap().chat.last_seq >= last_seq {
                return Ok(());
            }
            self.ensure_connected().await?;
            if Instant::now() >= deadline {
                let s = self.stream.lock().unwrap();
                return Err(format!(
                    "{}: has chat entries up to seq {} of {last_seq} after {STEP:?}",
                    self.label, s.chat.last_seq
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the client has every event up to `last_seq` (reconnecting if needed).
    async fn caught_up(&mut self, last_seq: u64) -> Result<(), String> {
        let deadline = Instant::now() + STEP;
        loop {
            if self.stream.lock().unwrap().last_seq >= last_seq {
                return Ok(());
            }
            self.ensure_connected().await?;
            if Instant::now() >= deadline {
                let s = self.stream.lock().unwrap();
                return Err(format!(
                    "{}: has events up to seq {} of {last_seq} after {STEP:?}; problems: {:?}",
                    self.label, s.last_seq, s.problems
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// 503-class answers a client should retry: the game is moving between nodes, or busy.
fn retryable(error: &Value) -> bool {
    error["code"] == "unavailable" || error["code"] == "overloaded"
}

/// Reads one connection: checks and records events, hands every other message to the caller.
async fn read_loop(
    mut stream: SplitStream<Ws>,
    state: Arc<Mutex<Stream>>,
    tx: mpsc::UnboundedSender<Incoming>,
) {
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(Message::Text(t)) => {
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                    state
                        .lock()
                        .unwrap()
                        .problems
                        .push(format!("not JSON: {t}"));
                    continue;
                };
                match v["type"].as_str() {
                    Some("event") => state.lock().unwrap().on_event(v),
                    Some("chat") => state.lock().unwrap().on_chat(v),
                    Some("chat_subscribed") => {
                        state.lock().unwrap().on_chat_subscribed(&v);
                        let _ = tx.send(Incoming::Msg(v));
                    }
                    Some("subscribed") => {
                        state.lock().unwrap().on_subscribed(&v);
                        let _ = tx.send(Incoming::Msg(v));
                    }
                    _ => {
                        let _ = tx.send(Incoming::Msg(v));
                    }
                }
            }
            Ok(Message::Close(frame)) => {
                if frame.is_some_and(|f| u16::from(f.code) == 1001) {
                    state.lock().unwrap().going_away += 1;
                }
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = tx.send(Incoming::Closed);
}

// ---------------------------------------------------------------------------------------------
// The cluster: nodes, nginx, database
// ---------------------------------------------------------------------------------------------

/// What the cluster tests need from the machine.
struct Prereqs {
    postgres: String,
    nats: String,
    nginx: PathBuf,
}

/// PostgreSQL, NATS and nginx, or `None` (with a message) to skip — a panic in CI.
fn prerequisites(test: &str) -> Option<Prereqs> {
    let ci = std::env::var_os("CI").is_some();
    let postgres = postgres_server_url()?;
    let nats = match std::env::var(NATS_URL_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            if ci {
                panic!("{NATS_URL_ENV} is not set, but CI is: the cluster tests must run in CI");
            }
            eprintln!("skipping {test}: set {NATS_URL_ENV} (e.g. nats://127.0.0.1:4222) to run it");
            return None;
        }
    };
    let nginx = nginx_path();
    if !nginx.is_file() {
        if ci {
            panic!(
                "nginx is not at {} (set {NGINX_ENV}), but CI is: the cluster tests must run in CI",
                nginx.display()
            );
        }
        eprintln!(
            "skipping {test}: no nginx at {} (install it, or set {NGINX_ENV})",
            nginx.display()
        );
        return None;
    }
    Some(Prereqs {
        postgres,
        nats,
        nginx,
    })
}

fn nginx_path() -> PathBuf {
    std::env::var_os(NGINX_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"))
}

/// The nodes' shutdown grace period (from the deploy example).
fn cluster_grace() -> Duration {
    let env = env_file(&deploy_path("node.env.example"));
    let secs = env
        .iter()
        .find(|(k, _)| k == "VERSUS_SHUTDOWN_GRACE_SECONDS")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(secs)
}

/// The `fail_timeout` of the template's HTTP upstream: how long nginx keeps a node out after
/// it failed.
fn nginx_fail_timeout() -> Duration {
    let template = std::fs::read_to_string(deploy_path("nginx/versus.conf")).unwrap();
    let secs = template
        .split("fail_timeout=")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("deploy/nginx/versus.conf sets fail_timeout=<n>s");
    Duration::from_secs(secs)
}

fn deploy_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(rel)
}

/// `KEY=VALUE` lines of an env file (systemd's EnvironmentFile format, without quoting tricks).
fn env_file(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: not KEY=VALUE: {l}", path.display()));
            (k.trim().to_string(), v.trim().trim_matches('"').to_string())
        })
        .collect()
}

/// `deploy/nginx/versus.conf` with its placeholders filled in (see its header).
fn nginx_config(prefix: &Path, listen: &str, nodes: &[String]) -> String {
    let template = std::fs::read_to_string(deploy_path("nginx/versus.conf")).unwrap();
    let prefix = prefix.to_str().expect("a UTF-8 path");
    let mut out = String::new();
    for line in template.lines() {
        let line = line
            .replace("{{PREFIX}}", prefix)
            .replace("{{LISTEN}}", listen);
        if line.contains("{{NODE}}") && !line.trim_start().starts_with('#') {
            for node in nodes {
                out.push_str(&line.replace("{{NODE}}", node));
                out.push('\n');
            }
        } else {
            out.push_str(&line.replace("{{NODE}}", "host:port"));
            out.push('\n');
        }
    }
    assert!(!out.contains("{{"), "a placeholder was left unfilled");
    out
}

/// The `versus` executable with no `VERSUS_*` variables inherited.
fn versus_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_versus"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("VERSUS_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("VERSUS_EMAIL_KEYS", versus_store::testing::TEST_EMAIL_KEYS);
    cmd.stdin(Stdio::null());
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// An event envelope's commit time.
fn at_ms(envelope: &Value) -> i64 {
    envelope["at"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map_or(0, |t| t.timestamp_millis())
}

/// One `versus` node. Killed (SIGKILL) when dropped.
struct Node {
    id: String,
    port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v1/ws", self.port)
    }

    /// Starts the binary (`versus serve`), appending its stderr to the node's log.
    fn start(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the node's log file");
        let child = versus_command()
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the versus binary starts");
        self.child = Some(child);
    }

    /// Waits until `/readyz` answers 200 and the process catches SIGTERM.
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("node {} exited at start: {status}", self.id);
            }
            if let Ok(r) = http.get(format!("{}/readyz", self.url())).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {} is not ready within {STEP:?}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The signal handler is installed just after the listener: wait for it, so that a
        // SIGTERM drains instead of killing (Linux: the caught-signals mask in /proc).
        let status = format!("/proc/{}/status", self.pid());
        loop {
            let Ok(text) = std::fs::read_to_string(&status) else {
                return;
            };
            let caught = text
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok());
            match caught {
                Some(mask) if mask & (1 << (15 - 1)) == 0 => {
                    assert!(
                        Instant::now() < deadline,
                        "node {} never caught SIGTERM",
                        self.id
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                _ => return,
            }
        }
    }

    /// The journal's group-commit figures from the node's `/metrics`.
    async fn journal_stats(&self, http: &reqwest::Client) -> String {
        let Ok(resp) = http.get(format!("{}/metrics", self.url())).send().await else {
            return "no metrics".into();
        };
        let text = resp.text().await.unwrap_or_default();
        let value = |name: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let commits = value("journal_commits_total");
        let entries = value("journal_batch_entries_sum");
        let seconds = value("journal_commit_duration_seconds_sum");
        format!(
            "{commits} journal commits of {:.2} entries on average, {:.2} ms each on average; \
             {} game events",
            entries / commits.max(1.0),
            1000.0 * seconds / commits.max(1.0),
            value("game_events_total")
        )
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn sigterm(&self) {
        if self.child.is_some() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid().to_string()])
                .status();
        }
    }

    /// Waits (polling) for the process to exit.
    async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("a running node");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not exit within {within:?}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.sigkill();
    }
}

/// Three nodes, nginx and a fresh database. On drop every process is stopped; when the test
/// is failing the logs are printed first.
struct Cluster {
    label: &'static str,
    nodes: Vec<Node>,
    nginx: Option<Child>,
    lb_port: u16,
    http: reqwest::Client,
    admin_url: String,
    db_url: String,
    dir: PathBuf,
    tmp: Option<tempfile::TempDir>,
}

impl Cluster {
    async fn start(label: &'static str, pre: &Prereqs) -> Cluster {
        let tmp = tempfile::Builder::new()
            .prefix("versus-cluster-")
            .tempdir()
            .expect("a temporary folder");
        let dir = tmp.path().to_path_buf();
        // nginx's workers (as `nobody` when the test runs as root) must reach their files.
        set_mode(&dir, 0o755);
        let db_url = fresh_postgres_database(&pre.postgres)
            .await
            .unwrap_or_else(|e| panic!("cannot create a PostgreSQL test database: {e}"));
        let base = env_file(&deploy_path("node.env.example"));
        let nodes = (0..NODES)
            .map(|i| {
                let id = format!("{label}-node{}", i + 1);
                let port = free_port();
                let data = dir.join(&id);
                std::fs::create_dir_all(&data).unwrap();
                let mut env: Vec<(String, String)> = base
                    .iter()
                    .filter(|(k, _)| k.starts_with("VERSUS_"))
                    .cloned()
                    .collect();
                let overrides = [
                    ("VERSUS_NODE_ID", id.clone()),
                    ("VERSUS_LISTEN", format!("127.0.0.1:{port}")),
                    ("VERSUS_DATA_DIR", data.display().to_string()),
                    ("VERSUS_DATABASE_URL", db_url.clone()),
                    ("VERSUS_NATS_URL", pre.nats.clone()),
                    (
                        "VERSUS_EMAIL_KEYS",
                        versus_store::testing::TEST_EMAIL_KEYS.to_string(),
                    ),
                    ("VERSUS_LEASE_TTL_MS", lease_ttl_ms().to_string()),
                    (
                        "VERSUS_PRESENCE_REFRESH_MS",
                        PRESENCE_REFRESH_MS.to_string(),
                    ),
                    ("VERSUS_GAME_REQUEST_TIMEOUT_MS", lease_ttl_ms().to_string()),
                    (
                        "VERSUS_DATABASE_MAX_CONNECTIONS",
                        DATABASE_MAX_CONNECTIONS.to_string(),
                    ),
                ];
                for (k, v) in overrides {
                    env.retain(|(key, _)| key != k);
                    env.push((k.to_string(), v));
                }
                // CLUSTER_TEST_LOG_LEVEL=<filter> turns the nodes' logging up to debug an issue.
                if let Ok(level) = std::env::var("CLUSTER_TEST_LOG_LEVEL") {
                    env.retain(|(key, _)| key != "VERSUS_LOG_LEVEL");
                    env.push(("VERSUS_LOG_LEVEL".into(), level));
                }
                Node {
                    log: dir.join(format!("{id}.log")),
                    id,
                    port,
                    env,
                    child: None,
                }
            })
            .collect();
        let mut cluster = Cluster {
            label,
            nodes,
            nginx: None,
            lb_port: free_port(),
            http: reqwest::Client::builder()
                .timeout(STEP)
                .build()
                .expect("an HTTP client"),
            admin_url: pre.postgres.clone(),
            db_url,
            dir,
            tmp: Some(tmp),
        };
        for n in &mut cluster.nodes {
            n.start();
        }
        let http = cluster.http.clone();
        for n in &mut cluster.nodes {
            n.wait_ready(&http).await;
        }
        cluster.start_nginx(&pre.nginx).await;
        cluster
    }

    async fn start_nginx(&mut self, nginx: &Path) {
        let prefix = self.dir.join("nginx");
        std::fs::create_dir_all(&prefix).unwrap();
        set_mode(&prefix, 0o755);
        let conf = prefix.join("nginx.conf");
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        std::fs::write(
            &conf,
            nginx_config(&prefix, &format!("127.0.0.1:{}", self.lb_port), &nodes),
        )
        .unwrap();
        let out = File::create(prefix.join("nginx.out")).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("nginx starts");
        self.nginx = Some(child);
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(c) = self.nginx.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("nginx exited at start: {status}");
            }
            if let Ok(r) = self
                .http
                .get(format!("http://127.0.0.1:{}/readyz", self.lb_port))
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "nginx is not up within {STEP:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            http: self.http.clone(),
            lb: format!("http://127.0.0.1:{}", self.lb_port),
            lb_ws: format!("ws://127.0.0.1:{}/api/v1/ws", self.lb_port),
        }
    }

    /// Each game's lease holder (games whose lease is held, not released).
    async fn owners(&self) -> HashMap<String, String> {
        let mut conn = sqlx::PgConnection::connect(&self.db_url)
            .await
            .expect("the test database");
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT id, lease_owner FROM games WHERE NOT lease_released")
                .fetch_all(&mut conn)
                .await
                .expect("the lease query");
        let _ = conn.close().await;
        rows.into_iter()
            .filter_map(|(id, owner)| owner.map(|o| (id, o)))
            .collect()
    }

    fn stop_nginx(&mut self) {
        if let Some(mut c) = self.nginx.take() {
            // SIGTERM: the master stops its workers (SIGKILL would leave them running).
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A passing test's end: stop everything, drop the database.
    async fn finish(&mut self) {
        self.stop_nginx();
        for n in &mut self.nodes {
            n.sigkill();
        }
        let _ = drop_postgres_database(&self.admin_url, &self.db_url).await;
    }

    fn dump_logs(&self) {
        for n in &self.nodes {
            let log = std::fs::read_to_string(&n.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let notable: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| {
                    l.contains("\"WARN\"") || l.contains("\"ERROR\"") || l.contains("panicked")
                })
                .collect();
            let notable = &notable[notable.len().saturating_sub(200)..];
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "===== [{}] node {} ({} lines in {}); last warnings and errors:\n{}\n----- last \
                 {} lines:\n{}",
                self.label,
                n.id,
                lines.len(),
                n.log.display(),
                notable.join("\n"),
                tail.len(),
                tail.join("\n")
            );
        }
        let prefix = self.dir.join("nginx");
        let errors = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
        let access = std::fs::read_to_string(prefix.join("access.log")).unwrap_or_default();
        let access: Vec<&str> = access.lines().collect();
        eprintln!(
            "===== [{}] nginx error.log:\n{errors}\n----- last access.log lines:\n{}\n===== the \
             test database is left for inspection: {}",
            self.label,
            access[access.len().saturating_sub(40)..].join("\n"),
            self.db_url
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("CLUSTER_TEST_LOGS").is_some() {
            self.dump_logs();
        }
        // CLUSTER_TEST_KEEP=1 keeps the logs and nginx's files (the folder is printed).
        if std::env::var_os("CLUSTER_TEST_KEEP").is_some()
            && let Some(tmp) = self.tmp.take()
        {
            eprintln!("[{}] kept {}", self.label, tmp.keep().display());
        }
        self.stop_nginx();
        for n in &mut self.nodes {
            n.sigkill();
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// splitmix64: a tiny seeded generator, so move choices are reproducible.
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

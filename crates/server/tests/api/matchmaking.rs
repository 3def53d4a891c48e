//! Matchmaking ("play now", issue 9): tickets over REST and the WebSocket, the pairing
//! invariants with hundreds of waiting players, cancel, one ticket per kind, expiry.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use versus_protocol::{ClientMessage, ServerMessage, TicketState};

use crate::helpers::{Db, TestApp, assert_problem, json_body};
use crate::ws_client::WsClient;

/// The bound the tests configure: gap(t) = min(BASE + PER_SECOND × t, MAX).
const BASE: f64 = 50.0;
const PER_SECOND: f64 = 400.0;
const MAX: f64 = 300.0;

fn gap(waited_ms: i64) -> f64 {
    (BASE + PER_SECOND * waited_ms.max(0) as f64 / 1000.0).min(MAX)
}

/// Runs one statement on the test database, outside the server (to set ratings and blocks).
async fn exec(app: &TestApp, sql: &'static str, binds: &[Value]) {
    use sqlx::Connection;
    macro_rules! run {
        ($conn:expr) => {{
            let mut q = sqlx::query(sql);
            for b in binds {
                q = match b {
                    Value::String(s) => q.bind(s.clone()),
                    Value::Number(n) if n.is_i64() => q.bind(n.as_i64().unwrap()),
                    Value::Number(n) => q.bind(n.as_f64().unwrap()),
                    other => panic!("unsupported bind {other}"),
                };
            }
            q.execute(&mut $conn).await.expect("statement");
        }};
    }
    match app.backend() {
        Db::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database.url)
                .await
                .unwrap();
            run!(c);
        }
        Db::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database.url)
                .await
                .unwrap();
            run!(c);
        }
    }
}

async fn set_rating(app: &TestApp, player_id: &str, kind: &str, rating: f64) {
    exec(
        app,
        "INSERT INTO ratings (player_id, kind, rating, deviation, volatility, score, peak, \
         rated_games, games, updated_at) VALUES ($1, $2, $3, 60.0, 0.06, $4, $4, 1, 1, 0)",
        &[
            json!(player_id),
            json!(kind),
            json!(rating),
            json!(rating.round() as i64),
        ],
    )
    .await;
}

async fn block(app: &TestApp, player: &str, blocked: &str) {
    exec(
        app,
        "INSERT INTO chat_blocks (player_id, blocked_id, created_at) VALUES ($1, $2, 0)",
        &[json!(player), json!(blocked)],
    )
    .await;
}

async fn create_ticket(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.authed_post_json("/api/v1/matchmaking/tickets", token, body)
        .await
}

async fn get_ticket(app: &TestApp, token: &str, id: &str) -> Value {
    let resp = app
        .authed_get(&format!("/api/v1/matchmaking/tickets/{id}"), token)
        .await;
    assert_eq!(resp.status(), 200);
    json_body(resp).await
}

fn ms(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
        .expect("RFC 3339")
        .timestamp_millis()
}

const SETTINGS: &[(&str, &str)] = &[
    ("matchmaking_pass_ms", "50"),
    ("matchmaking_gap_base", "50"),
    ("matchmaking_gap_per_second", "400"),
    ("matchmaking_gap_max", "300"),
    ("matchmaking_grace_ms", "60000"),
    ("database_max_connections", "8"),
];

both_backends! {
    settings = super::SETTINGS;

    async fn hundreds_of_players_are_paired_once_within_the_widening_bound(app: TestApp) {
        const N: usize = 240;
        let players: Vec<(String, Value)> = join_all((0..N).map(|_| app.guest())).await;
        // Ratings: most in a 1200–1800 cloud (a deterministic scramble); a few far outliers
        // (each more than MAX from everyone); two players of equal rating who block each
        // other (one direction only) and have nobody else within reach.
        let mut ratings = Vec::new();
        for i in 0..N {
            let r = match i {
                0 => 200.0,
                1 => 800.0,
                2 => 2500.0,
                3 => 3000.0,
                4 | 5 => 4000.0,
                _ => 1200.0 + ((i * 7919) % 600) as f64,
            };
            ratings.push(r);
        }
        for (i, (_, p)) in players.iter().enumerate() {
            if ratings[i] != 1500.0 {
                set_rating(&app, p["id"].as_str().unwrap(), "chess", ratings[i]).await;
            }
        }
        block(&app, players[5].1["id"].as_str().unwrap(), players[4].1["id"].as_str().unwrap()).await;

        let body = json!({"kind": "chess", "time_control": null, "rated": false});
        let tickets: Vec<Value> = join_all(players.iter().map(|(token, _)| async {
            let resp = create_ticket(&app, token, &body).await;
            assert_eq!(resp.status(), 201);
            json_body(resp).await
        }))
        .await;
        for (i, t) in tickets.iter().enumerate() {
            assert_eq!(t["rating"].as_f64().unwrap(), ratings[i], "the ticket carries the rating");
        }
        // Past the cap (about 0.6 s) and a few passes more: poll until the pool has settled
        // (every compatible pair made), with a deadline, instead of guessing a fixed wait —
        // under load a pass and its game creations can take a while.
        let blocked_pair = |a: usize, b: usize| (a, b) == (4, 5) || (a, b) == (5, 4);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let finals: Vec<Value> = loop {
            let finals: Vec<Value> = join_all(
                players
                    .iter()
                    .zip(&tickets)
                    .map(|((token, _), t)| get_ticket(&app, token, t["id"].as_str().unwrap())),
            )
            .await;
            let still: Vec<usize> =
                (0..finals.len()).filter(|i| finals[*i]["state"] == "waiting").collect();
            let settled = still.iter().enumerate().all(|(x, &a)| {
                still[x + 1..].iter().all(|&b| (ratings[a] - ratings[b]).abs() > MAX || blocked_pair(a, b))
            });
            if settled || tokio::time::Instant::now() >= deadline {
                break finals;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };

        let by_player: HashMap<&str, usize> = players
            .iter()
            .enumerate()
            .map(|(i, (_, p))| (p["id"].as_str().unwrap(), i))
            .collect();
        let mut games: HashMap<String, Vec<usize>> = HashMap::new();
        let mut waiting = Vec::new();
        for (i, t) in finals.iter().enumerate() {
            match t["state"].as_str().unwrap() {
                "matched" => games
                    .entry(t["game_id"].as_str().unwrap().to_string())
                    .or_default()
                    .push(i),
                "waiting" => waiting.push(i),
                other => panic!("ticket {i} is {other}"),
            }
        }
        // Nobody paired twice: every game has exactly two tickets, of two different players
        // who name each other as opponents; every player is in at most one game.
        let mut seen = HashSet::new();
        for (game, seats) in &games {
            assert_eq!(seats.len(), 2, "game {game} has {seats:?}");
            let (a, b) = (seats[0], seats[1]);
            assert!(seen.insert(a) && seen.insert(b));
            assert_eq!(by_player[finals[a]["opponent"]["id"].as_str().unwrap()], b);
            assert_eq!(by_player[finals[b]["opponent"]["id"].as_str().unwrap()], a);
            // Within the widening bound of both tickets at the time of pairing.
            let diff = (ratings[a] - ratings[b]).abs();
            for x in [a, b] {
                let waited = ms(&finals[x]["ended_at"]) - ms(&finals[x]["created_at"]);
                assert!(
                    diff <= gap(waited) + 1e-9,
                    "{} vs {}: gap {diff} after {waited} ms exceeds {}",
                    ratings[a], ratings[b], gap(waited)
                );
            }
        }
        // The games exist, with both players seated and the session started (the second seat
        // is taken just after the pairing commits, so allow it a moment).
        for (game, seats) in games.iter().take(10) {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let view = loop {
                let resp = app.get(&format!("/api/v1/games/{game}")).await;
                assert_eq!(resp.status(), 200);
                let view = json_body(resp).await;
                if view["state"] == "in_progress" || tokio::time::Instant::now() >= deadline {
                    break view;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let seated: HashSet<&str> = view["participants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["player"]["id"].as_str().unwrap())
                .collect();
            for s in seats {
                assert!(seated.contains(players[*s].1["id"].as_str().unwrap()), "{view}");
            }
            assert_eq!(view["state"], "in_progress", "{view}");
        }
        // Nobody waits while a compatible partner waits too (everyone has waited past the
        // cap, so compatible means: within MAX and no block either way).
        let blocked: HashSet<(usize, usize)> = [(5, 4), (4, 5)].into_iter().collect();
        for (x, &a) in waiting.iter().enumerate() {
            for &b in &waiting[x + 1..] {
                assert!(
                    (ratings[a] - ratings[b]).abs() > MAX || blocked.contains(&(a, b)),
                    "{a} ({}) and {b} ({}) both still wait",
                    ratings[a],
                    ratings[b]
                );
            }
        }
        for i in 0..6 {
            assert!(waiting.contains(&i), "outlier {i} cannot have been paired");
        }
        assert!(waiting.len() <= 7, "waiting: {waiting:?}");
    }

    async fn a_pair_is_made_within_a_second_and_both_hear_of_it_on_the_websocket(app: TestApp) {
        let (ta, _) = app.guest().await;
        let (tb, _) = app.guest().await;
        let mut a = WsClient::connect(&app, &ta).await;
        let mut b = WsClient::connect(&app, &tb).await;
        let join = |id: String| ClientMessage::MatchmakingJoin {
            id: Some(id),
            kind: "tictactoe".into(),
            time_control: None,
            rated: false,
        };
        let id = a.next_id();
        a.send(&join(id.clone())).await;
        let ServerMessage::Ticket { id: Some(rid), ticket } = a.recv_until(|m| matches!(m, ServerMessage::Ticket { id: Some(_), .. })).await else { unreachable!() };
        assert_eq!(rid, id);
        assert_eq!(ticket.state, TicketState::Waiting);
        let started = std::time::Instant::now();
        let id = b.next_id();
        b.send(&join(id)).await;
        let matched = |m: &ServerMessage| matches!(m, ServerMessage::Ticket { ticket, .. } if ticket.state == TicketState::Matched);
        let ServerMessage::Ticket { ticket: ma, .. } = a.recv_until(matched).await else { unreachable!() };
        let ServerMessage::Ticket { ticket: mb, .. } = b.recv_until(matched).await else { unreachable!() };
        assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
        assert_eq!(ma.game_id, mb.game_id);
        assert_eq!(ma.opponent.unwrap().id, b.player.id);
        assert_eq!(mb.opponent.unwrap().id, a.player.id);
        let view = json_body(app.get(&format!("/api/v1/games/{}", ma.game_id.unwrap())).await).await;
        assert_eq!(view["state"], "in_progress", "{view}");
        // The start is announced like any game's: a `game_started` notification for both.
        let started = |m: &ServerMessage| matches!(m, ServerMessage::Notification(n) if n.kind == versus_protocol::NotificationKind::GameStarted && n.data["game_id"] == json!(ma.game_id));
        a.recv_until(started).await;
        b.recv_until(started).await;
    }

    async fn over_the_websocket_tickets_are_cancelled_and_refused_with_the_rest_error_codes(app: TestApp) {
        let (t, _) = app.guest().await;
        let mut ws = WsClient::connect(&app, &t).await;
        let join = |kind: &str| ClientMessage::MatchmakingJoin { id: None, kind: kind.into(), time_control: None, rated: false };
        let with_id = |ws: &mut WsClient, msg: ClientMessage| {
            let id = ws.next_id();
            match msg {
                ClientMessage::MatchmakingJoin { kind, time_control, rated, .. } => ClientMessage::MatchmakingJoin { id: Some(id), kind, time_control, rated },
                ClientMessage::MatchmakingCancel { ticket_id, .. } => ClientMessage::MatchmakingCancel { id: Some(id), ticket_id },
                other => other,
            }
        };
        let error_code = |m: ServerMessage| match m {
            ServerMessage::Error { code, .. } => serde_json::to_value(code).unwrap(),
            other => panic!("expected an error, got {other:?}"),
        };
        let msg = with_id(&mut ws, join("connect4"));
        let ServerMessage::Ticket { ticket, .. } = ws.request(&msg).await else { panic!("no ticket") };
        assert_eq!(ticket.state, TicketState::Waiting);
        let msg = with_id(&mut ws, join("connect4"));
        assert_eq!(error_code(ws.request(&msg).await), "invalid_state", "one ticket per kind");
        let msg = with_id(&mut ws, join("go"));
        assert_eq!(error_code(ws.request(&msg).await), "unknown_kind");
        let msg = with_id(&mut ws, ClientMessage::MatchmakingCancel { id: None, ticket_id: uuid::Uuid::now_v7() });
        assert_eq!(error_code(ws.request(&msg).await), "not_found");
        let msg = with_id(&mut ws, ClientMessage::MatchmakingCancel { id: None, ticket_id: ticket.id });
        let ServerMessage::Ticket { ticket: cancelled, .. } = ws.request(&msg).await else { panic!("no ticket") };
        assert_eq!((cancelled.id, cancelled.state), (ticket.id, TicketState::Cancelled));
        let msg = with_id(&mut ws, ClientMessage::MatchmakingCancel { id: None, ticket_id: ticket.id });
        assert_eq!(error_code(ws.request(&msg).await), "invalid_state", "no longer waiting");
        // The REST view agrees, and a new ticket of the kind is accepted.
        let resp = app.http.get(app.url(&format!("/api/v1/matchmaking/tickets/{}", ticket.id))).bearer_auth(&t).send().await.unwrap();
        assert_eq!(json_body(resp).await["state"], "cancelled");
        let msg = with_id(&mut ws, join("connect4"));
        let ServerMessage::Ticket { ticket: again, .. } = ws.request(&msg).await else { panic!("no ticket") };
        assert_ne!(again.id, ticket.id);
    }

    async fn a_crash_right_after_the_pairing_commit_leaves_a_started_game_with_both_seats(app: TestApp) {
        let (ta, a) = app.guest().await;
        let (tb, b) = app.guest().await;
        let player = |v: &Value| (uuid::Uuid::parse_str(v["id"].as_str().unwrap()).unwrap(), v["username"].as_str().unwrap().to_string());
        let (a, b) = (player(&a), player(&b));
        let mut game_id = None;
        let mut tickets = Vec::new();
        // No server runs: a node pairs two tickets (its pass's one transaction) and dies
        // before doing anything else — nobody joins, nobody is told.
        let app = app
            .restart_after(|config| {
                let game_id = &mut game_id;
                let tickets = &mut tickets;
                let (a, b) = (&a, &b);
                async move {
                    use secrecy::ExposeSecret;
                    let store = versus_store::connect(&versus_store::ConnectOptions { url: config.database_url.expose_secret().to_string(), max_connections: 1 })
                        .await
                        .unwrap();
                    let now = versus_server::now_ms();
                    let pool = versus_server::matchmaking::pool_key("tictactoe", None, false);
                    for (i, (id, username)) in [a, b].into_iter().enumerate() {
                        let t = store
                            .create_ticket(versus_store::NewTicket {
                                id: uuid::Uuid::now_v7(),
                                player_id: *id,
                                username: username.clone(),
                                kind: "tictactoe".into(),
                                pool: pool.clone(),
                                time_control: None,
                                rated: false,
                                rating: 1500.0,
                                created_at_ms: now - 10 + i as i64,
                                alive_until_ms: now + 60_000,
                            })
                            .await
                            .unwrap();
                        tickets.push(t.id);
                    }
                    let gap = versus_server::matchmaking::GapBound { base: BASE, per_second: PER_SECOND, max: MAX };
                    let cfg = versus_server::matchmaking::MatchmakingConfig {
                        pass_interval: std::time::Duration::from_millis(100),
                        grace: std::time::Duration::from_secs(10),
                        gap,
                        realtime_tick: std::time::Duration::from_millis(50),
                        realtime_countdown: std::time::Duration::from_secs(1),
                    };
                    let planner = versus_server::matchmaking::pairing_planner(&cfg, now);
                    let plans = store.pair_tickets(&pool, now, &planner).await.unwrap();
                    assert_eq!(plans.len(), 1);
                    *game_id = Some(plans[0].game.id);
                }
            })
            .await;
        let game_id = game_id.unwrap();
        // The game is whole: both seated, started, playable by whoever moves first.
        let view = json_body(app.get(&format!("/api/v1/games/{game_id}")).await).await;
        assert_eq!(view["state"], "in_progress", "{view}");
        let seated: HashSet<String> = view["participants"].as_array().unwrap().iter().map(|p| p["player"]["username"].as_str().unwrap().to_string()).collect();
        assert_eq!(seated, HashSet::from([a.1.clone(), b.1.clone()]));
        let first = view["participants"].as_array().unwrap().iter().find(|p| p["seat"] == 0).unwrap()["player"]["username"].as_str().unwrap().to_string();
        let token = if first == a.1 { &ta } else { &tb };
        let resp = app.authed_post_json(&format!("/api/v1/games/{game_id}/moves"), token, &json!({"move": {"cell": 4}, "client_move_id": "c1"})).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        // And each player's ticket says where to go.
        for (ticket, token) in tickets.iter().zip([&ta, &tb]) {
            let resp = app.http.get(app.url(&format!("/api/v1/matchmaking/tickets/{ticket}"))).bearer_auth(token).send().await.unwrap();
            let t = json_body(resp).await;
            assert_eq!((t["state"].as_str(), t["game_id"].as_str()), (Some("matched"), Some(game_id.to_string().as_str())), "{t}");
        }
    }

    async fn one_ticket_per_kind_cancel_and_errors(app: TestApp) {
        let (t, _) = app.guest().await;
        let (other, _) = app.guest().await;
        let body = json!({"kind": "connect4"});
        let first = json_body(create_ticket(&app, &t, &body).await).await;
        assert_eq!(first["state"], "waiting");
        assert_eq!(first["rating"], 1500.0);
        assert_problem(create_ticket(&app, &t, &body).await, 409, "invalid_state").await;
        // Another kind is another pool.
        let resp = create_ticket(&app, &t, &json!({"kind": "chess", "time_control": {"initial_seconds": 300, "increment_seconds": 2}, "rated": true})).await;
        assert_eq!(resp.status(), 201);
        assert_problem(create_ticket(&app, &t, &json!({"kind": "go"})).await, 422, "unknown_kind").await;
        assert_problem(create_ticket(&app, &t, &json!({"kind": "chess", "time_control": {"initial_seconds": 0}})).await, 422, "validation_failed").await;
        let id = first["id"].as_str().unwrap();
        let path = format!("/api/v1/matchmaking/tickets/{id}");
        // Someone else's ticket does not exist for you.
        let resp = app.http.get(app.url(&path)).bearer_auth(&other).send().await.unwrap();
        assert_problem(resp, 404, "not_found").await;
        let resp = app.http.delete(app.url(&path)).bearer_auth(&t).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(json_body(resp).await["state"], "cancelled");
        let resp = app.http.delete(app.url(&path)).bearer_auth(&t).send().await.unwrap();
        assert_problem(resp, 409, "invalid_state").await;
        let resp = app.http.get(app.url("/api/v1/matchmaking/tickets/nope")).bearer_auth(&t).send().await.unwrap();
        assert_problem(resp, 400, "malformed_request").await;
        // Cancelled: a new ticket of the kind may be made.
        assert_eq!(create_ticket(&app, &t, &body).await.status(), 201);
    }
}

mod expiry {
    use super::*;

    both_backends! {
        settings = &[("matchmaking_pass_ms", "50"), ("matchmaking_grace_ms", "300")];

        async fn a_ticket_dies_with_the_last_connection_after_the_grace_period(app: TestApp) {
            let (t, _) = app.guest().await;
            let mut ws = WsClient::connect(&app, &t).await;
            let id = ws.next_id();
            ws.send(&ClientMessage::MatchmakingJoin { id: Some(id), kind: "chess".into(), time_control: None, rated: false }).await;
            let ServerMessage::Ticket { ticket, .. } = ws.recv_until(|m| matches!(m, ServerMessage::Ticket { .. })).await else { unreachable!() };
            // Kept alive while connected, well past the grace period.
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let path = format!("/api/v1/matchmaking/tickets/{}", ticket.id);
            let resp = app.http.get(app.url(&path)).bearer_auth(&t).send().await.unwrap();
            assert_eq!(json_body(resp).await["state"], "waiting");
            drop(ws);
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let resp = app.http.get(app.url(&path)).bearer_auth(&t).send().await.unwrap();
            assert_eq!(json_body(resp).await["state"], "expired");
        }
    }
}

/// A ticket is a join to come: the open-games quota applies when it is made (REST and socket).
mod quota {
    use super::*;

    both_backends! {
        settings = &[("max_open_games_per_player", "1")];

        async fn a_player_at_the_open_games_quota_cannot_wait_for_a_match(app: TestApp) {
            let p = crate::games::player(&app, "alice").await;
            let t = p.token.clone();
            let game = crate::games::create(&app, &p, "tictactoe", json!({})).await;
            assert_problem(create_ticket(&app, &t, &json!({"kind": "connect4"})).await, 409, "limit_reached").await;
            let mut ws = WsClient::connect(&app, &t).await;
            let id = ws.next_id();
            let reply = ws.request(&ClientMessage::MatchmakingJoin { id: Some(id), kind: "connect4".into(), time_control: None, rated: false }).await;
            assert!(matches!(reply, ServerMessage::Error { code: versus_protocol::ErrorCode::LimitReached, .. }), "{reply:?}");
            // Once that game is gone, the ticket is made.
            crate::games::action_ok(&app, &p, game.id, "abort").await;
            assert_eq!(create_ticket(&app, &t, &json!({"kind": "connect4"})).await.status(), 201);
        }
    }
}

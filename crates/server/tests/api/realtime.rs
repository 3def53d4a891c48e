//! Real-time games (kind `lightcycles`, docs/PROTOCOL.md "Real-time games"): a whole session
//! over the WebSocket with a spectator, input errors, the journal replaying to the same
//! state, the state after a restart, and the settings' validation.

use serde_json::json;
use uuid::Uuid;
use versus_protocol::realtime::{Direction, TickDelta};
use versus_protocol::{ClientMessage, ErrorCode, GameEvent, ServerMessage, SessionState};
use versus_rules::lightcycles;

use crate::games::{Player, create, create_raw, events_after, game, player};
use crate::helpers::{TestApp, assert_problem, field_errors};
use crate::ws_client::{WsClient, assert_ws_error};

/// What one client knows of a session: its state rebuilt from `started` and the deltas.
struct View {
    session: Uuid,
    /// The seq of the last event or ticks message applied.
    seq: u64,
    snap: Option<lightcycles::Snapshot>,
    result: Option<versus_protocol::GameResult>,
    /// Every event and ticks message applied, by seq (to compare with the journal).
    seen: Vec<(u64, GameEvent)>,
}

fn to_rules<T: serde::de::DeserializeOwned>(v: impl serde::Serialize) -> T {
    serde_json::from_value(serde_json::to_value(v).unwrap()).unwrap()
}

impl View {
    fn new(session: Uuid, seq: u64, position: Option<&serde_json::Value>) -> View {
        View {
            session,
            seq,
            snap: position.and_then(|p| serde_json::from_value(p.clone()).ok()),
            result: None,
            seen: Vec::new(),
        }
    }

    /// Applies the next message of the session, checking that seqs have no gap.
    fn apply(&mut self, msg: &ServerMessage) {
        match msg {
            ServerMessage::Event(e) if e.session_id == self.session => {
                assert_eq!(e.seq, self.seq + 1, "gap-free seqs across events and ticks");
                self.seq = e.seq;
                self.seen.push((e.seq, e.event.clone()));
                match &e.event {
                    GameEvent::Started {
                        realtime: Some(c),
                        round_start: Some(start),
                        ..
                    } => {
                        let mut board = vec![0u8; usize::from(c.width) * usize::from(c.height)];
                        for (seat, cycle) in start.spawns.iter().enumerate() {
                            board[usize::from(cycle.y) * usize::from(c.width)
                                + usize::from(cycle.x)] = seat as u8 + 1;
                        }
                        self.snap = Some(lightcycles::Snapshot {
                            width: c.width,
                            height: c.height,
                            points_to_win: c.points_to_win,
                            tick: 0,
                            round: start.round,
                            frozen_until: start.frozen_until,
                            scores: vec![0; c.players as usize],
                            cycles: to_rules(&start.spawns),
                            board,
                            winner: None,
                        });
                    }
                    GameEvent::Ended { result, .. } => self.result = Some(result.clone()),
                    _ => {}
                }
            }
            ServerMessage::Ticks {
                session_id,
                seq,
                ticks,
                ..
            } if *session_id == self.session => {
                assert_eq!(*seq, self.seq + 1, "gap-free seqs across events and ticks");
                self.seq = *seq;
                self.seen.push((
                    *seq,
                    GameEvent::Ticks {
                        ticks: ticks.clone(),
                        inputs: Vec::new(),
                    },
                ));
                let snap = self.snap.as_mut().expect("ticks come after the start");
                for t in ticks {
                    assert_eq!(t.tick, snap.tick + 1, "ticks in order, none missing");
                    snap.apply_delta(&to_rules::<lightcycles::TickDelta>(t));
                }
            }
            _ => {}
        }
    }
}

impl View {
    /// The last tick applied (0 before the first).
    fn tick(&self) -> u64 {
        self.snap.as_ref().map_or(0, |s| s.tick)
    }
}

/// The next message within `within`, or `None`.
async fn try_recv(c: &mut WsClient, within: std::time::Duration) -> Option<ServerMessage> {
    tokio::time::timeout(within, c.recv()).await.ok()
}

/// Every `ticks` message `view` saw is journaled, with the same deltas at the same seq.
fn assert_journaled(view: &View, journal: &[versus_protocol::EventEnvelope]) {
    for (seq, event) in &view.seen {
        let journaled = journal
            .iter()
            .find(|e| e.seq == *seq)
            .unwrap_or_else(|| panic!("seq {seq} was shown but is not in the journal"));
        match (event, &journaled.event) {
            (GameEvent::Ticks { ticks: shown, .. }, GameEvent::Ticks { ticks, .. }) => {
                assert_eq!(
                    shown, ticks,
                    "seq {seq}: the ticks shown are the journaled ones"
                )
            }
            (GameEvent::Ticks { .. }, other) => {
                panic!("seq {seq}: shown as ticks, journaled as {other:?}")
            }
            (shown, journaled) => assert_eq!(shown, journaled, "seq {seq}"),
        }
    }
}

/// Reads `c`'s messages into `view` until `done` says so (each read waits at most
/// `ws_client::WAIT`).
async fn follow(c: &mut WsClient, view: &mut View, done: impl Fn(&View) -> bool) {
    while !done(view) {
        let msg = c.recv().await;
        view.apply(&msg);
    }
}

/// The direction that leads a cycle at `(x, y)` moving `dir` to the nearest side wall
/// (a turn, never a reversal).
fn towards_a_side_wall(s: &lightcycles::Snapshot, seat: usize) -> Direction {
    // On a 2-player board this is the first seat's way out; with more players each turner
    // leaves along its own side, never across the straight driver's path.
    let c = s.cycles[seat];
    match c.dir {
        lightcycles::Direction::Left | lightcycles::Direction::Right => {
            if c.y < s.height / 2 {
                Direction::Up
            } else {
                Direction::Down
            }
        }
        _ => {
            if c.x < s.width / 2 {
                Direction::Left
            } else {
                Direction::Right
            }
        }
    }
}

fn reverse(s: &lightcycles::Snapshot, seat: usize) -> Direction {
    match s.cycles[seat].dir {
        lightcycles::Direction::Up => Direction::Down,
        lightcycles::Direction::Down => Direction::Up,
        lightcycles::Direction::Left => Direction::Right,
        lightcycles::Direction::Right => Direction::Left,
    }
}

async fn input(c: &mut WsClient, game_id: Uuid, dir: Direction) -> ServerMessage {
    let id = c.next_id();
    c.request(&ClientMessage::Input {
        id: Some(id),
        game_id,
        dir,
    })
    .await
}

/// Alice, Bob and a spectator: Alice's cycle turns towards the nearest side wall in every
/// round's countdown, Bob's drives straight on, so Bob wins each round and the session.
/// Returns the game, the session and everyone's final view.
async fn play_a_session(app: &TestApp, points: u32) -> (Uuid, Uuid, Player, Vec<View>) {
    let alice = player(app, "alice").await;
    let bob = player(app, "bob").await;
    let carol = player(app, "carol").await;
    let view = create(
        app,
        &alice,
        "lightcycles",
        json!({ "points_to_win": points }),
    )
    .await;
    assert_eq!(view.state, SessionState::Waiting);
    let (id, session) = (view.id, view.session_id);

    let mut a = WsClient::connect(app, &alice.token).await;
    let mut b = WsClient::connect(app, &bob.token).await;
    let mut s = WsClient::connect(app, &carol.token).await;
    let sa = a.subscribe(id, None).await;
    let ss = s.subscribe(id, None).await;

    // An input before the start is refused.
    assert_ws_error(
        &input(&mut a, id, Direction::Up).await,
        ErrorCode::InvalidState,
    );

    let joined = b.join(id).await;
    assert_eq!(joined.seq, 2);
    let sb = b.subscribe(id, None).await;
    let snapshot = sb.snapshot.expect("a snapshot");
    assert_eq!(snapshot.state, SessionState::InProgress);

    let mut views = vec![
        View::new(session, sa.last_seq, None),
        View::new(session, sb.last_seq, Some(&snapshot.position)),
        View::new(session, ss.last_seq, None),
    ];
    // A spectator cannot steer.
    assert_ws_error(
        &input(&mut s, id, Direction::Up).await,
        ErrorCode::NotAParticipant,
    );

    let mut steered_round = 0;
    let mut refused_a_reversal = false;
    loop {
        // Alice's view drives her.
        let (round, tick, frozen_until) = {
            follow(&mut a, &mut views[0], |v| {
                v.snap.is_some() || v.result.is_some()
            })
            .await;
            if views[0].result.is_some() {
                break;
            }
            let snap = views[0].snap.as_ref().unwrap();
            (snap.round, snap.tick, snap.frozen_until)
        };
        if round != steered_round && tick < frozen_until {
            let snap = views[0].snap.clone().unwrap();
            if !refused_a_reversal {
                assert_ws_error(
                    &input(&mut a, id, reverse(&snap, 0)).await,
                    ErrorCode::Reversal,
                );
                refused_a_reversal = true;
            }
            match input(&mut a, id, towards_a_side_wall(&snap, 0)).await {
                ServerMessage::InputAccepted { tick: at, .. } => assert!(at > tick),
                other => panic!("expected input_accepted, got {other:?}"),
            }
            steered_round = round;
        }
        let msg = a.recv().await;
        views[0].apply(&msg);
    }
    follow(&mut b, &mut views[1], |v| v.result.is_some()).await;
    follow(&mut s, &mut views[2], |v| v.result.is_some()).await;
    // Alice's cycle is out; any input now is refused.
    let after = input(&mut a, id, Direction::Up).await;
    assert!(
        matches!(&after, ServerMessage::Error { code, .. } if *code == ErrorCode::GameOver),
        "{after:?}"
    );
    (id, session, bob, views)
}

both_backends! {
    settings = &[("realtime_tick_hz", "50"), ("realtime_countdown_ms", "300")];

    /// Two players and a spectator follow a whole light-cycles session over the socket: every
    /// client sees the same ticks, gap-free and in order, rebuilds the board the server
    /// ends with from the deltas, and sees the winner and the scores, which are also in the
    /// session's record.
    async fn a_light_cycles_session_is_played_to_the_end_over_the_socket(app: TestApp) {
        let (id, _, bob, views) = play_a_session(&app, 2).await;
        let end = game(&app, id).await;
        assert_eq!(end.state, SessionState::Finished);
        let result = end.result.clone().expect("a result");
        assert_eq!((result.outcome.as_str(), result.winner), ("win", Some(1)));
        assert_eq!(result.reason, "points");
        assert_eq!(result.scores, Some(vec![0, 2]));
        let winner = end.participants.iter().find(|p| p.seat == 1).unwrap();
        assert_eq!(winner.player.id, bob.id);
        assert_eq!(winner.result.as_deref(), Some("win"));
        let server: lightcycles::Snapshot = serde_json::from_value(end.position.clone()).unwrap();
        assert_eq!(server.winner, Some(1));
        // The points board of the kind counts the session's points.
        let resp = app.get("/api/v1/leaderboards/lightcycles/points").await;
        let board: versus_protocol::PointsLeaderboard =
            serde_json::from_value(crate::helpers::json_body(resp).await).unwrap();
        let lines: Vec<(u64, &str, i64, u64)> = board
            .leaderboard
            .iter()
            .map(|e| (e.rank, e.player_name.as_str(), e.points, e.sessions))
            .collect();
        assert_eq!(lines, [(1, "bob", 2, 1), (2, "alice", 0, 1)]);
        for v in &views {
            assert_eq!(v.result.as_ref(), Some(&result));
            assert_eq!(v.seq, end.last_seq);
            assert_eq!(v.snap.as_ref(), Some(&server), "the deltas rebuild the server's board");
        }
    }

    /// The journal alone rebuilds the session: replaying the inputs of its `ticks` events
    /// with the rules from the seed in `started` gives every journaled delta and the final
    /// board; and after a restart the server serves the same state.
    async fn the_journal_replays_a_session_exactly(app: TestApp) {
        let (id, _, _, _) = play_a_session(&app, 1).await;
        let end = game(&app, id).await;
        let events = events_after(&app, id, 0).await;
        let config = events
            .iter()
            .find_map(|e| match &e.event {
                GameEvent::Started { realtime: Some(c), .. } => Some(*c),
                _ => None,
            })
            .expect("started carries the config");
        let mut state = lightcycles::State::new(lightcycles::Config {
            width: config.width,
            height: config.height,
            players: config.players as usize,
            points_to_win: config.points_to_win,
            seed: config.seed,
            countdown_ticks: config.countdown_ticks,
        })
        .unwrap();
        let mut ticks = 0;
        for e in &events {
            if let GameEvent::Ticks { ticks: deltas, inputs } = &e.event {
                for d in deltas {
                    for i in inputs.iter().filter(|i| i.tick == d.tick) {
                        state.input(i.seat as usize, to_rules(i.dir)).unwrap();
                    }
                    let replayed: TickDelta = to_rules(state.tick());
                    assert_eq!(&replayed, d);
                    ticks += 1;
                }
            }
        }
        assert!(ticks > 0);
        assert_eq!(state.snapshot_json(), end.position);
        let app = app.restart().await;
        let again = game(&app, id).await;
        assert_eq!(again.position, end.position);
        assert_eq!(again.result, end.result);
        assert_eq!(again.last_seq, end.last_seq);
    }

    /// A rated session of three players: Bob drives straight on while Alice and Carol turn
    /// into the nearest side wall in the countdown, so Bob wins; the ratings follow the
    /// pairwise scheme (the winner gains, the two losers lose the same, every player's
    /// statistics count the game).
    async fn a_rated_three_player_session_rates_everyone(app: TestApp) {
        let players = [
            player(&app, "alice").await,
            player(&app, "bob").await,
            player(&app, "carol").await,
        ];
        let view = create(
            &app,
            &players[0],
            "lightcycles",
            json!({"players": 3, "points_to_win": 1, "rated": true}),
        )
        .await;
        let (id, session) = (view.id, view.session_id);
        let mut clients = Vec::new();
        for p in &players {
            let mut c = WsClient::connect(&app, &p.token).await;
            if p.id != players[0].id {
                c.join(id).await;
            }
            clients.push(c);
        }
        let mut views = Vec::new();
        for c in &mut clients {
            let sub = c.subscribe(id, None).await;
            views.push(View::new(session, sub.last_seq, sub.snapshot.as_ref().map(|s| &s.position)));
        }
        for (seat, c) in clients.iter_mut().enumerate() {
            follow(c, &mut views[seat], |v| v.snap.is_some()).await;
        }
        let seats: Vec<usize> = {
            let g = game(&app, id).await;
            players
                .iter()
                .map(|p| g.participants.iter().find(|x| x.player.id == p.id).unwrap().seat as usize)
                .collect()
        };
        for i in [0, 2] {
            let snap = views[i].snap.clone().unwrap();
            assert!(snap.tick < snap.frozen_until, "still in the countdown");
            let dir = towards_a_side_wall(&snap, seats[i]);
            assert!(matches!(input(&mut clients[i], id, dir).await, ServerMessage::InputAccepted { .. }));
        }
        for (i, c) in clients.iter_mut().enumerate() {
            follow(c, &mut views[i], |v| v.result.is_some()).await;
        }
        let result = views[1].result.clone().unwrap();
        assert_eq!(result.winner, Some(seats[1] as u32), "bob wins");
        let mut scores = vec![0; 3];
        scores[seats[1]] = 1;
        assert_eq!(result.scores, Some(scores));
        let mut ratings = Vec::new();
        for p in &players {
            // The ratings are written with the result, in the same transaction.
            let resp = app.get(&format!("/api/v1/players/{}/stats", p.username)).await;
            let stats: versus_protocol::PlayerStats =
                serde_json::from_value(crate::helpers::json_body(resp).await).unwrap();
            let s = stats.stats.iter().find(|s| s.kind == "lightcycles").expect("lightcycles stats");
            assert_eq!((s.games, s.rated_games), (1, 1), "{}", p.username);
            ratings.push(s.rating);
        }
        assert!(ratings[1] > 1500.0, "{ratings:?}");
        assert!(ratings[0] < 1500.0 && ratings[2] < 1500.0, "{ratings:?}");
        assert!((ratings[0] - ratings[2]).abs() < 1e-6, "{ratings:?}");
    }

    /// A resignation ends a real-time session with the points won so far: they are the
    /// session's `result.scores` and go to the kind's points board, like a session played to
    /// the end (the resigner's opponent wins).
    async fn a_resigned_session_keeps_its_scores(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let view = create(&app, &alice, "lightcycles", json!({ "points_to_win": 5 })).await;
        let (id, session) = (view.id, view.session_id);
        crate::games::action_ok(&app, &bob, id, "join").await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let sub = a.subscribe(id, None).await;
        let snapshot = sub.snapshot.expect("a snapshot");
        let mut seen = View::new(session, sub.last_seq, Some(&snapshot.position));
        // Alice turns into the nearest side wall in round 1's countdown: Bob scores.
        let snap = seen.snap.clone().unwrap();
        assert!(snap.tick < snap.frozen_until, "still in the countdown");
        assert!(matches!(
            input(&mut a, id, towards_a_side_wall(&snap, 0)).await,
            ServerMessage::InputAccepted { .. }
        ));
        follow(&mut a, &mut seen, |v| v.snap.as_ref().is_some_and(|s| s.scores[1] >= 1)).await;
        crate::games::action_ok(&app, &alice, id, "resign").await;

        let end = game(&app, id).await;
        assert_eq!(end.state, SessionState::Finished);
        let result = end.result.clone().expect("a result");
        assert_eq!((result.outcome.as_str(), result.winner, result.reason.as_str()), ("win", Some(1), "resignation"));
        let server: lightcycles::Snapshot = serde_json::from_value(end.position.clone()).unwrap();
        let scores = result.scores.clone().expect("the points won so far");
        assert_eq!(scores, server.scores, "the scores of the last committed tick");
        assert!(scores[1] >= 1 && scores[1] < 5, "{scores:?}");
        // She sees the end too, after every tick before it, with the same result.
        follow(&mut a, &mut seen, |v| v.result.is_some()).await;
        assert_eq!(seen.result.as_ref(), Some(&result));
        assert_eq!(seen.snap.as_ref().map(|s| &s.scores), Some(&scores));

        let resp = app.get("/api/v1/leaderboards/lightcycles/points").await;
        let board: versus_protocol::PointsLeaderboard =
            serde_json::from_value(crate::helpers::json_body(resp).await).unwrap();
        let mut lines: Vec<(&str, i64, u64)> = board
            .leaderboard
            .iter()
            .map(|e| (e.player_name.as_str(), e.points, e.sessions))
            .collect();
        assert!(lines.windows(2).all(|w| w[0].1 >= w[1].1), "most points first: {lines:?}");
        lines.sort();
        assert_eq!(lines, [("alice", i64::from(scores[0]), 1), ("bob", i64::from(scores[1]), 1)]);
    }

    /// The real-time settings are checked: players 2–4 and points 1–25 for real-time kinds
    /// only, no clock; a REST move is not how a real-time game is played.
    async fn real_time_settings_are_validated(app: TestApp) {
        let kinds: versus_protocol::KindList =
            serde_json::from_value(crate::helpers::json_body(app.get("/api/v1/kinds").await).await)
                .unwrap();
        let lc = kinds.kinds.iter().find(|k| k.id == "lightcycles").expect("listed");
        assert!(lc.realtime && !lc.supports_clock && !lc.supports_draw_offers);
        assert_eq!((lc.min_seats, lc.max_seats), (2, 4));
        let names: Vec<&str> = lc.settings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["rated", "visibility", "creator_seat", "players", "points_to_win"]);
        let alice = player(&app, "alice").await;
        for (kind, settings, field) in [
            ("lightcycles", json!({"players": 5}), "settings.players"),
            ("lightcycles", json!({"players": 1}), "settings.players"),
            ("lightcycles", json!({"points_to_win": 0}), "settings.points_to_win"),
            ("lightcycles", json!({"points_to_win": 26}), "settings.points_to_win"),
            ("lightcycles", json!({"time_control": {"initial_seconds": 60}}), "settings.time_control"),
            ("tictactoe", json!({"players": 2}), "settings.players"),
            ("chess", json!({"points_to_win": 3}), "settings.points_to_win"),
        ] {
            let resp = create_raw(
                &app,
                &alice.token,
                &json!({"kind": kind, "name": "x", "settings": settings}),
            )
            .await;
            let problem = assert_problem(resp, 422, "validation_failed").await;
            let fields: Vec<String> = field_errors(&problem).into_iter().map(|f| f.0).collect();
            assert_eq!(fields, [field], "{kind} {settings}");
        }
        let view = create(&app, &alice, "lightcycles", json!({"players": 3})).await;
        let bob = player(&app, "bob").await;
        crate::games::action_ok(&app, &bob, view.id, "join").await;
        // Two of three seats: still waiting.
        assert_eq!(game(&app, view.id).await.state, SessionState::Waiting);
        let carol = player(&app, "carol").await;
        crate::games::action_ok(&app, &carol, view.id, "join").await;
        let started = game(&app, view.id).await;
        assert_eq!(started.state, SessionState::InProgress);
        assert_eq!(started.participants.len(), 3);
        let resp = crate::games::post_move(&app, &alice, view.id, json!({"dir": "up"}), "m1").await;
        assert_problem(resp, 409, "not_supported").await;
    }
}

mod matchmade {
    use super::*;

    both_backends! {
        settings = &[
            ("realtime_tick_hz", "50"),
            ("realtime_countdown_ms", "300"),
            ("matchmaking_pass_ms", "50"),
        ];

        /// "Play now" for a real-time kind: the pairing transaction starts the session with its
        /// seed and first round, and the tick loop runs it (both players receive ticks and can
        /// steer), as for a session started by a join.
        async fn a_light_cycles_pair_made_by_matchmaking_plays_at_the_tick(app: TestApp) {
            let (ta, _) = app.guest().await;
            let (tb, _) = app.guest().await;
            let mut a = WsClient::connect(&app, &ta).await;
            let mut b = WsClient::connect(&app, &tb).await;
            for c in [&mut a, &mut b] {
                let id = c.next_id();
                c.send(&ClientMessage::MatchmakingJoin {
                    id: Some(id),
                    kind: "lightcycles".into(),
                    time_control: None,
                    rated: false,
                })
                .await;
            }
            let matched = |m: &ServerMessage| {
                matches!(m, ServerMessage::Ticket { ticket, .. }
                    if ticket.state == versus_protocol::TicketState::Matched)
            };
            let ServerMessage::Ticket { ticket, .. } = a.recv_until(matched).await else {
                unreachable!()
            };
            b.recv_until(matched).await;
            let id = ticket.game_id.expect("a matched ticket names its game");
            let started = game(&app, id).await;
            assert_eq!(started.state, SessionState::InProgress);
            assert_eq!(started.participants.len(), 2);
            let sub = a.subscribe(id, None).await;
            let snapshot = sub.snapshot.expect("a snapshot");
            let mut view = View::new(sub.session_id, sub.last_seq, Some(&snapshot.position));
            let first_tick = view.snap.as_ref().expect("a board from the start").tick;
            // Ticks arrive, gap-free, after the snapshot.
            follow(&mut a, &mut view, |v| {
                v.result.is_some() || v.snap.as_ref().is_some_and(|s| s.tick >= first_tick + 5)
            })
            .await;
            // A seated player can steer (a turn is never refused as a reversal of both axes).
            let snap = view.snap.clone().unwrap();
            let seat = started
                .participants
                .iter()
                .find(|p| p.player.id == a.player.id)
                .map(|p| p.seat as usize)
                .expect("seated");
            match input(&mut a, id, towards_a_side_wall(&snap, seat)).await {
                ServerMessage::InputAccepted { .. } => {}
                ServerMessage::Error { code: ErrorCode::GameOver, .. } => {}
                other => panic!("expected input_accepted, got {other:?}"),
            }
        }
    }
}

/// A stalled journal (its write lock held from outside the server, as in `durability.rs`)
/// while a session ticks: ARCHITECTURE.md "Real-time games", when game time waits.
mod stalled_journal {
    use std::time::Duration;

    use sqlx::Connection;

    use super::*;
    use crate::helpers::{Db, run_test};

    /// Holds the journal's write lock until released.
    enum Lock {
        Sqlite(sqlx::SqliteConnection),
        Postgres(sqlx::PgConnection),
    }

    impl Lock {
        async fn take(app: &TestApp) -> Lock {
            let url = &app.database.url;
            match app.backend() {
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

        /// The last committed seq of `session` (nothing commits while the lock is held).
        async fn committed_seq(&mut self, session: Uuid) -> u64 {
            let sql = "SELECT COALESCE(MAX(seq), 0) FROM journal_events WHERE session_id = $1";
            let seq: i64 = match self {
                Lock::Sqlite(c) => sqlx::query_scalar(sql)
                    .bind(session.to_string())
                    .fetch_one(c)
                    .await
                    .unwrap(),
                Lock::Postgres(c) => sqlx::query_scalar(sql)
                    .bind(session.to_string())
                    .fetch_one(c)
                    .await
                    .unwrap(),
            };
            seq as u64
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

    /// The value of counter `name` for this server (its `node` label) on `/metrics`.
    async fn metric(app: &TestApp, name: &str) -> f64 {
        let text = app.get("/metrics").await.text().await.unwrap();
        let label = format!("node=\"{}\"", app.config.node_id);
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Reads what `c` receives until `done` (polled between reads) or `deadline`, checking
    /// that no message carries a seq beyond `committed`.
    async fn drain_until(
        app: &TestApp,
        c: &mut WsClient,
        view: &mut View,
        committed: u64,
        deadline: tokio::time::Instant,
        what: &str,
        done: impl AsyncFn(&TestApp) -> bool,
    ) {
        loop {
            while let Some(msg) = try_recv(c, Duration::from_millis(20)).await {
                view.apply(&msg);
                assert!(
                    view.seq <= committed,
                    "seq {} reached a client while only {committed} was committed",
                    view.seq
                );
            }
            if done(app).await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not in time"
            );
        }
    }

    /// While the journal cannot commit, the session runs at most
    /// `realtime_max_uncommitted_ticks` ahead of it, unseen: then game time holds (counted in
    /// `realtime_ticks_held_total`). Nobody is shown a tick or an event that is not committed.
    /// A seated player disconnecting meanwhile does not stop the tick loop (the actor keeps
    /// answering and keeps counting held ticks): the `player_left` event queues behind the
    /// outstanding ticks. Once the lock is released, the ticks and the event arrive, gap-free
    /// in seq and in tick numbers, exactly as journaled, and the session ticks on.
    async fn a_stalled_journal_holds_game_time_and_shows_nothing_uncommitted(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        // A long countdown: the cycles stand still, so no round ends while the test looks.
        let view = create(&app, &alice, "lightcycles", json!({ "points_to_win": 25 })).await;
        let (id, session) = (view.id, view.session_id);
        crate::games::action_ok(&app, &bob, id, "join").await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        let sub = a.subscribe(id, None).await;
        let snapshot = sub.snapshot.expect("a snapshot");
        b.subscribe(id, None).await;
        let mut seen = View::new(session, sub.last_seq, Some(&snapshot.position));
        follow(&mut a, &mut seen, |v| v.tick() >= 3).await;

        let mut lock = Lock::take(&app).await;
        let committed = lock.committed_seq(session).await;
        // Read under the lock: a tick held from now on means the cap is reached with nothing
        // committing (a slow commit before the lock may have held ticks too).
        let held_before = metric(&app, "realtime_ticks_held_total").await;
        // SQLite gives up on a lock after its busy_timeout (5 s): the append would fail and
        // the actor reload, which is another story. Everything below happens well before.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
        drain_until(
            &app,
            &mut a,
            &mut seen,
            committed,
            deadline,
            "the cap",
            async |app| metric(app, "realtime_ticks_held_total").await > held_before,
        )
        .await;

        // Bob goes away while the journal is stalled: the actor takes note at once (it is not
        // waiting on the journal) and the tick loop goes on holding.
        b.close().await;
        drain_until(
            &app,
            &mut a,
            &mut seen,
            committed,
            deadline,
            "bob shown away",
            async |app| {
                let g = game(app, id).await;
                g.participants
                    .iter()
                    .any(|p| p.player.id == bob.id && !p.connected)
            },
        )
        .await;
        let held_after_leave = metric(&app, "realtime_ticks_held_total").await;
        drain_until(
            &app,
            &mut a,
            &mut seen,
            committed,
            deadline,
            "held ticks",
            async |app| metric(app, "realtime_ticks_held_total").await >= held_after_leave + 5.0,
        )
        .await;
        assert_eq!(
            lock.committed_seq(session).await,
            committed,
            "nothing committed"
        );
        let tick_during = seen.tick();
        lock.release().await;

        // The held ticks, then bob's departure, then more ticks: gap-free (`View::apply`).
        follow(&mut a, &mut seen, |v| {
            let left = v
                .seen
                .iter()
                .any(|(_, e)| matches!(e, GameEvent::PlayerLeft { .. }));
            left && v.tick() >= tick_during + 15
        })
        .await;
        let left_at = seen
            .seen
            .iter()
            .find(|(_, e)| matches!(e, GameEvent::PlayerLeft { .. }))
            .map(|(seq, _)| *seq)
            .unwrap();
        // What ran while nothing could commit: exactly the cap's worth of ticks (the most a
        // crash could have lost), then bob's departure behind them.
        let unseen: usize = seen
            .seen
            .iter()
            .filter(|(seq, _)| *seq > committed && *seq < left_at)
            .map(|(_, e)| match e {
                GameEvent::Ticks { ticks, .. } => ticks.len(),
                other => panic!("only ticks before bob's departure, got {other:?}"),
            })
            .sum();
        assert_eq!(
            unseen, 5,
            "the session ran realtime_max_uncommitted_ticks ahead of the journal"
        );
        assert!(
            seen.seen
                .iter()
                .any(|(seq, e)| *seq > left_at && matches!(e, GameEvent::Ticks { .. }))
        );
        assert_journaled(&seen, &events_after(&app, id, 0).await);
        let now = game(&app, id).await;
        assert_eq!(now.state, SessionState::InProgress);
        let bob_seat = now
            .participants
            .iter()
            .find(|p| p.player.id == bob.id)
            .unwrap();
        assert!(bob_seat.seat_held_until.is_some(), "bob's seat is held");
    }

    const SETTINGS: [(&str, &str); 3] = [
        ("realtime_tick_hz", "50"),
        ("realtime_countdown_ms", "30000"),
        ("realtime_max_uncommitted_ticks", "5"),
    ];

    // One node id per test: the counter is read by its `node` label, and tests share the
    // process's metrics.
    #[tokio::test]
    async fn sqlite_a_stalled_journal_holds_game_time_and_shows_nothing_uncommitted() {
        let settings = [SETTINGS.as_slice(), &[("node_id", "stalled-sqlite")]].concat();
        run_test(
            Db::Sqlite,
            &settings,
            a_stalled_journal_holds_game_time_and_shows_nothing_uncommitted,
        )
        .await;
    }

    #[tokio::test]
    async fn postgres_a_stalled_journal_holds_game_time_and_shows_nothing_uncommitted() {
        let settings = [SETTINGS.as_slice(), &[("node_id", "stalled-postgres")]].concat();
        run_test(
            Db::Postgres,
            &settings,
            a_stalled_journal_holds_game_time_and_shows_nothing_uncommitted,
        )
        .await;
    }
}

/// A client that lags behind a ticking session (docs/PROTOCOL.md "Real-time games", resync).
mod lagging {
    use std::time::Duration;

    use versus_protocol::close_code;

    use super::*;
    use crate::ws_client::{Ending, connect_raw_small_buffer, hello, read_until_closed, send_text};

    /// Whether `player` is shown connected in the game's view.
    async fn connected(app: &TestApp, id: Uuid, player: Uuid) -> bool {
        game(app, id)
            .await
            .participants
            .iter()
            .any(|p| p.player.id == player && p.connected)
    }

    async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !check().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not in time"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    both_backends! {
        settings = &[
            ("realtime_tick_hz", "200"),
            // The cycles stand still through the test: no round ends, ticks keep coming.
            ("realtime_countdown_ms", "60000"),
            ("ws_outbox_capacity", "8"),
            ("game_replay_limit", "4"),
        ];

        /// Alice's only connection stops reading while the session ticks: the server closes
        /// it with 4008 once her outbox is full (the session goes on). She resubscribes from
        /// the last seq she read, which is more than `game_replay_limit` behind: she gets a
        /// snapshot (`resync`) with the tick period, then every tick after it, gap-free in seq
        /// and in tick numbers, and she can steer.
        async fn a_lagging_client_is_kicked_and_resynced_with_a_snapshot(app: TestApp) {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            let view = create(&app, &alice, "lightcycles", json!({})).await;
            let (id, session) = (view.id, view.session_id);
            crate::games::action_ok(&app, &bob, id, "join").await;

            let mut slow = connect_raw_small_buffer(&app).await;
            send_text(&mut slow, serde_json::to_string(&hello(&alice.token)).unwrap()).await;
            let subscribe = ClientMessage::Subscribe {
                id: Some("s1".into()),
                game_id: id,
                session_id: None,
                since_seq: None,
            };
            send_text(&mut slow, serde_json::to_string(&subscribe).unwrap()).await;
            wait_until("alice's subscription", async || connected(&app, id, alice.id).await).await;
            // She reads nothing more; the ticks pile up until the server gives up on her.
            wait_until("alice kicked", async || !connected(&app, id, alice.id).await).await;

            let (seen, ending) = read_until_closed(&mut slow, Duration::from_secs(30)).await;
            assert_eq!(ending, Ending::Close(close_code::SLOW_CONSUMER));
            let mut last_seq = None;
            for m in &seen {
                match m {
                    ServerMessage::Subscribed { last_seq: s, .. } => last_seq = Some(*s),
                    ServerMessage::Ticks { seq, .. } => {
                        let before = last_seq.expect("ticks after the subscription");
                        assert_eq!(*seq, before + 1, "what she got was gap-free");
                        last_seq = Some(*seq);
                    }
                    ServerMessage::Event(e) => {
                        let before = last_seq.expect("events after the subscription");
                        assert_eq!(e.seq, before + 1, "what she got was gap-free");
                        last_seq = Some(e.seq);
                    }
                    _ => {}
                }
            }
            let last_seq = last_seq.expect("she was subscribed");

            // She comes back from where she stopped: too far behind for a replay.
            let mut a = WsClient::connect(&app, &alice.token).await;
            let sub = a.subscribe(id, Some((session, last_seq))).await;
            assert!(sub.resync, "more than game_replay_limit behind: a resync");
            let snapshot = sub.snapshot.expect("a resync carries a snapshot");
            assert!(sub.last_seq > last_seq + 4, "{} vs {last_seq}", sub.last_seq);
            assert_eq!(snapshot.last_seq, sub.last_seq);
            assert_eq!(snapshot.state, SessionState::InProgress);
            assert_eq!(snapshot.tick_ms, Some(5), "the snapshot says the tick period (200 Hz)");
            let mut view = View::new(session, sub.last_seq, Some(&snapshot.position));
            let from = view.tick();
            assert!(from > 0);
            follow(&mut a, &mut view, |v| v.tick() >= from + 40).await;
            let snap = view.snap.clone().unwrap();
            match input(&mut a, id, towards_a_side_wall(&snap, 0)).await {
                ServerMessage::InputAccepted { tick, .. } => assert!(tick > snap.tick),
                other => panic!("expected input_accepted, got {other:?}"),
            }
            // Everything she was shown after the snapshot is the journal's.
            follow(&mut a, &mut view, |v| v.tick() >= from + 60).await;
            assert_journaled(&view, &events_after(&app, id, sub.last_seq).await);
        }
    }
}

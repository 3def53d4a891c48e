//! Live games over REST: kinds, create, join, the lobby, whole games of every kind, errors
//! that change nothing, exactly-once moves, resign/draw/abort, clocks, rematch and the
//! events journal. The helpers at the top are shared with `websocket.rs`.

// Not every test uses every helper.
#![allow(dead_code)]

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use versus_protocol::{
    ActionAck, EventEnvelope, EventList, GameEvent, GameList, GameView, KindList, MoveAck,
    SessionState,
};

use crate::helpers::{TestApp, assert_problem, field_errors, json_body};

// --- helpers ---------------------------------------------------------------------------------

/// A registered player.
#[derive(Debug, Clone)]
pub struct Player {
    pub token: String,
    pub id: Uuid,
    pub username: String,
}

/// Registers `username`.
pub async fn player(app: &TestApp, username: &str) -> Player {
    let (token, body) = app.register(username).await;
    Player {
        token,
        id: body["id"].as_str().unwrap().parse().unwrap(),
        username: username.to_string(),
    }
}

/// `POST /api/v1/games` with `body`, unchecked.
pub async fn create_raw(app: &TestApp, token: &str, body: &Value) -> Response {
    app.authed_post_json("/api/v1/games", token, body).await
}

/// Creates a game of `kind` with `settings` (the creator takes the first seat unless the
/// settings say otherwise); asserts 201 and returns the view.
pub async fn create(app: &TestApp, creator: &Player, kind: &str, settings: Value) -> GameView {
    let mut settings = settings;
    if settings.get("creator_seat").is_none() {
        settings["creator_seat"] = json!("first");
    }
    let resp = create_raw(
        app,
        &creator.token,
        &json!({ "kind": kind, "name": format!("a game of {kind}"), "settings": settings }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED, "creating a {kind} game");
    serde_json::from_value(json_body(resp).await).expect("a GameView")
}

/// `GET /api/v1/games/{id}`, asserting 200.
pub async fn game(app: &TestApp, id: Uuid) -> GameView {
    let resp = app.get(&format!("/api/v1/games/{id}")).await;
    assert_eq!(resp.status(), StatusCode::OK, "GET game {id}");
    serde_json::from_value(json_body(resp).await).expect("a GameView")
}

/// `GET /api/v1/games/{id}` as a player (a private game is seen only by its insiders).
pub async fn game_as(app: &TestApp, p: &Player, id: Uuid) -> GameView {
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/games/{id}")))
        .bearer_auth(&p.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "GET game {id}");
    serde_json::from_value(json_body(resp).await).expect("a GameView")
}

/// `POST /api/v1/games/{id}/<what>` (`join`, `resign`, `abort`, `claim-victory`,
/// `rematch`), unchecked.
pub async fn post_action(app: &TestApp, p: &Player, id: Uuid, what: &str) -> Response {
    app.authed_post(&format!("/api/v1/games/{id}/{what}"), &p.token)
        .await
}

/// Like [`post_action`], asserting 200 and returning the ack.
pub async fn action_ok(app: &TestApp, p: &Player, id: Uuid, what: &str) -> ActionAck {
    let resp = post_action(app, p, id, what).await;
    assert_eq!(resp.status(), StatusCode::OK, "{what} by {}", p.username);
    serde_json::from_value(json_body(resp).await).expect("an ActionAck")
}

/// `POST /api/v1/games/{id}/draw` with `action`, unchecked.
pub async fn post_draw(app: &TestApp, p: &Player, id: Uuid, action: &str) -> Response {
    app.authed_post_json(
        &format!("/api/v1/games/{id}/draw"),
        &p.token,
        &json!({ "action": action }),
    )
    .await
}

/// `POST /api/v1/games/{id}/moves`, unchecked.
pub async fn post_move(app: &TestApp, p: &Player, id: Uuid, mv: Value, cmid: &str) -> Response {
    app.authed_post_json(
        &format!("/api/v1/games/{id}/moves"),
        &p.token,
        &json!({ "move": mv, "client_move_id": cmid }),
    )
    .await
}

/// Makes a move, asserting 200, and returns the ack.
pub async fn move_ok(app: &TestApp, p: &Player, id: Uuid, mv: Value, cmid: &str) -> MoveAck {
    let resp = post_move(app, p, id, mv.clone(), cmid).await;
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "move {mv} by {}: {body}",
        p.username
    );
    serde_json::from_str(&body).expect("a MoveAck")
}

/// `GET /api/v1/games/{id}/events?after=N`, asserting 200.
pub async fn events_after(app: &TestApp, id: Uuid, after: u64) -> Vec<EventEnvelope> {
    let resp = app
        .get(&format!("/api/v1/games/{id}/events?after={after}"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let list: EventList = serde_json::from_value(json_body(resp).await).expect("an EventList");
    list.events
}

/// Polls `GET /api/v1/games/{id}` until `pred` holds (at most 10 s).
pub async fn wait_for_game(
    app: &TestApp,
    id: Uuid,
    what: &str,
    pred: impl Fn(&GameView) -> bool,
) -> GameView {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let view = game(app, id).await;
        if pred(&view) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; the game: {view:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Two players and a started game of `kind`: `first` holds seat 0 (moves first).
pub async fn started_game(
    app: &TestApp,
    kind: &str,
    settings: Value,
) -> (GameView, Player, Player) {
    let first = player(app, "alice").await;
    let second = player(app, "bob").await;
    let created = create(app, &first, kind, settings).await;
    action_ok(app, &second, created.id, "join").await;
    (game(app, created.id).await, first, second)
}

/// Plays `moves` alternately from seat 0 (`players[0]`), client move ids `m1`, `m2`, …;
/// returns the acks.
pub async fn play(app: &TestApp, id: Uuid, players: [&Player; 2], moves: &[Value]) -> Vec<MoveAck> {
    let mut acks = Vec::new();
    for (i, mv) in moves.iter().enumerate() {
        let p = players[i % 2];
        acks.push(move_ok(app, p, id, mv.clone(), &format!("m{}", i + 1)).await);
    }
    acks
}

pub fn cells(cells: &[u32]) -> Vec<Value> {
    cells.iter().map(|c| json!({ "cell": c })).collect()
}

pub fn columns(columns: &[u32]) -> Vec<Value> {
    columns.iter().map(|c| json!({ "column": c })).collect()
}

/// X takes the top row while O plays the middle row: X wins on the fifth move.
pub const TICTACTOE_WIN: &[u32] = &[0, 3, 1, 4, 2];
/// Red fills column 0 while yellow plays column 1: red wins on the seventh move.
pub const CONNECT4_WIN: &[u32] = &[0, 1, 0, 1, 0, 1, 0];

/// Scholar's mate, in SAN and UCI mixed.
pub fn scholars_mate() -> Vec<Value> {
    vec![
        json!({"uci": "e2e4"}),
        json!({"san": "e5"}),
        json!({"uci": "f1c4"}),
        json!({"san": "Nc6"}),
        json!({"san": "Qh5"}),
        json!({"uci": "g8f6"}),
        json!({"san": "Qxf7#"}),
    ]
}

/// The canonical forms of [`scholars_mate`].
pub fn scholars_mate_canonical() -> Vec<Value> {
    [
        ("e2e4", "e4"),
        ("e7e5", "e5"),
        ("f1c4", "Bc4"),
        ("b8c6", "Nc6"),
        ("d1h5", "Qh5"),
        ("g8f6", "Nf6"),
        ("h5f7", "Qxf7#"),
    ]
    .iter()
    .map(|(uci, san)| json!({ "uci": uci, "san": san }))
    .collect()
}

/// Asserts a finished session won by `winner` for `reason`, with seat results.
pub fn assert_won(view: &GameView, winner: u32, reason: &str) {
    assert_eq!(view.state, SessionState::Finished, "{view:#?}");
    let result = view.result.as_ref().expect("a result");
    assert_eq!(result.outcome, "win");
    assert_eq!(result.winner, Some(winner));
    assert_eq!(result.reason, reason);
    assert!(view.end_time.is_some());
    assert_eq!(view.to_move, None);
    for p in &view.participants {
        let expected = if p.seat == winner { "win" } else { "loss" };
        assert_eq!(p.result.as_deref(), Some(expected), "seat {}", p.seat);
    }
}

/// The parts of a view an error must not change.
fn journal_state(view: &GameView) -> (u64, usize, SessionState, Option<u32>) {
    (view.last_seq, view.moves.len(), view.state, view.to_move)
}

both_backends! {
    // --- kinds -----------------------------------------------------------------------------

    async fn the_kinds_are_tictactoe_connect4_and_chess_for_two_turn_based_seats(app: TestApp) {
        let resp = app.get("/api/v1/kinds").await;
        assert_eq!(resp.status(), StatusCode::OK);
        let list: KindList = serde_json::from_value(json_body(resp).await).unwrap();
        for (id, draws) in [("tictactoe", false), ("connect4", true), ("chess", true)] {
            let kind = list.kinds.iter().find(|k| k.id == id).unwrap_or_else(|| panic!("no {id}"));
            assert_eq!((kind.min_seats, kind.max_seats), (2, 2), "{id}");
            assert!(!kind.realtime, "{id} is turn-based");
            assert_eq!(kind.supports_draw_offers, draws, "{id}");
            assert!(kind.supports_clock, "{id}");
            assert!(!kind.move_format.is_empty());
            let names: Vec<&str> = kind.settings.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["time_control", "rated", "visibility", "creator_seat"], "{id}");
        }
    }

    // --- create and join -------------------------------------------------------------------

    async fn creating_a_game_returns_201_and_a_waiting_session_with_the_creator_in_the_chosen_seat(app: TestApp) {
        let alice = player(&app, "alice").await;
        for (choice, seat) in [("first", 0), ("second", 1)] {
            let resp = create_raw(&app, &alice.token, &json!({
                "kind": "connect4",
                "name": "Friday night",
                "description": "best of one",
                "settings": { "creator_seat": choice, "rated": true },
            }))
            .await;
            assert_eq!(resp.status(), StatusCode::CREATED);
            let view: GameView = serde_json::from_value(json_body(resp).await).unwrap();
            assert_eq!(view.kind, "connect4");
            assert_eq!(view.name, "Friday night");
            assert_eq!(view.description.as_deref(), Some("best of one"));
            assert!(view.settings.rated);
            assert_eq!(view.created_by, alice.id);
            assert_eq!(view.state, SessionState::Waiting);
            assert_eq!(view.session_number, 1);
            assert_eq!(view.participants.len(), 1);
            assert_eq!(view.participants[0].seat, seat, "creator_seat {choice}");
            assert_eq!(view.participants[0].player.id, alice.id);
            assert_eq!(view.participants[0].player.username, "alice");
            assert!(view.moves.is_empty());
            assert_eq!(view.start_time, None);
            assert_eq!(view.result, None);
            assert_eq!(view.to_move, None);
            assert_eq!(view.last_seq, 1, "the creator's seat_taken");
            // GET shows the same game.
            assert_eq!(game(&app, view.id).await, view);
        }
    }

    async fn an_unknown_kind_is_refused_with_unknown_kind(app: TestApp) {
        let alice = player(&app, "alice").await;
        let resp = create_raw(&app, &alice.token, &json!({ "kind": "go", "name": "x" })).await;
        assert_problem(resp, 422, "unknown_kind").await;
    }

    async fn an_empty_name_or_a_bad_time_control_is_refused_with_validation_failed(app: TestApp) {
        let alice = player(&app, "alice").await;
        let resp = create_raw(&app, &alice.token, &json!({ "kind": "chess", "name": "   " })).await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        assert_eq!(field_errors(&problem), [("name".to_string(), "empty".to_string())]);

        let resp = create_raw(&app, &alice.token, &json!({
            "kind": "chess", "name": "blitz",
            "settings": { "time_control": { "initial_seconds": 0, "increment_seconds": 601 } },
        }))
        .await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        let fields: Vec<String> = field_errors(&problem).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, [
            "settings.time_control.initial_seconds",
            "settings.time_control.increment_seconds",
        ]);
        // Nothing was created.
        let list: GameList = serde_json::from_value(json_body(app.get("/api/v1/games").await).await).unwrap();
        assert!(list.games.is_empty());
    }

    async fn creating_a_game_without_a_token_is_401(app: TestApp) {
        let resp = app.post_json("/api/v1/games", &json!({ "kind": "chess", "name": "x" })).await;
        assert_problem(resp, 401, "unauthorized").await;
    }

    async fn joining_takes_the_free_seat_and_starts_the_session(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let created = create(&app, &alice, "tictactoe", json!({})).await;
        let ack = action_ok(&app, &bob, created.id, "join").await;
        assert_eq!(ack.game_id, created.id);
        assert_eq!(ack.session_id, created.session_id);
        assert_eq!(ack.seq, 2, "seat_taken is the second event");
        assert_eq!(ack.new_session_id, None);

        let view = game(&app, created.id).await;
        assert_eq!(view.state, SessionState::InProgress);
        assert!(view.start_time.is_some());
        assert_eq!(view.to_move, Some(0));
        let seats: Vec<(u32, Uuid)> = view.participants.iter().map(|p| (p.seat, p.player.id)).collect();
        assert_eq!(seats, [(0, alice.id), (1, bob.id)]);
        assert!(view.participants.iter().all(|p| p.result.is_none() && !p.connected));
        assert_eq!(view.last_seq, 3);
        let types: Vec<&str> = events_after(&app, created.id, 0).await.iter().map(|e| e.event.type_name()).collect();
        assert_eq!(types, ["seat_taken", "seat_taken", "started"]);
    }

    async fn joining_twice_is_already_seated_and_a_third_player_gets_game_full(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let carol = player(&app, "carol").await;
        let created = create(&app, &alice, "chess", json!({})).await;
        assert_problem(post_action(&app, &alice, created.id, "join").await, 409, "already_seated").await;
        action_ok(&app, &bob, created.id, "join").await;
        let before = game(&app, created.id).await;
        assert_problem(post_action(&app, &carol, created.id, "join").await, 409, "game_full").await;
        assert_problem(post_action(&app, &bob, created.id, "join").await, 409, "game_full").await;
        assert_eq!(game(&app, created.id).await, before);
        let resp = app.post_json(&format!("/api/v1/games/{}/join", created.id), &json!({})).await;
        assert_problem(resp, 401, "unauthorized").await;
    }

    // --- lobby -----------------------------------------------------------------------------

    async fn the_lobby_lists_public_waiting_games_newest_first_and_hides_private_ones(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let first = create(&app, &alice, "chess", json!({})).await;
        let hidden = create(&app, &alice, "chess", json!({ "visibility": "private" })).await;
        let second = create(&app, &alice, "connect4", json!({})).await;
        let started = create(&app, &alice, "chess", json!({})).await;
        action_ok(&app, &bob, started.id, "join").await;

        let resp = app.get("/api/v1/games?state=waiting").await;
        assert_eq!(resp.status(), StatusCode::OK);
        let list: GameList = serde_json::from_value(json_body(resp).await).unwrap();
        let ids: Vec<Uuid> = list.games.iter().map(|g| g.id).collect();
        assert_eq!(ids, [second.id, first.id], "newest first, no private or started game");
        assert!(!list.has_more);
        assert_eq!((list.limit, list.offset), (20, 0));
        let row = &list.games[0];
        assert_eq!(row.kind, "connect4");
        assert_eq!(row.state, SessionState::Waiting);
        assert_eq!(row.session_id, second.session_id);
        assert_eq!(row.participants.len(), 1);
        assert_eq!(row.participants[0].player.id, alice.id);

        let list: GameList = serde_json::from_value(
            json_body(app.get("/api/v1/games?state=waiting&kind=chess").await).await,
        )
        .unwrap();
        assert_eq!(list.games.iter().map(|g| g.id).collect::<Vec<_>>(), [first.id]);

        let list: GameList = serde_json::from_value(
            json_body(app.get("/api/v1/games?state=in_progress").await).await,
        )
        .unwrap();
        assert_eq!(list.games.iter().map(|g| g.id).collect::<Vec<_>>(), [started.id]);
        // The private game is seen by its creator only, not by anyone holding its id.
        assert_eq!(game_as(&app, &alice, hidden.id).await.id, hidden.id);
        let resp = app.get(&format!("/api/v1/games/{}", hidden.id)).await;
        assert_problem(resp, 404, "not_found").await;
    }

    async fn the_lobby_paginates_with_limit_offset_and_has_more(app: TestApp) {
        let alice = player(&app, "alice").await;
        let mut created = Vec::new();
        for _ in 0..5 {
            created.push(create(&app, &alice, "tictactoe", json!({})).await.id);
        }
        created.reverse(); // newest first
        let mut seen = Vec::new();
        for (offset, expect_more) in [(0, true), (2, true), (4, false)] {
            let resp = app
                .get(&format!("/api/v1/games?state=waiting&kind=tictactoe&limit=2&offset={offset}"))
                .await;
            let page: GameList = serde_json::from_value(json_body(resp).await).unwrap();
            assert_eq!((page.limit, page.offset), (2, offset));
            assert_eq!(page.has_more, expect_more, "offset {offset}");
            seen.extend(page.games.iter().map(|g| g.id));
        }
        assert_eq!(seen, created);
    }

    async fn a_bad_lobby_state_is_400(app: TestApp) {
        assert_problem(app.get("/api/v1/games?state=playing").await, 400, "malformed_request").await;
        assert_problem(app.get("/api/v1/games?limit=lots").await, 400, "malformed_request").await;
    }

    // --- whole games -----------------------------------------------------------------------

    async fn a_tictactoe_game_played_over_rest_ends_in_a_win_for_three_in_a_row(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
        let acks = play(&app, view.id, [&alice, &bob], &cells(TICTACTOE_WIN)).await;
        let seqs: Vec<u64> = acks.iter().map(|a| a.seq).collect();
        assert_eq!(seqs, [4, 5, 6, 7, 8]);
        assert!(acks.iter().all(|a| !a.duplicate && a.session_id == view.session_id));

        let view = game(&app, view.id).await;
        assert_won(&view, 0, "three_in_a_row");
        assert_eq!(view.last_seq, 9, "the winning move, then ended");
        assert_eq!(view.moves.len(), 5);
        for (i, m) in view.moves.iter().enumerate() {
            assert_eq!(m.seq, 4 + i as u64);
            assert_eq!(m.seat, (i % 2) as u32);
            assert_eq!(m.player_id, if i % 2 == 0 { alice.id } else { bob.id });
            assert_eq!(m.mv, json!({ "cell": TICTACTOE_WIN[i] }));
            assert!(m.at >= view.start_time.unwrap());
        }
        assert_eq!(view.position["board"], json!(["x", "x", "x", "o", "o", null, null, null, null]));
    }

    async fn a_connect4_game_played_over_rest_ends_in_a_win_for_four_in_a_row(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "connect4", json!({})).await;
        play(&app, view.id, [&alice, &bob], &columns(CONNECT4_WIN)).await;
        let view = game(&app, view.id).await;
        assert_won(&view, 0, "four_in_a_row");
        let moves: Vec<Value> = view.moves.iter().map(|m| m.mv.clone()).collect();
        assert_eq!(moves, columns(CONNECT4_WIN));
    }

    async fn scholars_mate_in_mixed_san_and_uci_ends_the_chess_game_by_checkmate(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "chess", json!({})).await;
        assert!(view.position["fen"].as_str().unwrap().starts_with("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w"));
        let acks = play(&app, view.id, [&alice, &bob], &scholars_mate()).await;
        let canonical = scholars_mate_canonical();
        for (ack, expected) in acks.iter().zip(&canonical) {
            assert_eq!(&ack.mv, expected, "the ack carries the canonical move");
        }
        let view = game(&app, view.id).await;
        assert_won(&view, 0, "checkmate");
        let moves: Vec<Value> = view.moves.iter().map(|m| m.mv.clone()).collect();
        assert_eq!(moves, canonical);
        let fen = view.position["fen"].as_str().expect("a fen");
        assert!(fen.starts_with("r1bqkb1r/pppp1Qpp/2n2n2/4p3/2B1P3/8/PPPP1PPP/RNB1K1NR b"), "{fen}");
    }

    // --- errors change nothing -------------------------------------------------------------

    async fn refused_moves_change_nothing(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
        let carol = player(&app, "carol").await;
        let id = view.id;
        move_ok(&app, &alice, id, json!({"cell": 4}), "a1").await;
        let before = game(&app, id).await;

        let attempts: Vec<(&Player, Value, u16, &str)> = vec![
            (&bob, json!({ "move": {"cell": 4}, "client_move_id": "b1" }), 422, "illegal_move"),
            (&bob, json!({ "move": {"cell": 9}, "client_move_id": "b2" }), 422, "malformed_move"),
            (&bob, json!({ "move": {"column": 1}, "client_move_id": "b3" }), 422, "malformed_move"),
            (&alice, json!({ "move": {"cell": 0}, "client_move_id": "a2" }), 409, "not_your_turn"),
            (&carol, json!({ "move": {"cell": 0}, "client_move_id": "c1" }), 403, "not_a_participant"),
            (&bob, json!({ "move": {"cell": 0} }), 422, "malformed_request"),
            (&bob, json!({ "move": {"cell": 0}, "client_move_id": "" }), 422, "validation_failed"),
            (&bob, json!({ "move": {"cell": 0}, "client_move_id": "x".repeat(65) }), 422, "validation_failed"),
        ];
        for (p, body, status, code) in attempts {
            let resp = app.authed_post_json(&format!("/api/v1/games/{id}/moves"), &p.token, &body).await;
            assert_problem(resp, status, code).await;
            let after = game(&app, id).await;
            assert_eq!(journal_state(&after), journal_state(&before), "after {body} ({code})");
            assert_eq!(after.moves, before.moves);
        }
        // The refused client_move_ids are still free: bob's b1 can be used for a real move.
        let ack = move_ok(&app, &bob, id, json!({"cell": 0}), "b1").await;
        assert!(!ack.duplicate);
        assert_eq!(ack.seq, before.last_seq + 1);
    }

    async fn a_move_before_the_start_is_invalid_state_and_after_the_end_game_over(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let created = create(&app, &alice, "tictactoe", json!({})).await;
        let resp = post_move(&app, &alice, created.id, json!({"cell": 0}), "early").await;
        assert_problem(resp, 409, "invalid_state").await;
        assert_eq!(journal_state(&game(&app, created.id).await), journal_state(&created));

        action_ok(&app, &bob, created.id, "join").await;
        play(&app, created.id, [&alice, &bob], &cells(TICTACTOE_WIN)).await;
        let over = game(&app, created.id).await;
        let resp = post_move(&app, &bob, created.id, json!({"cell": 8}), "late").await;
        assert_problem(resp, 409, "game_over").await;
        for what in ["resign", "abort"] {
            assert_problem(post_action(&app, &bob, created.id, what).await, 409, "game_over").await;
        }
        assert_problem(post_action(&app, &bob, created.id, "join").await, 409, "game_over").await;
        assert_eq!(game(&app, created.id).await, over);
    }

    // --- exactly once ----------------------------------------------------------------------

    async fn the_same_client_move_id_twice_is_applied_once(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "connect4", json!({})).await;
        let first = move_ok(&app, &alice, view.id, json!({"column": 3}), "retry-me").await;
        assert!(!first.duplicate);
        // A retry, even with another move in the body, returns the original ack.
        for mv in [json!({"column": 3}), json!({"column": 5})] {
            let again = move_ok(&app, &alice, view.id, mv, "retry-me").await;
            assert!(again.duplicate);
            assert_eq!(again.seq, first.seq);
            assert_eq!(again.mv, first.mv);
            assert_eq!(again.client_move_id, "retry-me");
        }
        let view = game(&app, view.id).await;
        assert_eq!(view.moves.len(), 1);
        assert_eq!(view.last_seq, first.seq);
        assert_eq!(view.to_move, Some(1));
        // It stays a duplicate after the opponent moved.
        move_ok(&app, &bob, view.id, json!({"column": 3}), "b1").await;
        let again = move_ok(&app, &alice, view.id, json!({"column": 3}), "retry-me").await;
        assert!(again.duplicate);
        assert_eq!(again.seq, first.seq);
        assert_eq!(game(&app, view.id).await.moves.len(), 2);
    }

    async fn the_same_client_move_id_from_the_other_player_is_a_different_move(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
        let a = move_ok(&app, &alice, view.id, json!({"cell": 0}), "same").await;
        let b = move_ok(&app, &bob, view.id, json!({"cell": 1}), "same").await;
        assert!(!a.duplicate && !b.duplicate);
        assert_eq!(b.seq, a.seq + 1);
        assert_eq!(game(&app, view.id).await.moves.len(), 2);
    }

    // --- resign, draw, abort ---------------------------------------------------------------

    async fn resigning_gives_the_opponent_the_win(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "connect4", json!({})).await;
        move_ok(&app, &alice, view.id, json!({"column": 0}), "a1").await;
        let carol = player(&app, "carol").await;
        assert_problem(post_action(&app, &carol, view.id, "resign").await, 403, "not_a_participant").await;
        let ack = action_ok(&app, &alice, view.id, "resign").await;
        let view = game(&app, view.id).await;
        assert_eq!(ack.seq, view.last_seq);
        assert_won(&view, 1, "resignation");
        assert_eq!(view.participants[1].player.id, bob.id);
    }

    async fn a_chess_draw_can_be_offered_declined_and_then_agreed(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "chess", json!({})).await;
        let id = view.id;
        assert_eq!(post_draw(&app, &alice, id, "offer").await.status(), StatusCode::OK);
        assert_eq!(game(&app, id).await.draw_offer, Some(0));
        assert_problem(post_draw(&app, &alice, id, "offer").await, 409, "invalid_state").await;
        assert_problem(post_draw(&app, &alice, id, "accept").await, 409, "invalid_state").await;
        assert_eq!(post_draw(&app, &bob, id, "decline").await.status(), StatusCode::OK);
        assert_eq!(game(&app, id).await.draw_offer, None);

        // An offer lapses when the opponent moves.
        assert_eq!(post_draw(&app, &bob, id, "offer").await.status(), StatusCode::OK);
        move_ok(&app, &alice, id, json!({"san": "e4"}), "a1").await;
        assert_eq!(game(&app, id).await.draw_offer, None);
        assert_problem(post_draw(&app, &alice, id, "accept").await, 409, "invalid_state").await;

        assert_eq!(post_draw(&app, &bob, id, "offer").await.status(), StatusCode::OK);
        let resp = post_draw(&app, &alice, id, "accept").await;
        assert_eq!(resp.status(), StatusCode::OK);
        let view = game(&app, id).await;
        assert_eq!(view.state, SessionState::Finished);
        let result = view.result.clone().unwrap();
        assert_eq!((result.outcome.as_str(), result.winner, result.reason.as_str()), ("draw", None, "agreement"));
        assert!(view.participants.iter().all(|p| p.result.as_deref() == Some("draw")));
        let types: Vec<&str> = events_after(&app, id, 3).await.iter().map(|e| e.event.type_name()).collect();
        assert_eq!(types, ["draw_offered", "draw_declined", "draw_offered", "moved", "draw_offered", "ended"]);
    }

    async fn tictactoe_has_no_draw_offers(app: TestApp) {
        let (view, alice, _bob) = started_game(&app, "tictactoe", json!({})).await;
        assert_problem(post_draw(&app, &alice, view.id, "offer").await, 409, "not_supported").await;
        assert_eq!(game(&app, view.id).await, view);
    }

    async fn accepting_a_draw_with_no_offer_is_invalid_state(app: TestApp) {
        let (view, _alice, bob) = started_game(&app, "chess", json!({})).await;
        for action in ["accept", "decline"] {
            assert_problem(post_draw(&app, &bob, view.id, action).await, 409, "invalid_state").await;
        }
        let resp = post_draw(&app, &bob, view.id, "surrender").await;
        assert_problem(resp, 422, "malformed_request").await;
        assert_eq!(game(&app, view.id).await, view);
    }

    async fn aborting_before_both_sides_moved_aborts_the_session(app: TestApp) {
        // While waiting for an opponent.
        let carol = player(&app, "carol").await;
        let waiting = create(&app, &carol, "chess", json!({})).await;
        action_ok(&app, &carol, waiting.id, "abort").await;
        let view = game(&app, waiting.id).await;
        assert_eq!(view.state, SessionState::Aborted);
        assert_eq!(view.result.as_ref().unwrap().outcome, "aborted");
        assert_eq!(view.result.as_ref().unwrap().reason, "aborted");

        // After the first move only.
        let (view, alice, bob) = started_game(&app, "chess", json!({})).await;
        move_ok(&app, &alice, view.id, json!({"san": "d4"}), "a1").await;
        action_ok(&app, &bob, view.id, "abort").await;
        let view = game(&app, view.id).await;
        assert_eq!(view.state, SessionState::Aborted);
        assert!(view.participants.iter().all(|p| p.result.as_deref() == Some("aborted")));
    }

    async fn aborting_after_both_sides_moved_is_invalid_state(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "chess", json!({})).await;
        play(&app, view.id, [&alice, &bob], &[json!({"san": "d4"}), json!({"san": "d5"})]).await;
        let before = game(&app, view.id).await;
        assert_problem(post_action(&app, &alice, view.id, "abort").await, 409, "invalid_state").await;
        assert_eq!(game(&app, view.id).await, before);
    }

    // --- clocks ----------------------------------------------------------------------------

    async fn a_flag_falls_by_itself_when_the_clock_runs_out(app: TestApp) {
        let (view, _alice, _bob) = started_game(
            &app,
            "chess",
            json!({ "time_control": { "initial_seconds": 1, "increment_seconds": 0 } }),
        )
        .await;
        let clocks = view.clocks.clone().expect("clocks");
        assert_eq!(clocks.remaining_ms, [1000, 1000]);
        assert_eq!(clocks.running, Some(0));
        let clocks_at_start = clocks.at;
        // Nobody moves.
        let view = wait_for_game(&app, view.id, "the flag", |v| v.state != SessionState::InProgress).await;
        assert_won(&view, 1, "timeout");
        let clocks = view.clocks.clone().unwrap();
        assert_eq!(clocks.remaining_ms[0], 0);
        assert_eq!(clocks.running, None);
        let ran = view.end_time.unwrap() - clocks_at_start;
        assert!(ran >= chrono::Duration::milliseconds(1000), "not before the deadline: {ran}");
        let last = events_after(&app, view.id, view.last_seq - 1).await;
        assert!(matches!(&last[0].event, GameEvent::Ended { result, .. } if result.reason == "timeout"));
    }

    async fn the_increment_is_added_to_the_movers_clock(app: TestApp) {
        let (view, alice, _bob) = started_game(
            &app,
            "chess",
            json!({ "time_control": { "initial_seconds": 60, "increment_seconds": 5 } }),
        )
        .await;
        let clocks = view.clocks.clone().unwrap();
        assert_eq!(clocks.increment_ms, 5000);
        move_ok(&app, &alice, view.id, json!({"san": "e4"}), "a1").await;
        let clocks = game(&app, view.id).await.clocks.unwrap();
        assert!(clocks.remaining_ms[0] > 60_000 && clocks.remaining_ms[0] <= 65_000, "{clocks:?}");
        assert_eq!(clocks.remaining_ms[1], 60_000);
        assert_eq!(clocks.running, Some(1));
    }

    // --- rematch ---------------------------------------------------------------------------

    async fn a_rematch_asked_by_both_starts_a_new_session_with_the_seats_swapped(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
        assert_problem(post_action(&app, &alice, view.id, "rematch").await, 409, "invalid_state").await;
        play(&app, view.id, [&alice, &bob], &cells(TICTACTOE_WIN)).await;
        let first = action_ok(&app, &bob, view.id, "rematch").await;
        assert_eq!(first.new_session_id, None);
        assert_problem(post_action(&app, &bob, view.id, "rematch").await, 409, "invalid_state").await;
        assert_eq!(game(&app, view.id).await.rematch_offers, [1]);
        let second = action_ok(&app, &alice, view.id, "rematch").await;
        let new_session = second.new_session_id.expect("the new session");
        assert_ne!(new_session, view.session_id);

        let next = game(&app, view.id).await;
        assert_eq!(next.session_id, new_session);
        assert_eq!(next.session_number, 2);
        assert_eq!(next.state, SessionState::InProgress);
        assert!(next.moves.is_empty());
        assert_eq!(next.result, None);
        let seats: Vec<(u32, Uuid)> = next.participants.iter().map(|p| (p.seat, p.player.id)).collect();
        assert_eq!(seats, [(0, bob.id), (1, alice.id)], "the seats swapped");
        let types: Vec<&str> = events_after(&app, view.id, 0).await.iter().map(|e| e.event.type_name()).collect();
        assert_eq!(types, ["seat_taken", "seat_taken", "started"]);
        // Bob moves first now.
        assert_problem(post_move(&app, &alice, view.id, json!({"cell": 4}), "n1").await, 409, "not_your_turn").await;
        move_ok(&app, &bob, view.id, json!({"cell": 4}), "n1").await;
    }

    // --- the journal -----------------------------------------------------------------------

    async fn the_events_endpoint_returns_exactly_the_events_after_n(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "connect4", json!({})).await;
        play(&app, view.id, [&alice, &bob], &columns(&[3, 3, 4])).await;
        let all = events_after(&app, view.id, 0).await;
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=6).collect::<Vec<_>>());
        assert!(all.iter().all(|e| e.game_id == view.id && e.session_id == view.session_id));
        assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
        for after in 0..=7 {
            let tail = events_after(&app, view.id, after).await;
            assert_eq!(tail, all[(after as usize).min(all.len())..], "after={after}");
        }
        match &all[3].event {
            GameEvent::Moved { seat, player_id, mv, client_move_id, to_move, clocks } => {
                assert_eq!((*seat, *player_id), (0, alice.id));
                assert_eq!(mv, &json!({"column": 3}));
                assert_eq!(client_move_id, "m1");
                assert_eq!(*to_move, Some(1));
                assert_eq!(*clocks, None);
            }
            other => panic!("expected moved, got {other:?}"),
        }
        // No `after` means everything.
        let resp = app.get(&format!("/api/v1/games/{}/events", view.id)).await;
        let list: EventList = serde_json::from_value(json_body(resp).await).unwrap();
        assert_eq!(list.events, all);
        let resp = app.get(&format!("/api/v1/games/{}/events?after=-1", view.id)).await;
        assert_problem(resp, 400, "malformed_request").await;
    }

    async fn an_unknown_game_is_404_and_a_non_uuid_id_is_400(app: TestApp) {
        let alice = player(&app, "alice").await;
        let unknown = Uuid::new_v4();
        assert_problem(app.get(&format!("/api/v1/games/{unknown}")).await, 404, "not_found").await;
        assert_problem(app.get(&format!("/api/v1/games/{unknown}/events?after=0")).await, 404, "not_found").await;
        assert_problem(post_action(&app, &alice, unknown, "join").await, 404, "not_found").await;
        assert_problem(post_move(&app, &alice, unknown, json!({"cell": 0}), "x").await, 404, "not_found").await;
        assert_problem(app.get("/api/v1/games/not-a-uuid").await, 400, "malformed_request").await;
        assert_problem(app.get("/api/v1/games/not-a-uuid/events").await, 400, "malformed_request").await;
        let resp = app.authed_post("/api/v1/games/not-a-uuid/join", &alice.token).await;
        assert_problem(resp, 400, "malformed_request").await;
    }
}

//! Documented limits of request bodies and of a WebSocket connection (docs/SECURITY.md,
//! "Input limits"): over a limit gets the documented error, and nothing else happens.

use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use versus_protocol::{ClientMessage, ErrorCode, ServerMessage};

use crate::games::{create, game_as, player};
use crate::helpers::{
    MAX_FAILURES_PER_ACCOUNT, PASSWORD, TestApp, assert_problem, json_body, token_and_player,
};
use crate::ws_client::WsClient;

/// The error code of a WebSocket reply, or a panic naming what came instead.
fn error_code(reply: &ServerMessage) -> ErrorCode {
    match reply {
        ServerMessage::Error { code, .. } => *code,
        other => panic!("expected an error, got {other:?}"),
    }
}

both_backends! {
    async fn a_login_password_longer_than_any_password_is_refused_before_it_counts(app: TestApp) {
        // 256 characters (4 bytes each) is a valid password, and logs in.
        let long = "𝄞".repeat(256);
        let resp = app.register_with("longpw", "longpw@example.com", &long).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        app.login_ok("longpw", &long).await;
        // One more character can be no account's password: refused (401) before any hashing,
        // and not counted as a failure, so the account's throttle never answers 429.
        let (_, _) = app.register("alice").await;
        for _ in 0..MAX_FAILURES_PER_ACCOUNT + 2 {
            for password in ["x".repeat(257), "𝄞".repeat(257)] {
                let resp = app.login("alice", &password).await;
                assert_problem(resp, 401, "invalid_credentials").await;
            }
        }
        let resp = app.login("alice", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::OK, "alice was never throttled");
        let (token, _) = token_and_player(resp).await;
        assert_eq!(app.me_status(&token).await, StatusCode::OK);
    }

    async fn every_request_body_refuses_unknown_fields(app: TestApp) {
        let alice = player(&app, "alice").await;
        player(&app, "bob").await;
        let game = create(&app, &alice, "tictactoe", json!({})).await.id;
        // A valid body for every operation that takes one (each plus an unknown field).
        let bodies: Vec<(&str, String, Value)> = vec![
            ("post", "/api/v1/auth/register".into(), json!({ "username": "carol", "email": "carol@example.com", "password": PASSWORD })),
            ("post", "/api/v1/auth/login".into(), json!({ "login": "alice", "password": PASSWORD })),
            ("patch", "/api/v1/me".into(), json!({ "bio": "hello" })),
            ("post", "/api/v1/games".into(), json!({ "kind": "tictactoe", "name": "a game" })),
            ("post", format!("/api/v1/games/{game}/moves"), json!({ "move": { "cell": 0 }, "client_move_id": "m1" })),
            ("post", format!("/api/v1/games/{game}/draw"), json!({ "action": "offer" })),
            ("post", format!("/api/v1/games/{game}/chat"), json!({ "text": "hi" })),
            ("post", "/api/v1/lobby/chat".into(), json!({ "text": "hi" })),
            ("post", "/api/v1/matchmaking/tickets".into(), json!({ "kind": "chess" })),
            ("post", "/api/v1/friends/requests".into(), json!({ "username": "bob" })),
            ("post", format!("/api/v1/games/{game}/invites"), json!({ "username": "bob" })),
            ("post", "/api/v1/notifications/read".into(), json!({ "ids": [] })),
        ];
        // The list covers every operation with a body in the live document.
        let api = serde_json::to_value(versus_server::app::openapi()).unwrap();
        let mut with_body: Vec<(String, String)> = Vec::new();
        for (path, item) in api["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op.get("requestBody").is_some() {
                    with_body.push((method.clone(), path.clone()));
                }
            }
        }
        with_body.sort();
        let mut listed: Vec<(String, String)> = bodies
            .iter()
            .map(|(m, p, _)| (m.to_string(), p.replace(&game.to_string(), "{id}")))
            .collect();
        listed.sort();
        assert_eq!(listed, with_body, "add the new body to this test");

        for (method, path, body) in bodies {
            let mut sneaky = body.clone();
            sneaky["sneaky"] = json!(true);
            let req = app
                .http
                .request(method.to_uppercase().parse().unwrap(), app.url(&path))
                .bearer_auth(&alice.token)
                .json(&sneaky);
            let resp = req.send().await.unwrap();
            let problem = assert_problem(resp, 422, "malformed_request").await;
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("unknown field `sneaky`"), "{method} {path}: {detail}");
        }
        // Nothing was created or changed by the refused requests.
        assert_eq!(app.login("carol", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        let view = game_as(&app, &alice, game).await;
        assert_eq!(view.participants.len(), 1);
        let me: Value = json_body(app.authed_get("/api/v1/me", &alice.token).await).await;
        assert!(me["bio"].is_null(), "{me}");
    }

    async fn notifications_read_takes_at_most_1000_ids(app: TestApp) {
        let alice = player(&app, "alice").await;
        let ids: Vec<Uuid> = (0..1001).map(|_| Uuid::new_v4()).collect();
        let resp = app
            .authed_post_json("/api/v1/notifications/read", &alice.token, &json!({ "ids": ids }))
            .await;
        assert_problem(resp, 422, "validation_failed").await;
        let resp = app
            .authed_post_json("/api/v1/notifications/read", &alice.token, &json!({ "ids": ids[..1000] }))
            .await;
        assert_eq!(json_body(resp).await["marked"], 0);
    }

    async fn a_connection_follows_each_leaderboard_once_so_its_boards_are_bounded(app: TestApp) {
        // The cap (`rate_limited` past MAX_BOARDS_PER_CONNECTION boards) is above the number
        // of kinds: a board followed again replaces the watch, so a connection never holds
        // more boards than there are kinds.
        let kinds: Vec<&str> = versus_rules::kinds().iter().map(|k| k.id).collect();
        assert!(kinds.len() <= versus_server::ratings::MAX_BOARDS_PER_CONNECTION);
        let alice = player(&app, "alice").await;
        let mut ws = WsClient::connect(&app, &alice.token).await;
        for round in 0..3 {
            for kind in &kinds {
                let id = ws.next_id();
                let sub = ClientMessage::LeaderboardSubscribe { id: Some(id), kind: kind.to_string(), limit: Some(5) };
                match ws.request(&sub).await {
                    ServerMessage::LeaderboardSubscribed { .. } => {}
                    other => panic!("round {round}, {kind}: {other:?}"),
                }
            }
        }
        for kind in &kinds {
            for expected in [None, Some(ErrorCode::NotSubscribed)] {
                let id = ws.next_id();
                let unsub = ClientMessage::LeaderboardUnsubscribe { id: Some(id), kind: kind.to_string() };
                match (ws.request(&unsub).await, expected) {
                    (ServerMessage::LeaderboardUnsubscribed { .. }, None) => {}
                    (reply, Some(code)) => assert_eq!(error_code(&reply), code, "{kind}"),
                    (reply, None) => panic!("{kind}: {reply:?}"),
                }
            }
        }
    }
}

mod few_subscriptions {
    use super::*;

    both_backends! {
        settings = &[("ws_max_subscriptions", "2")];

        async fn games_and_chat_rooms_past_ws_max_subscriptions_are_refused_and_the_connection_stays(app: TestApp) {
            let alice = player(&app, "alice").await;
            let mut games = Vec::new();
            for _ in 0..3 {
                games.push(create(&app, &alice, "tictactoe", json!({})).await.id);
            }
            let mut ws = WsClient::connect(&app, &alice.token).await;
            ws.subscribe(games[0], None).await;
            ws.subscribe(games[1], None).await;
            let id = ws.next_id();
            let third = ClientMessage::Subscribe { id: Some(id), game_id: games[2], session_id: None, since_seq: None };
            assert_eq!(error_code(&ws.request(&third).await), ErrorCode::RateLimited);
            // The connection stays, a game already followed may be followed again, and a
            // freed place can be used.
            ws.ping().await;
            ws.subscribe(games[0], None).await;
            let id = ws.next_id();
            let unsub = ClientMessage::Unsubscribe { id: Some(id), game_id: games[1] };
            assert!(matches!(ws.request(&unsub).await, ServerMessage::Unsubscribed { .. }));
            ws.subscribe(games[2], None).await;

            // Chat rooms have the same cap, counted apart from games.
            let rooms = [
                format!("game:{}:players", games[0]),
                format!("game:{}:players", games[1]),
                format!("game:{}:players", games[2]),
            ];
            for (i, room) in rooms.iter().enumerate() {
                let id = ws.next_id();
                let sub = ClientMessage::ChatSubscribe { id: Some(id), room: room.clone(), since_seq: None };
                let reply = ws.request(&sub).await;
                if i < 2 {
                    assert!(matches!(reply, ServerMessage::ChatSubscribed { .. }), "{room}: {reply:?}");
                } else {
                    assert_eq!(error_code(&reply), ErrorCode::RateLimited, "{room}");
                }
            }
            ws.ping().await;
        }
    }
}

mod one_pending_action {
    use super::*;

    both_backends! {
        // One action in flight per connection; commits wait 300 ms for company, so the
        // first move is still in flight when the others arrive.
        settings = &[("ws_max_pending", "1"), ("group_commit_window_ms", "300")];

        async fn actions_past_ws_max_pending_are_answered_overloaded_and_the_connection_stays(app: TestApp) {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            let game = create(&app, &alice, "tictactoe", json!({})).await.id;
            let resp = app.authed_post(&format!("/api/v1/games/{game}/join"), &bob.token).await;
            assert_eq!(resp.status(), StatusCode::OK);
            let before = game_as(&app, &alice, game).await.last_seq;
            let mut ws = WsClient::connect(&app, &alice.token).await;
            // Nine moves written at once, each with its own request id.
            let ids: Vec<String> = (0..9).map(|_| ws.next_id()).collect();
            for (cell, id) in ids.iter().enumerate() {
                let mv = ClientMessage::Move { id: Some(id.clone()), game_id: game, mv: json!({ "cell": cell }), client_move_id: format!("c{cell}") };
                ws.ws().feed(Message::Text(serde_json::to_string(&mv).unwrap().into())).await.unwrap();
            }
            ws.ws().flush().await.unwrap();
            let mut accepted = 0;
            let mut overloaded = 0;
            for id in &ids {
                match ws.reply(id).await {
                    ServerMessage::MoveAck { .. } => accepted += 1,
                    reply => match error_code(&reply) {
                        ErrorCode::Overloaded => overloaded += 1,
                        // A later move that found a free place: not alice's turn any more.
                        ErrorCode::NotYourTurn => {}
                        other => panic!("{id}: {other:?}"),
                    },
                }
            }
            assert_eq!(accepted, 1, "the first move is played");
            assert!(overloaded >= 1, "no action was refused while one was in flight");
            // The connection stays and works.
            ws.ping().await;
            assert_eq!(game_as(&app, &alice, game).await.last_seq, before + 1, "one move, nothing else");
        }
    }
}

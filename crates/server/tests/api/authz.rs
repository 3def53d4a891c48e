//! Authorization, row by row of the table in docs/SECURITY.md: for every REST route and
//! WebSocket message, a caller outside the allowed set is refused (401, 403 or 404, or the
//! socket's error) and nothing changes. Private games and their chat are invisible to
//! outsiders.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use versus_protocol::{ClientMessage, DrawAction, ErrorCode, GameList, ServerMessage, close_code};

use crate::games::{Player, create, game_as, move_ok, player};
use crate::helpers::{TestApp, assert_problem, json_body};
use crate::ws_client::{WsClient, connect_raw, hello, read_until_closed, send_text};

/// Who may use a route (the column "Who" of the table in docs/SECURITY.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// No token needed.
    Anyone,
    /// Any live token (a registered player or a guest).
    Player,
    /// A live token of a player seated in the game.
    Participant,
    /// A live token of the game's creator.
    Creator,
    /// A live token of the owner of the named object (ticket, invite, chat message, request).
    Owner,
}

/// Every REST route and method with who may call it. `system::ROUTES` must list exactly
/// these (a new route has to be classified here, and tested below if it needs a token).
pub const TABLE: &[(&str, &str, Who)] = &[
    ("post", "/api/v1/auth/register", Who::Anyone),
    ("post", "/api/v1/auth/login", Who::Anyone),
    ("post", "/api/v1/auth/guest", Who::Anyone),
    ("post", "/api/v1/auth/logout", Who::Player),
    ("post", "/api/v1/auth/logout-all", Who::Player),
    ("get", "/api/v1/me", Who::Player),
    ("patch", "/api/v1/me", Who::Player),
    ("get", "/api/v1/me/games", Who::Player),
    ("get", "/api/v1/players/{username}", Who::Anyone),
    ("get", "/api/v1/kinds", Who::Anyone),
    ("get", "/api/v1/games", Who::Anyone),
    ("post", "/api/v1/games", Who::Player),
    ("get", "/api/v1/games/{id}", Who::Anyone),
    ("get", "/api/v1/games/{id}/events", Who::Anyone),
    ("get", "/api/v1/games/{id}/pgn", Who::Anyone),
    ("get", "/api/v1/leaderboards/{kind}", Who::Anyone),
    (
        "get",
        "/api/v1/leaderboards/{kind}/around/{username}",
        Who::Anyone,
    ),
    ("get", "/api/v1/leaderboards/{kind}/points", Who::Anyone),
    ("get", "/api/v1/players/{username}/stats", Who::Anyone),
    ("get", "/api/v1/players/{username}/games", Who::Anyone),
    ("post", "/api/v1/games/{id}/join", Who::Player),
    ("post", "/api/v1/games/{id}/moves", Who::Participant),
    ("post", "/api/v1/games/{id}/resign", Who::Participant),
    ("post", "/api/v1/games/{id}/draw", Who::Participant),
    ("post", "/api/v1/games/{id}/abort", Who::Participant),
    ("post", "/api/v1/games/{id}/claim-victory", Who::Participant),
    ("post", "/api/v1/games/{id}/rematch", Who::Participant),
    ("get", "/api/v1/games/{id}/chat", Who::Player),
    ("post", "/api/v1/games/{id}/chat", Who::Player),
    ("delete", "/api/v1/games/{id}/chat/{seq}", Who::Owner),
    ("get", "/api/v1/lobby/chat", Who::Player),
    ("post", "/api/v1/lobby/chat", Who::Player),
    ("delete", "/api/v1/lobby/chat/{seq}", Who::Owner),
    ("get", "/api/v1/me/blocks", Who::Player),
    ("put", "/api/v1/me/blocks/{username}", Who::Player),
    ("delete", "/api/v1/me/blocks/{username}", Who::Player),
    ("post", "/api/v1/matchmaking/tickets", Who::Player),
    ("get", "/api/v1/matchmaking/tickets/{id}", Who::Owner),
    ("delete", "/api/v1/matchmaking/tickets/{id}", Who::Owner),
    ("get", "/api/v1/friends", Who::Player),
    ("post", "/api/v1/friends/requests", Who::Player),
    ("delete", "/api/v1/friends/requests/{username}", Who::Player),
    (
        "post",
        "/api/v1/friends/requests/{username}/accept",
        Who::Player,
    ),
    (
        "post",
        "/api/v1/friends/requests/{username}/decline",
        Who::Player,
    ),
    ("delete", "/api/v1/friends/{username}", Who::Player),
    ("post", "/api/v1/games/{id}/invites", Who::Creator),
    ("post", "/api/v1/games/{id}/invite-links", Who::Creator),
    ("get", "/api/v1/invites", Who::Player),
    ("delete", "/api/v1/invites/{id}", Who::Owner),
    ("post", "/api/v1/invites/{id}/accept", Who::Owner),
    ("post", "/api/v1/invites/{id}/decline", Who::Owner),
    ("get", "/api/v1/invite-links/{code}", Who::Player),
    ("post", "/api/v1/invite-links/{code}/accept", Who::Player),
    ("get", "/api/v1/notifications", Who::Player),
    ("post", "/api/v1/notifications/read", Who::Player),
    ("get", "/healthz", Who::Anyone),
    ("get", "/readyz", Who::Anyone),
    ("get", "/metrics", Who::Anyone),
];

/// A concrete path for a template (the objects need not exist: the token is checked first).
fn concrete(template: &str, game: Uuid) -> String {
    template
        .replace("{id}", &game.to_string())
        .replace("{username}", "alice")
        .replace("{kind}", "chess")
        .replace("{seq}", "1")
        .replace("{code}", "abcdefabcdefabcdefabcdefabcdefab")
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let mut req = app.http.request(method, app.url(path));
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// The game as its creator sees it (last event seq and seats), to show nothing changed.
async fn fingerprint(app: &TestApp, who: &Player, id: Uuid) -> (u64, usize, String) {
    let v = game_as(app, who, id).await;
    (v.last_seq, v.participants.len(), format!("{:?}", v.state))
}

/// Alice and bob in a tictactoe game in progress (alice moved once); carol is outside.
async fn three(app: &TestApp, visibility: &str) -> (Player, Player, Player, Uuid) {
    let alice = player(app, "alice").await;
    let bob = player(app, "bob").await;
    let carol = player(app, "carol").await;
    let game = create(
        app,
        &alice,
        "tictactoe",
        json!({ "visibility": visibility }),
    )
    .await;
    if visibility == "private" {
        // Bob sits by alice's invite (a private game cannot be joined by its id).
        let resp = app
            .authed_post_json(
                &format!("/api/v1/games/{}/invites", game.id),
                &alice.token,
                &json!({ "username": "bob" }),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED, "alice invites bob");
        let invite = json_body(resp).await["id"].as_str().unwrap().to_string();
        let resp = app
            .authed_post(&format!("/api/v1/invites/{invite}/accept"), &bob.token)
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "bob accepts");
    } else {
        let resp = app
            .authed_post(&format!("/api/v1/games/{}/join", game.id), &bob.token)
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "bob joins");
    }
    move_ok(app, &alice, game.id, json!({ "cell": 4 }), "a1").await;
    (alice, bob, carol, game.id)
}

#[test]
fn the_table_lists_exactly_the_routes_of_the_server() {
    let mut table: Vec<(String, String)> = TABLE
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let mut routes: Vec<(String, String)> = crate::system::ROUTES
        .iter()
        .flat_map(|(p, ms)| ms.iter().map(move |m| (m.to_string(), p.to_string())))
        .collect();
    table.sort();
    routes.sort();
    assert_eq!(table, routes);
}

both_backends! {
    async fn every_route_that_needs_a_token_answers_401_without_one_or_with_a_bad_one(app: TestApp) {
        let alice = player(&app, "alice").await;
        let game = create(&app, &alice, "tictactoe", json!({})).await;
        let before = fingerprint(&app, &alice, game.id).await;
        let mut checked = 0;
        for (method, template, who) in TABLE {
            if *who == Who::Anyone {
                continue;
            }
            let path = concrete(template, game.id);
            for auth in [None, Some("Bearer not-a-real-token"), Some("Basic YWxpY2U6cHc="), Some("Bearer ")] {
                let resp = call(&app, method, &path, auth, Some(json!({}))).await;
                let problem = assert_problem(resp, 401, "unauthorized").await;
                assert!(problem["detail"].is_string() || problem["title"].is_string(), "{method} {path}");
            }
            checked += 1;
        }
        assert!(checked >= 35, "{checked}");
        // A revoked token is as good as none.
        let resp = app.authed_post("/api/v1/auth/logout", &alice.token).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let resp = app.authed_get("/api/v1/me", &alice.token).await;
        assert_problem(resp, 401, "unauthorized").await;
        let again = app.login_ok("alice", crate::helpers::PASSWORD).await;
        let alice = Player { token: again, ..alice };
        assert_eq!(fingerprint(&app, &alice, game.id).await, before, "nothing changed");
    }

    async fn routes_for_anyone_answer_without_a_token(app: TestApp) {
        let alice = player(&app, "alice").await;
        let game = create(&app, &alice, "chess", json!({})).await;
        for (method, template, who) in TABLE {
            if *who != Who::Anyone || *method != "get" {
                continue;
            }
            let path = concrete(template, game.id);
            let resp = call(&app, method, &path, None, None).await;
            // (Some objects do not exist, e.g. alice has no rating yet: 404 is fine.)
            let status = resp.status();
            assert!(
                status.is_success() || status == StatusCode::NOT_FOUND,
                "GET {path} without a token: {status}"
            );
        }
    }

    async fn an_outsider_cannot_act_in_a_game_and_nothing_changes(app: TestApp) {
        let (alice, _bob, carol, id) = three(&app, "public").await;
        let before = fingerprint(&app, &alice, id).await;
        let bodies: &[(&str, Value)] = &[
            ("moves", json!({ "move": { "cell": 0 }, "client_move_id": "c1" })),
            ("resign", json!({})),
            ("draw", json!({ "action": "offer" })),
            ("abort", json!({})),
            ("claim-victory", json!({})),
            ("rematch", json!({})),
        ];
        for (what, body) in bodies {
            let resp = app.authed_post_json(&format!("/api/v1/games/{id}/{what}"), &carol.token, body).await;
            assert_problem(resp, 403, "not_a_participant").await;
        }
        // Joining a full game changes nothing either.
        let resp = app.authed_post(&format!("/api/v1/games/{id}/join"), &carol.token).await;
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        // The players' chat is the players'.
        let resp = app.authed_get(&format!("/api/v1/games/{id}/chat?room=players"), &carol.token).await;
        let status = resp.status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", resp.text().await.unwrap());
        let resp = app
            .authed_post_json(&format!("/api/v1/games/{id}/chat"), &carol.token, &json!({ "text": "hi", "room": "players" }))
            .await;
        assert_problem(resp, 403, "forbidden").await;
        assert_eq!(fingerprint(&app, &alice, id).await, before);

        // Over the WebSocket: the same refusals.
        let mut ws = WsClient::connect(&app, &carol.token).await;
        let msgs = [
            ClientMessage::Move { id: Some("m".into()), game_id: id, mv: json!({ "cell": 0 }), client_move_id: "c2".into() },
            ClientMessage::Resign { id: Some("m".into()), game_id: id },
            ClientMessage::Draw { id: Some("m".into()), game_id: id, action: DrawAction::Offer },
            ClientMessage::Abort { id: Some("m".into()), game_id: id },
            ClientMessage::ClaimVictory { id: Some("m".into()), game_id: id },
            ClientMessage::Rematch { id: Some("m".into()), game_id: id },
        ];
        for msg in msgs {
            match ws.request(&msg).await {
                ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::NotAParticipant, "{msg:?}"),
                other => panic!("{msg:?}: {other:?}"),
            }
        }
        let send = ClientMessage::ChatSend { id: Some("c".into()), room: format!("game:{id}:players"), text: "hi".into() };
        match ws.request(&send).await {
            ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::Forbidden),
            other => panic!("{other:?}"),
        }
        assert_eq!(fingerprint(&app, &alice, id).await, before);
    }

    async fn only_the_creator_invites_and_only_owners_touch_their_objects(app: TestApp) {
        let alice = player(&app, "alice").await;
        let carol = player(&app, "carol").await;
        let bob = player(&app, "bob").await;
        let game = create(&app, &alice, "tictactoe", json!({ "visibility": "public" })).await;
        let id = game.id;
        let resp = app.authed_post_json(&format!("/api/v1/games/{id}/invites"), &carol.token, &json!({ "username": "bob" })).await;
        assert_problem(resp, 403, "forbidden").await;
        let resp = app.authed_post(&format!("/api/v1/games/{id}/invite-links"), &carol.token).await;
        assert_problem(resp, 403, "forbidden").await;
        // Alice's invite to bob: carol can neither cancel, accept nor decline it.
        let resp = app.authed_post_json(&format!("/api/v1/games/{id}/invites"), &alice.token, &json!({ "username": "bob" })).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let invite = json_body(resp).await["id"].as_str().unwrap().to_string();
        let resp = call(&app, "delete", &format!("/api/v1/invites/{invite}"), Some(&format!("Bearer {}", carol.token)), None).await;
        assert_problem(resp, 404, "not_found").await;
        for what in ["accept", "decline"] {
            let resp = app.authed_post(&format!("/api/v1/invites/{invite}/{what}"), &carol.token).await;
            assert_problem(resp, 404, "not_found").await;
        }
        let invites: Value = json_body(app.authed_get("/api/v1/invites", &bob.token).await).await;
        assert_eq!(invites["received"].as_array().unwrap().len(), 1, "still pending: {invites}");
        // A matchmaking ticket is its owner's.
        let resp = app.authed_post_json("/api/v1/matchmaking/tickets", &alice.token, &json!({ "kind": "connect4" })).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let ticket = json_body(resp).await["id"].as_str().unwrap().to_string();
        let resp = app.authed_get(&format!("/api/v1/matchmaking/tickets/{ticket}"), &carol.token).await;
        assert_problem(resp, 404, "not_found").await;
        let resp = call(&app, "delete", &format!("/api/v1/matchmaking/tickets/{ticket}"), Some(&format!("Bearer {}", carol.token)), None).await;
        assert_problem(resp, 404, "not_found").await;
        let mut ws = WsClient::connect(&app, &carol.token).await;
        let cancel = ClientMessage::MatchmakingCancel { id: Some("t".into()), ticket_id: ticket.parse().unwrap() };
        match ws.request(&cancel).await {
            ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::NotFound),
            other => panic!("{other:?}"),
        }
        let mine: Value = json_body(app.authed_get(&format!("/api/v1/matchmaking/tickets/{ticket}"), &alice.token).await).await;
        assert_eq!(mine["state"], "waiting", "{mine}");
        // A lobby chat message is deleted only by its author.
        let resp = app.authed_post_json("/api/v1/lobby/chat", &alice.token, &json!({ "text": "hello" })).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let seq = json_body(resp).await["entry"]["seq"].as_u64().unwrap();
        let resp = call(&app, "delete", &format!("/api/v1/lobby/chat/{seq}"), Some(&format!("Bearer {}", carol.token)), None).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{:?}", resp.text().await);
        let delete = ClientMessage::ChatDelete { id: Some("d".into()), room: "lobby".into(), seq };
        match ws.request(&delete).await {
            ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::Forbidden),
            other => panic!("{other:?}"),
        }
        let page: Value = json_body(app.authed_get("/api/v1/lobby/chat", &bob.token).await).await;
        assert_eq!(page["entries"][0]["text"], "hello", "{page}");
    }

    async fn a_private_game_and_its_chat_are_invisible_to_outsiders(app: TestApp) {
        let (alice, bob, carol, id) = three(&app, "private").await;
        let chess = create(&app, &alice, "chess", json!({ "visibility": "private" })).await.id;
        let before = fingerprint(&app, &alice, id).await;
        let post = app
            .authed_post_json(&format!("/api/v1/games/{id}/chat"), &alice.token, &json!({ "text": "secret plans" }))
            .await;
        assert_eq!(post.status(), StatusCode::OK);
        // Insiders see it.
        assert_eq!(game_as(&app, &bob, id).await.id, id);
        let resp = app.authed_get(&format!("/api/v1/games/{id}/events"), &bob.token).await;
        assert_eq!(resp.status(), StatusCode::OK);
        // Outsiders, with or without a token, get what an unknown id gets.
        for token in [None, Some(carol.token.as_str())] {
            let auth = token.map(|t| format!("Bearer {t}"));
            for path in [
                format!("/api/v1/games/{id}"),
                format!("/api/v1/games/{id}/events"),
                format!("/api/v1/games/{chess}"),
                format!("/api/v1/games/{chess}/pgn"),
            ] {
                let resp = call(&app, "get", &path, auth.as_deref(), None).await;
                assert_problem(resp, 404, "not_found").await;
            }
            let list: GameList = serde_json::from_value(json_body(call(&app, "get", "/api/v1/games?limit=100", auth.as_deref(), None).await).await).unwrap();
            assert!(list.games.iter().all(|g| g.id != id && g.id != chess), "not in the lobby");
        }
        for room in [None, Some("spectators"), Some("players")] {
            let query = room.map(|r| format!("?room={r}")).unwrap_or_default();
            let resp = app.authed_get(&format!("/api/v1/games/{id}/chat{query}"), &carol.token).await;
            assert_problem(resp, 404, "not_found").await;
            let resp = app
                .authed_post_json(&format!("/api/v1/games/{id}/chat"), &carol.token, &json!({ "text": "let me in", "room": room }))
                .await;
            assert_problem(resp, 404, "not_found").await;
        }
        // Joining (a free seat of the waiting chess game) and acting are refused as unknown.
        let resp = app.authed_post(&format!("/api/v1/games/{chess}/join"), &carol.token).await;
        assert_problem(resp, 404, "not_found").await;
        let resp = app
            .authed_post_json(&format!("/api/v1/games/{id}/moves"), &carol.token, &json!({ "move": { "cell": 0 }, "client_move_id": "x" }))
            .await;
        assert_problem(resp, 404, "not_found").await;
        assert_eq!(game_as(&app, &alice, chess).await.participants.len(), 1, "carol did not sit");

        // Spectating over the WebSocket, its chat, and acting there: not found.
        let mut ws = WsClient::connect(&app, &carol.token).await;
        let tries = [
            ClientMessage::Subscribe { id: Some("s".into()), game_id: id, session_id: None, since_seq: None },
            ClientMessage::Subscribe { id: Some("s".into()), game_id: id, session_id: None, since_seq: Some(0) },
            ClientMessage::ChatSubscribe { id: Some("s".into()), room: format!("game:{id}:spectators"), since_seq: None },
            ClientMessage::ChatHistory { id: Some("s".into()), room: format!("game:{id}:spectators"), before: None, limit: None },
            ClientMessage::ChatSend { id: Some("s".into()), room: format!("game:{id}:spectators"), text: "hi".into() },
            ClientMessage::Join { id: Some("s".into()), game_id: chess },
            ClientMessage::Resign { id: Some("s".into()), game_id: id },
        ];
        for msg in tries {
            match ws.request(&msg).await {
                ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::NotFound, "{msg:?}"),
                other => panic!("{msg:?} answered {other:?}"),
            }
        }
        // Still usable afterwards: a public game can be followed on the same connection.
        let public = create(&app, &alice, "tictactoe", json!({})).await.id;
        ws.subscribe(public, None).await;

        // A player invited to the private game may look before accepting.
        let resp = app.authed_post_json(&format!("/api/v1/games/{chess}/invites"), &alice.token, &json!({ "username": "carol" })).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(game_as(&app, &carol, chess).await.id, chess);
        assert_eq!(fingerprint(&app, &alice, id).await, before, "nothing changed");
    }

    async fn the_websocket_serves_nothing_before_a_valid_hello(app: TestApp) {
        let alice = player(&app, "alice").await;
        let game = create(&app, &alice, "tictactoe", json!({})).await;
        // A request before hello.
        let mut ws = connect_raw(&app).await;
        let sub = ClientMessage::Subscribe { id: Some("s".into()), game_id: game.id, session_id: None, since_seq: None };
        send_text(&mut ws, serde_json::to_string(&sub).unwrap()).await;
        let (msgs, ending) = read_until_closed(&mut ws, std::time::Duration::from_secs(10)).await;
        assert!(matches!(msgs.as_slice(), [ServerMessage::Error { code: ErrorCode::HelloRequired, .. }]), "{msgs:?}");
        assert_eq!(ending.code(), Some(close_code::PROTOCOL_ERROR));
        // A bad token.
        for token in ["nope", "", &"x".repeat(300)] {
            let mut ws = connect_raw(&app).await;
            send_text(&mut ws, serde_json::to_string(&hello(token)).unwrap()).await;
            let (msgs, ending) = read_until_closed(&mut ws, std::time::Duration::from_secs(10)).await;
            assert!(matches!(msgs.as_slice(), [ServerMessage::Error { code: ErrorCode::Unauthorized, .. }]), "{msgs:?}");
            assert_eq!(ending.code(), Some(close_code::UNAUTHORIZED));
        }
        assert_eq!(game_as(&app, &alice, game.id).await.participants.len(), 1);
    }
}

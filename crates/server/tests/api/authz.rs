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

/// Every WebSocket message type (`ClientMessage`'s `type` tags) with who may send it (the
/// second table of docs/SECURITY.md). The protocol's schema must list exactly these.
pub const WS_TABLE: &[(&str, Who)] = &[
    ("hello", Who::Anyone),
    ("ping", Who::Player),
    ("subscribe", Who::Player),
    ("unsubscribe", Who::Player),
    ("join", Who::Player),
    ("move", Who::Participant),
    ("resign", Who::Participant),
    ("draw", Who::Participant),
    ("abort", Who::Participant),
    ("claim_victory", Who::Participant),
    ("rematch", Who::Participant),
    ("input", Who::Participant),
    ("chat_subscribe", Who::Player),
    ("chat_unsubscribe", Who::Player),
    ("chat_send", Who::Player),
    ("chat_delete", Who::Owner),
    ("chat_history", Who::Player),
    ("leaderboard_subscribe", Who::Player),
    ("leaderboard_unsubscribe", Who::Player),
    ("rating_subscribe", Who::Player),
    ("rating_unsubscribe", Who::Player),
    ("matchmaking_join", Who::Player),
    ("matchmaking_cancel", Who::Owner),
];

/// Routes served outside the OpenAPI document (the document itself, its page, the
/// WebSocket upgrade, the web client), listed in the route table as open to anyone.
const NOT_IN_OPENAPI: &[(&str, &str)] = &[
    ("get", "/api/openapi.json"),
    ("get", "/api/docs/{path}"),
    ("get", "/api/v1/ws"),
    ("get", "/"),
];

/// The rows (first and second cells) of the first Markdown table after the line `heading`.
fn doc_table(doc: &str, heading: &str) -> Vec<(String, String)> {
    let rows: Vec<&str> = doc
        .lines()
        .skip_while(|l| l.trim() != heading)
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and the separator
        .collect();
    assert!(
        !rows.is_empty(),
        "no table after {heading:?} in docs/SECURITY.md"
    );
    rows.iter()
        .map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            assert!(cells.len() >= 4, "a row with fewer than 3 cells: {row}");
            (cells[1].trim().to_string(), cells[2].trim().to_string())
        })
        .collect()
}

/// The `code spans` of a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The role a "Who" cell names first, in bold.
fn role(cell: &str) -> Who {
    let bold = cell
        .split("**")
        .nth(1)
        .unwrap_or_else(|| panic!("no **role** in the cell {cell:?}"));
    match bold {
        "anyone" => Who::Anyone,
        "player" => Who::Player,
        "participant" => Who::Participant,
        "creator" => Who::Creator,
        "owner" => Who::Owner,
        other => panic!("unknown role **{other}** in {cell:?}"),
    }
}

/// Differences between what docs/SECURITY.md says and what the code says, one per line.
fn differences<K: Ord + std::fmt::Debug>(
    documented: &std::collections::BTreeMap<K, Who>,
    code: &std::collections::BTreeMap<K, Who>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, who) in code {
        match documented.get(k) {
            None => out.push(format!("{k:?} ({who:?}) is missing from docs/SECURITY.md")),
            Some(d) if d != who => out.push(format!(
                "{k:?}: the code says {who:?}, docs/SECURITY.md says {d:?}"
            )),
            Some(_) => {}
        }
    }
    for k in documented.keys() {
        if !code.contains_key(k) {
            out.push(format!("{k:?} is in docs/SECURITY.md but not in the code"));
        }
    }
    out
}

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

#[test]
fn the_security_tables_match_the_code() {
    use std::collections::BTreeMap;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/SECURITY.md");
    let doc = std::fs::read_to_string(&path).unwrap();

    // REST: every operation once, as `METHOD /path`, with TABLE's role.
    let mut documented = BTreeMap::new();
    for (ops, who) in doc_table(&doc, "## Authorization of every route") {
        let who = role(&who);
        for span in code_spans(&ops) {
            let (method, path) = span
                .split_once(' ')
                .filter(|(m, p)| {
                    ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(m) && p.starts_with('/')
                })
                .unwrap_or_else(|| panic!("`{span}` in the route table is not `METHOD /path`"));
            let key = (method.to_ascii_lowercase(), path.to_string());
            assert!(
                documented.insert(key, who).is_none(),
                "`{span}` is listed twice"
            );
        }
    }
    let mut code: BTreeMap<(String, String), Who> = TABLE
        .iter()
        .map(|(m, p, who)| ((m.to_string(), p.to_string()), *who))
        .collect();
    // TABLE is exactly the live OpenAPI document's operations.
    let api = serde_json::to_value(versus_server::app::openapi()).unwrap();
    let mut operations: Vec<(String, String)> = api["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| (m.clone(), p.clone()))
        })
        .collect();
    operations.sort();
    assert_eq!(
        operations,
        code.keys().cloned().collect::<Vec<_>>(),
        "authz.rs TABLE vs the OpenAPI document"
    );
    for (m, p) in NOT_IN_OPENAPI {
        code.insert((m.to_string(), p.to_string()), Who::Anyone);
    }
    let diff = differences(&documented, &code);
    assert!(
        diff.is_empty(),
        "the route table of docs/SECURITY.md:\n{}",
        diff.join("\n")
    );

    // WebSocket: every ClientMessage type once, with WS_TABLE's role.
    let mut documented = BTreeMap::new();
    for (messages, who) in doc_table(&doc, "### WebSocket messages") {
        let who = role(&who);
        for name in code_spans(&messages) {
            assert!(
                documented.insert(name.to_string(), who).is_none(),
                "`{name}` is listed twice"
            );
        }
    }
    let code: BTreeMap<String, Who> = WS_TABLE
        .iter()
        .map(|(n, who)| (n.to_string(), *who))
        .collect();
    let schema = versus_protocol::json_schema();
    let mut types: Vec<String> = schema["client_to_server"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v["properties"]["type"]["const"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    types.sort();
    assert!(types.len() >= 23, "{types:?}");
    assert_eq!(
        types,
        code.keys().cloned().collect::<Vec<_>>(),
        "authz.rs WS_TABLE vs ClientMessage"
    );
    let diff = differences(&documented, &code);
    assert!(
        diff.is_empty(),
        "the WebSocket table of docs/SECURITY.md:\n{}",
        diff.join("\n")
    );
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
            ClientMessage::Move { id: Some("m1".into()), game_id: id, mv: json!({ "cell": 0 }), client_move_id: "c2".into() },
            ClientMessage::Resign { id: Some("m2".into()), game_id: id },
            ClientMessage::Draw { id: Some("m3".into()), game_id: id, action: DrawAction::Offer },
            ClientMessage::Abort { id: Some("m4".into()), game_id: id },
            ClientMessage::ClaimVictory { id: Some("m5".into()), game_id: id },
            ClientMessage::Rematch { id: Some("m6".into()), game_id: id },
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
            ClientMessage::Subscribe { id: Some("s1".into()), game_id: id, session_id: None, since_seq: None },
            ClientMessage::Subscribe { id: Some("s2".into()), game_id: id, session_id: None, since_seq: Some(0) },
            ClientMessage::ChatSubscribe { id: Some("s3".into()), room: format!("game:{id}:spectators"), since_seq: None },
            ClientMessage::ChatHistory { id: Some("s4".into()), room: format!("game:{id}:spectators"), before: None, limit: None },
            ClientMessage::ChatSend { id: Some("s5".into()), room: format!("game:{id}:spectators"), text: "hi".into() },
            ClientMessage::Join { id: Some("s6".into()), game_id: chess },
            ClientMessage::Resign { id: Some("s7".into()), game_id: id },
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

    async fn marking_someone_elses_notifications_read_changes_nothing(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let carol = player(&app, "carol").await;
        // Bob gets a notification (alice's friend request); carol one of her own.
        let resp = app.authed_post_json("/api/v1/friends/requests", &alice.token, &json!({ "username": "bob" })).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let resp = app.authed_post_json("/api/v1/friends/requests", &alice.token, &json!({ "username": "carol" })).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let before: Value = json_body(app.authed_get("/api/v1/notifications", &bob.token).await).await;
        assert_eq!(before["unread"], 1, "{before}");
        let bobs: Vec<Value> = before["notifications"].as_array().unwrap().iter().map(|n| n["id"].clone()).collect();
        // Carol names bob's notification: nothing is marked.
        let resp = app.authed_post_json("/api/v1/notifications/read", &carol.token, &json!({ "ids": bobs })).await;
        assert_eq!(json_body(resp).await["marked"], 0);
        // Carol marks all of hers: only hers.
        let resp = app.authed_post_json("/api/v1/notifications/read", &carol.token, &json!({})).await;
        assert_eq!(json_body(resp).await["marked"], 1);
        let after: Value = json_body(app.authed_get("/api/v1/notifications", &bob.token).await).await;
        assert_eq!(after, before, "bob's notifications are unchanged");
        // Bob can still mark his own.
        let resp = app.authed_post_json("/api/v1/notifications/read", &bob.token, &json!({ "ids": bobs })).await;
        assert_eq!(json_body(resp).await["marked"], 1);
    }

    async fn every_websocket_game_action_of_an_outsider_is_refused_and_changes_nothing(app: TestApp) {
        use versus_protocol::Role;
        use versus_protocol::realtime::Direction;
        let (alice, _bob, carol, public) = three(&app, "public").await;
        let private = {
            let game = create(&app, &alice, "tictactoe", json!({ "visibility": "private" })).await;
            game.id
        };
        // Real-time games (waiting for their second player) for `input`.
        let cycles_public = create(&app, &alice, "lightcycles", json!({})).await.id;
        let cycles_private = create(&app, &alice, "lightcycles", json!({ "visibility": "private" })).await.id;
        let games = [public, private, cycles_public, cycles_private];
        let mut before = Vec::new();
        for id in games {
            before.push(fingerprint(&app, &alice, id).await);
        }
        // Every request gets its own id (a reply is found by its id).
        let counter = std::cell::Cell::new(0);
        let id = || {
            counter.set(counter.get() + 1);
            Some(format!("a{}", counter.get()))
        };
        let actions = |game_id: Uuid| {
            vec![
                ClientMessage::Move { id: id(), game_id, mv: json!({ "cell": 0 }), client_move_id: "c9".into() },
                ClientMessage::Resign { id: id(), game_id },
                ClientMessage::Draw { id: id(), game_id, action: DrawAction::Offer },
                ClientMessage::Abort { id: id(), game_id },
                ClientMessage::ClaimVictory { id: id(), game_id },
                ClientMessage::Rematch { id: id(), game_id },
            ]
        };
        let input = |game_id: Uuid| ClientMessage::Input { id: id(), game_id, dir: Direction::Up };
        let mut ws = WsClient::connect(&app, &carol.token).await;
        let refused = |ws_reply: ServerMessage, code: ErrorCode, what: &str| match ws_reply {
            ServerMessage::Error { code: got, .. } => assert_eq!(got, code, "{what}"),
            other => panic!("{what}: {other:?}"),
        };
        // A public game: carol may watch (as a spectator), not act.
        let watching = ws.subscribe(public, None).await;
        assert_eq!(watching.role, Role::Spectator);
        for msg in actions(public) {
            let what = format!("{msg:?}");
            refused(ws.request(&msg).await, ErrorCode::NotAParticipant, &what);
        }
        refused(ws.request(&input(cycles_public)).await, ErrorCode::NotAParticipant, "input (public)");
        // A private game: it does not exist for carol, whatever she sends.
        let subscribe = ClientMessage::Subscribe { id: id(), game_id: private, session_id: None, since_seq: None };
        refused(ws.request(&subscribe).await, ErrorCode::NotFound, "subscribe (private)");
        for msg in actions(private) {
            let what = format!("{msg:?}");
            refused(ws.request(&msg).await, ErrorCode::NotFound, &what);
        }
        let subscribe = ClientMessage::Subscribe { id: id(), game_id: cycles_private, session_id: None, since_seq: None };
        refused(ws.request(&subscribe).await, ErrorCode::NotFound, "subscribe (private, real-time)");
        refused(ws.request(&input(cycles_private)).await, ErrorCode::NotFound, "input (private)");
        let mut after = Vec::new();
        for id in games {
            after.push(fingerprint(&app, &alice, id).await);
        }
        assert_eq!(after, before, "nothing changed");
    }
}

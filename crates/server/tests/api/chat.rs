//! Chat (issue 8): delivery over the socket, persistence, ordering, history paging and
//! resume by seq, every rule's error, deleting, blocking, the flood mute and the operator's
//! mute from the command line — on SQLite and PostgreSQL.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use versus_protocol::{
    ChatEntry, ChatEntryKind, ChatPage, ClientMessage, ErrorCode, ServerMessage,
};

use crate::games::{Player, action_ok, player, started_game};
use crate::helpers::{TestApp, assert_problem, binary_command, json_body};
use crate::ws_client::{WsClient, assert_ws_error};

fn players_room(game: Uuid) -> String {
    format!("game:{game}:players")
}

async fn post(app: &TestApp, p: &Player, path: &str, body: Value) -> reqwest::Response {
    app.authed_post_json(path, &p.token, &body).await
}

async fn post_ok(app: &TestApp, p: &Player, path: &str, text: &str) -> ChatEntry {
    let resp = post(app, p, path, json!({ "text": text })).await;
    assert_eq!(resp.status(), StatusCode::OK, "post {text:?} to {path}");
    serde_json::from_value(json_body(resp).await["entry"].clone()).unwrap()
}

async fn page(app: &TestApp, p: &Player, path: &str) -> ChatPage {
    let resp = app.authed_get(path, &p.token).await;
    assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
    serde_json::from_value(json_body(resp).await).unwrap()
}

/// Subscribes to `room` and returns the reply's entries and last seq.
async fn chat_subscribe(
    ws: &mut WsClient,
    room: &str,
    since: Option<u64>,
) -> (Vec<ChatEntry>, u64, bool) {
    let id = ws.next_id();
    let msg = ClientMessage::ChatSubscribe {
        id: Some(id),
        room: room.to_string(),
        since_seq: since,
    };
    match ws.request(&msg).await {
        ServerMessage::ChatSubscribed {
            entries,
            last_seq,
            resync,
            ..
        } => (entries, last_seq, resync),
        other => panic!("expected chat_subscribed, got {other:?}"),
    }
}

/// Reads live chat entries of `room` until one with `seq` arrived; returns them all.
async fn chat_until(ws: &mut WsClient, room: &str, seq: u64) -> Vec<ChatEntry> {
    let mut got = Vec::new();
    loop {
        if let ServerMessage::Chat(e) = ws.recv_until(|m| matches!(m, ServerMessage::Chat(_))).await
            && e.room == room
        {
            let done = e.seq >= seq;
            got.push(e);
            if done {
                return got;
            }
        }
    }
}

async fn send(ws: &mut WsClient, room: &str, text: &str) -> ServerMessage {
    let id = ws.next_id();
    ws.request(&ClientMessage::ChatSend {
        id: Some(id),
        room: room.to_string(),
        text: text.to_string(),
    })
    .await
}

fn texts(entries: &[ChatEntry]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.kind == ChatEntryKind::Message)
        .filter_map(|e| e.text.clone())
        .collect()
}

fn assert_consecutive(entries: &[ChatEntry], after: u64) {
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(
            e.seq,
            after + 1 + i as u64,
            "entries are gap-free and in order: {entries:?}"
        );
    }
}

both_backends! {
    settings = &[("chat_burst", "100")];

    async fn two_players_chat_over_the_socket_and_each_sees_every_message_once_in_order(app: TestApp) {
        let (game, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
        let room = players_room(game.id);
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        let (_, a_last, _) = chat_subscribe(&mut a, &room, None).await;
        let (_, b_last, _) = chat_subscribe(&mut b, &room, None).await;
        let mut last = 0;
        for (i, text) in ["hi", "hello", "good luck", "you too", "gg"].iter().enumerate() {
            let ws = if i % 2 == 0 { &mut a } else { &mut b };
            match send(ws, &room, text).await {
                ServerMessage::ChatAck { seq, .. } => {
                    assert!(seq > last);
                    last = seq;
                }
                other => panic!("expected chat_ack, got {other:?}"),
            }
        }
        let a_got = chat_until(&mut a, &room, last).await;
        let b_got = chat_until(&mut b, &room, last).await;
        assert_consecutive(&a_got, a_last);
        assert_consecutive(&b_got, b_last);
        let want = vec!["hi", "hello", "good luck", "you too", "gg"];
        assert_eq!(texts(&a_got), want);
        assert_eq!(texts(&b_got), want);
        assert_eq!(a_got.last().unwrap().author.as_ref().unwrap().username, "alice");

        // System messages come from the game's events: bob joined, the game started.
        let history = page(&app, &alice, &format!("/api/v1/games/{}/chat", game.id)).await;
        let system: Vec<_> = history.entries.iter().filter(|e| e.kind == ChatEntryKind::System).filter_map(|e| e.text.clone()).collect();
        assert!(system.iter().any(|t| t.contains("bob joined")), "{system:?}");
        // A resign ends the game: a result message follows.
        action_ok(&app, &bob, game.id, "resign").await;
        let end = a.recv_until(|m| matches!(m, ServerMessage::Chat(e) if e.kind == ChatEntryKind::System && e.text.as_deref().is_some_and(|t| t.contains("Game over")))).await;
        assert!(matches!(end, ServerMessage::Chat(_)));
    }

    async fn history_is_durable_paged_and_a_resubscribe_gets_exactly_the_missed_entries(app: TestApp) {
        let alice = player(&app, "alice").await;
        let mut seqs = Vec::new();
        let mut ws = WsClient::connect(&app, &alice.token).await;
        let (initial, _, _) = chat_subscribe(&mut ws, "lobby", None).await;
        assert!(initial.is_empty());
        for i in 1..=7 {
            seqs.push(post_ok(&app, &alice, "/api/v1/lobby/chat", &format!("m{i}")).await.seq);
        }
        assert_eq!(seqs, (1..=7).collect::<Vec<u64>>());
        let live = chat_until(&mut ws, "lobby", 7).await;
        assert_eq!(texts(&live), (1..=7).map(|i| format!("m{i}")).collect::<Vec<_>>());

        let p1 = page(&app, &alice, "/api/v1/lobby/chat?limit=3").await;
        assert_eq!(p1.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5, 6, 7]);
        assert!(p1.has_more);
        assert_eq!(p1.last_seq, 7);
        let p2 = page(&app, &alice, "/api/v1/lobby/chat?limit=3&before=5").await;
        assert_eq!(p2.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3, 4]);
        let p3 = page(&app, &alice, "/api/v1/lobby/chat?limit=3&before=2").await;
        assert_eq!(p3.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1]);
        assert!(!p3.has_more);
        let bad = app.authed_get("/api/v1/lobby/chat?limit=x", &alice.token).await;
        assert_problem(bad, 400, "malformed_request").await;

        // Over the socket: history paging, and resume by seq.
        let id = ws.next_id();
        match ws.request(&ClientMessage::ChatHistory { id: Some(id), room: "lobby".into(), before: Some(7), limit: Some(2) }).await {
            ServerMessage::ChatHistory { page, .. } => {
                assert_eq!(page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5, 6]);
            }
            other => panic!("{other:?}"),
        }
        drop(ws);
        let app = app.restart().await;
        let mut ws = WsClient::connect(&app, &alice.token).await;
        let (missed, last, resync) = chat_subscribe(&mut ws, "lobby", Some(4)).await;
        assert!(!resync);
        assert_eq!(last, 7);
        assert_eq!(missed.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5, 6, 7]);
        post_ok(&app, &alice, "/api/v1/lobby/chat", "after restart").await;
        let live = chat_until(&mut ws, "lobby", 8).await;
        assert_eq!(live.len(), 1, "nothing duplicated: {live:?}");
        // Ahead of the room: a resync with the recent history.
        let mut ws2 = WsClient::connect(&app, &alice.token).await;
        let (recent, last, resync) = chat_subscribe(&mut ws2, "lobby", Some(99)).await;
        assert!(resync);
        assert_eq!(last, 8);
        assert_eq!(recent.len(), 8);
    }

    async fn every_chat_rule_has_its_error(app: TestApp) {
        let (game, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
        let carol = player(&app, "carol").await;
        let path = format!("/api/v1/games/{}/chat", game.id);
        let resp = post(&app, &alice, &path, json!({ "text": "\u{7}\u{1b} \n" })).await;
        assert_problem(resp, 422, "chat_empty").await;
        let resp = post(&app, &alice, &path, json!({ "text": "x".repeat(501) })).await;
        assert_problem(resp, 422, "chat_too_long").await;
        let ok = post_ok(&app, &alice, &path, &"é".repeat(500)).await;
        assert_eq!(ok.text.unwrap().chars().count(), 500);
        let stripped = post_ok(&app, &alice, &path, "a\u{7}b\u{0}c\nd").await;
        assert_eq!(stripped.text.as_deref(), Some("abcd"));
        // Rooms: a spectator may not write in the players' room; players do not see the
        // spectators' room while the game runs; afterwards they do.
        let resp = post(&app, &carol, &path, json!({ "text": "hi", "room": "players" })).await;
        assert_problem(resp, 403, "forbidden").await;
        let spect = post_ok(&app, &carol, &path, "watching").await;
        assert_eq!(spect.room, format!("game:{}:spectators", game.id));
        let resp = app.authed_get(&format!("{path}?room=spectators"), &alice.token).await;
        assert_problem(resp, 403, "forbidden").await;
        let resp = app.authed_get(&format!("{path}?room=players"), &carol.token).await;
        assert_problem(resp, 403, "forbidden").await;
        action_ok(&app, &bob, game.id, "resign").await;
        // The result's system message is written after the game's commit, by the chat's own
        // writer: wait for it, so that it cannot fall between the entries whose seqs are
        // checked below.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !page(&app, &alice, &path).await.entries.iter().any(|e| {
            e.kind == ChatEntryKind::System && e.text.as_deref().is_some_and(|t| t.starts_with("Game over"))
        }) {
            assert!(std::time::Instant::now() < deadline, "no system message for the result");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let after = page(&app, &alice, &format!("{path}?room=spectators")).await;
        assert!(texts(&after.entries).contains(&"watching".to_string()));
        let resp = post(&app, &alice, &format!("/api/v1/games/{}/chat", Uuid::now_v7()), json!({ "text": "hi" })).await;
        assert_problem(resp, 404, "not_found").await;
        // Guests chat in games, not in the lobby.
        let (guest_token, _) = app.guest().await;
        let resp = app.authed_post_json("/api/v1/lobby/chat", &guest_token, &json!({ "text": "hi" })).await;
        assert_problem(resp, 403, "guests_not_allowed").await;
        let resp = app.authed_post_json(&path, &guest_token, &json!({ "text": "hi" })).await;
        assert_eq!(resp.status(), StatusCode::OK);
        // Deleting: only the author; others see it as deleted.
        let m = post_ok(&app, &bob, &path, "oops").await;
        let resp = app.http.delete(app.url(&format!("{path}/{}", m.seq))).bearer_auth(&alice.token).send().await.unwrap();
        assert_problem(resp, 403, "forbidden").await;
        let resp = app.http.delete(app.url(&format!("{path}/{}", m.seq))).bearer_auth(&bob.token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let deletion: ChatEntry = serde_json::from_value(json_body(resp).await["entry"].clone()).unwrap();
        assert_eq!(deletion.kind, ChatEntryKind::Deletion);
        assert_eq!(deletion.target_seq, Some(m.seq));
        assert_eq!(deletion.seq, m.seq + 1);
        let resp = app.http.delete(app.url(&format!("{path}/{}", m.seq))).bearer_auth(&bob.token).send().await.unwrap();
        assert_problem(resp, 404, "not_found").await;
        let h = page(&app, &alice, &path).await;
        let shown = h.entries.iter().find(|e| e.seq == m.seq).unwrap();
        assert!(shown.deleted && shown.text.is_none());
        // Over the socket.
        let mut ws = WsClient::connect(&app, &alice.token).await;
        assert_ws_error(&send(&mut ws, "nowhere", "hi").await, ErrorCode::NotFound);
        assert_ws_error(&send(&mut ws, "lobby", "").await, ErrorCode::ChatEmpty);
        let id = ws.next_id();
        let r = ws.request(&ClientMessage::ChatUnsubscribe { id: Some(id), room: "lobby".into() }).await;
        assert_ws_error(&r, ErrorCode::NotSubscribed);
    }

    async fn blocking_hides_a_players_messages_live_and_in_history(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let carol = player(&app, "carol").await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        chat_subscribe(&mut a, "lobby", None).await;
        let resp = app.http.put(app.url("/api/v1/me/blocks/bob")).bearer_auth(&alice.token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let resp = app.http.put(app.url("/api/v1/me/blocks/alice")).bearer_auth(&alice.token).send().await.unwrap();
        assert_problem(resp, 422, "validation_failed").await;
        let list = json_body(app.authed_get("/api/v1/me/blocks", &alice.token).await).await;
        assert_eq!(list["players"][0]["username"], "bob");
        post_ok(&app, &bob, "/api/v1/lobby/chat", "spam").await;
        post_ok(&app, &carol, "/api/v1/lobby/chat", "hello").await;
        let live = chat_until(&mut a, "lobby", 2).await;
        assert_eq!(live[0].kind, ChatEntryKind::Hidden);
        assert!(live[0].text.is_none() && live[0].author.is_none());
        assert_eq!(live[1].text.as_deref(), Some("hello"));
        let h = page(&app, &alice, "/api/v1/lobby/chat").await;
        assert_eq!(h.entries[0].kind, ChatEntryKind::Hidden);
        let h = page(&app, &carol, "/api/v1/lobby/chat").await;
        assert_eq!(h.entries[0].text.as_deref(), Some("spam"));
        let resp = app.http.delete(app.url("/api/v1/me/blocks/bob")).bearer_auth(&alice.token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        post_ok(&app, &bob, "/api/v1/lobby/chat", "sorry").await;
        let live = chat_until(&mut a, "lobby", 3).await;
        assert_eq!(live[0].text.as_deref(), Some("sorry"));
    }

    async fn an_operator_mutes_and_unmutes_a_player_from_the_command_line(app: TestApp) {
        let alice = player(&app, "alice").await;
        let run = |args: &[&str]| {
            let out = binary_command()
                .args(args)
                .env("VERSUS_DATABASE_URL", &app.database.url)
                .env("VERSUS_DATA_DIR", app.config.data_dir.as_os_str())
                .output()
                .expect("versus runs");
            (out.status, String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
        };
        let (status, stdout, stderr) = run(&["admin", "mute", "alice", "--minutes", "10"]);
        assert!(status.success(), "{stdout} {stderr}");
        assert!(stdout.contains("muted alice"), "{stdout}");
        let resp = post(&app, &alice, "/api/v1/lobby/chat", json!({ "text": "hi" })).await;
        assert_problem(resp, 403, "muted").await;
        let (status, _, stderr) = run(&["admin", "mute", "nobody", "--minutes", "10"]);
        assert!(!status.success());
        assert!(stderr.contains("nobody"), "{stderr}");
        let (status, stdout, _) = run(&["admin", "unmute", "alice"]);
        assert!(status.success());
        assert!(stdout.contains("unmuted alice"));
        post_ok(&app, &alice, "/api/v1/lobby/chat", "hi again").await;
    }
}

mod flood {
    use super::*;

    both_backends! {
        settings = &[("chat_burst", "3"), ("chat_refill_ms", "60000"), ("chat_flood_strikes", "2"), ("chat_flood_mute_seconds", "600")];

        async fn a_burst_is_allowed_then_the_rate_limit_then_a_flood_mute(app: TestApp) {
            let alice = player(&app, "alice").await;
            for i in 0..3 {
                post_ok(&app, &alice, "/api/v1/lobby/chat", &format!("m{i}")).await;
            }
            let resp = post(&app, &alice, "/api/v1/lobby/chat", json!({ "text": "more" })).await;
            let retry = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
            assert!(retry.is_some_and(|s| s > 0 && s <= 60), "{retry:?}");
            assert_problem(resp, 429, "chat_rate_limited").await;
            let resp = post(&app, &alice, "/api/v1/lobby/chat", json!({ "text": "more" })).await;
            assert_problem(resp, 403, "muted").await;
            // The mute holds in every room, and for longer than the rate limit.
            let (game, _, _) = started_game_as(&app, &alice).await;
            let resp = post(&app, &alice, &format!("/api/v1/games/{game}/chat"), json!({ "text": "x" })).await;
            assert_problem(resp, 403, "muted").await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn started_game_as(app: &TestApp, p: &Player) -> (Uuid, (), ()) {
        let created = crate::games::create(app, p, "tictactoe", json!({})).await;
        (created.id, (), ())
    }
}

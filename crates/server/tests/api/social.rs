//! Social (issue 9): friend requests and friends with presence, invites to a player and by
//! link, notifications stored and delivered live, and blocking — on SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use versus_protocol::{
    FriendList, InviteAccepted, InviteLink, InviteLinkInfo, InviteList, InviteState,
    NotificationKind, NotificationPage, PresenceStatus, ServerMessage, SessionState,
};

use crate::games::{Player, create, game, game_as, move_ok, player, started_game};
use crate::helpers::{TestApp, assert_problem, json_body};
use crate::ws_client::WsClient;

async fn post(app: &TestApp, p: &Player, path: &str, body: Value) -> reqwest::Response {
    app.authed_post_json(path, &p.token, &body).await
}

async fn delete(app: &TestApp, p: &Player, path: &str) -> reqwest::Response {
    app.http
        .delete(app.url(path))
        .bearer_auth(&p.token)
        .send()
        .await
        .unwrap()
}

async fn get<T: serde::de::DeserializeOwned>(app: &TestApp, p: &Player, path: &str) -> T {
    let resp = app.authed_get(path, &p.token).await;
    assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
    serde_json::from_value(json_body(resp).await).unwrap()
}

async fn befriend(app: &TestApp, a: &Player, b: &Player) {
    let resp = post(
        app,
        a,
        "/api/v1/friends/requests",
        json!({ "username": b.username }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app
        .authed_post(
            &format!("/api/v1/friends/requests/{}/accept", a.username),
            &b.token,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

async fn waiting_game(app: &TestApp, creator: &Player, visibility: &str) -> Uuid {
    create(
        app,
        creator,
        "tictactoe",
        json!({ "visibility": visibility }),
    )
    .await
    .id
}

async fn notifications(app: &TestApp, p: &Player) -> NotificationPage {
    get(app, p, "/api/v1/notifications").await
}

both_backends! {
    async fn friend_requests_are_sent_accepted_declined_cancelled_and_removed(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let carol = player(&app, "carol").await;

        let resp = post(&app, &alice, "/api/v1/friends/requests", json!({ "username": "bob" })).await;
        assert_eq!(json_body(resp).await["status"], "sent");
        let bobs: FriendList = get(&app, &bob, "/api/v1/friends").await;
        assert_eq!(bobs.incoming.len(), 1);
        assert_eq!(bobs.incoming[0].from.username, "alice");
        let alices: FriendList = get(&app, &alice, "/api/v1/friends").await;
        assert_eq!(alices.outgoing[0].to.username, "bob");
        // Bob was told.
        let n = notifications(&app, &bob).await;
        assert_eq!(n.unread, 1);
        assert_eq!(n.notifications[0].kind, NotificationKind::FriendRequest);
        assert_eq!(n.notifications[0].data["from"]["username"], "alice");

        // Only the addressee accepts.
        let resp = app.authed_post("/api/v1/friends/requests/bob/accept", &alice.token).await;
        assert_problem(resp, 404, "not_found").await;
        let resp = app.authed_post("/api/v1/friends/requests/alice/accept", &bob.token).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let alices: FriendList = get(&app, &alice, "/api/v1/friends").await;
        assert_eq!(alices.friends.len(), 1);
        assert_eq!(alices.friends[0].player.username, "bob");
        assert_eq!(alices.friends[0].presence.status, PresenceStatus::Offline);
        assert!(alices.outgoing.is_empty());
        assert_eq!(notifications(&app, &alice).await.notifications[0].kind, NotificationKind::FriendAccepted);
        let resp = post(&app, &bob, "/api/v1/friends/requests", json!({ "username": "alice" })).await;
        assert_eq!(json_body(resp).await["status"], "friends");

        // Decline and cancel.
        post(&app, &carol, "/api/v1/friends/requests", json!({ "username": "alice" })).await;
        let resp = app.authed_post("/api/v1/friends/requests/carol/decline", &alice.token).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let resp = app.authed_post("/api/v1/friends/requests/carol/decline", &alice.token).await;
        assert_problem(resp, 404, "not_found").await;
        post(&app, &carol, "/api/v1/friends/requests", json!({ "username": "alice" })).await;
        assert_eq!(delete(&app, &carol, "/api/v1/friends/requests/alice").await.status(), StatusCode::NO_CONTENT);
        let alices: FriendList = get(&app, &alice, "/api/v1/friends").await;
        assert!(alices.incoming.is_empty());

        // Errors.
        let resp = post(&app, &alice, "/api/v1/friends/requests", json!({ "username": "nobody" })).await;
        assert_problem(resp, 404, "not_found").await;
        let resp = post(&app, &alice, "/api/v1/friends/requests", json!({ "username": "alice" })).await;
        assert_problem(resp, 422, "validation_failed").await;
        let resp = app.get("/api/v1/friends").await;
        assert_problem(resp, 401, "unauthorized").await;

        // Removing.
        assert_eq!(delete(&app, &bob, "/api/v1/friends/alice").await.status(), StatusCode::NO_CONTENT);
        assert_problem(delete(&app, &bob, "/api/v1/friends/alice").await, 404, "not_found").await;
        let alices: FriendList = get(&app, &alice, "/api/v1/friends").await;
        assert!(alices.friends.is_empty());
    }

    async fn blocking_refuses_friend_requests_and_invites_and_hides_them(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let game_id = waiting_game(&app, &alice, "private").await;
        // Bob had a pending invite from alice; then he blocks her.
        let resp = post(&app, &alice, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": "bob" })).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let invite_id = json_body(resp).await["id"].as_str().unwrap().to_string();
        let resp = app.http.put(app.url("/api/v1/me/blocks/alice")).bearer_auth(&bob.token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let bobs: InviteList = get(&app, &bob, "/api/v1/invites").await;
        assert!(bobs.received.is_empty(), "hidden");
        let resp = app.authed_post(&format!("/api/v1/invites/{invite_id}/accept"), &bob.token).await;
        assert_problem(resp, 404, "not_found").await;
        // New invites and friend requests either way are refused.
        let resp = post(&app, &alice, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": "bob" })).await;
        assert_problem(resp, 403, "forbidden").await;
        let resp = post(&app, &alice, "/api/v1/friends/requests", json!({ "username": "bob" })).await;
        assert_problem(resp, 403, "forbidden").await;
        let resp = post(&app, &bob, "/api/v1/friends/requests", json!({ "username": "alice" })).await;
        assert_problem(resp, 403, "forbidden").await;
        // And links.
        let resp = app.authed_post(&format!("/api/v1/games/{game_id}/invite-links"), &alice.token).await;
        let link: InviteLink = serde_json::from_value(json_body(resp).await).unwrap();
        let resp = app.authed_post(&format!("/api/v1/invite-links/{}/accept", link.code), &bob.token).await;
        assert_problem(resp, 403, "forbidden").await;
    }

    async fn blocking_ends_the_friendship_and_requests_and_hides_the_blocked_players_notifications(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let carol = player(&app, "carol").await;
        let dave = player(&app, "dave").await;
        befriend(&app, &alice, &bob).await;
        // Pending requests both ways between bob and the players he will block.
        post(&app, &carol, "/api/v1/friends/requests", json!({ "username": "bob" })).await;
        post(&app, &bob, "/api/v1/friends/requests", json!({ "username": "dave" })).await;
        let game_id = waiting_game(&app, &alice, "private").await;
        let resp = post(&app, &alice, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": "bob" })).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let kinds = |page: &NotificationPage| page.notifications.iter().map(|n| (n.kind, n.data.to_string())).collect::<Vec<_>>();
        let before = notifications(&app, &bob).await;
        assert_eq!(before.unread, 3, "alice's request and invite, carol's request: {:?}", kinds(&before));
        let mut alice_ws = WsClient::connect(&app, &alice.token).await;

        for name in ["alice", "carol", "dave"] {
            let resp = app.http.put(app.url(&format!("/api/v1/me/blocks/{name}"))).bearer_auth(&bob.token).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        }
        // No friendship, no request either way, on both sides.
        let bobs: FriendList = get(&app, &bob, "/api/v1/friends").await;
        assert!(bobs.friends.is_empty() && bobs.incoming.is_empty() && bobs.outgoing.is_empty(), "{bobs:?}");
        for p in [&alice, &carol, &dave] {
            let theirs: FriendList = get(&app, p, "/api/v1/friends").await;
            assert!(theirs.friends.is_empty() && theirs.incoming.is_empty() && theirs.outgoing.is_empty(), "{}: {theirs:?}", p.username);
        }
        // Their notifications are hidden from bob, and not counted.
        let after = notifications(&app, &bob).await;
        assert!(after.notifications.is_empty(), "{:?}", kinds(&after));
        assert_eq!(after.unread, 0);
        // Alice, not a friend any more, hears nothing of bob coming online.
        let bob_ws = WsClient::connect(&app, &bob.token).await;
        let carols_ws = WsClient::connect(&app, &carol.token).await;
        befriend(&app, &carol, &alice).await;
        let m = alice_ws.recv_until(|m| matches!(m, ServerMessage::Presence(_))).await;
        let ServerMessage::Presence(p) = m else { unreachable!() };
        assert_eq!(p.player.username, "carol", "the first presence alice hears is her new friend's, not bob's");
        // Accepting a request across a block is refused too.
        let resp = app.http.delete(app.url("/api/v1/me/blocks/dave")).bearer_auth(&bob.token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        post(&app, &dave, "/api/v1/friends/requests", json!({ "username": "bob" })).await;
        let resp = app.http.put(app.url("/api/v1/me/blocks/dave")).bearer_auth(&bob.token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let resp = app.authed_post("/api/v1/friends/requests/dave/accept", &bob.token).await;
        assert_problem(resp, 403, "forbidden").await;
        // Unblocking carol shows her old notification again (it was hidden, not deleted); the
        // request itself is gone.
        let resp = app.http.delete(app.url("/api/v1/me/blocks/carol")).bearer_auth(&bob.token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let shown = notifications(&app, &bob).await;
        assert_eq!(shown.notifications.len(), 1, "{:?}", kinds(&shown));
        assert_eq!(shown.notifications[0].data["from"]["username"], "carol");
        let bobs: FriendList = get(&app, &bob, "/api/v1/friends").await;
        assert!(bobs.incoming.is_empty());
        drop((bob_ws, carols_ws));
    }

    async fn an_accepted_invite_seats_the_friend_and_starts_the_game(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let carol = player(&app, "carol").await;
        befriend(&app, &alice, &bob).await;
        let mut bob_ws = WsClient::connect(&app, &bob.token).await;
        let game_id = waiting_game(&app, &alice, "private").await;

        // Only the creator invites, only to a waiting game.
        let resp = post(&app, &carol, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": "bob" })).await;
        assert_problem(resp, 403, "forbidden").await;
        let resp = post(&app, &alice, &format!("/api/v1/games/{}/invites", Uuid::now_v7()), json!({ "username": "bob" })).await;
        assert_problem(resp, 404, "not_found").await;

        let resp = post(&app, &alice, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": "bob" })).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let invite: Value = json_body(resp).await;
        assert_eq!(invite["state"], "pending");
        assert_eq!(invite["to"]["username"], "bob");
        // Bob hears of it live, with the invite inside.
        let live = bob_ws
            .recv_until(|m| matches!(m, ServerMessage::Notification(n) if n.kind == NotificationKind::Invite))
            .await;
        let ServerMessage::Notification(n) = live else { unreachable!() };
        assert_eq!(n.data["invite"]["id"], invite["id"]);
        assert_eq!(n.data["kind"], "tictactoe");
        let bobs: InviteList = get(&app, &bob, "/api/v1/invites").await;
        assert_eq!(bobs.received.len(), 1);
        let alices: InviteList = get(&app, &alice, "/api/v1/invites").await;
        assert_eq!(alices.sent.len(), 1);

        // Carol cannot use bob's invite.
        let id = invite["id"].as_str().unwrap();
        let resp = app.authed_post(&format!("/api/v1/invites/{id}/accept"), &carol.token).await;
        assert_problem(resp, 404, "not_found").await;
        let resp = app.authed_post(&format!("/api/v1/invites/{id}/accept"), &bob.token).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let accepted: InviteAccepted = serde_json::from_value(json_body(resp).await).unwrap();
        assert_eq!(accepted.game_id, game_id);
        let view = game_as(&app, &bob, game_id).await;
        assert_eq!(view.state, SessionState::InProgress);
        // Answered once.
        let resp = app.authed_post(&format!("/api/v1/invites/{id}/decline"), &bob.token).await;
        assert_problem(resp, 409, "invalid_state").await;
        // The game start is a notification too, and bob is in a game for alice.
        let started = bob_ws
            .recv_until(|m| matches!(m, ServerMessage::Notification(n) if n.kind == NotificationKind::GameStarted))
            .await;
        let ServerMessage::Notification(n) = started else { unreachable!() };
        assert_eq!(n.data["game_id"], json!(game_id));
        let alices: FriendList = get(&app, &alice, "/api/v1/friends").await;
        assert_eq!(alices.friends[0].presence.status, PresenceStatus::InGame);
        assert_eq!(alices.friends[0].presence.game_id, Some(game_id));
        // Inviting to a started game is refused.
        let resp = post(&app, &alice, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": "carol" })).await;
        assert_problem(resp, 409, "invalid_state").await;
    }

    async fn invites_are_declined_cancelled_and_links_revoked(app: TestApp) {
        let alice = player(&app, "alice").await;
        let bob = player(&app, "bob").await;
        let carol = player(&app, "carol").await;
        let game_id = waiting_game(&app, &alice, "private").await;
        let invite = |to: &'static str| {
            let app = &app;
            let alice = &alice;
            async move {
                let resp = post(app, alice, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": to })).await;
                assert_eq!(resp.status(), StatusCode::CREATED);
                json_body(resp).await["id"].as_str().unwrap().to_string()
            }
        };
        let first = invite("bob").await;
        let resp = app.authed_post(&format!("/api/v1/invites/{first}/decline"), &bob.token).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let second = invite("bob").await;
        assert_problem(delete(&app, &bob, &format!("/api/v1/invites/{second}")).await, 404, "not_found").await;
        assert_eq!(delete(&app, &alice, &format!("/api/v1/invites/{second}")).await.status(), StatusCode::NO_CONTENT);
        let resp = app.authed_post(&format!("/api/v1/invites/{second}/accept"), &bob.token).await;
        assert_problem(resp, 409, "invalid_state").await;
        let resp = app.authed_post("/api/v1/invites/not-a-uuid/accept", &bob.token).await;
        assert_problem(resp, 400, "malformed_request").await;

        // A link: a long random code, stored only hashed; revocable.
        let resp = app.authed_post(&format!("/api/v1/games/{game_id}/invite-links"), &alice.token).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let link: InviteLink = serde_json::from_value(json_body(resp).await).unwrap();
        assert!(link.code.len() >= 43, "256 bits in base64url");
        assert!(link.invite.link);
        assert_eq!(link.path, format!("/invite/{}", link.code));
        let resp = app.authed_post("/api/v1/invite-links/guess/accept", &carol.token).await;
        assert_problem(resp, 404, "not_found").await;
        // Anyone signed in who holds the code sees what it invites to, before using it.
        let info: InviteLinkInfo = get(&app, &carol, &format!("/api/v1/invite-links/{}", link.code)).await;
        assert_eq!((info.kind.as_str(), info.invite.game_id, info.invite.state), ("tictactoe", game_id, InviteState::Pending));
        assert_eq!(info.invite.from.username, "alice");
        assert_eq!(info.name, game_as(&app, &alice, game_id).await.name);
        assert_problem(app.authed_get("/api/v1/invite-links/guess", &carol.token).await, 404, "not_found").await;
        assert_eq!(app.get(&format!("/api/v1/invite-links/{}", link.code)).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(delete(&app, &alice, &format!("/api/v1/invites/{}", link.invite.id)).await.status(), StatusCode::NO_CONTENT);
        let info: InviteLinkInfo = get(&app, &carol, &format!("/api/v1/invite-links/{}", link.code)).await;
        assert_eq!(info.invite.state, InviteState::Cancelled, "a revoked link says so");
        let resp = app.authed_post(&format!("/api/v1/invite-links/{}/accept", link.code), &carol.token).await;
        assert_problem(resp, 409, "invalid_state").await;

        // A fresh link seats carol and starts the game.
        let resp = app.authed_post(&format!("/api/v1/games/{game_id}/invite-links"), &alice.token).await;
        let link: InviteLink = serde_json::from_value(json_body(resp).await).unwrap();
        let resp = app.authed_post(&format!("/api/v1/invite-links/{}/accept", link.code), &carol.token).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(game_as(&app, &alice, game_id).await.state, SessionState::InProgress);
        let resp = app.authed_post(&format!("/api/v1/invite-links/{}/accept", link.code), &bob.token).await;
        assert_eq!(resp.status(), StatusCode::CONFLICT, "the seats are taken");
        // Offline bob finds his invites in his notifications.
        let n = notifications(&app, &bob).await;
        assert_eq!(n.notifications.iter().filter(|n| n.kind == NotificationKind::Invite).count(), 2);
    }

    async fn notifications_are_paged_and_marked_read(app: TestApp) {
        let alice = player(&app, "alice").await;
        for name in ["bee1", "bee2", "bee3"] {
            let p = player(&app, name).await;
            post(&app, &p, "/api/v1/friends/requests", json!({ "username": "alice" })).await;
        }
        let page = notifications(&app, &alice).await;
        assert_eq!((page.notifications.len(), page.unread), (3, 3));
        assert_eq!(page.notifications[0].data["from"]["username"], "bee3", "newest first");
        let older: NotificationPage = get(&app, &alice, &format!("/api/v1/notifications?before={}&limit=1", page.notifications[0].id)).await;
        assert_eq!(older.notifications.len(), 1);
        assert_eq!(older.notifications[0].data["from"]["username"], "bee2");
        let resp = post(&app, &alice, "/api/v1/notifications/read", json!({ "ids": [page.notifications[0].id] })).await;
        assert_eq!(json_body(resp).await["marked"], 1);
        let unread: NotificationPage = get(&app, &alice, "/api/v1/notifications?unread=true").await;
        assert_eq!((unread.notifications.len(), unread.unread), (2, 2));
        let resp = post(&app, &alice, "/api/v1/notifications/read", json!({})).await;
        assert_eq!(json_body(resp).await["marked"], 2);
        assert_eq!(notifications(&app, &alice).await.unread, 0);
        let resp = app.authed_get("/api/v1/notifications?limit=x", &alice.token).await;
        assert_problem(resp, 400, "malformed_request").await;
    }
}

/// `your_turn` (issue 9): in a long game (no clock here), a player who is not following the
/// game hears that it is their turn; moving marks it read; nobody watching is told.
mod your_turn {
    use super::*;
    use versus_protocol::Notification;

    fn is_your_turn(n: &Notification, game_id: Uuid) -> bool {
        n.kind == NotificationKind::YourTurn && n.data["game_id"] == json!(game_id)
    }

    async fn unread_turns(app: &TestApp, p: &Player, game_id: Uuid) -> usize {
        let page: NotificationPage = get(app, p, "/api/v1/notifications?unread=true").await;
        page.notifications
            .iter()
            .filter(|n| is_your_turn(n, game_id))
            .count()
    }

    /// Read or not.
    async fn all_turns(app: &TestApp, p: &Player, game_id: Uuid) -> usize {
        notifications(app, p)
            .await
            .notifications
            .iter()
            .filter(|n| is_your_turn(n, game_id))
            .count()
    }

    both_backends! {
        async fn players_away_from_a_long_game_hear_of_their_turn_until_they_move_and_not_while_watching(app: TestApp) {
            let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
            let id = view.id;
            assert!(view.settings.time_control.is_none(), "a game without a clock is long");
            // Both are online (a socket each) but neither follows the game.
            let mut alice_ws = WsClient::connect(&app, &alice.token).await;
            let mut bob_ws = WsClient::connect(&app, &bob.token).await;
            let turn = |m: &ServerMessage| matches!(m, ServerMessage::Notification(n) if is_your_turn(n, id));

            move_ok(&app, &alice, id, json!({"cell": 0}), "m1").await;
            bob_ws.recv_until(turn).await;
            assert_eq!(unread_turns(&app, &bob, id).await, 1, "stored for later too");
            // Bob moves without opening the notification: it is done with (read), and alice
            // is told. The game's notes are handled in order, so by the time alice hears,
            // bob's was marked.
            move_ok(&app, &bob, id, json!({"cell": 3}), "m2").await;
            alice_ws.recv_until(turn).await;
            assert_eq!(unread_turns(&app, &bob, id).await, 0, "read by moving");
            // So his next turn is announced again: one unread per game, never a pile.
            move_ok(&app, &alice, id, json!({"cell": 1}), "m3").await;
            bob_ws.recv_until(turn).await;
            assert_eq!(unread_turns(&app, &bob, id).await, 1);
            move_ok(&app, &bob, id, json!({"cell": 4}), "m4").await;
            alice_ws.recv_until(turn).await;
            assert_eq!(unread_turns(&app, &alice, id).await, 1, "alice's first was read by m3");

            // Bob watches the game now: no notification for him.
            let bobs = all_turns(&app, &bob, id).await;
            assert_eq!(bobs, 2);
            bob_ws.subscribe(id, None).await;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            while !game(&app, id).await.participants.iter().any(|p| p.player.id == bob.id && p.connected) {
                assert!(tokio::time::Instant::now() < deadline, "the game's owner never saw bob");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            move_ok(&app, &alice, id, json!({"cell": 6}), "m5").await;
            move_ok(&app, &bob, id, json!({"cell": 8}), "m6").await;
            alice_ws.recv_until(turn).await;
            assert_eq!(all_turns(&app, &bob, id).await, bobs, "bob was watching");
        }
    }
}

/// Presence, with short coalescing and refresh windows.
mod presence {
    use super::*;

    both_backends! {
        settings = &[("presence_coalesce_ms", "50"), ("presence_refresh_ms", "100")];

        async fn friends_see_each_other_come_online_play_and_go_offline(app: TestApp) {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            befriend(&app, &alice, &bob).await;
            let mut alice_ws = WsClient::connect(&app, &alice.token).await;
            let bob_ws = WsClient::connect(&app, &bob.token).await;
            let presence = |status: PresenceStatus| {
                move |m: &ServerMessage| matches!(m, ServerMessage::Presence(p) if p.player.username == "bob" && p.presence.status == status)
            };
            alice_ws.recv_until(presence(PresenceStatus::Online)).await;
            let alices: FriendList = get(&app, &alice, "/api/v1/friends").await;
            assert_eq!(alices.friends[0].presence.status, PresenceStatus::Online);

            // Bob starts a game (with carol): in_game, with the game.
            let carol = player(&app, "carol").await;
            let game_id = waiting_game(&app, &bob, "public").await;
            let resp = app.authed_post(&format!("/api/v1/games/{game_id}/join"), &carol.token).await;
            assert_eq!(resp.status(), StatusCode::OK);
            let m = alice_ws.recv_until(presence(PresenceStatus::InGame)).await;
            let ServerMessage::Presence(p) = m else { unreachable!() };
            assert_eq!(p.presence.game_id, Some(game_id));
            // He resigns: online again.
            let resp = app.authed_post(&format!("/api/v1/games/{game_id}/resign"), &bob.token).await;
            assert_eq!(resp.status(), StatusCode::OK);
            alice_ws.recv_until(presence(PresenceStatus::Online)).await;

            // A flapping second connection sends nothing; closing the last one: offline, last seen.
            for _ in 0..5 {
                drop(WsClient::connect(&app, &bob.token).await);
            }
            drop(bob_ws);
            let m = alice_ws.recv_until(|m| matches!(m, ServerMessage::Presence(_))).await;
            let ServerMessage::Presence(p) = m else { unreachable!() };
            assert_eq!(p.presence.status, PresenceStatus::Offline, "no online blips from the flapping");
            assert!(p.presence.last_seen.is_some());
            let alices: FriendList = get(&app, &alice, "/api/v1/friends").await;
            assert_eq!(alices.friends[0].presence.status, PresenceStatus::Offline);
            assert!(alices.friends[0].presence.last_seen.is_some());
        }
    }
}

/// Presence coalescing, with the default one-second window and one connection per player
/// (so a reconnect is accepted only once the server has let go of the previous connection:
/// each flap really takes the player offline on the server, and back).
mod flapping {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::ws_client::{Ws, connect_raw, hello, read_message, send_text};
    use versus_protocol::ErrorCode;

    const WINDOW_MS: u128 = 1000;
    const FLAPS: usize = 5;

    /// Opens `p`'s one connection, retrying while the server still holds their last one.
    async fn connect_alone(app: &TestApp, p: &Player) -> Ws {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut ws = connect_raw(app).await;
            send_text(&mut ws, serde_json::to_string(&hello(&p.token)).unwrap()).await;
            match read_message(&mut ws).await {
                ServerMessage::Welcome { .. } => return ws,
                ServerMessage::Error {
                    code: ErrorCode::LimitReached,
                    ..
                } => {}
                other => panic!("expected welcome or limit_reached, got {other:?}"),
            }
            assert!(
                Instant::now() < deadline,
                "the server never let go of the last connection"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    both_backends! {
        settings = &[("presence_coalesce_ms", "1000"), ("ws_max_connections_per_player", "1")];

        async fn flapping_the_only_connection_within_a_window_floods_no_friend(app: TestApp) {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            let carol = player(&app, "carol").await;
            befriend(&app, &alice, &bob).await;
            let mut alice_ws = WsClient::connect(&app, &alice.token).await;
            let about_bob = |m: &ServerMessage| matches!(m, ServerMessage::Presence(p) if p.player.username == "bob");
            let mut bob_ws = connect_alone(&app, &bob).await;
            let m = alice_ws.recv_until(about_bob).await;
            let ServerMessage::Presence(p) = m else { unreachable!() };
            assert_eq!(p.presence.status, PresenceStatus::Online);
            let game_id = waiting_game(&app, &carol, "public").await;

            // Bob's only connection goes and comes back, again and again: offline and online
            // on the server each time.
            let started = Instant::now();
            for _ in 0..FLAPS {
                drop(bob_ws);
                bob_ws = connect_alone(&app, &bob).await;
            }
            let flapping_ms = started.elapsed().as_millis();
            // Then a change that must be announced: bob sits down to a game. Whatever the
            // flapping caused reached alice before it.
            let resp = app.authed_post(&format!("/api/v1/games/{game_id}/join"), &bob.token).await;
            assert_eq!(resp.status(), StatusCode::OK);
            let mut told = Vec::new();
            loop {
                let ServerMessage::Presence(p) = alice_ws.recv_until(about_bob).await else { unreachable!() };
                if p.presence.status == PresenceStatus::InGame {
                    assert_eq!(p.presence.game_id, Some(game_id));
                    break;
                }
                told.push(p.presence.status);
            }
            // Each flush (one per window) tells at most one change, and at most one more
            // flush follows the flapping before the game's: announcing every change would
            // have told 2 × FLAPS.
            let flushes = (flapping_ms / WINDOW_MS + 1) as usize;
            assert!(
                told.len() <= flushes + 1,
                "{} presence messages about bob in {flapping_ms} ms of flapping: {told:?}",
                told.len()
            );
            assert!(told.len() < 2 * FLAPS, "the flapping took too long to tell anything ({flapping_ms} ms)");
            drop(bob_ws);
        }
    }
}

/// Invites expire (`invite_ttl_seconds`, here one second): an expired invite or link is
/// refused with `409 invalid_state`, seats nobody and is no longer listed.
mod expiry {
    use std::time::{Duration, Instant};

    use super::*;

    both_backends! {
        settings = &[("invite_ttl_seconds", "1")];

        async fn an_expired_invite_or_link_is_refused_and_no_longer_listed(app: TestApp) {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            let carol = player(&app, "carol").await;
            let game_id = waiting_game(&app, &alice, "private").await;
            let resp = post(&app, &alice, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": "bob" })).await;
            assert_eq!(resp.status(), StatusCode::CREATED);
            let invite: versus_protocol::Invite = serde_json::from_value(json_body(resp).await).unwrap();
            let ttl = invite.expires_at.signed_duration_since(invite.created_at);
            assert_eq!(ttl.num_milliseconds(), 1000, "invite_ttl_seconds");
            let resp = app.authed_post(&format!("/api/v1/games/{game_id}/invite-links"), &alice.token).await;
            assert_eq!(resp.status(), StatusCode::CREATED);
            let link: InviteLink = serde_json::from_value(json_body(resp).await).unwrap();
            assert_eq!(link.invite.expires_at.signed_duration_since(link.invite.created_at).num_milliseconds(), 1000);

            // Once expired, neither side lists them.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let bobs: InviteList = get(&app, &bob, "/api/v1/invites").await;
                let alices: InviteList = get(&app, &alice, "/api/v1/invites").await;
                if bobs.received.is_empty() && alices.sent.is_empty() {
                    break;
                }
                assert!(Instant::now() < deadline, "the invites were still listed: {bobs:?} {alices:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let resp = app.authed_post(&format!("/api/v1/invites/{}/accept", invite.id), &bob.token).await;
            let problem = assert_problem(resp, 409, "invalid_state").await;
            assert!(problem["detail"].as_str().unwrap().contains("expired"), "{problem}");
            let resp = app.authed_post(&format!("/api/v1/invites/{}/decline", invite.id), &bob.token).await;
            assert_problem(resp, 409, "invalid_state").await;
            assert_problem(delete(&app, &alice, &format!("/api/v1/invites/{}", invite.id)).await, 409, "invalid_state").await;

            // The link says it expired, and is refused.
            let info: InviteLinkInfo = get(&app, &carol, &format!("/api/v1/invite-links/{}", link.code)).await;
            assert_eq!(info.invite.state, InviteState::Expired);
            let resp = app.authed_post(&format!("/api/v1/invite-links/{}/accept", link.code), &carol.token).await;
            let problem = assert_problem(resp, 409, "invalid_state").await;
            assert!(problem["detail"].as_str().unwrap().contains("expired"), "{problem}");

            // Nobody took a seat.
            let view = game_as(&app, &alice, game_id).await;
            assert_eq!(view.state, SessionState::Waiting);
            assert!(view.participants.iter().all(|p| p.player.id == alice.id), "{:?}", view.participants);
        }
    }
}

/// `game_result` notifications (issue 9): both players hear live how their game ended, and
/// find it stored.
mod game_result {
    use super::*;
    use crate::games::{cells, play, started_game};

    both_backends! {
        async fn both_players_are_told_the_result_live_and_find_it_stored(app: TestApp) {
            let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
            let id = view.id;
            let mut alice_ws = WsClient::connect(&app, &alice.token).await;
            let mut bob_ws = WsClient::connect(&app, &bob.token).await;
            // Alice (the first seat) completes the top row.
            play(&app, id, [&alice, &bob], &cells(&[0, 3, 1, 4, 2])).await;
            assert_eq!(game(&app, id).await.state, SessionState::Finished);
            let is_result = |m: &ServerMessage| matches!(m, ServerMessage::Notification(n) if n.kind == NotificationKind::GameResult);
            for ws in [&mut alice_ws, &mut bob_ws] {
                let ServerMessage::Notification(n) = ws.recv_until(is_result).await else { unreachable!() };
                assert_eq!(n.data["game_id"], json!(id));
                assert_eq!(n.data["result"]["outcome"], "win");
                assert_eq!(n.data["result"]["winner"], 0);
                assert_eq!(n.data["result"]["reason"], "three_in_a_row");
                assert!(!n.read);
            }
            for p in [&alice, &bob] {
                let page = notifications(&app, p).await;
                let stored: Vec<_> = page.notifications.iter().filter(|n| n.kind == NotificationKind::GameResult).collect();
                assert_eq!(stored.len(), 1, "{}: {:?}", p.username, page.notifications);
                assert_eq!(stored[0].data["game_id"], json!(id));
                assert_eq!(stored[0].data["result"]["winner"], 0);
                assert!(!stored[0].read);
            }
        }
    }
}

/// Accepting an invite: claimed before the seat is taken, given back when the seat cannot be
/// taken, and under the same open-games quota as a join.
mod accepting {
    use super::*;
    use crate::games::action_ok;

    both_backends! {
        async fn an_accept_racing_a_cancel_either_seats_the_player_or_is_refused_never_both(app: TestApp) {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            let (mut seated, mut cancelled) = (0, 0);
            for _ in 0..8 {
                let game_id = waiting_game(&app, &alice, "private").await;
                let resp = post(&app, &alice, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": "bob" })).await;
                let id = json_body(resp).await["id"].as_str().unwrap().to_string();
                let accept_path = format!("/api/v1/invites/{id}/accept");
                let cancel_path = format!("/api/v1/invites/{id}");
                let (accept, cancel) = tokio::join!(
                    app.authed_post(&accept_path, &bob.token),
                    delete(&app, &alice, &cancel_path),
                );
                let view = game_as(&app, &alice, game_id).await;
                let bob_sits = view.participants.iter().any(|p| p.player.id == bob.id);
                match (accept.status(), cancel.status()) {
                    (StatusCode::OK, StatusCode::CONFLICT) => {
                        assert!(bob_sits);
                        assert_eq!(view.state, SessionState::InProgress);
                        seated += 1;
                    }
                    (StatusCode::CONFLICT, StatusCode::NO_CONTENT) => {
                        assert!(!bob_sits, "seated through a cancelled invite");
                        assert_eq!(view.state, SessionState::Waiting);
                        assert_problem(accept, 409, "invalid_state").await;
                        cancelled += 1;
                    }
                    other => panic!("accept and cancel answered {other:?}; bob seated: {bob_sits}"),
                }
            }
            eprintln!("{seated} seated, {cancelled} cancelled");
        }

        async fn an_invite_whose_seat_is_gone_stays_pending(app: TestApp) {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            let carol = player(&app, "carol").await;
            let game_id = waiting_game(&app, &alice, "private").await;
            let mut ids = Vec::new();
            for to in ["bob", "carol"] {
                let resp = post(&app, &alice, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": to })).await;
                ids.push(json_body(resp).await["id"].as_str().unwrap().to_string());
            }
            let resp = app.authed_post(&format!("/api/v1/invites/{}/accept", ids[1]), &carol.token).await;
            assert_eq!(resp.status(), StatusCode::OK);
            // The only free seat went to carol: bob's accept fails and changes nothing.
            let resp = app.authed_post(&format!("/api/v1/invites/{}/accept", ids[0]), &bob.token).await;
            assert_eq!(resp.status(), StatusCode::CONFLICT);
            let bobs: InviteList = get(&app, &bob, "/api/v1/invites").await;
            assert_eq!(bobs.received.len(), 1);
            assert_eq!(bobs.received[0].state, InviteState::Pending);
            let resp = app.authed_post(&format!("/api/v1/invites/{}/decline", ids[0]), &bob.token).await;
            assert_eq!(resp.status(), StatusCode::NO_CONTENT, "pending again, so it can still be answered");
        }
    }

    mod quota {
        use super::*;

        both_backends! {
            settings = &[("max_open_games_per_player", "1")];

            async fn an_invite_or_link_is_refused_to_a_player_at_the_open_games_quota(app: TestApp) {
                let alice = player(&app, "alice").await;
                let bob = player(&app, "bob").await;
                let carol = player(&app, "carol").await;
                let game_id = waiting_game(&app, &alice, "private").await;
                let bobs_game = waiting_game(&app, &bob, "public").await;
                waiting_game(&app, &carol, "public").await;
                let resp = post(&app, &alice, &format!("/api/v1/games/{game_id}/invites"), json!({ "username": "bob" })).await;
                let id = json_body(resp).await["id"].as_str().unwrap().to_string();
                let resp = app.authed_post(&format!("/api/v1/games/{game_id}/invite-links"), &alice.token).await;
                let link: InviteLink = serde_json::from_value(json_body(resp).await).unwrap();

                // Bob and carol already sit in one open game each.
                let resp = app.authed_post(&format!("/api/v1/invites/{id}/accept"), &bob.token).await;
                assert_problem(resp, 409, "limit_reached").await;
                let resp = app.authed_post(&format!("/api/v1/invite-links/{}/accept", link.code), &carol.token).await;
                assert_problem(resp, 409, "limit_reached").await;
                let view = game_as(&app, &alice, game_id).await;
                assert_eq!(view.state, SessionState::Waiting);
                assert!(view.participants.iter().all(|p| p.player.id == alice.id));
                // The invite waits; once bob's own game is gone, he takes the seat.
                let bobs: InviteList = get(&app, &bob, "/api/v1/invites").await;
                assert_eq!(bobs.received[0].state, InviteState::Pending);
                action_ok(&app, &bob, bobs_game, "abort").await;
                let resp = app.authed_post(&format!("/api/v1/invites/{id}/accept"), &bob.token).await;
                assert_eq!(resp.status(), StatusCode::OK);
                assert_eq!(game_as(&app, &alice, game_id).await.state, SessionState::InProgress);
            }
        }
    }
}

//! Social across a cluster (issue 9): two `versus` nodes (the real binary) on one PostgreSQL
//! database and one NATS server. Alice on node A and bob on node B become friends, see each
//! other online, alice invites bob and he accepts from the live notification on his node; the
//! game starts and both hear it; alice moves and bob, on the other node, hears it is his turn.
//! Then node B is killed: alice sees bob go offline once B's presence rows expire.
//!
//! Needs PostgreSQL (`VERSUS_TEST_POSTGRES_URL`) and NATS (`VERSUS_TEST_NATS_URL`); skipped
//! with a message when one is missing, except in CI (`CI` set), where it fails.

use serde_json::{Value, json};
use versus_store::testing::{fresh_postgres_database, postgres_server_url};

#[path = "support/two_nodes.rs"]
mod two_nodes;
use two_nodes::*;

async fn presence_of(ws: &mut Ws, who: &str, status: &str) -> Value {
    eprintln!("waiting for {who} {status}");
    loop {
        let v = recv_type(ws, "presence").await;
        eprintln!("presence: {}", v["presence"]);
        if v["player"]["username"] == who && v["presence"]["status"] == status {
            return v;
        }
    }
}

async fn notification(ws: &mut Ws, kind: &str) -> Value {
    eprintln!("waiting for notification {kind}");
    loop {
        let v = recv_type(ws, "notification").await;
        if v["kind"] == kind {
            return v;
        }
    }
}

#[tokio::test]
async fn friends_on_two_nodes_see_presence_and_play_through_an_invite() {
    let (Some(pg), Some(nats)) = (postgres_server_url(), nats_url("social")) else {
        return;
    };
    let db = fresh_postgres_database(&pg)
        .await
        .expect("a fresh database");
    let a = start_node(
        "social-a",
        &db,
        &nats,
        &[
            ("VERSUS_PRESENCE_COALESCE_MS", "50"),
            ("VERSUS_PRESENCE_REFRESH_MS", "200"),
        ],
    );
    let mut b = start_node(
        "social-b",
        &db,
        &nats,
        &[
            ("VERSUS_PRESENCE_COALESCE_MS", "50"),
            ("VERSUS_PRESENCE_REFRESH_MS", "200"),
        ],
    );
    let http = reqwest::Client::new();
    let alice = register(&http, &a, "alice").await;
    let bob = register(&http, &b, "bob").await;
    let mut alice_ws = connect(&a, &alice).await;
    let mut bob_ws = connect(&b, &bob).await;

    // A friend request from node A reaches bob live on node B.
    let resp = http
        .post(format!("http://{}/api/v1/friends/requests", a.addr))
        .bearer_auth(&alice)
        .json(&json!({ "username": "bob" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let n = notification(&mut bob_ws, "friend_request").await;
    assert_eq!(n["data"]["from"]["username"], "alice");
    let resp = http
        .post(format!(
            "http://{}/api/v1/friends/requests/alice/accept",
            b.addr
        ))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    notification(&mut alice_ws, "friend_accepted").await;

    // Presence across nodes: alice, on A, sees bob (on B) online.
    presence_of(&mut alice_ws, "bob", "online").await;

    // Alice invites bob to a private game; he accepts from the notification, on node B.
    let game: Value = http
        .post(format!("http://{}/api/v1/games", a.addr))
        .bearer_auth(&alice)
        .json(&json!({ "kind": "tictactoe", "name": "invited", "settings": { "visibility": "private", "creator_seat": "first" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let game_id = game["id"].as_str().unwrap().to_string();
    let resp = http
        .post(format!("http://{}/api/v1/games/{game_id}/invites", a.addr))
        .bearer_auth(&alice)
        .json(&json!({ "username": "bob" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let n = notification(&mut bob_ws, "invite").await;
    let invite_id = n["data"]["invite"]["id"].as_str().unwrap().to_string();
    let resp = http
        .post(format!(
            "http://{}/api/v1/invites/{invite_id}/accept",
            b.addr
        ))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let n = notification(&mut alice_ws, "game_started").await;
    assert_eq!(n["data"]["game_id"], game_id.as_str());
    notification(&mut bob_ws, "game_started").await;
    let v = presence_of(&mut alice_ws, "bob", "in_game").await;
    assert_eq!(v["presence"]["game_id"], game_id.as_str());

    // An untimed game is long: alice moves through node A, and bob — online on node B but
    // not following the game — hears that it is his turn.
    let resp = http
        .post(format!("http://{}/api/v1/games/{game_id}/moves", a.addr))
        .bearer_auth(&alice)
        .json(&json!({ "move": { "cell": 4 }, "client_move_id": "a1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let n = notification(&mut bob_ws, "your_turn").await;
    assert_eq!(n["data"]["game_id"], game_id.as_str());

    // Node B dies: its presence rows expire and alice sees bob offline, with a last seen.
    let _ = b.child.kill();
    let _ = b.child.wait();
    let v = presence_of(&mut alice_ws, "bob", "offline").await;
    assert!(v["presence"]["last_seen"].is_string());
    let friends: Value = http
        .get(format!("http://{}/api/v1/friends", a.addr))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(friends["friends"][0]["presence"]["status"], "offline");
}

/// Presence announced by one node must not stop another from announcing a later change. Bob
/// is connected to node B but plays a game that node A owns (he joins it through A), so A
/// announces his game starting and ending; then he leaves B (offline, announced by B) and comes
/// back on A: alice must see him offline, then online again. A node that compared against what
/// it last announced itself would stay silent here (it announced "online" at the game's end).
#[tokio::test]
async fn presence_stays_right_when_the_game_owner_and_the_connection_are_on_different_nodes() {
    let (Some(pg), Some(nats)) = (postgres_server_url(), nats_url("social")) else {
        return;
    };
    let db = fresh_postgres_database(&pg)
        .await
        .expect("a fresh database");
    let fast = [
        ("VERSUS_PRESENCE_COALESCE_MS", "50"),
        ("VERSUS_PRESENCE_REFRESH_MS", "200"),
    ];
    let a = start_node("presence-a", &db, &nats, &fast);
    let b = start_node("presence-b", &db, &nats, &fast);
    let http = reqwest::Client::new();
    let alice = register(&http, &a, "alice").await;
    let bob = register(&http, &b, "bob").await;
    let carol = register(&http, &a, "carol").await;
    let mut alice_ws = connect(&a, &alice).await;
    let bob_ws = connect(&b, &bob).await;
    let resp = http
        .post(format!("http://{}/api/v1/friends/requests", a.addr))
        .bearer_auth(&alice)
        .json(&json!({ "username": "bob" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http
        .post(format!(
            "http://{}/api/v1/friends/requests/alice/accept",
            b.addr
        ))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    presence_of(&mut alice_ws, "bob", "online").await;

    // Carol creates a game on A and bob joins it through A: A runs the game.
    let game: Value = http
        .post(format!("http://{}/api/v1/games", a.addr))
        .bearer_auth(&carol)
        .json(&json!({ "kind": "tictactoe", "name": "on a" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let game_id = game["id"].as_str().unwrap().to_string();
    let resp = http
        .post(format!("http://{}/api/v1/games/{game_id}/join", a.addr))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v = presence_of(&mut alice_ws, "bob", "in_game").await;
    assert_eq!(v["presence"]["game_id"], game_id.as_str());
    let resp = http
        .post(format!("http://{}/api/v1/games/{game_id}/resign", a.addr))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    presence_of(&mut alice_ws, "bob", "online").await;

    // Bob leaves B: offline. He comes back on A: online again.
    drop(bob_ws);
    let v = presence_of(&mut alice_ws, "bob", "offline").await;
    assert!(v["presence"]["last_seen"].is_string());
    let _bob_ws = connect(&a, &bob).await;
    presence_of(&mut alice_ws, "bob", "online").await;
    let friends: Value = http
        .get(format!("http://{}/api/v1/friends", b.addr))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(friends["friends"][0]["presence"]["status"], "online");
}

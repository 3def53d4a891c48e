//! Chat across a cluster (issue 8): two `versus` nodes (the real binary) on one PostgreSQL
//! database and one NATS server. Two players connected to different nodes chat in their
//! game's room; one drops, the other keeps writing, and the first reconnects to the OTHER node
//! and resumes by seq: exactly the missed entries, then live ones, nothing twice.
//!
//! Needs PostgreSQL (`VERSUS_TEST_POSTGRES_URL`) and NATS (`VERSUS_TEST_NATS_URL`, e.g.
//! `nats://127.0.0.1:4222`). When one is missing the test is skipped with a message, except in
//! CI (`CI` set), where it fails.

use serde_json::{Value, json};
use versus_store::testing::{fresh_postgres_database, postgres_server_url};

#[path = "support/two_nodes.rs"]
mod two_nodes;
use two_nodes::*;

/// The next chat entry that is a player's message.
async fn next_message(ws: &mut Ws, last_seq: &mut u64) -> Value {
    loop {
        let v = recv_type(ws, "chat").await;
        let seq = v["seq"].as_u64().unwrap();
        assert_eq!(seq, *last_seq + 1, "gap-free, once, in order: {v}");
        *last_seq = seq;
        if v["kind"] == "message" {
            return v;
        }
    }
}

#[tokio::test]
async fn players_on_two_nodes_chat_and_one_resumes_on_the_other_node_by_seq() {
    let (Some(pg), Some(nats)) = (postgres_server_url(), nats_url("chat")) else {
        return;
    };
    let db = fresh_postgres_database(&pg)
        .await
        .expect("a fresh database");
    let a = start_node("chat-a", &db, &nats, &[]);
    let b = start_node("chat-b", &db, &nats, &[]);
    let http = reqwest::Client::new();
    let alice = register(&http, &a, "alice").await;
    let bob = register(&http, &b, "bob").await;
    let game: Value = http
        .post(format!("http://{}/api/v1/games", a.addr))
        .bearer_auth(&alice)
        .json(&json!({ "kind": "tictactoe", "name": "chat", "settings": { "creator_seat": "first" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let game_id = game["id"].as_str().unwrap().to_string();
    let joined = http
        .post(format!("http://{}/api/v1/games/{game_id}/join", b.addr))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert!(joined.status().is_success());
    let room = format!("game:{game_id}:players");

    let mut wa = connect(&a, &alice).await;
    let mut wb = connect(&b, &bob).await;
    send(
        &mut wa,
        json!({ "type": "chat_subscribe", "id": "s", "room": room }),
    )
    .await;
    send(
        &mut wb,
        json!({ "type": "chat_subscribe", "id": "s", "room": room }),
    )
    .await;
    let mut a_last = recv_type(&mut wa, "chat_subscribed").await["last_seq"]
        .as_u64()
        .unwrap();
    let mut b_last = recv_type(&mut wb, "chat_subscribed").await["last_seq"]
        .as_u64()
        .unwrap();

    send(
        &mut wa,
        json!({ "type": "chat_send", "id": "1", "room": room, "text": "hello from node a" }),
    )
    .await;
    assert_eq!(
        next_message(&mut wb, &mut b_last).await["text"],
        "hello from node a"
    );
    send(
        &mut wb,
        json!({ "type": "chat_send", "id": "2", "room": room, "text": "hi from node b" }),
    )
    .await;
    // Alice hears her own message first (it was stored first), then Bob's from node B.
    let first = next_message(&mut wa, &mut a_last).await;
    assert_eq!(first["text"], "hello from node a");
    let got = next_message(&mut wa, &mut a_last).await;
    assert_eq!(got["text"], "hi from node b");
    assert_eq!(got["author"]["username"], "bob");
    let _ = next_message(&mut wb, &mut b_last).await; // bob's own message

    // Alice drops; Bob writes twice; Alice comes back on node B and resumes by seq.
    drop(wa);
    for text in ["missed one", "missed two"] {
        send(
            &mut wb,
            json!({ "type": "chat_send", "id": text, "room": room, "text": text }),
        )
        .await;
        assert_eq!(next_message(&mut wb, &mut b_last).await["text"], text);
    }
    let mut wa = connect(&b, &alice).await;
    send(
        &mut wa,
        json!({ "type": "chat_subscribe", "id": "r", "room": room, "since_seq": a_last }),
    )
    .await;
    let resumed = recv_type(&mut wa, "chat_subscribed").await;
    assert_eq!(resumed["resync"], false);
    let entries = resumed["entries"].as_array().unwrap();
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        ((a_last + 1)..=resumed["last_seq"].as_u64().unwrap()).collect::<Vec<_>>()
    );
    let texts: Vec<&str> = entries
        .iter()
        .filter(|e| e["kind"] == "message")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(texts, ["missed one", "missed two"]);
    a_last = resumed["last_seq"].as_u64().unwrap();
    send(
        &mut wa,
        json!({ "type": "chat_send", "id": "3", "room": room, "text": "back, via node b" }),
    )
    .await;
    assert_eq!(
        next_message(&mut wa, &mut a_last).await["text"],
        "back, via node b"
    );
    assert_eq!(
        next_message(&mut wb, &mut b_last).await["text"],
        "back, via node b"
    );
    drop((a, b));
}

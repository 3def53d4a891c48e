//! A real-time session fails over like any other game (docs/ARCHITECTURE.md, "Real-time
//! games"): two nodes share PostgreSQL and NATS; node A owns a light-cycles session while a
//! player follows and steers it from node B; A is SIGKILLed; B takes the game over from the
//! journal (the lease, the orphan sweep) and the player's subscription on B goes on receiving
//! ticks with no gap in `seq` or in tick numbers, every tick shown before the kill being in the
//! journal unchanged.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use versus_store::testing::{fresh_postgres_database, postgres_server_url};

#[path = "support/two_nodes.rs"]
mod two_nodes;
use two_nodes::*;

/// Reads the subscription's messages for `during`, checking seqs and ticks are gap-free;
/// returns the ticks seen.
async fn follow(ws: &mut Ws, seq: &mut u64, tick: &mut u64, during: Duration) -> Vec<(u64, Value)> {
    let mut seen = Vec::new();
    let until = Instant::now() + during;
    while Instant::now() < until {
        let v = recv(ws).await;
        match v["type"].as_str() {
            Some("ticks") | Some("event") => {
                assert_eq!(v["seq"].as_u64(), Some(*seq + 1), "gap-free seqs: {v}");
                *seq += 1;
                for d in v["ticks"].as_array().cloned().unwrap_or_default() {
                    assert_eq!(d["tick"].as_u64(), Some(*tick + 1), "gap-free ticks: {d}");
                    *tick += 1;
                    seen.push((*tick, d));
                }
            }
            _ => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_time_session_fails_over_to_another_node() {
    let (Some(pg), Some(nats)) = (postgres_server_url(), nats_url("realtime")) else {
        return;
    };
    let db = fresh_postgres_database(&pg)
        .await
        .expect("a fresh database");
    let settings = [
        ("VERSUS_REALTIME_TICK_HZ", "50"),
        ("VERSUS_REALTIME_COUNTDOWN_MS", "200"),
        ("VERSUS_LEASE_TTL_MS", "1000"),
        ("VERSUS_HEARTBEAT_INTERVAL_MS", "100"),
    ];
    let a = start_node("rt-a", &db, &nats, &settings);
    let b = start_node("rt-b", &db, &nats, &settings);
    let http = reqwest::Client::new();
    let alice = register(&http, &a, "alice").await;
    let bob = register(&http, &a, "bob").await;
    let game: Value = http
        .post(format!("http://{}/api/v1/games", a.addr))
        .bearer_auth(&alice)
        .json(&json!({ "kind": "lightcycles", "name": "failover", "settings": { "creator_seat": "first", "points_to_win": 25 } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = game["id"].as_str().unwrap().to_string();
    // Bob joins on A: A's actor starts the session and owns it.
    let resp = http
        .post(format!("http://{}/api/v1/games/{id}/join", a.addr))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    // Alice follows from B.
    let mut ws = connect(&b, &alice).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "s", "game_id": id}),
    )
    .await;
    let sub = recv_type(&mut ws, "subscribed").await;
    let mut seq = sub["last_seq"].as_u64().unwrap();
    let mut tick = sub["snapshot"]["position"]["tick"].as_u64().unwrap();
    let mut seen = follow(&mut ws, &mut seq, &mut tick, Duration::from_millis(500)).await;
    // Her input travels from B to the owner on A.
    send(
        &mut ws,
        json!({"type": "input", "id": "i", "game_id": id, "dir": "up"}),
    )
    .await;
    let reply = loop {
        let v = recv(&mut ws).await;
        match v["type"].as_str() {
            Some("input_accepted") | Some("error") => break v,
            Some("ticks") | Some("event") => {
                assert_eq!(v["seq"].as_u64(), Some(seq + 1), "gap-free seqs: {v}");
                seq += 1;
                for d in v["ticks"].as_array().cloned().unwrap_or_default() {
                    assert_eq!(d["tick"].as_u64(), Some(tick + 1));
                    tick += 1;
                    seen.push((tick, d));
                }
            }
            _ => {}
        }
    };
    // Up is accepted, or refused as a reversal if her cycle faces down: either way the owner
    // on A answered.
    assert!(
        reply["type"] == "input_accepted" || reply["code"] == "reversal",
        "{reply}"
    );
    seen.extend(follow(&mut ws, &mut seq, &mut tick, Duration::from_millis(300)).await);
    let before_kill = tick;

    drop(a);
    // B takes over after the lease expires; the subscription on B goes on, gap-free.
    let after = follow(&mut ws, &mut seq, &mut tick, Duration::from_secs(4)).await;
    assert!(
        tick > before_kill + 10,
        "the session ticks on after the failover: {before_kill} → {tick}"
    );
    seen.extend(after);

    // Every tick shown is in the journal, unchanged.
    let events: Value = http
        .get(format!(
            "http://{}/api/v1/games/{id}/events?after=0",
            b.addr
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut journaled = std::collections::BTreeMap::new();
    let mut resumed = false;
    for e in events["events"].as_array().unwrap() {
        resumed |= e["event"]["type"] == "resumed";
        for d in e["event"]["ticks"].as_array().cloned().unwrap_or_default() {
            journaled.insert(d["tick"].as_u64().unwrap(), d);
        }
    }
    assert!(resumed, "the takeover is journaled");
    for (t, d) in &seen {
        assert_eq!(journaled.get(t), Some(d), "tick {t}");
    }
}

//! Matchmaking across a cluster (issue 9): two `versus` nodes (the real binary) on one
//! PostgreSQL database and one NATS server share ONE pool. Two players connected to different
//! nodes are paired and both told at once; then many players spread over both nodes (both
//! nodes running pairing passes over the same pool at the same time) are each paired exactly
//! once.
//!
//! Needs PostgreSQL (`VERSUS_TEST_POSTGRES_URL`) and NATS (`VERSUS_TEST_NATS_URL`); skipped
//! with a message when one is missing, except in CI (`CI` set), where it fails. The node
//! helpers are the ones of `cluster_chat.rs`.

use std::collections::HashMap;

use futures_util::future::join_all;
use serde_json::{Value, json};
use versus_store::testing::{fresh_postgres_database, postgres_server_url};

#[path = "support/two_nodes.rs"]
mod two_nodes;
use std::time::Duration;

use two_nodes::*;

async fn guest(http: &reqwest::Client, node: &Node) -> String {
    let resp = http
        .post(format!("http://{}/api/v1/auth/guest", node.addr))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn one_pool_across_two_nodes() {
    let (Some(pg), Some(nats)) = (postgres_server_url(), nats_url("matchmaking")) else {
        return;
    };
    let db = fresh_postgres_database(&pg)
        .await
        .expect("a fresh database");
    let nodes = [
        start_node("mm-a", &db, &nats, &[]),
        start_node("mm-b", &db, &nats, &[]),
    ];
    let http = reqwest::Client::new();

    // Two players on different nodes, over the WebSocket: paired, both told.
    let alice = guest(&http, &nodes[0]).await;
    let bob = guest(&http, &nodes[1]).await;
    let mut wa = connect(&nodes[0], &alice).await;
    let mut wb = connect(&nodes[1], &bob).await;
    let join = json!({"type": "matchmaking_join", "id": "j", "kind": "tictactoe"});
    send(&mut wa, join.clone()).await;
    assert_eq!(
        recv_type(&mut wa, "ticket").await["ticket"]["state"],
        "waiting"
    );
    send(&mut wb, join).await;
    let matched = |v: &Value| v["ticket"]["state"] == "matched";
    let mut ta = recv_type(&mut wa, "ticket").await;
    while !matched(&ta) {
        ta = recv_type(&mut wa, "ticket").await;
    }
    let mut tb = recv_type(&mut wb, "ticket").await;
    while !matched(&tb) {
        tb = recv_type(&mut wb, "ticket").await;
    }
    assert_eq!(ta["ticket"]["game_id"], tb["ticket"]["game_id"]);

    // Many players over both nodes at once: everyone paired exactly once.
    const N: usize = 60;
    let tokens: Vec<(usize, String)> = join_all((0..N).map(|i| {
        let nodes = &nodes;
        async move { (i % 2, guest(&reqwest::Client::new(), &nodes[i % 2]).await) }
    }))
    .await;
    let tickets: Vec<String> = join_all(tokens.iter().map(|(n, t)| {
        let http = http.clone();
        let addr = nodes[*n].addr;
        async move {
            let resp = http
                .post(format!("http://{addr}/api/v1/matchmaking/tickets"))
                .bearer_auth(t)
                .json(&json!({"kind": "connect4"}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            resp.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    }))
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let finals: Vec<Value> = join_all(tokens.iter().zip(&tickets).map(|((n, t), id)| {
        let http = http.clone();
        // Read from the OTHER node: the pool is the cluster's.
        let addr = nodes[1 - *n].addr;
        async move {
            http.get(format!("http://{addr}/api/v1/matchmaking/tickets/{id}"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    }))
    .await;
    let mut games: HashMap<String, usize> = HashMap::new();
    for t in &finals {
        assert_eq!(t["state"], "matched", "{t}");
        *games
            .entry(t["game_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(games.len(), N / 2);
    assert!(games.values().all(|&n| n == 2), "{games:?}");
}

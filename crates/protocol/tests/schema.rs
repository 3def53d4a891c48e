//! `docs/protocol.schema.json` is generated from the protocol types; this test fails when the
//! checked-in file is stale. Regenerate with `UPDATE_SCHEMA=1 cargo test -p versus-protocol`.

use std::path::PathBuf;

#[test]
fn the_checked_in_websocket_schema_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol.schema.json");
    let mut generated = serde_json::to_string_pretty(&versus_protocol::json_schema()).unwrap();
    generated.push('\n');
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/protocol.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p versus-protocol` and commit it"
    );
}

#[test]
fn every_client_message_type_is_in_the_schema() {
    let schema = serde_json::to_string(&versus_protocol::json_schema()).unwrap();
    for t in [
        "hello",
        "subscribe",
        "unsubscribe",
        "join",
        "move",
        "resign",
        "draw",
        "abort",
        "claim_victory",
        "rematch",
        "ping",
    ] {
        assert!(schema.contains(&format!("\"{t}\"")), "{t} missing");
    }
    for t in [
        "welcome",
        "subscribed",
        "unsubscribed",
        "event",
        "move_ack",
        "action_ack",
        "error",
        "pong",
    ] {
        assert!(schema.contains(&format!("\"{t}\"")), "{t} missing");
    }
}

#[test]
fn messages_round_trip_through_json() {
    use versus_protocol::{ClientMessage, ServerMessage};
    let m: ClientMessage = serde_json::from_str(
        r#"{"type":"move","id":"r1","game_id":"00000000-0000-0000-0000-000000000001","move":{"cell":4},"client_move_id":"m1"}"#,
    )
    .unwrap();
    assert!(matches!(m, ClientMessage::Move { .. }));
    let back: ClientMessage = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back, m);
    let unknown = serde_json::from_str::<ClientMessage>(r#"{"type":"teleport"}"#);
    assert!(unknown.is_err());
    let pong = ServerMessage::Pong {
        id: Some("x".into()),
        server_time: chrono::Utc::now(),
    };
    let v: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&pong).unwrap()).unwrap();
    assert_eq!(v["type"], "pong");
}

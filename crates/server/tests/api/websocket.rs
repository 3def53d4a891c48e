//! Experiment (temporary).

use std::time::{Duration, Instant};

use serde_json::json;
use versus_protocol::{ClientMessage, GameEvent, ServerMessage};

use crate::games::{TICTACTOE_WIN, cells, create, player};
use crate::helpers::TestApp;
use crate::ws_client::{
    Ending, WsClient, connect_raw_small_buffer, hello, read_until_closed, send_text,
};

mod slow_consumer {
    use super::*;
    both_backends! {
        settings = &[("ws_outbox_capacity", "8"), ("game_replay_limit", "4")];
        async fn experiment(app: TestApp) {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            let carol = player(&app, "carol").await;
            let view = create(&app, &alice, "tictactoe", json!({})).await;
            let mut a = WsClient::connect(&app, &alice.token).await;
            let mut b = WsClient::connect(&app, &bob.token).await;
            b.join(view.id).await;
            let mut slow = connect_raw_small_buffer(&app).await;
            send_text(&mut slow, serde_json::to_string(&hello(&carol.token)).unwrap()).await;
            send_text(&mut slow, serde_json::to_string(&ClientMessage::Subscribe { id: Some("s".into()), game_id: view.id, session_id: None, since_seq: None }).unwrap()).await;
            let started = Instant::now();
            let mut session = view.session_id;
            let mut seat0_is_alice = true;
            let mut events = 3u64;
            for g in 0..150 {
                for (i, cell) in cells(TICTACTOE_WIN).into_iter().enumerate() {
                    let alice_moves = (i % 2 == 0) == seat0_is_alice;
                    let c = if alice_moves { &mut a } else { &mut b };
                    c.make_move(view.id, cell, &format!("g{g}m{i}")).await;
                }
                let _ = session;
                b.act_ok(|id| ClientMessage::Rematch { id, game_id: view.id }).await;
                let ack = a.act_ok(|id| ClientMessage::Rematch { id, game_id: view.id }).await;
                session = ack.new_session_id.unwrap();
                seat0_is_alice = !seat0_is_alice;
                events += 12;
            }
            eprintln!("{:?}: generated {events} events in {:?}", app.backend(), started.elapsed());
            let (seen, ending) = read_until_closed(&mut slow, Duration::from_secs(10)).await;
            let n = seen.iter().filter(|m| matches!(m, ServerMessage::Event(_))).count();
            eprintln!("{:?}: slow client read {n} events, then {ending:?}", app.backend());
            let _ = (GameEvent::Started { clocks: None }, Ending::Close(0));
        }
    }
}

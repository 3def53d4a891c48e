//! The WebSocket protocol (docs/PROTOCOL.md): the handshake and frame rules, whole games of
//! every kind played over the socket and watched by a spectator, gap-free resume, presence and
//! seat holds, errors and exactly-once over the socket, slow consumers and idle connections.
//! Every message is decoded into the protocol crate's types (`ws_client.rs`), so the tests
//! check the schema too.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use versus_protocol::{
    ClientMessage, DrawAction, ErrorCode, EventEnvelope, GameEvent, PROTOCOL_VERSION, Role,
    ServerMessage, SessionState, close_code,
};

use crate::games::{
    CONNECT4_WIN, TICTACTOE_WIN, action_ok, assert_won, cells, columns, create, events_after, game,
    move_ok, player, scholars_mate, scholars_mate_canonical, started_game, wait_for_game,
};
use crate::helpers::TestApp;
use crate::ws_client::{
    Ending, WsClient, assert_gap_free, assert_ws_error, connect_raw, connect_raw_small_buffer,
    hello, read_message, read_until_closed, send_text, write_raw_bytes,
};

/// How long a test waits for the server to close a connection.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Asserts `msg` is an `error` with `code` and no request id (handshake errors).
fn assert_handshake_error(msg: &ServerMessage, code: ErrorCode) {
    assert_ws_error(msg, code);
    assert!(
        matches!(msg, ServerMessage::Error { id: None, .. }),
        "{msg:?}"
    );
}

/// The event of an envelope, for matching.
fn moved_fields(e: &EventEnvelope) -> (u32, Uuid, Value, String, Option<u32>) {
    match &e.event {
        GameEvent::Moved {
            seat,
            player_id,
            mv,
            client_move_id,
            to_move,
            ..
        } => (
            *seat,
            *player_id,
            mv.clone(),
            client_move_id.clone(),
            *to_move,
        ),
        other => panic!("expected moved at seq {}, got {other:?}", e.seq),
    }
}

/// Two players and a spectator play a whole game of `kind` over the socket: the game is
/// created over REST, the second player joins and everyone moves over the socket. Checks that
/// every client sees every event once and in order, that each `move_ack` carries the seq of
/// its `moved` event, and that `ended` carries the result.
async fn a_whole_game_over_the_socket(
    app: &TestApp,
    kind: &str,
    moves: Vec<Value>,
    canonical: Vec<Value>,
    reason: &str,
) {
    let alice = player(app, "alice").await;
    let bob = player(app, "bob").await;
    let carol = player(app, "carol").await;
    let view = create(app, &alice, kind, json!({})).await;
    let (id, session) = (view.id, view.session_id);

    let mut a = WsClient::connect(app, &alice.token).await;
    let mut b = WsClient::connect(app, &bob.token).await;
    let mut s = WsClient::connect(app, &carol.token).await;
    assert_eq!(a.player.id, alice.id);

    let sa = a.subscribe(id, None).await;
    assert_eq!(sa.role, Role::Player { seat: 0 });
    assert_eq!((sa.session_id, sa.last_seq, sa.resync), (session, 1, false));
    assert_eq!(
        sa.snapshot.as_ref().expect("a snapshot").state,
        SessionState::Waiting
    );
    let ss = s.subscribe(id, None).await;
    assert_eq!(ss.role, Role::Spectator);
    assert_eq!(ss.last_seq, 1);

    let joined = b.join(id).await;
    assert_eq!((joined.session_id, joined.seq), (session, 2));
    let sb = b.subscribe(id, None).await;
    assert_eq!(sb.role, Role::Player { seat: 1 });
    assert_eq!(sb.last_seq, 3);
    let snapshot = sb.snapshot.as_ref().expect("a snapshot");
    assert_eq!(snapshot.state, SessionState::InProgress);
    assert_eq!(snapshot.last_seq, 3);

    for c in [&mut a, &mut s] {
        match &c.expect_event(session, 2).await.event {
            GameEvent::SeatTaken { seat: 1, player } => assert_eq!(player.id, bob.id),
            other => panic!("expected bob's seat_taken, got {other:?}"),
        }
        let started = c.expect_event(session, 3).await;
        assert_eq!(
            started.event,
            GameEvent::Started {
                clocks: None,
                realtime: None,
                round_start: None
            }
        );
    }

    let players = [alice.id, bob.id];
    let mut seq = 3;
    for (i, mv) in moves.iter().enumerate() {
        let seat = (i % 2) as u32;
        let cmid = format!("{kind}-{i}");
        let ack = {
            let mover = if seat == 0 { &mut a } else { &mut b };
            mover.make_move(id, mv.clone(), &cmid).await
        };
        seq += 1;
        assert_eq!(
            (ack.seq, ack.session_id, ack.duplicate),
            (seq, session, false)
        );
        assert_eq!(ack.client_move_id, cmid);
        assert_eq!(ack.mv, canonical[i], "the ack carries the canonical move");
        let last = i + 1 == moves.len();
        for c in [&mut a, &mut b, &mut s] {
            let moved = c.expect_event(session, seq).await;
            let (m_seat, m_player, m_move, m_cmid, to_move) = moved_fields(&moved);
            assert_eq!((m_seat, m_player), (seat, players[seat as usize]));
            assert_eq!((m_move, m_cmid), (ack.mv.clone(), cmid.clone()));
            assert_eq!(to_move, if last { None } else { Some(1 - seat) });
        }
    }
    seq += 1;
    for c in [&mut a, &mut b, &mut s] {
        match c.expect_event(session, seq).await.event {
            GameEvent::Ended { result, clocks } => {
                assert_eq!((result.outcome.as_str(), result.winner), ("win", Some(0)));
                assert_eq!(result.reason, reason);
                assert_eq!(clocks, None);
            }
            other => panic!("expected ended, got {other:?}"),
        }
    }

    // Everyone saw exactly the journal after their subscription, once and in order; the
    // spectator's view of the game is the players' view.
    let journal = events_after(app, id, 0).await;
    assert_eq!(journal.len() as u64, seq);
    for (c, sub) in [(&a, &sa), (&b, &sb), (&s, &ss)] {
        let seen = c.events(session);
        assert_gap_free(&seen, sub.last_seq + 1, seq);
        assert_eq!(
            seen,
            journal[sub.last_seq as usize..],
            "{}",
            c.player.username
        );
    }
    assert_won(&game(app, id).await, 0, reason);
}

both_backends! {
    // --- the handshake and frames ----------------------------------------------------------

    async fn hello_with_a_valid_token_is_welcomed_with_the_player_and_the_limits(app: TestApp) {
        let (token, me) = app.register("alice").await;
        let mut ws = connect_raw(&app).await;
        let before = Utc::now();
        send_text(&mut ws, serde_json::to_string(&hello(&token)).unwrap()).await;
        match read_message(&mut ws).await {
            ServerMessage::Welcome { protocol, player, server_time, limits } => {
                assert_eq!(protocol, PROTOCOL_VERSION);
                assert_eq!(player.username, "alice");
                assert_eq!(player.id.to_string(), me["id"].as_str().unwrap());
                assert!(server_time >= before - chrono::Duration::seconds(1));
                assert_eq!(limits.max_message_bytes, 16384);
                assert_eq!(limits.ping_interval_ms, 15000);
                assert_eq!(limits.idle_timeout_ms, 45000);
                assert_eq!(limits.outbox_capacity, 256);
            }
            other => panic!("expected welcome, got {other:?}"),
        }
        // Guests may connect too.
        let (guest, _) = app.guest().await;
        let client = WsClient::connect(&app, &guest).await;
        assert!(client.player.guest);
    }

    async fn a_bad_token_gets_unauthorized_and_close_4001(app: TestApp) {
        let mut ws = connect_raw(&app).await;
        send_text(&mut ws, serde_json::to_string(&hello("not-a-token")).unwrap()).await;
        assert_handshake_error(&read_message(&mut ws).await, ErrorCode::Unauthorized);
        let (rest, ending) = read_until_closed(&mut ws, CLOSE_WAIT).await;
        assert!(rest.is_empty(), "{rest:?}");
        assert_eq!(ending, Ending::Close(close_code::UNAUTHORIZED));
    }

    async fn another_protocol_version_gets_unsupported_protocol_and_close_4000(app: TestApp) {
        let (token, _) = app.register("alice").await;
        let mut ws = connect_raw(&app).await;
        let hello_v2 = ClientMessage::Hello { protocol: 2, token };
        send_text(&mut ws, serde_json::to_string(&hello_v2).unwrap()).await;
        let msg = read_message(&mut ws).await;
        assert_handshake_error(&msg, ErrorCode::UnsupportedProtocol);
        match msg {
            ServerMessage::Error { supported, .. } => assert_eq!(supported, [1]),
            _ => unreachable!(),
        }
        let (_, ending) = read_until_closed(&mut ws, CLOSE_WAIT).await;
        assert_eq!(ending, Ending::Close(close_code::PROTOCOL_ERROR));
    }

    async fn a_first_message_other_than_hello_gets_hello_required_and_close_4000(app: TestApp) {
        for first in [r#"{"type":"ping","id":"p1"}"#, "hello?"] {
            let mut ws = connect_raw(&app).await;
            send_text(&mut ws, first.to_string()).await;
            assert_handshake_error(&read_message(&mut ws).await, ErrorCode::HelloRequired);
            let (_, ending) = read_until_closed(&mut ws, CLOSE_WAIT).await;
            assert_eq!(ending, Ending::Close(close_code::PROTOCOL_ERROR), "after {first}");
        }
        // A binary first frame is closed the same way.
        let mut ws = connect_raw(&app).await;
        futures_util::SinkExt::send(&mut ws, Message::binary(vec![1, 2, 3])).await.unwrap();
        let (_, ending) = read_until_closed(&mut ws, CLOSE_WAIT).await;
        assert_eq!(ending, Ending::Close(close_code::PROTOCOL_ERROR));
    }

    async fn a_malformed_frame_after_hello_gets_malformed_request_and_the_connection_stays_usable(app: TestApp) {
        let (token, _) = app.register("alice").await;
        let mut c = WsClient::connect(&app, &token).await;
        // JSON of the wrong shape: the id is echoed.
        let game_id = Uuid::new_v4();
        for (frame, id) in [
            (json!({"type": "move", "id": "m7", "game_id": "nope"}).to_string(), "m7"),
            (json!({"type": "teleport", "id": "t1"}).to_string(), "t1"),
            (json!({"type": "subscribe", "id": "s1", "game_id": game_id, "since_seq": -1}).to_string(), "s1"),
        ] {
            c.send_raw(&frame).await;
            let reply = c.reply(id).await;
            assert_ws_error(&reply, ErrorCode::MalformedRequest);
        }
        // Not JSON at all: there is no id to echo.
        c.send_raw("{\"type\": \"ping\", \"id\": ").await;
        let reply = c.recv_until(|m| matches!(m, ServerMessage::Error { id: None, .. })).await;
        assert_ws_error(&reply, ErrorCode::MalformedRequest);
        // A second hello is refused, too.
        c.send(&hello(&token)).await;
        let reply = c.recv_until(|m| matches!(m, ServerMessage::Error { .. })).await;
        assert_ws_error(&reply, ErrorCode::InvalidState);
        // The connection is still usable.
        c.ping().await;
    }

    async fn a_binary_frame_gets_malformed_request(app: TestApp) {
        let (token, _) = app.register("alice").await;
        let mut c = WsClient::connect(&app, &token).await;
        c.send_frame(Message::binary(b"{\"type\":\"ping\"}".to_vec())).await;
        let reply = c.recv().await;
        assert_ws_error(&reply, ErrorCode::MalformedRequest);
        c.ping().await;
    }

    async fn a_frame_larger_than_the_limit_ends_the_connection(app: TestApp) {
        let (token, _) = app.register("alice").await;
        let mut c = WsClient::connect(&app, &token).await;
        let big = json!({"type": "ping", "id": "x".repeat(20_000)}).to_string();
        assert!(big.len() > c.limits.max_message_bytes as usize);
        c.send_raw(&big).await;
        let (_, ending) = c.expect_close(CLOSE_WAIT).await;
        assert!(
            matches!(ending, Ending::Close(close_code::MESSAGE_TOO_BIG) | Ending::Dropped(_)),
            "{ending:?}"
        );
    }

    // --- whole games over the socket -------------------------------------------------------

    async fn two_players_and_a_spectator_play_tictactoe_over_the_socket_and_see_every_event_once_in_order(app: TestApp) {
        a_whole_game_over_the_socket(&app, "tictactoe", cells(TICTACTOE_WIN), cells(TICTACTOE_WIN), "three_in_a_row").await;
    }

    async fn two_players_and_a_spectator_play_connect4_over_the_socket_and_see_every_event_once_in_order(app: TestApp) {
        a_whole_game_over_the_socket(&app, "connect4", columns(CONNECT4_WIN), columns(CONNECT4_WIN), "four_in_a_row").await;
    }

    async fn two_players_and_a_spectator_play_chess_over_the_socket_and_see_every_event_once_in_order(app: TestApp) {
        a_whole_game_over_the_socket(&app, "chess", scholars_mate(), scholars_mate_canonical(), "checkmate").await;
    }

    // --- subscribing and resuming ----------------------------------------------------------

    async fn a_player_who_resubscribes_with_since_seq_gets_exactly_the_missed_events_then_live_ones(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "connect4", json!({})).await;
        let (id, session) = (view.id, view.session_id);
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        a.subscribe(id, None).await;
        b.subscribe(id, None).await;
        a.make_move(id, json!({"column": 0}), "a1").await;
        b.make_move(id, json!({"column": 1}), "b1").await;
        a.make_move(id, json!({"column": 2}), "a2").await;
        let k = a.expect_event(session, 6).await.seq;

        // Alice's connection drops after seq k; bob sees her leave.
        a.close().await;
        let left = b.wait_event(session, |e| matches!(e, GameEvent::PlayerLeft { seat: 0, .. })).await;
        assert_eq!(left.seq, k + 1);
        // The game goes on while she is away: bob moves and offers a draw, which she declines
        // from her phone (over REST), and he offers again.
        b.make_move(id, json!({"column": 3}), "b2").await;
        b.draw(id, DrawAction::Offer).await;
        let resp = app.authed_post_json(&format!("/api/v1/games/{id}/draw"), &alice.token, &json!({"action": "decline"})).await;
        assert_eq!(resp.status(), 200);
        let last = match b.draw(id, DrawAction::Offer).await {
            ServerMessage::ActionAck { ack, .. } => ack.seq,
            other => panic!("expected action_ack, got {other:?}"),
        };
        assert_eq!(last, k + 5);

        let mut a = WsClient::connect(&app, &alice.token).await;
        let sub = a.subscribe(id, Some((session, k))).await;
        // The reply comes before any event of the game (a notification of the player's own,
        // such as "your turn" from bob's move while she was away, may be delivered live
        // before it: it is not part of the game's stream).
        let before: Vec<&ServerMessage> = a.log[..sub.log_index]
            .iter()
            .filter(|m| matches!(m, ServerMessage::Event(e) if e.game_id == id))
            .collect();
        assert!(before.is_empty(), "the reply comes first, got {before:?}");
        assert!(sub.snapshot.is_none());
        assert!(!sub.resync);
        assert_eq!((sub.session_id, sub.last_seq), (session, last));
        assert_eq!(sub.role, Role::Player { seat: 0 });
        // Then the missed events; then, live, she is back, for both of them.
        let returned = a.expect_event(session, last + 1).await;
        assert_eq!(returned.event, GameEvent::PlayerReturned { seat: 0 });
        assert_eq!(b.expect_event(session, last + 1).await, returned);
        // And she plays on over the new connection.
        let ack = a.make_move(id, json!({"column": 4}), "a3").await;
        assert_eq!(ack.seq, last + 2);
        a.expect_event(session, ack.seq).await;
        b.expect_event(session, ack.seq).await;

        let seen = a.events(session);
        assert_gap_free(&seen, k + 1, last + 2);
        assert_eq!(seen, events_after(&app, id, k).await);
        let types: Vec<&str> = seen.iter().map(|e| e.event.type_name()).collect();
        assert_eq!(types, ["player_left", "moved", "draw_offered", "draw_declined", "draw_offered", "player_returned", "moved"]);
    }

    async fn subscribing_without_since_seq_returns_a_snapshot_then_live_events(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "chess", json!({})).await;
        move_ok(&app, &alice, view.id, json!({"san": "e4"}), "a1").await;
        let before = game(&app, view.id).await;
        let carol = player(&app, "carol").await;
        let mut c = WsClient::connect(&app, &carol.token).await;
        let sub = c.subscribe(view.id, None).await;
        assert_eq!(sub.role, Role::Spectator);
        assert!(!sub.resync);
        assert_eq!(sub.last_seq, before.last_seq);
        assert_eq!(*sub.snapshot.expect("a snapshot"), before, "the snapshot is GET's view");
        move_ok(&app, &bob, view.id, json!({"san": "e5"}), "b1").await;
        let next = c.recv_until(|m| matches!(m, ServerMessage::Event(_))).await;
        assert_eq!(c.log.len(), 2, "nothing but the reply came before it");
        match next {
            ServerMessage::Event(e) => assert_eq!(e.seq, before.last_seq + 1),
            other => panic!("expected the live event, got {other:?}"),
        }
        // Resuming at the last seq replays nothing.
        let last = game(&app, view.id).await.last_seq;
        let mut c2 = WsClient::connect(&app, &carol.token).await;
        let sub = c2.subscribe(view.id, Some((view.session_id, last))).await;
        assert!(sub.snapshot.is_none() && !sub.resync);
        c2.ping().await;
        assert!(c2.events(view.session_id).is_empty());
    }

    async fn a_since_seq_ahead_of_the_journal_gets_a_resync_snapshot(app: TestApp) {
        let (view, alice, _bob) = started_game(&app, "tictactoe", json!({})).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let sub = a.subscribe(view.id, Some((view.session_id, view.last_seq + 5))).await;
        assert!(sub.resync);
        let snapshot = sub.snapshot.expect("a snapshot");
        assert_eq!(snapshot.last_seq, view.last_seq);
        assert_eq!(sub.last_seq, view.last_seq);
        // Live events follow from there.
        let ack = a.make_move(view.id, json!({"cell": 4}), "a1").await;
        assert_eq!(ack.seq, view.last_seq + 1);
        a.expect_event(view.session_id, ack.seq).await;
        assert_gap_free(&a.events(view.session_id), ack.seq, ack.seq);
    }

    async fn a_since_seq_of_a_finished_session_gets_a_resync_snapshot_of_the_rematch(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
        for (i, mv) in cells(TICTACTOE_WIN).into_iter().enumerate() {
            move_ok(&app, if i % 2 == 0 { &alice } else { &bob }, view.id, mv, &format!("m{i}")).await;
        }
        action_ok(&app, &alice, view.id, "rematch").await;
        let new_session = action_ok(&app, &bob, view.id, "rematch").await.new_session_id.unwrap();
        let mut a = WsClient::connect(&app, &alice.token).await;
        let sub = a.subscribe(view.id, Some((view.session_id, 4))).await;
        assert!(sub.resync);
        assert_eq!(sub.session_id, new_session);
        assert_eq!(sub.role, Role::Player { seat: 1 }, "the seats swapped");
        let snapshot = sub.snapshot.expect("a snapshot");
        assert_eq!((snapshot.session_id, snapshot.session_number), (new_session, 2));
    }

    async fn a_rematch_is_followed_on_the_same_subscription(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        a.subscribe(view.id, None).await;
        b.subscribe(view.id, None).await;
        for (i, mv) in cells(TICTACTOE_WIN).into_iter().enumerate() {
            let c = if i % 2 == 0 { &mut a } else { &mut b };
            c.make_move(view.id, mv, &format!("m{i}")).await;
        }
        let offered = b.act_ok(|id| ClientMessage::Rematch { id, game_id: view.id }).await;
        assert_eq!(offered.new_session_id, None);
        let ack = a.act_ok(|id| ClientMessage::Rematch { id, game_id: view.id }).await;
        let new_session = ack.new_session_id.expect("a new session");
        for c in [&mut a, &mut b] {
            match c.expect_event(view.session_id, ack.seq + 1).await.event {
                GameEvent::RematchStarted { session_id } => assert_eq!(session_id, new_session),
                other => panic!("expected rematch_started, got {other:?}"),
            }
            c.expect_event(new_session, 3).await;
            assert_gap_free(&c.events(view.session_id), 4, ack.seq + 1);
            let types: Vec<&str> = c.events(new_session).iter().map(|e| e.event.type_name()).collect();
            assert_eq!(types, ["seat_taken", "seat_taken", "started"]);
        }
        // Bob has the first seat now, and moves on the same connection.
        let ack = b.make_move(view.id, json!({"cell": 4}), "n1").await;
        assert_eq!((ack.session_id, ack.seq), (new_session, 4));
        a.expect_event(new_session, 4).await;
    }

    // --- presence --------------------------------------------------------------------------

    async fn a_player_who_returns_before_the_hold_expires_is_announced_as_returned(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "chess", json!({})).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        a.subscribe(view.id, None).await;
        b.subscribe(view.id, None).await;
        let both = game(&app, view.id).await;
        assert!(both.participants.iter().all(|p| p.connected && p.seat_held_until.is_none()));

        a.close().await;
        let left = b.wait_event(view.session_id, |e| matches!(e, GameEvent::PlayerLeft { .. })).await;
        let hold_until = match left.event {
            GameEvent::PlayerLeft { seat: 0, hold_until } => hold_until,
            other => panic!("expected alice's player_left, got {other:?}"),
        };
        let held = hold_until - left.at;
        // The default hold: 60 s from when she left (the event is stamped at its commit, just after).
        assert!(held > chrono::Duration::seconds(50) && held <= chrono::Duration::seconds(60), "{held}");
        let away = game(&app, view.id).await;
        assert!(!away.participants[0].connected);
        assert_eq!(away.participants[0].seat_held_until, Some(hold_until));
        assert_ws_error(&b.claim_victory(view.id).await, ErrorCode::InvalidState);

        let mut a = WsClient::connect(&app, &alice.token).await;
        a.subscribe(view.id, None).await;
        let returned = b.expect_event(view.session_id, left.seq + 1).await;
        assert_eq!(returned.event, GameEvent::PlayerReturned { seat: 0 });
        let back = game(&app, view.id).await;
        assert!(back.participants[0].connected);
        assert_eq!(back.participants[0].seat_held_until, None);
        assert_ws_error(&b.claim_victory(view.id).await, ErrorCode::InvalidState);
        assert_eq!(game(&app, view.id).await.last_seq, returned.seq);
    }

    // --- errors and exactly-once over the socket -------------------------------------------

    async fn errors_over_the_socket_carry_the_request_id_and_change_nothing(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
        let carol = player(&app, "carol").await;
        let id = view.id;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let b = WsClient::connect(&app, &bob.token).await;
        let c = WsClient::connect(&app, &carol.token).await;
        a.make_move(id, json!({"cell": 4}), "a1").await;
        let before = game(&app, id).await;

        let unknown = Uuid::new_v4();
        // Who sends what: 0 alice, 1 bob, 2 carol.
        let cases: Vec<(usize, ClientMessage, ErrorCode)> = vec![
            (1, ClientMessage::Move { id: Some("e1".into()), game_id: id, mv: json!({"cell": 4}), client_move_id: "b1".into() }, ErrorCode::IllegalMove),
            (1, ClientMessage::Move { id: Some("e2".into()), game_id: id, mv: json!({"cell": "four"}), client_move_id: "b2".into() }, ErrorCode::MalformedMove),
            (1, ClientMessage::Move { id: Some("e3".into()), game_id: id, mv: json!({"cell": 0}), client_move_id: String::new() }, ErrorCode::ValidationFailed),
            (0, ClientMessage::Move { id: Some("e4".into()), game_id: id, mv: json!({"cell": 0}), client_move_id: "a2".into() }, ErrorCode::NotYourTurn),
            (2, ClientMessage::Move { id: Some("e5".into()), game_id: id, mv: json!({"cell": 0}), client_move_id: "c1".into() }, ErrorCode::NotAParticipant),
            (2, ClientMessage::Resign { id: Some("e6".into()), game_id: id }, ErrorCode::NotAParticipant),
            (2, ClientMessage::Join { id: Some("e7".into()), game_id: id }, ErrorCode::GameFull),
            (1, ClientMessage::Draw { id: Some("e8".into()), game_id: id, action: versus_protocol::DrawAction::Offer }, ErrorCode::NotSupported),
            (0, ClientMessage::Rematch { id: Some("e9".into()), game_id: id }, ErrorCode::InvalidState),
            (1, ClientMessage::Move { id: Some("e10".into()), game_id: unknown, mv: json!({"cell": 0}), client_move_id: "b3".into() }, ErrorCode::NotFound),
            (2, ClientMessage::Subscribe { id: Some("e11".into()), game_id: unknown, session_id: None, since_seq: None }, ErrorCode::NotFound),
            (2, ClientMessage::Unsubscribe { id: Some("e12".into()), game_id: id }, ErrorCode::NotSubscribed),
        ];
        let mut clients = [a, b, c];
        for (who, msg, code) in cases {
            let reply = clients[who].request(&msg).await;
            assert_ws_error(&reply, code);
            let after = game(&app, id).await;
            assert_eq!(after, before, "after {msg:?}");
        }
        // Request ids must be 1-64 characters (the error cannot echo such an id).
        let long_id = ClientMessage::Resign { id: Some("x".repeat(65)), game_id: id };
        clients[0].send(&long_id).await;
        let reply = clients[0].recv_until(|m| matches!(m, ServerMessage::Error { id: None, .. })).await;
        assert_ws_error(&reply, ErrorCode::ValidationFailed);
        assert_eq!(game(&app, id).await, before);
        // Nobody received an event for any of it.
        clients[1].ping().await;
        assert!(clients[1].events(view.session_id).is_empty());
    }

    async fn the_same_client_move_id_twice_over_the_socket_is_one_move(app: TestApp) {
        let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        a.subscribe(view.id, None).await;
        let first = a.make_move(view.id, json!({"cell": 0}), "dup").await;
        assert!(!first.duplicate);
        for mv in [json!({"cell": 0}), json!({"cell": 8})] {
            let again = a.make_move(view.id, mv, "dup").await;
            assert!(again.duplicate);
            assert_eq!((again.seq, &again.mv), (first.seq, &first.mv));
        }
        // The socket and REST answer a retry the same way.
        let over_rest = move_ok(&app, &alice, view.id, json!({"cell": 0}), "dup").await;
        assert!(over_rest.duplicate);
        assert_eq!(over_rest.seq, first.seq);
        // Bob's next move is the next seq; alice saw one moved event for "dup", then his.
        let next = move_ok(&app, &bob, view.id, json!({"cell": 4}), "dup").await;
        assert_eq!(next.seq, first.seq + 1);
        a.expect_event(view.session_id, next.seq).await;
        assert_gap_free(&a.events(view.session_id), first.seq, next.seq);
        assert_eq!(game(&app, view.id).await.moves.len(), 2);
    }
}

mod no_hello {
    use super::*;

    both_backends! {
        settings = &[("ws_hello_timeout_ms", "200")];

        async fn a_client_that_never_says_hello_is_closed_with_4010(app: TestApp) {
            let mut ws = connect_raw(&app).await;
            let (seen, ending) = read_until_closed(&mut ws, CLOSE_WAIT).await;
            assert!(seen.is_empty());
            assert_eq!(ending, Ending::Close(close_code::HELLO_TIMEOUT));
        }
    }
}

mod small_replay_limit {
    use super::*;

    both_backends! {
        settings = &[("game_replay_limit", "8"), ("ws_outbox_capacity", "16")];

        async fn a_gap_up_to_the_replay_limit_is_replayed_and_a_larger_one_resyncs(app: TestApp) {
            let (view, alice, bob) = started_game(&app, "chess", json!({})).await;
            let (id, session) = (view.id, view.session_id);
            let opening = ["e4", "e5", "Nf3", "Nc6", "Bc4", "Bc5", "c3", "Nf6", "d3", "d6", "O-O", "O-O"];
            for (i, san) in opening.iter().enumerate() {
                let p = if i % 2 == 0 { &alice } else { &bob };
                move_ok(&app, p, id, json!({ "san": san }), &format!("m{i}")).await;
            }
            let last = game(&app, id).await.last_seq;
            assert_eq!(last, 15);
            let carol = player(&app, "carol").await;

            // Exactly the limit: replayed event by event.
            let mut c = WsClient::connect(&app, &carol.token).await;
            let sub = c.subscribe(id, Some((session, last - 8))).await;
            assert!(sub.snapshot.is_none() && !sub.resync);
            c.expect_event(session, last).await;
            assert_gap_free(&c.events(session), last - 7, last);

            // One more: a snapshot instead, and live events from there.
            let mut c = WsClient::connect(&app, &carol.token).await;
            let sub = c.subscribe(id, Some((session, last - 9))).await;
            assert!(sub.resync);
            assert_eq!(sub.snapshot.expect("a snapshot").last_seq, last);
            let ack = move_ok(&app, &alice, id, json!({"san": "Re1"}), "live").await;
            c.expect_event(session, ack.seq).await;
            assert_gap_free(&c.events(session), last + 1, last + 1);
        }
    }
}

mod seat_hold {
    use super::*;

    both_backends! {
        settings = &[("seat_hold_seconds", "1")];

        async fn a_player_who_leaves_has_their_seat_held_and_then_loses_by_abandonment(app: TestApp) {
            let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
            let mut a = WsClient::connect(&app, &alice.token).await;
            let mut b = WsClient::connect(&app, &bob.token).await;
            a.subscribe(view.id, None).await;
            b.subscribe(view.id, None).await;
            a.close().await;

            let left = b.wait_event(view.session_id, |e| matches!(e, GameEvent::PlayerLeft { .. })).await;
            let hold_until = match left.event {
                GameEvent::PlayerLeft { seat: 0, hold_until } => hold_until,
                other => panic!("expected alice's player_left, got {other:?}"),
            };
            let held = hold_until - left.at;
            // The hold is set when she leaves; the event is stamped at its commit, just after.
            assert!(held > chrono::Duration::zero() && held <= chrono::Duration::seconds(1), "{held}");

            // Before the hold expires the claim is refused (when the answer proves the server
            // decided before the deadline).
            let early = b.claim_victory(view.id).await;
            if Utc::now() < hold_until {
                assert_ws_error(&early, ErrorCode::InvalidState);
                assert_eq!(game(&app, view.id).await.last_seq, left.seq);
            }

            // After it, the claim wins by abandonment.
            let deadline = Instant::now() + Duration::from_secs(10);
            let ack = loop {
                if let Ok(wait) = (hold_until - Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
                match b.claim_victory(view.id).await {
                    ServerMessage::ActionAck { ack, .. } => break ack,
                    other => {
                        assert_ws_error(&other, ErrorCode::InvalidState);
                        assert!(Instant::now() < deadline, "the claim is still refused");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            };
            assert!(Utc::now() >= hold_until);
            let ended = b.expect_event(view.session_id, ack.seq).await;
            match ended.event {
                GameEvent::Ended { result, .. } => {
                    assert_eq!((result.outcome.as_str(), result.winner, result.reason.as_str()), ("win", Some(1), "abandoned"));
                }
                other => panic!("expected ended, got {other:?}"),
            }
            assert!(ended.at >= hold_until);
            assert_won(&game(&app, view.id).await, 1, "abandoned");
        }
    }
}

/// Plays tictactoe games back to back over the socket (X wins on the fifth move; both ask
/// for a rematch, which swaps the seats): 12 events per game. `a` holds seat 0 at first.
/// Returns the sessions played, the last one still running.
async fn play_rematches(
    a: &mut WsClient,
    b: &mut WsClient,
    watcher: &mut WsClient,
    game_id: Uuid,
    first_session: Uuid,
    games: usize,
) -> Vec<Uuid> {
    let mut sessions = vec![first_session];
    let mut a_is_first = true;
    for g in 0..games {
        for (i, mv) in cells(TICTACTOE_WIN).into_iter().enumerate() {
            let c = if (i % 2 == 0) == a_is_first {
                &mut *a
            } else {
                &mut *b
            };
            c.make_move(game_id, mv, &format!("g{g}-m{i}")).await;
        }
        b.act_ok(|id| ClientMessage::Rematch { id, game_id }).await;
        let ack = a.act_ok(|id| ClientMessage::Rematch { id, game_id }).await;
        let next = ack.new_session_id.expect("the rematch started");
        // The watcher keeps up: it has every event of the new session's start.
        watcher.expect_event(next, 3).await;
        sessions.push(next);
        a_is_first = !a_is_first;
    }
    sessions
}

mod slow_consumer {
    use super::*;

    /// Events generated while the slow client does not read. Its TCP window and segment
    /// size are tiny (see `connect_raw_small_buffer`), so the kernel buffers a few dozen KiB
    /// (about 120 events here) before the server's writes block; after that, 8 more events
    /// fill its outbox. 240 leaves a margin of two. Not more: once the server has closed her
    /// connection, the kernel keeps the orphaned socket probing her zero window only for a
    /// while (`tcp_orphan_retries`) before resetting it, so she must read soon enough to see
    /// the close frame rather than a reset (a loaded CI machine plays 50 games too slowly).
    const GAMES: usize = 20;

    both_backends! {
        settings = &[("ws_outbox_capacity", "8"), ("game_replay_limit", "4")];

        async fn a_spectator_that_never_reads_is_closed_with_4008_and_the_game_goes_on(app: TestApp) {
            let alice = player(&app, "alice").await;
            let bob = player(&app, "bob").await;
            let carol = player(&app, "carol").await;
            let dave = player(&app, "dave").await;
            let view = create(&app, &alice, "tictactoe", json!({})).await;
            let mut a = WsClient::connect(&app, &alice.token).await;
            let mut b = WsClient::connect(&app, &bob.token).await;
            b.join(view.id).await;
            a.subscribe(view.id, None).await;
            b.subscribe(view.id, None).await;
            let mut watcher = WsClient::connect(&app, &dave.token).await;
            let watching = watcher.subscribe(view.id, None).await;

            // Carol says hello and subscribes, then never reads again.
            let mut slow = connect_raw_small_buffer(&app).await;
            send_text(&mut slow, serde_json::to_string(&hello(&carol.token)).unwrap()).await;
            let subscribe = ClientMessage::Subscribe { id: Some("s1".into()), game_id: view.id, session_id: None, since_seq: None };
            send_text(&mut slow, serde_json::to_string(&subscribe).unwrap()).await;

            let sessions = play_rematches(&mut a, &mut b, &mut watcher, view.id, view.session_id, GAMES).await;

            // Carol reads at last: whatever the buffers held, then the close.
            let (seen, ending) = read_until_closed(&mut slow, Duration::from_secs(30)).await;
            assert_eq!(ending, Ending::Close(close_code::SLOW_CONSUMER));
            assert!(matches!(seen.first(), Some(ServerMessage::Welcome { .. })), "{:?}", seen.first());
            let events: Vec<(Uuid, u64)> = seen.iter().filter_map(|m| match m {
                ServerMessage::Event(e) => Some((e.session_id, e.seq)),
                _ => None,
            }).collect();
            assert!(events.len() < GAMES * 12, "she was cut off: {} events", events.len());
            // What she did get was in order, without gaps.
            for w in events.windows(2) {
                let next_in_session = w[1].0 == w[0].0 && w[1].1 == w[0].1 + 1;
                let next_session = w[1].0 != w[0].0 && w[1].1 == 1;
                assert!(next_in_session || next_session, "{w:?}");
            }

            // The game went on: every move was acknowledged, and the watcher saw every event
            // of every session, once and in order.
            for (i, session) in sessions.iter().enumerate() {
                let (first, last) = match i {
                    0 => (watching.last_seq + 1, 12),
                    i if i == sessions.len() - 1 => (1, 3),
                    _ => (1, 12),
                };
                assert_gap_free(&watcher.events(*session), first, last);
            }
            let now = game(&app, view.id).await;
            assert_eq!(now.session_id, *sessions.last().unwrap());
            assert_eq!(now.session_number as usize, GAMES + 1);
            assert_eq!(now.state, SessionState::InProgress);
            b.ping().await;
            watcher.ping().await;

            // Carol reconnects and resumes.
            let (last_session, last_seq) = *events.last().expect("she got some events");
            let mut c = WsClient::connect(&app, &carol.token).await;
            let sub = c.subscribe(view.id, Some((last_session, last_seq))).await;
            assert_eq!(sub.session_id, now.session_id);
            assert_eq!(sub.snapshot.is_some(), sub.resync);
        }
    }
}

mod slow_player {
    use super::*;

    both_backends! {
        settings = &[("ws_outbox_capacity", "8"), ("game_replay_limit", "4"), ("seat_hold_seconds", "1")];

        async fn a_player_kicked_as_a_slow_consumer_leaves_when_the_connection_closes_and_can_lose_by_abandonment(app: TestApp) {
            let (view, alice, bob) = started_game(&app, "chess", json!({})).await;
            let (id, session) = (view.id, view.session_id);
            // Alice's only connection subscribes, then stops reading.
            let mut slow = connect_raw_small_buffer(&app).await;
            send_text(&mut slow, serde_json::to_string(&hello(&alice.token)).unwrap()).await;
            let subscribe = ClientMessage::Subscribe { id: Some("s1".into()), game_id: id, session_id: None, since_seq: None };
            send_text(&mut slow, serde_json::to_string(&subscribe).unwrap()).await;
            wait_for_game(&app, id, "alice's subscription", |v| v.participants[0].connected).await;

            // Bob offers a draw over the socket and alice declines over REST, again and again
            // (events that keep the session running), until the server drops her subscription:
            // she is shown as away at once.
            let mut b = WsClient::connect(&app, &bob.token).await;
            b.subscribe(id, None).await;
            let mut kicked = false;
            for round in 0..1000 {
                if round % 10 == 0 && !game(&app, id).await.participants[0].connected {
                    kicked = true;
                    break;
                }
                assert!(matches!(b.draw(id, DrawAction::Offer).await, ServerMessage::ActionAck { .. }));
                let resp = app.authed_post_json(&format!("/api/v1/games/{id}/draw"), &alice.token, &json!({"action": "decline"})).await;
                assert_eq!(resp.status(), 200);
            }
            assert!(kicked, "alice's subscription was never dropped");
            let now = game(&app, id).await;
            assert_eq!((now.session_id, now.state), (session, SessionState::InProgress));

            // Her client reads again: what was buffered, then the close.
            let (_, ending) = read_until_closed(&mut slow, CLOSE_WAIT).await;
            assert_eq!(ending, Ending::Close(close_code::SLOW_CONSUMER));
            // The connection is gone, so she left: her seat is held, then bob may claim.
            let left = b.wait_event(now.session_id, |e| matches!(e, GameEvent::PlayerLeft { seat: 0, .. })).await;
            let GameEvent::PlayerLeft { hold_until, .. } = left.event else { unreachable!() };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(wait) = (hold_until - Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
                match b.claim_victory(id).await {
                    ServerMessage::ActionAck { .. } => break,
                    other => {
                        assert_ws_error(&other, ErrorCode::InvalidState);
                        assert!(Instant::now() < deadline, "the claim is still refused");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            assert_won(&game(&app, id).await, 1, "abandoned");
        }
    }
}

mod idle_timeout {
    use super::*;

    both_backends! {
        settings = &[("ws_ping_interval_ms", "200"), ("ws_idle_timeout_ms", "600")];

        async fn a_client_that_sends_nothing_is_closed_with_4009_while_one_that_answers_pings_stays(app: TestApp) {
            let (view, alice, bob) = started_game(&app, "tictactoe", json!({})).await;
            let mut b = WsClient::connect(&app, &bob.token).await;
            b.subscribe(view.id, None).await;
            let mut idle = WsClient::connect(&app, &alice.token).await;
            assert_eq!((idle.limits.ping_interval_ms, idle.limits.idle_timeout_ms), (200, 600));
            let quiet_since = Instant::now();
            idle.subscribe(view.id, None).await;
            // From now on alice's client neither reads nor writes, so it answers no ping. Bob
            // reads (tungstenite answers pings while reading) and sees her go.
            let left = b.wait_event(view.session_id, |e| matches!(e, GameEvent::PlayerLeft { seat: 0, .. })).await;
            let quiet = quiet_since.elapsed();
            assert!(quiet >= Duration::from_millis(600), "closed after {quiet:?}");
            assert!(left.seq > view.last_seq);
            // Bob, silent himself but answering pings, is still connected.
            b.ping().await;
            assert!(game(&app, view.id).await.participants[1].connected);
            assert_eq!(idle.raw_ending(CLOSE_WAIT).await, Ending::Close(close_code::IDLE_TIMEOUT));
        }
    }
}

// --- known server bugs ---------------------------------------------------------------------

/// `both_backends!` puts attributes on the test body only, so the tests that show a known
/// server bug are generated here, `#[ignore]`d with the bug: `<name>::sqlite` and
/// `<name>::postgres`. Run them with `--ignored`.
/// A regression test for a bug that was found and fixed; `reason` says what went wrong.
macro_rules! regression {
    (
        $(#[doc = $doc:literal])*
        reason = $reason:literal;
        settings = $settings:expr;
        async fn $name:ident($app:ident: TestApp) $body:block
    ) => {
        $(#[doc = $doc])*
        mod $name {
            use super::*;

            async fn body($app: TestApp) $body

            #[tokio::test]
            async fn sqlite() {
                crate::helpers::run_test(crate::helpers::Db::Sqlite, $settings, body).await;
            }

            #[tokio::test]
            async fn postgres() {
                crate::helpers::run_test(crate::helpers::Db::Postgres, $settings, body).await;
            }
        }
    };
}

regression! {
    /// PROTOCOL.md: "Frames over `max_message_bytes` close the connection with 1009". The
    /// client sends only the header of a 20 000-byte text frame (so the server has nothing
    /// unread and closes cleanly, without a reset that could eat the close frame).
    reason = "was: an oversized frame drops the connection without the documented close 1009 (ws.rs serve: `let Some(Ok(frame)) = frame else { break }`)";
    settings = &[];
    async fn a_frame_larger_than_the_limit_is_closed_with_1009(app: TestApp) {
        let (token, _) = app.register("alice").await;
        let mut c = WsClient::connect(&app, &token).await;
        // FIN + text, masked, 16-bit length 20 000, mask key; no payload.
        let mut header = vec![0x81, 0x80 | 126];
        header.extend_from_slice(&20_000u16.to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        write_raw_bytes(c.ws(), &header).await;
        assert_eq!(c.raw_ending(CLOSE_WAIT).await, Ending::Close(close_code::MESSAGE_TOO_BIG));
    }
}

regression! {
    /// A failed subscribe (`not_found`) must leave no trace: the gateway adds the game to the
    /// connection's subscriptions before the actor answers and never removes it, so the
    /// connection then "unsubscribes" from a game it never followed, and failed subscribes use
    /// up `ws_max_subscriptions`.
    reason = "was: a subscribe answered not_found still counts as a subscription (ws.rs handle_text inserts into `subscriptions` before the actor answers)";
    settings = &[("ws_max_subscriptions", "2")];
    async fn a_subscribe_to_an_unknown_game_is_not_counted_as_a_subscription(app: TestApp) {
        let (view, alice, _bob) = started_game(&app, "tictactoe", json!({})).await;
        let mut c = WsClient::connect(&app, &alice.token).await;
        let unknown = Uuid::new_v4();
        for _ in 0..2 {
            let reply = c.act(|id| ClientMessage::Subscribe { id, game_id: unknown, session_id: None, since_seq: None }).await;
            assert_ws_error(&reply, ErrorCode::NotFound);
        }
        let reply = c.act(|id| ClientMessage::Unsubscribe { id, game_id: unknown }).await;
        assert_ws_error(&reply, ErrorCode::NotSubscribed);
        let sub = c.subscribe(view.id, None).await;
        assert_eq!(sub.role, Role::Player { seat: 0 });
    }
}

regression! {
    /// PROTOCOL.md: request ids are 1-64 characters. Every request checks it except `ping`,
    /// which echoes any id.
    reason = "was: ping does not validate its request id (ws.rs handle_text answers Ping before bad_id)";
    settings = &[];
    async fn a_ping_with_an_over_long_id_is_refused_like_any_request(app: TestApp) {
        let (token, _) = app.register("alice").await;
        let mut c = WsClient::connect(&app, &token).await;
        c.send(&ClientMessage::Ping { id: Some("x".repeat(65)) }).await;
        assert_ws_error(&c.recv().await, ErrorCode::ValidationFailed);
    }
}

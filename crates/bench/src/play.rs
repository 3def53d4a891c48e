//! The `play` scenario: N players in N/2 games of one kind, over the real protocol.
//!
//! Each player is one task with its own WebSocket. It keeps the position locally (with the
//! rules crate) to pick a legal move, and moves as soon as the opponent's `moved` event says
//! it is its turn (closed loop), or on a fixed per-game timer (open loop, `--rate`). When a
//! session ends both players ask for a rematch, so games go on for the whole run.
//!
//! A move's `client_move_id` carries the nanosecond it was sent (on the bench's clock), so the
//! opponent's task measures send → committed event without any shared state.
//!
//! Verification: every event's `seq` is checked (no gap, no duplicate, across reconnects);
//! every acknowledged move is later looked for in the opponent's received events and, for the
//! game's current session, in its final state read over REST.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;
use versus_protocol::{ClientMessage, GameEvent, GameView, ServerMessage};
use versus_rules::GameState;

use crate::conn::{Conn, ConnError};
use crate::ctx::{CtxRef, Phase, spread_interval};
use crate::stats::{Shared, now_ns};

/// A guest account the bench created.
#[derive(Debug, Clone)]
pub struct Player {
    pub token: String,
    pub id: Uuid,
}

/// An acknowledged move.
#[derive(Debug, Clone)]
pub struct Acked {
    pub session_id: Uuid,
    pub seq: u64,
    pub client_move_id: String,
    pub mv: serde_json::Value,
}

/// What the two players of one game saw, for the verification at the end. Index 0 is the
/// game's creator, 1 the joiner (seats rotate with rematches; indexes do not).
#[derive(Debug, Default)]
pub struct PairLog {
    pub acked: [Vec<Acked>; 2],
    /// `moved` events each player received: (session, seq) → client_move_id.
    pub seen: [HashMap<(Uuid, u64), String>; 2],
    /// Each player has a move awaiting its ack: at the end of the run a player keeps reading
    /// until neither has, so the last acknowledged move is also seen arriving.
    pub busy: [bool; 2],
    /// The player's task ran to its clean end (drained after the run). A player that was
    /// aborted mid-reconnect may not have received the last events: its stream is not
    /// evidence, and the opponent's acks are counted as unverifiable instead.
    pub finished: [bool; 2],
}

fn set_busy(pair: &PairRef, idx: usize, busy: bool) {
    pair.lock().unwrap_or_else(|p| p.into_inner()).busy[idx] = busy;
}

fn pair_busy(pair: &PairRef) -> bool {
    let p = pair.lock().unwrap_or_else(|p| p.into_inner());
    p.busy[0] || p.busy[1]
}

pub type PairRef = Arc<Mutex<PairLog>>;

/// Checks one sequence number against the next expected one; counts gaps and duplicates.
pub fn check_seq(expected: &mut u64, seq: u64, stats: &Shared, what: &str) {
    let mut s = stats.lock();
    s.verify.events_checked += 1;
    if seq == *expected {
        *expected += 1;
    } else if seq < *expected {
        s.verify.seq_duplicates += 1;
        s.verify
            .note(format!("{what}: seq {seq} again (expected {})", *expected));
    } else {
        s.verify.seq_gaps += seq - *expected;
        s.verify
            .note(format!("{what}: seq {seq} after {} (gap)", *expected - 1));
        *expected = seq + 1;
    }
}

/// The nanosecond timestamp in a bench-made id (`<letter><nanos>`).
pub fn stamp(id: &str) -> Option<u64> {
    id.get(1..)?.parse().ok()
}

struct InFlight {
    client_move_id: String,
    mv: serde_json::Value,
}

/// One player's view of its game.
struct Table {
    game_id: Uuid,
    me: Uuid,
    idx: usize,
    kind: String,
    session: Uuid,
    /// Next expected seq, per session.
    expected: HashMap<Uuid, u64>,
    my_seat: Option<u32>,
    rules: Box<dyn GameState>,
    to_move: Option<u32>,
    over: bool,
    in_flight: Option<InFlight>,
    /// Our own `moved` event not yet seen (it and the ack arrive in either order).
    awaiting_own_event: Option<String>,
    moves_made: u64,
}

impl Table {
    fn reset_to_snapshot(&mut self, view: &GameView, my_seat: Option<u32>) {
        self.session = view.session_id;
        self.expected.insert(view.session_id, view.last_seq + 1);
        self.my_seat = my_seat;
        let mut rules = versus_rules::new_game(&self.kind).expect("a known kind");
        for m in &view.moves {
            let _ = rules.apply(m.seat as usize, &m.mv);
        }
        self.rules = rules;
        self.to_move = view.to_move;
        self.over = view.state.is_over();
    }

    fn my_turn(&self) -> bool {
        !self.over
            && self.in_flight.is_none()
            && self.awaiting_own_event.is_none()
            && self.my_seat.is_some()
            && self.to_move == self.my_seat
    }

    fn next_move(&mut self) -> Option<ClientMessage> {
        let legal = self.rules.legal_moves();
        if legal.is_empty() {
            return None;
        }
        // Deterministic, but not always the first legal move (so games differ).
        let pick = (self.moves_made as usize * 7 + self.idx * 3) % legal.len();
        let mv = legal[pick].clone();
        self.moves_made += 1;
        let client_move_id = format!("b{}", now_ns());
        self.in_flight = Some(InFlight {
            client_move_id: client_move_id.clone(),
            mv: mv.clone(),
        });
        self.awaiting_own_event = Some(client_move_id.clone());
        Some(ClientMessage::Move {
            id: Some(format!("m{}", now_ns())),
            game_id: self.game_id,
            mv,
            client_move_id,
        })
    }
}

/// Runs one player of the `play` scenario until the run stops.
pub async fn player(
    ctx: CtxRef,
    me: Player,
    game_id: Uuid,
    idx: usize,
    pair: PairRef,
    index: usize,
    count: usize,
) {
    let stats = ctx.stats.clone();
    ctx.pacer.wait().await;
    let slot = ctx.connect_slot().await;
    let mut conn = match Conn::connect(&ctx.opts.url, &me.token, &stats).await {
        Ok(c) => c,
        Err(e) => {
            let mut s = stats.lock();
            s.connections_failed += 1;
            s.error(e.key());
            return;
        }
    };
    let mut t = Table {
        game_id,
        me: me.id,
        idx,
        kind: ctx.opts.kind.clone(),
        session: Uuid::nil(),
        expected: HashMap::new(),
        my_seat: None,
        rules: versus_rules::new_game(&ctx.opts.kind).expect("a known kind"),
        to_move: None,
        over: false,
        in_flight: None,
        awaiting_own_event: None,
        moves_made: 0,
    };
    if let Err(e) = subscribe(&mut conn, &mut t, None, &stats).await {
        stats.lock().error(e.key());
        conn.drop_hard();
        return;
    }
    drop(slot);
    ctx.wait_for(Phase::Run).await;

    let pairs = count / 2;
    let open_loop = ctx.opts.rate > 0.0;
    // Open loop: each game gets rate / games moves per second; its two players share it.
    let move_period = if open_loop {
        Duration::from_secs_f64(pairs.max(1) as f64 / ctx.opts.rate)
    } else {
        Duration::from_secs(3600)
    };
    let mut move_tick = spread_interval(move_period, index / 2, pairs);
    let ping_period = ctx.opts.ping_interval.unwrap_or(Duration::from_secs(3600));
    let mut ping_tick = spread_interval(ping_period, index, count);
    let mut phase = ctx.phase.clone();
    let mut storm = ctx.storm.clone();
    storm.mark_unchanged();
    let mut stopping = false;
    let mut stop_seen: Option<Instant> = None;
    let mut drain_until: Option<Instant> = None;

    if !open_loop && t.my_turn() {
        send_move(&mut conn, &mut t, &stats, &pair).await;
    }
    loop {
        // At the end: wait until neither player of the game awaits an ack (at most
        // `resume_timeout`), then read for `drain` more.
        let quiet = t.in_flight.is_none() && !pair_busy(&pair);
        if let Some(since) = stop_seen
            && drain_until.is_none()
            && (quiet || since.elapsed() > ctx.opts.resume_timeout)
        {
            drain_until = Some(Instant::now() + ctx.opts.drain);
        }
        let deadline = match (drain_until, stopping) {
            (Some(d), _) => d.min(Instant::now() + Duration::from_millis(100)),
            (None, true) => Instant::now() + Duration::from_millis(100),
            (None, false) => Instant::now() + Duration::from_secs(3600),
        };
        tokio::select! {
            msg = conn.recv() => {
                match msg {
                    Ok(m) => {
                        handle(&mut conn, &mut t, m, &stats, &pair, open_loop, stopping).await;
                    }
                    Err(e) => {
                        stats.lock().error(e.key());
                        if stopping || !ctx.opts.resume_on_drop {
                            conn.drop_hard();
                            return;
                        }
                        conn.drop_hard();
                        match resume(&ctx, &me, &mut t, false).await {
                            Some(c) => conn = c,
                            None => return,
                        }
                    }
                }
            }
            _ = move_tick.tick(), if open_loop && !stopping => {
                if t.my_turn() {
                    send_move(&mut conn, &mut t, &stats, &pair).await;
                } else if !t.over && t.my_seat.is_some() && t.to_move == t.my_seat {
                    stats.lock().open_loop_late += 1;
                }
            }
            _ = ping_tick.tick(), if ctx.opts.ping_interval.is_some() && !stopping => {
                stats.lock().pings += 1;
                let _ = conn.send(&ClientMessage::Ping { id: None }).await;
            }
            Ok(()) = storm.changed(), if !stopping => {
                conn.drop_hard();
                match resume(&ctx, &me, &mut t, true).await {
                    Some(c) => conn = c,
                    None => return,
                }
                if !open_loop && t.my_turn() {
                    send_move(&mut conn, &mut t, &stats, &pair).await;
                }
            }
            () = crate::ctx::until_stop(&mut phase), if !stopping => {
                stopping = true;
                stop_seen = Some(Instant::now());
            }
            () = tokio::time::sleep_until(deadline), if stopping => {
                if drain_until.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
            }
        }
    }
    pair.lock().unwrap_or_else(|p| p.into_inner()).finished[idx] = true;
    conn.close().await;
}

async fn send_move(conn: &mut Conn, t: &mut Table, stats: &Shared, pair: &PairRef) {
    if let Some(msg) = t.next_move() {
        set_busy(pair, t.idx, true);
        stats.lock().moves_sent += 1;
        if let Err(e) = conn.send(&msg).await {
            stats.lock().error(e.key());
        }
    }
}

/// A client following one game: what the shared subscribe and resume paths need of it.
pub(crate) trait Follower {
    fn game_id(&self) -> Uuid;
    /// Where a resume starts: the current session and the last seq applied in it.
    fn resume_point(&self) -> (Uuid, u64);
    fn reset_to_snapshot(&mut self, view: &GameView, seat: Option<u32>);
}

impl Follower for Table {
    fn game_id(&self) -> Uuid {
        self.game_id
    }

    fn resume_point(&self) -> (Uuid, u64) {
        let last = self.expected.get(&self.session).copied().unwrap_or(1) - 1;
        (self.session, last)
    }

    fn reset_to_snapshot(&mut self, view: &GameView, seat: Option<u32>) {
        Table::reset_to_snapshot(self, view, seat);
    }
}

/// Subscribes (fresh, or resuming from `since`), and handles the reply.
pub(crate) async fn subscribe(
    conn: &mut Conn,
    t: &mut impl Follower,
    since: Option<(Uuid, u64)>,
    stats: &Shared,
) -> Result<(), ConnError> {
    conn.send(&ClientMessage::Subscribe {
        id: Some("s".into()),
        game_id: t.game_id(),
        session_id: since.map(|s| s.0),
        since_seq: since.map(|s| s.1),
    })
    .await?;
    loop {
        match conn.recv().await? {
            ServerMessage::Subscribed {
                snapshot,
                resync,
                role,
                ..
            } => {
                let seat = match role {
                    versus_protocol::Role::Player { seat } => Some(seat),
                    versus_protocol::Role::Spectator => None,
                };
                if resync {
                    stats.lock().resyncs += 1;
                }
                if let Some(view) = snapshot {
                    t.reset_to_snapshot(&view, seat);
                }
                return Ok(());
            }
            ServerMessage::Error { code, .. } => {
                stats.lock().error(format!("{code:?}"));
                return Err(ConnError::Refused(format!("subscribe: {code:?}")));
            }
            // Pushes for the player (notifications, presence) may come first.
            _ => {}
        }
    }
}

/// Reconnects after a drop (or a storm, paced) and resubscribes from the resume point,
/// retrying until `resume_timeout`; counts the resume and its duration.
pub(crate) async fn reconnect(
    ctx: &CtxRef,
    me: &Player,
    t: &mut impl Follower,
    storm: bool,
) -> Option<Conn> {
    let stats = &ctx.stats;
    let dropped = Instant::now();
    if storm {
        ctx.storm_pacer.wait().await;
    }
    let give_up = dropped + ctx.opts.resume_timeout;
    loop {
        let slot = ctx.connect_slot().await;
        match Conn::connect(&ctx.opts.url, &me.token, stats).await {
            Ok(mut conn) => {
                let since = t.resume_point();
                match subscribe(&mut conn, t, Some(since), stats).await {
                    Ok(()) => {
                        drop(slot);
                        let mut s = stats.lock();
                        s.resumes += 1;
                        s.resume.record(dropped.elapsed());
                        return Some(conn);
                    }
                    Err(e) => {
                        stats.lock().error(e.key());
                        conn.drop_hard();
                    }
                }
            }
            Err(e) => stats.lock().error(e.key()),
        }
        drop(slot);
        if Instant::now() >= give_up {
            stats.lock().error("resume_gave_up");
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reconnects and resumes the game by `since_seq`; a move in flight is sent again with the
/// same `client_move_id` (answered once, maybe as a duplicate).
async fn resume(ctx: &CtxRef, me: &Player, t: &mut Table, storm: bool) -> Option<Conn> {
    let mut conn = reconnect(ctx, me, t, storm).await?;
    if let Some(f) = &t.in_flight {
        let msg = ClientMessage::Move {
            id: Some(format!("m{}", now_ns())),
            game_id: t.game_id,
            mv: f.mv.clone(),
            client_move_id: f.client_move_id.clone(),
        };
        let _ = conn.send(&msg).await;
    }
    Some(conn)
}

async fn handle(
    conn: &mut Conn,
    t: &mut Table,
    msg: ServerMessage,
    stats: &Shared,
    pair: &PairRef,
    open_loop: bool,
    stopping: bool,
) {
    match msg {
        ServerMessage::Event(env) => {
            if env.game_id != t.game_id {
                return;
            }
            let exp = t.expected.entry(env.session_id).or_insert(1);
            check_seq(exp, env.seq, stats, "game event");
            if env.session_id != t.session && env.seq == 1 {
                // The first event of a rematch's session.
                t.session = env.session_id;
                t.rules = versus_rules::new_game(&t.kind).expect("a known kind");
                t.my_seat = None;
                t.to_move = None;
                t.over = false;
            }
            if env.session_id != t.session {
                return;
            }
            match env.event {
                GameEvent::SeatTaken { seat, player } if player.id == t.me => {
                    t.my_seat = Some(seat);
                }
                GameEvent::Started { .. } => t.to_move = Some(0),
                GameEvent::Moved {
                    seat,
                    mv,
                    client_move_id,
                    to_move,
                    ..
                } => {
                    let _ = t.rules.apply(seat as usize, &mv);
                    t.to_move = to_move;
                    if Some(seat) != t.my_seat {
                        if let Some(sent) = stamp(&client_move_id) {
                            stats
                                .lock()
                                .move_to_opponent
                                .record_ns(now_ns().saturating_sub(sent));
                        }
                    } else if t.awaiting_own_event.as_deref() == Some(client_move_id.as_str()) {
                        t.awaiting_own_event = None;
                    }
                    pair.lock().unwrap_or_else(|p| p.into_inner()).seen[t.idx]
                        .insert((env.session_id, env.seq), client_move_id);
                }
                GameEvent::Ended { .. } => {
                    t.over = true;
                    t.to_move = None;
                    if t.idx == 0 {
                        stats.lock().sessions_finished += 1;
                    }
                    if !stopping {
                        let _ = conn
                            .send(&ClientMessage::Rematch {
                                id: Some("r".into()),
                                game_id: t.game_id,
                            })
                            .await;
                    }
                }
                _ => {}
            }
        }
        ServerMessage::MoveAck { id, ack } => {
            let mine = t
                .in_flight
                .as_ref()
                .is_some_and(|f| f.client_move_id == ack.client_move_id);
            if !mine {
                return;
            }
            t.in_flight = None;
            set_busy(pair, t.idx, false);
            {
                let mut s = stats.lock();
                s.moves_acked += 1;
                if ack.duplicate {
                    s.duplicate_acks += 1;
                }
                if let Some(sent) = id.as_deref().and_then(stamp) {
                    s.move_to_ack.record_ns(now_ns().saturating_sub(sent));
                }
            }
            pair.lock().unwrap_or_else(|p| p.into_inner()).acked[t.idx].push(Acked {
                session_id: ack.session_id,
                seq: ack.seq,
                client_move_id: ack.client_move_id,
                mv: ack.mv,
            });
        }
        ServerMessage::Error { id, code, .. } => {
            stats.lock().error(format!("{code:?}"));
            if id.as_deref().is_some_and(|i| i.starts_with('m')) {
                set_busy(pair, t.idx, false);
                t.in_flight = None;
                t.awaiting_own_event = None;
            }
        }
        _ => {}
    }
    if !open_loop && !stopping && t.my_turn() {
        send_move(conn, t, stats, pair).await;
    }
}

/// The end-of-run verification of one game: every acknowledged move was received by the
/// opponent, and those of the current session are in the final state read over REST.
pub fn verify_game(pair: &PairLog, final_view: Option<&GameView>, stats: &Shared) {
    let mut s = stats.lock();
    for idx in 0..2 {
        let other = 1 - idx;
        for a in &pair.acked[idx] {
            let seen = pair.seen[other].get(&(a.session_id, a.seq));
            if !pair.finished[other] && seen.is_none() {
                s.verify.acked_unverifiable += 1;
            } else {
                s.verify.acked_checked_opponent += 1;
            }
            match seen {
                Some(c) if *c == a.client_move_id => {}
                None if !pair.finished[other] => {}
                _ => {
                    s.verify.acked_missing += 1;
                    s.verify.acked_missing_opponent += 1;
                    s.verify.note(format!(
                        "acked move seq {} of session {} never reached the opponent",
                        a.seq, a.session_id
                    ));
                }
            }
            if let Some(view) = final_view.filter(|v| v.session_id == a.session_id) {
                s.verify.acked_checked_rest += 1;
                let present = view.moves.iter().any(|m| m.seq == a.seq && m.mv == a.mv);
                if !present {
                    s.verify.acked_missing += 1;
                    s.verify.acked_missing_rest += 1;
                    s.verify.note(format!(
                        "acked move seq {} of game {} is not in its final state",
                        a.seq, view.id
                    ));
                }
            }
        }
    }
}

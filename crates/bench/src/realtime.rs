//! The `realtime` scenario: N players in sessions of the real-time kind `lightcycles`
//! (`--realtime-players` per session, 2 by default), created and joined over REST like
//! `play`'s games.
//!
//! Each player is one task with its own WebSocket. It subscribes, rebuilds the board from the
//! snapshot's `position`, `started` and every `ticks` delta (docs/PROTOCOL.md "Real-time
//! games"), and steers with `input`: at most one input per tick, and never a second one
//! before the first was accepted *and* the tick it takes effect in was seen — so an input is
//! never a reversal of the direction the server has the cycle moving in. It turns when the
//! cell ahead is taken, and otherwise every `--realtime-input-every` ticks picks a random
//! open direction (so cycles wander and rounds end). When a session ends every player asks
//! for a rematch, so sessions go on for the whole run.
//!
//! Counted: ticks received (deltas and messages), input → `input_accepted` and input → the
//! tick it took effect in (HDR), errors by code, the sequence numbers (events and `ticks`
//! messages share one gap-free numbering per session), tick numbers (each delta follows the
//! previous one), and the bytes each player receives during the measured run (the text
//! payload, and with the WebSocket frame header added).

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;
use uuid::Uuid;
use versus_protocol::realtime::{Cycle, Direction, TickDelta};
use versus_protocol::{ClientMessage, ErrorCode, GameEvent, GameView, ServerMessage};

use crate::conn::{Conn, ConnError};
use crate::ctx::{CtxRef, Phase};
use crate::play::{Follower, Player, check_seq, reconnect, stamp, subscribe};
use crate::stats::{Shared, now_ns};

/// One real-time session the bench created: its game and its players (creator first).
#[derive(Debug, Clone)]
pub struct RtSession {
    pub game_id: Uuid,
    pub players: Vec<Player>,
}

/// The client's copy of the board.
#[derive(Debug, Clone, Deserialize)]
struct Board {
    width: u16,
    height: u16,
    tick: u64,
    cycles: Vec<Cycle>,
    /// Row-major, `0` empty, `seat + 1` that seat's trail.
    board: Vec<u8>,
}

impl Board {
    fn step(&self, x: u16, y: u16, d: Direction) -> Option<(u16, u16)> {
        let (nx, ny) = match d {
            Direction::Up => (Some(x), y.checked_sub(1)),
            Direction::Down => (Some(x), y.checked_add(1)),
            Direction::Left => (x.checked_sub(1), Some(y)),
            Direction::Right => (x.checked_add(1), Some(y)),
        };
        let (nx, ny) = (nx?, ny?);
        (nx < self.width && ny < self.height).then_some((nx, ny))
    }

    fn free(&self, x: u16, y: u16) -> bool {
        self.board
            .get(usize::from(y) * usize::from(self.width) + usize::from(x))
            .is_some_and(|c| *c == 0)
    }

    fn set(&mut self, x: u16, y: u16, seat: usize) {
        let w = usize::from(self.width);
        if let Some(c) = self.board.get_mut(usize::from(y) * w + usize::from(x)) {
            *c = seat as u8 + 1;
        }
    }

    fn place_spawns(&mut self, spawns: &[Cycle]) {
        self.cycles = spawns.to_vec();
        self.board.fill(0);
        for (seat, c) in spawns.iter().enumerate() {
            self.set(c.x, c.y, seat);
        }
    }

    /// Free cells straight ahead of `seat` in direction `d` (at most `limit`).
    fn run(&self, seat: usize, d: Direction, limit: u32) -> u32 {
        let Some(c) = self.cycles.get(seat) else {
            return 0;
        };
        let (mut x, mut y) = (c.x, c.y);
        let mut n = 0;
        while n < limit {
            match self.step(x, y, d) {
                Some((nx, ny)) if self.free(nx, ny) => {
                    (x, y) = (nx, ny);
                    n += 1;
                }
                _ => break,
            }
        }
        n
    }

    /// Applies one delta (the same as the rules crate's `Snapshot::apply_delta`).
    fn apply(&mut self, d: &TickDelta) {
        self.tick = d.tick;
        for &(seat, x, y) in &d.steps {
            let seat = seat as usize;
            let from = self.cycles.get(seat).map(|c| (c.x, c.y));
            if let Some(from) = from
                && let Some(dir) = Direction::ALL_DIRS
                    .into_iter()
                    .find(|dir| self.step(from.0, from.1, *dir) == Some((x, y)))
                && let Some(c) = self.cycles.get_mut(seat)
            {
                c.dir = dir;
            }
            if let Some(c) = self.cycles.get_mut(seat) {
                c.x = x;
                c.y = y;
            }
            self.set(x, y, seat);
        }
        for e in &d.eliminations {
            if let Some(c) = self.cycles.get_mut(e.seat as usize) {
                c.alive = false;
            }
        }
        if let Some(start) = &d.round_start {
            self.place_spawns(&start.spawns);
        }
    }
}

/// The four directions (the protocol's type has no list of them).
trait AllDirs {
    const ALL_DIRS: [Direction; 4];
}

impl AllDirs for Direction {
    const ALL_DIRS: [Direction; 4] = [
        Direction::Up,
        Direction::Down,
        Direction::Left,
        Direction::Right,
    ];
}

fn reverse(d: Direction) -> Direction {
    match d {
        Direction::Up => Direction::Down,
        Direction::Down => Direction::Up,
        Direction::Left => Direction::Right,
        Direction::Right => Direction::Left,
    }
}

/// One player's view of its session.
struct Rt {
    game_id: Uuid,
    me: Uuid,
    session: Uuid,
    /// Next expected seq, per session.
    expected: HashMap<Uuid, u64>,
    seat: Option<u32>,
    board: Option<Board>,
    over: bool,
    /// The input awaiting its `input_accepted`: (request id, sent at ns).
    awaiting: Option<(String, u64)>,
    /// An accepted input whose tick has not been seen yet: (tick, sent at ns).
    effect: Option<(u64, u64)>,
    /// The view's tick when the last input was sent (at most one per tick).
    last_input_tick: Option<u64>,
    ticks_since_input: u32,
    /// Rounds and sessions started so far (a new spawn: the direction changes at once).
    restarts: u64,
    /// `restarts` when the input awaiting its reply was sent.
    sent_restarts: u64,
    /// An input refused as a `reversal`, not yet classified: (`sent_restarts`, view tick).
    refused: Option<(u64, u64)>,
    /// A resume forgot an input of ours that the server may have taken before the drop, so
    /// the view may not show our own last turn yet; cleared once an input of ours is seen
    /// taking effect.
    unsure: bool,
    /// `unsure` when the input awaiting its reply was sent.
    sent_unsure: bool,
    rng: u64,
    /// Bytes received during the measured run: text payload, and with frame headers.
    bytes_run: u64,
    wire_bytes_run: u64,
}

impl Rt {
    fn reset_session(&mut self, session: Uuid) {
        self.restarts += 1;
        self.session = session;
        self.seat = None;
        self.board = None;
        self.over = false;
        self.awaiting = None;
        self.effect = None;
        self.last_input_tick = None;
    }

    fn reset_to_snapshot(&mut self, view: &GameView, seat: Option<u32>) {
        // The snapshot is the committed state; an input of ours still on its way to its tick
        // may be ahead of it (as after a resume).
        if self.session == view.session_id && (self.awaiting.is_some() || self.effect.is_some()) {
            self.unsure = true;
        }
        self.reset_session(view.session_id);
        self.expected.insert(view.session_id, view.last_seq + 1);
        self.seat = seat;
        self.board = serde_json::from_value(view.position.clone()).ok();
        self.over = view.state.is_over();
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64: deterministic per player, different across players.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// The input to send now, if any (see the module docs for the rule).
    fn steer(&mut self, every: u32) -> Option<Direction> {
        if self.over || self.awaiting.is_some() || self.effect.is_some() {
            return None;
        }
        let seat = self.seat? as usize;
        let board = self.board.as_ref()?;
        let me = *board.cycles.get(seat)?;
        if !me.alive || self.last_input_tick.is_some_and(|t| t >= board.tick) {
            return None;
        }
        let options: Vec<(Direction, u32)> = Direction::ALL_DIRS
            .into_iter()
            .filter(|d| *d != reverse(me.dir))
            .map(|d| (d, board.run(seat, d, 8)))
            .collect();
        let ahead = board.run(seat, me.dir, 8);
        let tick = board.tick;
        let roll = self.next_rand();
        self.ticks_since_input += 1;
        let pick = if ahead == 0 {
            options.iter().max_by_key(|(_, r)| *r).map(|(d, _)| *d)
        } else if self.ticks_since_input >= every {
            let open: Vec<Direction> = options
                .iter()
                .filter(|(_, r)| *r >= 2)
                .map(|(d, _)| *d)
                .collect();
            if open.is_empty() {
                options.iter().max_by_key(|(_, r)| *r).map(|(d, _)| *d)
            } else {
                let i = (roll % open.len() as u64) as usize;
                Some(open[i])
            }
        } else {
            None
        };
        if pick.is_some() {
            self.ticks_since_input = 0;
            self.last_input_tick = Some(tick);
        }
        pick
    }
}

/// WebSocket frame header size of a server → client (unmasked) text frame of `len` bytes.
fn frame_header(len: usize) -> u64 {
    if len < 126 {
        2
    } else if len < 65536 {
        4
    } else {
        10
    }
}

/// Runs one player of the `realtime` scenario until the run stops.
pub async fn player(ctx: CtxRef, me: Player, game_id: Uuid, index: usize) {
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
    let mut t = Rt {
        game_id,
        me: me.id,
        session: Uuid::nil(),
        expected: HashMap::new(),
        seat: None,
        board: None,
        over: false,
        awaiting: None,
        effect: None,
        last_input_tick: None,
        ticks_since_input: 0,
        restarts: 0,
        sent_restarts: 0,
        unsure: false,
        sent_unsure: false,
        refused: None,
        rng: 0x9E37_79B9_7F4A_7C15 ^ ((index as u64 + 1) * 0x1000_0000_01B3),
        bytes_run: 0,
        wire_bytes_run: 0,
    };
    if let Err(e) = subscribe(&mut conn, &mut t, None, &stats).await {
        stats.lock().error(e.key());
        conn.drop_hard();
        return;
    }
    drop(slot);
    ctx.wait_for(Phase::Run).await;
    // The measured run starts now for this client (its bytes count from here).
    let every = ctx.opts.realtime_input_every.max(1);
    let mut phase = ctx.phase.clone();
    let mut storm = ctx.storm.clone();
    storm.mark_unchanged();
    let mut stopping = false;
    let mut drain_until: Option<Instant> = None;
    loop {
        let deadline = drain_until.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            text = conn.recv_text() => match text {
                Ok(text) => {
                    if !stopping {
                        t.bytes_run += text.len() as u64;
                        t.wire_bytes_run += text.len() as u64 + frame_header(text.len());
                    }
                    match serde_json::from_str::<ServerMessage>(&text) {
                        Ok(m) => handle(&mut conn, &mut t, m, &stats, stopping, every).await,
                        Err(e) => stats.lock().error(ConnError::Decode(e.to_string()).key()),
                    }
                }
                Err(e) => {
                    stats.lock().error(e.key());
                    conn.drop_hard();
                    if stopping || !ctx.opts.resume_on_drop {
                        finish(&stats, &mut t);
                        return;
                    }
                    match resume(&ctx, &me, &mut t, false).await {
                        Some(c) => conn = c,
                        None => {
                            finish(&stats, &mut t);
                            return;
                        }
                    }
                }
            },
            Ok(()) = storm.changed(), if !stopping => {
                conn.drop_hard();
                match resume(&ctx, &me, &mut t, true).await {
                    Some(c) => conn = c,
                    None => {
                        finish(&stats, &mut t);
                        return;
                    }
                }
            }
            () = crate::ctx::until_stop(&mut phase), if !stopping => {
                stopping = true;
                drain_until = Some(Instant::now() + ctx.opts.drain);
            }
            () = tokio::time::sleep_until(deadline), if drain_until.is_some() => break,
        }
    }
    finish(&stats, &mut t);
    conn.close().await;
}

/// A `reversal` is expected when the cycle respawned (a new round or session) in ticks the
/// server ran but the client had not seen yet: the input was chosen from the old direction.
/// It is counted as `reversal_after_respawn` once that respawn arrives (within the ticks the
/// server may run ahead of its commits); otherwise as `Reversal`, which means the client
/// steered wrong.
fn classify_refused(t: &mut Rt, stats: &Shared, at_end: bool) {
    let Some((at_restarts, at_tick)) = t.refused else {
        return;
    };
    let tick = t.board.as_ref().map_or(0, |b| b.tick);
    if t.restarts != at_restarts {
        stats.lock().error("reversal_after_respawn");
        t.refused = None;
    } else if at_end || tick > at_tick + 50 {
        stats.lock().error("Reversal");
        t.refused = None;
    }
}

impl Follower for Rt {
    fn game_id(&self) -> Uuid {
        self.game_id
    }

    fn resume_point(&self) -> (Uuid, u64) {
        let last = self.expected.get(&self.session).copied().unwrap_or(1) - 1;
        (self.session, last)
    }

    fn reset_to_snapshot(&mut self, view: &GameView, seat: Option<u32>) {
        Rt::reset_to_snapshot(self, view, seat);
    }
}

/// Adds this player's byte counts to the run's.
fn finish(stats: &Shared, t: &mut Rt) {
    classify_refused(t, stats, true);
    let mut s = stats.lock();
    s.rt_player_bytes.push(t.bytes_run);
    s.rt_wire_bytes += t.wire_bytes_run;
}

/// Reconnects and resumes the session by `since_seq`.
async fn resume(ctx: &CtxRef, me: &Player, t: &mut Rt, storm: bool) -> Option<Conn> {
    // An input in flight may or may not have been accepted: forget it, and until an input of
    // ours is seen taking effect, a `reversal` may be of a turn the server took and we have
    // not seen (counted as `reversal_after_resume`, not as a steering bug).
    if t.awaiting.is_some() || t.effect.is_some() {
        t.unsure = true;
    }
    t.awaiting = None;
    t.effect = None;
    reconnect(ctx, me, t, storm).await
}

async fn handle(
    conn: &mut Conn,
    t: &mut Rt,
    msg: ServerMessage,
    stats: &Shared,
    stopping: bool,
    every: u32,
) {
    match msg {
        ServerMessage::Event(env) => {
            if env.game_id != t.game_id {
                return;
            }
            let exp = t.expected.entry(env.session_id).or_insert(1);
            check_seq(exp, env.seq, stats, "real-time event");
            if env.session_id != t.session && env.seq == 1 {
                // The first event of a rematch's session.
                t.reset_session(env.session_id);
                classify_refused(t, stats, false);
            }
            if env.session_id != t.session {
                return;
            }
            match env.event {
                GameEvent::SeatTaken { seat, player } if player.id == t.me => {
                    t.seat = Some(seat);
                }
                GameEvent::Started {
                    realtime: Some(c),
                    round_start: Some(start),
                    ..
                } => {
                    let mut b = Board {
                        width: c.width,
                        height: c.height,
                        tick: 0,
                        cycles: Vec::new(),
                        board: vec![0; usize::from(c.width) * usize::from(c.height)],
                    };
                    b.place_spawns(&start.spawns);
                    t.board = Some(b);
                }
                GameEvent::Ended { .. } => {
                    t.over = true;
                    if t.seat == Some(0) {
                        stats.lock().rt_sessions_finished += 1;
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
        ServerMessage::Ticks {
            game_id,
            session_id,
            seq,
            ticks,
        } => {
            if game_id != t.game_id {
                return;
            }
            let exp = t.expected.entry(session_id).or_insert(1);
            check_seq(exp, seq, stats, "ticks message");
            if session_id != t.session {
                return;
            }
            {
                let mut s = stats.lock();
                s.rt_tick_msgs += 1;
                s.rt_ticks += ticks.len() as u64;
                if !stopping {
                    s.rt_ticks_in_run += ticks.len() as u64;
                }
                if let Some(b) = t.board.as_mut() {
                    for d in &ticks {
                        if d.tick != b.tick + 1 {
                            s.verify.tick_gaps += 1;
                            s.verify.note(format!(
                                "session {session_id}: tick {} after tick {}",
                                d.tick, b.tick
                            ));
                        }
                        b.apply(d);
                        if d.round_start.is_some() {
                            t.restarts += 1;
                        }
                    }
                }
                if let (Some((tick, sent)), Some(b)) = (t.effect, t.board.as_ref())
                    && b.tick >= tick
                {
                    s.input_to_tick.record_ns(now_ns().saturating_sub(sent));
                    t.effect = None;
                    t.unsure = false;
                }
            }
            classify_refused(t, stats, false);
            if !stopping && let Some(dir) = t.steer(every) {
                let sent = now_ns();
                let id = format!("i{sent}");
                t.awaiting = Some((id.clone(), sent));
                t.sent_restarts = t.restarts;
                t.sent_unsure = t.unsure;
                stats.lock().rt_inputs_sent += 1;
                let msg = ClientMessage::Input {
                    id: Some(id),
                    game_id: t.game_id,
                    dir,
                };
                if let Err(e) = conn.send(&msg).await {
                    stats.lock().error(e.key());
                }
            }
        }
        ServerMessage::InputAccepted { id, tick, .. } => {
            let Some((want, sent)) = t.awaiting.clone() else {
                return;
            };
            if id.as_deref() != Some(want.as_str()) {
                return;
            }
            t.awaiting = None;
            // Seen already (the reply came after the tick's message)? Then nothing to wait for.
            let seen = t.board.as_ref().is_some_and(|b| b.tick >= tick);
            t.effect = (!seen).then_some((tick, sent));
            if seen {
                t.unsure = false;
            }
            let mut s = stats.lock();
            s.rt_inputs_accepted += 1;
            s.input_to_ack
                .record_ns(now_ns().saturating_sub(stamp(&want).unwrap_or(sent)));
            if seen {
                s.input_to_tick.record_ns(now_ns().saturating_sub(sent));
            }
        }
        ServerMessage::Error { id, code, .. } => {
            let mine = id.is_some() && t.awaiting.as_ref().map(|a| &a.0) == id.as_ref();
            if mine && code == ErrorCode::Reversal && t.sent_unsure {
                stats.lock().error("reversal_after_resume");
            } else if mine && code == ErrorCode::Reversal && t.refused.is_none() {
                // Classified once the ticks show whether the cycle respawned meanwhile.
                let tick = t.board.as_ref().map_or(0, |b| b.tick);
                t.refused = Some((t.sent_restarts, tick));
                classify_refused(t, stats, false);
            } else {
                stats.lock().error(format!("{code:?}"));
            }
            if mine {
                t.awaiting = None;
            }
        }
        _ => {}
    }
}

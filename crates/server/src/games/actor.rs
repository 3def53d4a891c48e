//! The actor of one game: the single owner of its current session's state, on the one node
//! that holds the game's lease.
//!
//! Every change follows the same path: validate against the state (on a copy of the rules),
//! build the events, commit them through the journal writer (fenced by the lease), and only
//! after the commit apply them to the state ([`Live::apply`]), reply, and publish them on the
//! bus. If a commit fails the actor stops without touching its state; the next request
//! reloads the game from the journal — here or on another node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;
use versus_protocol::realtime::{Direction, TickDelta, TickInput};
use versus_protocol::{
    ActionAck, DrawAction, ErrorCode, GameEvent, GameResult, GameSettings, MoveAck, PlayerRef,
    Role, SessionState,
};
use versus_rules::{MoveError, Outcome, Status, lightcycles};
use versus_store::{
    EventRecord, JournalEntry, LeaseOutcome, NewSeat, NewSession, NewSessionBundle, SeatResult,
    SessionUpdate,
};

use super::journal::JournalError;
use super::realtime;
use super::state::{GameMeta, Live, clock};
use super::{ActOk, Action, Command, FeedStart, GameError, GameReply, GameRequest, HubInner};
use crate::bus::{BusMessage, Subscription, game_cmd_subject, game_events_subject};
use crate::{now_ms, time_from_ms};

/// How this actor came to own the game (from its lease).
#[derive(Debug, Clone)]
struct Ownership {
    fence: i64,
    acquired_at_ms: i64,
    previous_owner: Option<String>,
    previous_alive_ms: i64,
    previous_released: bool,
}

struct Actor {
    hub: Arc<HubInner>,
    meta: GameMeta,
    live: Live,
    lease: Ownership,
    /// Per player, the nodes where they have a live subscription and when each last said so.
    presence: HashMap<Uuid, HashMap<String, i64>>,
    idle_since: tokio::time::Instant,
    /// Real-time kinds, while the session is in progress: the tick loop's state.
    rt: Option<Realtime>,
    /// Players who may hold an unread `your_turn` notification for this game: told by this
    /// actor since, or seated when it loaded (a previous owner may have told them). Only
    /// their next move costs the social side a look at their notifications.
    maybe_told: Vec<Uuid>,
}

/// A journal append on its way, started by the tick loop (a task of its own, so the actor
/// only polls its handle; dropping the handle does not cancel the append).
type AppendFuture = tokio::task::JoinHandle<Result<(), JournalError>>;

/// The tick loop of a real-time session. `sim` runs ahead of the committed simulation
/// (`Live::sim`) by the ticks in `outbox` and in `in_flight`; nobody sees a tick (or any
/// event queued behind one) before the commit that holds it (then `after_commit` folds it
/// into `Live` and publishes it).
struct Realtime {
    /// The session this loop runs (a rematch gets a loop of its own).
    session_id: Uuid,
    sim: lightcycles::State,
    /// The last accepted input per seat since the last tick: journaled with the next tick.
    next_inputs: Vec<Option<Direction>>,
    /// Events not yet sent to the journal, in seq order: the ticks run since the last append
    /// (consecutive ticks share one `ticks` event, with their inputs), the `ended` event
    /// right after a tick that won the session, and non-tick events of the running session
    /// (a seated player leaving or returning) queued behind the ticks that preceded them.
    outbox: Vec<Pending>,
    /// Ticks in `outbox`.
    outbox_ticks: usize,
    /// At most one append in flight per game (appends of a session must commit in order).
    in_flight: Option<InFlight>,
}

struct InFlight {
    append: AppendFuture,
    pending: Vec<Pending>,
    first: u64,
    at_ms: i64,
    ticks: usize,
}

impl Realtime {
    fn new(session_id: Uuid, sim: lightcycles::State) -> Realtime {
        let players = sim.config().players;
        Realtime {
            session_id,
            sim,
            next_inputs: vec![None; players],
            outbox: Vec::new(),
            outbox_ticks: 0,
            in_flight: None,
        }
    }

    /// Ticks run that are not committed yet.
    fn uncommitted(&self) -> usize {
        self.outbox_ticks + self.in_flight.as_ref().map_or(0, |f| f.ticks)
    }

    /// Nothing outstanding: every tick and queued event is committed.
    fn idle(&self) -> bool {
        self.in_flight.is_none() && self.outbox.is_empty()
    }

    /// Whether `seat`'s hold runs once the outstanding events are committed: the committed
    /// `holds`, then every `player_left` / `player_returned` in flight or queued, in order.
    fn hold_after_outstanding(&self, seat: u32, committed: bool) -> bool {
        let in_flight = self.in_flight.iter().flat_map(|f| f.pending.iter());
        in_flight
            .chain(self.outbox.iter())
            .fold(committed, |held, p| match &p.event {
                GameEvent::PlayerLeft { seat: s, .. } if *s == seat => true,
                GameEvent::PlayerReturned { seat: s } if *s == seat => false,
                _ => held,
            })
    }

    /// Adds one tick (its delta and the inputs that took effect) to the outbox: to the
    /// `ticks` event at its end, or as a new one after a queued non-tick event.
    fn push_tick(&mut self, delta: TickDelta, tick_inputs: Vec<TickInput>) {
        self.outbox_ticks += 1;
        if let Some(Pending {
            event: GameEvent::Ticks { ticks, inputs },
            ..
        }) = self.outbox.last_mut()
        {
            ticks.push(delta);
            inputs.extend(tick_inputs);
            return;
        }
        self.outbox.push(
            GameEvent::Ticks {
                ticks: vec![delta],
                inputs: tick_inputs,
            }
            .into(),
        );
    }
}

/// Waits for the tick loop's append in flight (forever when there is none).
async fn in_flight_done(rt: &mut Option<Realtime>) -> Result<(), JournalError> {
    match rt.as_mut().and_then(|r| r.in_flight.as_mut()) {
        Some(f) => (&mut f.append).await.unwrap_or(Err(JournalError::Stopped)),
        None => std::future::pending().await,
    }
}

/// Why the actor must stop.
struct Fatal;

/// How the actor's loop ended.
enum Exit {
    /// Let the lease go on purpose (idle, drain, failure): another node may take over at once.
    Release,
    /// The lease is gone already: touch nothing.
    Lost,
}

/// Answers every queued command with `reply` (the actor is not serving).
async fn refuse_all(rx: &mut mpsc::Receiver<Command>, reply: GameReply) {
    rx.close();
    while let Some(cmd) = rx.recv().await {
        if let Command::Request { reply: tx, .. } = cmd {
            let _ = tx.send(reply.clone());
        }
    }
}

/// Takes the lease, loads the game and serves requests (from this node's mailbox and from
/// the bus) until idle, failed, fenced or shut down.
pub(crate) async fn run(
    hub: Arc<HubInner>,
    game_id: Uuid,
    me: mpsc::Sender<Command>,
    mut rx: mpsc::Receiver<Command>,
) {
    let ttl = hub.config.lease_ttl.as_millis() as i64;
    let acquired_at_ms = now_ms();
    let lease = match hub
        .store
        .acquire_lease(game_id, &hub.node, acquired_at_ms, ttl)
        .await
    {
        Ok(LeaseOutcome::Acquired {
            fence,
            previous_owner,
            previous_alive_ms,
            previous_released,
        }) => Ownership {
            fence,
            acquired_at_ms,
            previous_owner,
            previous_alive_ms,
            previous_released,
        },
        Ok(LeaseOutcome::Held { .. }) => {
            // Another node owns it and will answer on the bus; until then, ask again.
            hub.forget(game_id, &me);
            refuse_all(&mut rx, GameReply::Retry).await;
            return;
        }
        Ok(LeaseOutcome::NotFound) => {
            hub.forget(game_id, &me);
            refuse_all(&mut rx, GameReply::Error(GameError::not_found())).await;
            return;
        }
        Err(e) => {
            tracing::error!(%game_id, error = %e, "cannot take the game's lease");
            hub.forget(game_id, &me);
            refuse_all(&mut rx, GameReply::Error(GameError::internal())).await;
            return;
        }
    };
    let fence = lease.fence;
    let exit = serve(&hub, game_id, lease, &mut rx).await;
    hub.forget(game_id, &me);
    if let Exit::Release = exit
        && let Err(e) = hub
            .store
            .release_lease(game_id, &hub.node, fence, now_ms())
            .await
    {
        tracing::warn!(%game_id, error = %e, "cannot release the game's lease");
    }
    refuse_all(&mut rx, GameReply::Retry).await;
}

async fn serve(
    hub: &Arc<HubInner>,
    game_id: Uuid,
    lease: Ownership,
    rx: &mut mpsc::Receiver<Command>,
) -> Exit {
    // Subscribe before loading, so no request sent after the load can be missed.
    let mut cmds = match hub.bus.subscribe(game_cmd_subject(game_id)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(%game_id, error = %e, "cannot subscribe to the game's commands");
            return Exit::Release;
        }
    };
    let mut actor = match load(hub, game_id, lease).await {
        Ok(Some(a)) => a,
        Ok(None) => return Exit::Release,
        Err(e) => {
            tracing::error!(%game_id, error = %e, "cannot load game");
            return Exit::Release;
        }
    };
    if actor.resume_after_takeover().await.is_err() {
        return Exit::Release;
    }
    metrics::gauge!("games_loaded").increment(1.0);
    let exit = actor.run(rx, &mut cmds).await;
    // Requests that reached this actor over the bus but were not served: ask again (the next
    // owner will answer) rather than leave the sender to time out.
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::ZERO, cmds.next()).await {
        if let Ok(bytes) = serde_json::to_vec(&GameReply::Retry) {
            hub.bus.reply(&msg, bytes.into()).await;
        }
    }
    metrics::gauge!("games_loaded").decrement(1.0);
    exit
}

async fn load(
    hub: &Arc<HubInner>,
    game_id: Uuid,
    lease: Ownership,
) -> Result<Option<Actor>, String> {
    let store = &hub.store;
    let Some(game) = store.game(game_id).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let Some(session_id) = game.current_session_id else {
        return Ok(None);
    };
    let Some(session) = store.session(session_id).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let info =
        versus_rules::kind(&game.kind).ok_or_else(|| format!("unknown kind {}", game.kind))?;
    let settings: GameSettings = serde_json::from_str(&game.settings).map_err(|e| e.to_string())?;
    let meta = GameMeta {
        id: game.id,
        kind: game.kind.clone(),
        name: game.name,
        description: game.description,
        settings,
        created_by: game.created_by,
        created_at_ms: game.created_at_ms,
        seats: realtime::seats(info, &settings),
        supports_draw_offers: info.supports_draw_offers,
        realtime: info.realtime,
        tick_ms: info
            .realtime
            .then(|| u32::try_from(hub.config.tick.as_millis().max(1)).unwrap_or(u32::MAX)),
    };
    let mut live = Live::new(&meta, session.id, session.number as u32).ok_or("unknown kind")?;
    for e in store
        .journal(session.id, 0)
        .await
        .map_err(|e| e.to_string())?
    {
        let event: GameEvent =
            serde_json::from_str(&e.payload).map_err(|err| format!("seq {}: {err}", e.seq))?;
        live.apply(&meta, e.seq as u64, e.at_ms, event)?;
    }
    let maybe_told = live.seats.iter().flatten().map(|p| p.id).collect();
    Ok(Some(Actor {
        hub: hub.clone(),
        meta,
        live,
        lease,
        presence: HashMap::new(),
        idle_since: tokio::time::Instant::now(),
        rt: None,
        maybe_told,
    }))
}

/// An event to commit, with what must commit alongside it.
struct Pending {
    event: GameEvent,
    new_session: Option<(NewSessionBundle, Live)>,
}

impl From<GameEvent> for Pending {
    fn from(event: GameEvent) -> Self {
        Pending {
            event,
            new_session: None,
        }
    }
}

fn err(code: ErrorCode, message: impl Into<String>) -> GameError {
    GameError::new(code, message)
}

impl Actor {
    async fn run(&mut self, rx: &mut mpsc::Receiver<Command>, cmds: &mut Subscription) -> Exit {
        let shutdown = self.hub.shutdown.clone();
        let mut ticker: Option<tokio::time::Interval> = None;
        loop {
            self.ensure_realtime();
            if self.rt.is_none() {
                ticker = None;
            } else if ticker.is_none() {
                let period = self.hub.config.tick;
                let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                // A late tick (the actor was busy) runs at once, the next one a period later:
                // the game slows down rather than bursting.
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticker = Some(t);
            }
            let ticking = ticker.is_some();
            let committing = self.rt.as_ref().is_some_and(|r| r.in_flight.is_some());
            let deadline = self.deadline();
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { return Exit::Release };
                    self.idle_since = tokio::time::Instant::now();
                    match cmd {
                        Command::Request { request, reply } => {
                            let (answer, fatal) = self.request(request).await;
                            let _ = reply.send(answer);
                            if fatal { return Exit::Release; }
                        }
                        Command::LeaseLost { checked_at_ms } => {
                            if self.lease.acquired_at_ms + 1000 < checked_at_ms {
                                tracing::warn!(game_id = %self.meta.id, "lease lost; stopping");
                                return Exit::Lost;
                            }
                        }
                    }
                }
                msg = cmds.next() => {
                    let Some(msg) = msg else { return Exit::Release };
                    self.idle_since = tokio::time::Instant::now();
                    if self.bus_request(msg).await { return Exit::Release; }
                }
                () = timer => {
                    match self.on_timer().await {
                        Ok(true) => {}
                        Ok(false) => return Exit::Release,
                        Err(Fatal) => return Exit::Release,
                    }
                }
                () = async {
                    if let Some(t) = ticker.as_mut() {
                        t.tick().await;
                    }
                }, if ticking => {
                    if self.on_tick().is_err() { return Exit::Release; }
                }
                done = in_flight_done(&mut self.rt), if committing => {
                    if self.tick_commit_done(done).await.is_err() { return Exit::Release; }
                }
                () = shutdown.cancelled() => return Exit::Release,
            }
        }
    }

    /// Starts the tick loop once a real-time session is in progress (after a start, a load
    /// or a takeover: from the last committed tick); drops it once the session is over.
    fn ensure_realtime(&mut self) {
        let running = self.live.state == SessionState::InProgress;
        if self
            .rt
            .as_ref()
            .is_some_and(|rt| rt.session_id != self.live.session_id && rt.idle())
        {
            self.rt = None;
        }
        match &self.rt {
            None if running => {
                if let Some(sim) = &self.live.sim {
                    self.rt = Some(Realtime::new(self.live.session_id, sim.clone()));
                }
            }
            Some(rt) if !running && rt.idle() => {
                self.rt = None;
            }
            _ => {}
        }
    }

    /// One tick: the inputs since the last one take effect, the simulation advances, and the
    /// delta is queued for the journal. Never waits: the commit runs in the background (one
    /// append in flight per game; ticks that complete meanwhile go with the next one). At
    /// `max_uncommitted_ticks` not yet committed, the simulation holds instead.
    fn on_tick(&mut self) -> Result<(), Fatal> {
        let max = self.hub.config.max_uncommitted_ticks;
        let in_progress = self.live.state == SessionState::InProgress;
        let Some(rt) = self.rt.as_mut() else {
            return Ok(());
        };
        if !in_progress || rt.sim.is_over() {
            return Ok(());
        }
        if rt.uncommitted() >= max {
            metrics::counter!("realtime_ticks_held_total", "node" => self.hub.node.clone())
                .increment(1);
            return Ok(());
        }
        let tick = rt.sim.tick_count() + 1;
        let mut inputs = Vec::new();
        for (seat, slot) in rt.next_inputs.iter_mut().enumerate() {
            if let Some(dir) = slot.take() {
                inputs.push(TickInput {
                    tick,
                    seat: seat as u32,
                    dir,
                });
            }
        }
        let delta = rt.sim.tick();
        let wire = realtime::wire_delta(&delta).map_err(|e| {
            tracing::error!(game_id = %self.meta.id, error = %e, "cannot convert a tick");
            Fatal
        })?;
        rt.push_tick(wire, inputs);
        if let Some(winner) = delta.winner {
            let result = GameResult {
                outcome: "win".into(),
                winner: Some(winner as u32),
                reason: "points".into(),
                scores: Some(rt.sim.scores().to_vec()),
            };
            rt.outbox.push(
                GameEvent::Ended {
                    result,
                    clocks: None,
                }
                .into(),
            );
        }
        metrics::counter!("realtime_ticks_total").increment(1);
        self.start_tick_commit()
    }

    /// Sends the outbox (ticks, the `ended` event if they won the session, queued non-tick
    /// events) to the journal unless an append of this game is already in flight.
    fn start_tick_commit(&mut self) -> Result<(), Fatal> {
        let Some(rt) = self.rt.as_mut() else {
            return Ok(());
        };
        if rt.in_flight.is_some() || rt.outbox.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut rt.outbox);
        let ticks = std::mem::take(&mut rt.outbox_ticks);
        let at_ms = now_ms();
        let first = self.live.last_seq() + 1;
        let entries = self.entries(first, at_ms, &pending).map_err(|_| Fatal)?;
        let journal = self.hub.journal.clone();
        let append: AppendFuture = tokio::spawn(async move { journal.append(entries).await });
        if let Some(rt) = self.rt.as_mut() {
            rt.in_flight = Some(InFlight {
                append,
                pending,
                first,
                at_ms,
                ticks,
            });
        }
        Ok(())
    }

    /// The tick loop's append finished: fold the ticks in, publish them, send the next batch.
    async fn tick_commit_done(&mut self, done: Result<(), JournalError>) -> Result<(), Fatal> {
        let Some(f) = self.rt.as_mut().and_then(|rt| rt.in_flight.take()) else {
            return Ok(());
        };
        if let Err(e) = done {
            tracing::error!(game_id = %self.meta.id, error = %e, "tick journal append failed; reloading the game");
            return Err(Fatal);
        }
        self.after_commit(f.first, f.at_ms, f.pending)
            .await
            .map_err(|_| Fatal)?;
        self.start_tick_commit()
    }

    /// Before an event is built outside the tick loop: waits for the tick loop's append in
    /// flight (a session's appends commit in seq order) and folds it in; if a tick still in
    /// the outbox won the session, commits that too, so the checks that follow see the end.
    /// Otherwise the outbox (ticks that change no check: positions, rounds, scores; queued
    /// presence events) stays, and [`Actor::commit`] sends it first in the same append: an
    /// event from outside the tick loop costs one commit, not one per outstanding batch.
    async fn catch_up(&mut self) -> Result<(), GameError> {
        loop {
            let Some(rt) = self.rt.as_mut() else {
                return Ok(());
            };
            if let Some(mut f) = rt.in_flight.take() {
                if let Err(e) = (&mut f.append).await.unwrap_or(Err(JournalError::Stopped)) {
                    tracing::error!(game_id = %self.meta.id, error = %e, "tick journal append failed; reloading the game");
                    return Err(GameError::internal());
                }
                self.after_commit(f.first, f.at_ms, f.pending).await?;
                continue;
            }
            let ends = rt
                .outbox
                .iter()
                .any(|p| matches!(p.event, GameEvent::Ended { .. }));
            if !ends {
                return Ok(());
            }
            self.start_tick_commit()
                .map_err(|_| GameError::internal())?;
        }
    }

    /// The scores to record with a result decided now: the running simulation's (it is
    /// committed with the result, its outstanding ticks first), else the committed one's.
    fn current_scores(&self) -> Option<Vec<u32>> {
        match &self.rt {
            Some(rt) if rt.session_id == self.live.session_id => Some(rt.sim.scores().to_vec()),
            _ => self.live.sim.as_ref().map(|s| s.scores().to_vec()),
        }
    }

    /// Serves a request that came over the bus; returns whether the actor must stop.
    async fn bus_request(&mut self, msg: BusMessage) -> bool {
        let (answer, fatal) = match serde_json::from_slice::<GameRequest>(&msg.payload) {
            Ok(request) => self.request(request).await,
            Err(_) => (GameReply::Error(GameError::internal()), false),
        };
        if let Ok(bytes) = serde_json::to_vec(&answer) {
            self.hub.bus.reply(&msg, bytes.into()).await;
        }
        fatal
    }

    /// Answers one request; the flag says the actor must stop (a commit failed).
    async fn request(&mut self, request: GameRequest) -> (GameReply, bool) {
        match request {
            GameRequest::Snapshot => (
                GameReply::Snapshot(Box::new(self.live.view(&self.meta, &self.connected()))),
                false,
            ),
            GameRequest::Events { after } => {
                let events = self
                    .live
                    .events
                    .iter()
                    .filter(|e| e.seq > after)
                    .map(|e| self.live.envelope(&self.meta, e))
                    .collect();
                (GameReply::Events(events), false)
            }
            GameRequest::Act { player, action } => match self.act(player, action).await {
                Ok(ok) => (GameReply::Act(ok), false),
                Err(e) => {
                    let fatal = e.code == ErrorCode::Internal;
                    (GameReply::Error(e), fatal)
                }
            },
            GameRequest::Feed {
                player,
                session_id,
                since_seq,
            } => (
                GameReply::Feed(Box::new(self.feed_start(&player, session_id, since_seq))),
                false,
            ),
            GameRequest::Presence {
                node,
                player,
                connected,
            } => match self.presence(node, player, connected).await {
                Ok(()) => (GameReply::Done, false),
                Err(Fatal) => (GameReply::Error(GameError::internal()), true),
            },
        }
    }

    fn is_connected(&self, player: Uuid) -> bool {
        let fresh_after = now_ms() - self.hub.config.presence_ttl.as_millis() as i64;
        self.presence
            .get(&player)
            .is_some_and(|nodes| nodes.values().any(|at| *at >= fresh_after))
    }

    fn connected(&self) -> Vec<bool> {
        self.live
            .seats
            .iter()
            .map(|p| p.as_ref().is_some_and(|p| self.is_connected(p.id)))
            .collect()
    }

    /// The next moment the actor must wake up by itself: a clock running out, a presence to
    /// expire, or the idle stop when nobody is here and no deadline is pending.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        let now_instant = tokio::time::Instant::now();
        let now = now_ms();
        // Absolute moments (ms), so that frequent messages never push a deadline back.
        let clock = (self.live.state == SessionState::InProgress)
            .then(|| self.live.clocks.as_ref().and_then(clock::deadline_ms))
            .flatten();
        let ttl = self.hub.config.presence_ttl.as_millis() as i64;
        // The first presence that will go stale if its node stops refreshing it.
        let presence = self
            .presence
            .values()
            .flat_map(|nodes| nodes.values())
            .min()
            .map(|at| at + ttl + 1);
        match clock.into_iter().chain(presence).min() {
            Some(at_ms) => Some(now_instant + Duration::from_millis((at_ms - now).max(0) as u64)),
            // A running real-time session keeps its actor busy: it never idles out.
            None if self.rt.is_some() => None,
            None => Some(self.idle_since + self.hub.config.idle_stop),
        }
    }

    /// Handles a timer: flags a fallen clock, expires presences of silent nodes; `Ok(false)`
    /// when the actor is idle and should stop.
    async fn on_timer(&mut self) -> Result<bool, Fatal> {
        if self.live.state == SessionState::InProgress
            && let Some(c) = self.live.clocks.clone()
            && let Some(running) = c.running
            && clock::remaining_now(&c, running, now_ms()) <= 0
        {
            self.flag(running).await?;
        }
        self.expire_presence().await?;
        let clock_running = self.live.state == SessionState::InProgress
            && self
                .live
                .clocks
                .as_ref()
                .is_some_and(|c| c.running.is_some());
        let idle = self.presence.is_empty()
            && !clock_running
            && self.rt.is_none()
            && self.idle_since.elapsed() >= self.hub.config.idle_stop;
        Ok(!idle)
    }

    async fn flag(&mut self, seat: u32) -> Result<(), Fatal> {
        let now = now_ms();
        let clocks = self.live.clocks.as_ref().map(|c| {
            let mut c = clock::stopped(c, now);
            if let Some(slot) = c.remaining_ms.get_mut(seat as usize) {
                *slot = 0;
            }
            c
        });
        let result = GameResult {
            outcome: "win".into(),
            winner: Some(self.other(seat)),
            reason: "timeout".into(),
            scores: None,
        };
        self.commit(vec![GameEvent::Ended { result, clocks }.into()])
            .await
            .map(|_| ())
            .map_err(|_| Fatal)
    }

    fn other(&self, seat: u32) -> u32 {
        (seat + 1) % (self.meta.seats as u32)
    }

    /// After a crash, a restart or a takeover, records how long nobody ran the game, so
    /// clocks and seat holds are not charged for it. A clean hand-over of an untimed game
    /// needs nothing.
    async fn resume_after_takeover(&mut self) -> Result<(), Fatal> {
        if self.live.state != SessionState::InProgress || self.lease.previous_owner.is_none() {
            return Ok(());
        }
        let clocks_running = self
            .live
            .clocks
            .as_ref()
            .is_some_and(|c| c.running.is_some());
        let crashed = !self.lease.previous_released;
        if !crashed && !clocks_running {
            return Ok(());
        }
        let now = now_ms();
        let last_at = self.live.events.last().map(|e| e.at_ms).unwrap_or(0);
        let alive_until = self.lease.previous_alive_ms.max(last_at).min(now);
        let paused_ms = now - alive_until;
        let clocks = self
            .live
            .clocks
            .as_ref()
            .map(|c| clock::resumed(c, alive_until, now));
        let fresh_hold = time_from_ms(now + self.hub.config.seat_hold.as_millis() as i64);
        let holds = self
            .live
            .seats
            .iter()
            .zip(&self.live.holds)
            .map(|(p, h)| match (p, h) {
                (None, _) => None,
                // A hold that was running goes on where it stopped.
                (Some(_), Some(until)) => Some(time_from_ms(until + paused_ms)),
                // After a crash nobody's presence is known: everyone gets a fresh hold, which
                // their feeds clear within one presence refresh.
                (Some(_), None) if crashed => Some(fresh_hold),
                (Some(_), None) => None,
            })
            .collect();
        tracing::info!(game_id = %self.meta.id, paused_ms, crashed, "resuming session");
        self.commit(vec![
            GameEvent::Resumed {
                paused_ms,
                clocks,
                holds,
            }
            .into(),
        ])
        .await
        .map(|_| ())
        .map_err(|_| Fatal)
    }

    /// What a node's feed needs to start a subscriber: its role, and the missed events or a
    /// snapshot.
    fn feed_start(
        &self,
        player: &PlayerRef,
        session_id: Option<Uuid>,
        since_seq: Option<u64>,
    ) -> FeedStart {
        let last_seq = self.live.last_seq();
        let role = match self.live.seat_of(player.id) {
            Some(seat) => Role::Player { seat },
            None => Role::Spectator,
        };
        let replay = match (since_seq, session_id) {
            (None, _) => None,
            (Some(_), Some(s)) if s != self.live.session_id => None,
            (Some(since), _)
                if since <= last_seq
                    && (last_seq - since) as usize <= self.hub.config.replay_limit =>
            {
                Some(since)
            }
            _ => None,
        };
        FeedStart {
            session_id: self.live.session_id,
            role,
            last_seq,
            snapshot: replay
                .is_none()
                .then(|| Box::new(self.live.view(&self.meta, &self.connected()))),
            resync: replay.is_none() && since_seq.is_some(),
            events: match replay {
                Some(since) => self
                    .live
                    .events
                    .iter()
                    .filter(|e| e.seq > since)
                    .map(|e| String::from_utf8_lossy(&e.wire).into_owned())
                    .collect(),
                None => Vec::new(),
            },
        }
    }

    /// A node reports that `player` is (still) subscribed there, or no longer is.
    async fn presence(&mut self, node: String, player: Uuid, connected: bool) -> Result<(), Fatal> {
        let before = self.is_connected(player);
        if connected {
            self.presence
                .entry(player)
                .or_default()
                .insert(node, now_ms());
        } else if let Some(nodes) = self.presence.get_mut(&player) {
            nodes.remove(&node);
            if nodes.is_empty() {
                self.presence.remove(&player);
            }
        }
        self.presence_changed(player, before).await
    }

    /// Drops presences whose node stopped refreshing them (it died).
    async fn expire_presence(&mut self) -> Result<(), Fatal> {
        let fresh_after = now_ms() - self.hub.config.presence_ttl.as_millis() as i64;
        let stale: Vec<Uuid> = self
            .presence
            .iter()
            .filter(|(_, nodes)| nodes.values().any(|at| *at < fresh_after))
            .map(|(p, _)| *p)
            .collect();
        for player in stale {
            let before = true;
            if let Some(nodes) = self.presence.get_mut(&player) {
                nodes.retain(|_, at| *at >= fresh_after);
                if nodes.is_empty() {
                    self.presence.remove(&player);
                }
            }
            self.presence_changed(player, before).await?;
        }
        Ok(())
    }

    /// Journals a seated player's arrival or departure in a running session. While a
    /// real-time session ticks, the event is queued behind the outstanding ticks and goes
    /// with the tick loop's next append: a player's connection never stalls the game.
    async fn presence_changed(&mut self, player: Uuid, before: bool) -> Result<(), Fatal> {
        let now_connected = self.is_connected(player);
        if before == now_connected {
            return Ok(());
        }
        let ticking = self
            .rt
            .as_ref()
            .is_some_and(|rt| rt.session_id == self.live.session_id);
        if !ticking {
            // A real change (not a refresh): the state checked below is the committed one.
            self.catch_up().await.map_err(|_| Fatal)?;
        }
        if self.live.state != SessionState::InProgress {
            return Ok(());
        }
        let Some(seat) = self.live.seat_of(player) else {
            return Ok(());
        };
        let committed = self
            .live
            .holds
            .get(seat as usize)
            .copied()
            .flatten()
            .is_some();
        let held = match self.rt.as_ref().filter(|_| ticking) {
            // A tick not yet committed ended the session: nobody is away from it any more.
            Some(rt) if rt.sim.is_over() => return Ok(()),
            Some(rt) => rt.hold_after_outstanding(seat, committed),
            None => committed,
        };
        let event = if now_connected {
            if !held {
                return Ok(());
            }
            GameEvent::PlayerReturned { seat }
        } else {
            if held {
                return Ok(());
            }
            let hold_until = time_from_ms(now_ms() + self.hub.config.seat_hold.as_millis() as i64);
            GameEvent::PlayerLeft { seat, hold_until }
        };
        if let Some(rt) = self.rt.as_mut().filter(|_| ticking) {
            rt.outbox.push(event.into());
            return self.start_tick_commit();
        }
        self.commit(vec![event.into()])
            .await
            .map(|_| ())
            .map_err(|_| Fatal)
    }

    fn ack(&self, seq: u64, new_session_id: Option<Uuid>, session_id: Uuid) -> ActOk {
        ActOk::Action(ActionAck {
            game_id: self.meta.id,
            session_id,
            seq,
            new_session_id,
        })
    }

    async fn act(&mut self, player: PlayerRef, action: Action) -> Result<ActOk, GameError> {
        if let Action::Input { dir } = action {
            return self.input(&player, dir);
        }
        // Refusals that depend on nothing that changes: at once, without waiting for the tick
        // loop's append.
        if self.meta.realtime
            && matches!(
                action,
                Action::Move { .. } | Action::ClaimVictory | Action::Draw(_)
            )
        {
            return Err(err(
                ErrorCode::NotSupported,
                "real-time games take `input` messages over the WebSocket, and have no draws or claims",
            ));
        }
        if self.meta.realtime && matches!(action, Action::Resign) && self.meta.seats > 2 {
            return Err(err(
                ErrorCode::NotSupported,
                "resigning needs exactly two players: with more, just stop steering",
            ));
        }
        // Every other action follows the tick loop's append in flight, and sees the session's
        // end if a tick decided it (`catch_up`).
        self.catch_up().await?;
        if let Action::Move { client_move_id, .. } = &action
            && let Some(done) = self.live.acks.get(&(player.id, client_move_id.clone()))
        {
            return Ok(ActOk::Move(MoveAck {
                game_id: self.meta.id,
                session_id: self.live.session_id,
                seq: done.seq,
                client_move_id: client_move_id.clone(),
                mv: done.mv.clone(),
                duplicate: true,
            }));
        }
        let session_id = self.live.session_id;
        let state = self.live.state;
        if let Action::Join = action {
            if state != SessionState::Waiting {
                return Err(if state.is_over() {
                    err(ErrorCode::GameOver, "the game is over")
                } else {
                    err(ErrorCode::GameFull, "every seat is taken")
                });
            }
            if self.live.seat_of(player.id).is_some() {
                return Err(err(
                    ErrorCode::AlreadySeated,
                    "you already hold a seat in this game",
                ));
            }
            let Some(seat) = self.live.seats.iter().position(Option::is_none) else {
                return Err(err(ErrorCode::GameFull, "every seat is taken"));
            };
            let mut events: Vec<Pending> = vec![
                GameEvent::SeatTaken {
                    seat: seat as u32,
                    player,
                }
                .into(),
            ];
            if self.live.seats.iter().filter(|s| s.is_none()).count() == 1 {
                events.push(self.started(now_ms())?.into());
            }
            let seq = self.commit(events).await?;
            return Ok(self.ack(seq, None, session_id));
        }
        let seat = self
            .live
            .seat_of(player.id)
            .ok_or_else(|| err(ErrorCode::NotAParticipant, "you hold no seat in this game"))?;
        let now = now_ms();
        match action {
            Action::Join | Action::Input { .. } => Err(GameError::internal()),
            Action::Move { mv, client_move_id } => {
                if client_move_id.is_empty() || client_move_id.chars().count() > 64 {
                    return Err(err(
                        ErrorCode::ValidationFailed,
                        "client_move_id must be 1 to 64 characters",
                    ));
                }
                self.require_in_progress()?;
                if let Some(c) = &self.live.clocks
                    && c.running == Some(seat)
                    && clock::remaining_now(c, seat, now) <= 0
                {
                    self.flag(seat).await.map_err(|_| GameError::internal())?;
                    return Err(err(ErrorCode::GameOver, "your time ran out"));
                }
                let mut trial = self.live.rules.clone_box();
                let canonical = trial.apply(seat as usize, &mv).map_err(move_error)?;
                let status = trial.status();
                let next = status.to_move().map(|s| s as u32);
                let clocks = match &self.live.clocks {
                    None => None,
                    Some(c) if status.is_finished() => Some(clock::stopped(c, now)),
                    Some(c) => clock::after_move(c, seat, next, now),
                };
                let mut events: Vec<Pending> = vec![
                    GameEvent::Moved {
                        seat,
                        player_id: player.id,
                        mv: canonical.clone(),
                        client_move_id: client_move_id.clone(),
                        clocks: clocks.clone(),
                        to_move: next,
                    }
                    .into(),
                ];
                if let Status::Finished { outcome, reason } = status {
                    let result = match outcome {
                        Outcome::Win { seat } => GameResult {
                            outcome: "win".into(),
                            winner: Some(seat as u32),
                            reason,
                            scores: None,
                        },
                        Outcome::Draw => GameResult {
                            outcome: "draw".into(),
                            winner: None,
                            reason,
                            scores: None,
                        },
                    };
                    events.push(GameEvent::Ended { result, clocks }.into());
                }
                let seq = self.commit(events).await?;
                Ok(ActOk::Move(MoveAck {
                    game_id: self.meta.id,
                    session_id,
                    seq,
                    client_move_id,
                    mv: canonical,
                    duplicate: false,
                }))
            }
            Action::Resign => {
                self.require_in_progress()?;
                let result = GameResult {
                    outcome: "win".into(),
                    winner: Some(self.other(seat)),
                    reason: "resignation".into(),
                    scores: None,
                };
                let seq = self.end(result, now).await?;
                Ok(self.ack(seq, None, session_id))
            }
            Action::Draw(what) => {
                if !self.meta.supports_draw_offers {
                    return Err(err(ErrorCode::NotSupported, "this kind has no draw offers"));
                }
                self.require_in_progress()?;
                let theirs = self.live.draw_offer.filter(|s| *s != seat);
                let event = match (what, theirs) {
                    (DrawAction::Offer | DrawAction::Accept, Some(_)) => None,
                    (DrawAction::Offer, None) if self.live.draw_offer == Some(seat) => {
                        return Err(err(ErrorCode::InvalidState, "you already offered a draw"));
                    }
                    (DrawAction::Offer, None) => Some(GameEvent::DrawOffered { seat }),
                    (DrawAction::Decline, Some(_)) => Some(GameEvent::DrawDeclined { seat }),
                    (DrawAction::Accept | DrawAction::Decline, None) => {
                        return Err(err(
                            ErrorCode::InvalidState,
                            "no draw offer from your opponent is pending",
                        ));
                    }
                };
                let seq = match event {
                    Some(e) => self.commit(vec![e.into()]).await?,
                    None => {
                        let result = GameResult {
                            outcome: "draw".into(),
                            winner: None,
                            reason: "agreement".into(),
                            scores: None,
                        };
                        self.end(result, now).await?
                    }
                };
                Ok(self.ack(seq, None, session_id))
            }
            Action::Abort => {
                let can = match state {
                    SessionState::Waiting => true,
                    SessionState::InProgress if self.meta.realtime => false,
                    SessionState::InProgress => self.live.moves.len() < 2,
                    _ => false,
                };
                if !can {
                    return Err(if state.is_over() {
                        err(ErrorCode::GameOver, "the game is over")
                    } else {
                        err(
                            ErrorCode::InvalidState,
                            "a game can be aborted only before both sides have moved",
                        )
                    });
                }
                let result = GameResult {
                    outcome: "aborted".into(),
                    winner: None,
                    reason: "aborted".into(),
                    scores: None,
                };
                let seq = self.end(result, now).await?;
                Ok(self.ack(seq, None, session_id))
            }
            Action::ClaimVictory => {
                self.require_in_progress()?;
                let other = self.other(seat);
                let other_player = self.live.seats.get(other as usize).cloned().flatten();
                let expired = self
                    .live
                    .holds
                    .get(other as usize)
                    .copied()
                    .flatten()
                    .is_some_and(|until| until <= now);
                let away = other_player.is_some_and(|p| !self.is_connected(p.id));
                if !(expired && away) {
                    return Err(err(
                        ErrorCode::InvalidState,
                        "you can claim the win only after your opponent's seat-hold window has run out",
                    ));
                }
                let result = GameResult {
                    outcome: "win".into(),
                    winner: Some(seat),
                    reason: "abandoned".into(),
                    scores: None,
                };
                let seq = self.end(result, now).await?;
                Ok(self.ack(seq, None, session_id))
            }
            Action::Rematch => {
                if !state.is_over() {
                    return Err(err(
                        ErrorCode::InvalidState,
                        "a rematch can be asked for once the game is over",
                    ));
                }
                if self.live.rematch_session.is_some() {
                    return Err(err(
                        ErrorCode::InvalidState,
                        "the rematch has already started",
                    ));
                }
                if self.live.rematch_offers.contains(&seat) {
                    return Err(err(
                        ErrorCode::InvalidState,
                        "you already asked for a rematch",
                    ));
                }
                let everyone =
                    self.live.rematch_offers.len() + 1 == self.live.seats.iter().flatten().count();
                if !everyone {
                    let seq = self
                        .commit(vec![GameEvent::RematchOffered { seat }.into()])
                        .await?;
                    return Ok(self.ack(seq, None, session_id));
                }
                let offered = GameEvent::RematchOffered { seat };
                let (bundle, next) = self.rematch_session(now)?;
                let new_id = bundle.session.id;
                let started = Pending {
                    event: GameEvent::RematchStarted { session_id: new_id },
                    new_session: Some((bundle, next)),
                };
                let seq = self.commit(vec![offered.into(), started]).await?;
                Ok(self.ack(seq, Some(new_id), session_id))
            }
        }
    }

    /// A real-time input: checked against the simulation as it runs (not the committed
    /// state, which trails it by the commit in flight); takes effect in the next tick.
    fn input(&mut self, player: &PlayerRef, dir: Direction) -> Result<ActOk, GameError> {
        if !self.meta.realtime {
            return Err(err(
                ErrorCode::NotSupported,
                "only real-time games take inputs",
            ));
        }
        let seat = self
            .live
            .seat_of(player.id)
            .ok_or_else(|| err(ErrorCode::NotAParticipant, "you hold no seat in this game"))?;
        self.require_in_progress()?;
        let Some(rt) = self.rt.as_mut() else {
            return Err(err(ErrorCode::InvalidState, "the game has not started yet"));
        };
        rt.sim
            .input(seat as usize, realtime::rules_dir(dir))
            .map_err(|e| {
                let code = match e {
                    lightcycles::InputError::SessionOver => ErrorCode::GameOver,
                    lightcycles::InputError::UnknownSeat(_) => ErrorCode::NotAParticipant,
                    lightcycles::InputError::Eliminated => ErrorCode::Eliminated,
                    lightcycles::InputError::Reversal { .. } => ErrorCode::Reversal,
                };
                err(code, e.to_string())
            })?;
        if let Some(slot) = rt.next_inputs.get_mut(seat as usize) {
            *slot = Some(dir);
        }
        metrics::counter!("realtime_inputs_total").increment(1);
        Ok(ActOk::Input {
            tick: rt.sim.tick_count() + 1,
        })
    }

    /// The `started` event of a session starting now (real-time kinds: a fresh seed, and
    /// the spawns it gives).
    fn started(&self, now: i64) -> Result<GameEvent, GameError> {
        let clocks = self.start_clocks(now);
        if !self.meta.realtime {
            return Ok(GameEvent::Started {
                clocks,
                realtime: None,
                round_start: None,
            });
        }
        let config = realtime::config(
            &self.meta.settings,
            self.meta.seats,
            rand::random::<u64>(),
            self.hub.config.tick,
            self.hub.config.countdown,
        );
        let spawns = realtime::start(&config)
            .and_then(|sim| realtime::round_start(&sim))
            .map_err(|e| {
                tracing::error!(game_id = %self.meta.id, error = %e, "cannot start a real-time session");
                GameError::internal()
            })?;
        Ok(GameEvent::Started {
            clocks,
            realtime: Some(config),
            round_start: Some(spawns),
        })
    }

    fn require_in_progress(&self) -> Result<(), GameError> {
        match self.live.state {
            SessionState::InProgress => Ok(()),
            SessionState::Waiting => {
                Err(err(ErrorCode::InvalidState, "the game has not started yet"))
            }
            _ => Err(err(ErrorCode::GameOver, "the game is over")),
        }
    }

    fn start_clocks(&self, now: i64) -> Option<versus_protocol::Clocks> {
        let tc = self.meta.settings.time_control?;
        Some(clock::start(
            self.meta.seats,
            i64::from(tc.initial_seconds) * 1000,
            i64::from(tc.increment_seconds) * 1000,
            Some(0),
            now,
        ))
    }

    async fn end(&mut self, mut result: GameResult, now: i64) -> Result<u64, GameError> {
        if result.scores.is_none() {
            result.scores = self.current_scores();
        }
        let clocks = self.live.clocks.as_ref().map(|c| clock::stopped(c, now));
        self.commit(vec![GameEvent::Ended { result, clocks }.into()])
            .await
    }

    /// The next session of a rematch: seats rotate (the second player moves first), and it
    /// starts at once.
    fn rematch_session(&self, now: i64) -> Result<(NewSessionBundle, Live), GameError> {
        let id = Uuid::now_v7();
        let number = self.live.number + 1;
        let mut live = Live::new(&self.meta, id, number).ok_or_else(GameError::internal)?;
        let n = self.live.seats.len();
        let mut events = Vec::new();
        let mut seats = Vec::new();
        for new_seat in 0..n {
            let Some(p) = self.live.seats[(new_seat + 1) % n].clone() else {
                continue;
            };
            seats.push(NewSeat {
                session_id: id,
                seat: new_seat as i64,
                player_id: p.id,
                joined_at_ms: now,
            });
            events.push(GameEvent::SeatTaken {
                seat: new_seat as u32,
                player: p,
            });
        }
        events.push(self.started(now)?);
        let mut records = Vec::new();
        for (i, e) in events.into_iter().enumerate() {
            let seq = i as u64 + 1;
            records.push(event_record(id, seq, now, &e).map_err(|_| GameError::internal())?);
            live.apply(&self.meta, seq, now, e)
                .map_err(|_| GameError::internal())?;
        }
        let session = NewSession {
            id,
            game_id: self.meta.id,
            number: i64::from(number),
            state: SessionState::InProgress.as_str().into(),
            start_time_ms: Some(now),
            created_at_ms: now,
        };
        Ok((
            NewSessionBundle {
                session,
                seats,
                events: records,
            },
            live,
        ))
    }

    /// Commits `pending` (durably, grouped with other games), then applies and fans out.
    /// Returns the seq of the first event. On a failed commit the state is untouched and the
    /// error is `internal` (the caller stops the actor). In a ticking session the tick loop's
    /// outbox goes first, in the same append (see [`Actor::catch_up`]).
    async fn commit(&mut self, pending: Vec<Pending>) -> Result<u64, GameError> {
        self.catch_up().await?;
        let session_id = self.live.session_id;
        let mut all = match self.rt.as_mut() {
            Some(rt) if rt.session_id == session_id => {
                rt.outbox_ticks = 0;
                std::mem::take(&mut rt.outbox)
            }
            _ => Vec::new(),
        };
        let before = all.len() as u64;
        all.extend(pending);
        let now = now_ms();
        let first = self.live.last_seq() + 1;
        let entries = self.entries(first, now, &all)?;
        if let Err(e) = self.hub.journal.append(entries).await {
            tracing::error!(game_id = %self.meta.id, error = %e, "journal append failed; reloading the game");
            return Err(GameError::internal());
        }
        self.after_commit(first, now, all).await?;
        Ok(first + before)
    }

    /// The journal entries of `pending`, numbered from `first`.
    fn entries(
        &self,
        first: u64,
        now: i64,
        pending: &[Pending],
    ) -> Result<Vec<JournalEntry>, GameError> {
        let mut entries = Vec::with_capacity(pending.len());
        for (i, p) in pending.iter().enumerate() {
            let seq = first + i as u64;
            entries.push(self.entry(seq, now, p).map_err(|e| {
                tracing::error!(game_id = %self.meta.id, error = %e, "cannot build journal entry");
                GameError::internal()
            })?);
        }
        Ok(entries)
    }

    /// After `pending` committed as seqs `first…`: apply each to the state and publish it.
    async fn after_commit(
        &mut self,
        first: u64,
        now: i64,
        pending: Vec<Pending>,
    ) -> Result<(), GameError> {
        let count = pending.len();
        let mut next_live = None;
        for (i, p) in pending.into_iter().enumerate() {
            let seq = first + i as u64;
            // Ratings were written with the commit; tell the players and the leaderboards.
            if matches!(&p.event, GameEvent::Ended { result, .. } if result.outcome != "aborted") {
                crate::ratings::announce_session_end(
                    self.hub.store.clone(),
                    self.hub.bus.clone(),
                    self.meta.id,
                    self.live.session_id,
                );
            }
            if let Err(e) = self.live.apply(&self.meta, seq, now, p.event) {
                tracing::error!(game_id = %self.meta.id, error = %e, "committed event does not apply");
                return Err(GameError::internal());
            }
            self.publish(self.live.events.len() - 1).await;
            if let Some((_, live)) = p.new_session {
                next_live = Some(live);
            }
        }
        if let Some(live) = next_live {
            self.live = live;
            for i in 0..self.live.events.len() {
                self.publish(i).await;
            }
        }
        metrics::counter!("game_events_total").increment(count as u64);
        Ok(())
    }

    /// Publishes event `index` on the game's events subject: every node's feed delivers it
    /// to its local subscribers.
    async fn publish(&mut self, index: usize) {
        let Some(wire) = self.live.events.get(index).map(|e| e.wire.clone()) else {
            return;
        };
        if let Err(e) = self
            .hub
            .bus
            .publish(game_events_subject(self.meta.id), wire)
            .await
        {
            // Subscribers notice the gap with the next event and fetch what they missed.
            tracing::warn!(game_id = %self.meta.id, error = %e, "cannot publish an event");
        }
        // Ticks concern only the game's subscribers: no system messages, no notifications.
        if self
            .live
            .events
            .get(index)
            .is_some_and(|e| matches!(e.event, GameEvent::Ticks { .. }))
        {
            return;
        }
        // Game starts and results: notifications and presence (issue 9). So do the moves of a
        // long game (`social::is_long_game`): the mover's "your turn" is done with, and the
        // player to move is told — when not following the game on any node (`turn_of`).
        if let (Some(tap), Some(event)) = (self.hub.social_tap.get(), self.live.events.get(index)) {
            let (wanted, turn_of, mover_told) = match &event.event {
                GameEvent::Started { .. } | GameEvent::Ended { .. } => (true, None, false),
                GameEvent::Moved {
                    player_id, to_move, ..
                } if crate::social::is_long_game(&self.meta.settings) => {
                    let away = to_move
                        .filter(|_| self.live.state == SessionState::InProgress)
                        .and_then(|next| self.live.seats.get(next as usize).cloned().flatten())
                        .map(|p| p.id)
                        .filter(|id| !self.is_connected(*id));
                    let before = self.maybe_told.len();
                    self.maybe_told.retain(|p| p != player_id);
                    let mover_told = self.maybe_told.len() != before;
                    if let Some(p) = away
                        && !self.maybe_told.contains(&p)
                    {
                        self.maybe_told.push(p);
                    }
                    (mover_told || away.is_some(), away, mover_told)
                }
                _ => (false, None, false),
            };
            if wanted {
                let note = crate::chat::SystemNote {
                    game_id: self.meta.id,
                    seats: self.live.seats.clone(),
                    event: event.event.clone(),
                    turn_of,
                    mover_told,
                };
                if tap.try_send(note).is_err() {
                    metrics::counter!("social_notes_dropped_total").increment(1);
                }
            }
        }
        // The chat's system messages (joins, leaves, draw offers, results), in commit order.
        // Moves make none (`chat::system_text`): they are not sent at all.
        if let (Some(tap), Some(event)) = (self.hub.event_tap.get(), self.live.events.get(index))
            && !matches!(
                event.event,
                GameEvent::Moved { .. } | GameEvent::Resumed { .. }
            )
        {
            let note = crate::chat::SystemNote {
                game_id: self.meta.id,
                seats: self.live.seats.clone(),
                event: event.event.clone(),
                turn_of: None,
                mover_told: false,
            };
            if tap.try_send(note).is_err() {
                metrics::counter!("chat_system_notes_dropped_total").increment(1);
            }
        }
    }

    fn entry(&self, seq: u64, now: i64, p: &Pending) -> Result<JournalEntry, String> {
        let sid = self.live.session_id;
        let mut entry = JournalEntry::event(event_record(sid, seq, now, &p.event)?);
        entry.fence = Some(self.lease.fence);
        match &p.event {
            GameEvent::SeatTaken { seat, player } => {
                entry.seat = Some(NewSeat {
                    session_id: sid,
                    seat: i64::from(*seat),
                    player_id: player.id,
                    joined_at_ms: now,
                });
            }
            GameEvent::Started { .. } => {
                entry.session = Some(SessionUpdate {
                    state: SessionState::InProgress.as_str().into(),
                    start_time_ms: Some(now),
                    end_time_ms: None,
                    result: None,
                });
            }
            GameEvent::Ended { result, .. } => {
                let aborted = result.outcome == "aborted";
                let state = if aborted {
                    SessionState::Aborted
                } else {
                    SessionState::Finished
                };
                entry.session = Some(SessionUpdate {
                    state: state.as_str().into(),
                    start_time_ms: None,
                    end_time_ms: Some(now),
                    result: Some(serde_json::to_string(result).map_err(|e| e.to_string())?),
                });
                for (i, p) in self.live.seats.iter().enumerate() {
                    if p.is_none() {
                        continue;
                    }
                    let (r, score) = match (result.outcome.as_str(), result.winner) {
                        ("win", Some(w)) if w as usize == i => ("win", 1.0),
                        ("win", _) => ("loss", 0.0),
                        ("draw", _) => ("draw", 0.5),
                        _ => ("aborted", 0.0),
                    };
                    entry.seat_results.push(SeatResult {
                        session_id: sid,
                        seat: i as i64,
                        result: r.into(),
                        score,
                        points: result
                            .scores
                            .as_ref()
                            .and_then(|s| s.get(i))
                            .map(|p| i64::from(*p)),
                    });
                }
            }
            _ => {}
        }
        if let Some((bundle, _)) = &p.new_session {
            entry.new_session = Some(bundle.clone());
        }
        Ok(entry)
    }
}

fn event_record(
    session_id: Uuid,
    seq: u64,
    at_ms: i64,
    event: &GameEvent,
) -> Result<EventRecord, String> {
    let (player_id, client_move_id) = match event {
        GameEvent::Moved {
            player_id,
            client_move_id,
            ..
        } => (Some(*player_id), Some(client_move_id.clone())),
        _ => (None, None),
    };
    Ok(EventRecord {
        session_id,
        seq: seq as i64,
        at_ms,
        event_type: event.type_name().into(),
        player_id,
        client_move_id,
        payload: serde_json::to_string(event).map_err(|e| e.to_string())?,
    })
}

fn move_error(e: MoveError) -> GameError {
    let code = match e {
        MoveError::Malformed(_) => ErrorCode::MalformedMove,
        MoveError::Illegal(_) => ErrorCode::IllegalMove,
        MoveError::NotYourTurn => ErrorCode::NotYourTurn,
        MoveError::GameOver => ErrorCode::GameOver,
    };
    GameError::new(code, e.to_string())
}

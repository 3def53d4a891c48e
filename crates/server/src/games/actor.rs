//! The actor of one game: the single owner of its current session's state.
//!
//! Every change follows the same path: validate against the state (on a copy of the rules),
//! build the events, commit them through the journal writer, and only after the commit apply
//! them to the state ([`Live::apply`]), reply, and fan them out. If a commit fails the actor
//! stops without touching its state; the next request reloads the game from the journal.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;
use versus_protocol::{
    ActionAck, DrawAction, ErrorCode, GameEvent, GameResult, GameSettings, MoveAck, PlayerRef,
    Role, ServerMessage, SessionState, close_code,
};
use versus_rules::{MoveError, Outcome, Status};
use versus_store::{
    EventRecord, JournalEntry, NewSeat, NewSession, NewSessionBundle, SeatResult, SessionUpdate,
};

use super::state::{GameMeta, Live, clock};
use super::{ActOk, Action, Command, GameError, HubInner, Subscription, Wire};
use crate::{now_ms, time_from_ms};

struct Subscriber {
    player: PlayerRef,
    outbox: mpsc::Sender<Wire>,
    kick: super::Kick,
}

struct Actor {
    hub: Arc<HubInner>,
    meta: GameMeta,
    live: Live,
    subscribers: HashMap<u64, Subscriber>,
    idle_since: tokio::time::Instant,
}

/// Why the actor must stop.
struct Fatal;

/// Loads the game and serves its mailbox until idle, failed or shut down.
pub(crate) async fn run(
    hub: Arc<HubInner>,
    game_id: Uuid,
    me: mpsc::Sender<Command>,
    mut rx: mpsc::Receiver<Command>,
) {
    let mut actor = match load(&hub, game_id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            hub.forget(game_id, &me);
            rx.close();
            while let Some(cmd) = rx.recv().await {
                cmd.fail(GameError::not_found());
            }
            return;
        }
        Err(e) => {
            tracing::error!(%game_id, error = %e, "cannot load game");
            hub.forget(game_id, &me);
            rx.close();
            while let Some(cmd) = rx.recv().await {
                cmd.fail(GameError::internal());
            }
            return;
        }
    };
    if actor.resume_after_downtime().await.is_err() {
        hub.forget(game_id, &me);
        return;
    }
    metrics::gauge!("games_loaded").increment(1.0);
    let shutdown = hub.shutdown.clone();
    loop {
        let deadline = actor.deadline();
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                actor.idle_since = tokio::time::Instant::now();
                if actor.handle(cmd).await.is_err() {
                    break;
                }
            }
            () = timer => {
                match actor.on_timer().await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Idle: stop, but first answer whatever raced in.
                        hub.forget(game_id, &me);
                        rx.close();
                        while let Some(cmd) = rx.recv().await {
                            if actor.handle(cmd).await.is_err() { break; }
                        }
                        break;
                    }
                    Err(Fatal) => break,
                }
            }
            () = shutdown.cancelled() => break,
        }
    }
    hub.forget(game_id, &me);
    for sub in actor.subscribers.values() {
        sub.kick.kick(close_code::GOING_AWAY);
    }
    metrics::gauge!("games_loaded").decrement(1.0);
}

async fn load(hub: &Arc<HubInner>, game_id: Uuid) -> Result<Option<Actor>, String> {
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
        seats: info.max_seats,
        supports_draw_offers: info.supports_draw_offers,
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
    Ok(Some(Actor {
        hub: hub.clone(),
        meta,
        live,
        subscribers: HashMap::new(),
        idle_since: tokio::time::Instant::now(),
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
    fn connected(&self) -> Vec<bool> {
        self.live
            .seats
            .iter()
            .map(|p| {
                p.as_ref()
                    .is_some_and(|p| self.subscribers.values().any(|s| s.player.id == p.id))
            })
            .collect()
    }

    fn is_connected(&self, player: Uuid) -> bool {
        self.subscribers.values().any(|s| s.player.id == player)
    }

    /// The next moment the actor must wake up by itself: a clock running out, or the idle
    /// stop when nobody is watching and no deadline is pending.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        if self.live.state == SessionState::InProgress
            && let Some(at_ms) = self.live.clocks.as_ref().and_then(clock::deadline_ms)
        {
            let wait = (at_ms - now_ms()).max(0) as u64;
            return Some(tokio::time::Instant::now() + Duration::from_millis(wait));
        }
        if self.subscribers.is_empty() {
            return Some(self.idle_since + self.hub.config.idle_stop);
        }
        None
    }

    /// Handles a timer: flags a fallen clock (`Ok(true)`), or reports idleness (`Ok(false)`).
    async fn on_timer(&mut self) -> Result<bool, Fatal> {
        if self.live.state == SessionState::InProgress
            && let Some(c) = self.live.clocks.clone()
            && let Some(running) = c.running
            && clock::remaining_now(&c, running, now_ms()) <= 0
        {
            self.flag(running).await?;
            return Ok(true);
        }
        if self.live.state == SessionState::InProgress
            && self
                .live
                .clocks
                .as_ref()
                .is_some_and(|c| c.running.is_some())
        {
            return Ok(true); // woke early; the next loop recomputes the deadline
        }
        Ok(!self.subscribers.is_empty())
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
        };
        self.commit(vec![GameEvent::Ended { result, clocks }.into()])
            .await
            .map(|_| ())
            .map_err(|_| Fatal)
    }

    fn other(&self, seat: u32) -> u32 {
        (seat + 1) % (self.meta.seats as u32)
    }

    /// After a restart (the session's last event predates this run), records how long the
    /// server was down so clocks and seat holds do not charge it.
    async fn resume_after_downtime(&mut self) -> Result<(), Fatal> {
        if self.live.state != SessionState::InProgress {
            return Ok(());
        }
        let last_at = self.live.events.last().map(|e| e.at_ms).unwrap_or(0);
        if last_at >= self.hub.started_at_ms {
            return Ok(());
        }
        let now = now_ms();
        let alive_until = self
            .hub
            .alive_until_ms
            .unwrap_or(last_at)
            .max(last_at)
            .min(now);
        let paused_ms = now - alive_until;
        let clocks = self
            .live
            .clocks
            .as_ref()
            .map(|c| clock::resumed(c, alive_until, now));
        let hold_until = time_from_ms(now + self.hub.config.seat_hold.as_millis() as i64);
        let holds = self
            .live
            .seats
            .iter()
            .map(|p| p.as_ref().map(|_| hold_until))
            .collect();
        tracing::info!(game_id = %self.meta.id, paused_ms, "resuming session after downtime");
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

    async fn handle(&mut self, cmd: Command) -> Result<(), Fatal> {
        match cmd {
            Command::Snapshot { reply } => {
                let _ = reply.send(Ok(self.live.view(&self.meta, &self.connected())));
            }
            Command::Events { after, reply } => {
                let events = self
                    .live
                    .events
                    .iter()
                    .filter(|e| e.seq > after)
                    .map(|e| self.live.envelope(&self.meta, e))
                    .collect();
                let _ = reply.send(Ok(events));
            }
            Command::Act {
                player,
                action,
                reply,
            } => {
                let result = self.act(player, action).await;
                let fatal = matches!(&result, Err(e) if e.code == ErrorCode::Internal);
                let _ = reply.send(result);
                if fatal {
                    return Err(Fatal);
                }
            }
            Command::Subscribe(sub) => self.subscribe(sub).await?,
            Command::Unsubscribe { conn_id, player } => {
                self.subscribers.remove(&conn_id);
                self.presence_left(player).await?;
            }
        }
        Ok(())
    }

    async fn subscribe(&mut self, sub: Subscription) -> Result<(), Fatal> {
        let last_seq = self.live.last_seq();
        let role = match self.live.seat_of(sub.player.id) {
            Some(seat) => Role::Player { seat },
            None => Role::Spectator,
        };
        let replay = match (sub.since_seq, sub.session_id) {
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
        let reply = ServerMessage::Subscribed {
            id: sub.request_id.clone(),
            game_id: self.meta.id,
            session_id: self.live.session_id,
            role,
            last_seq,
            snapshot: replay
                .is_none()
                .then(|| Box::new(self.live.view(&self.meta, &self.connected()))),
            resync: replay.is_none() && sub.since_seq.is_some(),
        };
        let Ok(json) = serde_json::to_string(&reply) else {
            return Ok(());
        };
        let mut ok = sub.outbox.try_send(Wire::from(json)).is_ok();
        if let Some(since) = replay {
            for e in self.live.events.iter().filter(|e| e.seq > since) {
                ok = ok && sub.outbox.try_send(e.wire.clone()).is_ok();
            }
        }
        if !ok {
            sub.kick.kick(close_code::SLOW_CONSUMER);
            return Ok(());
        }
        let was_connected = self.is_connected(sub.player.id);
        let player_id = sub.player.id;
        self.subscribers.insert(
            sub.conn_id,
            Subscriber {
                player: sub.player,
                outbox: sub.outbox,
                kick: sub.kick,
            },
        );
        if !was_connected
            && self.live.state == SessionState::InProgress
            && let Some(seat) = self.live.seat_of(player_id)
            && self
                .live
                .holds
                .get(seat as usize)
                .copied()
                .flatten()
                .is_some()
        {
            self.commit(vec![GameEvent::PlayerReturned { seat }.into()])
                .await
                .map_err(|_| Fatal)?;
        }
        Ok(())
    }

    /// A player's connection went away: if it was their last one and they hold a seat in a
    /// running session, their seat is held for the configured window.
    async fn presence_left(&mut self, player: Uuid) -> Result<(), Fatal> {
        if self.is_connected(player) || self.live.state != SessionState::InProgress {
            return Ok(());
        }
        let Some(seat) = self.live.seat_of(player) else {
            return Ok(());
        };
        if self
            .live
            .holds
            .get(seat as usize)
            .copied()
            .flatten()
            .is_some()
        {
            return Ok(());
        }
        let hold_until = time_from_ms(now_ms() + self.hub.config.seat_hold.as_millis() as i64);
        self.commit(vec![GameEvent::PlayerLeft { seat, hold_until }.into()])
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
                events.push(
                    GameEvent::Started {
                        clocks: self.start_clocks(now_ms()),
                    }
                    .into(),
                );
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
            Action::Join => Err(GameError::internal()),
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
                        },
                        Outcome::Draw => GameResult {
                            outcome: "draw".into(),
                            winner: None,
                            reason,
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
                        };
                        self.end(result, now).await?
                    }
                };
                Ok(self.ack(seq, None, session_id))
            }
            Action::Abort => {
                let can = match state {
                    SessionState::Waiting => true,
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

    async fn end(&mut self, result: GameResult, now: i64) -> Result<u64, GameError> {
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
        events.push(GameEvent::Started {
            clocks: self.start_clocks(now),
        });
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
    /// error is `internal` (the caller stops the actor).
    async fn commit(&mut self, pending: Vec<Pending>) -> Result<u64, GameError> {
        let now = now_ms();
        let first = self.live.last_seq() + 1;
        let mut entries = Vec::with_capacity(pending.len());
        for (i, p) in pending.iter().enumerate() {
            let seq = first + i as u64;
            entries.push(self.entry(seq, now, p).map_err(|e| {
                tracing::error!(game_id = %self.meta.id, error = %e, "cannot build journal entry");
                GameError::internal()
            })?);
        }
        if let Err(e) = self.hub.journal.append(entries).await {
            tracing::error!(game_id = %self.meta.id, error = %e, "journal append failed; reloading the game");
            return Err(GameError::internal());
        }
        let mut next_live = None;
        for (i, p) in pending.into_iter().enumerate() {
            let seq = first + i as u64;
            if let Err(e) = self.live.apply(&self.meta, seq, now, p.event) {
                tracing::error!(game_id = %self.meta.id, error = %e, "committed event does not apply");
                return Err(GameError::internal());
            }
            self.fan_out(self.live.events.len() - 1);
            if let Some((_, live)) = p.new_session {
                next_live = Some(live);
            }
        }
        if let Some(live) = next_live {
            self.live = live;
            for i in 0..self.live.events.len() {
                self.fan_out(i);
            }
        }
        metrics::counter!("game_events_total").increment(1);
        Ok(first)
    }

    /// `try_send`s event `index` to every subscriber; a full outbox kicks its connection.
    fn fan_out(&mut self, index: usize) {
        let Some(wire) = self.live.events.get(index).map(|e| e.wire.clone()) else {
            return;
        };
        let mut dropped = Vec::new();
        for (conn, sub) in &self.subscribers {
            if sub.outbox.try_send(wire.clone()).is_err() {
                sub.kick.kick(close_code::SLOW_CONSUMER);
                dropped.push(*conn);
            }
        }
        for conn in dropped {
            self.subscribers.remove(&conn);
            metrics::counter!("ws_slow_consumers_total").increment(1);
        }
    }

    fn entry(&self, seq: u64, now: i64, p: &Pending) -> Result<JournalEntry, String> {
        let sid = self.live.session_id;
        let mut entry = JournalEntry::event(event_record(sid, seq, now, &p.event)?);
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

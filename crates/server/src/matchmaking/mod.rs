//! Matchmaking ("play now", issue 9): tickets, the pairing policy and the pass that runs it.
//!
//! **One pool for the cluster, in the database.** A ticket is a row of `matchmaking_tickets`;
//! every node runs a pairing pass over every pool with waiting tickets every
//! `matchmaking_pass_ms` (and at once when a ticket is made on it). A pass is ONE store
//! transaction holding the pool's lock (`Store::pair_tickets`): passes of one pool run one
//! after another across the cluster, each sees what the previous one committed, so nobody is
//! paired twice, whichever nodes the players are connected to.
//!
//! **Policy** ([`plan`]): tickets oldest first; each still-unpaired ticket takes the unpaired
//! compatible ticket with the closest rating. Two tickets are compatible when their players
//! differ, neither blocked the other, and the rating difference is within BOTH tickets'
//! widening bound `gap(t) = min(base + per_second × t, max)` (t: seconds waited). The greedy
//! pass is maximal: after it, no two waiting tickets of a pool are compatible (a compatible
//! pair left over would have been taken when the older of them was visited).
//!
//! **Pairing** creates the game in the pass's transaction, already started: the rows of
//! `POST /api/v1/games` (`routes::games::new_game_rows`, the older ticket's player seated at
//! random) plus the other player's seat and the `seat_taken` and `started` events a join
//! would have journaled — exactly what a rematch session looks like. So a crash at any moment
//! leaves either two waiting tickets or a started game with both seats, never a game with one
//! seat; the game's first owner (a subscriber's node, or any node adopting orphaned games)
//! loads it from the journal like any other. After the commit the opening events go to the
//! chat and social taps (`GameHub::announce_opening`), and both players are told at once with
//! a `ticket` message (state `matched`) on every connection of theirs, on any node (bus
//! subject `versus.matchmaking.players`). REST clients poll the ticket.
//!
//! **Liveness**: a ticket carries `alive_until`; each node pushes it forward for the players
//! it holds a WebSocket of (and a REST poll pushes it too), so a ticket expires
//! `matchmaking_grace_ms` after its player's last connection anywhere went away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use versus_protocol::{
    ErrorCode, FieldError, GameEvent, GameSettings, PlayerRef, SeatChoice, ServerMessage,
    SessionState, Ticket, TicketRequest, TicketState, TimeControl, Visibility,
};
use versus_store::{
    DynStore, EventRecord, MatchPlan, NewSeat, NewTicket, StoreError, TicketRecord,
};

use crate::bus::Bus;
use crate::error::ApiError;
use crate::games::{GameHub, Wire};
use crate::{now_ms, time_from_ms};

/// The rating of a player with no rated game of the kind.
pub const DEFAULT_RATING: f64 = 1500.0;

const PLAYERS_SUBJECT: &str = "versus.matchmaking.players";

/// The widening bound on the rating difference a ticket accepts:
/// `gap(t) = min(base + per_second × t, max)`, t in seconds waited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GapBound {
    pub base: f64,
    pub per_second: f64,
    pub max: f64,
}

impl GapBound {
    /// The bound after waiting `waited_ms`.
    pub fn at(&self, waited_ms: i64) -> f64 {
        (self.base + self.per_second * (waited_ms.max(0) as f64) / 1000.0).min(self.max)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct MatchmakingConfig {
    /// How often each node runs a pass (also right after a ticket is made on it).
    pub pass_interval: Duration,
    /// How long a ticket outlives its player's last connection (or last REST poll).
    pub grace: Duration,
    pub gap: GapBound,
    /// Real-time kinds: the tick and countdown of a paired session (as `GameConfig`'s).
    pub realtime_tick: Duration,
    pub realtime_countdown: Duration,
}

/// The pool a request waits in: kind, time control and rated must all be equal.
pub fn pool_key(kind: &str, tc: Option<TimeControl>, rated: bool) -> String {
    let tc = tc.map_or_else(
        || "none".to_string(),
        |t| format!("{}+{}", t.initial_seconds, t.increment_seconds),
    );
    format!("{kind}/{tc}/{}", if rated { "rated" } else { "casual" })
}

/// Whether two tickets may be paired at `now_ms`.
pub fn compatible(
    a: &TicketRecord,
    b: &TicketRecord,
    blocked: &dyn Fn(Uuid, Uuid) -> bool,
    gap: GapBound,
    now_ms: i64,
) -> bool {
    a.player_id != b.player_id
        && !blocked(a.player_id, b.player_id)
        && !blocked(b.player_id, a.player_id)
        && (a.rating - b.rating).abs()
            <= gap
                .at(now_ms - a.created_at_ms)
                .min(gap.at(now_ms - b.created_at_ms))
}

/// The pairing policy: the pairs (indexes into `tickets`, oldest ticket first) to make.
/// `tickets` must be sorted oldest first. Maximal: no two unpaired tickets are compatible
/// afterwards.
pub fn plan(
    tickets: &[TicketRecord],
    blocks: &[(Uuid, Uuid)],
    gap: GapBound,
    now_ms: i64,
) -> Vec<(usize, usize)> {
    let blocks: std::collections::HashSet<(Uuid, Uuid)> = blocks.iter().copied().collect();
    let blocked = |a: Uuid, b: Uuid| blocks.contains(&(a, b));
    let mut taken = vec![false; tickets.len()];
    let mut pairs = Vec::new();
    for i in 0..tickets.len() {
        if taken[i] {
            continue;
        }
        let best = (i + 1..tickets.len())
            .filter(|&j| !taken[j] && compatible(&tickets[i], &tickets[j], &blocked, gap, now_ms))
            .min_by(|&x, &y| {
                let dx = (tickets[i].rating - tickets[x].rating).abs();
                let dy = (tickets[i].rating - tickets[y].rating).abs();
                dx.total_cmp(&dy).then(x.cmp(&y))
            });
        if let Some(j) = best {
            taken[i] = true;
            taken[j] = true;
            pairs.push((i, j));
        }
    }
    pairs
}

/// What travels on the bus: a message for one player's connections.
#[derive(Serialize, Deserialize)]
struct ForPlayer {
    player: Uuid,
    message: ServerMessage,
}

/// This node's matchmaker: the pass loop, the keep-alive of connected players' tickets and
/// the delivery of ticket messages to local connections. Cheap to clone.
#[derive(Clone)]
pub struct Matchmaker {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    games: GameHub,
    bus: Bus,
    cfg: MatchmakingConfig,
    wake: Notify,
    /// player → (connection id → outbox), this node's WebSockets.
    conns: Mutex<HashMap<Uuid, HashMap<u64, crate::outbox::Outbox>>>,
}

impl Matchmaker {
    /// Starts this node's matchmaking tasks (they end with `shutdown`).
    pub fn start(
        store: DynStore,
        games: GameHub,
        bus: Bus,
        cfg: MatchmakingConfig,
        shutdown: CancellationToken,
    ) -> Matchmaker {
        let mm = Matchmaker {
            inner: Arc::new(Inner {
                store,
                games,
                bus,
                cfg,
                wake: Notify::new(),
                conns: Mutex::new(HashMap::new()),
            }),
        };
        let m = mm.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = m.inner.wake.notified() => {}
                    () = tokio::time::sleep(m.inner.cfg.pass_interval) => {}
                }
                if let Err(e) = m.pass().await {
                    tracing::warn!(error = %e, "matchmaking pass failed");
                }
            }
        });
        let m = mm.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let every =
                (m.inner.cfg.grace / 3).clamp(Duration::from_millis(50), Duration::from_secs(1));
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
                let players: Vec<Uuid> = m.lock().keys().copied().collect();
                if players.is_empty() {
                    continue;
                }
                let until = now_ms() + m.inner.cfg.grace.as_millis() as i64;
                if let Err(e) = m.inner.store.keep_tickets_alive(&players, until).await {
                    tracing::warn!(error = %e, "matchmaking keep-alive failed");
                }
            }
        });
        let m = mm.clone();
        tokio::spawn(async move {
            let mut sub = match m.inner.bus.subscribe(PLAYERS_SUBJECT.into()).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "matchmaking: cannot subscribe to the bus");
                    return;
                }
            };
            loop {
                let msg = tokio::select! {
                    () = shutdown.cancelled() => break,
                    msg = sub.next() => match msg { Some(m) => m, None => break },
                };
                let Ok(for_player) = serde_json::from_slice::<ForPlayer>(&msg.payload) else {
                    continue;
                };
                m.deliver_local(for_player.player, &for_player.message);
            }
        });
        mm
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Uuid, HashMap<u64, crate::outbox::Outbox>>> {
        self.inner.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A WebSocket of `player` opened on this node.
    pub fn connected(&self, player: Uuid, conn_id: u64, outbox: crate::outbox::Outbox) {
        self.lock()
            .entry(player)
            .or_default()
            .insert(conn_id, outbox);
    }

    /// A WebSocket of `player` closed: once none is left anywhere, the keep-alive stops and
    /// the ticket expires after the grace period.
    pub fn disconnected(&self, player: Uuid, conn_id: u64) {
        let mut conns = self.lock();
        if let Some(c) = conns.get_mut(&player) {
            c.remove(&conn_id);
            if c.is_empty() {
                conns.remove(&player);
            }
        }
    }

    fn deliver_local(&self, player: Uuid, message: &ServerMessage) {
        let outboxes: Vec<crate::outbox::Outbox> = match self.lock().get(&player) {
            Some(c) => c.values().cloned().collect(),
            None => return,
        };
        let Ok(text) = serde_json::to_string(message) else {
            return;
        };
        let wire = Wire::from(text);
        for outbox in outboxes {
            // A full outbox drops the push; the client can still read the ticket.
            let _ = outbox.try_send(wire.clone());
        }
    }

    /// Sends `message` to every connection of `player`, on whichever node.
    async fn tell(&self, player: Uuid, message: ServerMessage) {
        let payload = match serde_json::to_vec(&ForPlayer { player, message }) {
            Ok(p) => p,
            Err(_) => return,
        };
        if let Err(e) = self
            .inner
            .bus
            .publish(PLAYERS_SUBJECT.into(), Bytes::from(payload))
            .await
        {
            tracing::warn!(error = %e, "matchmaking: publish failed");
        }
    }

    /// Puts `player` in the pool, unless they already sit in `max_open_games_per_player`
    /// open games (the quota a join applies; checked when the ticket is made).
    pub async fn create(&self, player: &PlayerRef, req: TicketRequest) -> Result<Ticket, ApiError> {
        validate(&req)?;
        self.inner.games.check_open_games(player.id).await?;
        let rating = self
            .inner
            .store
            .player_ratings(player.id)
            .await?
            .into_iter()
            .find(|r| r.kind == req.kind && r.rated_games > 0)
            .map_or(DEFAULT_RATING, |r| r.rating);
        let now = now_ms();
        let record = self
            .inner
            .store
            .create_ticket(NewTicket {
                id: Uuid::now_v7(),
                player_id: player.id,
                username: player.username.clone(),
                kind: req.kind.clone(),
                pool: pool_key(&req.kind, req.time_control, req.rated),
                time_control: req
                    .time_control
                    .map(|t| serde_json::to_string(&t))
                    .transpose()
                    .map_err(ApiError::internal)?,
                rated: req.rated,
                rating,
                created_at_ms: now,
                alive_until_ms: now + self.inner.cfg.grace.as_millis() as i64,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::InvalidState,
                    "you already have a waiting ticket for this kind",
                ),
                other => other.into(),
            })?;
        self.inner.wake.notify_one();
        self.view(record).await
    }

    /// The player's own ticket (a poll also keeps it alive).
    pub async fn get(&self, player: Uuid, id: Uuid) -> Result<Ticket, ApiError> {
        let record = self.own(player, id).await?;
        if record.state == "waiting" {
            let until = now_ms() + self.inner.cfg.grace.as_millis() as i64;
            self.inner
                .store
                .keep_tickets_alive(&[player], until)
                .await?;
        }
        self.view(record).await
    }

    /// Cancels the player's waiting ticket.
    pub async fn cancel(&self, player: Uuid, id: Uuid) -> Result<Ticket, ApiError> {
        self.own(player, id).await?;
        if !self
            .inner
            .store
            .end_ticket(id, player, "cancelled", now_ms())
            .await?
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidState,
                "the ticket is no longer waiting",
            ));
        }
        let record = self.own(player, id).await?;
        self.view(record).await
    }

    async fn own(&self, player: Uuid, id: Uuid) -> Result<TicketRecord, ApiError> {
        match self.inner.store.ticket(id).await? {
            Some(t) if t.player_id == player => Ok(t),
            _ => Err(ApiError::not_found("ticket")),
        }
    }

    async fn view(&self, t: TicketRecord) -> Result<Ticket, ApiError> {
        let opponent = match t.opponent_id {
            Some(id) => self.inner.store.player_by_id(id).await?.map(|p| PlayerRef {
                id: p.id,
                username: p.username,
            }),
            None => None,
        };
        Ok(ticket_view(&t, opponent, self.inner.cfg.gap))
    }

    /// One pass: expire the tickets nobody keeps alive, then pair every pool.
    async fn pass(&self) -> Result<(), StoreError> {
        let now = now_ms();
        // A read first: an idle pool costs no write transaction (SQLite has one writer,
        // shared with the journal's group commit).
        let pools = self.inner.store.waiting_pools().await?;
        if pools.is_empty() {
            return Ok(());
        }
        for t in self.inner.store.expire_tickets(now).await? {
            let player = t.player_id;
            let ticket = ticket_view(&t, None, self.inner.cfg.gap);
            self.tell(player, ServerMessage::Ticket { id: None, ticket })
                .await;
        }
        for pool in pools {
            let planner = pairing_planner(&self.inner.cfg, now);
            let plans = self.inner.store.pair_tickets(&pool, now, &planner).await?;
            for p in plans {
                self.start_match(p).await;
            }
        }
        Ok(())
    }

    /// After the commit (the game is started, both seated): the chat and the social side hear
    /// of the opening, then both players at once.
    async fn start_match(&self, p: MatchPlan) {
        let (Ok(Some(a)), Ok(Some(b))) = (
            self.inner.store.ticket(p.tickets[0]).await,
            self.inner.store.ticket(p.tickets[1]).await,
        ) else {
            tracing::warn!(game = %p.game.id, "matchmaking: paired tickets vanished");
            return;
        };
        let second = PlayerRef {
            id: b.player_id,
            username: b.username.clone(),
        };
        let first = PlayerRef {
            id: a.player_id,
            username: a.username.clone(),
        };
        let mut seats: Vec<Option<PlayerRef>> = vec![None; 2];
        for seat in &p.first.seats {
            if let Some(slot) = usize::try_from(seat.seat)
                .ok()
                .and_then(|i| seats.get_mut(i))
            {
                *slot = Some(if seat.player_id == a.player_id {
                    first.clone()
                } else {
                    second.clone()
                });
            }
        }
        // The creator's seat is not announced for a created game either; the rest is.
        let opening: Vec<GameEvent> = p
            .first
            .events
            .iter()
            .filter(|r| r.seq > 1)
            .filter_map(|r| serde_json::from_str(&r.payload).ok())
            .collect();
        self.inner
            .games
            .announce_opening(p.game.id, &seats, &opening);
        let gap = self.inner.cfg.gap;
        let ta = ticket_view(&a, Some(second), gap);
        let tb = ticket_view(&b, Some(first), gap);
        tokio::join!(
            self.tell(
                a.player_id,
                ServerMessage::Ticket {
                    id: None,
                    ticket: ta
                }
            ),
            self.tell(
                b.player_id,
                ServerMessage::Ticket {
                    id: None,
                    ticket: tb
                }
            ),
        );
    }
}

/// What a pairing pass hands `Store::pair_tickets`: the pairs [`plan`] picks, each with its
/// game, created started with both players seated.
pub fn pairing_planner(
    cfg: &MatchmakingConfig,
    now: i64,
) -> impl Fn(&[TicketRecord], &[(Uuid, Uuid)]) -> Vec<MatchPlan> + Send + Sync + use<> {
    let (gap, tick, countdown) = (cfg.gap, cfg.realtime_tick, cfg.realtime_countdown);
    move |tickets: &[TicketRecord], blocks: &[(Uuid, Uuid)]| {
        plan(tickets, blocks, gap, now)
            .into_iter()
            .filter_map(|(i, j)| {
                match_plan(&tickets[i], &tickets[j], now, tick, countdown)
                    .inspect_err(|e| tracing::error!(error = ?e, "cannot plan a paired game"))
                    .ok()
            })
            .collect()
    }
}

/// The game a pair plays: public, with the requested time control and rated setting, both
/// players seated (the older ticket's player at a random seat) and the session started.
fn match_plan(
    a: &TicketRecord,
    b: &TicketRecord,
    now: i64,
    tick: Duration,
    countdown: Duration,
) -> Result<MatchPlan, ApiError> {
    let settings = GameSettings {
        time_control: a
            .time_control
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(ApiError::internal)?,
        rated: a.rated,
        visibility: Visibility::Public,
        creator_seat: SeatChoice::Random,
        // Real-time kinds: a pair plays a two-player session to the default points.
        players: None,
        points_to_win: None,
    };
    let creator = PlayerRef {
        id: a.player_id,
        username: a.username.clone(),
    };
    let name = format!("{} vs {}", a.username, b.username)
        .chars()
        .take(80)
        .collect();
    let (game, mut first) = crate::routes::games::new_game_rows(
        &a.kind,
        name,
        Some("Paired by matchmaking".into()),
        &settings,
        &creator,
        now,
    )?;
    // The other player takes the other seat and the session starts, in the same rows: what
    // the join would have journaled (seq 2 and 3), committed with the pairing.
    let session_id = first.session.id;
    let creator_seat = first.seats.first().map_or(0, |s| s.seat);
    let other_seat = 1 - creator_seat;
    let clocks = settings.time_control.map(|tc| {
        crate::games::state::clock::start(
            2,
            i64::from(tc.initial_seconds) * 1000,
            i64::from(tc.increment_seconds) * 1000,
            Some(0),
            now,
        )
    });
    // A real-time kind starts with its seed and first round, as the actor's `started` would.
    let started = if versus_rules::kind(&a.kind).is_some_and(|k| k.realtime) {
        use crate::games::realtime;
        let config = realtime::config(&settings, 2, rand::random::<u64>(), tick, countdown);
        let spawns = realtime::start(&config)
            .and_then(|sim| realtime::round_start(&sim))
            .map_err(ApiError::internal)?;
        GameEvent::Started {
            clocks,
            realtime: Some(config),
            round_start: Some(spawns),
        }
    } else {
        GameEvent::Started {
            clocks,
            realtime: None,
            round_start: None,
        }
    };
    let opening = [
        GameEvent::SeatTaken {
            seat: other_seat as u32,
            player: PlayerRef {
                id: b.player_id,
                username: b.username.clone(),
            },
        },
        started,
    ];
    for (i, event) in opening.iter().enumerate() {
        first.events.push(EventRecord {
            session_id,
            seq: 2 + i as i64,
            at_ms: now,
            event_type: event.type_name().into(),
            player_id: None,
            client_move_id: None,
            payload: serde_json::to_string(event).map_err(ApiError::internal)?,
        });
    }
    first.seats.push(NewSeat {
        session_id,
        seat: other_seat,
        player_id: b.player_id,
        joined_at_ms: now,
    });
    first.session.state = SessionState::InProgress.as_str().into();
    first.session.start_time_ms = Some(now);
    Ok(MatchPlan {
        tickets: [a.id, b.id],
        game,
        first,
    })
}

pub fn ticket_view(t: &TicketRecord, opponent: Option<PlayerRef>, gap: GapBound) -> Ticket {
    let state = match t.state.as_str() {
        "matched" => TicketState::Matched,
        "cancelled" => TicketState::Cancelled,
        "expired" => TicketState::Expired,
        _ => TicketState::Waiting,
    };
    let waited = t.ended_at_ms.unwrap_or_else(now_ms) - t.created_at_ms;
    Ticket {
        id: t.id,
        kind: t.kind.clone(),
        time_control: t
            .time_control
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        rated: t.rated,
        rating: t.rating,
        state,
        created_at: time_from_ms(t.created_at_ms),
        ended_at: t.ended_at_ms.map(time_from_ms),
        max_gap: gap.at(waited),
        game_id: t.game_id,
        opponent,
    }
}

fn validate(req: &TicketRequest) -> Result<(), ApiError> {
    if versus_rules::kind(&req.kind).is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownKind,
            format!(
                "no game kind `{}`; see GET /api/v1/kinds",
                req.kind.chars().take(32).collect::<String>()
            ),
        ));
    }
    let mut errors = Vec::new();
    if let Some(tc) = req.time_control {
        if !(1..=86_400).contains(&tc.initial_seconds) {
            errors.push(FieldError {
                field: "time_control.initial_seconds".into(),
                reason: "out_of_range".into(),
                message: "must be between 1 and 86400".into(),
            });
        }
        if tc.increment_seconds > 600 {
            errors.push(FieldError {
                field: "time_control.increment_seconds".into(),
                reason: "out_of_range".into(),
                message: "must be between 0 and 600".into(),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rating: f64, created: i64) -> TicketRecord {
        TicketRecord {
            id: Uuid::now_v7(),
            player_id: Uuid::now_v7(),
            username: "p".into(),
            kind: "chess".into(),
            pool: "chess/none/casual".into(),
            time_control: None,
            rated: false,
            rating,
            state: "waiting".into(),
            created_at_ms: created,
            alive_until_ms: i64::MAX,
            ended_at_ms: None,
            game_id: None,
            opponent_id: None,
        }
    }

    const GAP: GapBound = GapBound {
        base: 100.0,
        per_second: 50.0,
        max: 400.0,
    };

    #[test]
    fn the_bound_widens_then_caps() {
        assert_eq!(GAP.at(0), 100.0);
        assert_eq!(GAP.at(2000), 200.0);
        assert_eq!(GAP.at(60_000), 400.0);
    }

    #[test]
    fn closest_compatible_partner_and_blocks() {
        let ts = vec![t(1500.0, 0), t(1900.0, 0), t(1550.0, 0), t(1520.0, 0)];
        assert_eq!(plan(&ts, &[], GAP, 0), vec![(0, 3)]);
        let blocks = [(ts[3].player_id, ts[0].player_id)];
        assert_eq!(plan(&ts, &blocks, GAP, 0), vec![(0, 2)]);
        // After waiting long enough, the outlier is within reach of the leftover.
        assert_eq!(plan(&ts, &blocks, GAP, 10_000), vec![(0, 2), (1, 3)]);
    }
}

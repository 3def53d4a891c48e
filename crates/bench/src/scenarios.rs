//! The `idle`, `chat` and `matchmaking` scenarios (`play` is in [`crate::play`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;
use versus_protocol::{ChatEntryKind, ClientMessage, ServerMessage, TicketState};

use crate::conn::Conn;
use crate::ctx::{CtxRef, Phase, spread_interval};
use crate::play::{Player, check_seq, stamp};
use crate::stats::now_ns;

/// `idle`: an authenticated connection held open, answering pings, with optional keepalive
/// pings of its own spread over time. It drops and reconnects in a storm.
pub async fn idle(ctx: CtxRef, me: Player, index: usize, count: usize) {
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
    drop(slot);
    let ping_period = ctx.opts.ping_interval.unwrap_or(Duration::from_secs(3600));
    let mut ping_tick = spread_interval(ping_period, index, count);
    let mut phase = ctx.phase.clone();
    let mut storm = ctx.storm.clone();
    storm.mark_unchanged();
    loop {
        tokio::select! {
            msg = conn.recv() => {
                if let Err(e) = msg {
                    stats.lock().error(e.key());
                    conn.drop_hard();
                    if ctx.phase() == Phase::Stop || !ctx.opts.resume_on_drop {
                        return;
                    }
                    match reconnect(&ctx, &me, false).await {
                        Some(c) => conn = c,
                        None => return,
                    }
                }
            }
            _ = ping_tick.tick(), if ctx.opts.ping_interval.is_some() => {
                stats.lock().pings += 1;
                let _ = conn.send(&ClientMessage::Ping { id: None }).await;
            }
            Ok(()) = storm.changed() => {
                conn.drop_hard();
                match reconnect(&ctx, &me, true).await {
                    Some(c) => conn = c,
                    None => return,
                }
            }
            () = crate::ctx::until_stop(&mut phase) => break,
        }
    }
    conn.close().await;
}

async fn reconnect(ctx: &CtxRef, me: &Player, storm: bool) -> Option<Conn> {
    let dropped = Instant::now();
    if storm {
        ctx.storm_pacer.wait().await;
    }
    loop {
        let slot = ctx.connect_slot().await;
        match Conn::connect(&ctx.opts.url, &me.token, &ctx.stats).await {
            Ok(c) => {
                drop(slot);
                let mut s = ctx.stats.lock();
                s.resumes += 1;
                s.resume.record(dropped.elapsed());
                return Some(c);
            }
            Err(e) => ctx.stats.lock().error(e.key()),
        }
        drop(slot);
        if dropped.elapsed() >= ctx.opts.resume_timeout {
            ctx.stats.lock().error("resume_gave_up");
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `chat`: a member of a room (a game's spectators room, `room_size` members each). It
/// follows the room, checks every entry's seq, and writes at its share of `--chat-rate`.
pub async fn chat_member(ctx: CtxRef, me: Player, room: String, index: usize, count: usize) {
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
    let subscribed = async {
        conn.send(&ClientMessage::ChatSubscribe {
            id: Some("s".into()),
            room: room.clone(),
            since_seq: None,
        })
        .await?;
        loop {
            match conn.recv().await? {
                ServerMessage::ChatSubscribed { last_seq, .. } => return Ok(last_seq),
                ServerMessage::Error { code, .. } => {
                    return Err(crate::conn::ConnError::Refused(format!("{code:?}")));
                }
                _ => {}
            }
        }
    };
    let mut expected = match subscribed.await {
        Ok(last) => last + 1,
        Err(e) => {
            stats.lock().error(e.key());
            conn.drop_hard();
            return;
        }
    };
    drop(slot);
    ctx.wait_for(Phase::Run).await;
    let sending = ctx.opts.chat_rate > 0.0;
    let period = if sending {
        Duration::from_secs_f64(count.max(1) as f64 / ctx.opts.chat_rate)
    } else {
        Duration::from_secs(3600)
    };
    let mut send_tick = spread_interval(period, index, count);
    let mut phase = ctx.phase.clone();
    let mut stopping = false;
    let mut drain_until: Option<Instant> = None;
    loop {
        let deadline = drain_until.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            msg = conn.recv() => match msg {
                Ok(ServerMessage::Chat(entry)) if entry.room == room => {
                    check_seq(&mut expected, entry.seq, &stats, "chat entry");
                    let from_other = entry.author.as_ref().is_some_and(|a| a.id != me.id);
                    if entry.kind == ChatEntryKind::Message && from_other {
                        let mut s = stats.lock();
                        s.chat_received += 1;
                        if let Some(sent) = entry.text.as_deref().and_then(stamp) {
                            s.chat_to_member.record_ns(now_ns().saturating_sub(sent));
                        }
                    }
                }
                Ok(ServerMessage::ChatAck { id, .. }) => {
                    let mut s = stats.lock();
                    s.chat_acked += 1;
                    if let Some(sent) = id.as_deref().and_then(stamp) {
                        s.chat_to_ack.record_ns(now_ns().saturating_sub(sent));
                    }
                }
                Ok(ServerMessage::Error { code, .. }) => stats.lock().error(format!("{code:?}")),
                Ok(_) => {}
                Err(e) => {
                    stats.lock().error(e.key());
                    conn.drop_hard();
                    return;
                }
            },
            _ = send_tick.tick(), if sending && !stopping => {
                let t = now_ns();
                stats.lock().chat_sent += 1;
                let msg = ClientMessage::ChatSend {
                    id: Some(format!("c{t}")),
                    room: room.clone(),
                    text: format!("t{t}"),
                };
                if let Err(e) = conn.send(&msg).await {
                    stats.lock().error(e.key());
                }
            }
            () = crate::ctx::until_stop(&mut phase), if !stopping => {
                stopping = true;
                drain_until = Some(Instant::now() + ctx.opts.drain);
            }
            () = tokio::time::sleep_until(deadline), if drain_until.is_some() => break,
        }
    }
    conn.close().await;
}

/// What one matchmaking client was told.
#[derive(Debug, Clone)]
pub struct MatchSeen {
    pub player: Uuid,
    pub game_id: Option<Uuid>,
    pub opponent: Option<Uuid>,
}

pub type MatchLog = Arc<Mutex<Vec<MatchSeen>>>;

/// `matchmaking`: every client asks for a game at the start of the run (a burst of tickets)
/// and waits for the `matched` push.
pub async fn matchmaker(ctx: CtxRef, me: Player, log: MatchLog) {
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
    drop(slot);
    ctx.wait_for(Phase::Run).await;
    let sent = Instant::now();
    stats.lock().tickets += 1;
    if let Err(e) = conn
        .send(&ClientMessage::MatchmakingJoin {
            id: Some("t".into()),
            kind: ctx.opts.kind.clone(),
            time_control: None,
            rated: false,
        })
        .await
    {
        stats.lock().error(e.key());
        conn.drop_hard();
        return;
    }
    let mut phase = ctx.phase.clone();
    let mut ticket_id = None;
    let mut seen = MatchSeen {
        player: me.id,
        game_id: None,
        opponent: None,
    };
    loop {
        tokio::select! {
            msg = conn.recv() => match msg {
                Ok(ServerMessage::Ticket { ticket, .. }) => {
                    ticket_id = Some(ticket.id);
                    if ticket.state == TicketState::Matched {
                        let mut s = stats.lock();
                        s.tickets_matched += 1;
                        s.ticket_to_match.record(sent.elapsed());
                        seen.game_id = ticket.game_id;
                        seen.opponent = ticket.opponent.map(|o| o.id);
                        break;
                    }
                }
                Ok(ServerMessage::Error { code, .. }) => stats.lock().error(format!("{code:?}")),
                Ok(_) => {}
                Err(e) => {
                    stats.lock().error(e.key());
                    conn.drop_hard();
                    return;
                }
            },
            () = crate::ctx::until_stop(&mut phase) => {
                if let Some(ticket_id) = ticket_id {
                    let _ = conn.send(&ClientMessage::MatchmakingCancel { id: None, ticket_id }).await;
                }
                break;
            }
        }
    }
    log.lock().unwrap_or_else(|p| p.into_inner()).push(seen);
    ctx.wait_for(Phase::Stop).await;
    conn.close().await;
}

/// Both sides of every match agree on the game and on each other.
pub fn verify_matches(log: &[MatchSeen], stats: &crate::stats::Shared) {
    let by_player: std::collections::HashMap<Uuid, &MatchSeen> =
        log.iter().map(|m| (m.player, m)).collect();
    let mut s = stats.lock();
    for m in log {
        let (Some(game), Some(opp)) = (m.game_id, m.opponent) else {
            continue;
        };
        let ok = by_player
            .get(&opp)
            .is_some_and(|o| o.game_id == Some(game) && o.opponent == Some(m.player));
        if !ok {
            s.verify.match_mismatches += 1;
            s.verify.note(format!(
                "match of {} in game {game}: the other side disagrees",
                m.player
            ));
        }
    }
}

//! The end-of-run report: a human table and the same figures as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::Options;
use crate::probe::{Probe, Sample};
use crate::stats::{LatencySummary, Stats, Verify};

/// Durations of the run's phases.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub setup_s: f64,
    pub connect_s: f64,
    pub run_s: f64,
    pub storms: u32,
}

/// The server readings taken around the run.
#[derive(Debug, Clone, Copy)]
pub struct ServerSamples {
    pub before: Sample,
    pub connected: Sample,
    pub run_start: Sample,
    pub run_end: Sample,
    pub live_at_connect: u64,
    pub moves_in_run: u64,
    pub chat_in_run: u64,
    pub inputs_in_run: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    /// `versus`, or `floor` (the transport baseline).
    pub server_kind: String,
    pub scenarios: Vec<String>,
    pub kind: String,
    /// `closed`, or `open` at `rate` moves/s.
    pub loop_mode: String,
    pub rate: f64,
    pub clients: Clients,
    pub timing: TimingReport,
    pub play: PlayReport,
    pub chat: ChatReport,
    pub matchmaking: MatchReport,
    pub realtime: RealtimeReport,
    pub reconnect: ReconnectReport,
    pub traffic: Traffic,
    pub errors: BTreeMap<String, u64>,
    pub server: ServerReport,
    pub verification: Verification,
}

#[derive(Debug, Clone, Serialize)]
pub struct Clients {
    pub idle: usize,
    pub play: usize,
    pub chat: usize,
    pub matchmaking: usize,
    pub opened: u64,
    pub failed: u64,
    pub live_at_start: u64,
    pub connect_latency: LatencySummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimingReport {
    pub setup_s: f64,
    pub connect_s: f64,
    pub run_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlayReport {
    pub moves_sent: u64,
    pub moves_acked: u64,
    /// Acknowledged moves per second during the measured run.
    pub moves_per_s: f64,
    pub duplicate_acks: u64,
    pub open_loop_late: u64,
    pub sessions_finished: u64,
    /// Move sent → the opponent receives the committed event.
    pub to_opponent: LatencySummary,
    /// Move sent → the mover's acknowledgement.
    pub to_ack: LatencySummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatReport {
    pub sent: u64,
    pub acked: u64,
    pub acked_per_s: f64,
    pub delivered: u64,
    pub to_member: LatencySummary,
    pub to_ack: LatencySummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatchReport {
    pub tickets: u64,
    pub matched: u64,
    pub to_match: LatencySummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct RealtimeReport {
    /// Players (connections) in real-time sessions, and per session.
    pub players: usize,
    pub players_per_session: usize,
    pub sessions: usize,
    /// Tick deltas received over all players, and per player per second in the run.
    pub ticks_received: u64,
    pub ticks_per_player_per_s: f64,
    /// `ticks` messages received (one usually carries one tick).
    pub tick_messages: u64,
    pub inputs_sent: u64,
    pub inputs_accepted: u64,
    /// Accepted inputs per second in the run (all players).
    pub inputs_per_s: f64,
    pub sessions_finished: u64,
    /// Server → client bytes per player per second during the run: the text payload (mean
    /// over players, and the least and most any player received), and with WebSocket frame
    /// headers (mean).
    pub bytes_per_player_per_s: f64,
    pub min_player_bytes_per_s: f64,
    pub max_player_bytes_per_s: f64,
    pub wire_bytes_per_player_per_s: f64,
    /// `input` sent → `input_accepted`.
    pub input_to_ack: LatencySummary,
    /// `input` sent → the `ticks` message of the tick it took effect in.
    pub input_to_tick: LatencySummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconnectReport {
    pub storms: u32,
    pub resumes: u64,
    pub resyncs: u64,
    /// Dropped → resubscribed (the missed events follow at once).
    pub resume: LatencySummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct Traffic {
    pub msgs_sent: u64,
    pub bytes_sent: u64,
    pub bytes_per_msg_sent: f64,
    pub msgs_received: u64,
    pub bytes_received: u64,
    pub bytes_per_msg_received: f64,
    pub pings_sent: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    /// `proc:<pid>`, `metrics`, or `none`.
    pub source: String,
    pub rss_before_bytes: Option<u64>,
    pub rss_connected_bytes: Option<u64>,
    pub rss_end_bytes: Option<u64>,
    /// (RSS once connected − RSS before) / connections live.
    pub memory_per_connection_bytes: Option<f64>,
    pub cpu_seconds_in_run: Option<f64>,
    /// Server CPU time in the run / moves acknowledged in the run (play only).
    pub cpu_us_per_move: Option<f64>,
    /// Server CPU use during the run, in cores.
    pub cpu_cores: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub violations: u64,
    #[serde(flatten)]
    pub detail: Verify,
}

fn per_s(n: u64, s: f64) -> f64 {
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

fn avg(bytes: u64, msgs: u64) -> f64 {
    if msgs > 0 {
        bytes as f64 / msgs as f64
    } else {
        0.0
    }
}

impl Report {
    pub fn build(opts: &Options, s: &Stats, t: Timing, srv: ServerSamples) -> Report {
        let cpu_run = match (srv.run_start.cpu_seconds, srv.run_end.cpu_seconds) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let mem = match (srv.before.rss_bytes, srv.connected.rss_bytes) {
            (Some(a), Some(b)) if srv.live_at_connect > 0 => {
                Some((b as f64 - a as f64) / srv.live_at_connect as f64)
            }
            _ => None,
        };
        let violations = s.verify.violations();
        let rt_n = s.rt_player_bytes.len();
        let rt_rate = |b: u64| per_s(b, t.run_s);
        let rt_total: u64 = s.rt_player_bytes.iter().sum();
        Report {
            target: opts.url.clone(),
            server_kind: if opts.floor { "floor" } else { "versus" }.into(),
            scenarios: opts
                .scenarios()
                .iter()
                .map(|s| format!("{s:?}").to_lowercase())
                .collect(),
            kind: opts.kind.clone(),
            loop_mode: if opts.rate > 0.0 { "open" } else { "closed" }.into(),
            rate: opts.rate,
            clients: Clients {
                idle: opts.idle,
                play: opts.play / 2 * 2,
                chat: opts.chat_rooms * opts.room_size,
                matchmaking: opts.matchmaking,
                opened: s.connections_opened,
                failed: s.connections_failed,
                live_at_start: srv.live_at_connect,
                connect_latency: s.connect.summary(),
            },
            timing: TimingReport {
                setup_s: t.setup_s,
                connect_s: t.connect_s,
                run_s: t.run_s,
            },
            play: PlayReport {
                moves_sent: s.moves_sent,
                moves_acked: s.moves_acked,
                moves_per_s: per_s(srv.moves_in_run, t.run_s),
                duplicate_acks: s.duplicate_acks,
                open_loop_late: s.open_loop_late,
                sessions_finished: s.sessions_finished,
                to_opponent: s.move_to_opponent.summary(),
                to_ack: s.move_to_ack.summary(),
            },
            chat: ChatReport {
                sent: s.chat_sent,
                acked: s.chat_acked,
                acked_per_s: per_s(srv.chat_in_run, t.run_s),
                delivered: s.chat_received,
                to_member: s.chat_to_member.summary(),
                to_ack: s.chat_to_ack.summary(),
            },
            matchmaking: MatchReport {
                tickets: s.tickets,
                matched: s.tickets_matched,
                to_match: s.ticket_to_match.summary(),
            },
            realtime: RealtimeReport {
                players: opts.realtime_sessions() * opts.realtime_players,
                players_per_session: opts.realtime_players,
                sessions: opts.realtime_sessions(),
                ticks_received: s.rt_ticks,
                ticks_per_player_per_s: per_s(s.rt_ticks_in_run, t.run_s) / rt_n.max(1) as f64,
                tick_messages: s.rt_tick_msgs,
                inputs_sent: s.rt_inputs_sent,
                inputs_accepted: s.rt_inputs_accepted,
                inputs_per_s: per_s(srv.inputs_in_run, t.run_s),
                sessions_finished: s.rt_sessions_finished,
                bytes_per_player_per_s: rt_rate(rt_total) / rt_n.max(1) as f64,
                min_player_bytes_per_s: rt_rate(
                    s.rt_player_bytes.iter().copied().min().unwrap_or(0),
                ),
                max_player_bytes_per_s: rt_rate(
                    s.rt_player_bytes.iter().copied().max().unwrap_or(0),
                ),
                wire_bytes_per_player_per_s: rt_rate(s.rt_wire_bytes) / rt_n.max(1) as f64,
                input_to_ack: s.input_to_ack.summary(),
                input_to_tick: s.input_to_tick.summary(),
            },
            reconnect: ReconnectReport {
                storms: t.storms,
                resumes: s.resumes,
                resyncs: s.resyncs,
                resume: s.resume.summary(),
            },
            traffic: Traffic {
                msgs_sent: s.msgs_sent,
                bytes_sent: s.bytes_sent,
                bytes_per_msg_sent: avg(s.bytes_sent, s.msgs_sent),
                msgs_received: s.msgs_received,
                bytes_received: s.bytes_received,
                bytes_per_msg_received: avg(s.bytes_received, s.msgs_received),
                pings_sent: s.pings,
            },
            errors: s.errors.clone(),
            server: ServerReport {
                source: match &opts.probe {
                    Probe::Proc(pid) => format!("proc:{pid}"),
                    Probe::Metrics(_) => "metrics".into(),
                    Probe::None => "none".into(),
                },
                rss_before_bytes: srv.before.rss_bytes,
                rss_connected_bytes: srv.connected.rss_bytes,
                rss_end_bytes: srv.run_end.rss_bytes,
                memory_per_connection_bytes: mem,
                cpu_seconds_in_run: cpu_run,
                cpu_us_per_move: cpu_run
                    .filter(|_| srv.moves_in_run > 0)
                    .map(|c| c * 1e6 / srv.moves_in_run as f64),
                cpu_cores: cpu_run.map(|c| c / t.run_s.max(0.001)),
            },
            verification: Verification {
                ok: violations == 0,
                violations,
                detail: s.verify.clone(),
            },
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let lat = |o: &mut String, name: &str, l: &LatencySummary| {
            if l.count > 0 {
                let _ = writeln!(
                    o,
                    "  {name:<28} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9}",
                    l.count, l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us
                );
            }
        };
        let _ = writeln!(
            o,
            "versus-bench against {} ({}), scenarios: {}, kind {}, {} loop{}",
            self.target,
            self.server_kind,
            self.scenarios.join("+"),
            self.kind,
            self.loop_mode,
            if self.rate > 0.0 {
                format!(" at {} moves/s", self.rate)
            } else {
                String::new()
            }
        );
        let c = &self.clients;
        let _ = writeln!(
            o,
            "clients: {} idle, {} playing, {} chatting, {} matchmaking, {} real-time; opened {}, failed {}, live at start {}",
            c.idle,
            c.play,
            c.chat,
            c.matchmaking,
            self.realtime.players,
            c.opened,
            c.failed,
            c.live_at_start
        );
        let _ = writeln!(
            o,
            "timing: setup {:.1} s, connect {:.1} s, run {:.1} s",
            self.timing.setup_s, self.timing.connect_s, self.timing.run_s
        );
        let _ = writeln!(
            o,
            "\n  {:<28} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9}",
            "latency (µs)", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        lat(&mut o, "move → opponent's event", &self.play.to_opponent);
        lat(&mut o, "move → ack", &self.play.to_ack);
        lat(&mut o, "chat → other member", &self.chat.to_member);
        lat(&mut o, "chat → ack", &self.chat.to_ack);
        lat(&mut o, "ticket → matched", &self.matchmaking.to_match);
        lat(
            &mut o,
            "input → input_accepted",
            &self.realtime.input_to_ack,
        );
        lat(&mut o, "input → its tick", &self.realtime.input_to_tick);
        lat(&mut o, "dropped → resumed", &self.reconnect.resume);
        lat(&mut o, "connect + hello", &self.clients.connect_latency);
        let p = &self.play;
        let _ = writeln!(
            o,
            "\nplay: {} moves acked ({:.0}/s in the run), {} sent, {} duplicate acks, {} sessions finished, {} open-loop ticks late",
            p.moves_acked,
            p.moves_per_s,
            p.moves_sent,
            p.duplicate_acks,
            p.sessions_finished,
            p.open_loop_late
        );
        if self.chat.sent > 0 {
            let _ = writeln!(
                o,
                "chat: {} sent, {} acked ({:.0}/s), {} delivered to other members",
                self.chat.sent, self.chat.acked, self.chat.acked_per_s, self.chat.delivered
            );
        }
        if self.matchmaking.tickets > 0 {
            let _ = writeln!(
                o,
                "matchmaking: {} tickets, {} matched",
                self.matchmaking.tickets, self.matchmaking.matched
            );
        }
        let rt = &self.realtime;
        if rt.players > 0 {
            let _ = writeln!(
                o,
                "realtime: {} players in {} sessions of {}; {} ticks received ({:.1}/s per player, {} messages), {} inputs sent, {} accepted ({:.0}/s), {} sessions finished",
                rt.players,
                rt.sessions,
                rt.players_per_session,
                rt.ticks_received,
                rt.ticks_per_player_per_s,
                rt.tick_messages,
                rt.inputs_sent,
                rt.inputs_accepted,
                rt.inputs_per_s,
                rt.sessions_finished
            );
            let _ = writeln!(
                o,
                "realtime bytes per player per second (server → client, in the run): {:.0} B/s payload (min {:.0}, max {:.0}), {:.0} B/s with WebSocket framing",
                rt.bytes_per_player_per_s,
                rt.min_player_bytes_per_s,
                rt.max_player_bytes_per_s,
                rt.wire_bytes_per_player_per_s
            );
        }
        if self.reconnect.storms > 0 || self.reconnect.resumes > 0 {
            let _ = writeln!(
                o,
                "reconnect: {} storm(s), {} resumes, {} resyncs",
                self.reconnect.storms, self.reconnect.resumes, self.reconnect.resyncs
            );
        }
        let t = &self.traffic;
        let _ = writeln!(
            o,
            "traffic: sent {} msgs ({:.0} B/msg), received {} msgs ({:.0} B/msg), {} keepalive pings",
            t.msgs_sent,
            t.bytes_per_msg_sent,
            t.msgs_received,
            t.bytes_per_msg_received,
            t.pings_sent
        );
        let sv = &self.server;
        let mib = |b: Option<u64>| {
            b.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
                .unwrap_or_else(|| "?".into())
        };
        let _ = writeln!(
            o,
            "server ({}): RSS {} before, {} connected, {} at end; {} per connection; CPU {} in the run ({}), {} per move",
            sv.source,
            mib(sv.rss_before_bytes),
            mib(sv.rss_connected_bytes),
            mib(sv.rss_end_bytes),
            sv.memory_per_connection_bytes
                .map(|b| format!("{:.2} KiB", b / 1024.0))
                .unwrap_or_else(|| "?".into()),
            sv.cpu_seconds_in_run
                .map(|c| format!("{c:.2} s"))
                .unwrap_or_else(|| "?".into()),
            sv.cpu_cores
                .map(|c| format!("{c:.2} cores"))
                .unwrap_or_else(|| "?".into()),
            sv.cpu_us_per_move
                .map(|c| format!("{c:.1} µs"))
                .unwrap_or_else(|| "?".into()),
        );
        if c.failed > 0 {
            let _ = writeln!(
                o,
                "WARNING: {} connections could not be opened: the figures above describe the rest",
                c.failed
            );
        }
        if self.errors.is_empty() {
            let _ = writeln!(o, "errors: none");
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(o, "errors: {}", list.join(", "));
        }
        let v = &self.verification;
        let _ = writeln!(
            o,
            "verification: {} — {} events' seq checked ({} gaps, {} duplicates, {} tick gaps), {} acked moves checked against the opponent's stream ({} missing, {} unverifiable: opponent aborted) and {} against the final state ({} missing), {} match mismatches",
            if !v.ok {
                "VIOLATED"
            } else if v.detail.events_checked + v.detail.acked_checked_opponent == 0 {
                "OK (nothing was checked)"
            } else {
                "OK"
            },
            v.detail.events_checked,
            v.detail.seq_gaps,
            v.detail.seq_duplicates,
            v.detail.tick_gaps,
            v.detail.acked_checked_opponent,
            v.detail.acked_missing_opponent,
            v.detail.acked_unverifiable,
            v.detail.acked_checked_rest,
            v.detail.acked_missing_rest,
            v.detail.match_mismatches,
        );
        for s in &v.detail.samples {
            let _ = writeln!(o, "  - {s}");
        }
        o
    }
}

//! `versus-bench`: the Versus load generator.
//!
//! Real clients over the real protocol (the protocol crate's types): HTTP for setup (guest
//! accounts — no password, so no argon2 time per client — games, joins), WebSocket for play.
//! Thousands of clients live in one process as tasks on a small runtime (no thread per
//! client), and open their connections at a controlled rate.
//!
//! Scenarios, combinable in one run: `idle` (connections held), `play` (games, closed or open
//! loop), `chat` (messages per second into rooms of a given size), `reconnect` (a storm: every
//! idle and playing client drops its socket and resumes by sequence number), `matchmaking` (a
//! burst of tickets), `realtime` (sessions of the real-time kind `lightcycles`: every player
//! follows the ticks and steers; see [`realtime`]).
//!
//! The run measures (HDR histograms, throughput, errors by code, bytes per message, the
//! server's CPU time and memory) and verifies (sequence numbers, acknowledged moves present in
//! the opponent's stream and in the final state), and ends with a [`Report`].
//!
//! [`floor`] is the transport baseline: the same WebSocket stack with no game logic.

pub mod conn;
pub mod ctx;
pub mod floor;
pub mod play;
pub mod probe;
pub mod realtime;
pub mod report;
pub mod scenarios;
pub mod stats;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

pub use report::Report;

use crate::conn::Http;
use crate::ctx::{Ctx, Pacer, Phase};
use crate::play::{PairLog, PairRef, Player};
use crate::probe::Probe;
use crate::stats::Shared;

/// The scenarios a run can combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Idle,
    Play,
    Chat,
    Reconnect,
    Matchmaking,
    /// Sessions of the real-time kind `lightcycles` at the server's tick rate: every player
    /// follows the ticks and steers (see [`realtime`]).
    Realtime,
}

/// What a run does. Counts are clients (connections).
#[derive(Debug, Clone)]
pub struct Options {
    /// The server's base URL, e.g. `http://127.0.0.1:8080` (or the floor server's).
    pub url: String,
    /// Idle authenticated connections.
    pub idle: usize,
    /// Players in games (two per game; an odd number is rounded down).
    pub play: usize,
    /// The kind the games are of (`tictactoe`, `connect4`, `chess`).
    pub kind: String,
    /// Open loop: moves per second over all games; 0 = closed loop (each player moves as soon
    /// as the opponent's move arrives).
    pub rate: f64,
    /// Chat rooms, and members per room.
    pub chat_rooms: usize,
    pub room_size: usize,
    /// Chat messages per second over all rooms.
    pub chat_rate: f64,
    /// Matchmaking clients: each sends one ticket at the start of the run.
    pub matchmaking: usize,
    /// Real-time players, in sessions of `realtime_players` (the rest is rounded down).
    pub realtime: usize,
    /// Players per real-time session (2–4).
    pub realtime_players: usize,
    /// Points to win a real-time session (1–25).
    pub realtime_points: u32,
    /// A real-time player picks a random open direction every this many ticks (and turns
    /// whenever the cell ahead is taken).
    pub realtime_input_every: u32,
    /// A reconnect storm this long after the run started (idle and play clients).
    pub storm_after: Option<Duration>,
    /// Reconnects per second in a storm (0: all at once).
    pub storm_rate: f64,
    /// How long the measured part of the run lasts.
    pub duration: Duration,
    /// New connections per second while connecting (0: unpaced).
    pub connect_rate: f64,
    /// HTTP setup requests in flight at once.
    pub setup_concurrency: usize,
    /// WebSocket handshakes (connect, hello, subscribe) in flight at once.
    pub connect_concurrency: usize,
    /// An application-level keepalive `ping` per client, spread over the period.
    pub ping_interval: Option<Duration>,
    /// After the run: how long clients keep reading for the last events.
    pub drain: Duration,
    /// A client whose connection drops reconnects and resumes (up to `resume_timeout`).
    pub resume_on_drop: bool,
    pub resume_timeout: Duration,
    /// Where to read the server's CPU time and memory.
    pub probe: Probe,
    /// Play against the transport floor (`versus-bench floor-server`) instead of versus.
    pub floor: bool,
    /// A progress line on stderr every second.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            url: "http://127.0.0.1:8080".into(),
            idle: 0,
            play: 0,
            kind: "tictactoe".into(),
            rate: 0.0,
            chat_rooms: 0,
            room_size: 10,
            chat_rate: 10.0,
            matchmaking: 0,
            realtime: 0,
            realtime_players: 2,
            realtime_points: 3,
            realtime_input_every: 4,
            storm_after: None,
            storm_rate: 0.0,
            duration: Duration::from_secs(10),
            connect_rate: 500.0,
            setup_concurrency: 32,
            connect_concurrency: 64,
            ping_interval: None,
            drain: Duration::from_secs(1),
            resume_on_drop: true,
            resume_timeout: Duration::from_secs(30),
            probe: Probe::None,
            floor: false,
            progress: true,
        }
    }
}

impl Options {
    /// The scenarios this run exercises.
    pub fn scenarios(&self) -> Vec<Scenario> {
        let mut v = Vec::new();
        if self.idle > 0 {
            v.push(Scenario::Idle);
        }
        if self.play >= 2 {
            v.push(Scenario::Play);
        }
        if self.chat_rooms > 0 {
            v.push(Scenario::Chat);
        }
        if self.storm_after.is_some() {
            v.push(Scenario::Reconnect);
        }
        if self.matchmaking > 0 {
            v.push(Scenario::Matchmaking);
        }
        if self.realtime_sessions() > 0 {
            v.push(Scenario::Realtime);
        }
        v
    }

    /// Real-time sessions: `realtime / realtime_players`.
    pub fn realtime_sessions(&self) -> usize {
        self.realtime / self.realtime_players.max(1)
    }

    fn connections(&self) -> usize {
        self.idle
            + self.play / 2 * 2
            + self.chat_rooms * self.room_size
            + self.matchmaking
            + self.realtime_sessions() * self.realtime_players
    }
}

/// Creates `n` guests, `setup_concurrency` requests at a time.
async fn guests(http: &Http, n: usize, concurrency: usize) -> Result<Vec<Player>, String> {
    futures_util::stream::iter(0..n)
        .map(|_| async {
            let a = http.guest().await?;
            Ok::<_, String>(Player {
                token: a.token,
                id: a.player.player.id,
            })
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Runs the scenarios of `opts` and returns the report.
pub async fn run(opts: Options) -> Result<Report, String> {
    stats::epoch();
    if opts.play >= 2 && !opts.floor {
        match versus_rules::kind(&opts.kind) {
            Some(k) if !k.realtime => {}
            Some(_) => return Err(format!("`{}` is real-time: use --realtime", opts.kind)),
            None => return Err(format!("unknown kind `{}`", opts.kind)),
        }
    }
    if opts.realtime > 0 && !(2..=4).contains(&opts.realtime_players) {
        return Err("--realtime-players must be 2 to 4".into());
    }
    if opts.realtime > 0 && !(1..=25).contains(&opts.realtime_points) {
        return Err("--realtime-points must be 1 to 25".into());
    }
    if opts.floor && (opts.idle + opts.chat_rooms + opts.matchmaking + opts.realtime > 0) {
        return Err("against the floor server only `play` runs".into());
    }
    let stats = Shared::default();
    let http = Http::new(&opts.url);
    let conc = opts.setup_concurrency;
    let pairs = opts.play / 2;
    let mut jobs = JoinSet::new();
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let (storm_tx, storm_rx) = watch::channel(0u32);

    // Setup over HTTP: accounts and games.
    let setup_started = Instant::now();
    if opts.progress {
        eprintln!("setting up {} clients over HTTP…", opts.connections());
    }
    let mut play_games: Vec<(Player, Player, Uuid, PairRef)> = Vec::new();
    let mut rt_sessions: Vec<realtime::RtSession> = Vec::new();
    let (idle_players, chat_rooms, mm_players) = if opts.floor {
        (Vec::new(), Vec::new(), Vec::new())
    } else {
        let idle_players = guests(&http, opts.idle, conc).await?;
        let players = guests(&http, pairs * 2, conc).await?;
        let mut it = players.into_iter();
        let mut creators = Vec::new();
        while let (Some(a), Some(b)) = (it.next(), it.next()) {
            creators.push((a, b));
        }
        let kind = opts.kind.clone();
        let made = futures_util::stream::iter(creators)
            .map(|(a, b)| {
                let http = http.clone();
                let kind = kind.clone();
                async move {
                    let game = http.create_game(&a.token, &kind).await?;
                    http.join(&b.token, game.id).await?;
                    Ok::<_, String>((a, b, game.id))
                }
            })
            .buffer_unordered(conc.max(1))
            .collect::<Vec<_>>()
            .await;
        for m in made {
            let (a, b, g) = m?;
            play_games.push((a, b, g, Arc::new(Mutex::new(PairLog::default()))));
        }
        let hosts = guests(&http, opts.chat_rooms, conc).await?;
        let mut chat_rooms = Vec::new();
        for host in hosts {
            let game = http.create_game(&host.token, "tictactoe").await?;
            let members = guests(&http, opts.room_size, conc).await?;
            chat_rooms.push((format!("game:{}:spectators", game.id), members));
        }
        let mm_players = guests(&http, opts.matchmaking, conc).await?;
        let per = opts.realtime_players;
        let rt_players = guests(&http, opts.realtime_sessions() * per, conc).await?;
        let groups: Vec<Vec<Player>> = rt_players.chunks(per.max(1)).map(<[_]>::to_vec).collect();
        let settings = serde_json::json!({"players": per, "points_to_win": opts.realtime_points});
        let made = futures_util::stream::iter(groups)
            .map(|players| {
                let http = http.clone();
                let settings = settings.clone();
                async move {
                    let game = http
                        .create_game_with(&players[0].token, "lightcycles", settings)
                        .await?;
                    for p in &players[1..] {
                        http.join(&p.token, game.id).await?;
                    }
                    Ok::<_, String>(realtime::RtSession {
                        game_id: game.id,
                        players,
                    })
                }
            })
            .buffer_unordered(conc.max(1))
            .collect::<Vec<_>>()
            .await;
        for m in made {
            rt_sessions.push(m?);
        }
        (idle_players, chat_rooms, mm_players)
    };
    let setup_s = setup_started.elapsed().as_secs_f64();

    let ctx = Arc::new(Ctx {
        opts: opts.clone(),
        stats: stats.clone(),
        phase: phase_rx,
        storm: storm_rx,
        pacer: Pacer::new(opts.connect_rate),
        storm_pacer: Pacer::new(opts.storm_rate),
        connecting: tokio::sync::Semaphore::new(opts.connect_concurrency.max(1)),
    });
    let before = opts.probe.sample().await;

    // Connect every client.
    let connect_started = Instant::now();
    let idle_n = idle_players.len();
    for (i, p) in idle_players.into_iter().enumerate() {
        jobs.spawn(scenarios::idle(ctx.clone(), p, i, idle_n));
    }
    if opts.floor {
        for g in 0..pairs {
            for idx in 0..2 {
                jobs.spawn(floor::player(
                    ctx.clone(),
                    g as u64,
                    idx,
                    g * 2 + idx,
                    pairs * 2,
                ));
            }
        }
    }
    for (g, (a, b, game_id, log)) in play_games.iter().enumerate() {
        for (idx, p) in [a, b].into_iter().enumerate() {
            jobs.spawn(play::player(
                ctx.clone(),
                p.clone(),
                *game_id,
                idx,
                log.clone(),
                g * 2 + idx,
                pairs * 2,
            ));
        }
    }
    let members_n = opts.chat_rooms * opts.room_size;
    let mut m = 0;
    for (room, members) in chat_rooms {
        for p in members {
            jobs.spawn(scenarios::chat_member(
                ctx.clone(),
                p,
                room.clone(),
                m,
                members_n,
            ));
            m += 1;
        }
    }
    let mut rt_index = 0;
    for session in &rt_sessions {
        for p in &session.players {
            jobs.spawn(realtime::player(
                ctx.clone(),
                p.clone(),
                session.game_id,
                rt_index,
            ));
            rt_index += 1;
        }
    }
    let match_log: scenarios::MatchLog = Arc::default();
    for p in mm_players {
        jobs.spawn(scenarios::matchmaker(ctx.clone(), p, match_log.clone()));
    }
    let total = opts.connections() as u64;
    let connect_budget = Duration::from_secs(60)
        + if opts.connect_rate > 0.0 {
            Duration::from_secs_f64(total as f64 / opts.connect_rate)
        } else {
            Duration::ZERO
        };
    loop {
        let (opened, failed) = {
            let s = stats.lock();
            (s.connections_opened, s.connections_failed)
        };
        if opts.progress {
            eprint!("\rconnecting: {opened}/{total} open, {failed} failed   ");
        }
        if opened + failed >= total || connect_started.elapsed() > connect_budget {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let subscriptions settle before reading memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connect_s = connect_started.elapsed().as_secs_f64();
    let connected = opts.probe.sample().await;
    let live_at_connect = stats.lock().connections_live.max(0) as u64;
    if opts.progress {
        eprintln!();
    }

    // The measured run.
    let _ = phase_tx.send(Phase::Run);
    let run_started = Instant::now();
    let cpu0 = opts.probe.sample().await;
    let (acked0, chat0, inputs0) = {
        let s = stats.lock();
        (s.moves_acked, s.chat_acked, s.rt_inputs_accepted)
    };
    let mut stormed = 0u32;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while run_started.elapsed() < opts.duration {
        let left = opts.duration.saturating_sub(run_started.elapsed());
        tokio::select! {
            _ = tick.tick() => {}
            () = tokio::time::sleep(left) => {}
        }
        if let Some(after) = opts.storm_after
            && stormed == 0
            && run_started.elapsed() >= after
        {
            stormed += 1;
            storm_tx.send_modify(|n| *n += 1);
        }
        if opts.progress {
            let s = stats.lock();
            eprint!(
                "\r{:>5.1}s  live {}  moves {} ({:.0}/s)  p99 to opponent {} µs  chat {}  matched {}/{}  ticks {}  inputs {}  resumes {}  errors {}   ",
                run_started.elapsed().as_secs_f64(),
                s.connections_live,
                s.moves_acked,
                (s.moves_acked - acked0) as f64 / run_started.elapsed().as_secs_f64().max(0.001),
                s.move_to_opponent.summary().p99_us,
                s.chat_acked,
                s.tickets_matched,
                s.tickets,
                s.rt_ticks,
                s.rt_inputs_accepted,
                s.resumes,
                s.errors.values().sum::<u64>(),
            );
        }
    }
    let run_s = run_started.elapsed().as_secs_f64();
    let cpu1 = opts.probe.sample().await;
    let (acked1, chat1, inputs1) = {
        let s = stats.lock();
        (s.moves_acked, s.chat_acked, s.rt_inputs_accepted)
    };
    if opts.progress {
        eprintln!();
    }
    let _ = phase_tx.send(Phase::Stop);
    let wait = opts.drain + opts.resume_timeout + Duration::from_secs(10);
    let drained =
        tokio::time::timeout(wait, async { while jobs.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        stats.lock().error("client_did_not_stop");
        jobs.abort_all();
    }

    // Verification against the final states.
    if !opts.floor {
        let views = futures_util::stream::iter(play_games.iter())
            .map(|(_, _, game_id, log)| {
                let http = http.clone();
                async move { (http.game(*game_id).await, log.clone()) }
            })
            .buffer_unordered(conc.max(1))
            .collect::<Vec<_>>()
            .await;
        for (view, log) in views {
            let log = log.lock().unwrap_or_else(|p| p.into_inner());
            match view {
                Ok(v) => play::verify_game(&log, Some(&v), &stats),
                Err(e) => {
                    stats.lock().error(format!("final_state:{e}"));
                    play::verify_game(&log, None, &stats);
                }
            }
        }
        let log = match_log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        scenarios::verify_matches(&log, &stats);
    }

    let s = stats.lock();
    Ok(Report::build(
        &opts,
        &s,
        report::Timing {
            setup_s,
            connect_s,
            run_s,
            storms: stormed,
        },
        report::ServerSamples {
            before,
            connected,
            run_start: cpu0,
            run_end: cpu1,
            live_at_connect,
            moves_in_run: acked1 - acked0,
            chat_in_run: chat1 - chat0,
            inputs_in_run: inputs1 - inputs0,
        },
    ))
}

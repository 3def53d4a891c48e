//! `versus-bench`: the load generator's command line. See docs/PERFORMANCE.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use versus_bench::Options;
use versus_bench::conn::Http;
use versus_bench::probe::Probe;

#[derive(Parser, Debug)]
#[command(name = "versus-bench", version, about = "The Versus load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenarios against a server. Give each scenario's client count; they combine.
    Run(Box<RunArgs>),
    /// Serve the transport floor (the same WebSocket stack, no game logic) for `run --floor`.
    FloorServer {
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: std::net::SocketAddr,
        /// Worker threads (0: a current-thread runtime).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// `idle`: authenticated connections held open.
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// `play`: players (two per game).
    #[arg(long, default_value_t = 0)]
    play: usize,
    /// The kind the games are of.
    #[arg(long, default_value = "tictactoe")]
    kind: String,
    /// Open loop: moves per second over all games. 0: closed loop.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// `chat`: rooms (a game's spectators room each).
    #[arg(long, default_value_t = 0)]
    chat_rooms: usize,
    /// `chat`: members per room.
    #[arg(long, default_value_t = 10)]
    room_size: usize,
    /// `chat`: messages per second over all rooms (the server's `chat_burst` /
    /// `chat_refill_ms` must allow each member's share).
    #[arg(long, default_value_t = 10.0)]
    chat_rate: f64,
    /// `matchmaking`: clients that each send one ticket at the start of the run.
    #[arg(long, default_value_t = 0)]
    matchmaking: usize,
    /// `realtime`: players in `lightcycles` sessions (follow the ticks, steer).
    #[arg(long, default_value_t = 0)]
    realtime: usize,
    /// `realtime`: players per session (2–4).
    #[arg(long, default_value_t = 2)]
    realtime_players: usize,
    /// `realtime`: points to win a session (1–25).
    #[arg(long, default_value_t = 3)]
    realtime_points: u32,
    /// `realtime`: each player picks a random open direction every this many ticks (and
    /// turns whenever the cell ahead is taken); at most one input per tick.
    #[arg(long, default_value_t = 4)]
    realtime_input_every: u32,
    /// `reconnect`: a storm this many seconds into the run (every idle and playing client
    /// drops its socket and resumes by sequence number).
    #[arg(long)]
    storm_after: Option<f64>,
    /// Reconnects per second during the storm (0: all at once).
    #[arg(long, default_value_t = 0.0)]
    storm_rate: f64,
    /// Seconds of measured run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// New connections per second while connecting (0: unpaced).
    #[arg(long, default_value_t = 500.0)]
    connect_rate: f64,
    /// HTTP setup requests in flight at once.
    #[arg(long, default_value_t = 32)]
    setup_concurrency: usize,
    /// WebSocket handshakes (connect, hello, subscribe) in flight at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Seconds between each client's keepalive `ping` (spread over clients). Default: none
    /// (the server's WebSocket pings, answered automatically, keep connections alive).
    #[arg(long)]
    ping_interval: Option<f64>,
    /// Seconds a client waits for a dropped connection to come back (server restart).
    #[arg(long, default_value_t = 30.0)]
    resume_timeout: f64,
    /// The server's process id, to read its CPU time and memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Without --server-pid: read the server's memory from its /metrics.
    #[arg(long)]
    metrics: bool,
    /// Play against `versus-bench floor-server` at --url.
    #[arg(long)]
    floor: bool,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Worker threads for the bench's runtime (0: a current-thread runtime).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::FloorServer { listen, threads } => {
            let rt = match runtime(threads) {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start a runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            let result = rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen).await?;
                eprintln!("floor server on http://{}", listener.local_addr()?);
                versus_bench::floor::serve(listener).await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("floor server: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Run(a) => {
            let a = *a;
            let probe = match (a.server_pid, a.metrics) {
                (Some(pid), _) => Probe::Proc(pid),
                (None, true) => Probe::Metrics(Http::new(&a.url)),
                (None, false) => Probe::None,
            };
            let opts = Options {
                url: a.url,
                idle: a.idle,
                play: a.play,
                kind: a.kind,
                rate: a.rate,
                chat_rooms: a.chat_rooms,
                room_size: a.room_size,
                chat_rate: a.chat_rate,
                matchmaking: a.matchmaking,
                realtime: a.realtime,
                realtime_players: a.realtime_players,
                realtime_points: a.realtime_points,
                realtime_input_every: a.realtime_input_every,
                storm_after: a.storm_after.map(Duration::from_secs_f64),
                storm_rate: a.storm_rate,
                duration: Duration::from_secs_f64(a.duration),
                connect_rate: a.connect_rate,
                setup_concurrency: a.setup_concurrency,
                connect_concurrency: a.connect_concurrency,
                ping_interval: a.ping_interval.map(Duration::from_secs_f64),
                resume_timeout: Duration::from_secs_f64(a.resume_timeout),
                probe,
                floor: a.floor,
                progress: !a.quiet,
                ..Options::default()
            };
            let rt = match runtime(a.threads) {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start a runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            let report = match rt.block_on(versus_bench::run(opts)) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("versus-bench: {e}");
                    return ExitCode::from(2);
                }
            };
            eprint!("{}", report.table());
            if let Some(path) = a.json {
                let json = serde_json::to_string_pretty(&report).unwrap_or_default();
                if let Err(e) = std::fs::write(&path, json) {
                    eprintln!("cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            if report.verification.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

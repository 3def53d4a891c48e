//! Smoke test: every scenario of the load generator against a real `versus` server (port 0,
//! its own SQLite database), a few dozen clients for a couple of seconds. It asserts that the
//! verification found no violation and that each scenario did real work; never timings.

use std::time::Duration;

use versus_bench::{Options, Report};
use versus_server::config::{self, Overrides};

struct Server {
    url: String,
    server: versus_server::RunningServer,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().expect("a temporary data folder");
    let values: Vec<(&'static str, String)> = vec![
        ("listen", "127.0.0.1:0".into()),
        ("data_dir", dir.path().display().to_string()),
        (
            "database_url",
            versus_store::testing::fresh_sqlite_url(dir.path()),
        ),
        ("log_level", "warn".into()),
        // The chat scenario writes faster than a person may.
        ("chat_burst", "100".into()),
        ("chat_refill_ms", "10".into()),
        ("matchmaking_pass_ms", "50".into()),
        // Real-time sessions tick fast and start moving at once.
        ("realtime_tick_hz", "50".into()),
        ("realtime_countdown_ms", "100".into()),
    ];
    let config = config::load(None, std::iter::empty(), &Overrides { values }).expect("config");
    let server = versus_server::spawn(config)
        .await
        .expect("the server starts");
    Server {
        url: format!("http://{}", server.addr),
        server,
        _dir: dir,
    }
}

fn opts(url: &str) -> Options {
    Options {
        url: url.into(),
        duration: Duration::from_secs(2),
        connect_rate: 200.0,
        progress: false,
        probe: versus_bench::probe::Probe::Proc(std::process::id()),
        ..Options::default()
    }
}

fn assert_verified(r: &Report) {
    assert!(r.verification.ok, "verification failed:\n{}", r.table());
    assert_eq!(r.clients.failed, 0, "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_play_is_measured_and_verified() {
    let s = server().await;
    let r = versus_bench::run(Options {
        play: 20,
        ..opts(&s.url)
    })
    .await
    .expect("the run completes");
    assert_verified(&r);
    assert!(r.play.moves_acked > 0, "{}", r.table());
    assert!(r.play.to_opponent.count > 0, "{}", r.table());
    assert!(
        r.verification.detail.acked_checked_rest > 0,
        "{}",
        r.table()
    );
    assert!(
        r.verification.detail.acked_checked_opponent > 0,
        "{}",
        r.table()
    );
    assert!(r.server.cpu_seconds_in_run.is_some());
    s.server.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_open_loop_play_and_a_reconnect_storm_resume_without_gaps() {
    let s = server().await;
    let r = versus_bench::run(Options {
        idle: 20,
        play: 20,
        rate: 50.0,
        storm_after: Some(Duration::from_secs(1)),
        ping_interval: Some(Duration::from_millis(500)),
        ..opts(&s.url)
    })
    .await
    .expect("the run completes");
    assert_verified(&r);
    assert!(r.play.moves_acked > 0, "{}", r.table());
    assert_eq!(r.reconnect.storms, 1);
    assert!(r.reconnect.resumes >= 40, "{}", r.table());
    assert!(r.traffic.pings_sent > 0);
    s.server.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_matchmaking_bursts_are_delivered_and_paired() {
    let s = server().await;
    let r = versus_bench::run(Options {
        chat_rooms: 2,
        room_size: 8,
        chat_rate: 40.0,
        matchmaking: 20,
        ..opts(&s.url)
    })
    .await
    .expect("the run completes");
    assert_verified(&r);
    assert!(r.chat.acked > 0, "{}", r.table());
    assert!(r.chat.delivered > 0, "{}", r.table());
    assert_eq!(r.matchmaking.tickets, 20);
    assert!(r.matchmaking.matched >= 2, "{}", r.table());
    s.server.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_server_relays_moves_between_pairs() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let floor = tokio::spawn(versus_bench::floor::serve(listener));
    let r = versus_bench::run(Options {
        play: 20,
        floor: true,
        probe: versus_bench::probe::Probe::None,
        ..opts(&url)
    })
    .await
    .expect("the run completes");
    assert_verified(&r);
    assert!(r.play.moves_acked > 0, "{}", r.table());
    assert!(r.play.to_opponent.count > 0, "{}", r.table());
    assert!(r.verification.detail.events_checked > 0);
    floor.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_sessions_follow_every_tick_and_steer() {
    let s = server().await;
    let r = versus_bench::run(Options {
        realtime: 10,
        realtime_players: 2,
        realtime_points: 3,
        ..opts(&s.url)
    })
    .await
    .expect("the run completes");
    assert_verified(&r);
    assert_eq!(r.realtime.players, 10);
    assert!(r.realtime.ticks_received > 0, "{}", r.table());
    assert!(r.realtime.bytes_per_player_per_s > 0.0, "{}", r.table());
    assert!(r.realtime.inputs_accepted > 0, "{}", r.table());
    assert!(r.realtime.input_to_ack.count > 0, "{}", r.table());
    assert!(r.verification.detail.events_checked > 0, "{}", r.table());
    // A player steers only from ticks it has seen after its last input took effect: a
    // reversal can only come from a respawn it had not seen yet.
    assert_eq!(r.errors.get("Reversal"), None, "{}", r.table());
    s.server.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_sessions_of_three_players_resume_after_a_storm() {
    let s = server().await;
    let r = versus_bench::run(Options {
        realtime: 6,
        realtime_players: 3,
        realtime_points: 1,
        storm_after: Some(Duration::from_secs(1)),
        ..opts(&s.url)
    })
    .await
    .expect("the run completes");
    assert_verified(&r);
    assert_eq!(r.realtime.sessions, 2);
    assert!(r.realtime.ticks_received > 0, "{}", r.table());
    assert!(r.reconnect.resumes >= 6, "{}", r.table());
    assert_eq!(r.errors.get("Reversal"), None, "{}", r.table());
    s.server.stop().await.expect("stops");
}

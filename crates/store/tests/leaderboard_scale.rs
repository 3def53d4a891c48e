//! Leaderboards at scale: 1,000,000 rated players of one kind, on SQLite and PostgreSQL.
//! Not part of the normal test run (`#[ignore]`); run it with
//!
//! ```text
//! VERSUS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo test --release -p versus-store --test leaderboard_scale -- --ignored --nocapture
//! ```
//!
//! It seeds the players, ratings and score buckets with SQL, then times the reads the
//! leaderboard routes make (top 100, a deep page, a player's rank, around-me) against the
//! naive rank (`COUNT(*)` of better rows), and prints each query plan. docs/PERFORMANCE.md
//! records the numbers.

#![allow(clippy::print_stdout)] // a measurement harness: its output is the point

use std::time::{Duration, Instant};

use uuid::Uuid;
use versus_store::testing::{fresh_postgres_database, fresh_sqlite_url, postgres_server_url};
use versus_store::{ConnectOptions, DynStore, connect};

const PLAYERS: i64 = 1_000_000;
const RUNS: usize = 20;

/// A synthetic, roughly bell-shaped score from the row number (sum of three hashes).
const SCORE: &str = "(900 + ((x * 7919) % 400) + ((x * 104729) % 400) + ((x * 1299709) % 400))";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn time<F, Fut, T>(label: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        last = Some(f().await);
        times.push(t.elapsed());
    }
    println!(
        "  {label:<44} median {:>9.3} ms",
        median(times).as_secs_f64() * 1000.0
    );
    last.unwrap()
}

fn id_of(x: i64) -> Uuid {
    format!("{x:08x}-0000-7000-8000-{x:012x}").parse().unwrap()
}

async fn measure(store: &DynStore, naive: impl AsyncFn(i64, Uuid) -> i64) {
    let top = time("top 100 (leaderboard page 1)", || {
        store.leaderboard("chess", 100, 0)
    })
    .await
    .unwrap();
    assert_eq!(top.len(), 100);
    time("page at offset 10,000", || {
        store.leaderboard("chess", 100, 10_000)
    })
    .await
    .unwrap();
    let size = time("size (sum of buckets)", || store.leaderboard_size("chess"))
        .await
        .unwrap();
    assert_eq!(size, PLAYERS);
    for x in [1_i64, PLAYERS / 2, PLAYERS - 7] {
        let id = id_of(x);
        let me = time(&format!("rank of player #{x}"), || {
            store.leaderboard_entry("chess", id)
        })
        .await
        .unwrap()
        .unwrap();
        let count = time(&format!("naive COUNT(*) rank of player #{x}"), || {
            naive(me.rating.score, id)
        })
        .await;
        assert_eq!(me.rank, count, "bucket rank = counted rank");
        println!("    rank {} of {size} (score {})", me.rank, me.rating.score);
        let around = time(&format!("around player #{x}, radius 5"), || {
            store.leaderboard_around("chess", id, 5)
        })
        .await
        .unwrap()
        .unwrap();
        assert!(around.len() >= 6);
    }
}

#[tokio::test]
#[ignore = "seeds 1,000,000 rows; run by hand, see the module docs"]
async fn leaderboard_reads_at_one_million_players_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_sqlite_url(dir.path());
    let store = connect(&ConnectOptions {
        url: url.clone(),
        max_connections: 4,
    })
    .await
    .unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let t = Instant::now();
    let seed = [
        format!("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {PLAYERS}) \
         INSERT INTO players (id, username, username_lower, guest, created_at, updated_at) \
         SELECT printf('%08x-0000-7000-8000-%012x', x, x), 'p' || x, 'p' || x, 0, 0, 0 FROM c"),
        format!("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {PLAYERS}) \
         INSERT INTO ratings (player_id, kind, rating, deviation, volatility, score, peak, rated_games, games, wins, updated_at) \
         SELECT printf('%08x-0000-7000-8000-%012x', x, x), 'chess', {SCORE}, 80.0, 0.06, {SCORE}, {SCORE}, 20, 20, 10, 0 FROM c"),
        "INSERT INTO leaderboard_buckets (kind, score, players) SELECT kind, score, COUNT(*) FROM ratings GROUP BY kind, score".into(),
        "ANALYZE".into(),
    ];
    for sql in seed {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    println!(
        "sqlite: seeded {PLAYERS} players in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    for (label, sql) in plans() {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(&pool)
                .await
                .unwrap();
        println!(
            "  plan of {label}: {}",
            rows.iter()
                .map(|r| r.3.clone())
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    measure(&store, async |score, id| {
        sqlx::query_scalar("SELECT COUNT(*) + 1 FROM ratings WHERE kind = 'chess' AND rated_games > 0 AND (score > $1 OR (score = $1 AND player_id < $2))")
            .bind(score).bind(id.to_string()).fetch_one(&pool).await.unwrap()
    })
    .await;
}

#[tokio::test]
#[ignore = "seeds 1,000,000 rows; run by hand, see the module docs"]
async fn leaderboard_reads_at_one_million_players_postgres() {
    let Some(server) = postgres_server_url() else {
        println!("VERSUS_TEST_POSTGRES_URL is not set; skipped");
        return;
    };
    let url = fresh_postgres_database(&server).await.unwrap();
    let store = connect(&ConnectOptions {
        url: url.clone(),
        max_connections: 4,
    })
    .await
    .unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let t = Instant::now();
    let pid = "lpad(to_hex(x), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(x), 12, '0')";
    let seed = [
        format!("INSERT INTO players (id, username, username_lower, guest, created_at, updated_at) \
         SELECT {pid}, 'p' || x, 'p' || x, FALSE, 0, 0 FROM generate_series(1, {PLAYERS}) x"),
        format!("INSERT INTO ratings (player_id, kind, rating, deviation, volatility, score, peak, rated_games, games, wins, updated_at) \
         SELECT {pid}, 'chess', {SCORE}, 80.0, 0.06, {SCORE}, {SCORE}, 20, 20, 10, 0 FROM generate_series(1, {PLAYERS}::bigint) x"),
        "INSERT INTO leaderboard_buckets (kind, score, players) SELECT kind, score, COUNT(*) FROM ratings GROUP BY kind, score".into(),
        "VACUUM ANALYZE".into(),
    ];
    for sql in seed {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    println!(
        "postgres: seeded {PLAYERS} players in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    for (label, sql) in plans() {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
            .fetch_all(&pool)
            .await
            .unwrap();
        println!("  plan of {label}:");
        for r in rows {
            println!("      {}", r.0);
        }
    }
    measure(&store, async |score, id| {
        sqlx::query_scalar("SELECT COUNT(*) + 1 FROM ratings WHERE kind = 'chess' AND rated_games > 0 AND (score > $1 OR (score = $1 AND player_id < $2))")
            .bind(score).bind(id.to_string()).fetch_one(&pool).await.unwrap()
    })
    .await;
    store.close().await;
}

/// The statements whose plans are printed (literals in place of parameters).
fn plans() -> Vec<(&'static str, String)> {
    vec![
        ("top 100", "SELECT r.player_id FROM ratings r JOIN players p ON p.id = r.player_id WHERE r.kind = 'chess' AND r.rated_games > 0 ORDER BY r.score DESC, r.player_id LIMIT 100 OFFSET 0".into()),
        ("rank: higher buckets", "SELECT CAST(COALESCE(SUM(players), 0) AS BIGINT) FROM leaderboard_buckets WHERE kind = 'chess' AND score > 1500".into()),
        ("rank: ties before", "SELECT COUNT(*) FROM ratings WHERE kind = 'chess' AND rated_games > 0 AND score = 1500 AND player_id < '0007a120-0000-7000-8000-00000007a120'".into()),
        ("around: higher scores", "SELECT r.player_id FROM ratings r JOIN players p ON p.id = r.player_id WHERE r.kind = 'chess' AND r.rated_games > 0 AND r.score > 1500 ORDER BY r.score ASC, r.player_id DESC LIMIT 5".into()),
    ]
}

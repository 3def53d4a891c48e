//! The embedded SQLite backend.
//!
//! Durability settings, chosen on purpose (see docs/OPERATIONS.md):
//! - `journal_mode = WAL`: readers never block the writer, and a commit is one append to the
//!   write-ahead log.
//! - `synchronous = FULL`: every commit fsyncs the WAL before returning, so a committed
//!   transaction survives not only a process crash (`kill -9`, which WAL alone already
//!   survives) but also an OS crash or power loss. The cost is one fsync per commit, which the
//!   journal's group commit amortises over many moves.
//! - `foreign_keys = ON`, `busy_timeout = 5 s`: SQLite has one writer at a time; a connection
//!   waiting for the write lock retries instead of failing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use crate::sql::impl_common_store;
use crate::{Backend, ConnectOptions, Result, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pool: Pool<Sqlite>,
}

pub(crate) async fn connect(opts: &ConnectOptions) -> Result<SqliteStore> {
    let options = SqliteConnectOptions::from_str(&opts.url)
        .map_err(|e| StoreError::InvalidUrl(e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(SqliteStore { pool })
}

impl SqliteStore {
    /// Begins a transaction that writes: `BEGIN IMMEDIATE` takes SQLite's write lock up front
    /// (waiting up to `busy_timeout`), so the transaction can never fail later trying to
    /// upgrade a read snapshot that another writer has made stale.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl_common_store!(SqliteStore, Sqlite, Backend::Sqlite);

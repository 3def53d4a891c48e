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
//!
//! One writer, in the process too: every statement that writes goes through `writer`, a pool
//! of ONE connection, so the server's writers (the journal writer, chat, presence, …) queue
//! for it in order, asynchronously, instead of meeting at SQLite's write lock, whose busy
//! handler makes a waiting connection sleep (1, 2, 5, 10, … ms) and retry. Reads use `pool`,
//! whose connections are read-only (a write sent there by mistake fails loudly) and, in WAL
//! mode, never wait for the writer.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use crate::sql::impl_common_store;
use crate::{Backend, ConnectOptions, Result, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    /// Read-only connections, for reads.
    pool: Pool<Sqlite>,
    /// The one connection that writes (see the module documentation).
    writer: Pool<Sqlite>,
}

pub(crate) async fn connect(opts: &ConnectOptions) -> Result<SqliteStore> {
    let options = SqliteConnectOptions::from_str(&opts.url)
        .map_err(|e| StoreError::InvalidUrl(e.to_string()))?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    // The writer first: it creates the file and migrates it.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.clone().create_if_missing(true))
        .await?;
    MIGRATOR.run(&writer).await?;
    let pool = SqlitePoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .connect_with(options.read_only(true))
        .await?;
    Ok(SqliteStore { pool, writer })
}

impl SqliteStore {
    /// Begins a transaction that writes: `BEGIN IMMEDIATE` takes SQLite's write lock up front
    /// (waiting up to `busy_timeout`), so the transaction can never fail later trying to
    /// upgrade a read snapshot that another writer has made stale.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Where statements that write go: the one writer connection.
    fn writer(&self) -> &Pool<Sqlite> {
        &self.writer
    }
}

impl_common_store!(SqliteStore, Sqlite, Backend::Sqlite);

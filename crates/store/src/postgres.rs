//! The PostgreSQL backend, for scale-out: every node of a cluster shares one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres};

use crate::sql::impl_common_store;
use crate::{Backend, ConnectOptions, Result, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    pool: Pool<Postgres>,
}

pub(crate) async fn connect(opts: &ConnectOptions) -> Result<PgStore> {
    let options =
        PgConnectOptions::from_str(&opts.url).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
    let pool = PgPoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(PgStore { pool })
}

impl PgStore {
    /// Begins a transaction that writes (READ COMMITTED; the journal's append guard locks the
    /// session rows it advances).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Where statements that write go: the pool (PostgreSQL has many writers).
    fn writer(&self) -> &Pool<Postgres> {
        &self.pool
    }
}

impl_common_store!(PgStore, Postgres, Backend::Postgres);

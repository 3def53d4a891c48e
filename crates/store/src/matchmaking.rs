//! Matchmaking (issue 9): tickets, the cluster's one pool per (kind, time control, rated), and
//! the pairing pass.
//!
//! The pool lives in the database, so every node sees the same one. A pairing pass runs in
//! ONE write transaction: it locks the pool's row in `matchmaking_pools` (an upsert: a
//! PostgreSQL row lock held to the commit; on SQLite `BEGIN IMMEDIATE` already makes every
//! writer serial), reads the pool's live waiting tickets and the blocks between their
//! players, asks the caller's planner (the policy lives in the server) which pairs to make,
//! creates each pair's game (the same rows `create_game` writes) and marks both tickets
//! `matched` with that game, all or nothing. Two nodes passing over one pool at once run one
//! after the other, and the second sees the first's tickets as matched: nobody is paired
//! twice.
//!
//! Written once for both backends, like `ratings.rs`: [`impl_matchmaking!`] expands to
//! inherent methods the `Store` trait methods in `impl_common_store!` delegate to.

use uuid::Uuid;

use crate::sql::parse_id;
use crate::{NewGame, NewSessionBundle, StoreError};

/// A ticket to be stored (state `waiting`).
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub id: Uuid,
    pub player_id: Uuid,
    pub username: String,
    pub kind: String,
    /// The pool key: kind, time control and rated, as the server spells it.
    pub pool: String,
    /// The requested time control as JSON, or `None` for none.
    pub time_control: Option<String>,
    pub rated: bool,
    /// The player's rating for the kind now (1500 if unrated).
    pub rating: f64,
    pub created_at_ms: i64,
    pub alive_until_ms: i64,
}

/// A stored ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRecord {
    pub id: Uuid,
    pub player_id: Uuid,
    pub username: String,
    pub kind: String,
    pub pool: String,
    pub time_control: Option<String>,
    pub rated: bool,
    pub rating: f64,
    /// `waiting`, `matched`, `cancelled` or `expired`.
    pub state: String,
    pub created_at_ms: i64,
    pub alive_until_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub game_id: Option<Uuid>,
    pub opponent_id: Option<Uuid>,
}

/// One pair the planner decided on: the two tickets and the game to create for them (the
/// server builds its first session bundle already started, with both players seated).
#[derive(Debug, Clone)]
pub struct MatchPlan {
    pub tickets: [Uuid; 2],
    pub game: NewGame,
    pub first: NewSessionBundle,
}

/// The pairing policy: given the pool's live waiting tickets (oldest first) and the blocks
/// among their players (`(player, blocked)`, either direction matters), the pairs to make.
pub type Planner = dyn Fn(&[TicketRecord], &[(Uuid, Uuid)]) -> Vec<MatchPlan> + Send + Sync;

macro_rules! ticket_columns {
    () => {
        "id, player_id, username, kind, pool, time_control, rated, rating, state, created_at, \
         alive_until, ended_at, game_id, opponent_id"
    };
}
pub(crate) use ticket_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TicketRow {
    id: String,
    player_id: String,
    username: String,
    kind: String,
    pool: String,
    time_control: Option<String>,
    rated: bool,
    rating: f64,
    state: String,
    created_at: i64,
    alive_until: i64,
    ended_at: Option<i64>,
    game_id: Option<String>,
    opponent_id: Option<String>,
}

impl TicketRow {
    pub(crate) fn into_record(self) -> Result<TicketRecord, StoreError> {
        Ok(TicketRecord {
            id: parse_id(&self.id)?,
            player_id: parse_id(&self.player_id)?,
            username: self.username,
            kind: self.kind,
            pool: self.pool,
            time_control: self.time_control,
            rated: self.rated,
            rating: self.rating,
            state: self.state,
            created_at_ms: self.created_at,
            alive_until_ms: self.alive_until,
            ended_at_ms: self.ended_at,
            game_id: self.game_id.as_deref().map(parse_id).transpose()?,
            opponent_id: self.opponent_id.as_deref().map(parse_id).transpose()?,
        })
    }
}

macro_rules! impl_matchmaking {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn mm_create_ticket(
                &self,
                t: $crate::NewTicket,
            ) -> $crate::Result<$crate::TicketRecord> {
                sqlx::query(
                    "INSERT INTO matchmaking_tickets (id, player_id, username, kind, pool, \
                     time_control, rated, rating, state, created_at, alive_until) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'waiting', $9, $10)",
                )
                .bind(t.id.to_string())
                .bind(t.player_id.to_string())
                .bind(&t.username)
                .bind(&t.kind)
                .bind(&t.pool)
                .bind(&t.time_control)
                .bind(t.rated)
                .bind(t.rating)
                .bind(t.created_at_ms)
                .bind(t.alive_until_ms)
                .execute(self.writer())
                .await
                .map_err($crate::sql::map_conflict)?;
                self.mm_ticket(t.id).await?.ok_or($crate::StoreError::NotFound)
            }

            async fn mm_ticket(&self, id: uuid::Uuid) -> $crate::Result<Option<$crate::TicketRecord>> {
                let sql = concat!(
                    "SELECT ", $crate::matchmaking::ticket_columns!(),
                    " FROM matchmaking_tickets WHERE id = $1"
                );
                let row: Option<$crate::matchmaking::TicketRow> = sqlx::query_as(sql)
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| r.into_record()).transpose()
            }

            async fn mm_waiting_ticket(
                &self,
                player: uuid::Uuid,
                kind: &str,
            ) -> $crate::Result<Option<$crate::TicketRecord>> {
                let sql = concat!(
                    "SELECT ", $crate::matchmaking::ticket_columns!(),
                    " FROM matchmaking_tickets WHERE player_id = $1 AND kind = $2 AND state = 'waiting'"
                );
                let row: Option<$crate::matchmaking::TicketRow> = sqlx::query_as(sql)
                    .bind(player.to_string())
                    .bind(kind)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| r.into_record()).transpose()
            }

            async fn mm_end_ticket(
                &self,
                id: uuid::Uuid,
                player: uuid::Uuid,
                state: &str,
                now_ms: i64,
            ) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE matchmaking_tickets SET state = $1, ended_at = $2 \
                     WHERE id = $3 AND player_id = $4 AND state = 'waiting'",
                )
                .bind(state)
                .bind(now_ms)
                .bind(id.to_string())
                .bind(player.to_string())
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn mm_keep_alive(
                &self,
                players: &[uuid::Uuid],
                until_ms: i64,
            ) -> $crate::Result<u64> {
                // Only the players with a waiting ticket (few) out of those given (every
                // connected player of a node).
                let waiting: Vec<(String,)> = sqlx::query_as(
                    "SELECT player_id FROM matchmaking_tickets WHERE state = 'waiting'",
                )
                .fetch_all(&self.pool)
                .await?;
                let waiting: std::collections::HashSet<String> =
                    waiting.into_iter().map(|r| r.0).collect();
                let mut n = 0;
                for p in players.iter().filter(|p| waiting.contains(&p.to_string())) {
                    let done = sqlx::query(
                        "UPDATE matchmaking_tickets SET alive_until = $1 \
                         WHERE player_id = $2 AND state = 'waiting' AND alive_until < $1",
                    )
                    .bind(until_ms)
                    .bind(p.to_string())
                    .execute(self.writer())
                    .await?;
                    n += done.rows_affected();
                }
                Ok(n)
            }

            async fn mm_expire(&self, now_ms: i64) -> $crate::Result<Vec<$crate::TicketRecord>> {
                let sql = concat!(
                    "UPDATE matchmaking_tickets SET state = 'expired', ended_at = $1 \
                     WHERE state = 'waiting' AND alive_until < $1 RETURNING ",
                    $crate::matchmaking::ticket_columns!()
                );
                let rows: Vec<$crate::matchmaking::TicketRow> = sqlx::query_as(sql)
                    .bind(now_ms)
                    .fetch_all(self.writer())
                    .await?;
                rows.into_iter().map(|r| r.into_record()).collect()
            }

            async fn mm_waiting_pools(&self) -> $crate::Result<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT DISTINCT pool FROM matchmaking_tickets WHERE state = 'waiting'",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            async fn mm_pair(
                &self,
                pool: &str,
                now_ms: i64,
                planner: &$crate::Planner,
            ) -> $crate::Result<Vec<$crate::MatchPlan>> {
                let mut tx = self.begin_write().await?;
                // The pool's lock: held until the commit.
                sqlx::query(
                    "INSERT INTO matchmaking_pools (pool, last_pass_at) VALUES ($1, $2) \
                     ON CONFLICT (pool) DO UPDATE SET last_pass_at = excluded.last_pass_at",
                )
                .bind(pool)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                let sql = concat!(
                    "SELECT ", $crate::matchmaking::ticket_columns!(),
                    " FROM matchmaking_tickets WHERE pool = $1 AND state = 'waiting' \
                     AND alive_until >= $2 ORDER BY created_at, id"
                );
                let rows: Vec<$crate::matchmaking::TicketRow> = sqlx::query_as(sql)
                    .bind(pool)
                    .bind(now_ms)
                    .fetch_all(&mut *tx)
                    .await?;
                let tickets = rows
                    .into_iter()
                    .map(|r| r.into_record())
                    .collect::<$crate::Result<Vec<_>>>()?;
                if tickets.len() < 2 {
                    tx.commit().await?;
                    return Ok(Vec::new());
                }
                let blocks: Vec<(String, String)> = sqlx::query_as(
                    "SELECT b.player_id, b.blocked_id FROM chat_blocks b \
                     WHERE b.player_id IN (SELECT t.player_id FROM matchmaking_tickets t \
                       WHERE t.pool = $1 AND t.state = 'waiting') \
                     AND b.blocked_id IN (SELECT t.player_id FROM matchmaking_tickets t \
                       WHERE t.pool = $1 AND t.state = 'waiting')",
                )
                .bind(pool)
                .fetch_all(&mut *tx)
                .await?;
                let blocks = blocks
                    .iter()
                    .map(|(a, b)| Ok(($crate::sql::parse_id(a)?, $crate::sql::parse_id(b)?)))
                    .collect::<$crate::Result<Vec<_>>>()?;
                let plans = planner(&tickets, &blocks);
                for plan in &plans {
                    let players: Vec<uuid::Uuid> = plan
                        .tickets
                        .iter()
                        .map(|id| {
                            tickets
                                .iter()
                                .find(|t| t.id == *id)
                                .map(|t| t.player_id)
                                .ok_or_else(|| $crate::StoreError::Conflict(format!("ticket {id} is not waiting in {pool}")))
                        })
                        .collect::<$crate::Result<_>>()?;
                    Self::insert_game(&mut tx, &plan.game, &plan.first).await?;
                    for (i, id) in plan.tickets.iter().enumerate() {
                        let done = sqlx::query(
                            "UPDATE matchmaking_tickets SET state = 'matched', ended_at = $1, \
                             game_id = $2, opponent_id = $3 WHERE id = $4 AND state = 'waiting'",
                        )
                        .bind(now_ms)
                        .bind(plan.game.id.to_string())
                        .bind(players[1 - i].to_string())
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() != 1 {
                            return Err($crate::StoreError::Conflict(format!(
                                "ticket {id} was paired twice"
                            )));
                        }
                    }
                }
                tx.commit().await?;
                Ok(plans)
            }
        }
    };
}

pub(crate) use impl_matchmaking;

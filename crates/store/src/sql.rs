//! Statements valid in both SQLite and PostgreSQL, written once.
//!
//! [`impl_common_store!`] expands to the `Store` implementation for a backend type that has a
//! `pool: sqlx::Pool<DB>` field. Each expansion is compiled against that backend's own types,
//! so a statement is still type-checked per backend and exercised by the conformance suite on
//! both; nothing goes through `sqlx::Any`.

use uuid::Uuid;

use crate::{PlayerRecord, StoreError, TokenRecord};

/// The player columns every player query selects (a macro so `concat!` can build `'static`
/// statements: sqlx 0.9 accepts only audited, non-dynamic SQL).
macro_rules! player_columns {
    () => {
        "p.id, p.username, p.email, p.password_hash, p.display_name, p.bio, p.avatar_url, p.guest, p.created_at"
    };
}
pub(crate) use player_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PlayerRow {
    id: String,
    username: String,
    email: Option<String>,
    password_hash: Option<String>,
    display_name: Option<String>,
    bio: Option<String>,
    avatar_url: Option<String>,
    guest: bool,
    created_at: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenPlayerRow {
    t_hash: String,
    t_created_at: i64,
    t_expires_at: i64,
    #[sqlx(flatten)]
    player: PlayerRow,
}

pub(crate) fn parse_id(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}

impl PlayerRow {
    pub(crate) fn into_record(self) -> Result<PlayerRecord, StoreError> {
        Ok(PlayerRecord {
            id: parse_id(&self.id)?,
            username: self.username,
            email: self.email,
            password_hash: self.password_hash,
            display_name: self.display_name,
            bio: self.bio,
            avatar_url: self.avatar_url,
            guest: self.guest,
            created_at_ms: self.created_at,
        })
    }
}

impl TokenPlayerRow {
    pub(crate) fn into_records(self) -> Result<(TokenRecord, PlayerRecord), StoreError> {
        let player = self.player.into_record()?;
        Ok((
            TokenRecord {
                token_hash: self.t_hash,
                player_id: player.id,
                created_at_ms: self.t_created_at,
                expires_at_ms: self.t_expires_at,
            },
            player,
        ))
    }
}

/// Expands to `impl Store for $store` (with `$store { pool: Pool<$db> }`), using the shared
/// statements. `$backend` is the [`crate::Backend`] value.
macro_rules! impl_common_store {
    ($store:ty, $db:ty, $backend:expr) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                $backend
            }

            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn create_player(&self, new: $crate::NewPlayer) -> $crate::Result<$crate::PlayerRecord> {
                sqlx::query(
                    "INSERT INTO players (id, username, username_lower, email, email_lower, \
                     password_hash, guest, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(new.id.to_string())
                .bind(&new.username)
                .bind(new.username.to_lowercase())
                .bind(&new.email)
                .bind(new.email.as_ref().map(|e| e.to_lowercase()))
                .bind(&new.password_hash)
                .bind(new.guest)
                .bind(new.created_at_ms)
                .execute(&self.pool)
                .await
                .map_err($crate::map_player_unique)?;
                Ok($crate::PlayerRecord {
                    id: new.id,
                    username: new.username,
                    email: new.email,
                    password_hash: new.password_hash,
                    display_name: None,
                    bio: None,
                    avatar_url: None,
                    guest: new.guest,
                    created_at_ms: new.created_at_ms,
                })
            }

            async fn player_by_id(&self, id: uuid::Uuid) -> $crate::Result<Option<$crate::PlayerRecord>> {
                let sql = concat!("SELECT ", $crate::sql::player_columns!(), " FROM players p WHERE p.id = $1");
                sqlx::query_as::<_, $crate::sql::PlayerRow>(sql)
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::sql::PlayerRow::into_record)
                    .transpose()
            }

            async fn player_by_username(&self, username: &str) -> $crate::Result<Option<$crate::PlayerRecord>> {
                let sql = concat!("SELECT ", $crate::sql::player_columns!(), " FROM players p WHERE p.username_lower = $1");
                sqlx::query_as::<_, $crate::sql::PlayerRow>(sql)
                    .bind(username.to_lowercase())
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::sql::PlayerRow::into_record)
                    .transpose()
            }

            async fn player_by_login(&self, login: &str) -> $crate::Result<Option<$crate::PlayerRecord>> {
                let sql = concat!("SELECT ", $crate::sql::player_columns!(), " FROM players p WHERE p.username_lower = $1 OR p.email_lower = $1");
                sqlx::query_as::<_, $crate::sql::PlayerRow>(sql)
                    .bind(login.to_lowercase())
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::sql::PlayerRow::into_record)
                    .transpose()
            }

            async fn update_profile(
                &self,
                id: uuid::Uuid,
                update: $crate::ProfileUpdate,
                now_ms: i64,
            ) -> $crate::Result<$crate::PlayerRecord> {
                let done = sqlx::query(
                    "UPDATE players SET \
                     display_name = CASE WHEN $2 THEN $3 ELSE display_name END, \
                     bio = CASE WHEN $4 THEN $5 ELSE bio END, \
                     avatar_url = CASE WHEN $6 THEN $7 ELSE avatar_url END, \
                     updated_at = $8 WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(update.display_name.is_some())
                .bind(update.display_name.flatten())
                .bind(update.bio.is_some())
                .bind(update.bio.flatten())
                .bind(update.avatar_url.is_some())
                .bind(update.avatar_url.flatten())
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                self.player_by_id(id).await?.ok_or($crate::StoreError::NotFound)
            }

            async fn change_password(
                &self,
                id: uuid::Uuid,
                password_hash: &str,
                keep_token: Option<&str>,
                now_ms: i64,
            ) -> $crate::Result<()> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query("UPDATE players SET password_hash = $2, updated_at = $3 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(password_hash)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                sqlx::query(
                    "UPDATE auth_tokens SET revoked_at = $2 \
                     WHERE player_id = $1 AND revoked_at IS NULL AND token_hash <> $3",
                )
                .bind(id.to_string())
                .bind(now_ms)
                .bind(keep_token.unwrap_or(""))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_token(&self, token: $crate::NewToken) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO auth_tokens (token_hash, player_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&token.token_hash)
                .bind(token.player_id.to_string())
                .bind(token.created_at_ms)
                .bind(token.expires_at_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn token_player(
                &self,
                token_hash: &str,
                now_ms: i64,
            ) -> $crate::Result<Option<($crate::TokenRecord, $crate::PlayerRecord)>> {
                let sql = concat!("SELECT t.token_hash AS t_hash, t.created_at AS t_created_at, \
                     t.expires_at AS t_expires_at, ", $crate::sql::player_columns!(), " \
                     FROM auth_tokens t JOIN players p ON p.id = t.player_id \
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2");
                sqlx::query_as::<_, $crate::sql::TokenPlayerRow>(sql)
                    .bind(token_hash)
                    .bind(now_ms)
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::sql::TokenPlayerRow::into_records)
                    .transpose()
            }

            async fn revoke_token(&self, token_hash: &str, now_ms: i64) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE auth_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn revoke_all_tokens(&self, player_id: uuid::Uuid, now_ms: i64) -> $crate::Result<u64> {
                let done = sqlx::query(
                    "UPDATE auth_tokens SET revoked_at = $2 WHERE player_id = $1 AND revoked_at IS NULL",
                )
                .bind(player_id.to_string())
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_common_store;

//! Social (issue 9): friend requests and friendships, last seen, invites and notifications.
//!
//! The methods are a supertrait of [`crate::Store`] ([`SocialStore`]), written once for both
//! backends like `sql.rs`: [`impl_social!`] expands to the trait's implementation for a
//! backend type. Blocks are chat's (`chat_blocks`); callers combine them with these.

use async_trait::async_trait;
use uuid::Uuid;

use crate::Result;
use crate::sql::parse_id;

/// What [`SocialStore::send_friend_request`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendRequestOutcome {
    /// A new (or repeated) pending request.
    Sent,
    /// The other player had already asked: both are friends now.
    Accepted,
    /// They were friends already; nothing changed.
    AlreadyFriends,
}

/// A pending friend request, with both usernames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendRequestRecord {
    pub from_id: Uuid,
    pub from_username: String,
    pub to_id: Uuid,
    pub to_username: String,
    pub created_at_ms: i64,
}

/// One of a player's friends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendRecord {
    pub id: Uuid,
    pub username: String,
    pub since_ms: i64,
    /// When their last connection went away (None: never recorded).
    pub last_seen_ms: Option<i64>,
    /// Some node holds a live (unexpired) connection of theirs.
    pub online: bool,
    /// The game whose current session they are seated in, in progress.
    pub playing: Option<Uuid>,
}

/// The state of an invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteState {
    Pending,
    Accepted,
    Declined,
    /// Cancelled by its sender (for a link: revoked).
    Cancelled,
}

impl InviteState {
    pub fn as_str(self) -> &'static str {
        match self {
            InviteState::Pending => "pending",
            InviteState::Accepted => "accepted",
            InviteState::Declined => "declined",
            InviteState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<InviteState> {
        Some(match s {
            "pending" => InviteState::Pending,
            "accepted" => InviteState::Accepted,
            "declined" => InviteState::Declined,
            "cancelled" => InviteState::Cancelled,
            _ => return None,
        })
    }
}

/// A new invite: to one player, or a link (`code_hash`, the hex SHA-256 of its code).
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub id: Uuid,
    pub game_id: Uuid,
    pub from_id: Uuid,
    pub to_id: Option<Uuid>,
    pub code_hash: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    pub id: Uuid,
    pub game_id: Uuid,
    pub from_id: Uuid,
    pub from_username: String,
    pub to_id: Option<Uuid>,
    pub to_username: Option<String>,
    /// A link invite (anyone holding its code may use it).
    pub link: bool,
    pub state: InviteState,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: Uuid,
    pub player_id: Uuid,
    /// The player who caused it (a request's, an acceptance's or an invite's sender), if
    /// any: hidden from the reader while they block that player.
    pub from_id: Option<Uuid>,
    pub kind: String,
    /// A JSON document.
    pub payload: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: Uuid,
    pub player_id: Uuid,
    pub kind: String,
    pub payload: String,
    pub created_at_ms: i64,
    pub read_at_ms: Option<i64>,
}

/// A player's presence as friends were told it, cluster-wide
/// ([`SocialStore::claim_presence_change`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnouncedPresence {
    Offline,
    Online,
    /// Online and seated in this game's session in progress.
    InGame(Uuid),
}

/// The social part of the storage interface.
#[async_trait]
pub trait SocialStore {
    /// `from` asks `to` to be friends. When `to` had already asked `from`, both become
    /// friends at once. Repeating a pending request keeps it.
    async fn send_friend_request(
        &self,
        from: Uuid,
        to: Uuid,
        now_ms: i64,
    ) -> Result<FriendRequestOutcome>;
    /// `to` accepts `from`'s request: `NotFound` without one.
    async fn accept_friend_request(&self, to: Uuid, from: Uuid, now_ms: i64) -> Result<()>;
    /// Deletes a pending request (declined by `to` or cancelled by `from`); whether one was.
    async fn delete_friend_request(&self, from: Uuid, to: Uuid) -> Result<bool>;
    /// The pending requests `player` sent or received, oldest first.
    async fn friend_requests(&self, player: Uuid) -> Result<Vec<FriendRequestRecord>>;
    /// Ends a friendship (both directions); whether there was one.
    async fn remove_friend(&self, player: Uuid, friend: Uuid) -> Result<bool>;
    /// Ends everything between two players (on a block): their friendship and the pending
    /// friend requests either way, in one transaction.
    async fn end_friendship(&self, a: Uuid, b: Uuid) -> Result<()>;
    /// `player`'s friends, by username, with their presence at `now_ms`.
    async fn friends(&self, player: Uuid, now_ms: i64) -> Result<Vec<FriendRecord>>;
    /// The ids of `player`'s friends.
    async fn friend_ids(&self, player: Uuid) -> Result<Vec<Uuid>>;
    async fn are_friends(&self, a: Uuid, b: Uuid) -> Result<bool>;
    /// Records when the player's last connection went away.
    async fn set_last_seen(&self, player: Uuid, at_ms: i64) -> Result<()>;
    async fn last_seen(&self, player: Uuid) -> Result<Option<i64>>;
    /// Records that `node` holds `connections` WebSockets of `player` (0 removes the row),
    /// valid until `expires_at_ms`.
    async fn set_node_presence(
        &self,
        player: Uuid,
        node: &str,
        connections: i64,
        expires_at_ms: i64,
    ) -> Result<()>;
    /// [`SocialStore::set_node_presence`] for several players, in one transaction (all or
    /// none).
    async fn set_node_presences(
        &self,
        node: &str,
        counts: &[(Uuid, i64)],
        expires_at_ms: i64,
    ) -> Result<()>;
    /// Extends every presence row of `node` to `expires_at_ms`.
    async fn refresh_node_presence(&self, node: &str, expires_at_ms: i64) -> Result<u64>;
    /// Removes every presence row of `node` (a clean shutdown); the players it named.
    async fn clear_node_presence(&self, node: &str) -> Result<Vec<Uuid>>;
    /// Deletes the rows expired at `now_ms` (dead nodes); the players they named.
    async fn expire_presence(&self, now_ms: i64) -> Result<Vec<Uuid>>;
    /// Whether some node holds an unexpired connection of `player`.
    async fn is_online(&self, player: Uuid, now_ms: i64) -> Result<bool>;
    /// The game whose current session `player` is seated in, in progress (the latest).
    async fn playing(&self, player: Uuid) -> Result<Option<Uuid>>;
    /// Claims the announcement of a change in `player`'s presence, if there is one. In one
    /// write transaction: locks their `presence_announced` row (a PostgreSQL row lock to the
    /// commit; SQLite writers are serial anyway), reads their presence at `now_ms` (online
    /// when some node holds an unexpired connection; in a game when also seated in a session
    /// in progress) and, when it differs from the one last announced, records it — going
    /// offline also records `last_seen = now_ms` — and returns it. `None`: friends were told
    /// this already. Claims for one player are serial and each reads after the previous one
    /// committed, so whichever node claims last announces what the database says, and a
    /// change is announced once however many nodes notice it.
    async fn claim_presence_change(
        &self,
        player: Uuid,
        now_ms: i64,
    ) -> Result<Option<AnnouncedPresence>>;

    async fn create_invite(&self, invite: NewInvite) -> Result<()>;
    async fn invite(&self, id: Uuid) -> Result<Option<InviteRecord>>;
    async fn invite_by_code_hash(&self, code_hash: &str) -> Result<Option<InviteRecord>>;
    /// Pending, unexpired invites that `player` sent or received, newest first.
    async fn pending_invites(&self, player: Uuid, now_ms: i64) -> Result<Vec<InviteRecord>>;
    /// Moves a pending, unexpired invite to `to`; false when it was not pending any more
    /// (or expired), so two racing answers cannot both win.
    async fn finish_invite(&self, id: Uuid, to: InviteState, now_ms: i64) -> Result<bool>;
    /// Puts an accepted invite back to pending (the seat it was accepted for could not be
    /// taken); false when it was not accepted.
    async fn reopen_invite(&self, id: Uuid) -> Result<bool>;

    async fn create_notification(&self, n: NewNotification) -> Result<NotificationRecord>;
    /// Stores several notifications in one transaction (all or none), in order.
    async fn create_notifications(
        &self,
        batch: Vec<NewNotification>,
    ) -> Result<Vec<NotificationRecord>>;
    /// The player's notifications, newest first, older than `before` when given. Those from
    /// a player they block are left out (here and in [`SocialStore::unread_notifications`]).
    async fn notifications(
        &self,
        player: Uuid,
        before: Option<Uuid>,
        unread_only: bool,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>>;
    /// Marks the given notifications (all when None) read; how many changed.
    async fn mark_notifications_read(
        &self,
        player: Uuid,
        ids: Option<&[Uuid]>,
        now_ms: i64,
    ) -> Result<u64>;
    async fn unread_notifications(&self, player: Uuid) -> Result<i64>;
}

macro_rules! invite_columns {
    () => {
        "i.id, i.game_id, i.from_id, f.username AS from_username, i.to_id, \
         t.username AS to_username, i.code_hash, i.state, i.created_at, i.expires_at \
         FROM invites i JOIN players f ON f.id = i.from_id LEFT JOIN players t ON t.id = i.to_id"
    };
}
pub(crate) use invite_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct InviteRow {
    id: String,
    game_id: String,
    from_id: String,
    from_username: String,
    to_id: Option<String>,
    to_username: Option<String>,
    code_hash: Option<String>,
    state: String,
    created_at: i64,
    expires_at: i64,
}

impl InviteRow {
    pub(crate) fn into_record(self) -> Result<InviteRecord> {
        Ok(InviteRecord {
            id: parse_id(&self.id)?,
            game_id: parse_id(&self.game_id)?,
            from_id: parse_id(&self.from_id)?,
            from_username: self.from_username,
            to_id: self.to_id.as_deref().map(parse_id).transpose()?,
            to_username: self.to_username,
            link: self.code_hash.is_some(),
            state: InviteState::parse(&self.state).ok_or_else(|| {
                crate::StoreError::Database(sqlx::Error::Decode(
                    format!("unknown invite state {}", self.state).into(),
                ))
            })?,
            created_at_ms: self.created_at,
            expires_at_ms: self.expires_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct NotificationRow {
    id: String,
    player_id: String,
    kind: String,
    payload: String,
    created_at: i64,
    read_at: Option<i64>,
}

impl NotificationRow {
    pub(crate) fn into_record(self) -> Result<NotificationRecord> {
        Ok(NotificationRecord {
            id: parse_id(&self.id)?,
            player_id: parse_id(&self.player_id)?,
            kind: self.kind,
            payload: self.payload,
            created_at_ms: self.created_at,
            read_at_ms: self.read_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RequestRow {
    from_id: String,
    from_username: String,
    to_id: String,
    to_username: String,
    created_at: i64,
}

impl RequestRow {
    pub(crate) fn into_record(self) -> Result<FriendRequestRecord> {
        Ok(FriendRequestRecord {
            from_id: parse_id(&self.from_id)?,
            from_username: self.from_username,
            to_id: parse_id(&self.to_id)?,
            to_username: self.to_username,
            created_at_ms: self.created_at,
        })
    }
}

/// Expands to `impl SocialStore for $store` (with `pool: Pool<$db>` and `begin_write`).
macro_rules! impl_social {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::social::SocialStore for $store {
            async fn send_friend_request(
                &self,
                from: uuid::Uuid,
                to: uuid::Uuid,
                now_ms: i64,
            ) -> $crate::Result<$crate::social::FriendRequestOutcome> {
                let mut tx = self.begin_write().await?;
                let friends: Option<i32> = sqlx::query_scalar(
                    "SELECT 1 FROM friendships WHERE player_id = $1 AND friend_id = $2",
                )
                .bind(from.to_string())
                .bind(to.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                if friends.is_some() {
                    return Ok($crate::social::FriendRequestOutcome::AlreadyFriends);
                }
                let reverse = sqlx::query("DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2")
                    .bind(to.to_string())
                    .bind(from.to_string())
                    .execute(&mut *tx)
                    .await?;
                if reverse.rows_affected() > 0 {
                    Self::social_befriend(&mut tx, from, to, now_ms).await?;
                    tx.commit().await?;
                    return Ok($crate::social::FriendRequestOutcome::Accepted);
                }
                sqlx::query(
                    "INSERT INTO friend_requests (from_id, to_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (from_id, to_id) DO NOTHING",
                )
                .bind(from.to_string())
                .bind(to.to_string())
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => $crate::StoreError::NotFound,
                    _ => $crate::StoreError::Database(e),
                })?;
                tx.commit().await?;
                Ok($crate::social::FriendRequestOutcome::Sent)
            }

            async fn accept_friend_request(&self, to: uuid::Uuid, from: uuid::Uuid, now_ms: i64) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2")
                    .bind(from.to_string())
                    .bind(to.to_string())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Self::social_befriend(&mut tx, from, to, now_ms).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_friend_request(&self, from: uuid::Uuid, to: uuid::Uuid) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2")
                    .bind(from.to_string())
                    .bind(to.to_string())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn friend_requests(&self, player: uuid::Uuid) -> $crate::Result<Vec<$crate::social::FriendRequestRecord>> {
                let rows: Vec<$crate::social::RequestRow> = sqlx::query_as(
                    "SELECT r.from_id, f.username AS from_username, r.to_id, t.username AS to_username, r.created_at \
                     FROM friend_requests r JOIN players f ON f.id = r.from_id JOIN players t ON t.id = r.to_id \
                     WHERE r.from_id = $1 OR r.to_id = $1 ORDER BY r.created_at, r.from_id, r.to_id",
                )
                .bind(player.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::social::RequestRow::into_record).collect()
            }

            async fn remove_friend(&self, player: uuid::Uuid, friend: uuid::Uuid) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "DELETE FROM friendships WHERE (player_id = $1 AND friend_id = $2) \
                     OR (player_id = $2 AND friend_id = $1)",
                )
                .bind(player.to_string())
                .bind(friend.to_string())
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn end_friendship(&self, a: uuid::Uuid, b: uuid::Uuid) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "DELETE FROM friendships WHERE (player_id = $1 AND friend_id = $2) \
                     OR (player_id = $2 AND friend_id = $1)",
                )
                .bind(a.to_string())
                .bind(b.to_string())
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "DELETE FROM friend_requests WHERE (from_id = $1 AND to_id = $2) \
                     OR (from_id = $2 AND to_id = $1)",
                )
                .bind(a.to_string())
                .bind(b.to_string())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn friends(&self, player: uuid::Uuid, now_ms: i64) -> $crate::Result<Vec<$crate::social::FriendRecord>> {
                let rows: Vec<(String, String, i64, Option<i64>, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT p.id, p.username, f.created_at, s.last_seen_ms, \
                     (SELECT MIN(c.node_id) FROM presence_connections c \
                      WHERE c.player_id = f.friend_id AND c.expires_at > $2) AS node, \
                     (SELECT gs.game_id FROM player_game_sessions ps \
                      JOIN game_sessions gs ON gs.id = ps.game_session_id \
                      WHERE ps.player_id = f.friend_id AND gs.state = 'in_progress' \
                      ORDER BY gs.start_time DESC LIMIT 1) AS playing \
                     FROM friendships f \
                     JOIN players p ON p.id = f.friend_id \
                     LEFT JOIN player_last_seen s ON s.player_id = f.friend_id \
                     WHERE f.player_id = $1 ORDER BY p.username_lower",
                )
                .bind(player.to_string())
                .bind(now_ms)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, username, since_ms, last_seen_ms, node, playing)| {
                        Ok($crate::social::FriendRecord {
                            id: $crate::sql::parse_id(&id)?,
                            username,
                            since_ms,
                            last_seen_ms,
                            online: node.is_some(),
                            playing: playing.as_deref().map($crate::sql::parse_id).transpose()?,
                        })
                    })
                    .collect()
            }

            async fn friend_ids(&self, player: uuid::Uuid) -> $crate::Result<Vec<uuid::Uuid>> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT friend_id FROM friendships WHERE player_id = $1",
                )
                .bind(player.to_string())
                .fetch_all(&self.pool)
                .await?;
                ids.iter().map(|s| $crate::sql::parse_id(s)).collect()
            }

            async fn set_node_presence(
                &self,
                player: uuid::Uuid,
                node: &str,
                connections: i64,
                expires_at_ms: i64,
            ) -> $crate::Result<()> {
                self.set_node_presences(node, &[(player, connections)], expires_at_ms).await
            }

            async fn set_node_presences(
                &self,
                node: &str,
                counts: &[(uuid::Uuid, i64)],
                expires_at_ms: i64,
            ) -> $crate::Result<()> {
                if counts.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_write().await?;
                for &(player, connections) in counts {
                    if connections <= 0 {
                        sqlx::query("DELETE FROM presence_connections WHERE player_id = $1 AND node_id = $2")
                            .bind(player.to_string())
                            .bind(node)
                            .execute(&mut *tx)
                            .await?;
                        continue;
                    }
                    sqlx::query(
                        "INSERT INTO presence_connections (player_id, node_id, connections, expires_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (player_id, node_id) \
                         DO UPDATE SET connections = $3, expires_at = $4",
                    )
                    .bind(player.to_string())
                    .bind(node)
                    .bind(connections)
                    .bind(expires_at_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_foreign_key_violation() => $crate::StoreError::NotFound,
                        _ => $crate::StoreError::Database(e),
                    })?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn refresh_node_presence(&self, node: &str, expires_at_ms: i64) -> $crate::Result<u64> {
                let done = sqlx::query("UPDATE presence_connections SET expires_at = $2 WHERE node_id = $1")
                    .bind(node)
                    .bind(expires_at_ms)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected())
            }

            async fn clear_node_presence(&self, node: &str) -> $crate::Result<Vec<uuid::Uuid>> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "DELETE FROM presence_connections WHERE node_id = $1 RETURNING player_id",
                )
                .bind(node)
                .fetch_all(self.writer())
                .await?;
                ids.iter().map(|s| $crate::sql::parse_id(s)).collect()
            }

            async fn expire_presence(&self, now_ms: i64) -> $crate::Result<Vec<uuid::Uuid>> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "DELETE FROM presence_connections WHERE expires_at <= $1 RETURNING player_id",
                )
                .bind(now_ms)
                .fetch_all(self.writer())
                .await?;
                ids.iter().map(|s| $crate::sql::parse_id(s)).collect()
            }

            async fn is_online(&self, player: uuid::Uuid, now_ms: i64) -> $crate::Result<bool> {
                let row: Option<i32> = sqlx::query_scalar(
                    "SELECT 1 FROM presence_connections WHERE player_id = $1 AND expires_at > $2 LIMIT 1",
                )
                .bind(player.to_string())
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.is_some())
            }

            async fn playing(&self, player: uuid::Uuid) -> $crate::Result<Option<uuid::Uuid>> {
                let id: Option<String> = sqlx::query_scalar(
                    "SELECT gs.game_id FROM player_game_sessions ps \
                     JOIN game_sessions gs ON gs.id = ps.game_session_id \
                     WHERE ps.player_id = $1 AND gs.state = 'in_progress' \
                     ORDER BY gs.start_time DESC LIMIT 1",
                )
                .bind(player.to_string())
                .fetch_optional(&self.pool)
                .await?;
                id.as_deref().map($crate::sql::parse_id).transpose()
            }

            async fn claim_presence_change(
                &self,
                player: uuid::Uuid,
                now_ms: i64,
            ) -> $crate::Result<Option<$crate::social::AnnouncedPresence>> {
                use $crate::social::AnnouncedPresence;
                let mut tx = self.begin_write().await?;
                // The player's row, locked until the commit (created 'offline' the first time).
                let (state, game_id): (String, Option<String>) = sqlx::query_as(
                    "INSERT INTO presence_announced (player_id, state, game_id) VALUES ($1, 'offline', NULL) \
                     ON CONFLICT (player_id) DO UPDATE SET state = presence_announced.state \
                     RETURNING state, game_id",
                )
                .bind(player.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => $crate::StoreError::NotFound,
                    _ => $crate::StoreError::Database(e),
                })?;
                let before = match (state.as_str(), game_id) {
                    ("online", _) => AnnouncedPresence::Online,
                    ("in_game", Some(g)) => AnnouncedPresence::InGame($crate::sql::parse_id(&g)?),
                    _ => AnnouncedPresence::Offline,
                };
                let online: Option<i32> = sqlx::query_scalar(
                    "SELECT 1 FROM presence_connections WHERE player_id = $1 AND expires_at > $2 LIMIT 1",
                )
                .bind(player.to_string())
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let now = if online.is_none() {
                    AnnouncedPresence::Offline
                } else {
                    let playing: Option<String> = sqlx::query_scalar(
                        "SELECT gs.game_id FROM player_game_sessions ps \
                         JOIN game_sessions gs ON gs.id = ps.game_session_id \
                         WHERE ps.player_id = $1 AND gs.state = 'in_progress' \
                         ORDER BY gs.start_time DESC LIMIT 1",
                    )
                    .bind(player.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                    match playing {
                        Some(g) => AnnouncedPresence::InGame($crate::sql::parse_id(&g)?),
                        None => AnnouncedPresence::Online,
                    }
                };
                if now == before {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let (state, game_id) = match now {
                    AnnouncedPresence::Offline => ("offline", None),
                    AnnouncedPresence::Online => ("online", None),
                    AnnouncedPresence::InGame(g) => ("in_game", Some(g.to_string())),
                };
                sqlx::query("UPDATE presence_announced SET state = $2, game_id = $3 WHERE player_id = $1")
                    .bind(player.to_string())
                    .bind(state)
                    .bind(game_id)
                    .execute(&mut *tx)
                    .await?;
                if now == AnnouncedPresence::Offline {
                    sqlx::query(
                        "INSERT INTO player_last_seen (player_id, last_seen_ms) VALUES ($1, $2) \
                         ON CONFLICT (player_id) DO UPDATE SET last_seen_ms = $2",
                    )
                    .bind(player.to_string())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(Some(now))
            }

            async fn are_friends(&self, a: uuid::Uuid, b: uuid::Uuid) -> $crate::Result<bool> {
                let row: Option<i32> = sqlx::query_scalar(
                    "SELECT 1 FROM friendships WHERE player_id = $1 AND friend_id = $2",
                )
                .bind(a.to_string())
                .bind(b.to_string())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.is_some())
            }

            async fn set_last_seen(&self, player: uuid::Uuid, at_ms: i64) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO player_last_seen (player_id, last_seen_ms) VALUES ($1, $2) \
                     ON CONFLICT (player_id) DO UPDATE SET last_seen_ms = $2",
                )
                .bind(player.to_string())
                .bind(at_ms)
                .execute(self.writer())
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => $crate::StoreError::NotFound,
                    _ => $crate::StoreError::Database(e),
                })?;
                Ok(())
            }

            async fn last_seen(&self, player: uuid::Uuid) -> $crate::Result<Option<i64>> {
                Ok(sqlx::query_scalar("SELECT last_seen_ms FROM player_last_seen WHERE player_id = $1")
                    .bind(player.to_string())
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn create_invite(&self, invite: $crate::social::NewInvite) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO invites (id, game_id, from_id, to_id, code_hash, state, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
                )
                .bind(invite.id.to_string())
                .bind(invite.game_id.to_string())
                .bind(invite.from_id.to_string())
                .bind(invite.to_id.map(|t| t.to_string()))
                .bind(invite.code_hash)
                .bind(invite.created_at_ms)
                .bind(invite.expires_at_ms)
                .execute(self.writer())
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => $crate::StoreError::NotFound,
                    _ => $crate::sql::map_conflict(e),
                })?;
                Ok(())
            }

            async fn invite(&self, id: uuid::Uuid) -> $crate::Result<Option<$crate::social::InviteRecord>> {
                sqlx::query_as::<_, $crate::social::InviteRow>(concat!(
                    "SELECT ", $crate::social::invite_columns!(), " WHERE i.id = $1"
                ))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .map($crate::social::InviteRow::into_record)
                .transpose()
            }

            async fn invite_by_code_hash(&self, code_hash: &str) -> $crate::Result<Option<$crate::social::InviteRecord>> {
                sqlx::query_as::<_, $crate::social::InviteRow>(concat!(
                    "SELECT ", $crate::social::invite_columns!(), " WHERE i.code_hash = $1"
                ))
                .bind(code_hash)
                .fetch_optional(&self.pool)
                .await?
                .map($crate::social::InviteRow::into_record)
                .transpose()
            }

            async fn pending_invites(&self, player: uuid::Uuid, now_ms: i64) -> $crate::Result<Vec<$crate::social::InviteRecord>> {
                let rows: Vec<$crate::social::InviteRow> = sqlx::query_as(concat!(
                    "SELECT ", $crate::social::invite_columns!(),
                    " WHERE (i.to_id = $1 OR i.from_id = $1) AND i.state = 'pending' AND i.expires_at > $2 \
                     ORDER BY i.created_at DESC, i.id DESC"
                ))
                .bind(player.to_string())
                .bind(now_ms)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::social::InviteRow::into_record).collect()
            }

            async fn finish_invite(&self, id: uuid::Uuid, to: $crate::social::InviteState, now_ms: i64) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE invites SET state = $2 WHERE id = $1 AND state = 'pending' AND expires_at > $3",
                )
                .bind(id.to_string())
                .bind(to.as_str())
                .bind(now_ms)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn reopen_invite(&self, id: uuid::Uuid) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE invites SET state = 'pending' WHERE id = $1 AND state = 'accepted'",
                )
                .bind(id.to_string())
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn create_notification(&self, n: $crate::social::NewNotification) -> $crate::Result<$crate::social::NotificationRecord> {
                sqlx::query(
                    "INSERT INTO notifications (id, player_id, kind, payload, created_at, from_id) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(n.id.to_string())
                .bind(n.player_id.to_string())
                .bind(&n.kind)
                .bind(&n.payload)
                .bind(n.created_at_ms)
                .bind(n.from_id.map(|f| f.to_string()))
                .execute(self.writer())
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => $crate::StoreError::NotFound,
                    _ => $crate::sql::map_conflict(e),
                })?;
                Ok($crate::social::NotificationRecord {
                    id: n.id,
                    player_id: n.player_id,
                    kind: n.kind,
                    payload: n.payload,
                    created_at_ms: n.created_at_ms,
                    read_at_ms: None,
                })
            }

            async fn create_notifications(
                &self,
                batch: Vec<$crate::social::NewNotification>,
            ) -> $crate::Result<Vec<$crate::social::NotificationRecord>> {
                let mut tx = self.begin_write().await?;
                for n in &batch {
                    sqlx::query(
                        "INSERT INTO notifications (id, player_id, kind, payload, created_at, from_id) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(n.id.to_string())
                    .bind(n.player_id.to_string())
                    .bind(&n.kind)
                    .bind(&n.payload)
                    .bind(n.created_at_ms)
                    .bind(n.from_id.map(|f| f.to_string()))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_foreign_key_violation() => $crate::StoreError::NotFound,
                        _ => $crate::sql::map_conflict(e),
                    })?;
                }
                tx.commit().await?;
                Ok(batch
                    .into_iter()
                    .map(|n| $crate::social::NotificationRecord {
                        id: n.id,
                        player_id: n.player_id,
                        kind: n.kind,
                        payload: n.payload,
                        created_at_ms: n.created_at_ms,
                        read_at_ms: None,
                    })
                    .collect())
            }

            async fn notifications(
                &self,
                player: uuid::Uuid,
                before: Option<uuid::Uuid>,
                unread_only: bool,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::social::NotificationRecord>> {
                let rows: Vec<$crate::social::NotificationRow> = sqlx::query_as(
                    "SELECT id, player_id, kind, payload, created_at, read_at FROM notifications \
                     WHERE player_id = $1 AND ($2 IS NULL OR id < $2) AND (NOT $3 OR read_at IS NULL) \
                     AND (from_id IS NULL OR from_id NOT IN \
                          (SELECT blocked_id FROM chat_blocks WHERE player_id = $1)) \
                     ORDER BY id DESC LIMIT $4",
                )
                .bind(player.to_string())
                .bind(before.map(|b| b.to_string()))
                .bind(unread_only)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::social::NotificationRow::into_record).collect()
            }

            async fn mark_notifications_read(
                &self,
                player: uuid::Uuid,
                ids: Option<&[uuid::Uuid]>,
                now_ms: i64,
            ) -> $crate::Result<u64> {
                match ids {
                    None => {
                        let done = sqlx::query(
                            "UPDATE notifications SET read_at = $2 WHERE player_id = $1 AND read_at IS NULL",
                        )
                        .bind(player.to_string())
                        .bind(now_ms)
                        .execute(self.writer())
                        .await?;
                        Ok(done.rows_affected())
                    }
                    Some(ids) => {
                        let mut tx = self.begin_write().await?;
                        let mut n = 0;
                        for id in ids {
                            let done = sqlx::query(
                                "UPDATE notifications SET read_at = $3 \
                                 WHERE player_id = $1 AND id = $2 AND read_at IS NULL",
                            )
                            .bind(player.to_string())
                            .bind(id.to_string())
                            .bind(now_ms)
                            .execute(&mut *tx)
                            .await?;
                            n += done.rows_affected();
                        }
                        tx.commit().await?;
                        Ok(n)
                    }
                }
            }

            async fn unread_notifications(&self, player: uuid::Uuid) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM notifications WHERE player_id = $1 AND read_at IS NULL \
                     AND (from_id IS NULL OR from_id NOT IN \
                          (SELECT blocked_id FROM chat_blocks WHERE player_id = $1))",
                )
                .bind(player.to_string())
                .fetch_one(&self.pool)
                .await?)
            }
        }

        impl $store {
            async fn social_befriend(
                tx: &mut sqlx::Transaction<'static, $db>,
                a: uuid::Uuid,
                b: uuid::Uuid,
                now_ms: i64,
            ) -> $crate::Result<()> {
                for (x, y) in [(a, b), (b, a)] {
                    sqlx::query(
                        "INSERT INTO friendships (player_id, friend_id, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (player_id, friend_id) DO NOTHING",
                    )
                    .bind(x.to_string())
                    .bind(y.to_string())
                    .bind(now_ms)
                    .execute(&mut **tx)
                    .await?;
                }
                // A request the other way is answered too.
                sqlx::query("DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2")
                    .bind(b.to_string())
                    .bind(a.to_string())
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_social;

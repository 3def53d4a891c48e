//! Versus storage: the [`Store`] interface and its two implementations, SQLite (the embedded
//! default) and PostgreSQL (scale-out).
//!
//! This crate owns the schema (each backend has its own migrations under `migrations/`,
//! embedded in the binary and applied on connect) and every SQL statement. It knows nothing of
//! HTTP, WebSockets or game rules: it stores and loads records. Both backends pass the same
//! conformance suite (`tests/conformance.rs`).
//!
//! Representation shared by both backends: ids are UUIDs stored as TEXT, times are integer
//! milliseconds since the Unix epoch, JSON documents are TEXT. Because the representation is
//! the same, statements that are valid in both dialects are written once (see `sql.rs`) and
//! compiled separately for each backend's types; dialect-specific statements live in
//! `sqlite.rs` and `postgres.rs`.

// No `unwrap`/`expect` outside tests (no panic may depend on what a client sent);
// each remaining one is allowed where it is, with its reason. Tests may use both.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod matchmaking;
mod postgres;
mod ratings;
mod records;
pub mod social;
mod sql;
mod sqlite;
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

pub use matchmaking::{MatchPlan, NewTicket, Planner, TicketRecord};
pub use records::*;
pub use social::{
    AnnouncedPresence, FriendRecord, FriendRequestOutcome, FriendRequestRecord, InviteRecord,
    InviteState, NewInvite, NewNotification, NotificationRecord, SocialStore,
};

/// What can go wrong in the store. Callers map these to client errors; `Database` is an
/// internal error and must never reach a client verbatim.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the username is taken")]
    UsernameTaken,
    #[error("the email address is taken")]
    EmailTaken,
    #[error("not found")]
    NotFound,
    /// The append carried a fencing number that is no longer the game's: another node owns
    /// the game now.
    #[error("fenced: the lease of the game has moved on")]
    Fenced,
    /// A uniqueness rule of the journal was broken (duplicate seq or client move id).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid database url: {0}")]
    InvalidUrl(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which implementation is behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The storage interface. Every method is one short transaction (or one statement).
#[async_trait]
pub trait Store: SocialStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// A trivial round trip, for readiness checks.
    async fn ping(&self) -> Result<()>;

    /// Closes the pool, waiting for checked-out connections to return.
    async fn close(&self);

    // --- players ---------------------------------------------------------------------------

    /// Inserts a player. `UsernameTaken` / `EmailTaken` when the (case-folded) value exists.
    async fn create_player(&self, new: NewPlayer) -> Result<PlayerRecord>;
    async fn player_by_id(&self, id: Uuid) -> Result<Option<PlayerRecord>>;
    /// Case-insensitive.
    async fn player_by_username(&self, username: &str) -> Result<Option<PlayerRecord>>;
    /// The player whose email index (`SealedEmail::index`) is `index`.
    async fn player_by_email_index(&self, index: &str) -> Result<Option<PlayerRecord>>;
    /// Up to `limit` rows whose address is still in clear or, with `current_key` (a key id),
    /// sealed under another key.
    async fn emails_to_reseal(
        &self,
        current_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<EmailToReseal>>;
    /// Stores `email` as the player's sealed address and clears any address in clear.
    /// `EmailTaken` when another player holds the index.
    async fn set_sealed_email(&self, player: Uuid, email: SealedEmail) -> Result<()>;
    /// Applies the fields that are `Some`; returns the updated player (`NotFound` if gone).
    async fn update_profile(
        &self,
        id: Uuid,
        update: ProfileUpdate,
        now_ms: i64,
    ) -> Result<PlayerRecord>;
    /// Replaces the password hash and revokes every token of the player except `keep_token`,
    /// in one transaction.
    async fn change_password(
        &self,
        id: Uuid,
        password_hash: &str,
        keep_token: Option<&str>,
        now_ms: i64,
    ) -> Result<()>;

    // --- tokens ----------------------------------------------------------------------------

    async fn create_token(&self, token: NewToken) -> Result<()>;
    /// The live (not revoked, not expired at `now_ms`) token with this hash, and its player.
    async fn token_player(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<(TokenRecord, PlayerRecord)>>;
    /// Revokes one token. Returns whether a live token was revoked.
    async fn revoke_token(&self, token_hash: &str, now_ms: i64) -> Result<bool>;
    /// Revokes every live token of a player; returns how many.
    async fn revoke_all_tokens(&self, player_id: Uuid, now_ms: i64) -> Result<u64>;

    // --- games, sessions and the journal ---------------------------------------------------

    /// Inserts a game and its first session (with seats and first events), in one transaction,
    /// and makes that session the game's current one. The bundle's events must be numbered
    /// 1, 2, … (the session's `last_seq` becomes the last of them); a malformed bundle or a
    /// duplicate id is a `Conflict` and writes nothing.
    async fn create_game(&self, game: NewGame, first: NewSessionBundle) -> Result<()>;
    async fn game(&self, id: Uuid) -> Result<Option<GameRecord>>;
    async fn session(&self, id: Uuid) -> Result<Option<SessionRecord>>;
    /// The seats of a session, ordered by seat.
    async fn seats(&self, session_id: Uuid) -> Result<Vec<SeatRecord>>;
    /// The journal of a session after `after_seq`, ordered by seq.
    async fn journal(&self, session_id: Uuid, after_seq: i64) -> Result<Vec<EventRecord>>;
    /// Appends entries (of any sessions) in ONE transaction: all commit or none. This is the
    /// group commit: the journal writer batches the appends of many games into one call.
    /// A duplicate `(session_id, seq)` or `(session_id, player_id, client_move_id)` fails the
    /// whole call with `Conflict`, and so does an event whose seq is not exactly its session's
    /// `last_seq + 1` at that point of the batch (entries of one session may appear several
    /// times, in seq order). An event of an unknown session, or a seat result for an empty
    /// seat, is `NotFound`. Either way nothing of the call is committed.
    async fn append_journal(&self, entries: &[JournalEntry]) -> Result<()>;
    /// A page of games with their current session, newest first.
    async fn list_games(&self, query: &LobbyQuery) -> Result<Vec<LobbyEntry>>;
    /// Sessions in state `in_progress` or `waiting` (resumed at start-up).
    async fn live_sessions(&self) -> Result<Vec<SessionRecord>>;
    /// Records that `node_id` was alive at `at_ms` (so downtime can be measured after a crash).
    async fn record_heartbeat(&self, node_id: &str, at_ms: i64) -> Result<()>;
    async fn last_heartbeat(&self, node_id: &str) -> Result<Option<i64>>;

    // --- leases (ownership of live games) ---------------------------------------------------

    /// Takes the game's lease for `node` if it is free (expired or released) or already
    /// `node`'s; the fencing number grows by one on every acquisition.
    async fn acquire_lease(
        &self,
        game_id: Uuid,
        node: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome>;
    /// Extends every lease `node` holds; returns the games whose lease it still holds.
    async fn renew_leases(&self, node: &str, now_ms: i64, ttl_ms: i64) -> Result<Vec<Uuid>>;
    /// Lets go of one lease (if still held with `fence`), on purpose.
    async fn release_lease(&self, game_id: Uuid, node: &str, fence: i64, now_ms: i64)
    -> Result<()>;
    /// Lets go of every lease `node` holds (start-up after a crash, drain). With
    /// `on_purpose = false` the release is recorded as a crash (the holder did not hand over).
    async fn release_all_leases(&self, node: &str, now_ms: i64, on_purpose: bool) -> Result<u64>;
    /// Games whose current session is in progress and whose lease has expired: nobody runs
    /// their clocks. At most `limit`.
    async fn orphaned_games(&self, now_ms: i64, limit: i64) -> Result<Vec<Uuid>>;

    // --- ratings, statistics and leaderboards (issue 7) ------------------------------------
    //
    // Written only by `append_journal`: an entry whose session update moves the session to
    // `finished` (with seat results) records every seated player's statistics for the game's
    // kind and, for a rated game, the Glicko-2 ratings (two players: `rate_pair`; more: `rate_group`) (`versus_rules::rating`),
    // in the same transaction. The journal's seq guard makes that exactly-once.

    /// A player's ratings and statistics, one per kind played (ordered by kind).
    async fn player_ratings(&self, player_id: Uuid) -> Result<Vec<RatingRecord>>;
    /// A page of a kind's leaderboard (players with at least one rated game), best first.
    async fn leaderboard(&self, kind: &str, limit: i64, offset: i64)
    -> Result<Vec<LeaderboardRow>>;
    /// A page of a kind's points leaderboard (real-time kinds: points scored over all
    /// finished sessions), most points first, ties by player id.
    async fn points_leaderboard(
        &self,
        kind: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<PointsRow>>;
    /// How many players the kind's leaderboard holds.
    async fn leaderboard_size(&self, kind: &str) -> Result<i64>;
    /// The player's line of the kind's leaderboard (`None` without a rated game). The rank
    /// is computed from per-score counts, not by scanning the table.
    async fn leaderboard_entry(
        &self,
        kind: &str,
        player_id: Uuid,
    ) -> Result<Option<LeaderboardRow>>;
    /// The player's line with up to `radius` lines above and below it, best first (`None`
    /// without a rated game).
    async fn leaderboard_around(
        &self,
        kind: &str,
        player_id: Uuid,
        radius: i64,
    ) -> Result<Option<Vec<LeaderboardRow>>>;
    /// A page of the player's finished sessions, newest first.
    async fn player_history(&self, query: &HistoryQuery) -> Result<Vec<HistoryEntry>>;
    /// The player's rating after each of their last `limit` rated sessions of a kind, oldest
    /// first.
    async fn rating_history(
        &self,
        player_id: Uuid,
        kind: &str,
        limit: i64,
    ) -> Result<Vec<RatingPoint>>;

    // --- chat (issue 8) --------------------------------------------------------------------

    /// Appends an entry to a room, assigning the room's next seq in the same transaction (the
    /// room's counter row is the one writer: seqs are gap-free and commit in seq order). A
    /// `Deletion` also marks its `target_seq` deleted (clearing its body) and is `NotFound`
    /// unless that is a live message by the same author; nothing is written then.
    async fn append_chat(&self, entry: NewChatEntry) -> Result<ChatRecord>;
    /// Appends several entries in ONE transaction (group commit of the system messages): as
    /// if each were given to [`Store::append_chat`] in order, but all or nothing. Each room's
    /// counter row is advanced once by its number of entries, so a room's entries get its next
    /// seqs in the order given, gap-free, even while other nodes append to the same room. The
    /// records come back in the order given. Deletions are not batched: an entry of kind
    /// `Deletion` fails the whole call with `Conflict` and nothing is written.
    async fn append_chat_batch(&self, entries: &[NewChatEntry]) -> Result<Vec<ChatRecord>>;
    /// The room's last seq (0 for a room with no entries).
    async fn chat_last_seq(&self, room: &str) -> Result<i64>;
    /// Up to `limit` entries with seq > `after`, oldest first.
    async fn chat_after(&self, room: &str, after: i64, limit: i64) -> Result<Vec<ChatRecord>>;
    /// The last `limit` entries with seq < `before`, oldest first.
    async fn chat_before(&self, room: &str, before: i64, limit: i64) -> Result<Vec<ChatRecord>>;
    async fn chat_entry(&self, room: &str, seq: i64) -> Result<Option<ChatRecord>>;
    /// `player` blocks `blocked` (idempotent).
    async fn block_player(&self, player: Uuid, blocked: Uuid, now_ms: i64) -> Result<()>;
    /// Returns whether a block was removed.
    async fn unblock_player(&self, player: Uuid, blocked: Uuid) -> Result<bool>;
    /// The players `player` blocks.
    async fn blocked_players(&self, player: Uuid) -> Result<Vec<Uuid>>;
    /// Mutes `player` until `until_ms` (replacing any mute).
    async fn mute_player(
        &self,
        player: Uuid,
        until_ms: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<()>;
    /// Returns whether a mute was removed.
    async fn unmute_player(&self, player: Uuid) -> Result<bool>;
    /// The player's mute if it runs at `now_ms`.
    async fn active_mute(&self, player: Uuid, now_ms: i64) -> Result<Option<MuteRecord>>;

    // --- matchmaking (issue 9): see matchmaking.rs ----------------------------------------

    /// Stores a waiting ticket; `Conflict` if the player already has a waiting one of the kind.
    async fn create_ticket(&self, ticket: NewTicket) -> Result<TicketRecord>;
    async fn ticket(&self, id: Uuid) -> Result<Option<TicketRecord>>;
    /// The player's waiting ticket of the kind, if any.
    async fn waiting_ticket(&self, player: Uuid, kind: &str) -> Result<Option<TicketRecord>>;
    /// Moves the player's waiting ticket to `state` (`cancelled`); false if it was not waiting.
    async fn end_ticket(&self, id: Uuid, player: Uuid, state: &str, now_ms: i64) -> Result<bool>;
    /// Pushes the waiting tickets of these players alive until `until_ms`.
    async fn keep_tickets_alive(&self, players: &[Uuid], until_ms: i64) -> Result<u64>;
    /// Expires the waiting tickets nobody kept alive; returns them.
    async fn expire_tickets(&self, now_ms: i64) -> Result<Vec<TicketRecord>>;
    /// The pools with a waiting ticket.
    async fn waiting_pools(&self) -> Result<Vec<String>>;
    /// One pairing pass over a pool, in one transaction holding the pool's lock: the planner
    /// chooses the pairs; each pair's game is created and both tickets marked `matched`.
    async fn pair_tickets(
        &self,
        pool: &str,
        now_ms: i64,
        planner: &Planner,
    ) -> Result<Vec<MatchPlan>>;
}

/// A shared handle to whichever store the configuration chose.
pub type DynStore = Arc<dyn Store>;

/// Options for [`connect`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `sqlite://path/to/file.db` or `postgres://…`.
    pub url: String,
    /// Pool size upper bound.
    pub max_connections: u32,
}

/// Opens the store named by `opts.url`, creating the SQLite file if needed, and applies
/// pending migrations.
pub async fn connect(opts: &ConnectOptions) -> Result<DynStore> {
    if opts.url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::connect(opts).await?))
    } else if opts.url.starts_with("postgres:") || opts.url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::connect(opts).await?))
    } else {
        Err(StoreError::InvalidUrl(
            "the database url must start with sqlite:// or postgres://".into(),
        ))
    }
}

/// Maps a unique-constraint violation on players to the matching domain error.
fn map_player_unique(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        let what = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
        if what.contains("username") {
            return StoreError::UsernameTaken;
        }
        if what.contains("email") {
            return StoreError::EmailTaken;
        }
    }
    StoreError::Database(err)
}

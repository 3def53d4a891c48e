//! Statements valid in both SQLite and PostgreSQL, written once.
//!
//! [`impl_common_store!`] expands to the `Store` implementation for a backend type that has a
//! `pool: sqlx::Pool<DB>` field. Each expansion is compiled against that backend's own types,
//! so a statement is still type-checked per backend and exercised by the conformance suite on
//! both; nothing goes through `sqlx::Any`.

use std::fmt::Write as _;

use uuid::Uuid;

use crate::{
    EventRecord, GameRecord, LobbyQuery, NewSessionBundle, PlayerRecord, SeatRecord, SessionRecord,
    StoreError, TokenRecord,
};

/// The player columns every player query selects (a macro so `concat!` can build `'static`
/// statements: sqlx 0.9 accepts only audited, non-dynamic SQL).
macro_rules! player_columns {
    () => {
        "p.id, p.username, p.email_sealed, p.password_hash, p.display_name, p.bio, p.avatar_url, p.guest, p.created_at"
    };
}
pub(crate) use player_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PlayerRow {
    id: String,
    username: String,
    email_sealed: Option<String>,
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
            email_sealed: self.email_sealed,
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

/// The game columns, prefixed `g_` (the table is aliased `g`).
macro_rules! game_columns {
    () => {
        "g.id AS g_id, g.kind AS g_kind, g.name AS g_name, g.description AS g_description, \
         g.settings AS g_settings, g.visibility AS g_visibility, g.rated AS g_rated, \
         g.created_by AS g_created_by, g.created_at AS g_created_at, \
         g.current_session_id AS g_current_session_id"
    };
}
pub(crate) use game_columns;

/// The session columns, prefixed `s_` (the table is aliased `s`).
macro_rules! session_columns {
    () => {
        "s.id AS s_id, s.game_id AS s_game_id, s.number AS s_number, s.state AS s_state, \
         s.start_time AS s_start_time, s.end_time AS s_end_time, s.result AS s_result, \
         s.last_seq AS s_last_seq, s.created_at AS s_created_at"
    };
}
pub(crate) use session_columns;

/// The seat columns (`player_game_sessions ps JOIN players p`).
macro_rules! seat_columns {
    () => {
        "ps.game_session_id AS session_id, ps.seat, ps.player_id, p.username, ps.result, \
         ps.score, ps.joined_at"
    };
}
pub(crate) use seat_columns;

/// The journal columns.
macro_rules! event_columns {
    () => {
        "session_id, seq, at_ms, event_type, player_id, client_move_id, payload"
    };
}
pub(crate) use event_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct GameRow {
    g_id: String,
    g_kind: String,
    g_name: String,
    g_description: Option<String>,
    g_settings: String,
    g_visibility: String,
    g_rated: bool,
    g_created_by: String,
    g_created_at: i64,
    g_current_session_id: Option<String>,
}

impl GameRow {
    pub(crate) fn into_record(self) -> Result<GameRecord, StoreError> {
        Ok(GameRecord {
            id: parse_id(&self.g_id)?,
            kind: self.g_kind,
            name: self.g_name,
            description: self.g_description,
            settings: self.g_settings,
            visibility: self.g_visibility,
            rated: self.g_rated,
            created_by: parse_id(&self.g_created_by)?,
            created_at_ms: self.g_created_at,
            current_session_id: self
                .g_current_session_id
                .as_deref()
                .map(parse_id)
                .transpose()?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionRow {
    s_id: String,
    s_game_id: String,
    s_number: i64,
    s_state: String,
    s_start_time: Option<i64>,
    s_end_time: Option<i64>,
    s_result: Option<String>,
    s_last_seq: i64,
    s_created_at: i64,
}

impl SessionRow {
    pub(crate) fn into_record(self) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            id: parse_id(&self.s_id)?,
            game_id: parse_id(&self.s_game_id)?,
            number: self.s_number,
            state: self.s_state,
            start_time_ms: self.s_start_time,
            end_time_ms: self.s_end_time,
            result: self.s_result,
            last_seq: self.s_last_seq,
            created_at_ms: self.s_created_at,
        })
    }
}

/// A lobby row: a game joined with its current session.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct GameSessionRow {
    #[sqlx(flatten)]
    game: GameRow,
    #[sqlx(flatten)]
    session: SessionRow,
}

impl GameSessionRow {
    pub(crate) fn into_records(self) -> Result<(GameRecord, SessionRecord), StoreError> {
        Ok((self.game.into_record()?, self.session.into_record()?))
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SeatRow {
    session_id: String,
    seat: i64,
    player_id: String,
    username: String,
    result: Option<String>,
    score: Option<f64>,
    joined_at: i64,
}

impl SeatRow {
    pub(crate) fn into_record(self) -> Result<SeatRecord, StoreError> {
        Ok(SeatRecord {
            session_id: parse_id(&self.session_id)?,
            seat: self.seat,
            player_id: parse_id(&self.player_id)?,
            username: self.username,
            result: self.result,
            score: self.score,
            joined_at_ms: self.joined_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    session_id: String,
    seq: i64,
    at_ms: i64,
    event_type: String,
    player_id: Option<String>,
    client_move_id: Option<String>,
    payload: String,
}

impl EventRow {
    pub(crate) fn into_record(self) -> Result<EventRecord, StoreError> {
        Ok(EventRecord {
            session_id: parse_id(&self.session_id)?,
            seq: self.seq,
            at_ms: self.at_ms,
            event_type: self.event_type,
            player_id: self.player_id.as_deref().map(parse_id).transpose()?,
            client_move_id: self.client_move_id,
            payload: self.payload,
        })
    }
}

/// Checks a new session's bundle before anything is written: its seats and events belong to
/// it, and its events are numbered 1, 2, … without gaps. Returns the session's `last_seq`.
pub(crate) fn bundle_last_seq(bundle: &NewSessionBundle) -> Result<i64, StoreError> {
    let id = bundle.session.id;
    if let Some(seat) = bundle.seats.iter().find(|s| s.session_id != id) {
        return Err(StoreError::Conflict(format!(
            "new session {id}: seat {} names session {}",
            seat.seat, seat.session_id
        )));
    }
    let mut last_seq = 0;
    for event in &bundle.events {
        if event.session_id != id || event.seq != last_seq + 1 {
            return Err(StoreError::Conflict(format!(
                "new session {id}: expected event seq {} of this session, got seq {} of session {}",
                last_seq + 1,
                event.seq,
                event.session_id
            )));
        }
        last_seq = event.seq;
    }
    Ok(last_seq)
}

/// The row counts of the multi-row journal statements: a run of `n` rows is written as
/// chunks of these sizes (largest first), so each backend keeps a handful of prepared
/// statements instead of one per batch size.
pub(crate) const BULK_CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// Is `entry` a plain append (an event, perhaps changing its session's columns), which the
/// multi-row statements can write? Seats, results and new sessions go one by one.
pub(crate) fn is_plain_append(entry: &crate::JournalEntry) -> bool {
    entry.seat.is_none() && entry.seat_results.is_empty() && entry.new_session.is_none()
}

/// One session's part of a run of plain appends: its seq advances from `prev` to `last`, and
/// its columns take the last value each entry set.
#[derive(Debug)]
pub(crate) struct SessionAdvance {
    pub(crate) id: String,
    pub(crate) prev: i64,
    pub(crate) last: i64,
    pub(crate) state: Option<String>,
    pub(crate) start_time: Option<i64>,
    pub(crate) end_time: Option<i64>,
    pub(crate) result: Option<String>,
    pub(crate) fence: Option<i64>,
}

/// The sessions all of whose entries in `entries` are plain appends ([`is_plain_append`]).
pub(crate) fn plain_sessions(entries: &[crate::JournalEntry]) -> std::collections::HashSet<Uuid> {
    let mut plain = std::collections::HashSet::with_capacity(entries.len());
    let mut not = std::collections::HashSet::new();
    for e in entries {
        if is_plain_append(e) {
            if !not.contains(&e.event.session_id) {
                plain.insert(e.event.session_id);
            }
        } else {
            plain.remove(&e.event.session_id);
            not.insert(e.event.session_id);
        }
    }
    plain
}

/// Groups a run of plain appends by session, in first-appearance order. `None` when the run
/// cannot be written by the multi-row statements (a session's seqs not consecutive within the
/// run, or two fences for one session): the caller then appends entry by entry, which says why.
pub(crate) fn session_advances(run: &[&crate::JournalEntry]) -> Option<Vec<SessionAdvance>> {
    let mut out: Vec<SessionAdvance> = Vec::new();
    let mut index: std::collections::HashMap<Uuid, usize> =
        std::collections::HashMap::with_capacity(run.len());
    for &entry in run {
        let e = &entry.event;
        let at = match index.get(&e.session_id) {
            Some(&at) => {
                let g = &out[at];
                if e.seq != g.last + 1 || entry.fence != g.fence {
                    return None;
                }
                at
            }
            None => {
                index.insert(e.session_id, out.len());
                out.push(SessionAdvance {
                    id: e.session_id.to_string(),
                    prev: e.seq.checked_sub(1)?,
                    last: e.seq,
                    state: None,
                    start_time: None,
                    end_time: None,
                    result: None,
                    fence: entry.fence,
                });
                out.len() - 1
            }
        };
        let g = &mut out[at];
        g.last = e.seq;
        if let Some(u) = &entry.session {
            g.state = Some(u.state.clone());
            g.start_time = u.start_time_ms.or(g.start_time);
            g.end_time = u.end_time_ms.or(g.end_time);
            g.result = u.result.clone().or(g.result.take());
        }
    }
    Some(out)
}

/// Whether `DB` should get its multi-row statements with anonymous parameters
/// ([`anonymous_params`]): SQLite.
pub(crate) fn anonymous<DB: sqlx::Database>() -> bool {
    DB::NAME == "SQLite"
}

/// `sql` with every `$N` replaced by an anonymous `?`. SQLite finds the name of a numbered
/// parameter, which sqlx asks for as it binds each one, by a linear scan of the statement's
/// names: binding a statement of N numbered parameters costs O(N²) (a 64-row journal insert has
/// 448; the lookups were 3–4 % of the server's CPU in the durable benchmark). Anonymous
/// parameters have no name and bind by position. Only for SQL whose `$N` appear once each, in
/// the order 1, 2, 3, … (the multi-row builders here), so positions and numbers agree.
pub(crate) fn anonymous_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut expected = 1u64;
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut n = 0u64;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = n * 10 + u64::from(d);
                chars.next();
            }
            debug_assert_eq!(n, expected, "parameters out of order in {sql}");
            expected += 1;
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// `UPDATE game_sessions … FROM (VALUES …)` for `n` sessions: each advances from its `prev`
/// seq to its `last` (the append guard of [`Store::append_journal`], for many sessions at
/// once) under its fence, if any. Columns of a `VALUES` list are `column1…` in both dialects.
pub(crate) fn advance_sessions_sql(n: usize, anonymous: bool) -> &'static str {
    static SQL: std::sync::LazyLock<[Vec<String>; 2]> = std::sync::LazyLock::new(|| {
        let numbered: Vec<String> = BULK_CHUNKS
            .iter()
            .map(|&n| {
                let mut rows = String::new();
                for i in 0..n {
                    let b = i * 8;
                    let _ = write!(
                        rows,
                        "{}(CAST(${} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS TEXT), \
                         CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS BIGINT))",
                        if i == 0 { "" } else { ", " },
                        b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8
                    );
                }
                format!(
                    "UPDATE game_sessions SET last_seq = v.column3, \
                     state = COALESCE(v.column4, game_sessions.state), \
                     start_time = COALESCE(v.column5, game_sessions.start_time), \
                     end_time = COALESCE(v.column6, game_sessions.end_time), \
                     result = COALESCE(v.column7, game_sessions.result) \
                     FROM (VALUES {rows}) AS v \
                     WHERE game_sessions.id = v.column1 AND game_sessions.last_seq = v.column2 \
                     AND (v.column8 IS NULL OR EXISTS (SELECT 1 FROM games g \
                          WHERE g.id = game_sessions.game_id AND g.lease_fence = v.column8))"
                )
            })
            .collect();
        let anonymous = numbered.iter().map(|sql| anonymous_params(sql)).collect();
        [numbered, anonymous]
    });
    chunk_sql(&SQL[usize::from(anonymous)], n)
}

/// A multi-row `INSERT INTO journal_events` of `n` events.
pub(crate) fn insert_events_sql(n: usize, anonymous: bool) -> &'static str {
    static SQL: std::sync::LazyLock<[Vec<String>; 2]> = std::sync::LazyLock::new(|| {
        let numbered: Vec<String> = BULK_CHUNKS
            .iter()
            .map(|&n| {
                let mut sql = concat!(
                    "INSERT INTO journal_events (",
                    event_columns!(),
                    ") VALUES "
                )
                .to_owned();
                for i in 0..n {
                    let b = i * 7;
                    let _ = write!(
                        sql,
                        "{}(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        if i == 0 { "" } else { ", " },
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7
                    );
                }
                sql
            })
            .collect();
        let anonymous = numbered.iter().map(|sql| anonymous_params(sql)).collect();
        [numbered, anonymous]
    });
    chunk_sql(&SQL[usize::from(anonymous)], n)
}

fn chunk_sql(sql: &'static [String], n: usize) -> &'static str {
    let at = BULK_CHUNKS
        .iter()
        .position(|&c| c == n)
        .unwrap_or(BULK_CHUNKS.len() - 1);
    sql.get(at).map_or("", String::as_str)
}

/// Splits `len` rows into chunks of [`BULK_CHUNKS`] sizes, largest first.
pub(crate) fn bulk_chunks(mut len: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for &c in &BULK_CHUNKS {
        while len >= c {
            out.push(c);
            len -= c;
        }
    }
    out
}

/// Maps a unique-constraint violation of the game tables or the journal to `Conflict`.
pub(crate) fn map_conflict(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        return StoreError::Conflict(match db.constraint() {
            Some(c) => format!("{c}: {}", db.message()),
            None => db.message().to_owned(),
        });
    }
    StoreError::Database(err)
}

/// The lobby page query for `q`. Only the filters in use appear, so each of the few shapes
/// gets its own (index-friendly) plan; every value is a bound parameter, bound in this order:
/// state, kind, player id, limit, offset (the absent ones skipped).
pub(crate) fn lobby_sql(q: &LobbyQuery) -> String {
    // With a player, start from their seats (indexed by player): a player sits in a handful
    // of sessions, while the other filters (state, kind, visibility) match a share of all
    // games. The open-games quota asks this at every create and join.
    let from = if q.player_id.is_some() {
        // CROSS JOIN: SQLite keeps this join order (its planner would rather start from the
        // state index); PostgreSQL plans it like any inner join.
        " FROM player_game_sessions ps CROSS JOIN game_sessions s CROSS JOIN games g \
         WHERE s.id = ps.game_session_id AND g.id = s.game_id AND g.current_session_id = s.id"
    } else {
        " FROM games g JOIN game_sessions s ON s.id = g.current_session_id WHERE TRUE"
    };
    let mut sql = String::from(concat!(
        "SELECT ",
        game_columns!(),
        ", ",
        session_columns!()
    ));
    sql.push_str(from);
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if !q.include_private {
        sql.push_str(" AND g.visibility = 'public'");
    }
    if q.state.is_some() {
        let _ = write!(sql, " AND s.state = ${}", next());
    }
    if q.kind.is_some() {
        let _ = write!(sql, " AND g.kind = ${}", next());
    }
    if q.player_id.is_some() {
        let _ = write!(sql, " AND ps.player_id = ${}", next());
    }
    let (limit, offset) = (next(), next());
    let _ = write!(
        sql,
        " ORDER BY g.created_at DESC, g.id DESC LIMIT ${limit} OFFSET ${offset}"
    );
    sql
}

/// The seats of `n` sessions (bound as parameters `$1..$n`), ordered by session and seat.
pub(crate) fn seats_of_sessions_sql(n: usize) -> String {
    let mut sql = String::from(concat!(
        "SELECT ",
        seat_columns!(),
        " FROM player_game_sessions ps JOIN players p ON p.id = ps.player_id \
         WHERE ps.game_session_id IN ("
    ));
    for i in 1..=n {
        let _ = write!(sql, "{}${i}", if i > 1 { ", " } else { "" });
    }
    sql.push_str(") ORDER BY ps.game_session_id, ps.seat");
    sql
}

// --- chat (issue 8) ----------------------------------------------------------------------------

/// The chat columns (`chat_messages m LEFT JOIN players p ON p.id = m.author_id`).
macro_rules! chat_columns {
    () => {
        "m.room, m.seq, m.at_ms, m.kind, m.author_id, p.username AS author_username, m.body, \
         m.target_seq, m.deleted"
    };
}
pub(crate) use chat_columns;

/// Rows in one multi-row statement of [`crate::Store::append_chat_batch`], largest first. A
/// batch is cut greedily into chunks of these sizes, so only these few statement texts exist
/// and each stays prepared on its connection (bind parameters: at most 64 × 7).
const CHAT_CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// `n` rows cut into chunk sizes from [`CHAT_CHUNKS`], largest first (they add up to `n`).
pub(crate) fn chat_chunks(mut n: usize) -> Vec<usize> {
    let mut chunks = Vec::new();
    for size in CHAT_CHUNKS {
        while n >= size {
            chunks.push(size);
            n -= size;
        }
    }
    chunks
}

/// `VALUES ($1, $2, …), (…)…`: `rows` rows of `columns` bind parameters (`?` each when
/// `anonymous`: see [`anonymous_params`]).
fn values_sql(rows: usize, columns: usize, anonymous: bool) -> String {
    let mut sql = String::from(" VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            if anonymous {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", row * columns + column + 1));
            }
        }
        sql.push(')');
    }
    sql
}

/// Advances the counter rows of `rows` distinct rooms, each bound as (room, entries): one
/// upsert for all, returning every room's new `last_seq`. The rooms' rows are locked until the
/// commit, like [`crate::Store::append_chat`]'s single-row upsert.
pub(crate) fn chat_rooms_upsert_sql(rows: usize, anonymous: bool) -> String {
    format!(
        "INSERT INTO chat_rooms (room, last_seq){} \
         ON CONFLICT (room) DO UPDATE SET last_seq = chat_rooms.last_seq + excluded.last_seq \
         RETURNING room, last_seq",
        values_sql(rows, 2, anonymous)
    )
}

/// Inserts `rows` chat entries, each bound as (room, seq, at_ms, kind, author_id, body,
/// target_seq).
pub(crate) fn chat_messages_insert_sql(rows: usize, anonymous: bool) -> String {
    format!(
        "INSERT INTO chat_messages (room, seq, at_ms, kind, author_id, body, target_seq){}",
        values_sql(rows, 7, anonymous)
    )
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ChatRow {
    room: String,
    seq: i64,
    at_ms: i64,
    kind: String,
    author_id: Option<String>,
    author_username: Option<String>,
    body: Option<String>,
    target_seq: Option<i64>,
    deleted: bool,
}

impl ChatRow {
    pub(crate) fn into_record(self) -> Result<crate::ChatRecord, StoreError> {
        let kind = crate::ChatKind::parse(&self.kind).ok_or_else(|| {
            StoreError::Database(sqlx::Error::Decode(
                format!("unknown chat kind {}", self.kind).into(),
            ))
        })?;
        Ok(crate::ChatRecord {
            room: self.room,
            seq: self.seq,
            at_ms: self.at_ms,
            kind,
            author_id: self.author_id.as_deref().map(parse_id).transpose()?,
            author_username: self.author_username,
            body: self.body,
            target_seq: self.target_seq,
            deleted: self.deleted,
        })
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
                sqlx::query("SELECT 1").execute(self.writer()).await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
                self.writer().close().await;
            }

            async fn create_player(&self, new: $crate::NewPlayer) -> $crate::Result<$crate::PlayerRecord> {
                sqlx::query(
                    "INSERT INTO players (id, username, username_lower, email_sealed, email_index, \
                     password_hash, guest, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(new.id.to_string())
                .bind(&new.username)
                .bind(new.username.to_lowercase())
                .bind(new.email.as_ref().map(|e| e.sealed.as_str()))
                .bind(new.email.as_ref().map(|e| e.index.as_str()))
                .bind(&new.password_hash)
                .bind(new.guest)
                .bind(new.created_at_ms)
                .execute(self.writer())
                .await
                .map_err($crate::map_player_unique)?;
                Ok($crate::PlayerRecord {
                    id: new.id,
                    username: new.username,
                    email_sealed: new.email.map(|e| e.sealed),
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

            async fn player_by_email_index(&self, index: &str) -> $crate::Result<Option<$crate::PlayerRecord>> {
                let sql = concat!("SELECT ", $crate::sql::player_columns!(), " FROM players p WHERE p.email_index = $1");
                sqlx::query_as::<_, $crate::sql::PlayerRow>(sql)
                    .bind(index)
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::sql::PlayerRow::into_record)
                    .transpose()
            }

            async fn emails_to_reseal(
                &self,
                current_key: Option<&str>,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::EmailToReseal>> {
                // Key ids are [a-z0-9-]: no LIKE wildcard can hide in the pattern.
                let other_key = current_key.map(|k| format!("{k}:%"));
                let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT id, email, email_sealed FROM players \
                     WHERE email IS NOT NULL \
                        OR ($1 IS NOT NULL AND email_sealed IS NOT NULL AND email_sealed NOT LIKE $1) \
                     ORDER BY id LIMIT $2",
                )
                .bind(other_key)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, plain, sealed)| {
                        Ok($crate::EmailToReseal {
                            player_id: $crate::sql::parse_id(&id)?,
                            plain,
                            sealed,
                        })
                    })
                    .collect()
            }

            async fn set_sealed_email(
                &self,
                player: uuid::Uuid,
                email: $crate::SealedEmail,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE players SET email_sealed = $2, email_index = $3, \
                     email = NULL, email_lower = NULL WHERE id = $1",
                )
                .bind(player.to_string())
                .bind(&email.sealed)
                .bind(&email.index)
                .execute(self.writer())
                .await
                .map_err($crate::map_player_unique)?;
                Ok(())
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
                .execute(self.writer())
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
                let mut tx = self.begin_write().await?;
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
                .execute(self.writer())
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
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn revoke_all_tokens(&self, player_id: uuid::Uuid, now_ms: i64) -> $crate::Result<u64> {
                let done = sqlx::query(
                    "UPDATE auth_tokens SET revoked_at = $2 WHERE player_id = $1 AND revoked_at IS NULL",
                )
                .bind(player_id.to_string())
                .bind(now_ms)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected())
            }

            // --- games, sessions and the journal -----------------------------------------

            async fn create_game(
                &self,
                game: $crate::NewGame,
                first: $crate::NewSessionBundle,
            ) -> $crate::Result<()> {
                if first.session.game_id != game.id {
                    return Err($crate::StoreError::Conflict(format!(
                        "the first session of game {} names game {}",
                        game.id, first.session.game_id
                    )));
                }
                let mut tx = self.begin_write().await?;
                Self::insert_game(&mut tx, &game, &first).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn game(&self, id: uuid::Uuid) -> $crate::Result<Option<$crate::GameRecord>> {
                let sql = concat!("SELECT ", $crate::sql::game_columns!(), " FROM games g WHERE g.id = $1");
                sqlx::query_as::<_, $crate::sql::GameRow>(sql)
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::sql::GameRow::into_record)
                    .transpose()
            }

            async fn session(&self, id: uuid::Uuid) -> $crate::Result<Option<$crate::SessionRecord>> {
                let sql = concat!("SELECT ", $crate::sql::session_columns!(), " FROM game_sessions s WHERE s.id = $1");
                sqlx::query_as::<_, $crate::sql::SessionRow>(sql)
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::sql::SessionRow::into_record)
                    .transpose()
            }

            async fn seats(&self, session_id: uuid::Uuid) -> $crate::Result<Vec<$crate::SeatRecord>> {
                let sql = concat!(
                    "SELECT ", $crate::sql::seat_columns!(),
                    " FROM player_game_sessions ps JOIN players p ON p.id = ps.player_id \
                     WHERE ps.game_session_id = $1 ORDER BY ps.seat"
                );
                sqlx::query_as::<_, $crate::sql::SeatRow>(sql)
                    .bind(session_id.to_string())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::sql::SeatRow::into_record)
                    .collect()
            }

            async fn journal(
                &self,
                session_id: uuid::Uuid,
                after_seq: i64,
            ) -> $crate::Result<Vec<$crate::EventRecord>> {
                let sql = concat!(
                    "SELECT ", $crate::sql::event_columns!(),
                    " FROM journal_events WHERE session_id = $1 AND seq > $2 ORDER BY seq"
                );
                sqlx::query_as::<_, $crate::sql::EventRow>(sql)
                    .bind(session_id.to_string())
                    .bind(after_seq)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::sql::EventRow::into_record)
                    .collect()
            }

            async fn append_journal(&self, entries: &[$crate::JournalEntry]) -> $crate::Result<()> {
                if entries.is_empty() {
                    return Ok(());
                }
                // Check the rematch bundles before taking the write lock.
                let bundle_seqs = entries
                    .iter()
                    .map(|e| e.new_session.as_ref().map($crate::sql::bundle_last_seq).transpose())
                    .collect::<$crate::Result<Vec<_>>>()?;
                let mut tx = self.begin_write().await?;
                // Runs of plain appends (moves, ticks: almost every entry) are written with
                // multi-row statements, a few per batch instead of two per entry. If a run's
                // guard refuses anything, the transaction is redone entry by entry, which
                // names the entry and the reason.
                if !Self::append_entries(&mut tx, entries, &bundle_seqs, true).await? {
                    tx.rollback().await?;
                    tx = self.begin_write().await?;
                    Self::append_entries(&mut tx, entries, &bundle_seqs, false).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_games(&self, query: &$crate::LobbyQuery) -> $crate::Result<Vec<$crate::LobbyEntry>> {
                let limit = query.limit.max(0);
                if limit == 0 {
                    return Ok(Vec::new());
                }
                // Built only from fixed fragments and placeholder numbers; values are bound.
                let sql = $crate::sql::lobby_sql(query);
                let mut page = sqlx::query_as::<_, $crate::sql::GameSessionRow>(sqlx::AssertSqlSafe(sql));
                if let Some(state) = &query.state {
                    page = page.bind(state.as_str());
                }
                if let Some(kind) = &query.kind {
                    page = page.bind(kind.as_str());
                }
                if let Some(player) = query.player_id {
                    page = page.bind(player.to_string());
                }
                let rows = page
                    .bind(limit)
                    .bind(query.offset.max(0))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::sql::GameSessionRow::into_records)
                    .collect::<$crate::Result<Vec<_>>>()?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                // One more query for the page's seats. Its shape varies with the page size, so
                // it is not kept as a prepared statement (it would crowd the hot ones out).
                let sql = $crate::sql::seats_of_sessions_sql(rows.len());
                let mut seats_query = sqlx::query_as::<_, $crate::sql::SeatRow>(sqlx::AssertSqlSafe(sql))
                    .persistent(false);
                for (_, session) in &rows {
                    seats_query = seats_query.bind(session.id.to_string());
                }
                let mut seats: std::collections::HashMap<uuid::Uuid, Vec<$crate::SeatRecord>> =
                    std::collections::HashMap::with_capacity(rows.len());
                for row in seats_query.fetch_all(&self.pool).await? {
                    let seat = row.into_record()?;
                    seats.entry(seat.session_id).or_default().push(seat);
                }
                Ok(rows
                    .into_iter()
                    .map(|(game, session)| $crate::LobbyEntry {
                        seats: seats.remove(&session.id).unwrap_or_default(),
                        game,
                        session,
                    })
                    .collect())
            }

            async fn live_sessions(&self) -> $crate::Result<Vec<$crate::SessionRecord>> {
                let sql = concat!(
                    "SELECT ", $crate::sql::session_columns!(),
                    " FROM game_sessions s WHERE s.state IN ('waiting', 'in_progress') \
                     ORDER BY s.created_at, s.id"
                );
                sqlx::query_as::<_, $crate::sql::SessionRow>(sql)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::sql::SessionRow::into_record)
                    .collect()
            }

            async fn record_heartbeat(&self, node_id: &str, at_ms: i64) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO node_heartbeats (node_id, at_ms) VALUES ($1, $2) \
                     ON CONFLICT (node_id) DO UPDATE SET at_ms = excluded.at_ms",
                )
                .bind(node_id)
                .bind(at_ms)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn last_heartbeat(&self, node_id: &str) -> $crate::Result<Option<i64>> {
                Ok(sqlx::query_scalar("SELECT at_ms FROM node_heartbeats WHERE node_id = $1")
                    .bind(node_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn acquire_lease(
                &self,
                game_id: uuid::Uuid,
                node: &str,
                now_ms: i64,
                ttl_ms: i64,
            ) -> $crate::Result<$crate::LeaseOutcome> {
                let id = game_id.to_string();
                // Read the previous holder first, then take the lease with a guarded update
                // that fails if anyone else changed it in between (compare-and-set on fence).
                let current: Option<(Option<String>, i64, i64, i64, bool)> = sqlx::query_as(
                    "SELECT lease_owner, lease_fence, lease_expires_at, lease_renewed_at, lease_released \
                     FROM games WHERE id = $1",
                )
                .bind(&id)
                .fetch_optional(&self.pool)
                .await?;
                let Some((owner, fence, expires_at, renewed_at, released)) = current else {
                    return Ok($crate::LeaseOutcome::NotFound);
                };
                let mine = owner.as_deref() == Some(node);
                if expires_at > now_ms && !mine {
                    return Ok($crate::LeaseOutcome::Held {
                        owner: owner.unwrap_or_default(),
                        expires_at_ms: expires_at,
                    });
                }
                let done = sqlx::query(
                    "UPDATE games SET lease_fence = $3, lease_owner = $2, lease_expires_at = $5, \
                     lease_renewed_at = $4, lease_released = FALSE \
                     WHERE id = $1 AND lease_fence = $6",
                )
                .bind(&id)
                .bind(node)
                .bind(fence + 1)
                .bind(now_ms)
                .bind(now_ms.saturating_add(ttl_ms))
                .bind(fence)
                .execute(self.writer())
                .await?;
                if done.rows_affected() == 0 {
                    // Someone else acquired it between the read and the update.
                    return Box::pin(self.acquire_lease(game_id, node, now_ms, ttl_ms)).await;
                }
                Ok($crate::LeaseOutcome::Acquired {
                    fence: fence + 1,
                    previous_owner: owner,
                    previous_alive_ms: renewed_at,
                    previous_released: released,
                })
            }

            async fn renew_leases(&self, node: &str, now_ms: i64, ttl_ms: i64) -> $crate::Result<Vec<uuid::Uuid>> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "UPDATE games SET lease_expires_at = $3, lease_renewed_at = $2 \
                     WHERE lease_owner = $1 AND lease_released = FALSE AND lease_expires_at > $2 \
                     RETURNING id",
                )
                .bind(node)
                .bind(now_ms)
                .bind(now_ms.saturating_add(ttl_ms))
                .fetch_all(self.writer())
                .await?;
                ids.iter().map(|s| $crate::sql::parse_id(s)).collect()
            }

            async fn release_lease(&self, game_id: uuid::Uuid, node: &str, fence: i64, now_ms: i64) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE games SET lease_expires_at = $4, lease_renewed_at = $4, lease_released = TRUE \
                     WHERE id = $1 AND lease_owner = $2 AND lease_fence = $3",
                )
                .bind(game_id.to_string())
                .bind(node)
                .bind(fence)
                .bind(now_ms)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn release_all_leases(&self, node: &str, now_ms: i64, on_purpose: bool) -> $crate::Result<u64> {
                // After a crash the holder's last renewal stays as "last known alive".
                let done = sqlx::query(
                    "UPDATE games SET lease_expires_at = $2, \
                     lease_renewed_at = CASE WHEN $3 THEN $2 ELSE lease_renewed_at END, \
                     lease_released = $3 \
                     WHERE lease_owner = $1 AND lease_released = FALSE",
                )
                .bind(node)
                .bind(now_ms)
                .bind(on_purpose)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected())
            }

            // --- matchmaking (issue 9): see matchmaking.rs ------------------------------------

            async fn create_ticket(&self, ticket: $crate::NewTicket) -> $crate::Result<$crate::TicketRecord> {
                self.mm_create_ticket(ticket).await
            }

            async fn ticket(&self, id: uuid::Uuid) -> $crate::Result<Option<$crate::TicketRecord>> {
                self.mm_ticket(id).await
            }

            async fn waiting_ticket(&self, player: uuid::Uuid, kind: &str) -> $crate::Result<Option<$crate::TicketRecord>> {
                self.mm_waiting_ticket(player, kind).await
            }

            async fn end_ticket(&self, id: uuid::Uuid, player: uuid::Uuid, state: &str, now_ms: i64) -> $crate::Result<bool> {
                self.mm_end_ticket(id, player, state, now_ms).await
            }

            async fn keep_tickets_alive(&self, players: &[uuid::Uuid], until_ms: i64) -> $crate::Result<u64> {
                self.mm_keep_alive(players, until_ms).await
            }

            async fn expire_tickets(&self, now_ms: i64) -> $crate::Result<Vec<$crate::TicketRecord>> {
                self.mm_expire(now_ms).await
            }

            async fn waiting_pools(&self) -> $crate::Result<Vec<String>> {
                self.mm_waiting_pools().await
            }

            async fn pair_tickets(&self, pool: &str, now_ms: i64, planner: &$crate::Planner) -> $crate::Result<Vec<$crate::MatchPlan>> {
                self.mm_pair(pool, now_ms, planner).await
            }

            // --- ratings, statistics and leaderboards (issue 7): see ratings.rs -------------

            async fn player_ratings(&self, player_id: uuid::Uuid) -> $crate::Result<Vec<$crate::RatingRecord>> {
                self.ratings_player_ratings(player_id).await
            }

            async fn leaderboard(&self, kind: &str, limit: i64, offset: i64) -> $crate::Result<Vec<$crate::LeaderboardRow>> {
                self.ratings_leaderboard(kind, limit, offset).await
            }

            async fn points_leaderboard(&self, kind: &str, limit: i64, offset: i64) -> $crate::Result<Vec<$crate::PointsRow>> {
                let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
                    "SELECT k.player_id, p.username, k.points, k.sessions FROM kind_points k \
                     JOIN players p ON p.id = k.player_id WHERE k.kind = $1 \
                     ORDER BY k.points DESC, k.player_id LIMIT $2 OFFSET $3",
                )
                .bind(kind)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, username, points, sessions)| {
                        Ok($crate::PointsRow {
                            player_id: $crate::sql::parse_id(&id)?,
                            username,
                            points,
                            sessions,
                        })
                    })
                    .collect()
            }

            async fn leaderboard_size(&self, kind: &str) -> $crate::Result<i64> {
                self.ratings_leaderboard_size(kind).await
            }

            async fn leaderboard_entry(&self, kind: &str, player_id: uuid::Uuid) -> $crate::Result<Option<$crate::LeaderboardRow>> {
                self.ratings_leaderboard_entry(kind, player_id).await
            }

            async fn leaderboard_around(
                &self,
                kind: &str,
                player_id: uuid::Uuid,
                radius: i64,
            ) -> $crate::Result<Option<Vec<$crate::LeaderboardRow>>> {
                self.ratings_leaderboard_around(kind, player_id, radius).await
            }

            async fn player_history(&self, query: &$crate::HistoryQuery) -> $crate::Result<Vec<$crate::HistoryEntry>> {
                self.ratings_player_history(query).await
            }

            async fn rating_history(
                &self,
                player_id: uuid::Uuid,
                kind: &str,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::RatingPoint>> {
                self.ratings_rating_history(player_id, kind, limit).await
            }

            // --- end of ratings ---------------------------------------------------------------

            async fn orphaned_games(&self, now_ms: i64, limit: i64) -> $crate::Result<Vec<uuid::Uuid>> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT g.id FROM games g JOIN game_sessions s ON s.id = g.current_session_id \
                     WHERE s.state = 'in_progress' AND g.lease_expires_at <= $1 \
                     ORDER BY g.lease_expires_at LIMIT $2",
                )
                .bind(now_ms)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                ids.iter().map(|s| $crate::sql::parse_id(s)).collect()
            }

            // --- chat (issue 8) ----------------------------------------------------------------

            async fn append_chat(&self, entry: $crate::NewChatEntry) -> $crate::Result<$crate::ChatRecord> {
                let mut tx = self.begin_write().await?;
                if entry.kind == $crate::ChatKind::Deletion {
                    let done = sqlx::query(
                        "UPDATE chat_messages SET deleted = TRUE, body = NULL \
                         WHERE room = $1 AND seq = $2 AND author_id = $3 AND kind = 'message' \
                         AND deleted = FALSE",
                    )
                    .bind(&entry.room)
                    .bind(entry.target_seq)
                    .bind(entry.author_id.map(|a| a.to_string()))
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::NotFound);
                    }
                }
                // The room's one writer: this row stays locked until the commit, so the next
                // append waits and gets the next seq.
                let seq: i64 = sqlx::query_scalar(
                    "INSERT INTO chat_rooms (room, last_seq) VALUES ($1, 1) \
                     ON CONFLICT (room) DO UPDATE SET last_seq = chat_rooms.last_seq + 1 \
                     RETURNING last_seq",
                )
                .bind(&entry.room)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO chat_messages (room, seq, at_ms, kind, author_id, body, target_seq) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&entry.room)
                .bind(seq)
                .bind(entry.at_ms)
                .bind(entry.kind.as_str())
                .bind(entry.author_id.map(|a| a.to_string()))
                .bind(&entry.body)
                .bind(entry.target_seq)
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::map_conflict)?;
                let author_username: Option<String> = match entry.author_id {
                    Some(a) => sqlx::query_scalar("SELECT username FROM players WHERE id = $1")
                        .bind(a.to_string())
                        .fetch_optional(&mut *tx)
                        .await?,
                    None => None,
                };
                tx.commit().await?;
                Ok($crate::ChatRecord {
                    room: entry.room,
                    seq,
                    at_ms: entry.at_ms,
                    kind: entry.kind,
                    author_id: entry.author_id,
                    author_username,
                    body: entry.body,
                    target_seq: entry.target_seq,
                    deleted: false,
                })
            }

            async fn append_chat_batch(
                &self,
                entries: &[$crate::NewChatEntry],
            ) -> $crate::Result<Vec<$crate::ChatRecord>> {
                if entries.is_empty() {
                    return Ok(Vec::new());
                }
                if entries.iter().any(|e| e.kind == $crate::ChatKind::Deletion) {
                    return Err($crate::StoreError::Conflict(
                        "a deletion is appended on its own (append_chat), never in a batch".into(),
                    ));
                }
                // How many entries each room gets. The rooms are locked in name order, the same
                // in every transaction, so two batches on two nodes cannot deadlock on them.
                let mut counts: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
                for e in entries {
                    *counts.entry(e.room.as_str()).or_insert(0) += 1;
                }
                let rooms: Vec<(&str, i64)> = counts.into_iter().collect();
                let mut authors: Vec<uuid::Uuid> = entries.iter().filter_map(|e| e.author_id).collect();
                authors.sort_unstable();
                authors.dedup();

                let mut tx = self.begin_write().await?;
                // The rooms' one writer, as in append_chat: each counter row is advanced by
                // its number of entries and stays locked until the commit; the room's entries
                // take the seqs last_seq - k + 1 ..= last_seq, in the order given.
                let mut next_seq: std::collections::HashMap<String, i64> =
                    std::collections::HashMap::with_capacity(rooms.len());
                let mut at = 0;
                for size in $crate::sql::chat_chunks(rooms.len()) {
                    let chunk = &rooms[at..at + size];
                    at += size;
                    let mut upsert = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(
                        $crate::sql::chat_rooms_upsert_sql(size, $crate::sql::anonymous::<$db>()),
                    ));
                    for (room, k) in chunk {
                        upsert = upsert.bind(*room).bind(*k);
                    }
                    // RETURNING's row order is unspecified: match the rows by room.
                    for (room, last_seq) in upsert.fetch_all(&mut *tx).await? {
                        let k = chunk
                            .iter()
                            .find(|(r, _)| *r == room)
                            .map(|(_, k)| *k)
                            .ok_or_else(|| {
                                $crate::StoreError::Database(sqlx::Error::Protocol(format!(
                                    "the counter upsert returned an unexpected room {room}"
                                )))
                            })?;
                        next_seq.insert(room, last_seq - k + 1);
                    }
                }
                let mut seqs = Vec::with_capacity(entries.len());
                for e in entries {
                    let next = next_seq.get_mut(e.room.as_str()).ok_or_else(|| {
                        $crate::StoreError::Database(sqlx::Error::Protocol(format!(
                            "the counter upsert did not return room {}",
                            e.room
                        )))
                    })?;
                    seqs.push(*next);
                    *next += 1;
                }
                let mut at = 0;
                for size in $crate::sql::chat_chunks(entries.len()) {
                    let mut insert = sqlx::query(sqlx::AssertSqlSafe(
                        $crate::sql::chat_messages_insert_sql(size, $crate::sql::anonymous::<$db>()),
                    ));
                    for (e, seq) in entries[at..at + size].iter().zip(&seqs[at..at + size]) {
                        insert = insert
                            .bind(e.room.as_str())
                            .bind(*seq)
                            .bind(e.at_ms)
                            .bind(e.kind.as_str())
                            .bind(e.author_id.map(|a| a.to_string()))
                            .bind(e.body.as_deref())
                            .bind(e.target_seq);
                    }
                    at += size;
                    insert.execute(&mut *tx).await.map_err($crate::sql::map_conflict)?;
                }
                let mut usernames: std::collections::HashMap<uuid::Uuid, Option<String>> =
                    std::collections::HashMap::with_capacity(authors.len());
                for a in authors {
                    let username: Option<String> =
                        sqlx::query_scalar("SELECT username FROM players WHERE id = $1")
                            .bind(a.to_string())
                            .fetch_optional(&mut *tx)
                            .await?;
                    usernames.insert(a, username);
                }
                tx.commit().await?;
                Ok(entries
                    .iter()
                    .zip(seqs)
                    .map(|(e, seq)| $crate::ChatRecord {
                        room: e.room.clone(),
                        seq,
                        at_ms: e.at_ms,
                        kind: e.kind,
                        author_id: e.author_id,
                        author_username: e.author_id.and_then(|a| usernames.get(&a).cloned().flatten()),
                        body: e.body.clone(),
                        target_seq: e.target_seq,
                        deleted: false,
                    })
                    .collect())
            }

            async fn chat_last_seq(&self, room: &str) -> $crate::Result<i64> {
                let last: Option<i64> =
                    sqlx::query_scalar("SELECT last_seq FROM chat_rooms WHERE room = $1")
                        .bind(room)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(last.unwrap_or(0))
            }

            async fn chat_after(&self, room: &str, after: i64, limit: i64) -> $crate::Result<Vec<$crate::ChatRecord>> {
                let sql = concat!(
                    "SELECT ", $crate::sql::chat_columns!(),
                    " FROM chat_messages m LEFT JOIN players p ON p.id = m.author_id \
                     WHERE m.room = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
                );
                sqlx::query_as::<_, $crate::sql::ChatRow>(sql)
                    .bind(room)
                    .bind(after)
                    .bind(limit.max(0))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::sql::ChatRow::into_record)
                    .collect()
            }

            async fn chat_before(&self, room: &str, before: i64, limit: i64) -> $crate::Result<Vec<$crate::ChatRecord>> {
                let sql = concat!(
                    "SELECT ", $crate::sql::chat_columns!(),
                    " FROM chat_messages m LEFT JOIN players p ON p.id = m.author_id \
                     WHERE m.room = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
                );
                let mut page = sqlx::query_as::<_, $crate::sql::ChatRow>(sql)
                    .bind(room)
                    .bind(before)
                    .bind(limit.max(0))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::sql::ChatRow::into_record)
                    .collect::<$crate::Result<Vec<_>>>()?;
                page.reverse();
                Ok(page)
            }

            async fn chat_entry(&self, room: &str, seq: i64) -> $crate::Result<Option<$crate::ChatRecord>> {
                let sql = concat!(
                    "SELECT ", $crate::sql::chat_columns!(),
                    " FROM chat_messages m LEFT JOIN players p ON p.id = m.author_id \
                     WHERE m.room = $1 AND m.seq = $2"
                );
                sqlx::query_as::<_, $crate::sql::ChatRow>(sql)
                    .bind(room)
                    .bind(seq)
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::sql::ChatRow::into_record)
                    .transpose()
            }

            async fn block_player(&self, player: uuid::Uuid, blocked: uuid::Uuid, now_ms: i64) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO chat_blocks (player_id, blocked_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (player_id, blocked_id) DO NOTHING",
                )
                .bind(player.to_string())
                .bind(blocked.to_string())
                .bind(now_ms)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn unblock_player(&self, player: uuid::Uuid, blocked: uuid::Uuid) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM chat_blocks WHERE player_id = $1 AND blocked_id = $2")
                    .bind(player.to_string())
                    .bind(blocked.to_string())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn blocked_players(&self, player: uuid::Uuid) -> $crate::Result<Vec<uuid::Uuid>> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT blocked_id FROM chat_blocks WHERE player_id = $1 ORDER BY created_at, blocked_id",
                )
                .bind(player.to_string())
                .fetch_all(&self.pool)
                .await?;
                ids.iter().map(|s| $crate::sql::parse_id(s)).collect()
            }

            async fn mute_player(&self, player: uuid::Uuid, until_ms: i64, reason: &str, now_ms: i64) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO chat_mutes (player_id, until_ms, reason, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (player_id) DO UPDATE SET until_ms = $2, reason = $3, created_at = $4",
                )
                .bind(player.to_string())
                .bind(until_ms)
                .bind(reason)
                .bind(now_ms)
                .execute(self.writer())
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => $crate::StoreError::NotFound,
                    _ => $crate::StoreError::Database(e),
                })?;
                Ok(())
            }

            async fn unmute_player(&self, player: uuid::Uuid) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM chat_mutes WHERE player_id = $1")
                    .bind(player.to_string())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn active_mute(&self, player: uuid::Uuid, now_ms: i64) -> $crate::Result<Option<$crate::MuteRecord>> {
                let row: Option<(i64, String)> = sqlx::query_as(
                    "SELECT until_ms, reason FROM chat_mutes WHERE player_id = $1 AND until_ms > $2",
                )
                .bind(player.to_string())
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(until_ms, reason)| $crate::MuteRecord { player_id: player, until_ms, reason }))
            }
        }

        $crate::ratings::impl_ratings!($store, $db);
        $crate::matchmaking::impl_matchmaking!($store, $db);
        $crate::social::impl_social!($store, $db);

        impl $store {
            /// The body of `append_journal`, inside its transaction. With `bulk`, the entries
            /// of every session whose entries in this batch are all plain go through the
            /// multi-row statements (sessions of one batch are independent: an actor has one
            /// append in flight, and a rematch's new session gets no other entry before its
            /// creation commits); the rest go one by one, in order. Returns `false` when the
            /// bulk guard refused something (the caller redoes everything without `bulk`, so
            /// the error says which entry and why).
            async fn append_entries(
                tx: &mut sqlx::Transaction<'static, $db>,
                entries: &[$crate::JournalEntry],
                bundle_seqs: &[Option<i64>],
                bulk: bool,
            ) -> $crate::Result<bool> {
                let plain = if bulk {
                    $crate::sql::plain_sessions(entries)
                } else {
                    std::collections::HashSet::new()
                };
                let run: Vec<&$crate::JournalEntry> = entries
                    .iter()
                    .filter(|e| plain.contains(&e.event.session_id))
                    .collect();
                let bulk = run.len() >= 2;
                if bulk && !Self::append_plain_run(tx, &run).await? {
                    return Ok(false);
                }
                for (entry, bundle_seq) in entries.iter().zip(bundle_seqs) {
                    if bulk && plain.contains(&entry.event.session_id) {
                        continue;
                    }
                    Self::append_entry(tx, entry, *bundle_seq).await?;
                }
                Ok(true)
            }

            /// A run of plain appends: one `UPDATE … FROM (VALUES …)` advancing every session
            /// of the run under the append guard, then one multi-row insert of the events
            /// (per chunk of `BULK_CHUNKS` rows). `false` if the guard refused any session.
            async fn append_plain_run(
                tx: &mut sqlx::Transaction<'static, $db>,
                run: &[&$crate::JournalEntry],
            ) -> $crate::Result<bool> {
                let Some(sessions) = $crate::sql::session_advances(run) else {
                    return Ok(false);
                };
                let mut at = 0;
                for n in $crate::sql::bulk_chunks(sessions.len()) {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe($crate::sql::advance_sessions_sql(n, $crate::sql::anonymous::<$db>())));
                    for g in &sessions[at..at + n] {
                        q = q
                            .bind(g.id.as_str())
                            .bind(g.prev)
                            .bind(g.last)
                            .bind(g.state.as_deref())
                            .bind(g.start_time)
                            .bind(g.end_time)
                            .bind(g.result.as_deref())
                            .bind(g.fence);
                    }
                    let done = q.execute(&mut **tx).await.map_err($crate::sql::map_conflict)?;
                    if done.rows_affected() != n as u64 {
                        return Ok(false);
                    }
                    at += n;
                }
                let events: Vec<&$crate::EventRecord> = run.iter().map(|e| &e.event).collect();
                Self::insert_events(tx, &events).await?;
                Ok(true)
            }

            /// Inserts journal events with the multi-row statements (chunks of `BULK_CHUNKS`).
            async fn insert_events(
                tx: &mut sqlx::Transaction<'static, $db>,
                events: &[&$crate::EventRecord],
            ) -> $crate::Result<()> {
                let ids: Vec<(String, Option<String>)> = events
                    .iter()
                    .map(|e| (e.session_id.to_string(), e.player_id.map(|p| p.to_string())))
                    .collect();
                let mut at = 0;
                for n in $crate::sql::bulk_chunks(events.len()) {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe($crate::sql::insert_events_sql(n, $crate::sql::anonymous::<$db>())));
                    for (event, (session_id, player_id)) in events[at..at + n].iter().zip(&ids[at..at + n]) {
                        q = q
                            .bind(session_id.as_str())
                            .bind(event.seq)
                            .bind(event.at_ms)
                            .bind(event.event_type.as_str())
                            .bind(player_id.as_deref())
                            .bind(event.client_move_id.as_deref())
                            .bind(event.payload.as_str());
                    }
                    q.execute(&mut **tx).await.map_err($crate::sql::map_conflict)?;
                    at += n;
                }
                Ok(())
            }

            /// One journal entry, with every part it carries: the append guard, the event,
            /// a seat, results (and the scores they lead to), a rematch session.
            async fn append_entry(
                tx: &mut sqlx::Transaction<'static, $db>,
                entry: &$crate::JournalEntry,
                bundle_seq: Option<i64>,
            ) -> $crate::Result<()> {
                let event = &entry.event;
                let session_id = event.session_id.to_string();
                let update = entry.session.as_ref();
                // The append guard: the session advances only from seq - 1 to seq, which
                // keeps the journal gap-free and refuses a stale or duplicate append.
                let advanced = sqlx::query(
                    "UPDATE game_sessions SET last_seq = $2, \
                     state = COALESCE($3, state), \
                     start_time = COALESCE($4, start_time), \
                     end_time = COALESCE($5, end_time), \
                     result = COALESCE($6, result) \
                     WHERE id = $1 AND last_seq = $7 \
                     AND ($8 IS NULL OR EXISTS (SELECT 1 FROM games g \
                          WHERE g.id = game_sessions.game_id AND g.lease_fence = $8))",
                )
                .bind(&session_id)
                .bind(event.seq)
                .bind(update.map(|u| u.state.as_str()))
                .bind(update.and_then(|u| u.start_time_ms))
                .bind(update.and_then(|u| u.end_time_ms))
                .bind(update.and_then(|u| u.result.as_deref()))
                .bind(event.seq.saturating_sub(1))
                .bind(entry.fence)
                .execute(&mut **tx)
                .await
                .map_err($crate::sql::map_conflict)?;
                if advanced.rows_affected() == 0 {
                    // The failure path only: say why.
                    let last: Option<i64> =
                        sqlx::query_scalar("SELECT last_seq FROM game_sessions WHERE id = $1")
                            .bind(&session_id)
                            .fetch_optional(&mut **tx)
                            .await?;
                    if let Some(fence) = entry.fence {
                        let current: Option<i64> = sqlx::query_scalar(
                            "SELECT g.lease_fence FROM games g JOIN game_sessions s ON s.game_id = g.id \
                             WHERE s.id = $1",
                        )
                        .bind(&session_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                        if current.is_some_and(|c| c != fence) {
                            return Err($crate::StoreError::Fenced);
                        }
                    }
                    return Err(match last {
                        None => $crate::StoreError::NotFound,
                        Some(last) => $crate::StoreError::Conflict(format!(
                            "session {session_id}: event seq {} does not follow last seq {last}",
                            event.seq
                        )),
                    });
                }
                Self::insert_event(tx, event).await?;
                if let Some(seat) = &entry.seat {
                    Self::insert_seat(tx, seat).await?;
                }
                for r in &entry.seat_results {
                    let done = sqlx::query(
                        "UPDATE player_game_sessions SET result = $3, score = $4 \
                         WHERE game_session_id = $1 AND seat = $2",
                    )
                    .bind(r.session_id.to_string())
                    .bind(r.seat)
                    .bind(&r.result)
                    .bind(r.score)
                    .execute(&mut **tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::NotFound);
                    }
                    // Real-time kinds (issue 10): the seat's points go to the points board.
                    if let Some(points) = r.points {
                        sqlx::query(
                            "INSERT INTO kind_points (player_id, kind, points, sessions, updated_at) \
                             SELECT ps.player_id, g.kind, $3, 1, $4 FROM player_game_sessions ps \
                             JOIN game_sessions s ON s.id = ps.game_session_id \
                             JOIN games g ON g.id = s.game_id \
                             WHERE ps.game_session_id = $1 AND ps.seat = $2 \
                             ON CONFLICT (player_id, kind) DO UPDATE SET \
                             points = kind_points.points + excluded.points, \
                             sessions = kind_points.sessions + 1, updated_at = excluded.updated_at",
                        )
                        .bind(r.session_id.to_string())
                        .bind(r.seat)
                        .bind(points)
                        .bind(event.at_ms)
                        .execute(&mut **tx)
                        .await?;
                    }
                }
                // Ratings (issue 7): the session finished with results; score it here, in
                // the same transaction, exactly once (the seq guard above).
                if update.is_some_and(|u| u.state == "finished") && !entry.seat_results.is_empty() {
                    Self::record_scores(tx, &session_id, event.at_ms).await?;
                }
                if let (Some(bundle), Some(last_seq)) = (&entry.new_session, bundle_seq) {
                    Self::insert_session_rows(tx, bundle, last_seq).await?;
                    let done = sqlx::query("UPDATE games SET current_session_id = $2 WHERE id = $1")
                        .bind(bundle.session.game_id.to_string())
                        .bind(bundle.session.id.to_string())
                        .execute(&mut **tx)
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::NotFound);
                    }
                }
                Ok(())
            }

            /// Inserts a new game and its first session (shared by `create_game` and the
            /// matchmaking pass, which creates its games inside its own transaction).
            async fn insert_game(
                tx: &mut sqlx::Transaction<'static, $db>,
                game: &$crate::NewGame,
                first: &$crate::NewSessionBundle,
            ) -> $crate::Result<()> {
                if first.session.game_id != game.id {
                    return Err($crate::StoreError::Conflict(format!(
                        "the first session of game {} names game {}",
                        game.id, first.session.game_id
                    )));
                }
                let last_seq = $crate::sql::bundle_last_seq(first)?;
                sqlx::query(
                    "INSERT INTO games (id, kind, name, description, settings, visibility, rated, \
                     created_by, created_at, current_session_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(game.id.to_string())
                .bind(&game.kind)
                .bind(&game.name)
                .bind(&game.description)
                .bind(&game.settings)
                .bind(&game.visibility)
                .bind(game.rated)
                .bind(game.created_by.to_string())
                .bind(game.created_at_ms)
                .bind(first.session.id.to_string())
                .execute(&mut **tx)
                .await
                .map_err($crate::sql::map_conflict)?;
                Self::insert_session_rows(tx, first, last_seq).await?;
                Ok(())
            }

            /// Inserts a new session (with `last_seq` already checked), its seats and events.
            async fn insert_session_rows(
                tx: &mut sqlx::Transaction<'static, $db>,
                bundle: &$crate::NewSessionBundle,
                last_seq: i64,
            ) -> $crate::Result<()> {
                let s = &bundle.session;
                sqlx::query(
                    "INSERT INTO game_sessions (id, game_id, number, state, start_time, last_seq, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(s.id.to_string())
                .bind(s.game_id.to_string())
                .bind(s.number)
                .bind(&s.state)
                .bind(s.start_time_ms)
                .bind(last_seq)
                .bind(s.created_at_ms)
                .execute(&mut **tx)
                .await
                .map_err($crate::sql::map_conflict)?;
                for seat in &bundle.seats {
                    Self::insert_seat(tx, seat).await?;
                }
                let events: Vec<&$crate::EventRecord> = bundle.events.iter().collect();
                Self::insert_events(tx, &events).await?;
                Ok(())
            }

            async fn insert_seat(
                tx: &mut sqlx::Transaction<'static, $db>,
                seat: &$crate::NewSeat,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO player_game_sessions (id, player_id, game_session_id, seat, joined_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(seat.player_id.to_string())
                .bind(seat.session_id.to_string())
                .bind(seat.seat)
                .bind(seat.joined_at_ms)
                .execute(&mut **tx)
                .await
                .map_err($crate::sql::map_conflict)?;
                Ok(())
            }

            async fn insert_event(
                tx: &mut sqlx::Transaction<'static, $db>,
                event: &$crate::EventRecord,
            ) -> $crate::Result<()> {
                sqlx::query(concat!(
                    "INSERT INTO journal_events (", $crate::sql::event_columns!(), ") \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .bind(event.session_id.to_string())
                .bind(event.seq)
                .bind(event.at_ms)
                .bind(&event.event_type)
                .bind(event.player_id.map(|p| p.to_string()))
                .bind(&event.client_move_id)
                .bind(&event.payload)
                .execute(&mut **tx)
                .await
                .map_err($crate::sql::map_conflict)?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_common_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_params_replace_numbered_ones_in_order() {
        assert_eq!(
            anonymous_params("INSERT INTO t (a, b) VALUES ($1, $2), ($3, '$x')"),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, '$x')"
        );
        for n in BULK_CHUNKS {
            let numbered = insert_events_sql(n, false);
            let anonymous = insert_events_sql(n, true);
            assert_eq!(numbered.matches('$').count(), n * 7);
            assert_eq!(anonymous.matches('?').count(), n * 7);
            assert!(!anonymous.contains('$'));
            assert_eq!(advance_sessions_sql(n, true).matches('?').count(), n * 8);
        }
        assert_eq!(chat_messages_insert_sql(3, true).matches('?').count(), 21);
        assert_eq!(chat_rooms_upsert_sql(3, true).matches('?').count(), 6);
    }
}

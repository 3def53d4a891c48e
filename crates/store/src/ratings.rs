//! Ratings, statistics and leaderboards (issue 7): rows, statements and the code that
//! records a finished session's scores inside the journal's transaction.
//!
//! Written once for both backends, like `sql.rs`: [`impl_ratings!`] expands to inherent
//! methods of a backend type; the `Store` trait methods in `impl_common_store!` delegate to
//! them. The rating math itself is pure and lives in `versus_rules::rating`.
//!
//! Ranking: the leaderboard orders by `score` (the rounded rating) descending, ties by player
//! id ascending, so ranks are distinct and stable. A page is a range of the partial index
//! `ratings_leaderboard_idx`. A player's rank is `1 + (players in higher score buckets) +
//! (players with the same score and a smaller id)`: the first term sums the
//! `leaderboard_buckets` rows above the score (a few thousand at most, however many players
//! there are), the second counts one score's index range. Neither scans the table.

use uuid::Uuid;

use crate::sql::parse_id;
use crate::{HistoryEntry, LeaderboardRow, RatingPoint, RatingRecord, StoreError};

/// The columns every rating query selects (`ratings r JOIN players p`).
macro_rules! rating_columns {
    () => {
        "r.player_id, p.username, r.kind, r.rating, r.deviation, r.volatility, r.score, r.peak, \
         r.rated_games, r.games, r.wins, r.losses, r.draws, r.streak, r.updated_at"
    };
}
pub(crate) use rating_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RatingRow {
    player_id: String,
    username: String,
    kind: String,
    rating: f64,
    deviation: f64,
    volatility: f64,
    score: i64,
    peak: i64,
    rated_games: i64,
    games: i64,
    wins: i64,
    losses: i64,
    draws: i64,
    streak: i64,
    updated_at: i64,
}

impl RatingRow {
    pub(crate) fn into_record(self) -> Result<RatingRecord, StoreError> {
        Ok(RatingRecord {
            player_id: parse_id(&self.player_id)?,
            username: self.username,
            kind: self.kind,
            rating: self.rating,
            deviation: self.deviation,
            volatility: self.volatility,
            score: self.score,
            peak: self.peak,
            rated_games: self.rated_games,
            games: self.games,
            wins: self.wins,
            losses: self.losses,
            draws: self.draws,
            streak: self.streak,
            updated_at_ms: self.updated_at,
        })
    }
}

/// What scoring needs of a player's current row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RatingState {
    pub(crate) rating: f64,
    pub(crate) deviation: f64,
    pub(crate) volatility: f64,
    pub(crate) score: i64,
    pub(crate) peak: i64,
    pub(crate) rated_games: i64,
    pub(crate) streak: i64,
}

impl RatingState {
    pub(crate) fn glicko(&self) -> versus_rules::rating::Rating {
        versus_rules::rating::Rating {
            rating: self.rating,
            deviation: self.deviation,
            volatility: self.volatility,
        }
    }
}

/// The streak after a result.
pub(crate) fn next_streak(streak: i64, result: &str) -> i64 {
    match result {
        "win" => streak.max(0) + 1,
        "loss" => streak.min(0) - 1,
        _ => 0,
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HistoryRow {
    game_id: String,
    session_id: String,
    kind: String,
    rated: bool,
    end_time: Option<i64>,
    seat: i64,
    result: Option<String>,
    rating_before: Option<f64>,
    rating_after: Option<f64>,
    opponent_id: Option<String>,
    opponent_name: Option<String>,
}

/// Groups history rows (one per opponent) into entries, keeping at most `limit`.
pub(crate) fn history_entries(
    rows: Vec<HistoryRow>,
    limit: usize,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut out: Vec<HistoryEntry> = Vec::new();
    for row in rows {
        let session_id = parse_id(&row.session_id)?;
        let opponent = match (row.opponent_id, row.opponent_name) {
            (Some(id), Some(name)) => Some((parse_id(&id)?, name)),
            _ => None,
        };
        if let Some(last) = out.last_mut()
            && last.session_id == session_id
        {
            last.opponents.extend(opponent);
            continue;
        }
        if out.len() == limit {
            break;
        }
        out.push(HistoryEntry {
            game_id: parse_id(&row.game_id)?,
            session_id,
            kind: row.kind,
            rated: row.rated,
            end_time_ms: row.end_time.unwrap_or_default(),
            seat: row.seat,
            result: row.result.unwrap_or_default(),
            opponents: opponent.into_iter().collect(),
            rating_before: row.rating_before,
            rating_after: row.rating_after,
        });
    }
    Ok(out)
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PointRow {
    id: String,
    end_time: Option<i64>,
    rating_after: Option<f64>,
}

impl PointRow {
    pub(crate) fn into_point(self) -> Result<RatingPoint, StoreError> {
        Ok(RatingPoint {
            session_id: parse_id(&self.id)?,
            at_ms: self.end_time.unwrap_or_default(),
            rating: self.rating_after.unwrap_or_default(),
        })
    }
}

/// Numbers rows of a leaderboard page.
pub(crate) fn ranked(
    rows: Vec<RatingRow>,
    first_rank: i64,
) -> Result<Vec<LeaderboardRow>, StoreError> {
    rows.into_iter()
        .zip(first_rank..)
        .map(|(row, rank)| {
            Ok(LeaderboardRow {
                rank,
                rating: row.into_record()?,
            })
        })
        .collect()
}

/// The player id as stored.
pub(crate) fn id_text(id: Uuid) -> String {
    id.to_string()
}

/// Expands to the inherent rating methods of a backend type (`pool: Pool<$db>`).
macro_rules! impl_ratings {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Records a finished session's statistics (every seated player with a result)
            /// and, when the game is rated and has two players, both new ratings, the
            /// leaderboard buckets and each seat's rating before and after. Runs inside the
            /// append's transaction, once per session (the `ended` event's seq guard).
            async fn record_scores(
                tx: &mut sqlx::Transaction<'static, $db>,
                session_id: &str,
                at_ms: i64,
            ) -> $crate::Result<()> {
                let game: Option<(String, bool)> = sqlx::query_as(
                    "SELECT g.kind, g.rated FROM game_sessions s JOIN games g ON g.id = s.game_id \
                     WHERE s.id = $1",
                )
                .bind(session_id)
                .fetch_optional(&mut **tx)
                .await?;
                let Some((kind, rated)) = game else {
                    return Err($crate::StoreError::NotFound);
                };
                let seats: Vec<(i64, String, Option<String>, Option<f64>)> = sqlx::query_as(
                    "SELECT seat, player_id, result, score FROM player_game_sessions \
                     WHERE game_session_id = $1 ORDER BY seat",
                )
                .bind(session_id)
                .fetch_all(&mut **tx)
                .await?;
                let seats: Vec<(i64, String, String, f64)> = seats
                    .into_iter()
                    .filter_map(|(seat, player, result, score)| match result.as_deref() {
                        Some("win" | "loss" | "draw") => {
                            Some((seat, player, result.unwrap_or_default(), score.unwrap_or(0.5)))
                        }
                        _ => None,
                    })
                    .collect();
                if seats.is_empty() {
                    return Ok(());
                }
                // Lock (creating if needed) each player's row, in id order so that two
                // transactions finishing games of the same players cannot deadlock; then read
                // it (READ COMMITTED on PostgreSQL: the read after the lock sees the latest).
                let mut ids: Vec<&str> = seats.iter().map(|s| s.1.as_str()).collect();
                ids.sort_unstable();
                ids.dedup();
                let initial = versus_rules::rating::Rating::default();
                let mut states = std::collections::HashMap::new();
                for id in ids {
                    sqlx::query(
                        "INSERT INTO ratings (player_id, kind, rating, deviation, volatility, score, peak, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6, $7) \
                         ON CONFLICT (player_id, kind) DO UPDATE SET kind = excluded.kind",
                    )
                    .bind(id)
                    .bind(&kind)
                    .bind(initial.rating)
                    .bind(initial.deviation)
                    .bind(initial.volatility)
                    .bind(initial.score())
                    .bind(at_ms)
                    .execute(&mut **tx)
                    .await?;
                    let state: $crate::ratings::RatingState = sqlx::query_as(
                        "SELECT rating, deviation, volatility, score, peak, rated_games, streak \
                         FROM ratings WHERE player_id = $1 AND kind = $2",
                    )
                    .bind(id)
                    .bind(&kind)
                    .fetch_one(&mut **tx)
                    .await?;
                    states.insert(id.to_owned(), state);
                }
                let rate = rated && seats.len() >= 2 && states.len() == seats.len();
                let new_ratings = if rate && seats.len() == 2 {
                    let (a, b) = (&seats[0], &seats[1]);
                    let (ra, rb) = versus_rules::rating::rate_pair(
                        states[&a.1].glicko(),
                        states[&b.1].glicko(),
                        a.3,
                    );
                    vec![Some(ra), Some(rb)]
                } else if rate {
                    // Three or four players (real-time kinds): the pairwise scheme.
                    let before: Vec<_> = seats.iter().map(|s| states[&s.1].glicko()).collect();
                    let scores: Vec<f64> = seats.iter().map(|s| s.3).collect();
                    versus_rules::rating::rate_group(&before, &scores)
                        .into_iter()
                        .map(Some)
                        .collect()
                } else {
                    vec![None; seats.len()]
                };
                for ((seat, player, result, _), new) in seats.iter().zip(new_ratings) {
                    let old = &states[player];
                    let streak = $crate::ratings::next_streak(old.streak, result);
                    let (wins, losses, draws) = match result.as_str() {
                        "win" => (1_i64, 0_i64, 0_i64),
                        "loss" => (0, 1, 0),
                        _ => (0, 0, 1),
                    };
                    let after = new.unwrap_or(old.glicko());
                    let score = if new.is_some() { after.score() } else { old.score };
                    let peak = match new {
                        Some(_) if old.rated_games > 0 => old.peak.max(score),
                        Some(_) => score,
                        None => old.peak,
                    };
                    sqlx::query(
                        "UPDATE ratings SET games = games + 1, wins = wins + $3, losses = losses + $4, \
                         draws = draws + $5, streak = $6, updated_at = $7, rating = $8, deviation = $9, \
                         volatility = $10, score = $11, peak = $12, rated_games = rated_games + $13 \
                         WHERE player_id = $1 AND kind = $2",
                    )
                    .bind(player.as_str())
                    .bind(&kind)
                    .bind(wins)
                    .bind(losses)
                    .bind(draws)
                    .bind(streak)
                    .bind(at_ms)
                    .bind(after.rating)
                    .bind(after.deviation)
                    .bind(after.volatility)
                    .bind(score)
                    .bind(peak)
                    .bind(i64::from(new.is_some()))
                    .execute(&mut **tx)
                    .await?;
                    if new.is_none() {
                        continue;
                    }
                    // Move the player from the old score's bucket to the new one's.
                    if old.rated_games > 0 {
                        sqlx::query(
                            "UPDATE leaderboard_buckets SET players = players - 1 \
                             WHERE kind = $1 AND score = $2",
                        )
                        .bind(&kind)
                        .bind(old.score)
                        .execute(&mut **tx)
                        .await?;
                    }
                    sqlx::query(
                        "INSERT INTO leaderboard_buckets (kind, score, players) VALUES ($1, $2, 1) \
                         ON CONFLICT (kind, score) DO UPDATE SET players = leaderboard_buckets.players + 1",
                    )
                    .bind(&kind)
                    .bind(score)
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query(
                        "UPDATE player_game_sessions SET rating_before = $3, rating_after = $4 \
                         WHERE game_session_id = $1 AND seat = $2",
                    )
                    .bind(session_id)
                    .bind(*seat)
                    .bind(old.rating)
                    .bind(after.rating)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            async fn ratings_player_ratings(
                &self,
                player_id: uuid::Uuid,
            ) -> $crate::Result<Vec<$crate::RatingRecord>> {
                sqlx::query_as::<_, $crate::ratings::RatingRow>(concat!(
                    "SELECT ", $crate::ratings::rating_columns!(),
                    " FROM ratings r JOIN players p ON p.id = r.player_id \
                     WHERE r.player_id = $1 ORDER BY r.kind"
                ))
                .bind($crate::ratings::id_text(player_id))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map($crate::ratings::RatingRow::into_record)
                .collect()
            }

            async fn ratings_leaderboard(
                &self,
                kind: &str,
                limit: i64,
                offset: i64,
            ) -> $crate::Result<Vec<$crate::LeaderboardRow>> {
                let offset = offset.max(0);
                let rows = sqlx::query_as::<_, $crate::ratings::RatingRow>(concat!(
                    "SELECT ", $crate::ratings::rating_columns!(),
                    " FROM ratings r JOIN players p ON p.id = r.player_id \
                     WHERE r.kind = $1 AND r.rated_games > 0 \
                     ORDER BY r.score DESC, r.player_id LIMIT $2 OFFSET $3"
                ))
                .bind(kind)
                .bind(limit.max(0))
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                $crate::ratings::ranked(rows, offset + 1)
            }

            async fn ratings_leaderboard_size(&self, kind: &str) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(players), 0) AS BIGINT) FROM leaderboard_buckets \
                     WHERE kind = $1",
                )
                .bind(kind)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn ratings_leaderboard_entry(
                &self,
                kind: &str,
                player_id: uuid::Uuid,
            ) -> $crate::Result<Option<$crate::LeaderboardRow>> {
                let row = sqlx::query_as::<_, $crate::ratings::RatingRow>(concat!(
                    "SELECT ", $crate::ratings::rating_columns!(),
                    " FROM ratings r JOIN players p ON p.id = r.player_id \
                     WHERE r.player_id = $1 AND r.kind = $2 AND r.rated_games > 0"
                ))
                .bind($crate::ratings::id_text(player_id))
                .bind(kind)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let rating = row.into_record()?;
                let higher: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(players), 0) AS BIGINT) FROM leaderboard_buckets \
                     WHERE kind = $1 AND score > $2",
                )
                .bind(kind)
                .bind(rating.score)
                .fetch_one(&self.pool)
                .await?;
                let tied_before: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM ratings WHERE kind = $1 AND rated_games > 0 \
                     AND score = $2 AND player_id < $3",
                )
                .bind(kind)
                .bind(rating.score)
                .bind($crate::ratings::id_text(player_id))
                .fetch_one(&self.pool)
                .await?;
                Ok(Some($crate::LeaderboardRow {
                    rank: 1 + higher + tied_before,
                    rating,
                }))
            }

            async fn ratings_leaderboard_around(
                &self,
                kind: &str,
                player_id: uuid::Uuid,
                radius: i64,
            ) -> $crate::Result<Option<Vec<$crate::LeaderboardRow>>> {
                let Some(me) = self.ratings_leaderboard_entry(kind, player_id).await? else {
                    return Ok(None);
                };
                let radius = radius.max(0);
                let id = $crate::ratings::id_text(player_id);
                let score = me.rating.score;
                // Each of the four statements is one range of the leaderboard index, walked
                // away from the player: ties above, higher scores, ties below, lower scores.
                // (`$3 = $3` keeps the parameter list the same for both statements of a pair.)
                let mut above = Vec::new();
                for sql in [
                    concat!(
                        "SELECT ", $crate::ratings::rating_columns!(),
                        " FROM ratings r JOIN players p ON p.id = r.player_id \
                         WHERE r.kind = $1 AND r.rated_games > 0 AND r.score = $2 AND r.player_id < $3 \
                         ORDER BY r.score ASC, r.player_id DESC LIMIT $4"
                    ),
                    concat!(
                        "SELECT ", $crate::ratings::rating_columns!(),
                        " FROM ratings r JOIN players p ON p.id = r.player_id \
                         WHERE r.kind = $1 AND r.rated_games > 0 AND r.score > $2 AND $3 = $3 \
                         ORDER BY r.score ASC, r.player_id DESC LIMIT $4"
                    ),
                ] {
                    if above.len() as i64 >= radius {
                        break;
                    }
                    let rows = sqlx::query_as::<_, $crate::ratings::RatingRow>(sql)
                        .bind(kind)
                        .bind(score)
                        .bind(&id)
                        .bind(radius - above.len() as i64)
                        .fetch_all(&self.pool)
                        .await?;
                    above.extend(rows);
                }
                let mut below = Vec::new();
                for sql in [
                    concat!(
                        "SELECT ", $crate::ratings::rating_columns!(),
                        " FROM ratings r JOIN players p ON p.id = r.player_id \
                         WHERE r.kind = $1 AND r.rated_games > 0 AND r.score = $2 AND r.player_id > $3 \
                         ORDER BY r.score DESC, r.player_id ASC LIMIT $4"
                    ),
                    concat!(
                        "SELECT ", $crate::ratings::rating_columns!(),
                        " FROM ratings r JOIN players p ON p.id = r.player_id \
                         WHERE r.kind = $1 AND r.rated_games > 0 AND r.score < $2 AND $3 = $3 \
                         ORDER BY r.score DESC, r.player_id ASC LIMIT $4"
                    ),
                ] {
                    if below.len() as i64 >= radius {
                        break;
                    }
                    let rows = sqlx::query_as::<_, $crate::ratings::RatingRow>(sql)
                        .bind(kind)
                        .bind(score)
                        .bind(&id)
                        .bind(radius - below.len() as i64)
                        .fetch_all(&self.pool)
                        .await?;
                    below.extend(rows);
                }
                let first = me.rank - above.len() as i64;
                above.reverse();
                let mut out = $crate::ratings::ranked(above, first)?;
                let my_rank = me.rank;
                out.push(me);
                out.extend($crate::ratings::ranked(below, my_rank + 1)?);
                Ok(Some(out))
            }

            async fn ratings_player_history(
                &self,
                query: &$crate::HistoryQuery,
            ) -> $crate::Result<Vec<$crate::HistoryEntry>> {
                let limit = query.limit.max(0);
                if limit == 0 {
                    return Ok(Vec::new());
                }
                // One row per opponent; two-player kinds give one row per session.
                let rows = sqlx::query_as::<_, $crate::ratings::HistoryRow>(
                    "SELECT s.game_id, s.id AS session_id, g.kind, g.rated, s.end_time, me.seat, \
                     me.result, me.rating_before, me.rating_after, o.player_id AS opponent_id, \
                     op.username AS opponent_name \
                     FROM player_game_sessions me \
                     JOIN game_sessions s ON s.id = me.game_session_id \
                     JOIN games g ON g.id = s.game_id \
                     LEFT JOIN player_game_sessions o ON o.game_session_id = s.id AND o.player_id <> me.player_id \
                     LEFT JOIN players op ON op.id = o.player_id \
                     WHERE me.player_id = $1 AND s.state = 'finished' AND ($2 IS NULL OR g.kind = $2) \
                     AND ($3 IS NULL OR s.end_time < (SELECT b.end_time FROM game_sessions b WHERE b.id = $3) \
                          OR (s.end_time = (SELECT b.end_time FROM game_sessions b WHERE b.id = $3) AND s.id < $3)) \
                     ORDER BY s.end_time DESC, s.id DESC, o.seat LIMIT $4",
                )
                .bind($crate::ratings::id_text(query.player_id))
                .bind(query.kind.as_deref())
                .bind(query.before_session.map($crate::ratings::id_text))
                .bind(limit.saturating_mul(8))
                .fetch_all(&self.pool)
                .await?;
                $crate::ratings::history_entries(rows, limit as usize)
            }

            async fn ratings_rating_history(
                &self,
                player_id: uuid::Uuid,
                kind: &str,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::RatingPoint>> {
                let mut points = sqlx::query_as::<_, $crate::ratings::PointRow>(
                    "SELECT s.id, s.end_time, me.rating_after FROM player_game_sessions me \
                     JOIN game_sessions s ON s.id = me.game_session_id \
                     JOIN games g ON g.id = s.game_id \
                     WHERE me.player_id = $1 AND g.kind = $2 AND me.rating_after IS NOT NULL \
                     ORDER BY s.end_time DESC, s.id DESC LIMIT $3",
                )
                .bind($crate::ratings::id_text(player_id))
                .bind(kind)
                .bind(limit.max(0))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map($crate::ratings::PointRow::into_point)
                .collect::<$crate::Result<Vec<_>>>()?;
                points.reverse();
                Ok(points)
            }
        }
    };
}
pub(crate) use impl_ratings;

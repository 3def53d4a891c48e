-- Ratings, statistics and leaderboards (issue 7).
--
-- One row per player per game kind once the player finished a game of that kind. Casual
-- games move only the statistics (games, wins, losses, draws, streak); rated games also move
-- the Glicko-2 rating. All of it is written by the journal's append of the session's `ended`
-- event, in the same transaction, so it happens exactly once per session.
CREATE TABLE ratings (
    player_id    TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    rating       REAL NOT NULL,
    deviation    REAL NOT NULL,
    volatility   REAL NOT NULL,
    -- The rating rounded: what the leaderboard ranks by (ties: older player id first).
    score        INTEGER NOT NULL,
    peak         INTEGER NOT NULL,
    rated_games  INTEGER NOT NULL DEFAULT 0,
    games        INTEGER NOT NULL DEFAULT 0,
    wins         INTEGER NOT NULL DEFAULT 0,
    losses       INTEGER NOT NULL DEFAULT 0,
    draws        INTEGER NOT NULL DEFAULT 0,
    -- Positive: wins in a row; negative: losses in a row; 0 after a draw.
    streak       INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (player_id, kind)
);
-- The leaderboard order, only over players with a rated game: a page is an index range.
CREATE INDEX ratings_leaderboard_idx ON ratings (kind, score DESC, player_id)
    WHERE rated_games > 0;

-- How many rated players hold each score, per kind: a player's rank is the sum over the
-- (at most a few thousand) higher scores plus the ties before them, never a table scan.
CREATE TABLE leaderboard_buckets (
    kind     TEXT NOT NULL,
    score    INTEGER NOT NULL,
    players  INTEGER NOT NULL,
    PRIMARY KEY (kind, score)
);

-- Each seat's rating before and after a rated session (history and rating change).
ALTER TABLE player_game_sessions ADD COLUMN rating_before REAL;
ALTER TABLE player_game_sessions ADD COLUMN rating_after REAL;

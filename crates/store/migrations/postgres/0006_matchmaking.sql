-- Matchmaking (issue 9): one pool for the whole cluster, in the database.
--
-- A ticket waits in its pool (kind + time control + rated) until a pairing pass matches it
-- (state `matched`, with the game it was paired into), the player cancels it (`cancelled`),
-- or nobody kept it alive (`expired`: its player's last connection went away and the grace
-- period ran out). `alive_until` is pushed forward by every node holding a WebSocket of the
-- player, and by REST polls.
CREATE TABLE matchmaking_tickets (
    id           TEXT PRIMARY KEY,
    player_id    TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    -- The player's username when the ticket was made (the seat event of the paired game).
    username     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    pool         TEXT NOT NULL,
    -- The requested time control as JSON, or NULL for none.
    time_control TEXT,
    rated        BOOLEAN NOT NULL,
    -- The player's Glicko-2 rating for the kind when the ticket was made (1500 if unrated).
    rating       DOUBLE PRECISION NOT NULL,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    alive_until  BIGINT NOT NULL,
    ended_at     BIGINT,
    game_id      TEXT,
    opponent_id  TEXT
);
-- At most one waiting ticket per player and kind.
CREATE UNIQUE INDEX matchmaking_one_waiting ON matchmaking_tickets (player_id, kind)
    WHERE state = 'waiting';
CREATE INDEX matchmaking_waiting_idx ON matchmaking_tickets (pool, created_at)
    WHERE state = 'waiting';

-- One row per pool: a pairing pass locks it (PostgreSQL row lock; SQLite's single writer),
-- so passes of one pool run one at a time across the cluster.
CREATE TABLE matchmaking_pools (
    pool         TEXT PRIMARY KEY,
    last_pass_at BIGINT NOT NULL
);

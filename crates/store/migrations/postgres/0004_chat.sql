-- Chat (issue 8): rooms with a sequence, their messages, blocks between players, mutes.
-- A room is `lobby`, `game:<game_id>:players` or `game:<game_id>:spectators`.
-- `chat_rooms.last_seq` is the room's one writer: appending a message increments it in the
-- insert's transaction (the row is locked until commit), so seqs are gap-free and a message
-- with seq n is committed before any message with seq n + 1 becomes visible.

CREATE TABLE chat_rooms (
    room      TEXT PRIMARY KEY,
    last_seq  BIGINT NOT NULL
);

CREATE TABLE chat_messages (
    room        TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    -- 'message' (by a player), 'system' (derived from game events), 'deletion' (of target_seq)
    kind        TEXT NOT NULL,
    author_id   TEXT REFERENCES players (id) ON DELETE SET NULL,
    -- NULL once the message is deleted
    body        TEXT,
    target_seq  BIGINT,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (room, seq)
);

CREATE TABLE chat_blocks (
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    blocked_id  TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (player_id, blocked_id)
);

CREATE TABLE chat_mutes (
    player_id   TEXT PRIMARY KEY REFERENCES players (id) ON DELETE CASCADE,
    until_ms    BIGINT NOT NULL,
    -- 'operator' (versus admin mute) or 'flood' (automatic)
    reason      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Social (issue 9): friend requests, friendships, last seen, invites and notifications.

-- A pending friend request from `from_id` to `to_id`; accepted → two `friendships` rows.
CREATE TABLE friend_requests (
    from_id     TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    to_id       TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (from_id, to_id)
);
CREATE INDEX friend_requests_to_idx ON friend_requests (to_id);

-- Friendship is symmetric and stored in both directions.
CREATE TABLE friendships (
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    friend_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (player_id, friend_id)
);

-- When the player's last WebSocket (on any node) went away.
CREATE TABLE player_last_seen (
    player_id     TEXT PRIMARY KEY REFERENCES players (id) ON DELETE CASCADE,
    last_seen_ms  BIGINT NOT NULL
);

-- An invite to a seat in a game: to one player (`to_id`), or a link (`code_hash`: hex SHA-256
-- of an unguessable code that is shown once and never stored).
CREATE TABLE invites (
    id          TEXT PRIMARY KEY,
    game_id     TEXT NOT NULL REFERENCES games (id) ON DELETE CASCADE,
    from_id     TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    to_id       TEXT REFERENCES players (id) ON DELETE CASCADE,
    code_hash   TEXT UNIQUE,
    -- 'pending', 'accepted', 'declined', 'cancelled' (or a revoked link)
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX invites_to_idx ON invites (to_id, state);
CREATE INDEX invites_game_idx ON invites (game_id);

-- Stored notifications (delivered live too); `payload` is a JSON document.
CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    read_at     BIGINT
);
CREATE INDEX notifications_player_idx ON notifications (player_id, id);

-- Presence: how many WebSockets each node holds for a player. A node refreshes its rows'
-- expiry periodically; a dead node's rows expire, and its players go offline.
CREATE TABLE presence_connections (
    player_id    TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    node_id      TEXT NOT NULL,
    connections  BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (player_id, node_id)
);
CREATE INDEX presence_connections_node_idx ON presence_connections (node_id);
CREATE INDEX presence_connections_expiry_idx ON presence_connections (expires_at);

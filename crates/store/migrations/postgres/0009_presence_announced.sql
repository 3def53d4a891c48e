-- Presence (issue 9): what friends were last told of each player, cluster-wide.
--
-- `state` is 'offline', 'online' or 'in_game' (then `game_id` names the game). A node that
-- sees a player's presence change claims the announcement here, in one write transaction
-- that locks the player's row, reads their presence and updates the row only when it
-- differs; only the node whose update changed the row tells the friends. So no node's
-- memory of what it said can go stale when another node speaks for the same player, and two
-- nodes never announce the same change. No row: never announced (offline).
CREATE TABLE presence_announced (
    player_id  TEXT PRIMARY KEY REFERENCES players (id) ON DELETE CASCADE,
    state      TEXT NOT NULL,
    game_id    TEXT
);

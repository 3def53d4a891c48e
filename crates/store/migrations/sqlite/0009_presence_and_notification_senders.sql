-- Social (issue 9). Presence: what friends were last told of each player, cluster-wide.
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

-- Who caused a notification (a friend request's, an acceptance's or an invite's sender;
-- NULL for game notifications). `GET /api/v1/notifications` hides those whose sender the
-- reader blocks. Rows from before this migration get it from their payload.
ALTER TABLE notifications ADD COLUMN from_id TEXT REFERENCES players (id) ON DELETE CASCADE;
UPDATE notifications SET from_id = (
    SELECT p.id FROM players p WHERE p.id = COALESCE(
        json_extract(notifications.payload, '$.from.id'),
        json_extract(notifications.payload, '$.friend.id'),
        json_extract(notifications.payload, '$.invite.from.id'))
) WHERE kind IN ('friend_request', 'friend_accepted', 'invite');
CREATE INDEX notifications_from_idx ON notifications (from_id);

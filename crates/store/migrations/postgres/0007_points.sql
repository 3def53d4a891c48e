-- Points leaderboards of real-time kinds (issue 10).
--
-- One row per player per kind: the points scored over all finished sessions (a light-cycles
-- session's rounds won) and how many sessions. Written by the journal's append of a
-- session's `ended` event, in the same transaction, so exactly once per session.
CREATE TABLE kind_points (
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    points      BIGINT NOT NULL,
    sessions    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (player_id, kind)
);
-- A page of the board is a range of this index.
CREATE INDEX kind_points_board_idx ON kind_points (kind, points DESC, player_id);

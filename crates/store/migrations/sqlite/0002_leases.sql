-- Ownership of live games in a cluster: one node at a time holds a game's lease. The fencing
-- number grows with every acquisition; the journal refuses an append carrying a stale one.
ALTER TABLE games ADD COLUMN lease_owner TEXT;
ALTER TABLE games ADD COLUMN lease_fence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE games ADD COLUMN lease_expires_at BIGINT NOT NULL DEFAULT 0;
-- The last moment the holder was known alive (renewal or clean release).
ALTER TABLE games ADD COLUMN lease_renewed_at BIGINT NOT NULL DEFAULT 0;
-- Whether the last holder let go on purpose (drain, idle) rather than dying.
ALTER TABLE games ADD COLUMN lease_released BOOLEAN NOT NULL DEFAULT TRUE;
CREATE INDEX games_lease_owner_idx ON games (lease_owner);

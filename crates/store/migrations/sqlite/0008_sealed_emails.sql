-- Players' email addresses encrypted at rest (issue 11).
--
-- `email_sealed` is the address sealed with AES-256-GCM under a key from the server's
-- configuration (`key-id:base64url(nonce | ciphertext | tag)`); `email_index` is a keyed hash
-- (HMAC-SHA256) of the lower-cased address (`key-id:hex`), unique, used for login by email.
-- The database never sees a key nor an address in clear.
--
-- The old `email` / `email_lower` columns are no longer written: a node seals any address
-- still held there at start and clears them (legacy rows from before this migration).
ALTER TABLE players ADD COLUMN email_sealed TEXT;
ALTER TABLE players ADD COLUMN email_index TEXT;
CREATE UNIQUE INDEX players_email_index_uniq ON players (email_index);

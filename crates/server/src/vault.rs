//! Players' email addresses at rest: sealed with an authenticated cipher, found by a keyed
//! hash.
//!
//! The keyring (`email_keys`) is a comma-separated list of `id:key` pairs, `key` being 32
//! random bytes in base64; the first pair is the current key. From each key two subkeys are
//! derived with HKDF-SHA256: one for AES-256-GCM, one for HMAC-SHA256.
//!
//! - **Sealed** (`players.email_sealed`): `id:` + base64url(nonce ‖ ciphertext ‖ tag), a fresh
//!   random 96-bit nonce per seal, the player's id as associated data (a sealed address
//!   copied onto another player's row does not open).
//! - **Index** (`players.email_index`): `id:` + hex HMAC-SHA256 of the lower-cased address.
//!   The database enforces uniqueness on it and login by email looks it up: the address
//!   itself is never stored nor compared in clear.
//!
//! Rotation (docs/SECURITY.md): put a new pair first and keep the old ones; new and changed
//! rows use the new key, lookups try every key, and `versus admin reseal-emails` moves every
//! row to the current key, after which the old pair can be removed.
//!
//! Without `email_keys`, a SQLite node keeps a generated keyring in `<data_dir>/email.keys`
//! (mode 0600) so `cargo run` needs no setup; a PostgreSQL node refuses to start, since every
//! node of a cluster must hold the same keys.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};
use uuid::Uuid;
use versus_store::{DynStore, SealedEmail, StoreError};

/// The file a SQLite node keeps its generated keyring in, inside `data_dir`.
pub const KEY_FILE: &str = "email.keys";

/// Why a keyring could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "email_keys must be set when the database is PostgreSQL (every node needs the same keys; see docs/SECURITY.md)"
    )]
    KeysRequired,
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("an email address is sealed under key `{0}`, which is not in email_keys")]
    UnknownKey(String),
    #[error("an email address does not open under key `{0}`: wrong key or damaged row")]
    Corrupt(String),
}

struct Key {
    id: String,
    cipher: LessSafeKey,
    index: hmac::Key,
}

/// The keyring: seals, opens and indexes email addresses.
pub struct EmailVault {
    /// Non-empty; the first is current.
    keys: Vec<Key>,
    rng: SystemRandom,
}

impl fmt::Debug for EmailVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("EmailVault").field("key_ids", &ids).finish()
    }
}

/// The length in bytes of every key.
pub const KEY_BYTES: usize = 32;

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks a keyring string without building it (configuration validation). The message
/// never quotes a key.
pub fn check_keyring(text: &str) -> Result<(), String> {
    parse(text).map(|_| ())
}

fn parse(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (n, pair) in text.split(',').map(str::trim).enumerate() {
        if pair.is_empty() {
            continue;
        }
        let Some((id, key)) = pair.split_once(':') else {
            return Err(format!("entry {} is not `id:base64-key`", n + 1));
        };
        let id = id.trim();
        if !valid_id(id) {
            return Err(format!(
                "entry {}: a key id is 1 to 32 of a-z, 0-9 and -",
                n + 1
            ));
        }
        if out.iter().any(|(seen, _)| seen == id) {
            return Err(format!("key id `{id}` appears twice"));
        }
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|_| format!("key `{id}` is not valid base64"))?;
        if bytes.len() != KEY_BYTES {
            return Err(format!(
                "key `{id}` must be {KEY_BYTES} bytes (it is {})",
                bytes.len()
            ));
        }
        out.push((id.to_string(), bytes));
    }
    if out.is_empty() {
        return Err("holds no key".into());
    }
    Ok(out)
}

/// The subkey `info` of `master` (HKDF-SHA256, 32 bytes).
fn derive(master: &[u8], info: &[u8]) -> [u8; 32] {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"versus email keys v1").extract(master);
    let mut out = [0u8; 32];
    // Cannot fail: 32 bytes is far below HKDF-SHA256's limit of 255 blocks.
    #[allow(clippy::expect_used)]
    prk.expand(&[info], hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF expand of 32 bytes");
    out
}

impl EmailVault {
    /// Builds the vault from a keyring string (`id:base64,…`, current first).
    pub fn from_keyring(text: &str) -> Result<EmailVault, VaultError> {
        let keys = parse(text)
            .map_err(|e| VaultError::Invalid(format!("email_keys: {e}")))?
            .into_iter()
            .map(|(id, master)| {
                let cipher_key = derive(&master, b"email-cipher");
                let index_key = derive(&master, b"email-index");
                // Cannot fail: `derive` makes exactly the 32 bytes AES-256 takes.
                #[allow(clippy::expect_used)]
                let unbound = UnboundKey::new(&AES_256_GCM, &cipher_key)
                    .expect("AES-256-GCM takes a 32-byte key");
                Key {
                    id,
                    cipher: LessSafeKey::new(unbound),
                    index: hmac::Key::new(hmac::HMAC_SHA256, &index_key),
                }
            })
            .collect();
        Ok(EmailVault {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// The vault a node runs with: `email_keys` when configured; otherwise, for SQLite, the
    /// keyring in `<data_dir>/email.keys`, generated on first use.
    pub fn for_node(
        configured: Option<&str>,
        sqlite: bool,
        data_dir: &Path,
    ) -> Result<EmailVault, VaultError> {
        if let Some(text) = configured {
            return EmailVault::from_keyring(text);
        }
        if !sqlite {
            return Err(VaultError::KeysRequired);
        }
        let path = data_dir.join(KEY_FILE);
        let file_error = |source| VaultError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => EmailVault::from_keyring(&text)
                .map_err(|e| VaultError::Invalid(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = format!("{}\n", generate_pair(&format!("local-{}", short_id())));
                write_private(&path, &text).map_err(file_error)?;
                EmailVault::from_keyring(&text)
            }
            Err(e) => Err(file_error(e)),
        }
    }

    /// The id of the current key.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    fn key(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Seals `email` for `player` under the current key, with its index.
    pub fn seal(&self, player: Uuid, email: &str) -> SealedEmail {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        // The OS random source failing is no state to serve from (nothing a client controls).
        #[allow(clippy::expect_used)]
        self.rng
            .fill(&mut nonce)
            .expect("the system's random source");
        let mut data = email.as_bytes().to_vec();
        // Cannot fail: AES-GCM refuses only inputs of gigabytes; addresses are validated first
        // (at most 254 bytes).
        #[allow(clippy::expect_used)]
        key.cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(player.as_bytes()),
                &mut data,
            )
            .expect("AES-GCM seals any address this short");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&data);
        SealedEmail {
            sealed: format!("{}:{}", key.id, URL_SAFE_NO_PAD.encode(blob)),
            index: index_with(key, email),
        }
    }

    /// Opens what [`EmailVault::seal`] sealed for `player`.
    pub fn open(&self, player: Uuid, sealed: &str) -> Result<String, VaultError> {
        let (id, body) = sealed
            .split_once(':')
            .ok_or_else(|| VaultError::Corrupt("?".into()))?;
        let key = self
            .key(id)
            .ok_or_else(|| VaultError::UnknownKey(id.to_string()))?;
        let corrupt = || VaultError::Corrupt(id.to_string());
        let blob = URL_SAFE_NO_PAD.decode(body).map_err(|_| corrupt())?;
        if blob.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, data) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
        let mut data = data.to_vec();
        let plain = key
            .cipher
            .open_in_place(nonce, Aad::from(player.as_bytes()), &mut data)
            .map_err(|_| corrupt())?;
        String::from_utf8(plain.to_vec()).map_err(|_| corrupt())
    }

    /// The index of `email` under every key, current first: a lookup tries each (during a
    /// rotation a row may still carry an older key's index).
    pub fn indexes(&self, email: &str) -> Vec<String> {
        self.keys.iter().map(|k| index_with(k, email)).collect()
    }

    /// Whether `sealed` is under the current key (rows that are not get resealed by
    /// `versus admin reseal-emails`).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed
            .split_once(':')
            .is_some_and(|(id, _)| id == self.current_id())
    }
}

/// Why resealing stopped.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Seals every address still in clear (rows from before sealing existed) and, with
/// `rotate`, reseals every address under an older key with the current one. Returns how many
/// rows changed. Safe to run on several nodes at once: each row's new value is complete.
pub async fn reseal(
    store: &DynStore,
    vault: &EmailVault,
    rotate: bool,
) -> Result<u64, ResealError> {
    let current = rotate.then(|| vault.current_id().to_string());
    let mut done = 0u64;
    loop {
        let rows = store.emails_to_reseal(current.as_deref(), 200).await?;
        if rows.is_empty() {
            return Ok(done);
        }
        for row in rows {
            let plain = match (row.plain, row.sealed) {
                (Some(plain), _) => plain,
                (None, Some(sealed)) => vault.open(row.player_id, &sealed)?,
                (None, None) => continue,
            };
            store
                .set_sealed_email(row.player_id, vault.seal(row.player_id, &plain))
                .await?;
            done += 1;
        }
    }
}

fn index_with(key: &Key, email: &str) -> String {
    let tag = hmac::sign(&key.index, email.to_lowercase().as_bytes());
    format!("{}:{}", key.id, hex::encode(tag.as_ref()))
}

/// A new `id:base64-key` pair with a fresh random key.
pub fn generate_pair(id: &str) -> String {
    let mut key = [0u8; KEY_BYTES];
    // An operator's command (`versus admin new-email-key`): no random source, no key.
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(&mut key)
        .expect("the system's random source");
    format!("{id}:{}", STANDARD.encode(key))
}

/// Eight hex digits of randomness, for generated key ids.
fn short_id() -> String {
    let mut b = [0u8; 4];
    // Only when a key file is first made: no random source, no key.
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(&mut b)
        .expect("the system's random source");
    hex::encode(b)
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(text: &str) -> EmailVault {
        EmailVault::from_keyring(text).unwrap()
    }

    #[test]
    fn an_address_opens_for_its_player_only_and_indexes_ignore_case() {
        let v = vault(&generate_pair("a"));
        let p = Uuid::now_v7();
        let s = v.seal(p, "Ann@Example.org");
        assert!(s.sealed.starts_with("a:"));
        assert!(!s.sealed.contains("Example"));
        assert_eq!(v.open(p, &s.sealed).unwrap(), "Ann@Example.org");
        assert!(matches!(
            v.open(Uuid::now_v7(), &s.sealed),
            Err(VaultError::Corrupt(_))
        ));
        assert_eq!(v.indexes("ann@example.org"), vec![s.index.clone()]);
        // Two seals of one address differ (fresh nonce); the index does not.
        let again = v.seal(p, "Ann@Example.org");
        assert_ne!(again.sealed, s.sealed);
        assert_eq!(again.index, s.index);
    }

    #[test]
    fn a_tampered_seal_does_not_open() {
        let v = vault(&generate_pair("a"));
        let p = Uuid::now_v7();
        let s = v.seal(p, "ann@example.org");
        let mut blob = URL_SAFE_NO_PAD.decode(&s.sealed[2..]).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let tampered = format!("a:{}", URL_SAFE_NO_PAD.encode(blob));
        assert!(matches!(v.open(p, &tampered), Err(VaultError::Corrupt(_))));
    }

    #[test]
    fn after_rotation_old_seals_open_and_new_ones_use_the_new_key() {
        let old = generate_pair("old");
        let p = Uuid::now_v7();
        let sealed_old = vault(&old).seal(p, "ann@example.org");
        let rotated = vault(&format!("{},{old}", generate_pair("new")));
        assert_eq!(
            rotated.open(p, &sealed_old.sealed).unwrap(),
            "ann@example.org"
        );
        assert!(!rotated.is_current(&sealed_old.sealed));
        let fresh = rotated.seal(p, "ann@example.org");
        assert!(rotated.is_current(&fresh.sealed));
        let indexes = rotated.indexes("ANN@example.org");
        assert_eq!(indexes, vec![fresh.index, sealed_old.index]);
        // Without the old key the old seal is refused by name.
        let dropped = vault(&generate_pair("new"));
        assert!(matches!(
            dropped.open(p, &sealed_old.sealed),
            Err(VaultError::UnknownKey(id)) if id == "old"
        ));
    }

    #[test]
    fn keyrings_are_checked_without_quoting_keys() {
        for bad in [
            "",
            "nocolon",
            "UPPER:AAAA",
            "a:not base64!",
            "a:AAAA",
            &format!("{},{}", generate_pair("a"), generate_pair("a")),
        ] {
            let err = check_keyring(bad).unwrap_err();
            assert!(!err.contains("AAAA") && !err.contains("base64!"), "{err}");
        }
        check_keyring(&format!(
            " {} , {} ",
            generate_pair("a"),
            generate_pair("b-2")
        ))
        .unwrap();
    }

    #[test]
    fn a_sqlite_node_generates_its_keyring_once_and_postgres_needs_one() {
        let dir = tempfile::tempdir().unwrap();
        let first = EmailVault::for_node(None, true, dir.path()).unwrap();
        let p = Uuid::now_v7();
        let s = first.seal(p, "ann@example.org");
        let second = EmailVault::for_node(None, true, dir.path()).unwrap();
        assert_eq!(second.open(p, &s.sealed).unwrap(), "ann@example.org");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            EmailVault::for_node(None, false, dir.path()),
            Err(VaultError::KeysRequired)
        ));
    }
}

//! Operator commands run from the command line (`versus admin …`) against the database the
//! usual configuration names. They take effect on every node at once: the nodes read mutes
//! from the database on every chat post.

use secrecy::ExposeSecret;

use crate::config::Config;

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot open the database: {0}")]
    Store(#[from] versus_store::StoreError),
    #[error("no player is called {0}")]
    NoSuchPlayer(String),
    #[error("{0}")]
    Invalid(String),
}

async fn open(config: &Config) -> Result<versus_store::DynStore, AdminError> {
    let url = config.database_url.expose_secret().to_string();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| AdminError::Invalid(format!("cannot create the data folder: {e}")))?;
    }
    Ok(versus_store::connect(&versus_store::ConnectOptions {
        url,
        max_connections: 1,
    })
    .await?)
}

/// Mutes `username` in every chat room for `minutes`. Returns a line for the operator.
pub async fn mute(config: &Config, username: &str, minutes: u64) -> Result<String, AdminError> {
    if minutes == 0 || minutes > 60 * 24 * 365 {
        return Err(AdminError::Invalid(
            "--minutes must be between 1 and 525600".into(),
        ));
    }
    let store = open(config).await?;
    let result = async {
        let player = store
            .player_by_username(username)
            .await?
            .ok_or_else(|| AdminError::NoSuchPlayer(username.to_string()))?;
        let now = crate::now_ms();
        let until = now + (minutes as i64) * 60_000;
        store.mute_player(player.id, until, "operator", now).await?;
        Ok(format!(
            "muted {} until {}",
            player.username,
            crate::time_from_ms(until).to_rfc3339()
        ))
    }
    .await;
    store.close().await;
    result
}

/// Lifts any mute of `username`.
pub async fn unmute(config: &Config, username: &str) -> Result<String, AdminError> {
    let store = open(config).await?;
    let result = async {
        let player = store
            .player_by_username(username)
            .await?
            .ok_or_else(|| AdminError::NoSuchPlayer(username.to_string()))?;
        Ok(if store.unmute_player(player.id).await? {
            format!("unmuted {}", player.username)
        } else {
            format!("{} was not muted", player.username)
        })
    }
    .await;
    store.close().await;
    result
}

/// A new `id:base64-key` pair for `email_keys`.
pub fn new_email_key(id: &str) -> Result<String, AdminError> {
    let pair = crate::vault::generate_pair(id);
    crate::vault::check_keyring(&pair).map_err(AdminError::Invalid)?;
    Ok(pair)
}

/// Reseals every email address under the current key (after a rotation) and seals any
/// still in clear.
pub async fn reseal_emails(config: &Config) -> Result<String, AdminError> {
    let url = config.database_url.expose_secret();
    let vault = crate::vault::EmailVault::for_node(
        config.email_keys.as_ref().map(|k| k.expose_secret()),
        url.starts_with("sqlite:"),
        &config.data_dir,
    )
    .map_err(|e| AdminError::Invalid(e.to_string()))?;
    let store = open(config).await?;
    let result = crate::vault::reseal(&store, &vault, true)
        .await
        .map_err(|e| AdminError::Invalid(e.to_string()));
    store.close().await;
    Ok(format!(
        "resealed {} email address(es) under key {}",
        result?,
        vault.current_id()
    ))
}

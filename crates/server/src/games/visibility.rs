//! Who may see a game. A public game is seen by anyone; a private one only by its insiders:
//! its creator, the players seated in its current session, and players holding a pending
//! invite to it. To everyone else a private game does not exist: every read (the game, its
//! journal, its PGN, its chat, spectating over the WebSocket) and every action answers
//! `404 not_found`, exactly as for an unknown id.

use uuid::Uuid;
use versus_store::DynStore;

use super::GameError;

/// Whether `viewer` (None: an anonymous caller) may see `game_id`. False for unknown games.
pub async fn may_see(
    store: &DynStore,
    game_id: Uuid,
    viewer: Option<Uuid>,
) -> Result<bool, versus_store::StoreError> {
    let Some(game) = store.game(game_id).await? else {
        return Ok(false);
    };
    if game.visibility != "private" {
        return Ok(true);
    }
    let Some(viewer) = viewer else {
        return Ok(false);
    };
    if game.created_by == viewer {
        return Ok(true);
    }
    if let Some(session) = game.current_session_id
        && store
            .seats(session)
            .await?
            .iter()
            .any(|s| s.player_id == viewer)
    {
        return Ok(true);
    }
    Ok(store
        .pending_invites(viewer, crate::now_ms())
        .await?
        .iter()
        .any(|i| i.game_id == game_id && i.to_id == Some(viewer)))
}

/// [`may_see`] as a result: `Err(not_found)` when the viewer may not see the game.
pub async fn check(store: &DynStore, game_id: Uuid, viewer: Option<Uuid>) -> Result<(), GameError> {
    match may_see(store, game_id, viewer).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(GameError::not_found()),
        Err(e) => {
            tracing::error!(error = %e, "visibility check failed");
            Err(GameError::internal())
        }
    }
}

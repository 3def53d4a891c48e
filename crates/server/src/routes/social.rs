//! Social over REST (issue 9): friends and requests, invites (to a player or by link) and
//! notifications. The live side (notifications and friends' presence over the WebSocket) is
//! `social::Social`. Blocks are chat's (`/api/v1/me/blocks`): a player who blocks you, or
//! whom you block, can neither befriend nor invite you, and their invites are hidden.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use versus_protocol::{
    ErrorCode, Friend, FriendList, FriendRequest, FriendRequestCreate, FriendRequestResult,
    FriendRequestStatus, Invite, InviteAccepted, InviteCreate, InviteLink, InviteLinkInfo,
    InviteList, InviteState, NotificationKind, NotificationPage, NotificationsMarked,
    NotificationsRead, PlayerRef, Presence, PresenceStatus, Problem,
};
use versus_store::{FriendRequestOutcome, InviteRecord, NewInvite, PlayerRecord};

use super::ApiJson;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::games::Action;
use crate::state::AppState;
use crate::{now_ms, time_from_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_friends))
        .routes(routes!(send_request))
        .routes(routes!(accept_request))
        .routes(routes!(decline_request))
        .routes(routes!(cancel_request))
        .routes(routes!(remove_friend))
        .routes(routes!(invite_player))
        .routes(routes!(create_link))
        .routes(routes!(list_invites))
        .routes(routes!(accept_invite))
        .routes(routes!(decline_invite))
        .routes(routes!(cancel_invite))
        .routes(routes!(show_link))
        .routes(routes!(accept_link))
        .routes(routes!(list_notifications))
        .routes(routes!(mark_read))
}

fn me(a: &Authed) -> PlayerRef {
    PlayerRef {
        id: a.player.id,
        username: a.player.username.clone(),
    }
}

fn forbidden(detail: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, detail)
}

fn invalid_state(detail: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidState, detail)
}

fn bad_request(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedRequest, detail)
}

fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| bad_request(format!("the {what} id is not a UUID")))
}

/// The other player named `username` (404; 422 for yourself).
async fn other(
    state: &AppState,
    authed: &Authed,
    username: &str,
) -> Result<PlayerRecord, ApiError> {
    let p = state
        .store
        .player_by_username(username)
        .await?
        .ok_or_else(|| ApiError::not_found("player"))?;
    if p.id == authed.player.id {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
            "that is you",
        ));
    }
    Ok(p)
}

/// Whether either player blocks the other.
async fn blocked_between(state: &AppState, a: Uuid, b: Uuid) -> Result<bool, ApiError> {
    Ok(state.store.blocked_players(a).await?.contains(&b)
        || state.store.blocked_players(b).await?.contains(&a))
}

// --- friends -----------------------------------------------------------------------------------

/// Your friends with their presence (online, in a game — which one —, or offline with when
/// they were last seen), and your pending friend requests.
#[utoipa::path(get, path = "/api/v1/friends", tag = "social",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Friends and requests", body = FriendList),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_friends(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<FriendList>, ApiError> {
    let id = authed.player.id;
    let friends = state
        .store
        .friends(id, now_ms())
        .await?
        .into_iter()
        .map(|f| Friend {
            player: PlayerRef {
                id: f.id,
                username: f.username,
            },
            since: time_from_ms(f.since_ms),
            presence: match (f.online, f.playing) {
                (true, Some(game_id)) => Presence {
                    status: PresenceStatus::InGame,
                    game_id: Some(game_id),
                    last_seen: None,
                },
                (true, None) => Presence {
                    status: PresenceStatus::Online,
                    game_id: None,
                    last_seen: None,
                },
                (false, _) => Presence {
                    status: PresenceStatus::Offline,
                    game_id: None,
                    last_seen: f.last_seen_ms.map(time_from_ms),
                },
            },
        })
        .collect();
    let blocked = state.store.blocked_players(id).await?;
    let (mut incoming, mut outgoing) = (Vec::new(), Vec::new());
    for r in state.store.friend_requests(id).await? {
        let req = FriendRequest {
            from: PlayerRef {
                id: r.from_id,
                username: r.from_username,
            },
            to: PlayerRef {
                id: r.to_id,
                username: r.to_username,
            },
            created_at: time_from_ms(r.created_at_ms),
        };
        if r.to_id == id {
            if !blocked.contains(&r.from_id) {
                incoming.push(req);
            }
        } else {
            outgoing.push(req);
        }
    }
    Ok(Json(FriendList {
        friends,
        incoming,
        outgoing,
    }))
}

/// Ask a player to be friends. If they had already asked you, you are friends at once.
#[utoipa::path(post, path = "/api/v1/friends/requests", tag = "social",
    security(("bearer" = [])),
    request_body = FriendRequestCreate,
    responses(
        (status = 200, description = "Sent, or friends now", body = FriendRequestResult),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: one of you blocks the other", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such player", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: yourself; `malformed_request`: not the expected body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn send_request(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<FriendRequestCreate>,
) -> Result<Json<FriendRequestResult>, ApiError> {
    let to = other(&state, &authed, &req.username).await?;
    if blocked_between(&state, authed.player.id, to.id).await? {
        return Err(forbidden("you cannot befriend this player"));
    }
    let outcome = state
        .store
        .send_friend_request(authed.player.id, to.id, now_ms())
        .await?;
    let status = match outcome {
        FriendRequestOutcome::Sent => {
            notify(
                &state,
                authed.player.id,
                to.id,
                NotificationKind::FriendRequest,
                serde_json::json!({ "from": me(&authed) }),
            )
            .await;
            FriendRequestStatus::Sent
        }
        FriendRequestOutcome::Accepted => {
            notify(
                &state,
                authed.player.id,
                to.id,
                NotificationKind::FriendAccepted,
                serde_json::json!({ "friend": me(&authed) }),
            )
            .await;
            befriended(&state, authed.player.id, to.id).await;
            FriendRequestStatus::Friends
        }
        FriendRequestOutcome::AlreadyFriends => FriendRequestStatus::Friends,
    };
    Ok(Json(FriendRequestResult { status }))
}

/// New friends hear each other's presence at once.
async fn befriended(state: &AppState, a: Uuid, b: Uuid) {
    state.social.befriended(a, b).await;
}

/// Stores and delivers a notification from `from`; a failure is logged, never the caller's
/// error.
async fn notify(
    state: &AppState,
    from: Uuid,
    to: Uuid,
    kind: NotificationKind,
    data: serde_json::Value,
) {
    if let Err(e) = state.social.notify(to, Some(from), kind, data).await {
        tracing::warn!(player = %to, error = %e, "cannot store a notification");
    }
}

/// Accept the friend request `username` sent you.
#[utoipa::path(post, path = "/api/v1/friends/requests/{username}/accept", tag = "social",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Who asked you")),
    responses(
        (status = 204, description = "Friends now"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: one of you blocks the other", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such player, or no request from them", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: yourself", body = Problem, content_type = "application/problem+json"),
    ))]
async fn accept_request(
    State(state): State<AppState>,
    Path(username): Path<String>,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    let from = other(&state, &authed, &username).await?;
    if blocked_between(&state, authed.player.id, from.id).await? {
        return Err(forbidden("you cannot befriend this player"));
    }
    match state
        .store
        .accept_friend_request(authed.player.id, from.id, now_ms())
        .await
    {
        Ok(()) => {}
        Err(versus_store::StoreError::NotFound) => {
            return Err(ApiError::not_found("friend request"));
        }
        Err(e) => return Err(e.into()),
    }
    notify(
        &state,
        authed.player.id,
        from.id,
        NotificationKind::FriendAccepted,
        serde_json::json!({ "friend": me(&authed) }),
    )
    .await;
    befriended(&state, authed.player.id, from.id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Decline the friend request `username` sent you.
#[utoipa::path(post, path = "/api/v1/friends/requests/{username}/decline", tag = "social",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Who asked you")),
    responses(
        (status = 204, description = "Declined"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such player, or no request from them", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: yourself", body = Problem, content_type = "application/problem+json"),
    ))]
async fn decline_request(
    State(state): State<AppState>,
    Path(username): Path<String>,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    let from = other(&state, &authed, &username).await?;
    if !state
        .store
        .delete_friend_request(from.id, authed.player.id)
        .await?
    {
        return Err(ApiError::not_found("friend request"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel the friend request you sent `username`.
#[utoipa::path(delete, path = "/api/v1/friends/requests/{username}", tag = "social",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Whom you asked")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such player, or no request to them", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: yourself", body = Problem, content_type = "application/problem+json"),
    ))]
async fn cancel_request(
    State(state): State<AppState>,
    Path(username): Path<String>,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    let to = other(&state, &authed, &username).await?;
    if !state
        .store
        .delete_friend_request(authed.player.id, to.id)
        .await?
    {
        return Err(ApiError::not_found("friend request"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a friend (for both of you).
#[utoipa::path(delete, path = "/api/v1/friends/{username}", tag = "social",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The friend")),
    responses(
        (status = 204, description = "Not friends any more"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such player, or not a friend", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: yourself", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove_friend(
    State(state): State<AppState>,
    Path(username): Path<String>,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    let friend = other(&state, &authed, &username).await?;
    if !state
        .store
        .remove_friend(authed.player.id, friend.id)
        .await?
    {
        return Err(ApiError::not_found("friend"));
    }
    Ok(StatusCode::NO_CONTENT)
}

// --- invites -----------------------------------------------------------------------------------

fn invite_view(r: &InviteRecord, now: i64) -> Invite {
    let state = match r.state {
        versus_store::InviteState::Pending if r.expires_at_ms <= now => InviteState::Expired,
        versus_store::InviteState::Pending => InviteState::Pending,
        versus_store::InviteState::Accepted => InviteState::Accepted,
        versus_store::InviteState::Declined => InviteState::Declined,
        versus_store::InviteState::Cancelled => InviteState::Cancelled,
    };
    Invite {
        id: r.id,
        game_id: r.game_id,
        from: PlayerRef {
            id: r.from_id,
            username: r.from_username.clone(),
        },
        to: r
            .to_id
            .zip(r.to_username.clone())
            .map(|(id, username)| PlayerRef { id, username }),
        link: r.link,
        state,
        created_at: time_from_ms(r.created_at_ms),
        expires_at: time_from_ms(r.expires_at_ms),
    }
}

/// The game `raw` if the caller created it and its current session still waits for players.
async fn own_waiting_game(
    state: &AppState,
    authed: &Authed,
    raw: &str,
) -> Result<versus_store::GameRecord, ApiError> {
    let game_id = parse_id(raw, "game")?;
    let game = state
        .store
        .game(game_id)
        .await?
        .ok_or_else(|| ApiError::not_found("game"))?;
    if game.created_by != authed.player.id {
        return Err(forbidden("only the game's creator invites to it"));
    }
    let waiting = match game.current_session_id {
        Some(sid) => state
            .store
            .session(sid)
            .await?
            .is_some_and(|s| s.state == "waiting"),
        None => false,
    };
    if !waiting {
        return Err(invalid_state("the game does not wait for players"));
    }
    Ok(game)
}

/// Invite a player (a friend, or anyone by username) to a seat in a game you created. They
/// get a notification (live when connected) to accept or decline.
#[utoipa::path(post, path = "/api/v1/games/{id}/invites", tag = "social",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The game")),
    request_body = InviteCreate,
    responses(
        (status = 201, description = "Invited", body = Invite),
        (status = 400, description = "`malformed_request`: the body is not JSON, or the id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not your game, or one of you blocks the other", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game or player", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: the game does not wait for players", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: yourself; `malformed_request`: not the expected body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn invite_player(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authed: Authed,
    ApiJson(req): ApiJson<InviteCreate>,
) -> Result<(StatusCode, Json<Invite>), ApiError> {
    let game = own_waiting_game(&state, &authed, &id).await?;
    let to = other(&state, &authed, &req.username).await?;
    if blocked_between(&state, authed.player.id, to.id).await? {
        return Err(forbidden("you cannot invite this player"));
    }
    let now = now_ms();
    let invite_id = Uuid::now_v7();
    state
        .store
        .create_invite(NewInvite {
            id: invite_id,
            game_id: game.id,
            from_id: authed.player.id,
            to_id: Some(to.id),
            code_hash: None,
            created_at_ms: now,
            expires_at_ms: now + state.social.config().invite_ttl.as_millis() as i64,
        })
        .await?;
    let record = state
        .store
        .invite(invite_id)
        .await?
        .ok_or_else(|| ApiError::internal("a new invite vanished"))?;
    let invite = invite_view(&record, now);
    notify(
        &state,
        authed.player.id,
        to.id,
        NotificationKind::Invite,
        serde_json::json!({ "invite": invite, "kind": game.kind, "name": game.name }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(invite)))
}

/// Create an invite link to a game you created (private games included): anyone holding
/// its code may take a seat until it expires or you revoke it (`DELETE /api/v1/invites/{id}`).
/// The code (256 random bits) is returned only here; the server keeps only its hash.
#[utoipa::path(post, path = "/api/v1/games/{id}/invite-links", tag = "social",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The game")),
    responses(
        (status = 201, description = "The link", body = InviteLink),
        (status = 400, description = "`malformed_request`: the id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not your game", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: the game does not wait for players", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authed: Authed,
) -> Result<(StatusCode, Json<InviteLink>), ApiError> {
    let game = own_waiting_game(&state, &authed, &id).await?;
    let (code, hash) = crate::auth::new_token();
    let now = now_ms();
    let invite_id = Uuid::now_v7();
    state
        .store
        .create_invite(NewInvite {
            id: invite_id,
            game_id: game.id,
            from_id: authed.player.id,
            to_id: None,
            code_hash: Some(hash),
            created_at_ms: now,
            expires_at_ms: now + state.social.config().invite_ttl.as_millis() as i64,
        })
        .await?;
    let record = state
        .store
        .invite(invite_id)
        .await?
        .ok_or_else(|| ApiError::internal("a new invite vanished"))?;
    Ok((
        StatusCode::CREATED,
        Json(InviteLink {
            invite: invite_view(&record, now),
            path: format!("/invite/{code}"),
            code,
        }),
    ))
}

/// Your pending invites (not expired): received (hiding those of players you block) and sent
/// (links included), newest first.
#[utoipa::path(get, path = "/api/v1/invites", tag = "social",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Pending invites", body = InviteList),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_invites(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<InviteList>, ApiError> {
    let id = authed.player.id;
    let now = now_ms();
    let blocked = state.store.blocked_players(id).await?;
    let (mut received, mut sent) = (Vec::new(), Vec::new());
    for r in state.store.pending_invites(id, now).await? {
        if r.from_id == id {
            sent.push(invite_view(&r, now));
        } else if !blocked.contains(&r.from_id) {
            received.push(invite_view(&r, now));
        }
    }
    Ok(Json(InviteList { received, sent }))
}

/// An invite addressed to the caller (404 otherwise, and for a blocked sender's).
async fn my_invite(state: &AppState, authed: &Authed, raw: &str) -> Result<InviteRecord, ApiError> {
    let id = parse_id(raw, "invite")?;
    let invite = state
        .store
        .invite(id)
        .await?
        .filter(|i| i.to_id == Some(authed.player.id))
        .ok_or_else(|| ApiError::not_found("invite"))?;
    if blocked_between(state, authed.player.id, invite.from_id).await? {
        return Err(ApiError::not_found("invite"));
    }
    Ok(invite)
}

fn pending(invite: &InviteRecord, now: i64) -> Result<(), ApiError> {
    match invite_view(invite, now).state {
        InviteState::Pending => Ok(()),
        InviteState::Expired => Err(invalid_state("the invite has expired")),
        _ => Err(invalid_state(
            "the invite was already answered or cancelled",
        )),
    }
}

/// Accept an invite: you take a seat in the game (when every seat is taken, the session
/// starts). The invite is marked accepted first, so a cancel or expiry that got there
/// first wins and you are not seated; if the seat cannot be taken (the game filled up, the
/// open-games quota), the invite is pending again.
#[utoipa::path(post, path = "/api/v1/invites/{id}/accept", tag = "social",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The invite")),
    responses(
        (status = 200, description = "Seated", body = InviteAccepted),
        (status = 400, description = "`malformed_request`: the id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invite to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: expired, answered or cancelled; `limit_reached`: you already sit in `max_open_games_per_player` open games; `game_full`, `already_seated`: the join failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: the game's owner did not answer", body = Problem, content_type = "application/problem+json"),
    ))]
async fn accept_invite(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authed: Authed,
) -> Result<Json<InviteAccepted>, ApiError> {
    let invite = my_invite(&state, &authed, &id).await?;
    pending(&invite, now_ms())?;
    // The quota a join applies (`act_as_client` would also hide a private game from the
    // invitee, which is what the invite is for).
    state.games.check_open_games(authed.player.id).await?;
    // Claimed before the seat is taken: of an accept and a racing cancel (or the expiry),
    // exactly one wins, and a player is never seated through a cancelled invite.
    if !state
        .store
        .finish_invite(invite.id, versus_store::InviteState::Accepted, now_ms())
        .await?
    {
        return Err(invalid_state(
            "the invite was answered, cancelled or expired meanwhile",
        ));
    }
    if let Err(e) = state
        .games
        .act(invite.game_id, me(&authed), Action::Join)
        .await
    {
        // Not seated: the invite is as it was (pending, or expired by now).
        if let Err(re) = state.store.reopen_invite(invite.id).await {
            tracing::warn!(invite = %invite.id, error = %re, "cannot reopen an invite");
        }
        return Err(e.into());
    }
    Ok(Json(InviteAccepted {
        game_id: invite.game_id,
    }))
}

/// Decline an invite.
#[utoipa::path(post, path = "/api/v1/invites/{id}/decline", tag = "social",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The invite")),
    responses(
        (status = 204, description = "Declined"),
        (status = 400, description = "`malformed_request`: the id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invite to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: expired, answered or cancelled", body = Problem, content_type = "application/problem+json"),
    ))]
async fn decline_invite(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    let invite = my_invite(&state, &authed, &id).await?;
    pending(&invite, now_ms())?;
    if !state
        .store
        .finish_invite(invite.id, versus_store::InviteState::Declined, now_ms())
        .await?
    {
        return Err(invalid_state(
            "the invite was already answered or cancelled",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel an invite you sent, or revoke an invite link.
#[utoipa::path(delete, path = "/api/v1/invites/{id}", tag = "social",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The invite")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 400, description = "`malformed_request`: the id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invite of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: expired, answered or cancelled", body = Problem, content_type = "application/problem+json"),
    ))]
async fn cancel_invite(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "invite")?;
    let invite = state
        .store
        .invite(id)
        .await?
        .filter(|i| i.from_id == authed.player.id)
        .ok_or_else(|| ApiError::not_found("invite"))?;
    pending(&invite, now_ms())?;
    if !state
        .store
        .finish_invite(invite.id, versus_store::InviteState::Cancelled, now_ms())
        .await?
    {
        return Err(invalid_state(
            "the invite was already answered or cancelled",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// What an invite link invites to (the game, its creator, whether the link is still usable),
/// so a client can show it before the player joins. Blocks are not checked here: using the
/// link is (`POST /api/v1/invite-links/{code}/accept`).
#[utoipa::path(get, path = "/api/v1/invite-links/{code}", tag = "social",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "The link's code")),
    responses(
        (status = 200, description = "The invite and its game", body = InviteLinkInfo),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such link", body = Problem, content_type = "application/problem+json"),
    ))]
async fn show_link(
    State(state): State<AppState>,
    Path(code): Path<String>,
    _authed: Authed,
) -> Result<Json<InviteLinkInfo>, ApiError> {
    let invite = state
        .store
        .invite_by_code_hash(&crate::auth::token_hash(&code))
        .await?
        .ok_or_else(|| ApiError::not_found("invite link"))?;
    let game = state
        .store
        .game(invite.game_id)
        .await?
        .ok_or_else(|| ApiError::not_found("invite link"))?;
    Ok(Json(InviteLinkInfo {
        invite: invite_view(&invite, now_ms()),
        kind: game.kind,
        name: game.name,
    }))
}

/// Take a seat through an invite link's code (until it expires or is revoked).
#[utoipa::path(post, path = "/api/v1/invite-links/{code}/accept", tag = "social",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "The link's code")),
    responses(
        (status = 200, description = "Seated", body = InviteAccepted),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the game's creator blocks you, or you them", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such link", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: expired or revoked; `limit_reached`: you already sit in `max_open_games_per_player` open games; `game_full`, `already_seated`: the join failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: the game's owner did not answer", body = Problem, content_type = "application/problem+json"),
    ))]
async fn accept_link(
    State(state): State<AppState>,
    Path(code): Path<String>,
    authed: Authed,
) -> Result<Json<InviteAccepted>, ApiError> {
    let invite = state
        .store
        .invite_by_code_hash(&crate::auth::token_hash(&code))
        .await?
        .ok_or_else(|| ApiError::not_found("invite link"))?;
    pending(&invite, now_ms())?;
    if blocked_between(&state, authed.player.id, invite.from_id).await? {
        return Err(forbidden("you cannot use this player's invite"));
    }
    state.games.check_open_games(authed.player.id).await?;
    // A link serves every seat, so using it does not finish it: a revoke that commits while
    // this join is on its way does not stop this one (it stops every later one).
    state
        .games
        .act(invite.game_id, me(&authed), Action::Join)
        .await?;
    Ok(Json(InviteAccepted {
        game_id: invite.game_id,
    }))
}

// --- notifications -----------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NotificationQuery {
    /// Only notifications older than this one (paging).
    before: Option<Uuid>,
    /// Only unread ones.
    #[serde(default)]
    unread: bool,
    /// Page size (1–100, default 50).
    limit: Option<i64>,
}

/// Your notifications (stored, so you see what arrived while you were offline), newest
/// first, and how many are unread.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "social",
    security(("bearer" = [])),
    params(NotificationQuery),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationPage),
        (status = 400, description = "`malformed_request`: bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_notifications(
    State(state): State<AppState>,
    authed: Authed,
    q: Result<Query<NotificationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NotificationPage>, ApiError> {
    let Query(q) = q.map_err(|e| bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(50).clamp(1, 100);
    let rows = state
        .store
        .notifications(authed.player.id, q.before, q.unread, limit)
        .await?;
    Ok(Json(NotificationPage {
        notifications: rows.iter().map(crate::social::notification).collect(),
        unread: state.store.unread_notifications(authed.player.id).await?,
    }))
}

/// Mark notifications read: the given `ids`, or all of yours when absent.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "social",
    security(("bearer" = [])),
    request_body = NotificationsRead,
    responses(
        (status = 200, description = "How many changed", body = NotificationsMarked),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: more than 1000 ids; `malformed_request`: not the expected body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mark_read(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<NotificationsRead>,
) -> Result<Json<NotificationsMarked>, ApiError> {
    if req
        .ids
        .as_ref()
        .is_some_and(|ids| ids.len() > NotificationsRead::MAX_IDS)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
            format!("at most {} ids at once", NotificationsRead::MAX_IDS),
        ));
    }
    let marked = state
        .store
        .mark_notifications_read(authed.player.id, req.ids.as_deref(), now_ms())
        .await?;
    Ok(Json(NotificationsMarked { marked }))
}

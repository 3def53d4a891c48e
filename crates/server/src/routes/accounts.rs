//! Accounts: register, guest, login, logout, the caller's own profile, public profiles.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rand::Rng;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use versus_protocol::{
    AuthResponse, ErrorCode, FieldError, LoginRequest, Me, Problem, PublicPlayer, RegisterRequest,
    UpdateMeRequest,
};
use versus_store::{NewPlayer, NewToken, PlayerRecord, ProfileUpdate, StoreError};

use crate::auth::{self, Authed, ClientAddr};
use crate::domain::{self, Email, Password, Username};
use crate::error::ApiError;
use crate::routes::ApiJson;
use crate::state::AppState;
use crate::{now_ms, time_from_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(guest))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(get_me, update_me))
        .routes(routes!(get_player))
}

pub fn public_player(p: &PlayerRecord) -> PublicPlayer {
    PublicPlayer {
        id: p.id,
        username: p.username.clone(),
        display_name: p.display_name.clone(),
        bio: p.bio.clone(),
        avatar_url: p.avatar_url.clone(),
        guest: p.guest,
        created_at: time_from_ms(p.created_at_ms),
    }
}

/// The caller's own account, with the email address opened.
fn me(state: &AppState, p: &PlayerRecord) -> Result<Me, ApiError> {
    let email = match &p.email_sealed {
        Some(sealed) => Some(state.vault.open(p.id, sealed).map_err(ApiError::internal)?),
        None => None,
    };
    Ok(Me {
        player: public_player(p),
        email,
    })
}

/// Issues a new token for `player` and builds the auth response.
async fn issue_token(state: &AppState, player: &PlayerRecord) -> Result<AuthResponse, ApiError> {
    let (token, token_hash) = auth::new_token();
    let now = now_ms();
    let expires_at_ms = now.saturating_add(state.config.token_ttl.as_millis() as i64);
    state
        .store
        .create_token(NewToken {
            token_hash,
            player_id: player.id,
            created_at_ms: now,
            expires_at_ms,
        })
        .await?;
    let expires_at: DateTime<Utc> = time_from_ms(expires_at_ms);
    Ok(AuthResponse {
        token,
        expires_at,
        player: me(state, player)?,
    })
}

/// Register a new player.
///
/// Creates the account and returns a bearer token for it. Usernames are unique ignoring case.
#[utoipa::path(
    post, path = "/api/v1/auth/register", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; the body holds the token", body = AuthResponse),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken` or `email_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field broke a rule (`validation_failed`) or the JSON has the wrong shape (`malformed_request`)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    let username = Username::parse("username", &req.username);
    let email = Email::parse("email", &req.email);
    let password = Password::parse("password", &req.password);
    let (username, email, password) = match (username, email, password) {
        (Ok(u), Ok(e), Ok(p)) => (u, e, p),
        (u, e, p) => {
            let errors = [u.err(), e.err(), p.err()].into_iter().flatten().collect();
            return Err(ApiError::validation(errors));
        }
    };
    // The database enforces uniqueness of the current key's index; during a key rotation an
    // older row may still carry an older key's index (docs/SECURITY.md).
    let email = email.into_inner();
    for index in state.vault.indexes(&email).iter().skip(1) {
        if state.store.player_by_email_index(index).await?.is_some() {
            return Err(StoreError::EmailTaken.into());
        }
    }
    let password_hash = auth::hash_password(password.expose().to_string()).await?;
    let id = Uuid::now_v7();
    let player = state
        .store
        .create_player(NewPlayer {
            id,
            username: username.into_inner(),
            email: Some(state.vault.seal(id, &email)),
            password_hash: Some(password_hash),
            guest: false,
            created_at_ms: now_ms(),
        })
        .await?;
    let body = issue_token(&state, &player).await?;
    Ok((StatusCode::CREATED, Json(body)))
}

/// Play as a guest.
///
/// Creates a guest player with a generated name (`guest-xxxxxx`) and returns its token.
#[utoipa::path(
    post, path = "/api/v1/auth/guest", tag = "accounts",
    responses(
        (status = 201, description = "A new guest and its token", body = AuthResponse),
    )
)]
async fn guest(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    for _ in 0..8 {
        let suffix: String = {
            let mut rng = rand::rng();
            (0..8)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect()
        };
        let created = state
            .store
            .create_player(NewPlayer {
                id: Uuid::now_v7(),
                username: format!("guest-{suffix}"),
                email: None,
                password_hash: None,
                guest: true,
                created_at_ms: now_ms(),
            })
            .await;
        match created {
            Ok(player) => {
                let body = issue_token(&state, &player).await?;
                return Ok((StatusCode::CREATED, Json(body)));
            }
            Err(StoreError::UsernameTaken) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        "could not find a free guest name in 8 tries",
    ))
}

/// Log in with a username or email and a password.
///
/// Failed attempts are throttled per account and per client address: past the limit the
/// answer is 429 with `Retry-After` (seconds), even for a correct password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = AuthResponse),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The JSON has the wrong shape", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many failures; see `Retry-After`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    // No account has a longer login or password: refused before any hashing, uncounted.
    if req.login.len() > 254 || req.password.chars().count() > crate::domain::Password::MAX {
        return Err(invalid_credentials());
    }
    let account_key = format!("account:{}", req.login.trim().to_lowercase());
    let address_key = format!("address:{ip}");
    let now = Instant::now();
    let cfg = &state.config;
    let throttle = &state.throttle;
    throttle
        .attempt(&account_key, cfg.login_max_failures_per_account, now)
        .map_err(ApiError::rate_limited)?;
    if let Err(retry) = throttle.attempt(&address_key, cfg.login_max_failures_per_address, now) {
        throttle.forgive(&account_key);
        return Err(ApiError::rate_limited(retry));
    }
    // Both attempts are counted as failures until the password proves otherwise.
    let player = find_by_login(&state, req.login.trim()).await?;
    let hash = player.as_ref().and_then(|p| p.password_hash.clone());
    let ok = auth::verify_password(req.password, hash).await?;
    match player {
        Some(player) if ok => {
            throttle.clear(&account_key);
            throttle.forgive(&address_key);
            Ok(Json(issue_token(&state, &player).await?))
        }
        _ => Err(invalid_credentials()),
    }
}

/// The player whose username or email address (both case-insensitive) is `login`. An
/// address is found by its keyed hash under each key (a username has no `@`).
async fn find_by_login(state: &AppState, login: &str) -> Result<Option<PlayerRecord>, ApiError> {
    if !login.contains('@') {
        return Ok(state.store.player_by_username(login).await?);
    }
    for index in state.vault.indexes(login) {
        if let Some(player) = state.store.player_by_email_index(&index).await? {
            return Ok(Some(player));
        }
    }
    Ok(None)
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidCredentials,
        "the login or the password is wrong",
    )
}

/// Log out: revoke the token of this request, durably and on every node.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token is revoked"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn logout(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_token(&authed.token_hash, now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Log out everywhere: revoke every token of the caller.
#[utoipa::path(
    post, path = "/api/v1/auth/logout-all", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every token of the player is revoked"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn logout_all(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_all_tokens(authed.player.id, now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own account.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = Me),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_me(State(state): State<AppState>, authed: Authed) -> Result<Json<Me>, ApiError> {
    Ok(Json(me(&state, &authed.player)?))
}

/// Update the caller's profile, or change the password.
///
/// A password change needs `old_password` and revokes every other token of the player (this
/// request's token stays valid).
#[utoipa::path(
    patch, path = "/api/v1/me", tag = "accounts",
    security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "The updated account", body = Me),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: `old_password` is wrong, or a guest tried to set a password", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field broke a rule (`validation_failed`) or the JSON has the wrong shape (`malformed_request`)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_me(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<UpdateMeRequest>,
) -> Result<Json<Me>, ApiError> {
    let mut errors = Vec::new();
    let mut update = ProfileUpdate::default();
    let mut parse_field =
        |value: Option<Option<String>>,
         parse: &dyn Fn(&str) -> Result<Option<String>, FieldError>| {
            match value? {
                None => Some(None),
                Some(s) => parse(&s).map_err(|e| errors.push(e)).ok(),
            }
        };
    update.display_name = parse_field(req.display_name, &|s| {
        domain::profile_text("display_name", s, 40, false)
    });
    update.bio = parse_field(req.bio, &|s| domain::profile_text("bio", s, 500, true));
    update.avatar_url = parse_field(req.avatar_url, &|s| domain::avatar_url("avatar_url", s));
    let new_password = match (&req.new_password, &req.old_password) {
        (None, _) => None,
        (Some(new), old) => match Password::parse("new_password", new) {
            Ok(p) => Some((p, old.clone())),
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if let Some((new, old)) = new_password {
        if authed.player.guest {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "guests have no password",
            ));
        }
        let old = old.unwrap_or_default();
        if !auth::verify_password(old, authed.player.password_hash.clone()).await? {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "old_password does not match the current password",
            ));
        }
        let hash = auth::hash_password(new.expose().to_string()).await?;
        state
            .store
            .change_password(authed.player.id, &hash, Some(&authed.token_hash), now_ms())
            .await?;
    }
    let player = state
        .store
        .update_profile(authed.player.id, update, now_ms())
        .await?;
    Ok(Json(me(&state, &player)?))
}

/// A player's public profile (never the email).
#[utoipa::path(
    get, path = "/api/v1/players/{username}", tag = "accounts",
    params(("username" = String, Path, description = "Case-insensitive")),
    responses(
        (status = 200, description = "The public profile", body = PublicPlayer),
        (status = 404, description = "No such player", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_player(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<Json<PublicPlayer>, ApiError> {
    if username.len() > Username::MAX {
        return Err(ApiError::not_found("player"));
    }
    let player = state
        .store
        .player_by_username(&username)
        .await?
        .ok_or_else(|| ApiError::not_found("player"))?;
    Ok(Json(public_player(&player)))
}

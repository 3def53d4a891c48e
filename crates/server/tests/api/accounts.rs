//! Accounts: registration, login and its throttle, tokens (logout, logout-all, durable
//! revocation), the caller's profile and password, guests, public profiles.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS, PASSWORD, TestApp, assert_problem,
    field_errors, json_body,
};

const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";

/// `(field, reason)` pairs, for comparing with [`field_errors`].
fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(f, r)| (f.to_string(), r.to_string()))
        .collect()
}

/// Asserts that `Retry-After` is a whole number of seconds within the login window.
fn assert_retry_after(resp: &reqwest::Response) {
    let secs: u64 = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=900).contains(&secs), "Retry-After: {secs}");
}

both_backends! {
    // --- registration ------------------------------------------------------------------------

    async fn registering_returns_201_with_a_token_and_the_own_view_of_the_player(app: TestApp) {
        let resp = app.register_with("Alice", "Alice@Example.com", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body = json_body(resp).await;
        // The body is the protocol crate's `AuthResponse`, exactly.
        let auth: versus_protocol::AuthResponse = serde_json::from_value(body.clone()).unwrap();
        assert!(auth.token.len() >= 43, "a 256-bit token");
        assert_eq!(auth.player.player.username, "Alice", "the username keeps its case");
        assert_eq!(auth.player.email.as_deref(), Some("Alice@Example.com"));
        assert!(!auth.player.player.guest);
        assert_eq!(body["player"]["display_name"], Value::Null);
        let ttl = auth.expires_at - chrono::Utc::now();
        assert!(
            ttl > chrono::Duration::hours(719) && ttl <= chrono::Duration::hours(720),
            "expires in the configured 720 h: {ttl}"
        );
        assert!(body["player"].get("password_hash").is_none());
    }

    async fn a_username_taken_in_another_case_is_refused_with_409(app: TestApp) {
        app.register("Alice").await;
        let resp = app.register_with("aLICE", "other@example.com", PASSWORD).await;
        let problem = assert_problem(resp, 409, "username_taken").await;
        assert!(problem["detail"].is_string());
    }

    async fn an_email_taken_in_another_case_is_refused_with_409(app: TestApp) {
        app.register("alice").await;
        let resp = app.register_with("alice2", "ALICE@example.COM", PASSWORD).await;
        assert_problem(resp, 409, "email_taken").await;
    }

    async fn each_registration_rule_is_reported_with_its_field_and_reason(app: TestApp) {
        let ok_email = "rules@example.com";
        let cases: &[(&str, &str, &str, (&str, &str))] = &[
            ("ab", ok_email, PASSWORD, ("username", "too_short")),
            (&"x".repeat(25), ok_email, PASSWORD, ("username", "too_long")),
            ("al ice", ok_email, PASSWORD, ("username", "invalid_characters")),
            ("ålice", ok_email, PASSWORD, ("username", "invalid_characters")),
            ("a.b", ok_email, PASSWORD, ("username", "invalid_characters")),
            ("rules", "not-an-email", PASSWORD, ("email", "invalid_email")),
            ("rules", "a@example", PASSWORD, ("email", "invalid_email")),
            ("rules", "a b@example.com", PASSWORD, ("email", "invalid_email")),
            ("rules", ok_email, "short", ("password", "too_short")),
            ("rules", ok_email, &"p".repeat(257), ("password", "too_long")),
        ];
        for (username, email, password, expected) in cases {
            let resp = app.register_with(username, email, password).await;
            let problem = assert_problem(resp, 422, "validation_failed").await;
            assert_eq!(
                field_errors(&problem),
                pairs(&[*expected]),
                "register({username:?}, {email:?}, {} chars of password)",
                password.len()
            );
        }
        // None of them created an account.
        assert_eq!(app.get("/api/v1/players/rules").await.status(), 404);
    }

    async fn every_broken_rule_is_reported_at_once(app: TestApp) {
        let resp = app.register_with("x", "nope", "short").await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        assert_eq!(
            field_errors(&problem),
            pairs(&[
                ("username", "too_short"),
                ("email", "invalid_email"),
                ("password", "too_short"),
            ])
        );
        for e in problem["errors"].as_array().unwrap() {
            assert!(!e["message"].as_str().unwrap().is_empty(), "a message for humans: {e}");
        }
    }

    async fn a_body_that_is_not_json_is_a_400_malformed_request(app: TestApp) {
        let resp = app
            .post_raw(REGISTER, Some("application/json"), b"{\"username\": ".to_vec())
            .await;
        assert_problem(resp, 400, "malformed_request").await;
    }

    async fn a_body_that_is_not_declared_as_json_is_a_415(app: TestApp) {
        let body = serde_json::to_vec(&json!({
            "username": "alice", "email": "alice@example.com", "password": PASSWORD
        }))
        .unwrap();
        let resp = app.post_raw(REGISTER, Some("text/plain"), body.clone()).await;
        assert_problem(resp, 415, "unsupported_media_type").await;
        let resp = app.post_raw(REGISTER, None, body).await;
        assert_problem(resp, 415, "unsupported_media_type").await;
    }

    async fn json_of_the_wrong_shape_is_a_422_malformed_request(app: TestApp) {
        let wrong_bodies = [
            json!({ "username": 5, "email": "a@example.com", "password": PASSWORD }),
            json!({ "username": "alice", "email": "a@example.com" }),
            json!({ "username": "alice", "email": "a@example.com", "password": PASSWORD, "admin": true }),
            json!("alice"),
        ];
        for body in wrong_bodies {
            let resp = app.post_json(REGISTER, &body).await;
            let problem = assert_problem(resp, 422, "malformed_request").await;
            assert!(problem["detail"].is_string(), "says what is wrong: {problem}");
        }
    }

    async fn a_body_over_max_body_bytes_is_a_413(app: TestApp) {
        assert_eq!(app.config.max_body_bytes, 64 * 1024, "the default limit");
        let body = json!({
            "username": "alice",
            "email": "alice@example.com",
            "password": "p".repeat(app.config.max_body_bytes + 1),
        });
        let resp = app.post_json(REGISTER, &body).await;
        assert_problem(resp, 413, "payload_too_large").await;
        // Just under the limit is read (and then refused by the password rule).
        let body = json!({ "username": "alice", "email": "alice@example.com", "password": "p".repeat(60 * 1024) });
        let resp = app.post_json(REGISTER, &body).await;
        assert_problem(resp, 422, "validation_failed").await;
    }

    // --- login ---------------------------------------------------------------------------------

    async fn players_log_in_by_username_or_email_in_any_case(app: TestApp) {
        let (_, player) = app.register("Alice").await;
        for login in ["Alice", "alice", "ALICE", "alice@example.com", "ALICE@Example.COM", "  alice  "] {
            let resp = app.login(login, PASSWORD).await;
            assert_eq!(resp.status(), StatusCode::OK, "login as {login:?}");
            let body = json_body(resp).await;
            assert!(body["token"].as_str().unwrap().len() >= 43);
            assert!(body["expires_at"].is_string());
            assert_eq!(body["player"]["id"], player["id"]);
            assert_eq!(body["player"]["email"], "alice@example.com");
        }
    }

    async fn each_login_issues_a_new_token(app: TestApp) {
        let (registered, _) = app.register("alice").await;
        let first = app.login_ok("alice", PASSWORD).await;
        let second = app.login_ok("alice", PASSWORD).await;
        assert_ne!(first, second);
        assert_ne!(first, registered);
        for token in [&registered, &first, &second] {
            assert_eq!(app.me_status(token).await, 200);
        }
    }

    async fn a_wrong_password_and_an_unknown_player_get_the_same_401(app: TestApp) {
        app.register("alice").await;
        let wrong = assert_problem(app.login("alice", "wrong password").await, 401, "invalid_credentials").await;
        let unknown = assert_problem(app.login("nobody", PASSWORD).await, 401, "invalid_credentials").await;
        assert_eq!(wrong["detail"], unknown["detail"], "nothing tells the two apart");
        let too_long = "x".repeat(300);
        assert_problem(app.login(&too_long, PASSWORD).await, 401, "invalid_credentials").await;
    }

    async fn repeated_failures_on_one_account_are_throttled_with_retry_after(app: TestApp) {
        app.register("alice").await;
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            assert_problem(app.login("alice", "wrong password").await, 401, "invalid_credentials").await;
        }
        let resp = app.login("alice", "wrong password").await;
        assert_retry_after(&resp);
        assert_problem(resp, 429, "rate_limited").await;
        // The account is throttled under every spelling of its login …
        let resp = app.login("ALICE", PASSWORD).await;
        assert_retry_after(&resp);
        assert_problem(resp, 429, "rate_limited").await;
        // … even for the correct password, but other accounts are not.
        app.register("bob").await;
        app.login_ok("bob", PASSWORD).await;
    }

    async fn a_successful_login_resets_the_account_failure_count(app: TestApp) {
        app.register("alice").await;
        for _ in 0..MAX_FAILURES_PER_ACCOUNT - 1 {
            assert_eq!(app.login("alice", "wrong password").await.status(), 401);
        }
        app.login_ok("alice", PASSWORD).await;
        for _ in 0..MAX_FAILURES_PER_ACCOUNT - 1 {
            assert_eq!(app.login("alice", "wrong password").await.status(), 401);
        }
        app.login_ok("alice", PASSWORD).await;
    }

    async fn repeated_failures_from_one_address_are_throttled_across_accounts(app: TestApp) {
        app.register("alice").await;
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            // A different (unknown) account each time: only the address limit can trip.
            let resp = app.login(&format!("nobody{i}"), PASSWORD).await;
            assert_problem(resp, 401, "invalid_credentials").await;
        }
        let resp = app.login("somebody-else", PASSWORD).await;
        assert_retry_after(&resp);
        assert_problem(resp, 429, "rate_limited").await;
        // A correct password from this address is refused too while it is throttled.
        let resp = app.login("alice", PASSWORD).await;
        assert_problem(resp, 429, "rate_limited").await;
    }

    async fn x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(app: TestApp) {
        // `trust_forwarded_for` is off by default: a client cannot dodge the address limit by
        // inventing a new X-Forwarded-For for every attempt.
        assert!(!app.config.trust_forwarded_for);
        for i in 0..=MAX_FAILURES_PER_ADDRESS {
            let resp = app
                .http
                .post(app.url(LOGIN))
                .header("x-forwarded-for", format!("10.0.0.{i}"))
                .json(&json!({ "login": format!("nobody{i}"), "password": PASSWORD }))
                .send()
                .await
                .unwrap();
            let expected = if i < MAX_FAILURES_PER_ADDRESS { 401 } else { 429 };
            assert_eq!(resp.status(), expected, "attempt {i}");
        }
    }

    // --- tokens --------------------------------------------------------------------------------

    async fn me_answers_with_a_valid_token_and_401_without_one(app: TestApp) {
        let (token, player) = app.register("alice").await;
        let resp = app.authed_get("/api/v1/me", &token).await;
        assert_eq!(resp.status(), 200);
        let me = json_body(resp).await;
        assert_eq!(me, player, "GET /me is the player object of the auth response");
        assert_eq!(me["email"], "alice@example.com");

        assert_problem(app.get("/api/v1/me").await, 401, "unauthorized").await;
        assert_problem(app.authed_get("/api/v1/me", "garbage").await, 401, "unauthorized").await;
        let other_scheme = app
            .http
            .get(app.url("/api/v1/me"))
            .header("authorization", format!("Basic {token}"))
            .send()
            .await
            .unwrap();
        assert_problem(other_scheme, 401, "unauthorized").await;
        // The scheme name is case-insensitive.
        let lower = app
            .http
            .get(app.url("/api/v1/me"))
            .header("authorization", format!("bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(lower.status(), 200);
    }

    async fn logout_revokes_only_the_token_it_was_called_with(app: TestApp) {
        let (first, _) = app.register("alice").await;
        let second = app.login_ok("alice", PASSWORD).await;
        let resp = app.authed_post("/api/v1/auth/logout", &first).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_problem(app.authed_get("/api/v1/me", &first).await, 401, "unauthorized").await;
        assert_eq!(app.me_status(&second).await, 200, "the player's other token still works");
        // A revoked token cannot log out again.
        let again = app.authed_post("/api/v1/auth/logout", &first).await;
        assert_problem(again, 401, "unauthorized").await;
        assert_problem(app.http.post(app.url("/api/v1/auth/logout")).send().await.unwrap(), 401, "unauthorized").await;
    }

    async fn logout_all_revokes_every_token_of_the_player_and_no_one_elses(app: TestApp) {
        let (first, _) = app.register("alice").await;
        let second = app.login_ok("alice", PASSWORD).await;
        let third = app.login_ok("alice@example.com", PASSWORD).await;
        let (bob, _) = app.register("bob").await;
        let resp = app.authed_post("/api/v1/auth/logout-all", &second).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        for token in [&first, &second, &third] {
            assert_eq!(app.me_status(token).await, 401);
        }
        assert_eq!(app.me_status(&bob).await, 200);
        // Logging in again works and gives a live token.
        let fresh = app.login_ok("alice", PASSWORD).await;
        assert_eq!(app.me_status(&fresh).await, 200);
    }

    async fn revocation_survives_a_restart_on_the_same_database(app: TestApp) {
        let (revoked, _) = app.register("alice").await;
        let live = app.login_ok("alice", PASSWORD).await;
        assert_eq!(app.authed_post("/api/v1/auth/logout", &revoked).await.status(), 204);

        let started = std::time::Instant::now();
        let old_addr = app.addr;
        let app = app.restart().await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "a graceful stop does not wait out idle keep-alive connections: {:?}",
            started.elapsed()
        );
        assert_ne!(app.addr, old_addr, "a new server on a new port");

        assert_problem(app.authed_get("/api/v1/me", &revoked).await, 401, "unauthorized").await;
        assert_eq!(app.me_status(&live).await, 200, "a live token survives the restart");
        app.login_ok("alice", PASSWORD).await;
    }

    // --- the caller's profile --------------------------------------------------------------------

    async fn a_player_sets_and_clears_their_profile(app: TestApp) {
        let (token, _) = app.register("alice").await;
        let resp = app
            .authed_patch_json(
                "/api/v1/me",
                &token,
                &json!({
                    "display_name": "  Alice A.  ",
                    "bio": "Plays connect4.\nLikes chess.",
                    "avatar_url": "https://example.com/alice.png",
                }),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let me = json_body(resp).await;
        assert_eq!(me["display_name"], "Alice A.", "trimmed");
        assert_eq!(me["bio"], "Plays connect4.\nLikes chess.");
        assert_eq!(me["avatar_url"], "https://example.com/alice.png");
        assert_eq!(me["email"], "alice@example.com");

        // Absent fields are left alone; `null` clears.
        let resp = app
            .authed_patch_json("/api/v1/me", &token, &json!({ "bio": null }))
            .await;
        let me = json_body(resp).await;
        assert_eq!(me["bio"], Value::Null);
        assert_eq!(me["display_name"], "Alice A.");

        let resp = app
            .authed_patch_json("/api/v1/me", &token, &json!({ "display_name": null, "avatar_url": null }))
            .await;
        let me = json_body(resp).await;
        assert_eq!(me["display_name"], Value::Null);
        assert_eq!(me["avatar_url"], Value::Null);

        // The change is stored, not just echoed.
        let stored = json_body(app.authed_get("/api/v1/me", &token).await).await;
        assert_eq!(stored, me);
    }

    async fn invalid_profile_fields_are_refused_with_422(app: TestApp) {
        let (token, _) = app.register("alice").await;
        let cases = [
            (json!({ "avatar_url": "javascript:alert(1)" }), ("avatar_url", "invalid_url")),
            (json!({ "avatar_url": "ftp://example.com/a.png" }), ("avatar_url", "invalid_url")),
            (json!({ "avatar_url": "https://example.com/a b.png" }), ("avatar_url", "invalid_url")),
            (json!({ "display_name": "x".repeat(41) }), ("display_name", "too_long")),
            (json!({ "display_name": "a\u{7}b" }), ("display_name", "invalid_characters")),
            (json!({ "bio": "b".repeat(501) }), ("bio", "too_long")),
            (json!({ "new_password": "short", "old_password": PASSWORD }), ("new_password", "too_short")),
        ];
        for (body, expected) in cases {
            let resp = app.authed_patch_json("/api/v1/me", &token, &body).await;
            let problem = assert_problem(resp, 422, "validation_failed").await;
            assert_eq!(field_errors(&problem), pairs(&[expected]), "{body}");
        }
        let resp = app
            .authed_patch_json("/api/v1/me", &token, &json!({ "nickname": "x" }))
            .await;
        assert_problem(resp, 422, "malformed_request").await;
        let resp = app
            .http
            .patch(app.url("/api/v1/me"))
            .json(&json!({ "bio": "x" }))
            .send()
            .await
            .unwrap();
        assert_problem(resp, 401, "unauthorized").await;
        // Nothing was changed by the refused requests.
        let me = json_body(app.authed_get("/api/v1/me", &token).await).await;
        assert_eq!(me["display_name"], Value::Null);
        assert_eq!(me["avatar_url"], Value::Null);
    }

    async fn a_password_change_needs_the_old_password(app: TestApp) {
        let (token, _) = app.register("alice").await;
        for body in [
            json!({ "new_password": "a brand new password", "old_password": "not the password" }),
            json!({ "new_password": "a brand new password" }),
        ] {
            let resp = app.authed_patch_json("/api/v1/me", &token, &body).await;
            assert_problem(resp, 403, "forbidden").await;
        }
        app.login_ok("alice", PASSWORD).await;
        assert_eq!(app.login("alice", "a brand new password").await.status(), 401);
    }

    async fn a_password_change_revokes_the_other_tokens_and_keeps_this_one(app: TestApp) {
        let (current, _) = app.register("alice").await;
        let other = app.login_ok("alice", PASSWORD).await;
        let (bob, _) = app.register("bob").await;
        let resp = app
            .authed_patch_json(
                "/api/v1/me",
                &current,
                &json!({ "old_password": PASSWORD, "new_password": "a brand new password" }),
            )
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(app.me_status(&current).await, 200, "the token that changed it stays valid");
        assert_eq!(app.me_status(&other).await, 401, "every other token is revoked");
        assert_eq!(app.me_status(&bob).await, 200, "other players are untouched");
        app.login_ok("alice", "a brand new password").await;
        assert_problem(app.login("alice", PASSWORD).await, 401, "invalid_credentials").await;
    }

    // --- guests --------------------------------------------------------------------------------

    async fn a_guest_gets_a_generated_name_and_no_email(app: TestApp) {
        let (token, player) = app.guest().await;
        assert_eq!(player["guest"], true);
        assert_eq!(player["email"], Value::Null);
        let name = player["username"].as_str().unwrap();
        assert!(name.starts_with("guest-"), "{name}");
        assert_eq!(app.me_status(&token).await, 200);
        let (_, other) = app.guest().await;
        assert_ne!(other["username"], player["username"]);
        assert_ne!(other["id"], player["id"]);
        // A guest's public profile exists like anyone's.
        let public = json_body(app.get(&format!("/api/v1/players/{name}")).await).await;
        assert_eq!(public["guest"], true);
    }

    async fn a_guest_cannot_set_a_password_but_can_edit_the_profile(app: TestApp) {
        let (token, _) = app.guest().await;
        let resp = app
            .authed_patch_json("/api/v1/me", &token, &json!({ "new_password": "a brand new password" }))
            .await;
        assert_problem(resp, 403, "forbidden").await;
        let resp = app
            .authed_patch_json("/api/v1/me", &token, &json!({ "display_name": "Visitor" }))
            .await;
        assert_eq!(json_body(resp).await["display_name"], "Visitor");
        // Guests cannot log in with a password at all.
        let me = json_body(app.authed_get("/api/v1/me", &token).await).await;
        let resp = app.login(me["username"].as_str().unwrap(), "").await;
        assert_problem(resp, 401, "invalid_credentials").await;
    }

    // --- public profiles -------------------------------------------------------------------------

    async fn a_public_profile_is_found_in_any_case_and_never_shows_the_email(app: TestApp) {
        let (token, player) = app.register("Alice").await;
        app.authed_patch_json("/api/v1/me", &token, &json!({ "display_name": "Alice A." }))
            .await;
        for name in ["Alice", "alice", "ALICE"] {
            let resp = app.get(&format!("/api/v1/players/{name}")).await;
            assert_eq!(resp.status(), 200, "{name}");
            let public = json_body(resp).await;
            assert!(public.get("email").is_none(), "no email in {public}");
            assert!(!public.to_string().contains("example.com"), "{public}");
            assert_eq!(public["id"], player["id"]);
            assert_eq!(public["username"], "Alice");
            assert_eq!(public["display_name"], "Alice A.");
            let _: versus_protocol::PublicPlayer = serde_json::from_value(public).unwrap();
        }
    }

    async fn an_unknown_player_is_a_404_not_found(app: TestApp) {
        assert_problem(app.get("/api/v1/players/nobody").await, 404, "not_found").await;
        let long = "x".repeat(100);
        assert_problem(app.get(&format!("/api/v1/players/{long}")).await, 404, "not_found").await;
    }
}

/// Behind a proxy (`trust_forwarded_for` on), the address limit applies to the client address
/// the proxy reports, so one client's failures do not lock out the others.
mod behind_a_trusted_proxy {
    use reqwest::Response;
    use serde_json::json;

    use crate::helpers::{MAX_FAILURES_PER_ADDRESS, PASSWORD, TestApp, assert_problem};

    async fn login_via_proxy(app: &TestApp, client_ip: &str, login: &str) -> Response {
        app.http
            .post(app.url(super::LOGIN))
            // One entry, as a proxy that overwrites the header with the peer address sends it.
            .header("x-forwarded-for", client_ip)
            .json(&json!({ "login": login, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
    }

    both_backends! {
        settings = &[("trust_forwarded_for", "true")];

        async fn the_address_limit_applies_per_forwarded_client(app: TestApp) {
            app.register("alice").await;
            for i in 0..MAX_FAILURES_PER_ADDRESS {
                let resp = login_via_proxy(&app, "198.51.100.7", &format!("nobody{i}")).await;
                assert_eq!(resp.status(), 401);
            }
            let resp = login_via_proxy(&app, "198.51.100.7", "another").await;
            assert_problem(resp, 429, "rate_limited").await;
            // Another client behind the same proxy is not affected.
            let resp = login_via_proxy(&app, "198.51.100.8", "alice").await;
            assert_eq!(resp.status(), 200);
        }
    }
}

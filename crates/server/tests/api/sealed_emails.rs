//! Email addresses at rest (issue 11): sealed with an authenticated cipher, found by a keyed
//! hash, rows from before sealing sealed at start, and a key rotation with
//! `versus admin reseal-emails`. The database itself is read here, bypassing the server.

use reqwest::StatusCode;

use crate::helpers::{
    Db, PASSWORD, TestApp, TestDatabase, assert_problem, binary_command, json_body,
};

const K1: &str = "k1:jPJMd7E8p+zq/mOuy5aXUoHCK4FuHw/0HrpiDUPxXUQ=";
const K2: &str = "k2:BbCsywbXqoseuMAMSuQnp0t12iTiKOxFKpt33kg89aE=";

/// A player's row as stored: `(email, email_lower, email_sealed, email_index)`.
type EmailColumns = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

const SELECT: &str =
    "SELECT email, email_lower, email_sealed, email_index FROM players WHERE username_lower = $1";

async fn stored(database: &TestDatabase, username: &str) -> EmailColumns {
    stored_in(database.db, &database.url, username).await
}

async fn stored_in(db: Db, url: &str, username: &str) -> EmailColumns {
    match db {
        Db::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let row = sqlx::query_as(SELECT)
                .bind(username)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            row
        }
        Db::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let row = sqlx::query_as(SELECT)
                .bind(username)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            row
        }
    }
}

/// Puts `email` back in clear on `username`'s row, as before migration 0008.
async fn store_in_clear(db: Db, url: &str, username: &str, email: &str) {
    const SQL: &str = "UPDATE players SET email = $1, email_lower = $2, email_sealed = NULL, \
                       email_index = NULL WHERE username_lower = $3";
    match db {
        Db::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let done = sqlx::query(SQL)
                .bind(email)
                .bind(email.to_lowercase())
                .bind(username)
                .execute(&pool)
                .await
                .unwrap();
            assert_eq!(done.rows_affected(), 1);
            pool.close().await;
        }
        Db::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let done = sqlx::query(SQL)
                .bind(email)
                .bind(email.to_lowercase())
                .bind(username)
                .execute(&pool)
                .await
                .unwrap();
            assert_eq!(done.rows_affected(), 1);
            pool.close().await;
        }
    }
}

/// Asserts the row holds no address in clear, sealed under `key` (any key: `None`).
async fn assert_sealed(database: &TestDatabase, username: &str, email: &str, key: Option<&str>) {
    let (plain, lower, sealed, index) = stored(database, username).await;
    assert_eq!(
        (plain, lower),
        (None, None),
        "{username}'s address is in clear"
    );
    let sealed = sealed.expect("a sealed address");
    let index = index.expect("an email index");
    let local = email.split('@').next().unwrap().to_lowercase();
    for stored in [&sealed, &index] {
        let (id, _) = stored.split_once(':').expect("`key-id:…`");
        if let Some(key) = key {
            assert_eq!(id, key, "{stored} is not under key {key}");
        }
        assert!(
            !stored.to_lowercase().contains(&local) && !stored.to_lowercase().contains("example"),
            "{stored} shows the address"
        );
    }
}

/// Logs in by `login` and returns the `email` of `GET /api/v1/me`.
async fn email_after_login(app: &TestApp, login: &str) -> Option<String> {
    let token = app.login_ok(login, PASSWORD).await;
    let me = json_body(app.authed_get("/api/v1/me", &token).await).await;
    me["email"].as_str().map(str::to_string)
}

both_backends! {
    async fn an_address_is_stored_sealed_and_found_by_its_keyed_hash(app: TestApp) {
        let resp = app.register_with("Alice", "Alice.Smith@Example.com", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(json_body(resp).await["player"]["email"], "Alice.Smith@Example.com");
        assert_sealed(&app.database, "alice", "Alice.Smith@Example.com", None).await;
        // Login by address ignores case, as before sealing.
        assert_eq!(
            email_after_login(&app, "ALICE.smith@example.COM").await.as_deref(),
            Some("Alice.Smith@Example.com")
        );
        // Uniqueness rests on the keyed hash.
        let dup = app.register_with("bob", "alice.smith@EXAMPLE.com", PASSWORD).await;
        assert_problem(dup, 409, "email_taken").await;
        let wrong = app.login("nobody@example.com", PASSWORD).await;
        assert_problem(wrong, 401, "invalid_credentials").await;
    }

    async fn addresses_stored_in_clear_before_sealing_are_sealed_at_start(app: TestApp) {
        app.register("bob").await;
        app.register("carol").await;
        let (db, url) = (app.database.db, app.database.url.clone());
        let app = app
            .restart_after(|_| async move {
                store_in_clear(db, &url, "bob", "Bob@Example.com").await;
                let (plain, ..) = stored_in(db, &url, "bob").await;
                assert_eq!(plain.as_deref(), Some("Bob@Example.com"));
            })
            .await;
        assert_sealed(&app.database, "bob", "Bob@Example.com", None).await;
        assert_eq!(
            email_after_login(&app, "bob@example.com").await.as_deref(),
            Some("Bob@Example.com")
        );
        assert_eq!(
            email_after_login(&app, "carol@example.com").await.as_deref(),
            Some("carol@example.com")
        );
    }
}

mod rotation {
    use super::*;

    both_backends! {
        settings = &[("email_keys", crate::sealed_emails::K1)];

        async fn after_a_rotation_every_address_is_resealed_and_the_old_key_can_go(app: TestApp) {
            app.register("alice").await;
            app.register("bob").await;
            assert_sealed(&app.database, "alice", "alice@example.com", Some("k1")).await;

            // A new key first, the old one kept: old rows still open and are found, new rows
            // use the new key, and an address under the old key is still taken.
            let app = app.restart_with(&[("email_keys", &format!("{K2},{K1}"))]).await;
            assert_eq!(
                email_after_login(&app, "ALICE@example.com").await.as_deref(),
                Some("alice@example.com")
            );
            app.register("carol").await;
            assert_sealed(&app.database, "carol", "carol@example.com", Some("k2")).await;
            let dup = app.register_with("dave", "Bob@example.com", PASSWORD).await;
            assert_problem(dup, 409, "email_taken").await;

            // The operator reseals everything under the new key (while the node serves).
            let out = binary_command()
                .args(["admin", "reseal-emails"])
                .env("VERSUS_DATABASE_URL", &app.database.url)
                .env("VERSUS_DATA_DIR", app.config.data_dir.as_os_str())
                .env("VERSUS_EMAIL_KEYS", format!("{K2},{K1}"))
                .output()
                .expect("versus runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
            assert!(stdout.contains("resealed 2 email address(es) under key k2"), "{stdout}");

            // Then the old key goes: every address still opens and is found.
            let app = app.restart_with(&[("email_keys", K2)]).await;
            for name in ["alice", "bob", "carol"] {
                let email = format!("{name}@example.com");
                assert_sealed(&app.database, name, &email, Some("k2")).await;
                assert_eq!(email_after_login(&app, &email).await, Some(email.clone()));
            }
            let dup = app.register_with("erin", "alice@example.com", PASSWORD).await;
            assert_problem(dup, 409, "email_taken").await;
        }
    }
}

#[tokio::test]
async fn a_node_with_an_invalid_keyring_refuses_to_start_without_quoting_it() {
    let out = binary_command()
        .args(["check-config"])
        .env("VERSUS_EMAIL_KEYS", "k1:c2VjcmV0LWJ1dC1zaG9ydA==")
        .output()
        .expect("versus runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("email_keys"), "{stderr}");
    assert!(!stderr.contains("c2VjcmV0"), "the key is quoted: {stderr}");
}

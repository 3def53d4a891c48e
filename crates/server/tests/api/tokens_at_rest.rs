//! Bearer tokens and invite-link codes at rest: the database holds only their SHA-256, never
//! the secret itself. Read straight from the database, table by table, column by column (and,
//! on SQLite, the database files byte by byte).

use reqwest::StatusCode;
use serde_json::json;
use sha2::Digest;
use sqlx::Row;

use crate::games::{create, player};
use crate::helpers::{Db, PASSWORD, TestApp, json_body};

/// Every row of every table, as `(table, the row as text)`.
async fn every_row(app: &TestApp) -> Vec<(String, String)> {
    let url = &app.database.url;
    let mut out = Vec::new();
    match app.backend() {
        Db::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            for table in tables {
                let columns: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "PRAGMA table_info(\"{table}\")"
                )))
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("name"))
                .collect();
                // quote(): text as a literal, blobs as X'hex'.
                let row = columns
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || ',' || ");
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT {row} FROM \"{table}\""
                )))
                .fetch_all(&pool)
                .await
                .unwrap();
                out.extend(rows.into_iter().map(|r| (table.clone(), r)));
            }
            pool.close().await;
        }
        Db::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            for table in tables {
                // row_to_json: every column, bytea as \x-hex.
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT row_to_json(t)::text FROM \"{table}\" t"
                )))
                .fetch_all(&pool)
                .await
                .unwrap();
                out.extend(rows.into_iter().map(|r| (table.clone(), r)));
            }
            pool.close().await;
        }
    }
    out
}

fn sha256_hex(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

both_backends! {
    async fn the_database_holds_only_hashes_of_tokens_and_invite_codes(app: TestApp) {
        let (registered, _) = app.register("alice").await;
        let logged_in = app.login_ok("alice", PASSWORD).await;
        let (guest, _) = app.guest().await;
        let bob = player(&app, "bob").await;
        let game = create(&app, &bob, "tictactoe", json!({ "visibility": "private" })).await.id;
        let resp = app.authed_post(&format!("/api/v1/games/{game}/invite-links"), &bob.token).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let code = json_body(resp).await["code"].as_str().unwrap().to_string();

        let rows = every_row(&app).await;
        assert!(rows.iter().any(|(t, _)| t == "auth_tokens"), "no auth_tokens rows read");
        let tokens: Vec<&(String, String)> = rows.iter().filter(|(t, _)| t == "auth_tokens").collect();
        assert_eq!(tokens.len(), 4, "{tokens:?}");
        for secret in [&registered, &logged_in, &guest, &bob.token, &code] {
            // Its hash is stored (so these are the right rows and columns)…
            let hash = sha256_hex(secret);
            assert!(rows.iter().any(|(_, r)| r.contains(&hash)), "no row holds the hash of {secret}");
            // …the secret itself nowhere, whole or as its first half.
            for (table, row) in &rows {
                assert!(!row.contains(secret.as_str()), "{table} holds a secret: {row}");
                assert!(!row.contains(&secret[..secret.len() / 2]), "{table} holds half a secret: {row}");
            }
        }
        // SQLite: not in the database files' bytes either (pages, WAL).
        if app.backend() == Db::Sqlite {
            let file = app.database.url.trim_start_matches("sqlite://").to_string();
            for path in [file.clone(), format!("{file}-wal")] {
                let Ok(bytes) = std::fs::read(&path) else { continue };
                for secret in [&registered, &logged_in, &guest, &bob.token, &code] {
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "{path} holds a secret"
                    );
                }
            }
        }
    }
}

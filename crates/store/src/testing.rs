//! Helpers for tests (this crate's conformance suite and the server's integration tests):
//! a fresh, isolated database per test on either backend.
//!
//! PostgreSQL tests read the server URL from `VERSUS_TEST_POSTGRES_URL`. When it is unset they
//! are skipped with a message — unless `CI` is set, where a missing PostgreSQL is a failure.

use sqlx::Connection;

/// The env var naming the PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_ENV: &str = "VERSUS_TEST_POSTGRES_URL";

/// The email keyring (`email_keys`, `VERSUS_EMAIL_KEYS`) of test servers on PostgreSQL,
/// where the server requires one. A test key, public in this repository: never use it for
/// anything else.
pub const TEST_EMAIL_KEYS: &str = "test-1:HNuytZEsjNduTVW9yBusDtq4EVSGvUlZx8E/wP3UfGk=";

/// The PostgreSQL URL tests should use, or `None` (with a message) to skip.
///
/// # Panics
/// In CI (`CI` set) when the variable is missing: PostgreSQL tests must run there.
pub fn postgres_server_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{POSTGRES_URL_ENV} is not set, but CI is: the PostgreSQL suite must run in CI"
                );
            }
            eprintln!("skipping a PostgreSQL test: set {POSTGRES_URL_ENV} to run it");
            None
        }
    }
}

/// Creates a new, empty database on the server at `server_url` and returns its URL.
pub async fn fresh_postgres_database(server_url: &str) -> Result<String, sqlx::Error> {
    let name = format!("versus_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(server_url).await?;
    // `name` is generated above from a UUID, never from input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(replace_database(server_url, &name))
}

/// Drops the database of `database_url`, made by [`fresh_postgres_database`] on the server
/// of `server_url`, once the test is done with it (a failing test skips this and leaves it for
/// inspection; CI sweeps old ones). Refuses any name it did not make.
pub async fn drop_postgres_database(
    server_url: &str,
    database_url: &str,
) -> Result<(), sqlx::Error> {
    let path = database_url.split('?').next().unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or_default();
    let ours = name
        .strip_prefix("versus_test_")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_hexdigit()));
    if !ours {
        return Err(sqlx::Error::Configuration(
            format!("not a test database: {name}").into(),
        ));
    }
    let mut conn = sqlx::PgConnection::connect(server_url).await?;
    // `name` was checked above to be one of ours (generated from a UUID).
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await
}

/// Replaces the database name (the path) of a `postgres://` URL.
fn replace_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A fresh SQLite URL in `dir`.
pub fn fresh_sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("versus.db").display())
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replace_database_swaps_only_the_path() {
        assert_eq!(
            replace_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}

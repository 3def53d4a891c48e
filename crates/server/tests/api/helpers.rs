//! Shared test harness: start a real server on port 0 with its own database, talk to it over
//! HTTP, and check problem documents.
//!
//! # Writing a test
//!
//! Put tests that need a server inside [`both_backends!`]; each one then runs twice, as
//! `sqlite::<name>` (a fresh SQLite file in a temporary data folder) and `postgres::<name>` (a
//! fresh PostgreSQL database on the server named by `VERSUS_TEST_POSTGRES_URL`):
//!
//! ```ignore
//! both_backends! {
//!     /// What the test shows, as a sentence.
//!     async fn a_registered_player_can_read_their_profile(app: TestApp) {
//!         let (token, _) = app.register("alice").await;
//!         let me = app.authed_get("/api/v1/me", &token).await;
//!         assert_eq!(me.status(), 200);
//!     }
//! }
//! ```
//!
//! Without `VERSUS_TEST_POSTGRES_URL` the PostgreSQL half is skipped with a message (and fails
//! when `CI` is set: see `versus_store::testing`). Every test gets its own database, so tests
//! run in parallel and never see each other's data; a passing PostgreSQL test drops its
//! database afterwards (a failing one leaves it for inspection; `.ci/run` sweeps old ones).
//!
//! To start a server with settings other than the test defaults, use [`spawn_app_with`];
//! to test the real `versus` executable (signals, exit codes, log output), use [`Binary`].
//!
//! Logs are quiet. Set `TEST_LOG=1` (or a filter such as `TEST_LOG=versus_server=debug`) to see
//! the server's log lines on stderr.
//!
//! # Logs of a whole test run, searched for secrets
//!
//! With `VERSUS_TEST_LOG_DIR` set (CI sets it), every test server's log goes to files in that
//! folder instead: the in-process servers' (all of them share one subscriber) at `debug` for
//! the Versus crates to `api-<pid>.log`, and each [`Binary`]'s stderr to
//! `binary-<pid>.log` (at `debug` unless the test chose `--log-level`). Every secret or
//! personal value the tests create through these helpers — passwords, bearer tokens and
//! their SHA-256, email addresses, invite-link codes and their SHA-256 — is appended to
//! `secrets-<pid>.txt` there ([`record_secret`]). `.ci/secrets-in-logs.sh` then searches
//! every log for every recorded value (and for patterns such as `Bearer `) and fails on any
//! hit.

// Not every test module uses every helper.
#![allow(dead_code)]

use std::collections::HashSet;
use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, Once, mpsc};
use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use versus_server::RunningServer;
use versus_server::config::{self, Config, Overrides};
use versus_store::testing::{fresh_postgres_database, fresh_sqlite_url, postgres_server_url};

/// The password [`TestApp::register`] gives every player.
pub const PASSWORD: &str = "correct horse battery staple";

/// Failed logins allowed per account in tests (small, so throttling tests are quick).
pub const MAX_FAILURES_PER_ACCOUNT: u32 = 3;
/// Failed logins allowed per client address in tests.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 6;

/// Which storage backend a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Generates `sqlite::<name>` and `postgres::<name>` `#[tokio::test]`s from each
/// `async fn <name>(app: TestApp) { … }`, so every test runs on both backends. Parameters are
/// passed through as written, so `mut app: TestApp` works too.
///
/// To run the tests of one invocation with settings other than the test defaults, start it
/// with `settings = <expr>;`, where the expression is a `&[(&'static str, &str)]` of literals
/// (keys as in `config::DEFAULTS`). Each invocation creates modules `sqlite` and `postgres`,
/// so a second invocation goes in its own module:
///
/// ```ignore
/// mod behind_a_trusted_proxy {
///     use crate::helpers::TestApp;
///     both_backends! {
///         settings = &[("trust_forwarded_for", "true")];
///         async fn the_forwarded_address_is_used(app: TestApp) { … }
///     }
/// }
/// ```
macro_rules! both_backends {
    (@emit $settings:expr; $(
        $(#[$attr:meta])*
        async fn $name:ident($($params:tt)*) $body:block
    )*) => {
        $(
            $(#[$attr])*
            async fn $name($($params)*) $body
        )*

        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::helpers::run_test($crate::helpers::Db::Sqlite, $settings, super::$name)
                        .await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::helpers::run_test($crate::helpers::Db::Postgres, $settings, super::$name)
                        .await;
                }
            )*
        }
    };
    (settings = $settings:expr; $($tests:tt)*) => {
        both_backends!(@emit $settings; $($tests)*);
    };
    ($($tests:tt)*) => {
        both_backends!(@emit &[]; $($tests)*);
    };
}

/// Runs one test body against a fresh server on `db` (test defaults plus `settings`); drops
/// its PostgreSQL database when the body returns (a panicking body leaves it behind, which is
/// fine: names are unique, and `.ci/run` sweeps old ones).
pub async fn run_test<F, Fut>(db: Db, settings: &[(&'static str, &str)], test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(app) = spawn_app_with(db, settings).await else {
        return;
    };
    let database = app.database.clone();
    test(app).await;
    database.drop_best_effort().await;
}

/// A database created for one test.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    pub db: Db,
    /// The URL a server (or the `versus` binary) connects to.
    pub url: String,
    /// For PostgreSQL: the server URL the database was created on (to drop it later).
    admin_url: Option<String>,
}

impl TestDatabase {
    /// A fresh database: a new SQLite file in `dir`, or a new PostgreSQL database. `None`
    /// when PostgreSQL is not configured (the test is skipped, with a message).
    pub async fn create(db: Db, dir: &Path) -> Option<TestDatabase> {
        match db {
            Db::Sqlite => Some(TestDatabase {
                db,
                url: fresh_sqlite_url(dir),
                admin_url: None,
            }),
            Db::Postgres => {
                let server = postgres_server_url()?;
                let url = fresh_postgres_database(&server)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create a PostgreSQL test database: {e}"));
                Some(TestDatabase {
                    db,
                    url,
                    admin_url: Some(server),
                })
            }
        }
    }

    /// Drops a PostgreSQL test database, ending any connection still open to it. Best effort:
    /// a failure only leaves a database behind for `.ci/run` to sweep.
    pub async fn drop_best_effort(&self) {
        if let Some(admin) = &self.admin_url {
            let _ = versus_store::testing::drop_postgres_database(admin, &self.url).await;
        }
    }
}

/// A server started for one test, and an HTTP client pointed at it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base_url: String,
    pub http: reqwest::Client,
    pub server: RunningServer,
    /// The configuration the server runs with (reused by [`TestApp::restart`]).
    pub config: Config,
    pub database: TestDatabase,
    /// The data folder; deleted when the app is dropped.
    pub _dir: TempDir,
}

/// Starts a server on `db` with the test defaults; `None` if PostgreSQL is not configured.
pub async fn spawn_app(db: Db) -> Option<TestApp> {
    spawn_app_with(db, &[]).await
}

/// Like [`spawn_app`], with extra settings (keys as in `config::DEFAULTS`, e.g.
/// `("trust_forwarded_for", "true")`) applied after the test defaults.
pub async fn spawn_app_with(db: Db, settings: &[(&'static str, &str)]) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("a temporary data folder");
    let database = TestDatabase::create(db, dir.path()).await?;
    let config = test_config(dir.path(), &database.url, settings);
    init_test_logging(&config);
    let server = versus_server::spawn(config.clone())
        .await
        .expect("the test server starts");
    Some(TestApp {
        addr: server.addr,
        base_url: format!("http://{}", server.addr),
        http: http_client(),
        server,
        config,
        database,
        _dir: dir,
    })
}

/// The test configuration: defaults, then port 0, the given data folder and database, small
/// pools and login limits, then `settings`. The process environment is not read, so a
/// developer's `VERSUS_*` variables cannot change a test.
pub fn test_config(
    data_dir: &Path,
    database_url: &str,
    settings: &[(&'static str, &str)],
) -> Config {
    let mut values: Vec<(&'static str, String)> = vec![
        ("listen", "127.0.0.1:0".into()),
        ("data_dir", data_dir.display().to_string()),
        ("database_url", database_url.into()),
        ("database_max_connections", "4".into()),
        (
            "login_max_failures_per_account",
            MAX_FAILURES_PER_ACCOUNT.to_string(),
        ),
        (
            "login_max_failures_per_address",
            MAX_FAILURES_PER_ADDRESS.to_string(),
        ),
        ("log_level", test_log_filter()),
    ];
    if database_url.starts_with("postgres") {
        values.push(("email_keys", versus_store::testing::TEST_EMAIL_KEYS.into()));
        for pair in versus_store::testing::TEST_EMAIL_KEYS.split(',') {
            if let Some((_, key)) = pair.split_once(':') {
                record_secret(Secret::Other, key);
            }
        }
    }
    values.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
    config::load(None, std::iter::empty(), &Overrides { values }).expect("a valid test config")
}

/// `TEST_LOG=1` → `info`; any other value is used as the filter.
fn test_log_filter() -> String {
    match std::env::var("TEST_LOG") {
        Ok(v) if !v.is_empty() && v != "1" && v != "true" => v,
        _ => "info".into(),
    }
}

/// Installs the log subscriber once per test binary: into `VERSUS_TEST_LOG_DIR` when set,
/// else on stderr when `TEST_LOG` is set, else none.
fn init_test_logging(config: &Config) {
    static INIT: Once = Once::new();
    if let Some(dir) = test_log_dir() {
        INIT.call_once(|| {
            let path = dir.join(format!("api-{}.log", std::process::id()));
            let file = File::options()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(DEBUG_FILTER))
                .with_writer(Mutex::new(file))
                .with_ansi(false)
                .try_init();
        });
    } else if std::env::var_os("TEST_LOG").is_some() {
        INIT.call_once(|| versus_server::telemetry::init_logging(config));
    }
}

/// The log filter of a test run whose logs are kept: everything of ours, at `debug`.
pub const DEBUG_FILTER: &str = "info,versus=debug,versus_server=debug,versus_store=debug,versus_rules=debug,versus_protocol=debug";

/// The folder named by `VERSUS_TEST_LOG_DIR` (created if missing), if set.
pub fn test_log_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("VERSUS_TEST_LOG_DIR").filter(|d| !d.is_empty())?);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create VERSUS_TEST_LOG_DIR {}: {e}", dir.display()));
    Some(dir)
}

/// What a recorded value is (hashes are recorded too for the kinds the server hashes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    Password,
    /// A bearer token (also recorded as the SHA-256 hex the database keeps).
    Token,
    /// An email address (also recorded lower-cased).
    Email,
    /// An invite-link code (also recorded as its SHA-256 hex).
    InviteCode,
    /// Any other secret or personal value (a key, a private message), recorded as is.
    Other,
}

/// Records a secret or personal value a test created, for the search of the run's logs (see
/// the module documentation). A no-op without `VERSUS_TEST_LOG_DIR`. Values too short or
/// too plain to search for without false alarms (under 8 characters, an email without `@`)
/// are skipped.
pub fn record_secret(kind: Secret, value: &str) {
    use sha2::Digest;
    static RECORDED: Mutex<Option<(HashSet<String>, File)>> = Mutex::new(None);
    let value = value.trim();
    if value.chars().count() < 8 || value.contains('\n') || value.contains('\r') {
        return;
    }
    if kind == Secret::Email && !value.contains('@') {
        return;
    }
    let Some(dir) = test_log_dir() else {
        return;
    };
    let mut values = vec![value.to_string()];
    match kind {
        Secret::Token | Secret::InviteCode => {
            values.push(hex::encode(sha2::Sha256::digest(value.as_bytes())));
        }
        Secret::Email => values.push(value.to_lowercase()),
        Secret::Password | Secret::Other => {}
    }
    let mut recorded = RECORDED.lock().unwrap_or_else(|p| p.into_inner());
    let (seen, file) = recorded.get_or_insert_with(|| {
        let path = dir.join(format!("secrets-{}.txt", std::process::id()));
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        (HashSet::new(), file)
    });
    for v in values {
        if seen.insert(v.clone()) {
            let _ = writeln!(file, "{v}");
        }
    }
}

/// Records the secrets in a request or response body: passwords, tokens, emails, and the
/// code of an invite link.
pub fn record_secrets_in(body: &Value) {
    if test_log_dir().is_none() {
        return;
    }
    match body {
        Value::Object(map) => {
            for (key, v) in map {
                if let Value::String(text) = v {
                    match key.as_str() {
                        "password" | "old_password" | "new_password" => {
                            record_secret(Secret::Password, text)
                        }
                        "token" => record_secret(Secret::Token, text),
                        "email" | "login" => record_secret(Secret::Email, text),
                        "code"
                            if map
                                .get("path")
                                .and_then(Value::as_str)
                                .is_some_and(|p| p.starts_with("/invite/")) =>
                        {
                            record_secret(Secret::InviteCode, text)
                        }
                        _ => {}
                    }
                } else {
                    record_secrets_in(v);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(record_secrets_in),
        _ => {}
    }
}

/// An HTTP client that fails a request after 30 s instead of hanging a test. Idle pooled
/// connections are dropped after 5 s, before the server's header deadline (10 s by default)
/// closes them, so a request is never sent into a connection the server is closing.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

impl TestApp {
    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Whether the server stores to PostgreSQL (some assertions differ by nothing else).
    pub fn backend(&self) -> Db {
        self.database.db
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn authed_get(&self, path: &str, token: &str) -> Response {
        record_secret(Secret::Token, token);
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    /// POSTs `body` as JSON (`Content-Type: application/json`).
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        record_secrets_in(body);
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// POSTs raw bytes with the given `Content-Type` (`None`: no such header).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Response {
        let mut req = self.http.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        req.send().await.expect("POST")
    }

    /// POSTs with a bearer token and no body.
    pub async fn authed_post(&self, path: &str, token: &str) -> Response {
        record_secret(Secret::Token, token);
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("POST")
    }

    pub async fn authed_post_json(&self, path: &str, token: &str, body: &Value) -> Response {
        record_secret(Secret::Token, token);
        record_secrets_in(body);
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn authed_patch_json(&self, path: &str, token: &str, body: &Value) -> Response {
        record_secret(Secret::Token, token);
        record_secrets_in(body);
        self.http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    /// `POST /api/v1/auth/register` with any body fields, unchecked.
    pub async fn register_with(&self, username: &str, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &serde_json::json!({ "username": username, "email": email, "password": password }),
        )
        .await
    }

    /// Registers `username` (email `<username>@example.com`, password [`PASSWORD`]), asserts
    /// 201, and returns the token and the `player` object.
    pub async fn register(&self, username: &str) -> (String, Value) {
        let email = format!("{}@example.com", username.to_lowercase());
        let resp = self.register_with(username, &email, PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "registering {username}");
        token_and_player(resp).await
    }

    /// Creates a guest, asserts 201, and returns the token and the `player` object.
    pub async fn guest(&self) -> (String, Value) {
        let resp = self
            .http
            .post(self.url("/api/v1/auth/guest"))
            .send()
            .await
            .expect("POST");
        assert_eq!(resp.status(), StatusCode::CREATED, "creating a guest");
        token_and_player(resp).await
    }

    /// `POST /api/v1/auth/login`, unchecked.
    pub async fn login(&self, login: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &serde_json::json!({ "login": login, "password": password }),
        )
        .await
    }

    /// Logs in, asserts 200, and returns the new token.
    pub async fn login_ok(&self, login: &str, password: &str) -> String {
        let resp = self.login(login, password).await;
        assert_eq!(resp.status(), StatusCode::OK, "logging in as {login}");
        token_and_player(resp).await.0
    }

    /// The status of `GET /api/v1/me` with `token`: a quick "is this token live?".
    pub async fn me_status(&self, token: &str) -> StatusCode {
        self.authed_get("/api/v1/me", token).await.status()
    }

    /// Stops the server gracefully, asserting that it stopped without error.
    pub async fn stop(self) -> (Config, TestDatabase, TempDir) {
        self.server.stop().await.expect("the server stops cleanly");
        (self.config, self.database, self._dir)
    }

    /// Stops the server and starts a new one on the same data folder and database (on a new
    /// port): what a restart after a deploy or a crash-free stop looks like.
    pub async fn restart(self) -> TestApp {
        self.restart_after(|_| async {}).await
    }

    /// Like [`TestApp::restart`], with the test configuration plus `settings` instead of the
    /// configuration it ran with (e.g. other keys).
    pub async fn restart_with(self, settings: &[(&'static str, &str)]) -> TestApp {
        let http = self.http.clone();
        let (_, database, dir) = self.stop().await;
        let config = test_config(dir.path(), &database.url, settings);
        let server = versus_server::spawn(config.clone())
            .await
            .expect("the server restarts");
        TestApp {
            addr: server.addr,
            base_url: format!("http://{}", server.addr),
            http,
            server,
            config,
            database,
            _dir: dir,
        }
    }

    /// Like [`TestApp::restart`], running `between` while no server runs (e.g. to write to
    /// the database the way a node that crashed right after would have).
    pub async fn restart_after<F, Fut>(self, between: F) -> TestApp
    where
        F: FnOnce(Config) -> Fut,
        Fut: Future<Output = ()>,
    {
        let http = self.http.clone();
        let (config, database, dir) = self.stop().await;
        between(config.clone()).await;
        let server = versus_server::spawn(config.clone())
            .await
            .expect("the server restarts");
        TestApp {
            addr: server.addr,
            base_url: format!("http://{}", server.addr),
            http,
            server,
            config,
            database,
            _dir: dir,
        }
    }
}

/// The `token` and `player` of an auth response (register, guest or login).
pub async fn token_and_player(resp: Response) -> (String, Value) {
    let body = json_body(resp).await;
    let token = body["token"].as_str().expect("a token").to_string();
    record_secret(Secret::Token, &token);
    (token, body["player"].clone())
}

/// Asserts a JSON content type and returns the body.
pub async fn json_body(resp: Response) -> Value {
    let ct = content_type(&resp);
    assert!(
        ct.starts_with("application/json"),
        "expected application/json, got {ct:?} (status {})",
        resp.status()
    );
    let body: Value = resp.json().await.expect("a JSON body");
    record_secrets_in(&body);
    body
}

/// The response's `Content-Type`, or "".
pub fn content_type(resp: &Response) -> String {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Asserts that `resp` is an RFC 9457 problem document with `status` and `code`, carrying
/// the same request id in its `x-request-id` header and its body; returns the body.
pub async fn assert_problem(resp: Response, status: u16, code: &str) -> Value {
    assert_eq!(
        resp.status().as_u16(),
        status,
        "status of a `{code}` problem"
    );
    assert_eq!(content_type(&resp), "application/problem+json");
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("an x-request-id header");
    assert!(!request_id.is_empty());
    let body: Value = resp.json().await.expect("a JSON problem body");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["type"], format!("urn:versus:error:{code}"), "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    body
}

/// The `(field, reason)` pairs of a `validation_failed` problem.
pub fn field_errors(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or_default().to_string(),
                        e["reason"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The real `versus` executable, started as a child process, with its stderr collected.
/// Killed (SIGKILL) when dropped, so a failing test never leaves a server behind.
pub struct Binary {
    pub child: Child,
    /// The address from its "listening" log line.
    pub addr: SocketAddr,
    pub base_url: String,
    log: Arc<Mutex<Vec<String>>>,
    /// The thread copying stderr into `log`; finished once the process has exited and its
    /// last line is collected.
    reader: std::thread::JoinHandle<()>,
}

/// Path of the `versus` executable Cargo built for these tests.
pub fn binary_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_versus"))
}

/// A `Command` for the `versus` executable with no `VERSUS_*` variables inherited.
pub fn binary_command() -> Command {
    let mut cmd = Command::new(binary_path());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("VERSUS_") {
            cmd.env_remove(name);
        }
    }
    // Required on PostgreSQL; on SQLite it stands in for the generated key file.
    cmd.env("VERSUS_EMAIL_KEYS", versus_store::testing::TEST_EMAIL_KEYS);
    cmd.stdin(Stdio::null());
    cmd
}

impl Binary {
    /// Starts `versus <args>`, waits (up to 30 s) for its "listening" log line, then until
    /// the process catches SIGTERM.
    ///
    /// The second wait works around a reported race: `versus_server::run` installs its
    /// signal handlers in a task spawned after the server logs "listening", so a SIGTERM
    /// sent right after that line can still kill the process outright. Once the handlers are
    /// installed before the line is logged, this is a no-op.
    pub fn start(args: &[&str]) -> Binary {
        let binary = Binary::start_until_listening(args);
        binary.wait_until_sigterm_is_caught();
        binary
    }

    /// Linux: polls `/proc/<pid>/status` until SIGTERM is in the caught-signals mask (up to
    /// 10 s). Elsewhere: returns at once.
    fn wait_until_sigterm_is_caught(&self) {
        const SIGTERM_BIT: u64 = 1 << (15 - 1);
        let status = format!("/proc/{}/status", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let Ok(text) = std::fs::read_to_string(&status) else {
                return;
            };
            let caught = text
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok());
            match caught {
                Some(mask) if mask & SIGTERM_BIT != 0 => return,
                Some(_) => std::thread::sleep(Duration::from_millis(5)),
                None => return,
            }
        }
        panic!(
            "versus never installed a SIGTERM handler; its log:\n{}",
            self.log()
        );
    }

    /// Starts `versus <args>` and waits (up to 30 s) for its "listening" log line only.
    pub fn start_until_listening(args: &[&str]) -> Binary {
        let keep = test_log_dir();
        let mut cmd = binary_command();
        if keep.is_some() && !args.contains(&"--log-level") {
            cmd.env("VERSUS_LOG_LEVEL", DEBUG_FILTER);
        }
        let mut child = cmd
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the versus binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        // With VERSUS_TEST_LOG_DIR, a copy of the log is kept there.
        let mut kept = keep.map(|dir| {
            let path = dir.join(format!("binary-{}.log", child.id()));
            File::create(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(file) = kept.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
                let _ = tx.send(line.clone());
                lines.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = listening_addr(&line) {
                        break addr;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!(
                        "versus never logged its address (exit: {status:?}); its log:\n{}",
                        log.lock().unwrap().join("\n")
                    );
                }
            }
        };
        Binary {
            child,
            addr,
            base_url: format!("http://{addr}"),
            log,
            reader,
        }
    }

    /// Everything the process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends `SIGTERM` (via `kill -TERM`, no unsafe code) and waits up to `within` for the
    /// process to exit.
    pub async fn terminate(&mut self, within: Duration) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        self.wait(within).await
    }

    /// Waits up to `within` for the process to exit (polling, so the runtime keeps going).
    pub async fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The pipe is closed now; wait until every line the process wrote is in `log`.
                while !self.reader.is_finished() {
                    assert!(
                        Instant::now() < deadline,
                        "stderr was not closed after exit"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "versus did not exit within {within:?}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The address in a "listening" log line, human (`… listening addr=127.0.0.1:1234 …`, maybe
/// with ANSI colours) or JSON (`{"message":"listening","addr":"…"}`).
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    let line = strip_ansi(line);
    if !line.contains("listening") {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<Value>(&line) {
        return v["addr"].as_str()?.parse().ok();
    }
    let rest = &line[line.find("addr=")? + "addr=".len()..];
    let token = rest.split_whitespace().next()?.trim_matches('"');
    token.parse().ok()
}

/// Removes ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

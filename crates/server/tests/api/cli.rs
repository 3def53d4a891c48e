//! The real `versus` executable: its command line, its configuration errors, its log line
//! with the bound address, and a graceful exit on SIGTERM.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    Binary, Db, PASSWORD, TestDatabase, binary_command, http_client, json_body, listening_addr,
};

/// Runs `versus <args>` to completion with extra environment variables.
fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = binary_command();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("versus runs")
}

/// Starts the binary on `db`, registers over HTTP, sends SIGTERM, expects exit code 0.
async fn the_binary_serves_and_exits_cleanly_on_sigterm(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let Some(database) = TestDatabase::create(db, dir.path()).await else {
        return;
    };
    let data_dir = dir.path().join("data");
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    if db == Db::Postgres {
        args.extend(["--database-url", database.url.as_str()]);
    }
    let mut server = Binary::start(&args);
    let http = http_client();
    let resp = http
        .post(format!("{}/api/v1/auth/register", server.base_url))
        .json(&json!({ "username": "alice", "email": "alice@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "log:\n{}", server.log());
    let token = json_body(resp).await["token"].as_str().unwrap().to_string();
    let me = http
        .get(format!("{}/api/v1/me", server.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    if db == Db::Sqlite {
        assert!(
            data_dir.join("versus.db").exists(),
            "the SQLite database lives in the data folder"
        );
    }

    let status = server.terminate(Duration::from_secs(15)).await;
    let log = server.log();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    assert!(log.contains("stopped"), "log:\n{log}");
    // Never in a log line: the token, the password, the email.
    for secret in [token.as_str(), PASSWORD, "alice@example.com"] {
        assert!(!log.contains(secret), "the log leaks {secret:?}:\n{log}");
    }
    database.drop_best_effort().await;
}

mod the_binary_serves_and_exits_cleanly_on_sigterm {
    use crate::helpers::Db;

    #[tokio::test]
    async fn sqlite() {
        super::the_binary_serves_and_exits_cleanly_on_sigterm(Db::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres() {
        super::the_binary_serves_and_exits_cleanly_on_sigterm(Db::Postgres).await;
    }
}

#[tokio::test]
async fn the_binary_logs_json_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let mut server = Binary::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
        "--log-format",
        "json",
    ]);
    let resp = http_client()
        .get(format!("{}/healthz", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let status = server.terminate(Duration::from_secs(15)).await;
    let log = server.log();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["route"] == "/healthz")
        .unwrap_or_else(|| panic!("no access-log line for /healthz:\n{log}"));
    assert_eq!(request["status"], 200);
    assert!(request["request_id"].is_string());
    assert!(request["duration_ms"].is_number());
}

#[test]
fn help_names_the_commands_and_the_main_flags() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for word in [
        "serve",
        "check-config",
        "--listen",
        "--data-dir",
        "--database-url",
        "--config",
    ] {
        assert!(
            help.contains(word),
            "--help does not mention {word}:\n{help}"
        );
    }
}

#[test]
fn check_config_refuses_a_bad_environment_value_and_names_the_setting() {
    let out = run(&["check-config"], &[("VERSUS_LISTEN", "nonsense")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("listen"), "{stderr}");
    assert!(stderr.contains("nonsense"), "{stderr}");
}

#[test]
fn check_config_refuses_an_unknown_key_in_the_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("versus.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\nlisen = \"127.0.0.1:9001\"\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", file.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("lisen"), "{stderr}");
}

#[test]
fn check_config_refuses_a_missing_config_file() {
    let out = run(
        &["check-config", "--config", "/nonexistent/versus.toml"],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn check_config_accepts_good_layers_and_never_prints_the_database_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("versus.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\nlog_level = \"debug\"\n",
    )
    .unwrap();
    let out = run(
        &[
            "check-config",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:9100",
        ],
        &[
            (
                "VERSUS_DATABASE_URL",
                "postgres://versus:hunter2@db.invalid/versus",
            ),
            ("VERSUS_LISTEN", "127.0.0.1:9050"),
        ],
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("127.0.0.1:9100"), "the flag wins: {stderr}");
    assert!(stderr.contains("debug"), "the file applies: {stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn the_listening_line_is_found_in_human_and_json_logs() {
    let human = "\u{1b}[2m2026-01-01T00:00:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \
                 \u{1b}[2mversus_server\u{1b}[0m\u{1b}[2m:\u{1b}[0m listening \
                 \u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:4321 \
                 \u{1b}[3mdatabase\u{1b}[0m\u{1b}[2m=\u{1b}[0m\"sqlite\"";
    assert_eq!(listening_addr(human).unwrap().port(), 4321);
    let json = r#"{"timestamp":"t","level":"INFO","message":"listening","addr":"127.0.0.1:4322"}"#;
    assert_eq!(listening_addr(json).unwrap().port(), 4322);
    assert!(listening_addr("INFO request route=/healthz").is_none());
}

#[test]
fn the_readme_documents_every_configuration_key() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md at the workspace root");
    let keys = versus_server::config::DEFAULTS
        .iter()
        .map(|(key, _)| *key)
        .chain(["database_url"]);
    for key in keys {
        let env = format!("VERSUS_{}", key.to_uppercase());
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("README.md's configuration table has no row for {key}"));
        assert!(row.contains(&format!("`{env}`")), "{row}");
    }
    for (key, default) in versus_server::config::DEFAULTS {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap();
        assert!(
            row.contains(&format!("| `{default}` |")),
            "README.md gives another default for {key} than {default:?}: {row}"
        );
    }
}

/// Known bug (reported): `run` installs the SIGTERM handler in a task spawned after the
/// "listening" line, so a supervisor that stops the server right after it reports ready can
/// kill it without a graceful shutdown. Remove `#[ignore]` once the handlers are installed
/// before the server starts listening.
#[tokio::test]
async fn sigterm_right_after_the_listening_line_still_shuts_down_gracefully() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().display().to_string();
        let mut server =
            Binary::start_until_listening(&["--listen", "127.0.0.1:0", "--data-dir", &data_dir]);
        let status = server.terminate(Duration::from_secs(15)).await;
        assert!(
            status.success(),
            "exit status {status:?}; log:\n{}",
            server.log()
        );
    }
}

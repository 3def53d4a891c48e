//! No secret or personal data in the logs: the real binary, at `debug` level, through a
//! session that touches every secret it handles (passwords right and wrong, emails, bearer
//! tokens — over REST and in the WebSocket `hello` —, a password change, invite-link codes,
//! chat text, the email key), then its whole log is searched for each of them and their hashes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sha2::Digest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Binary, Secret, http_client, record_secret};

async fn body(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"))
}

#[tokio::test]
async fn a_full_session_at_debug_level_logs_no_secret_and_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut server = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--log-level",
        "debug",
    ]);
    let base = server.base_url.clone();
    let http = http_client();
    let email = "alice.private.mailbox@example.org";
    let password = "Sup3r-s3cret-passphrase-0451";
    let wrong = "Wr0ng-guess-passphrase-7733";
    let new_password = "An0ther-s3cret-passphrase-9012";
    let chat_text = "my phone number is 555-0199-private";

    let resp = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({ "username": "alice", "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let alice = body(resp).await["token"].as_str().unwrap().to_string();
    let resp = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "login": email, "password": wrong }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "login": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let second = body(resp).await["token"].as_str().unwrap().to_string();
    let resp = http
        .patch(format!("{base}/api/v1/me"))
        .bearer_auth(&alice)
        .json(&json!({ "old_password": password, "new_password": new_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http
        .post(format!("{base}/api/v1/auth/guest"))
        .send()
        .await
        .unwrap();
    let bob = body(resp).await["token"].as_str().unwrap().to_string();
    // A private game, an invite link for bob, chat.
    let resp = http
        .post(format!("{base}/api/v1/games"))
        .bearer_auth(&alice)
        .json(&json!({ "kind": "tictactoe", "name": "secret", "settings": { "visibility": "private" } }))
        .send()
        .await
        .unwrap();
    let game = body(resp).await["id"].as_str().unwrap().to_string();
    let resp = http
        .post(format!("{base}/api/v1/games/{game}/invite-links"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let code = body(resp).await["code"].as_str().unwrap().to_string();
    let resp = http
        .post(format!("{base}/api/v1/invite-links/{code}/accept"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http
        .post(format!("{base}/api/v1/games/{game}/chat"))
        .bearer_auth(&alice)
        .json(&json!({ "text": chat_text }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Bad tokens, in a header and in a URL-ish place.
    let _ = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth("not-a-token-but-secret-looking-0000")
        .send()
        .await
        .unwrap();
    // The WebSocket: hello with the token, one good and one bad.
    for token in [alice.as_str(), "bogus-websocket-token-31337"] {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", server.addr))
                .await
                .unwrap();
        let hello = json!({ "type": "hello", "protocol": 1, "token": token }).to_string();
        ws.send(Message::text(hello)).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    }
    let resp = http
        .post(format!("{base}/api/v1/auth/logout"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    server.terminate(Duration::from_secs(20)).await;

    let log = server.log();
    assert!(
        log.lines().count() > 20,
        "the log is too short to mean anything:\n{log}"
    );
    let hash = |s: &str| hex_lower(&sha2::Sha256::digest(s.as_bytes()));
    let secrets = [
        ("email", email.to_string()),
        ("email local part", "alice.private.mailbox".to_string()),
        ("password", password.to_string()),
        ("wrong password", wrong.to_string()),
        ("new password", new_password.to_string()),
        ("alice's token", alice.clone()),
        ("alice's token hash", hash(&alice)),
        ("second token", second.clone()),
        ("bob's token", bob.clone()),
        ("bob's token hash", hash(&bob)),
        ("invite code", code.clone()),
        ("invite code hash", hash(&code)),
        (
            "bad token",
            "not-a-token-but-secret-looking-0000".to_string(),
        ),
        (
            "bad WebSocket token",
            "bogus-websocket-token-31337".to_string(),
        ),
        ("chat text", "555-0199".to_string()),
        ("argon2 hash", "$argon2id$".to_string()),
        (
            "email key",
            versus_store::testing::TEST_EMAIL_KEYS
                .split_once(':')
                .unwrap()
                .1
                .to_string(),
        ),
    ];
    for (_, secret) in &secrets {
        // Searched for in the logs of the whole test run too (`.ci/secrets-in-logs.sh`).
        record_secret(Secret::Other, secret);
    }
    for (what, secret) in secrets {
        assert!(
            !log.contains(&secret),
            "the log contains the {what}:\n{log}"
        );
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

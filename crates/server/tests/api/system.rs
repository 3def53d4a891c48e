//! Operations and the API's surface: health, readiness, metrics, the OpenAPI document and its
//! documentation page, and the error shape of requests no handler takes.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, content_type, json_body};

/// Every REST route the router serves, with its methods. A route added to the server belongs
/// here; the tests check that the OpenAPI document lists exactly these. (The WebSocket
/// endpoint, `GET /api/v1/ws`, is described in docs/PROTOCOL.md, not in OpenAPI.)
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/api/v1/auth/register", &["post"]),
    ("/api/v1/auth/login", &["post"]),
    ("/api/v1/auth/logout", &["post"]),
    ("/api/v1/auth/logout-all", &["post"]),
    ("/api/v1/auth/guest", &["post"]),
    ("/api/v1/me", &["get", "patch"]),
    ("/api/v1/me/games", &["get"]),
    ("/api/v1/players/{username}", &["get"]),
    ("/api/v1/kinds", &["get"]),
    ("/api/v1/games", &["get", "post"]),
    ("/api/v1/games/{id}", &["get"]),
    ("/api/v1/games/{id}/events", &["get"]),
    // ratings (issue 7)
    ("/api/v1/games/{id}/pgn", &["get"]),
    ("/api/v1/leaderboards/{kind}", &["get"]),
    ("/api/v1/leaderboards/{kind}/around/{username}", &["get"]),
    ("/api/v1/leaderboards/{kind}/points", &["get"]),
    ("/api/v1/players/{username}/stats", &["get"]),
    ("/api/v1/players/{username}/games", &["get"]),
    ("/api/v1/games/{id}/join", &["post"]),
    ("/api/v1/games/{id}/moves", &["post"]),
    ("/api/v1/games/{id}/resign", &["post"]),
    ("/api/v1/games/{id}/draw", &["post"]),
    ("/api/v1/games/{id}/abort", &["post"]),
    ("/api/v1/games/{id}/claim-victory", &["post"]),
    ("/api/v1/games/{id}/rematch", &["post"]),
    // chat (issue 8)
    ("/api/v1/games/{id}/chat", &["get", "post"]),
    ("/api/v1/games/{id}/chat/{seq}", &["delete"]),
    ("/api/v1/lobby/chat", &["get", "post"]),
    ("/api/v1/lobby/chat/{seq}", &["delete"]),
    ("/api/v1/me/blocks", &["get"]),
    ("/api/v1/me/blocks/{username}", &["put", "delete"]),
    // matchmaking (issue 9)
    ("/api/v1/matchmaking/tickets", &["post"]),
    ("/api/v1/matchmaking/tickets/{id}", &["get", "delete"]),
    // social (issue 9)
    ("/api/v1/friends", &["get"]),
    ("/api/v1/friends/requests", &["post"]),
    ("/api/v1/friends/requests/{username}", &["delete"]),
    ("/api/v1/friends/requests/{username}/accept", &["post"]),
    ("/api/v1/friends/requests/{username}/decline", &["post"]),
    ("/api/v1/friends/{username}", &["delete"]),
    ("/api/v1/games/{id}/invites", &["post"]),
    ("/api/v1/games/{id}/invite-links", &["post"]),
    ("/api/v1/invites", &["get"]),
    ("/api/v1/invites/{id}", &["delete"]),
    ("/api/v1/invites/{id}/accept", &["post"]),
    ("/api/v1/invites/{id}/decline", &["post"]),
    ("/api/v1/invite-links/{code}", &["get"]),
    ("/api/v1/invite-links/{code}/accept", &["post"]),
    ("/api/v1/notifications", &["get"]),
    ("/api/v1/notifications/read", &["post"]),
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/metrics", &["get"]),
];

async fn openapi(app: &TestApp) -> Value {
    let resp = app.get("/api/openapi.json").await;
    assert_eq!(resp.status(), 200);
    json_body(resp).await
}

both_backends! {
    async fn healthz_says_ok(app: TestApp) {
        let resp = app.get("/healthz").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(json_body(resp).await, serde_json::json!({ "status": "ok" }));
    }

    async fn readyz_says_ok_when_the_database_answers(app: TestApp) {
        let resp = app.get("/readyz").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(json_body(resp).await, serde_json::json!({ "status": "ok" }));
    }

    async fn metrics_are_prometheus_text_with_request_counts_by_route(app: TestApp) {
        assert_eq!(app.get("/healthz").await.status(), 200);
        assert_eq!(app.get("/api/v1/players/nobody").await.status(), 404);
        let resp = app.get("/metrics").await;
        assert_eq!(resp.status(), 200);
        assert!(content_type(&resp).starts_with("text/plain"), "{}", content_type(&resp));
        let text = resp.text().await.unwrap();
        let counter_lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("http_requests_total{"))
            .collect();
        let has = |route: &str, status: &str| {
            counter_lines.iter().any(|l| {
                l.contains(&format!("route=\"{route}\"")) && l.contains(&format!("status=\"{status}\""))
            })
        };
        assert!(has("/healthz", "200"), "{text}");
        // The label is the route template, not the raw path (bounded cardinality).
        assert!(has("/api/v1/players/{username}", "404"), "{text}");
        assert!(!text.contains("route=\"/api/v1/players/nobody\""), "{text}");
        assert!(text.contains("# TYPE http_requests_total counter"), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket"), "{text}");
        let rss = text
            .lines()
            .find(|l| l.starts_with("process_resident_memory_bytes "))
            .unwrap_or_else(|| panic!("no process_resident_memory_bytes in {text}"));
        let bytes: f64 = rss.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(bytes > 1_000_000.0, "{rss}");
    }

    async fn the_openapi_document_is_version_3_1_and_lists_every_route(app: TestApp) {
        let doc = openapi(&app).await;
        let version = doc["openapi"].as_str().unwrap();
        assert!(version.starts_with("3.1"), "openapi: {version}");
        assert_eq!(doc["info"]["title"], "Versus");
        let paths = doc["paths"].as_object().unwrap();
        for (path, methods) in ROUTES {
            let item = paths
                .get(*path)
                .unwrap_or_else(|| panic!("{path} is missing from the OpenAPI document"));
            for method in *methods {
                assert!(item.get(*method).is_some(), "{method} {path} is not documented");
            }
        }
        // … and it documents nothing else.
        let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
        let mut expected: Vec<&str> = ROUTES.iter().map(|(p, _)| *p).collect();
        documented.sort_unstable();
        expected.sort_unstable();
        assert_eq!(documented, expected);
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        assert!(doc["components"]["schemas"]["Problem"].is_object());
    }

    async fn every_documented_operation_is_served(app: TestApp) {
        // What "no such route" looks like, to tell it from "no such player/game".
        let unrouted = assert_problem(app.get("/api/no/such/route").await, 404, "not_found").await;
        // A real player, so `{username}` resolves; `{id}` becomes an unknown game.
        let (token, player) = app.register("alice").await;
        let username = player["username"].as_str().unwrap();
        let unknown_id = uuid::Uuid::new_v4().to_string();
        let doc = openapi(&app).await;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let url = app.url(&path.replace("{username}", username).replace("{id}", &unknown_id));
                let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                // Read-only calls with a token; the rest without (they answer 401/415/422
                // instead of changing anything).
                let mut req = app.http.request(method.clone(), url);
                if method == reqwest::Method::GET {
                    req = req.bearer_auth(&token);
                }
                let resp = req.send().await.unwrap();
                let status = resp.status();
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is documented but not served");
                if status == StatusCode::NOT_FOUND {
                    let problem: Value = resp.json().await.unwrap();
                    assert_ne!(
                        problem["detail"], unrouted["detail"],
                        "{method} {path} is documented but not served"
                    );
                }
            }
        }
    }

    async fn the_openapi_document_lists_every_answer_of_register(app: TestApp) {
        let doc = openapi(&app).await;
        let op = &doc["paths"]["/api/v1/auth/register"]["post"];
        let responses = op["responses"].as_object().unwrap();
        for status in ["201", "400", "409", "413", "415", "422"] {
            assert!(responses.contains_key(status), "register does not document {status}");
        }
        for status in ["400", "409", "413", "415", "422"] {
            assert!(
                responses[status]["content"]["application/problem+json"].is_object(),
                "{status} is documented as a problem document"
            );
        }
        assert!(op["requestBody"]["content"]["application/json"].is_object());
        let login = &doc["paths"]["/api/v1/auth/login"]["post"]["responses"];
        assert!(login["429"]["headers"]["Retry-After"].is_object(), "{login}");
        // Routes that need a token say so.
        for (path, method) in [
            ("/api/v1/me", "get"),
            ("/api/v1/me", "patch"),
            ("/api/v1/auth/logout", "post"),
            ("/api/v1/auth/logout-all", "post"),
        ] {
            let op = &doc["paths"][path][method];
            assert!(op["security"].to_string().contains("bearer"), "{method} {path}");
            assert!(op["responses"]["401"].is_object(), "{method} {path} documents 401");
        }
    }

    async fn the_documentation_page_and_its_assets_are_served_from_the_binary(app: TestApp) {
        let resp = app.get("/api/docs/").await;
        assert_eq!(resp.status(), 200);
        assert!(content_type(&resp).starts_with("text/html"), "{}", content_type(&resp));
        let html = resp.text().await.unwrap();
        assert!(html.contains("swagger-ui"), "{html}");
        // Works offline: nothing is loaded from another host.
        assert!(!html.contains("src=\"http"), "{html}");
        assert!(!html.contains("href=\"http"), "{html}");
        // Without the slash, the page is still found.
        assert_eq!(app.get("/api/docs").await.status(), 200);

        let resp = app.get("/api/docs/swagger-ui-bundle.js").await;
        assert_eq!(resp.status(), 200);
        assert!(content_type(&resp).contains("javascript"), "{}", content_type(&resp));
        let js = resp.bytes().await.unwrap();
        assert!(js.len() > 100_000, "the vendored bundle, {} bytes", js.len());
        // The page is configured with our document.
        let init = app.get("/api/docs/swagger-initializer.js").await.text().await.unwrap();
        assert!(init.contains("/api/openapi.json"), "{init}");
    }

    async fn an_unknown_api_route_is_a_404_problem(app: TestApp) {
        let problem = assert_problem(app.get("/api/v1/nope").await, 404, "not_found").await;
        assert!(problem["detail"].is_string());
        let resp = app.post_json("/api/v1/nope", &serde_json::json!({})).await;
        assert_problem(resp, 404, "not_found").await;
        assert_problem(app.get("/api").await, 404, "not_found").await;
        // Outside /api, a path naming a file that does not exist is a 404 problem too …
        assert_problem(app.get("/no-such-file.js").await, 404, "not_found").await;
        // … while other paths are the browser client's own routes (its app shell).
        let resp = app.get("/some/client/route").await;
        assert_eq!(resp.status(), 200);
        assert!(content_type(&resp).starts_with("text/html"));
    }

    async fn a_wrong_method_is_a_405_problem_naming_the_allowed_ones(app: TestApp) {
        let resp = app.http.delete(app.url("/api/v1/me")).send().await.unwrap();
        let allow = resp
            .headers()
            .get(reqwest::header::ALLOW)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert_problem(resp, 405, "method_not_allowed").await;
        assert!(allow.contains("GET") && allow.contains("PATCH"), "Allow: {allow:?}");

        let resp = app.get("/api/v1/auth/register").await;
        assert_problem(resp, 405, "method_not_allowed").await;
    }

    async fn the_request_id_a_client_sends_is_echoed(app: TestApp) {
        let resp = app
            .http
            .get(app.url("/healthz"))
            .header("x-request-id", "test-123-abc")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-request-id"], "test-123-abc");
        // Also inside a problem body.
        let resp = app
            .http
            .get(app.url("/api/v1/me"))
            .header("x-request-id", "test-456")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-request-id"], "test-456");
        let problem = assert_problem(resp, 401, "unauthorized").await;
        assert_eq!(problem["request_id"], "test-456");
    }

    async fn a_request_without_a_sane_request_id_gets_a_fresh_one(app: TestApp) {
        let first = app.get("/healthz").await;
        let second = app.get("/healthz").await;
        let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_ne!(id(&first), id(&second));
        assert!(uuid::Uuid::parse_str(&id(&first)).is_ok(), "{}", id(&first));
        for bad in ["has spaces in it", "quote\"s", &"x".repeat(65)] {
            let resp = app
                .http
                .get(app.url("/healthz"))
                .header("x-request-id", bad)
                .send()
                .await
                .unwrap();
            let got = id(&resp);
            assert_ne!(got, bad);
            assert!(uuid::Uuid::parse_str(&got).is_ok(), "{got}");
        }
    }

    async fn the_root_serves_the_browser_client(app: TestApp) {
        let resp = app.get("/").await;
        assert_eq!(resp.status(), 200);
        assert!(content_type(&resp).starts_with("text/html"));
    }
}

/// Sends `head` (request line and headers, ending in a blank line) plus the start of a body
/// that never completes, and returns what the server answers (status line, headers, body)
/// and how long it took.
async fn send_a_stalled_request(app: &TestApp, head: &str) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"{\"user").await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    // The server closes the connection after answering; a 10 s cap keeps a bug from hanging.
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

const STALLED_REGISTER: &str = "POST /api/v1/auth/register HTTP/1.1\r\nhost: test\r\n\
    content-type: application/json\r\ncontent-length: 100\r\nx-request-id: stalled-1\r\n\r\n";

/// `request_timeout_seconds` bounds a whole request, including a body the client never
/// finishes sending, so a slow client cannot hold a request open.
mod with_a_short_request_timeout {
    use crate::helpers::TestApp;

    both_backends! {
        settings = &[("request_timeout_seconds", "1")];

        async fn a_stalled_request_body_is_answered_503_after_the_timeout(app: TestApp) {
            let (answer, took) = super::send_a_stalled_request(&app, super::STALLED_REGISTER).await;
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(took >= std::time::Duration::from_millis(900), "{took:?}");
            assert!(took < std::time::Duration::from_secs(5), "{took:?}");
        }
    }
}

/// Known bug (reported): the timeout layer sits outside the request-id/problem middleware, so
/// a timed-out request is answered with an empty 503 — no problem body, no `x-request-id`.
/// Remove `#[ignore]` once `app.rs` adds the `observe` layer outermost.
#[tokio::test]
async fn a_timed_out_request_is_a_503_unavailable_problem_with_its_request_id() {
    let Some(app) = crate::helpers::spawn_app_with(
        crate::helpers::Db::Sqlite,
        &[("request_timeout_seconds", "1")],
    )
    .await
    else {
        return;
    };
    let (answer, _) = send_a_stalled_request(&app, STALLED_REGISTER).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(lower.contains("x-request-id: stalled-1"), "{answer}");
}

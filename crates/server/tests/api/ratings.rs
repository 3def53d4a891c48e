//! Scorekeeping (issue 7): ratings, leaderboards, around-me, statistics, history and PGN over
//! REST, and rating/leaderboard updates over the WebSocket. The ratings are checked against a
//! Glicko-2 computation done here, independently of the server (`skillratings` directly).

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use skillratings::Outcomes;
use skillratings::glicko2::{Glicko2Config, Glicko2Rating, glicko2};
use uuid::Uuid;
use versus_protocol::{
    ClientMessage, Leaderboard, LeaderboardAround, PlayerGames, PlayerStats, ServerMessage,
};

use crate::games::{Player, action_ok, cells, create, play, player, post_action, scholars_mate};
use crate::helpers::{TestApp, assert_problem, json_body};
use crate::ws_client::WsClient;

/// A tic-tac-toe game that ends in a draw (board full).
const TICTACTOE_DRAW: &[u32] = &[0, 1, 2, 4, 3, 5, 7, 6, 8];
const TICTACTOE_WIN: &[u32] = &[0, 3, 1, 4, 2];

/// `x` creates (seat 0, moves first), `o` joins; returns the game id.
async fn game_between(app: &TestApp, kind: &str, x: &Player, o: &Player, rated: bool) -> Uuid {
    let created = create(app, x, kind, json!({ "rated": rated })).await;
    action_ok(app, o, created.id, "join").await;
    created.id
}

async fn get<T: serde::de::DeserializeOwned>(app: &TestApp, path: &str) -> T {
    let resp = app.get(path).await;
    let status = resp.status();
    let body = json_body(resp).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    serde_json::from_value(body).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// What the test expects of one player, computed here.
#[derive(Debug, Clone, Default)]
struct Expected {
    rating: Glicko2Rating,
    rated: u64,
    games: u64,
    wins: u64,
    losses: u64,
    draws: u64,
    streak: i64,
    peak: i64,
    /// Newest last: (opponent, result, rating change or None for casual).
    history: Vec<(String, &'static str, Option<i64>)>,
}

/// Records a finished game: `x_score` 1, ½ or 0 for seat 0.
fn record(book: &mut HashMap<String, Expected>, x: &str, o: &str, x_score: f64, rated: bool) {
    let (ex, eo) = (book[x].clone(), book[o].clone());
    let (nx, no) = if rated {
        let outcome = match x_score {
            s if s > 0.75 => Outcomes::WIN,
            s if s < 0.25 => Outcomes::LOSS,
            _ => Outcomes::DRAW,
        };
        let (a, b) = glicko2(&ex.rating, &eo.rating, &outcome, &Glicko2Config::new());
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    for (name, other, score, new) in [(x, o, x_score, nx), (o, x, 1.0 - x_score, no)] {
        let e = book.get_mut(name).unwrap();
        let result = match score {
            s if s > 0.75 => "win",
            s if s < 0.25 => "loss",
            _ => "draw",
        };
        e.games += 1;
        match result {
            "win" => {
                e.wins += 1;
                e.streak = e.streak.max(0) + 1;
            }
            "loss" => {
                e.losses += 1;
                e.streak = e.streak.min(0) - 1;
            }
            _ => {
                e.draws += 1;
                e.streak = 0;
            }
        }
        let change = new.map(|n| n.rating.round() as i64 - e.rating.rating.round() as i64);
        if let Some(n) = new {
            e.rating = n;
            e.peak = if e.rated == 0 {
                n.rating.round() as i64
            } else {
                e.peak.max(n.rating.round() as i64)
            };
            e.rated += 1;
        }
        e.history.push((other.to_owned(), result, change));
    }
}

both_backends! {
    async fn ratings_leaderboards_stats_and_history_match_an_independent_glicko2_computation(app: TestApp) {
        let names = ["ann", "ben", "cat", "dan"];
        let mut players = HashMap::new();
        let mut book = HashMap::new();
        for n in names {
            players.insert(n, player(&app, n).await);
            book.insert(n.to_owned(), Expected::default());
        }
        let p = |n: &str| players[n].clone();

        // Rated: a win by three in a row, a win, a draw (full board), a resignation.
        let g = game_between(&app, "tictactoe", &p("ann"), &p("ben"), true).await;
        play(&app, g, [&p("ann"), &p("ben")], &cells(TICTACTOE_WIN)).await;
        record(&mut book, "ann", "ben", 1.0, true);
        let g = game_between(&app, "tictactoe", &p("cat"), &p("ann"), true).await;
        play(&app, g, [&p("cat"), &p("ann")], &cells(TICTACTOE_WIN)).await;
        record(&mut book, "cat", "ann", 1.0, true);
        let g = game_between(&app, "tictactoe", &p("ben"), &p("dan"), true).await;
        play(&app, g, [&p("ben"), &p("dan")], &cells(TICTACTOE_DRAW)).await;
        record(&mut book, "ben", "dan", 0.5, true);
        let g = game_between(&app, "tictactoe", &p("dan"), &p("cat"), true).await;
        play(&app, g, [&p("dan"), &p("cat")], &cells(&[4])).await;
        action_ok(&app, &p("dan"), g, "resign").await;
        record(&mut book, "dan", "cat", 0.0, true);
        // Casual: statistics only. Aborted: nothing.
        let g = game_between(&app, "tictactoe", &p("ann"), &p("dan"), false).await;
        play(&app, g, [&p("ann"), &p("dan")], &cells(TICTACTOE_WIN)).await;
        record(&mut book, "ann", "dan", 1.0, false);
        let g = game_between(&app, "tictactoe", &p("ben"), &p("cat"), true).await;
        action_ok(&app, &p("ben"), g, "abort").await;

        // The expected leaderboard: score desc, ties by player id (older account first).
        let mut order: Vec<&str> = names.to_vec();
        order.sort_by_key(|n| (-(book[*n].rating.rating.round() as i64), players[n].id));

        let board: Leaderboard = get(&app, "/api/v1/leaderboards/tictactoe").await;
        assert_eq!(board.total, 4);
        assert_eq!(board.leaderboard.len(), 4);
        for (i, line) in board.leaderboard.iter().enumerate() {
            let e = &book[order[i]];
            assert_eq!(line.rank, i as u64 + 1);
            assert_eq!(line.player_name, order[i]);
            assert_eq!(line.score, e.rating.rating.round() as i64, "{}", order[i]);
            assert!((line.rating - e.rating.rating).abs() < 1e-6);
            assert!((line.deviation - e.rating.deviation).abs() < 1e-6);
            assert!(line.provisional, "four games are not enough");
            assert_eq!(
                (line.games, line.wins, line.losses, line.draws, line.rated_games),
                (e.games, e.wins, e.losses, e.draws, e.rated),
                "{}", order[i]
            );
        }
        // The raw JSON has the field names.
        let raw = json_body(app.get("/api/v1/leaderboards/tictactoe?limit=1&offset=1").await).await;
        let line = &raw["leaderboard"][0];
        for field in ["rank", "player_name", "score", "games", "wins", "losses", "draws"] {
            assert!(line.get(field).is_some(), "{field} in {line}");
        }
        assert_eq!(line["rank"], 2);
        assert_eq!(line["player_name"], order[1]);

        // Around: rank 1, a middle rank, the last.
        let around: LeaderboardAround =
            get(&app, &format!("/api/v1/leaderboards/tictactoe/around/{}?radius=1", order[0])).await;
        assert_eq!(around.rank, 1);
        assert_eq!(
            around.leaderboard.iter().map(|l| (l.rank, l.player_name.as_str())).collect::<Vec<_>>(),
            [(1, order[0]), (2, order[1])]
        );
        let around: LeaderboardAround =
            get(&app, &format!("/api/v1/leaderboards/tictactoe/around/{}?radius=1", order[2].to_uppercase())).await;
        assert_eq!(around.rank, 3);
        assert_eq!(
            around.leaderboard.iter().map(|l| l.rank).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        let around: LeaderboardAround =
            get(&app, &format!("/api/v1/leaderboards/tictactoe/around/{}?radius=2", order[3])).await;
        assert_eq!(around.rank, 4);
        assert_eq!(
            around.leaderboard.iter().map(|l| (l.rank, l.player_name.as_str())).collect::<Vec<_>>(),
            [(2, order[1]), (3, order[2]), (4, order[3])]
        );

        // Stats and history of each player.
        for n in names {
            let e = &book[n];
            let stats: PlayerStats = get(&app, &format!("/api/v1/players/{n}/stats")).await;
            assert_eq!(stats.stats.len(), 1);
            let s = &stats.stats[0];
            assert_eq!(s.kind, "tictactoe");
            assert!((s.rating - e.rating.rating).abs() < 1e-6, "{n}");
            assert_eq!(s.rank, Some(order.iter().position(|o| *o == n).unwrap() as u64 + 1));
            assert_eq!(s.peak, Some(e.peak), "{n}");
            assert_eq!(
                (s.games, s.wins, s.losses, s.draws, s.streak, s.rated_games),
                (e.games, e.wins, e.losses, e.draws, e.streak, e.rated),
                "{n}"
            );
            assert_eq!(s.history.len() as u64, e.rated);
            assert!((s.history.last().unwrap().rating - e.rating.rating).abs() < 1e-6);

            let page: PlayerGames = get(&app, &format!("/api/v1/players/{n}/games")).await;
            let got: Vec<(String, &str, Option<i64>)> = page
                .games
                .iter()
                .map(|g| (g.opponent.clone().unwrap(), g.result.as_str(), g.rating_change))
                .collect();
            let want: Vec<(String, &str, Option<i64>)> =
                e.history.iter().rev().map(|(o, r, c)| (o.clone(), *r, *c)).collect();
            assert_eq!(got, want, "{n}'s history, newest first");
            assert!(page.next_before.is_none());
        }

        // Paging the history: one at a time, newest first, then the end.
        let first: PlayerGames = get(&app, "/api/v1/players/ann/games?limit=1").await;
        let before = first.next_before.expect("more pages");
        let second: PlayerGames =
            get(&app, &format!("/api/v1/players/ann/games?limit=1&before={before}")).await;
        assert_eq!(second.games[0].opponent.as_deref(), Some("cat"));
        let third: PlayerGames = get(
            &app,
            &format!("/api/v1/players/ann/games?limit=5&before={}", second.games[0].session_id),
        )
        .await;
        assert_eq!(third.games.len(), 1);
        assert!(third.next_before.is_none());
        let rated_only: PlayerGames = get(&app, "/api/v1/players/ann/games?kind=chess").await;
        assert!(rated_only.games.is_empty());
    }

    async fn scorekeeping_routes_refuse_what_does_not_exist(app: TestApp) {
        let ann = player(&app, "ann").await;
        assert_problem(app.get("/api/v1/leaderboards/go").await, 404, "not_found").await;
        assert_problem(app.get("/api/v1/leaderboards/chess?limit=0").await, 422, "validation_failed").await;
        assert_problem(app.get("/api/v1/leaderboards/chess?limit=x").await, 400, "malformed_request").await;
        assert_problem(app.get("/api/v1/leaderboards/chess/around/nobody").await, 404, "not_found").await;
        // A player without a rated game has no place on the board, and empty stats.
        assert_problem(app.get("/api/v1/leaderboards/chess/around/ann").await, 404, "not_found").await;
        let stats: PlayerStats = get(&app, "/api/v1/players/ann/stats").await;
        assert_eq!(stats.player_id, ann.id);
        assert!(stats.stats.is_empty());
        assert_problem(app.get("/api/v1/players/nobody/stats").await, 404, "not_found").await;
        assert_problem(app.get("/api/v1/players/nobody/games").await, 404, "not_found").await;
        let board: Leaderboard = get(&app, "/api/v1/leaderboards/chess").await;
        assert!(board.leaderboard.is_empty() && board.total == 0);
    }

    async fn a_chess_game_exports_as_pgn(app: TestApp) {
        let ann = player(&app, "ann").await;
        let ben = player(&app, "ben").await;
        let g = game_between(&app, "chess", &ann, &ben, true).await;
        play(&app, g, [&ann, &ben], &scholars_mate()).await;
        let resp = app.get(&format!("/api/v1/games/{g}/pgn")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(crate::helpers::content_type(&resp).starts_with("application/x-chess-pgn"));
        let pgn = resp.text().await.unwrap();
        assert!(pgn.contains("[White \"ann\"]\n[Black \"ben\"]\n[Result \"1-0\"]"), "{pgn}");
        assert!(pgn.ends_with("\n\n1. e4 e5 2. Bc4 Nc6 3. Qh5 Nf6 4. Qxf7# 1-0\n"), "{pgn}");

        let t = game_between(&app, "tictactoe", &ann, &ben, false).await;
        assert_problem(app.get(&format!("/api/v1/games/{t}/pgn")).await, 409, "not_supported").await;
        assert_problem(app.get(&format!("/api/v1/games/{}/pgn", Uuid::now_v7())).await, 404, "not_found").await;
        assert_problem(app.get("/api/v1/games/nope/pgn").await, 400, "malformed_request").await;
        let _ = post_action(&app, &ann, t, "abort").await;
    }

    async fn players_and_leaderboard_watchers_hear_of_a_rated_result_at_once(app: TestApp) {
        let ann = player(&app, "ann").await;
        let ben = player(&app, "ben").await;
        let fan = player(&app, "fan").await;
        let mut ws_ann = WsClient::connect(&app, &ann.token).await;
        let mut ws_ben = WsClient::connect(&app, &ben.token).await;
        let mut ws_fan = WsClient::connect(&app, &fan.token).await;
        for ws in [&mut ws_ann, &mut ws_ben] {
            let id = ws.next_id();
            let reply = ws.request(&ClientMessage::RatingSubscribe { id: Some(id) }).await;
            assert!(matches!(reply, ServerMessage::RatingSubscribed { .. }), "{reply:?}");
        }
        let id = ws_fan.next_id();
        let reply = ws_fan
            .request(&ClientMessage::LeaderboardSubscribe { id: Some(id), kind: "tictactoe".into(), limit: Some(5) })
            .await;
        match reply {
            ServerMessage::LeaderboardSubscribed { board, .. } => assert!(board.leaderboard.is_empty()),
            other => panic!("expected leaderboard_subscribed, got {other:?}"),
        }

        let g = game_between(&app, "tictactoe", &ann, &ben, true).await;
        play(&app, g, [&ann, &ben], &cells(TICTACTOE_WIN)).await;
        let (a, b) = glicko2(&Glicko2Rating::new(), &Glicko2Rating::new(), &Outcomes::WIN, &Glicko2Config::new());
        for (ws, want, rank, result) in [(&mut ws_ann, a, 1, "win"), (&mut ws_ben, b, 2, "loss")] {
            let update = ws.find_in_log(|m| match m {
                ServerMessage::RatingUpdate(u) => Some(u.clone()),
                _ => None,
            }).await;
            assert_eq!((update.game_id, update.kind.as_str(), update.result.as_str()), (g, "tictactoe", result));
            assert!((update.rating - want.rating).abs() < 1e-6);
            assert_eq!(update.change, want.rating.round() as i64 - 1500);
            assert_eq!(update.rank, Some(rank));
            assert!(update.provisional);
        }
        let first = ws_fan.find_in_log(|m| match m {
            ServerMessage::LeaderboardUpdate(u) => Some(u.clone()),
            _ => None,
        }).await;
        let first_at = tokio::time::Instant::now();
        assert_eq!(first.kind, "tictactoe");
        assert_eq!(first.total, 2);
        assert_eq!(first.changed, ["ann", "ben"]);
        assert_eq!(first.leaderboard.iter().map(|l| l.player_name.as_str()).collect::<Vec<_>>(), ["ann", "ben"]);

        // Two more games right away: coalesced — at most one update per second, and together
        // the updates name every player whose rating changed. (Whether both games land in one
        // window depends on how fast the machine plays them, so that is not asserted.)
        let cat = player(&app, "cat").await;
        let dan = player(&app, "dan").await;
        let n = ws_fan.log.len();
        for (x, o) in [(&cat, &dan), (&ann, &ben)] {
            let g = game_between(&app, "tictactoe", x, o, true).await;
            play(&app, g, [x, o], &cells(TICTACTOE_WIN)).await;
        }
        let second = ws_fan.find_in_log(|m| match m {
            ServerMessage::LeaderboardUpdate(u) if u.total == 4 && u.changed.iter().any(|c| c == "ann") => Some(u.clone()),
            _ => None,
        }).await;
        assert_eq!(second.leaderboard.len(), 4);
        let later: Vec<_> = ws_fan.log[n..].iter().filter_map(|m| match m {
            ServerMessage::LeaderboardUpdate(u) => Some(u.clone()),
            _ => None,
        }).collect();
        assert!(later.len() <= 2, "two games make at most two coalesced updates: {later:?}");
        let mut changed: Vec<String> = later.iter().flat_map(|u| u.changed.clone()).collect();
        changed.sort();
        changed.dedup();
        assert_eq!(changed, ["ann", "ben", "cat", "dan"]);
        assert!(first_at.elapsed() >= Duration::from_millis(800 * later.len() as u64), "coalesced: at most one update a second");

        // Unsubscribing works once.
        let id = ws_fan.next_id();
        let reply = ws_fan.request(&ClientMessage::LeaderboardUnsubscribe { id: Some(id), kind: "tictactoe".into() }).await;
        assert!(matches!(reply, ServerMessage::LeaderboardUnsubscribed { .. }), "{reply:?}");
        let id = ws_fan.next_id();
        let reply = ws_fan.request(&ClientMessage::LeaderboardUnsubscribe { id: Some(id), kind: "tictactoe".into() }).await;
        assert!(matches!(reply, ServerMessage::Error { code: versus_protocol::ErrorCode::NotSubscribed, .. }), "{reply:?}");
        let id = ws_fan.next_id();
        let reply = ws_fan.request(&ClientMessage::LeaderboardSubscribe { id: Some(id), kind: "go".into(), limit: None }).await;
        assert!(matches!(reply, ServerMessage::Error { code: versus_protocol::ErrorCode::UnknownKind, .. }), "{reply:?}");
        let _: Value = json!(null);
    }
}

//! Fuzz targets that run on the stable toolchain (no `cargo fuzz`, which needs nightly).
//!
//! A small mutational fuzzer: each target has seed inputs (valid messages or moves); every
//! iteration takes a seed or an earlier input, mutates it — structure-aware (replace a JSON
//! node with a hostile value: huge or negative numbers, floats, long or odd strings, deep
//! nesting, wrong types, a different message `type`) or byte-level (flip, insert, delete,
//! truncate, duplicate) — and feeds it to the target inside `catch_unwind`. A panic, or a
//! broken property (see each target), is a crash: the input is returned so it can be saved
//! under `regressions/<target>/` and replayed by `tests/regressions.rs` forever after.
//!
//! Targets:
//! - `ws_decode`: a WebSocket text frame decoded as a `ClientMessage` (the server's first
//!   step for every frame). Property: what decodes re-encodes and decodes to the same value.
//! - `moves`: a move (JSON) applied in every turn-based kind, from the start and from a
//!   position reached by legal moves, for every seat. Properties: a refused move leaves the
//!   state unchanged; an accepted move's canonical form is accepted from the same position
//!   and gives the same result.
//! - `lightcycles_input`: a real-time steering input decoded as a `Direction` and given to a
//!   running lightcycles state for any seat, then ticked.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// A target: takes one input, panics (or returns `Err`) on a defect.
pub type Target = fn(&[u8]) -> Result<(), String>;

/// Every target by name, with its seeds.
pub fn targets() -> Vec<(&'static str, Target, Vec<Vec<u8>>)> {
    vec![
        ("ws_decode", ws_decode as Target, ws_seeds()),
        ("moves", moves as Target, move_seeds()),
        (
            "lightcycles_input",
            lightcycles_input as Target,
            lightcycles_seeds(),
        ),
    ]
}

fn ws_seeds() -> Vec<Vec<u8>> {
    let id = "00000000-0000-7000-8000-000000000001";
    [
        json!({"type": "hello", "protocol": 1, "token": "abc"}),
        json!({"type": "ping", "id": "p1"}),
        json!({"type": "subscribe", "id": "s", "game_id": id, "since_seq": 3, "session_id": id}),
        json!({"type": "unsubscribe", "game_id": id}),
        json!({"type": "join", "game_id": id}),
        json!({"type": "move", "id": "m", "game_id": id, "move": {"cell": 4}, "client_move_id": "c1"}),
        json!({"type": "draw", "game_id": id, "action": "offer"}),
        json!({"type": "resign", "game_id": id}),
        json!({"type": "abort", "game_id": id}),
        json!({"type": "claim_victory", "game_id": id}),
        json!({"type": "rematch", "game_id": id}),
        json!({"type": "chat_subscribe", "room": format!("game:{id}:players"), "since_seq": 1}),
        json!({"type": "chat_send", "room": "lobby", "text": "hi"}),
        json!({"type": "chat_delete", "room": "lobby", "seq": 2}),
        json!({"type": "chat_history", "room": "lobby", "before": 9, "limit": 5}),
        json!({"type": "leaderboard_subscribe", "kind": "chess", "limit": 10}),
        json!({"type": "rating_subscribe"}),
        json!({"type": "matchmaking_join", "kind": "chess", "time_control": {"initial_seconds": 60, "increment_seconds": 1}, "rated": true}),
        json!({"type": "matchmaking_cancel", "ticket_id": id}),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect()
}

fn move_seeds() -> Vec<Vec<u8>> {
    [
        json!({"cell": 4}),
        json!({"column": 3}),
        json!({"uci": "e2e4"}),
        json!({"san": "Nf3"}),
        json!({"uci": "e7e8q"}),
        json!({"from": "e2", "to": "e4"}),
        json!("e2e4"),
        json!(4),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect()
}

fn lightcycles_seeds() -> Vec<Vec<u8>> {
    ["\"up\"", "\"left\"", "\"down\"", "\"right\""]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
}

/// `ws_decode`: see the module docs.
pub fn ws_decode(input: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Ok(()); // the server refuses non-UTF-8 (binary frames) before decoding
    };
    if let Ok(msg) = serde_json::from_str::<versus_protocol::ClientMessage>(text) {
        let again = serde_json::to_string(&msg).map_err(|e| format!("re-encoding failed: {e}"))?;
        let back: versus_protocol::ClientMessage = serde_json::from_str(&again)
            .map_err(|e| format!("the re-encoded message does not decode: {e}: {again}"))?;
        if back != msg {
            return Err(format!(
                "round trip changed the message: {msg:?} vs {back:?}"
            ));
        }
    }
    Ok(())
}

/// `moves`: see the module docs.
pub fn moves(input: &[u8]) -> Result<(), String> {
    let Ok(mv) = serde_json::from_slice::<Value>(input) else {
        return Ok(()); // not JSON: the protocol layer refuses it before the rules
    };
    // The first byte picks how far into a game to go (deterministically).
    let depth = input.first().map_or(0, |b| usize::from(*b % 12));
    for kind in versus_rules::kinds() {
        let Some(mut state) = versus_rules::new_game(kind.id) else {
            return Err(format!("kind {} has no constructor", kind.id));
        };
        for i in 0..depth {
            let legal = state.legal_moves();
            let Some(next) = legal.get(i % legal.len().max(1)).cloned() else {
                break;
            };
            let Some(seat) = state.status().to_move() else {
                break;
            };
            state
                .apply(seat, &next)
                .map_err(|e| format!("{}: a legal move was refused: {e:?}", kind.id))?;
        }
        for seat in 0..3 {
            let before = (state.view(), state.ply(), format!("{:?}", state.status()));
            let mut trial = state.clone();
            match trial.apply(seat, &mv) {
                Err(_) => {
                    let after = (trial.view(), trial.ply(), format!("{:?}", trial.status()));
                    if after != before {
                        return Err(format!("{}: a refused move changed the state", kind.id));
                    }
                }
                Ok(canonical) => {
                    let mut again = state.clone();
                    let replayed = again.apply(seat, &canonical).map_err(|e| {
                        format!(
                            "{}: the canonical form {canonical} is refused: {e:?}",
                            kind.id
                        )
                    })?;
                    if replayed != canonical || again.view() != trial.view() {
                        return Err(format!(
                            "{}: the canonical form {canonical} plays differently",
                            kind.id
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// `lightcycles_input`: see the module docs.
pub fn lightcycles_input(input: &[u8]) -> Result<(), String> {
    use versus_rules::lightcycles::{Config, Direction, State};
    let Ok(dir) = serde_json::from_slice::<Direction>(input) else {
        return Ok(());
    };
    let mut state =
        State::new(Config::default()).map_err(|e| format!("the default config: {e:?}"))?;
    let seat = input.last().map_or(0, |b| usize::from(*b % 8));
    for _ in 0..(input.len() % 7) {
        state.tick();
    }
    let _ = state.input(seat, dir);
    state.tick();
    Ok(())
}

/// Runs `target` on `input`, turning a panic into an `Err`.
pub fn check(target: Target, input: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| target(input))) {
        Ok(r) => r,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .map_or_else(|| "panic".to_string(), |m| format!("panic: {m}"))),
    }
}

/// What a run found.
#[derive(Debug)]
pub struct Crash {
    pub input: Vec<u8>,
    pub reason: String,
}

/// Fuzzes `target` from `seeds` for `time` or `max_iterations`, whichever ends first.
/// Returns the number of inputs tried, or the first crash.
pub fn run(
    target: Target,
    seeds: &[Vec<u8>],
    seed: u64,
    time: Duration,
    max_iterations: u64,
) -> Result<u64, Crash> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pool: Vec<Vec<u8>> = seeds.to_vec();
    let started = Instant::now();
    let mut tried = 0;
    while tried < max_iterations && started.elapsed() < time {
        let base = &pool[rng.random_range(0..pool.len())];
        let input = mutate(&mut rng, base);
        tried += 1;
        if let Err(reason) = check(target, &input) {
            return Err(Crash { input, reason });
        }
        // Keep some mutants as new bases (bounded pool).
        if rng.random_bool(0.05) {
            if pool.len() < 512 {
                pool.push(input);
            } else {
                let i = rng.random_range(seeds.len()..pool.len());
                pool[i] = input;
            }
        }
    }
    Ok(tried)
}

/// One mutation of `base`: structure-aware when it is JSON, else byte-level.
pub fn mutate(rng: &mut StdRng, base: &[u8]) -> Vec<u8> {
    if rng.random_bool(0.7)
        && let Ok(mut v) = serde_json::from_slice::<Value>(base)
    {
        for _ in 0..rng.random_range(1..4) {
            mutate_value(rng, &mut v, 0);
        }
        return v.to_string().into_bytes();
    }
    let mut bytes = base.to_vec();
    for _ in 0..rng.random_range(1..6) {
        let len = bytes.len();
        match rng.random_range(0..6) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                bytes[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let i = rng.random_range(0..=len);
                bytes.insert(i, rng.random());
            }
            2 if len > 0 => {
                bytes.remove(rng.random_range(0..len));
            }
            3 if len > 0 => bytes.truncate(rng.random_range(0..len)),
            4 if len > 0 => {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..=len);
                let slice = bytes[a..b].to_vec();
                let at = rng.random_range(0..=bytes.len());
                bytes.splice(at..at, slice);
            }
            _ => {
                let tokens: [&[u8]; 8] = [b"{", b"}", b"[", b"]", b"\"", b",", b":", b"\\u0000"];
                let t = tokens[rng.random_range(0..tokens.len())];
                let at = rng.random_range(0..=bytes.len());
                bytes.splice(at..at, t.iter().copied());
            }
        }
    }
    bytes
}

fn hostile(rng: &mut StdRng, depth: usize) -> Value {
    match rng.random_range(0..18) {
        0 => Value::Null,
        1 => json!(rng.random_bool(0.5)),
        2 => json!(u64::MAX),
        3 => json!(i64::MIN),
        4 => json!(-1),
        5 => json!(rng.random::<i64>()),
        6 => json!(f64::MAX),
        7 => json!(0.5),
        8 => json!("x".repeat(rng.random_range(0..20_000))),
        9 => json!(""),
        10 => json!("\u{0}\u{202e}\u{fffd}😀"),
        11 => json!(["a", 1, null]),
        12 => json!({}),
        13 => {
            // Deep nesting (serde_json stops at 128 levels; the server must not crash).
            let mut v = json!(1);
            for _ in 0..rng.random_range(1..300) {
                v = json!([v]);
            }
            v
        }
        14 => json!("00000000-0000-0000-0000-000000000000"),
        15 => json!(rng.random_range(0u64..100)),
        16 if depth < 4 => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..4) {
                m.insert(random_key(rng), hostile(rng, depth + 1));
            }
            Value::Object(m)
        }
        _ => json!(random_key(rng)),
    }
}

fn random_key(rng: &mut StdRng) -> String {
    const KEYS: &[&str] = &[
        "type",
        "id",
        "game_id",
        "move",
        "client_move_id",
        "since_seq",
        "session_id",
        "protocol",
        "token",
        "room",
        "text",
        "seq",
        "limit",
        "before",
        "kind",
        "action",
        "cell",
        "column",
        "uci",
        "san",
        "rated",
        "time_control",
        "ticket_id",
        "hello",
        "chat_send",
        "subscribe",
        "ping",
        "move",
    ];
    KEYS[rng.random_range(0..KEYS.len())].to_string()
}

fn mutate_value(rng: &mut StdRng, v: &mut Value, depth: usize) {
    match v {
        Value::Object(map) if !map.is_empty() && depth < 6 && rng.random_bool(0.7) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[rng.random_range(0..keys.len())];
            match rng.random_range(0..4) {
                0 => {
                    map.remove(key);
                }
                1 => {
                    map.insert(random_key(rng), hostile(rng, depth));
                }
                2 if key == "type" => {
                    map.insert(key.clone(), json!(random_key(rng)));
                }
                _ => {
                    if let Some(child) = map.get_mut(key) {
                        mutate_value(rng, child, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && depth < 6 && rng.random_bool(0.7) => {
            let i = rng.random_range(0..items.len());
            mutate_value(rng, &mut items[i], depth + 1);
        }
        _ => *v = hostile(rng, depth),
    }
}

//! Property tests shared by every game kind: random legal play, rejection of illegal and
//! arbitrary input without side effects, and replay/clone fidelity.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use versus_rules::{GameState, MoveError, Seat, Status, kinds, new_game, replay};

const FILES: &[u8] = b"abcdefgh";

fn uci_of(mv: &Value) -> Option<&str> {
    mv.get("uci").and_then(Value::as_str)
}

/// Whether `candidate` denotes one of `legal` (chess compares by UCI, since `{"uci": ..}`
/// alone is a valid spelling of the canonical `{"uci": .., "san": ..}`).
fn is_listed(kind: &str, legal: &[Value], candidate: &Value) -> bool {
    match kind {
        "chess" => legal.iter().any(|m| uci_of(m) == uci_of(candidate)),
        // Unknown extra fields are ignored by the rules, so a candidate names a listed move
        // when it agrees with one on every field of that move.
        _ => legal.iter().any(|m| {
            m.as_object()
                .is_some_and(|fields| fields.iter().all(|(k, v)| candidate.get(k) == Some(v)))
        }),
    }
}

/// A handful of syntactically valid moves that are not in `legal`.
fn illegal_candidates(kind: &str, legal: &[Value], probe: &Index) -> Vec<Value> {
    let all: Vec<Value> = match kind {
        "tictactoe" => (0..9).map(|cell| json!({ "cell": cell })).collect(),
        "connect4" => (0..7).map(|column| json!({ "column": column })).collect(),
        "chess" => {
            let start = probe.index(64 * 64);
            (0..4)
                .map(|k| {
                    let n = (start + k * 997) % (64 * 64);
                    let (from, to) = (n / 64, n % 64);
                    let square = |s: usize| {
                        format!(
                            "{}{}",
                            char::from(FILES[s % 8]),
                            char::from(b'1' + (s / 8) as u8)
                        )
                    };
                    json!({ "uci": format!("{}{}", square(from), square(to)) })
                })
                .collect()
        }
        other => panic!("no candidate generator for {other}"),
    };
    all.into_iter()
        .filter(|c| !is_listed(kind, legal, c))
        .collect()
}

fn assert_same_state(a: &dyn GameState, b: &dyn GameState) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.kind(), b.kind());
    prop_assert_eq!(a.view(), b.view());
    prop_assert_eq!(a.status(), b.status());
    prop_assert_eq!(a.ply(), b.ply());
    prop_assert_eq!(a.legal_moves(), b.legal_moves());
    Ok(())
}

/// Invariants that hold in every reachable state.
fn check_invariants(
    kind: &str,
    game: &mut Box<dyn GameState>,
    probe: &Index,
) -> Result<(), TestCaseError> {
    let legal = game.legal_moves();
    let status = game.status();
    prop_assert_eq!(
        status.is_finished(),
        legal.is_empty(),
        "status {:?}",
        status
    );
    let view = game.view();
    prop_assert_eq!(
        &view["to_move"],
        &status.to_move().map_or(Value::Null, |s| json!(s))
    );

    let seat = status.to_move().unwrap_or(0);
    for candidate in illegal_candidates(kind, &legal, probe) {
        let result = game.apply(seat, &candidate);
        prop_assert!(result.is_err(), "{} accepted {}", kind, candidate);
        prop_assert_eq!(&game.view(), &view);
    }

    match status {
        Status::Finished { .. } => {
            for s in 0..2 {
                let any = illegal_candidates(kind, &[], probe).remove(0);
                prop_assert_eq!(game.apply(s, &any), Err(MoveError::GameOver));
            }
        }
        Status::Ongoing { to_move } => {
            let mv = &legal[probe.index(legal.len())];
            for other in [1 - to_move, 2, usize::MAX] {
                prop_assert_eq!(game.apply(other, mv), Err(MoveError::NotYourTurn));
            }
        }
    }
    prop_assert_eq!(&game.view(), &view);
    prop_assert_eq!(game.legal_moves(), legal);
    Ok(())
}

/// Plays random legal moves (one per pick) until the game ends or the picks run out.
fn random_game(kind: &str, picks: &[(Index, Index)]) -> Result<(), TestCaseError> {
    let mut game = new_game(kind).expect("registered kind");
    let mut journal: Vec<(Seat, Value)> = Vec::new();
    for (pick, probe) in picks {
        check_invariants(kind, &mut game, probe)?;
        let Status::Ongoing { to_move } = game.status() else {
            break;
        };
        let legal = game.legal_moves();
        let mv = &legal[pick.index(legal.len())];
        let stored = game.apply(to_move, mv);
        prop_assert!(stored.is_ok(), "legal move {} rejected: {:?}", mv, stored);
        let stored = stored.unwrap_or_default();
        // legal_moves lists exactly the canonical stored form.
        prop_assert_eq!(&stored, mv);
        journal.push((to_move, stored));
        prop_assert_eq!(game.ply(), journal.len());
    }
    if let Some((_, probe)) = picks.last() {
        check_invariants(kind, &mut game, probe)?;
    }

    let rebuilt = replay(kind, &journal);
    prop_assert!(rebuilt.is_ok(), "replay failed: {:?}", rebuilt.err());
    let rebuilt = rebuilt.map_err(|e| TestCaseError::fail(e.to_string()))?;
    assert_same_state(rebuilt.as_ref(), game.as_ref())?;

    let cloned = game.clone_box();
    assert_same_state(cloned.as_ref(), game.as_ref())?;
    Ok(())
}

fn picks(max_plies: usize) -> impl Strategy<Value = Vec<(Index, Index)>> {
    prop::collection::vec(any::<(Index, Index)>(), 0..=max_plies)
}

/// Arbitrary JSON, biased towards the keys and values the move parsers look at.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-3i64..12).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| { serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number) }),
        "[a-h1-8xO0=QRBNKPZ+#@-]{0,8}".prop_map(Value::from),
        "[a-h][1-8][a-h][1-8][qrbnkp]?".prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let key = prop_oneof![
            Just("cell".to_owned()),
            Just("column".to_owned()),
            Just("uci".to_owned()),
            Just("san".to_owned()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(key, inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Any JSON value from any seat, in a randomly reached position: never panics, and either
/// it is accepted as one of the legal moves or the state is untouched.
fn arbitrary_input(
    kind: &str,
    prefix: &[(Index, Index)],
    seat: Seat,
    inputs: &[Value],
) -> Result<(), TestCaseError> {
    let mut game = new_game(kind).expect("registered kind");
    for (pick, _) in prefix {
        let Status::Ongoing { to_move } = game.status() else {
            break;
        };
        let legal = game.legal_moves();
        let result = game.apply(to_move, &legal[pick.index(legal.len())]);
        prop_assert!(result.is_ok());
    }
    for input in inputs {
        let before_view = game.view();
        let before_legal = game.legal_moves();
        let status = game.status();
        match game.apply(seat, input) {
            Ok(stored) => {
                prop_assert_eq!(status.to_move(), Some(seat));
                prop_assert!(before_legal.contains(&stored), "{} -> {}", input, stored);
                prop_assert!(is_listed(kind, &before_legal, input) || kind == "chess");
            }
            Err(e) => {
                prop_assert!(!e.code().is_empty());
                prop_assert_eq!(game.view(), before_view);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tictactoe_random_play(p in picks(12)) {
        random_game("tictactoe", &p)?;
    }

    #[test]
    fn connect4_random_play(p in picks(50)) {
        random_game("connect4", &p)?;
    }

    #[test]
    fn chess_random_play(p in picks(200)) {
        random_game("chess", &p)?;
    }

    #[test]
    fn arbitrary_json_never_panics(
        kind_index in 0usize..3,
        prefix in picks(40),
        seat in 0usize..3,
        inputs in prop::collection::vec(arb_json(), 1..8),
    ) {
        let kind = kinds()[kind_index].id;
        arbitrary_input(kind, &prefix, seat, &inputs)?;
    }
}

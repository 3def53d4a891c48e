//! Light cycles: unit scenarios (movement, walls, trails, reversals, collisions, scoring,
//! session end) and property tests (no panics, invariants, replay, client deltas).

use proptest::prelude::*;
use serde_json::json;
use versus_rules::Seat;
use versus_rules::lightcycles::{
    Cause, Config, ConfigError, Cycle, Direction, Elimination, InputError, Snapshot, State, Step,
    TickDelta, replay, spawns,
};

use Direction::{Down, Left, Right, Up};

fn config(width: u16, height: u16, players: usize, seed: u64) -> Config {
    Config {
        width,
        height,
        players,
        points_to_win: 3,
        seed,
        countdown_ticks: 0,
    }
}

/// The first seed whose round-1 spawns satisfy `pred`.
fn seed_where(base: Config, pred: impl Fn(&[Cycle]) -> bool) -> Config {
    (0..10_000)
        .map(|seed| Config { seed, ..base })
        .find(|c| pred(&spawns(c, 1)))
        .expect("some seed fits")
}

/// Seat 0 drives rightwards from the left side, seat 1 leftwards from the right side.
fn facing(c: &[Cycle]) -> bool {
    c[0].dir == Right && c[1].dir == Left
}

fn clockwise(d: Direction) -> Direction {
    match d {
        Up => Right,
        Right => Down,
        Down => Left,
        Left => Up,
    }
}

/// Steer `seat` in a tight clockwise square into its own spawn cell: it dies on the 4th tick.
fn suicide_inputs(state: &State, seat: Seat) -> Vec<Direction> {
    let mut d = state.cycles()[seat].dir;
    (0..4)
        .map(|_| {
            d = clockwise(d);
            d
        })
        .collect()
}

fn run_until_round_end(state: &mut State) -> TickDelta {
    for _ in 0..10_000 {
        let delta = state.tick();
        if delta.round_end.is_some() {
            return delta;
        }
    }
    panic!("round never ended");
}

#[test]
fn config_is_validated() {
    let ok = Config::default();
    assert!(State::new(ok).is_ok());
    assert_eq!((ok.width, ok.height, ok.points_to_win), (48, 48, 3));
    for (bad, err) in [
        (Config { width: 7, ..ok }, ConfigError::Size),
        (Config { height: 513, ..ok }, ConfigError::Size),
        (Config { players: 1, ..ok }, ConfigError::Players),
        (Config { players: 5, ..ok }, ConfigError::Players),
        (
            Config {
                points_to_win: 0,
                ..ok
            },
            ConfigError::Points,
        ),
    ] {
        assert_eq!(State::new(bad).unwrap_err(), err);
    }
}

#[test]
fn spawns_depend_on_seed_and_round_only() {
    let c = Config::default();
    assert_eq!(spawns(&c, 1), spawns(&c, 1));
    let varied = (1..20).map(|round| spawns(&c, round)).collect::<Vec<_>>();
    assert!(varied.iter().any(|s| *s != varied[0]));
    let s = State::new(c).unwrap();
    assert_eq!(s.cycles(), spawns(&c, 1).as_slice());
    assert_eq!(s.round(), 1);
    for (seat, cy) in s.cycles().iter().enumerate() {
        assert_eq!(s.cell(cy.x, cy.y), Some(seat));
    }
}

#[test]
fn movement_leaves_a_trail_and_reports_heads() {
    let mut s = State::new(config(48, 48, 2, 7)).unwrap();
    let start = s.cycles().to_vec();
    let d = s.tick();
    assert_eq!(d.tick, 1);
    assert!(d.eliminations.is_empty() && d.round_end.is_none());
    let expected: Vec<Step> = start
        .iter()
        .enumerate()
        .map(|(seat, c)| {
            let (x, y) = c.dir.step(c.x, c.y, 48, 48).unwrap();
            Step(seat, x, y)
        })
        .collect();
    assert_eq!(d.steps, expected);
    for (seat, c) in start.iter().enumerate() {
        assert_eq!(s.cell(c.x, c.y), Some(seat), "old head stays as trail");
        let Step(_, x, y) = expected[seat];
        assert_eq!((s.cycles()[seat].x, s.cycles()[seat].y), (x, y));
        assert_eq!(s.cell(x, y), Some(seat));
    }
    // A turn takes effect on the next tick.
    let turn = clockwise(s.cycles()[0].dir);
    s.input(0, turn).unwrap();
    let before = s.cycles()[0];
    s.tick();
    let after = s.cycles()[0];
    assert_eq!(after.dir, turn);
    assert_eq!(
        turn.step(before.x, before.y, 48, 48),
        Some((after.x, after.y))
    );
    // Small wire form.
    let wire = serde_json::to_value(&d).unwrap();
    assert_eq!(
        wire,
        json!({"tick": 1, "steps": [[0, expected[0].1, expected[0].2], [1, expected[1].1, expected[1].2]]})
    );
    assert_eq!(serde_json::from_value::<TickDelta>(wire).unwrap(), d);
}

#[test]
fn countdown_freezes_cycles_but_keeps_inputs() {
    let c = Config {
        countdown_ticks: 3,
        ..config(48, 48, 2, 1)
    };
    let mut s = State::new(c).unwrap();
    let start = s.cycles().to_vec();
    let turn = clockwise(start[0].dir);
    s.input(0, turn).unwrap();
    for t in 1..=3 {
        let d = s.tick();
        assert_eq!(d.tick, t);
        assert!(d.is_empty());
        assert_eq!(s.cycles(), start.as_slice());
    }
    assert_eq!(s.pending(0), Some(turn));
    let d = s.tick();
    assert_eq!(d.steps.len(), 2);
    assert_eq!(s.cycles()[0].dir, turn);
    assert_eq!(s.pending(0), None);
}

#[test]
fn reversal_is_refused_and_last_input_counts() {
    let mut s = State::new(config(48, 48, 2, 3)).unwrap();
    let dir = s.cycles()[0].dir;
    let before = s.clone();
    assert_eq!(
        s.input(0, dir.reverse()).unwrap_err(),
        InputError::Reversal {
            current: dir,
            requested: dir.reverse()
        }
    );
    assert_eq!(s.input(0, dir.reverse()).unwrap_err().code(), "reversal");
    assert_eq!(s, before, "a refused input changes nothing");
    // Two perpendicular turns in one tick: the last one counts.
    let (a, b) = (clockwise(dir), clockwise(dir).reverse());
    s.input(0, a).unwrap();
    s.input(0, b).unwrap();
    assert_eq!(s.pending(0), Some(b));
    // Reversal is judged against the current direction, not the pending turn.
    assert!(s.input(0, dir.reverse()).is_err());
    // The same direction is accepted and cancels the turn.
    s.input(0, dir).unwrap();
    s.input(0, b).unwrap();
    s.tick();
    assert_eq!(s.cycles()[0].dir, b);
    assert_eq!(s.input(7, Up).unwrap_err(), InputError::UnknownSeat(7));
}

#[test]
fn wall_ends_a_round_and_the_survivor_scores() {
    let c = seed_where(config(48, 48, 2, 0), facing);
    let mut s = State::new(c).unwrap();
    // Seat 1 turns up at once and hits the top wall long before seat 0 reaches the right one.
    s.input(1, Up).unwrap();
    let y1 = s.cycles()[1].y;
    let d = run_until_round_end(&mut s);
    assert_eq!(d.tick, u64::from(y1) + 1);
    assert_eq!(
        d.eliminations,
        vec![Elimination {
            seat: 1,
            cause: Cause::Wall
        }]
    );
    let end = d.round_end.unwrap();
    assert_eq!(
        (end.round, end.winner, end.scores),
        (1, Some(0), vec![1, 0])
    );
    assert_eq!(s.scores(), [1, 0]);
    let start = d.round_start.unwrap();
    assert_eq!(start.round, 2);
    assert_eq!(start.spawns, spawns(&c, 2));
    assert_eq!(s.round(), 2);
    // The board was cleared: only the two spawn cells are set.
    assert_eq!(s.board().iter().filter(|&&m| m != 0).count(), 2);
    assert_eq!(
        serde_json::to_value(&d.eliminations[0]).unwrap(),
        json!({"seat": 1, "cause": "wall"})
    );
}

#[test]
fn own_trail_kills() {
    let mut s = State::new(config(48, 48, 2, 11)).unwrap();
    let mut last = TickDelta::default();
    let turns = suicide_inputs(&s, 1);
    for &dir in &turns {
        s.input(1, dir).unwrap();
        last = s.tick();
    }
    assert_eq!(last.tick, 4);

    assert_eq!(
        last.eliminations,
        vec![Elimination {
            seat: 1,
            cause: Cause::Trail { owner: 1 }
        }]
    );
    assert_eq!(last.round_end.unwrap().winner, Some(0));
}

#[test]
fn another_trail_kills() {
    // Different rows, so they pass each other.
    let c = seed_where(config(48, 48, 2, 0), |c| {
        facing(c) && c[0].y != c[1].y && c[0].y.abs_diff(c[1].y) < 10
    });
    let mut s = State::new(c).unwrap();
    for _ in 0..26 {
        assert!(s.tick().eliminations.is_empty());
    }
    let (a, b) = (s.cycles()[0], s.cycles()[1]);
    assert!(a.x > b.x, "they have passed each other");
    s.input(1, if a.y < b.y { Up } else { Down }).unwrap();
    let d = run_until_round_end(&mut s);
    assert_eq!(
        d.eliminations,
        vec![Elimination {
            seat: 1,
            cause: Cause::Trail { owner: 0 }
        }]
    );
    assert_eq!(d.round_end.unwrap().winner, Some(0));
}

#[test]
fn head_on_kills_both_and_nobody_scores() {
    // 8 wide: spawns at x = 1 and x = 6 on the same row; after two ticks they are adjacent.
    let c = seed_where(config(8, 8, 2, 0), |c| facing(c) && c[0].y == c[1].y);
    let mut s = State::new(c).unwrap();
    s.tick();
    s.tick();
    assert_eq!(s.cycles()[0].x + 1, s.cycles()[1].x);
    let d = s.tick();
    assert_eq!(
        d.eliminations,
        vec![
            Elimination {
                seat: 0,
                cause: Cause::HeadOn { with: 1 }
            },
            Elimination {
                seat: 1,
                cause: Cause::HeadOn { with: 0 }
            },
        ]
    );
    assert!(d.steps.is_empty());
    let end = d.round_end.unwrap();
    assert_eq!((end.winner, end.scores), (None, vec![0, 0]));
    assert_eq!(d.round_start.unwrap().round, 2);
    assert_eq!(s.scores(), [0, 0]);
}

#[test]
fn entering_the_same_cell_kills_both() {
    // 9 wide: spawns at x = 1 and x = 7; after two ticks both aim at x = 4.
    let c = seed_where(config(9, 9, 2, 0), |c| facing(c) && c[0].y == c[1].y);
    let mut s = State::new(c).unwrap();
    s.tick();
    s.tick();
    let d = s.tick();
    assert_eq!(
        d.eliminations,
        vec![
            Elimination {
                seat: 0,
                cause: Cause::SameCell { with: vec![1] }
            },
            Elimination {
                seat: 1,
                cause: Cause::SameCell { with: vec![0] }
            },
        ]
    );
    assert_eq!(d.round_end.unwrap().winner, None);
    assert_eq!(
        serde_json::to_value(&d.eliminations[0]).unwrap(),
        json!({"seat": 0, "cause": "same_cell", "with": [1]})
    );
}

#[test]
fn same_cell_leaves_the_cell_empty() {
    let c = seed_where(config(9, 9, 2, 0), |c| facing(c) && c[0].y == c[1].y);
    let mut s = State::new(c).unwrap();
    let mut view = s.snapshot();
    for _ in 0..3 {
        let d = s.tick();
        // Apply everything except the new round, to look at the final board of round 1.
        let mut round1 = d.clone();
        round1.round_start = None;
        view.apply_delta(&round1);
    }
    let y = view.cycles[0].y;
    assert_eq!(view.cell(4, y), None);
    assert_eq!((view.cell(3, y), view.cell(5, y)), (Some(0), Some(1)));
}

#[test]
fn simultaneous_wall_deaths_are_a_draw() {
    let c = seed_where(config(8, 8, 2, 0), |c| facing(c) && c[0].y != c[1].y);
    let mut s = State::new(c).unwrap();
    let d = run_until_round_end(&mut s);
    // x = 1 → x = 7 takes 6 ticks; the 7th drives off the grid, for both.
    assert_eq!(d.tick, 7);
    assert_eq!(d.eliminations.len(), 2);
    assert!(d.eliminations.iter().all(|e| e.cause == Cause::Wall));
    assert_eq!(d.round_end.unwrap().winner, None);
    assert_eq!(s.scores(), [0, 0]);
    assert_eq!(s.round(), 2);
}

#[test]
fn eliminated_players_cannot_steer_and_the_round_goes_on() {
    let mut s = State::new(config(48, 48, 3, 5)).unwrap();
    let turns = suicide_inputs(&s, 2);
    for &dir in &turns {
        s.input(2, dir).unwrap();
        let d = s.tick();
        assert!(d.round_end.is_none());
    }
    assert!(!s.cycles()[2].alive);
    // The fatal turn is not taken: a dead cycle keeps the direction it last moved in
    // (the delta does not carry the fatal turn, so the snapshot must not either).
    assert_eq!(s.cycles()[2].dir, turns[2]);
    assert_eq!(s.input(2, Up).unwrap_err(), InputError::Eliminated);
    assert_eq!(s.round(), 1);
    let alive = s.cycles().iter().filter(|c| c.alive).count();
    assert_eq!(alive, 2);
}

#[test]
fn first_to_n_points_wins_the_session() {
    let c = Config {
        points_to_win: 2,
        ..config(48, 48, 2, 9)
    };
    let mut s = State::new(c).unwrap();
    let mut last = TickDelta::default();
    for round in 1..=2 {
        assert_eq!(s.round(), round);
        for dir in suicide_inputs(&s, 1) {
            s.input(1, dir).unwrap();
            last = s.tick();
        }
        assert_eq!(last.round_end.as_ref().unwrap().winner, Some(0));
    }
    assert_eq!(last.winner, Some(0));
    assert!(last.round_start.is_none());
    assert_eq!(last.round_end.unwrap().scores, vec![2, 0]);
    assert!(s.is_over());
    assert_eq!(s.winner(), Some(0));
    assert_eq!(s.input(0, Up).unwrap_err(), InputError::SessionOver);
    let frozen = s.clone();
    let d = s.tick();
    assert!(d.is_empty());
    assert_eq!(d.tick, frozen.tick_count() + 1);
    assert_eq!(s.cycles(), frozen.cycles());
    assert_eq!(s.board(), frozen.board());
    assert_eq!(s.snapshot_json()["winner"], json!(0));
}

#[test]
fn snapshot_round_trips_as_json() {
    let mut s = State::new(config(12, 10, 4, 2)).unwrap();
    s.tick();
    let json = s.snapshot_json();
    assert_eq!(json["board"].as_array().unwrap().len(), 120);
    assert!(json.get("seed").is_none());
    let back: Snapshot = serde_json::from_value(json).unwrap();
    assert_eq!(back, s.snapshot());
    let state_json = serde_json::to_value(&s).unwrap();
    assert_eq!(serde_json::from_value::<State>(state_json).unwrap(), s);
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

fn arb_config() -> impl Strategy<Value = Config> {
    (
        8u16..=20,
        8u16..=20,
        2usize..=4,
        1u32..=3,
        any::<u64>(),
        0u32..=3,
    )
        .prop_map(
            |(width, height, players, points_to_win, seed, countdown_ticks)| Config {
                width,
                height,
                players,
                points_to_win,
                seed,
                countdown_ticks,
            },
        )
}

fn arb_dir() -> impl Strategy<Value = Direction> {
    prop::sample::select(Direction::ALL.to_vec())
}

/// Inputs per tick; seat 4 does not exist (so some inputs are refused for that reason too).
fn arb_journal() -> impl Strategy<Value = Vec<Vec<(Seat, Direction)>>> {
    prop::collection::vec(prop::collection::vec((0usize..5, arb_dir()), 0..3), 0..250)
}

fn check_invariants(s: &State) {
    let live: Vec<_> = s.cycles().iter().filter(|c| c.alive).collect();
    for (i, a) in live.iter().enumerate() {
        for b in &live[i + 1..] {
            assert_ne!((a.x, a.y), (b.x, b.y), "two live cycles share a cell");
        }
    }
    for (seat, c) in s.cycles().iter().enumerate() {
        assert_eq!(s.cell(c.x, c.y), Some(seat), "a head is its own trail");
    }
    let points = s.config().points_to_win;
    assert!(s.scores().iter().all(|&p| p <= points));
    assert_eq!(
        s.is_over(),
        s.scores().contains(&points),
        "the session ends exactly when someone reaches the target"
    );
}

/// Inputs of players who only turn away from certain death (and sometimes on a whim, driven
/// by `choice`): long rounds and whole sessions.
fn cautious_inputs(live: &State, choice: usize) -> Vec<(Seat, Direction)> {
    let (w, h) = (live.config().width, live.config().height);
    let mut inputs = Vec::new();
    for (seat, c) in live.cycles().iter().enumerate() {
        if !c.alive {
            continue;
        }
        let free = |d: Direction| {
            d.step(c.x, c.y, w, h)
                .is_some_and(|(x, y)| live.cell(x, y).is_none())
        };
        if !free(c.dir) || (choice + seat).is_multiple_of(7) {
            let options: Vec<_> = Direction::ALL
                .into_iter()
                .filter(|&d| d != c.dir.reverse() && free(d))
                .collect();
            if let Some(&d) = options.get((choice + seat) % options.len().max(1)) {
                inputs.push((seat, d));
            }
        }
    }
    inputs
}

#[test]
fn cautious_play_finishes_sessions() {
    let mut finished = 0;
    for seed in 0..8 {
        let c = Config {
            players: 2 + (seed as usize % 3),
            ..config(16, 16, 2, seed)
        };
        let mut live = State::new(c).unwrap();
        let mut journal = Vec::new();
        let mut view = live.snapshot();
        for t in 0..5_000 {
            if live.is_over() {
                break;
            }
            let inputs = cautious_inputs(&live, t * 31 + seed as usize);
            for &(seat, dir) in &inputs {
                live.input(seat, dir).unwrap();
            }
            journal.push(inputs);
            view.apply_delta(&live.tick());
        }
        assert!(live.round() >= 3, "a session takes at least three rounds");
        finished += usize::from(live.is_over());
        assert_eq!(view, live.snapshot());
        assert_eq!(replay(c, &journal).unwrap(), live);
    }
    assert_eq!(finished, 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random inputs never panic; invariants hold every tick; trails never shrink within a
    /// round; the client view built from deltas equals the snapshot; replay equals live.
    #[test]
    fn random_sessions(config in arb_config(), journal in arb_journal()) {
        let mut live = State::new(config).unwrap();
        let mut view = live.snapshot();
        let mut accepted: Vec<Vec<(Seat, Direction)>> = Vec::new();
        for inputs in &journal {
            let mut ok = Vec::new();
            for &(seat, dir) in inputs {
                if live.input(seat, dir).is_ok() {
                    ok.push((seat, dir));
                }
            }
            accepted.push(ok);
            let board_before = live.board().to_vec();
            let scores_before = live.scores().to_vec();
            let delta = live.tick();
            prop_assert_eq!(delta.tick, live.tick_count());
            if delta.round_start.is_none() {
                for (before, after) in board_before.iter().zip(live.board()) {
                    prop_assert!(*before == 0 || before == after, "a trail shrank");
                }
            }
            for (before, after) in scores_before.iter().zip(live.scores()) {
                prop_assert!(after >= before && *after <= before + 1);
            }
            check_invariants(&live);
            // Over the wire and into the client view.
            let wire = serde_json::to_string(&delta).unwrap();
            let delta: TickDelta = serde_json::from_str(&wire).unwrap();
            view.apply_delta(&delta);
            prop_assert_eq!(&view, &live.snapshot());
        }
        prop_assert_eq!(&replay(config, &journal).unwrap(), &live);
        prop_assert_eq!(&replay(config, &accepted).unwrap(), &live);
    }

    /// Sessions where players only steer away from certain death run long rounds and many
    /// rounds to the end; the same properties hold.
    #[test]
    fn cautious_sessions(config in arb_config(), choices in prop::collection::vec(0usize..4, 50..400)) {
        let mut live = State::new(config).unwrap();
        let mut view = live.snapshot();
        let mut journal: Vec<Vec<(Seat, Direction)>> = Vec::new();
        for (t, choice) in choices.iter().enumerate() {
            if live.is_over() {
                break;
            }
            let inputs = cautious_inputs(&live, choice + t);
            for &(seat, dir) in &inputs {
                live.input(seat, dir).unwrap();
            }
            journal.push(inputs);
            let delta = live.tick();
            check_invariants(&live);
            view.apply_delta(&delta);
        }
        prop_assert_eq!(&view, &live.snapshot());
        prop_assert_eq!(&replay(config, &journal).unwrap(), &live);
    }
}

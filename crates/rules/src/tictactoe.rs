//! Tic-tac-toe on a 3×3 board. Seat 0 plays X and moves first.
//!
//! Move: `{"cell": 0..8}`, row-major (0 = top-left, 8 = bottom-right).
//! View: `{"board": [null | "x" | "o"; 9], "to_move": 0 | 1 | null}`.

use serde_json::{Value, json};

use crate::{GameState, Kind, KindInfo, MoveError, Outcome, Seat, Status};

const CELLS: usize = 9;

/// All eight winning lines, row-major cell indices.
const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];

/// A game of tic-tac-toe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicTacToe {
    board: [Option<Seat>; CELLS],
    ply: usize,
    finished: Option<(Outcome, &'static str)>,
}

impl Kind for TicTacToe {
    const INFO: KindInfo = KindInfo {
        id: "tictactoe",
        name: "Tic-tac-toe",
        min_seats: 2,
        max_seats: 2,
        realtime: false,
        supports_draw_offers: false,
        supports_clock: true,
        move_format: r#"{"cell": 0..8} (row-major, 0 = top-left)"#,
    };
}

impl TicTacToe {
    /// An empty board with X (seat 0) to move.
    pub fn new() -> Self {
        Self::default()
    }

    fn to_move(&self) -> Seat {
        self.ply % 2
    }

    fn evaluate(&self) -> Option<(Outcome, &'static str)> {
        for line in LINES {
            if let Some(seat) = self.board[line[0]]
                && line.iter().all(|&c| self.board[c] == Some(seat))
            {
                return Some((Outcome::Win { seat }, "three_in_a_row"));
            }
        }
        if self.board.iter().all(Option::is_some) {
            return Some((Outcome::Draw, "board_full"));
        }
        None
    }
}

impl GameState for TicTacToe {
    fn kind(&self) -> &'static str {
        Self::INFO.id
    }

    fn status(&self) -> Status {
        match self.finished {
            Some((outcome, reason)) => Status::Finished {
                outcome,
                reason: reason.to_owned(),
            },
            None => Status::Ongoing {
                to_move: self.to_move(),
            },
        }
    }

    fn apply(&mut self, seat: Seat, mv: &Value) -> Result<Value, MoveError> {
        if self.finished.is_some() {
            return Err(MoveError::GameOver);
        }
        if seat != self.to_move() {
            return Err(MoveError::NotYourTurn);
        }
        let cell = crate::small_index_field(mv, "cell", CELLS - 1)?;
        if self.board[cell].is_some() {
            return Err(MoveError::Illegal(format!("cell {cell} is occupied")));
        }
        self.board[cell] = Some(seat);
        self.ply += 1;
        self.finished = self.evaluate();
        Ok(json!({ "cell": cell }))
    }

    fn legal_moves(&self) -> Vec<Value> {
        if self.finished.is_some() {
            return Vec::new();
        }
        (0..CELLS)
            .filter(|&c| self.board[c].is_none())
            .map(|cell| json!({ "cell": cell }))
            .collect()
    }

    fn view(&self) -> Value {
        let board: Vec<Value> = self
            .board
            .iter()
            .map(|cell| match cell {
                Some(0) => json!("x"),
                Some(_) => json!("o"),
                None => Value::Null,
            })
            .collect();
        let to_move = match self.finished {
            Some(_) => Value::Null,
            None => json!(self.to_move()),
        };
        json!({ "board": board, "to_move": to_move })
    }

    fn ply(&self) -> usize {
        self.ply
    }

    fn clone_box(&self) -> Box<dyn GameState> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(cells: &[usize]) -> TicTacToe {
        let mut g = TicTacToe::new();
        for (i, &cell) in cells.iter().enumerate() {
            g.apply(i % 2, &json!({ "cell": cell })).unwrap();
        }
        g
    }

    fn win(seat: Seat) -> Status {
        Status::Finished {
            outcome: Outcome::Win { seat },
            reason: "three_in_a_row".into(),
        }
    }

    #[test]
    fn x_wins_every_row_column_and_diagonal() {
        for line in LINES {
            // O plays two cells that are not on the line and do not complete anything first.
            let others: Vec<usize> = (0..CELLS).filter(|c| !line.contains(c)).collect();
            let mut g = TicTacToe::new();
            let mut o_moves = others.iter();
            for (i, &cell) in line.iter().enumerate() {
                g.apply(0, &json!({ "cell": cell })).unwrap();
                if i < 2 {
                    let o = *o_moves.next().unwrap();
                    g.apply(1, &json!({ "cell": o })).unwrap();
                }
            }
            assert_eq!(g.status(), win(0), "line {line:?}");
            assert!(g.legal_moves().is_empty());
            assert_eq!(g.ply(), 5);
        }
    }

    #[test]
    fn o_wins() {
        // X: 0, 1, 8; O: 3, 4, 5 (middle row).
        let g = play(&[0, 3, 1, 4, 8, 5]);
        assert_eq!(g.status(), win(1));
        assert_eq!(g.view()["to_move"], Value::Null);
    }

    #[test]
    fn full_board_draw() {
        // X O X / X O O / O X X
        let g = play(&[0, 1, 2, 4, 3, 5, 7, 6, 8]);
        assert_eq!(
            g.status(),
            Status::Finished {
                outcome: Outcome::Draw,
                reason: "board_full".into()
            }
        );
        assert!(g.legal_moves().is_empty());
    }

    #[test]
    fn win_on_last_cell_is_a_win_not_a_draw() {
        // X O X / O X O / O X X -> X completes the diagonal with the ninth move.
        let g = play(&[0, 1, 2, 3, 4, 5, 7, 6, 8]);
        assert_eq!(g.status(), win(0));
    }

    #[test]
    fn occupied_cell_is_illegal_and_state_unchanged() {
        let mut g = play(&[4]);
        let before = g.clone();
        let err = g.apply(1, &json!({"cell": 4})).unwrap_err();
        assert!(matches!(err, MoveError::Illegal(_)));
        assert_eq!(g, before);
    }

    #[test]
    fn out_of_turn() {
        let mut g = TicTacToe::new();
        assert_eq!(g.apply(1, &json!({"cell": 0})), Err(MoveError::NotYourTurn));
        assert_eq!(g.apply(7, &json!({"cell": 0})), Err(MoveError::NotYourTurn));
        g.apply(0, &json!({"cell": 0})).unwrap();
        assert_eq!(g.apply(0, &json!({"cell": 1})), Err(MoveError::NotYourTurn));
        assert_eq!(g.ply(), 1);
    }

    #[test]
    fn game_over() {
        let mut g = play(&[0, 3, 1, 4, 2]);
        assert_eq!(g.apply(1, &json!({"cell": 5})), Err(MoveError::GameOver));
        assert_eq!(g.apply(0, &json!({"cell": 5})), Err(MoveError::GameOver));
        assert_eq!(g.apply(1, &json!("junk")), Err(MoveError::GameOver));
    }

    #[test]
    fn malformed_inputs() {
        let bad = [
            json!(null),
            json!("4"),
            json!(4),
            json!(-1),
            json!([4]),
            json!({}),
            json!({"cell": null}),
            json!({"cell": -1}),
            json!({"cell": 9}),
            json!({"cell": 1.5}),
            json!({"cell": 4.0}),
            json!({"cell": "4"}),
            json!({"cell": true}),
            json!({"cell": [4]}),
            json!({"cell": {"n": 4}}),
            json!({"cell": u64::MAX}),
            json!({"cell": i64::MIN}),
            json!({"cell": 1e300}),
            json!({"column": 4}),
        ];
        for mv in bad {
            let mut g = TicTacToe::new();
            let err = g.apply(0, &mv).unwrap_err();
            assert!(matches!(err, MoveError::Malformed(_)), "{mv} -> {err:?}");
            assert_eq!(err.code(), "malformed_move");
            assert_eq!(g, TicTacToe::new());
        }
    }

    #[test]
    fn extra_fields_are_ignored_and_canonical_is_returned() {
        let mut g = TicTacToe::new();
        let stored = g.apply(0, &json!({"cell": 4, "note": "hi"})).unwrap();
        assert_eq!(stored, json!({"cell": 4}));
    }

    #[test]
    fn view_shape() {
        let g = play(&[4, 0]);
        assert_eq!(
            g.view(),
            json!({
                "board": ["o", null, null, null, "x", null, null, null, null],
                "to_move": 0
            })
        );
        assert_eq!(g.legal_moves().len(), 7);
        assert_eq!(g.legal_moves()[0], json!({"cell": 1}));
    }
}

//! Connect Four on a 7-wide, 6-high board. Seat 0 plays red and moves first.
//!
//! Move: `{"column": 0..6}`; the disc drops to the lowest empty row of that column.
//! View: `{"board": [[null | 0 | 1; 7]; 6], "to_move": 0 | 1 | null}` where row 0 is the
//! bottom row and each value is the seat owning the disc.

use serde_json::{Value, json};

use crate::{GameState, Kind, KindInfo, MoveError, Outcome, Seat, Status};

/// Number of columns.
pub const WIDTH: usize = 7;
/// Number of rows.
pub const HEIGHT: usize = 6;

/// A game of Connect Four.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectFour {
    /// `board[row][column]`, row 0 = bottom.
    board: [[Option<Seat>; WIDTH]; HEIGHT],
    ply: usize,
    finished: Option<(Outcome, &'static str)>,
}

impl Kind for ConnectFour {
    const INFO: KindInfo = KindInfo {
        id: "connect4",
        name: "Connect Four",
        min_seats: 2,
        max_seats: 2,
        realtime: false,
        supports_draw_offers: true,
        supports_clock: true,
        move_format: r#"{"column": 0..6} (7 columns, 6 rows; the disc drops to the lowest empty row)"#,
    };
}

impl ConnectFour {
    /// An empty board with red (seat 0) to move.
    pub fn new() -> Self {
        Self::default()
    }

    fn to_move(&self) -> Seat {
        self.ply % 2
    }

    /// The lowest empty row of `column`, if any.
    fn free_row(&self, column: usize) -> Option<usize> {
        (0..HEIGHT).find(|&row| self.board[row][column].is_none())
    }

    fn at(&self, row: isize, column: isize) -> Option<Seat> {
        let row = usize::try_from(row).ok()?;
        let column = usize::try_from(column).ok()?;
        *self.board.get(row)?.get(column)?
    }

    /// Whether the disc just placed at (`row`, `column`) completes four in a row.
    fn connects_four(&self, row: usize, column: usize, seat: Seat) -> bool {
        // Board dimensions are tiny, so these conversions cannot overflow.
        let (row, column) = (row as isize, column as isize);
        [(0, 1), (1, 0), (1, 1), (1, -1)].iter().any(|&(dr, dc)| {
            let run = |sign: isize| {
                (1..4)
                    .take_while(|&k| {
                        self.at(row + sign * k * dr, column + sign * k * dc) == Some(seat)
                    })
                    .count()
            };
            1 + run(1) + run(-1) >= 4
        })
    }
}

impl GameState for ConnectFour {
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
        let column = crate::small_index_field(mv, "column", WIDTH - 1)?;
        let row = self
            .free_row(column)
            .ok_or_else(|| MoveError::Illegal(format!("column {column} is full")))?;
        self.board[row][column] = Some(seat);
        self.ply += 1;
        if self.connects_four(row, column, seat) {
            self.finished = Some((Outcome::Win { seat }, "four_in_a_row"));
        } else if self.ply == WIDTH * HEIGHT {
            self.finished = Some((Outcome::Draw, "board_full"));
        }
        Ok(json!({ "column": column }))
    }

    fn legal_moves(&self) -> Vec<Value> {
        if self.finished.is_some() {
            return Vec::new();
        }
        (0..WIDTH)
            .filter(|&c| self.free_row(c).is_some())
            .map(|column| json!({ "column": column }))
            .collect()
    }

    fn view(&self) -> Value {
        let to_move = match self.finished {
            Some(_) => Value::Null,
            None => json!(self.to_move()),
        };
        json!({ "board": self.board, "to_move": to_move })
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

    fn play(columns: &[usize]) -> ConnectFour {
        let mut g = ConnectFour::new();
        for (i, &column) in columns.iter().enumerate() {
            g.apply(i % 2, &json!({ "column": column }))
                .unwrap_or_else(|e| panic!("move {i} (column {column}): {e}"));
        }
        g
    }

    fn win(seat: Seat) -> Status {
        Status::Finished {
            outcome: Outcome::Win { seat },
            reason: "four_in_a_row".into(),
        }
    }

    #[test]
    fn horizontal_win() {
        let g = play(&[0, 0, 1, 1, 2, 2, 3]);
        assert_eq!(g.status(), win(0));
        assert!(g.legal_moves().is_empty());
    }

    #[test]
    fn horizontal_win_filling_the_middle() {
        // Red: 0, 1, 3 then 2 closes the gap.
        let g = play(&[0, 6, 1, 6, 3, 5, 2]);
        assert_eq!(g.status(), win(0));
    }

    #[test]
    fn vertical_win_for_second_player() {
        let g = play(&[0, 1, 0, 1, 0, 1, 2, 1]);
        assert_eq!(g.status(), win(1));
    }

    #[test]
    fn diagonal_wins() {
        // Rising diagonal (0,0) (1,1) (2,2) (3,3) for red.
        let g = play(&[0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3]);
        assert_eq!(g.status(), win(0));
        // Other direction, (0,6) (1,5) (2,4) (3,3) for red: mirror image of the above.
        let g = play(&[6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3]);
        assert_eq!(g.status(), win(0));
    }

    #[test]
    fn full_column_is_illegal() {
        let mut g = play(&[3, 3, 3, 3, 3, 3]);
        let before = g.clone();
        let err = g.apply(0, &json!({"column": 3})).unwrap_err();
        assert!(matches!(err, MoveError::Illegal(_)));
        assert_eq!(g, before);
        assert_eq!(g.legal_moves().len(), 6);
        assert!(!g.legal_moves().contains(&json!({"column": 3})));
    }

    #[test]
    fn full_board_draw() {
        // Fill column pairs in a pattern that never connects four:
        // columns are filled bottom-up with alternating colours, and the column order
        // shifts the colour phase every two columns.
        let order = [0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0];
        let mut moves = Vec::new();
        for base in [0, 2, 4] {
            moves.extend(order.iter().map(|c| c + base));
        }
        moves.extend([6; 6]);
        let g = play(&moves);
        assert_eq!(
            g.status(),
            Status::Finished {
                outcome: Outcome::Draw,
                reason: "board_full".into()
            }
        );
        assert_eq!(g.ply(), 42);
        assert!(g.legal_moves().is_empty());
    }

    #[test]
    fn out_of_turn_and_game_over() {
        let mut g = ConnectFour::new();
        assert_eq!(
            g.apply(1, &json!({"column": 0})),
            Err(MoveError::NotYourTurn)
        );
        let mut g2 = play(&[0, 0, 1, 1, 2, 2, 3]);
        assert_eq!(g2.apply(1, &json!({"column": 4})), Err(MoveError::GameOver));
        g.apply(0, &json!({"column": 0})).unwrap();
        assert_eq!(
            g.apply(0, &json!({"column": 0})),
            Err(MoveError::NotYourTurn)
        );
    }

    #[test]
    fn malformed_inputs() {
        let bad = [
            json!(null),
            json!("3"),
            json!(3),
            json!(-1),
            json!({}),
            json!({"column": null}),
            json!({"column": -1}),
            json!({"column": 7}),
            json!({"column": 1.5}),
            json!({"column": "3"}),
            json!({"column": false}),
            json!({"column": u64::MAX}),
            json!({"column": i64::MIN}),
            json!({"column": 1e300}),
            json!({"cell": 3}),
        ];
        for mv in bad {
            let mut g = ConnectFour::new();
            let err = g.apply(0, &mv).unwrap_err();
            assert!(matches!(err, MoveError::Malformed(_)), "{mv} -> {err:?}");
            assert_eq!(g, ConnectFour::new());
        }
    }

    #[test]
    fn view_rows_start_at_the_bottom() {
        let mut g = ConnectFour::new();
        assert_eq!(
            g.apply(0, &json!({"column": 3, "row": 5})).unwrap(),
            json!({"column": 3})
        );
        g.apply(1, &json!({"column": 3})).unwrap();
        let view = g.view();
        assert_eq!(view["to_move"], 0);
        let board = view["board"].as_array().unwrap();
        assert_eq!(board.len(), HEIGHT);
        assert!(board.iter().all(|r| r.as_array().unwrap().len() == WIDTH));
        assert_eq!(board[0][3], 0);
        assert_eq!(board[1][3], 1);
        assert_eq!(board[2][3], Value::Null);
        assert_eq!(board[0][0], Value::Null);
    }
}

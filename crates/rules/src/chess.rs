//! Standard chess, backed by [`shakmaty`]. Seat 0 plays White.
//!
//! Move input: `{"uci": "e2e4"}` (promotion `e7e8q`, castling as the king's two-square move
//! `e1g1`) or `{"san": "Nf3"}` / `{"san": "O-O"}` (a trailing `+`/`#` is accepted). Both
//! strings are limited to 16 bytes. A move may carry both keys — that is exactly the
//! canonical stored form `{"uci": "e2e4", "san": "e4"}` — in which case UCI is authoritative
//! and the SAN must denote the same move, otherwise the input is malformed.
//!
//! View: `{"fen": ..., "to_move": 0 | 1 | null, "check": bool,
//! "last_move": {"uci": ..., "san": ...} | null}`. The FEN only records an en passant square
//! when an en passant capture is actually legal.
//!
//! # Automatic draws
//!
//! Versus has no draw *claims*: the game ends in a draw automatically, immediately after the
//! move that causes it, when
//! * the same position (pieces, side to move, castling rights and legal en passant
//!   captures, per FIDE 9.2) occurs for the third time (`threefold_repetition`);
//! * 50 moves by each side pass without a capture or pawn move, i.e. the halfmove clock
//!   reaches 100 (`fifty_move_rule`) — unless that very move is checkmate, which wins;
//! * neither side can possibly checkmate (`insufficient_material`, as defined by shakmaty);
//! * the side to move has no legal move and is not in check (`stalemate`).

use serde_json::{Map, Value, json};
use shakmaty::{
    CastlingMode, Chess, Color, EnPassantMode, Move, Position,
    fen::Fen,
    san::{San, SanPlus},
    uci::UciMove,
    zobrist::Zobrist128,
};

use crate::{GameState, Kind, KindInfo, MoveError, Outcome, Seat, Status};

/// Longest accepted `uci` / `san` string, in bytes.
const MAX_NOTATION_LEN: usize = 16;

/// A game of chess, including the position history needed for repetition detection.
#[derive(Debug, Clone)]
pub struct ChessGame {
    pos: Chess,
    /// Zobrist keys of every position reached so far, starting with the initial one.
    history: Vec<Zobrist128>,
    ply: usize,
    /// `(uci, san)` of the last move played.
    last_move: Option<(String, String)>,
    finished: Option<(Outcome, &'static str)>,
}

impl Kind for ChessGame {
    const INFO: KindInfo = KindInfo {
        id: "chess",
        name: "Chess",
        min_seats: 2,
        max_seats: 2,
        realtime: false,
        supports_draw_offers: true,
        supports_clock: true,
        move_format: r#"{"uci": "e2e4"} (promotion "e7e8q", castling "e1g1") or {"san": "Nf3"} / {"san": "O-O"}"#,
    };
}

impl Default for ChessGame {
    fn default() -> Self {
        Self::from_position(Chess::default())
    }
}

fn seat_of(color: Color) -> Seat {
    match color {
        Color::White => 0,
        Color::Black => 1,
    }
}

/// Reads an optional notation string field; present-but-not-a-short-string is malformed.
fn notation_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, MoveError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_NOTATION_LEN => {
            Ok(Some(s.as_str()))
        }
        Some(Value::String(_)) => Err(MoveError::Malformed(format!(
            "\"{name}\" must be 1..={MAX_NOTATION_LEN} characters"
        ))),
        Some(_) => Err(MoveError::Malformed(format!("\"{name}\" must be a string"))),
    }
}

fn parse_san(text: &str) -> Result<San, MoveError> {
    SanPlus::from_ascii(text.as_bytes())
        .map(|plus| plus.san)
        .map_err(|_| MoveError::Malformed(format!("{text:?} is not valid SAN")))
}

impl ChessGame {
    /// The standard starting position, White (seat 0) to move.
    pub fn new() -> Self {
        Self::default()
    }

    fn from_position(pos: Chess) -> Self {
        let mut game = Self {
            history: vec![pos.zobrist_hash(EnPassantMode::Legal)],
            pos,
            ply: 0,
            last_move: None,
            finished: None,
        };
        game.finished = game.evaluate();
        game
    }

    /// The current position in FEN.
    pub fn fen(&self) -> String {
        Fen::from_position(&self.pos, EnPassantMode::Legal).to_string()
    }

    fn to_move(&self) -> Seat {
        seat_of(self.pos.turn())
    }

    fn evaluate(&self) -> Option<(Outcome, &'static str)> {
        if self.pos.legal_moves().is_empty() {
            return Some(if self.pos.is_check() {
                (
                    Outcome::Win {
                        seat: seat_of(!self.pos.turn()),
                    },
                    "checkmate",
                )
            } else {
                (Outcome::Draw, "stalemate")
            });
        }
        if self.pos.is_insufficient_material() {
            return Some((Outcome::Draw, "insufficient_material"));
        }
        let current = self.history.last();
        if self.history.iter().filter(|&k| Some(k) == current).count() >= 3 {
            return Some((Outcome::Draw, "threefold_repetition"));
        }
        if self.pos.halfmoves() >= 100 {
            return Some((Outcome::Draw, "fifty_move_rule"));
        }
        None
    }

    fn resolve_uci(&self, text: &str) -> Result<Move, MoveError> {
        let uci = UciMove::from_ascii(text.as_bytes())
            .map_err(|_| MoveError::Malformed(format!("{text:?} is not valid UCI")))?;
        let m = uci
            .to_move(&self.pos)
            .map_err(|_| MoveError::Illegal(format!("{text} is not legal in this position")))?;
        // Only the standard spelling: shakmaty also reads king-takes-rook castling (`e1h1`,
        // Chess960 style), which `legal_moves` never lists; one move, one spelling.
        if m.to_uci(CastlingMode::Standard).to_string() != text.to_ascii_lowercase() {
            return Err(MoveError::Illegal(format!(
                "{text} is not legal in this position (castling is written as the king's two-square move, e.g. e1g1)"
            )));
        }
        Ok(m)
    }

    fn resolve_san(&self, text: &str) -> Result<Move, MoveError> {
        parse_san(text)?.to_move(&self.pos).map_err(|e| {
            MoveError::Illegal(format!("{text} is not playable in this position ({e})"))
        })
    }

    fn parse(&self, mv: &Value) -> Result<Move, MoveError> {
        let obj = mv.as_object().ok_or_else(|| {
            MoveError::Malformed("expected an object with \"uci\" or \"san\"".into())
        })?;
        match (notation_field(obj, "uci")?, notation_field(obj, "san")?) {
            (None, None) => Err(MoveError::Malformed(
                "expected an object with \"uci\" or \"san\"".into(),
            )),
            (Some(uci), None) => self.resolve_uci(uci),
            (None, Some(san)) => self.resolve_san(san),
            (Some(uci), Some(san)) => {
                // The canonical stored form: UCI decides, SAN must agree.
                let m = self.resolve_uci(uci)?;
                let san_move = parse_san(san)?.to_move(&self.pos);
                if san_move == Ok(m) {
                    Ok(m)
                } else {
                    Err(MoveError::Malformed(format!(
                        "\"san\" {san} does not denote the same move as \"uci\" {uci}"
                    )))
                }
            }
        }
    }

    /// UCI (standard castling notation) and SAN with check suffix for a legal move `m`.
    fn notation(&self, m: Move) -> (String, String) {
        let uci = m.to_uci(CastlingMode::Standard).to_string();
        let san = SanPlus::from_move(self.pos.clone(), m).to_string();
        (uci, san)
    }
}

impl GameState for ChessGame {
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
        let m = self.parse(mv)?;
        let uci = m.to_uci(CastlingMode::Standard).to_string();
        // `m` came from shakmaty's own legality check above, so playing it is sound.
        let san = SanPlus::from_move_and_play_unchecked(&mut self.pos, m).to_string();
        self.ply += 1;
        self.history
            .push(self.pos.zobrist_hash(EnPassantMode::Legal));
        let stored = json!({ "uci": uci, "san": san });
        self.last_move = Some((uci, san));
        self.finished = self.evaluate();
        Ok(stored)
    }

    fn legal_moves(&self) -> Vec<Value> {
        if self.finished.is_some() {
            return Vec::new();
        }
        let mut moves: Vec<(String, String)> = self
            .pos
            .legal_moves()
            .into_iter()
            .map(|m| self.notation(m))
            .collect();
        moves.sort();
        moves
            .into_iter()
            .map(|(uci, san)| json!({ "uci": uci, "san": san }))
            .collect()
    }

    fn view(&self) -> Value {
        let to_move = match self.finished {
            Some(_) => Value::Null,
            None => json!(self.to_move()),
        };
        let last_move = match &self.last_move {
            Some((uci, san)) => json!({ "uci": uci, "san": san }),
            None => Value::Null,
        };
        json!({
            "fen": self.fen(),
            "to_move": to_move,
            "check": self.pos.is_check(),
            "last_move": last_move,
        })
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

    const START_FEN: &str = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1";

    fn from_fen(fen: &str) -> ChessGame {
        let pos: Chess = fen
            .parse::<Fen>()
            .unwrap()
            .into_position(CastlingMode::Standard)
            .unwrap();
        ChessGame::from_position(pos)
    }

    /// Plays SAN moves with alternating seats (starting from the side to move).
    fn play_san(game: &mut ChessGame, moves: &[&str]) -> Vec<Value> {
        moves
            .iter()
            .map(|san| {
                let seat = game.to_move();
                game.apply(seat, &json!({ "san": san }))
                    .unwrap_or_else(|e| panic!("{san}: {e}"))
            })
            .collect()
    }

    fn san_game(moves: &[&str]) -> ChessGame {
        let mut g = ChessGame::new();
        play_san(&mut g, moves);
        g
    }

    fn finished(outcome: Outcome, reason: &str) -> Status {
        Status::Finished {
            outcome,
            reason: reason.into(),
        }
    }

    #[test]
    fn starting_position() {
        let g = ChessGame::new();
        assert_eq!(g.fen(), START_FEN);
        assert_eq!(g.status(), Status::Ongoing { to_move: 0 });
        assert_eq!(g.legal_moves().len(), 20);
        assert!(
            g.legal_moves()
                .contains(&json!({"uci": "g1f3", "san": "Nf3"}))
        );
        assert_eq!(
            g.view(),
            json!({"fen": START_FEN, "to_move": 0, "check": false, "last_move": null})
        );
    }

    #[test]
    fn scholars_mate() {
        let g = san_game(&["e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6", "Qxf7#"]);
        assert_eq!(g.status(), finished(Outcome::Win { seat: 0 }, "checkmate"));
        assert!(g.legal_moves().is_empty());
        let view = g.view();
        assert_eq!(view["check"], true);
        assert_eq!(view["to_move"], Value::Null);
        assert_eq!(view["last_move"], json!({"uci": "h5f7", "san": "Qxf7#"}));
        assert_eq!(g.ply(), 7);
    }

    #[test]
    fn fools_mate_black_wins() {
        let g = san_game(&["f3", "e5", "g4", "Qh4#"]);
        assert_eq!(g.status(), finished(Outcome::Win { seat: 1 }, "checkmate"));
    }

    #[test]
    fn stalemate_by_moves() {
        // Sam Loyd's ten-move stalemate.
        let g = san_game(&[
            "e3", "a5", "Qh5", "Ra6", "Qxa5", "h5", "h4", "Rah6", "Qxc7", "f6", "Qxd7+", "Kf7",
            "Qxb7", "Qd3", "Qxb8", "Qh7", "Qxc8", "Kg6", "Qe6",
        ]);
        assert_eq!(g.status(), finished(Outcome::Draw, "stalemate"));
        assert!(!g.pos.is_check());
        assert!(g.legal_moves().is_empty());
    }

    #[test]
    fn threefold_repetition_by_knight_shuffle() {
        let mut g = ChessGame::new();
        let shuffle = ["Nf3", "Nf6", "Ng1", "Ng8"];
        play_san(&mut g, &shuffle);
        assert_eq!(g.status(), Status::Ongoing { to_move: 0 });
        play_san(&mut g, &shuffle[..3]);
        assert_eq!(g.status(), Status::Ongoing { to_move: 1 });
        play_san(&mut g, &shuffle[3..]);
        assert_eq!(g.ply(), 8);
        assert_eq!(
            g.fen(),
            "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 8 5"
        );
        assert_eq!(g.status(), finished(Outcome::Draw, "threefold_repetition"));
        assert!(g.legal_moves().is_empty());
        assert_eq!(g.apply(0, &json!({"san": "Nf3"})), Err(MoveError::GameOver));
    }

    #[test]
    fn repetition_requires_same_castling_rights() {
        // After 1. e4 e5 the kings walk out and back: the board looks the same, but castling
        // rights are gone, so the position after move 2 does not count toward repetition.
        let mut g = san_game(&["e4", "e5", "Ke2", "Ke7", "Ke1", "Ke8"]);
        let shuffle = ["Nf3", "Nf6", "Ng1", "Ng8"];
        play_san(&mut g, &shuffle);
        assert_eq!(g.status(), Status::Ongoing { to_move: 0 });
        play_san(&mut g, &shuffle);
        assert_eq!(g.ply(), 14);
        assert_eq!(g.status(), finished(Outcome::Draw, "threefold_repetition"));
    }

    #[test]
    fn promotion_by_uci_sequence() {
        let mut g = ChessGame::new();
        let moves = [
            "d2d4", "e7e5", "d4e5", "e8e7", "e5e6", "e7f6", "e6e7", "f6g6",
        ];
        for uci in moves {
            let seat = g.to_move();
            let stored = g.apply(seat, &json!({ "uci": uci })).unwrap();
            assert_eq!(stored["uci"], uci);
        }
        let stored = g.apply(0, &json!({"uci": "e7e8q"})).unwrap();
        assert_eq!(stored, json!({"uci": "e7e8q", "san": "e8=Q"}));
        assert!(g.fen().starts_with("rnbqQbnr/"), "{}", g.fen());
        assert_eq!(g.status(), Status::Ongoing { to_move: 1 });

        // Under-promotion by SAN is stored in UCI too.
        let g = san_game(&[
            "a4", "b5", "axb5", "a6", "bxa6", "Bb7", "axb7", "Nc6", "b8=N",
        ]);
        assert_eq!(
            g.view()["last_move"],
            json!({"uci": "b7b8n", "san": "b8=N"})
        );

        // A pawn move to the last rank without a promotion piece is illegal.
        let mut h = san_game(&["d4", "e5", "dxe5", "Ke7", "e6", "Kf6", "e7", "Kg6"]);
        for mv in [
            json!({"uci": "e7e8"}),
            json!({"san": "e8"}),
            json!({"uci": "e7e8k"}),
            json!({"uci": "e7e8p"}),
            json!({"san": "e8=K"}),
        ] {
            assert!(
                matches!(h.apply(0, &mv), Err(MoveError::Illegal(_))),
                "{mv}"
            );
        }
        // Uppercase promotion letters are normalised; capture-promotion by SAN.
        let mut h2 = h.clone();
        assert_eq!(
            h2.apply(0, &json!({"uci": "e7d8Q"})).unwrap(),
            json!({"uci": "e7d8q", "san": "exd8=Q"})
        );
        let stored = h.apply(0, &json!({"san": "exd8=R"})).unwrap();
        assert_eq!(stored["uci"], "e7d8r");
    }

    #[test]
    fn san_and_uci_are_both_accepted_and_stored_as_uci() {
        let mut g = ChessGame::new();
        assert_eq!(
            g.apply(0, &json!({"san": "e4"})).unwrap(),
            json!({"uci": "e2e4", "san": "e4"})
        );
        assert_eq!(
            g.apply(1, &json!({"uci": "e7e5"})).unwrap(),
            json!({"uci": "e7e5", "san": "e5"})
        );
        assert_eq!(
            g.apply(0, &json!({"san": "Nf3"})).unwrap(),
            json!({"uci": "g1f3", "san": "Nf3"})
        );
        // The canonical form (both keys, agreeing) is accepted as input.
        assert_eq!(
            g.apply(1, &json!({"uci": "b8c6", "san": "Nc6"})).unwrap(),
            json!({"uci": "b8c6", "san": "Nc6"})
        );
        // A check suffix on input is fine.
        let mut g = san_game(&["e4", "f5"]);
        assert_eq!(
            g.apply(0, &json!({"san": "Qh5+"})).unwrap(),
            json!({"uci": "d1h5", "san": "Qh5+"})
        );
    }

    #[test]
    fn disagreeing_uci_and_san_is_malformed() {
        let mut g = ChessGame::new();
        for mv in [
            json!({"uci": "e2e4", "san": "d4"}),
            json!({"uci": "e2e4", "san": "Ke2"}),
            json!({"uci": "e2e4", "san": "!!"}),
        ] {
            assert!(
                matches!(g.apply(0, &mv), Err(MoveError::Malformed(_))),
                "{mv}"
            );
        }
        assert!(matches!(
            g.apply(0, &json!({"uci": "e2e5", "san": "e4"})),
            Err(MoveError::Illegal(_))
        ));
        assert_eq!(g.ply(), 0);
    }

    #[test]
    fn castling_both_notations() {
        let mut g = san_game(&["e4", "e5", "Nf3", "Nc6", "Bc4", "Bc5"]);
        // O-O by SAN is stored as the king's two-square move.
        assert_eq!(
            g.apply(0, &json!({"san": "O-O"})).unwrap(),
            json!({"uci": "e1g1", "san": "O-O"})
        );
        assert!(g.fen().ends_with("RNBQ1RK1 b kq - 5 4"), "{}", g.fen());
        // Black castles by UCI king-two-squares.
        assert_eq!(
            g.apply(1, &json!({"uci": "e8g8"})).unwrap_err(),
            MoveError::Illegal("e8g8 is not legal in this position".into()),
            "g8 knight still in the way"
        );
        play_san(&mut g, &["Nf6", "d3"]);
        assert_eq!(
            g.apply(1, &json!({"uci": "e8g8"})).unwrap(),
            json!({"uci": "e8g8", "san": "O-O"})
        );
        assert!(g.fen().starts_with("r1bq1rk1/"), "{}", g.fen());
        // Queenside.
        let mut g = san_game(&["d4", "d5", "Nc3", "Nc6", "Bf4", "Bf5", "Qd2", "Qd7"]);
        assert_eq!(
            g.apply(0, &json!({"uci": "e1c1"})).unwrap(),
            json!({"uci": "e1c1", "san": "O-O-O"})
        );
        assert_eq!(
            g.apply(1, &json!({"san": "O-O-O"})).unwrap(),
            json!({"uci": "e8c8", "san": "O-O-O"})
        );
        assert!(
            g.legal_moves()
                .iter()
                .all(|m| m["uci"] != "e1g1" && m["san"] != "O-O")
        );
    }

    #[test]
    fn en_passant() {
        let mut g = san_game(&["e4", "a6", "e5", "d5"]);
        assert!(g.fen().contains(" d6 "), "{}", g.fen());
        assert_eq!(
            g.apply(0, &json!({"uci": "e5d6"})).unwrap(),
            json!({"uci": "e5d6", "san": "exd6"})
        );
        // No legal en passant capture -> no ep square in the FEN.
        let g = san_game(&["e4"]);
        assert_eq!(
            g.fen(),
            "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1"
        );
    }

    #[test]
    fn fifty_move_rule_is_automatic() {
        let mut g = from_fen("8/8/8/4k3/8/8/R7/4K3 w - - 99 80");
        assert_eq!(g.status(), Status::Ongoing { to_move: 0 });
        g.apply(0, &json!({"uci": "a2a3"})).unwrap();
        assert_eq!(g.status(), finished(Outcome::Draw, "fifty_move_rule"));
        // A pawn move resets the clock.
        let mut g = from_fen("8/8/8/4k3/8/8/P7/4K3 w - - 99 80");
        g.apply(0, &json!({"uci": "a2a3"})).unwrap();
        assert_eq!(g.status(), Status::Ongoing { to_move: 1 });
        // Checkmate on the hundredth halfmove wins.
        let mut g = from_fen("6k1/5ppp/8/8/8/8/8/R5K1 w - - 99 80");
        g.apply(0, &json!({"san": "Ra8#"})).unwrap();
        assert_eq!(g.status(), finished(Outcome::Win { seat: 0 }, "checkmate"));
    }

    #[test]
    fn insufficient_material() {
        let mut g = from_fen("4k3/8/8/8/8/8/4q3/4K3 w - - 0 1");
        assert_eq!(g.status(), Status::Ongoing { to_move: 0 });
        assert_eq!(
            g.apply(0, &json!({"san": "Kxe2"})).unwrap(),
            json!({"uci": "e1e2", "san": "Kxe2"})
        );
        assert_eq!(g.status(), finished(Outcome::Draw, "insufficient_material"));
    }

    #[test]
    fn turn_and_game_over() {
        let mut g = ChessGame::new();
        assert_eq!(
            g.apply(1, &json!({"uci": "e7e5"})),
            Err(MoveError::NotYourTurn)
        );
        assert_eq!(
            g.apply(2, &json!({"uci": "e2e4"})),
            Err(MoveError::NotYourTurn)
        );
        let mut g = san_game(&["f3", "e5", "g4", "Qh4#"]);
        assert_eq!(
            g.apply(0, &json!({"uci": "e2e4"})),
            Err(MoveError::GameOver)
        );
    }

    #[test]
    fn illegal_moves() {
        let mut g = ChessGame::new();
        for mv in [
            json!({"uci": "e2e5"}),
            json!({"uci": "e7e5"}),
            json!({"uci": "e1g1"}),
            json!({"uci": "a1a1"}),
            json!({"uci": "e3e4"}),
            json!({"uci": "0000"}),
            json!({"uci": "Q@e4"}),
            json!({"uci": "e2e4q"}),
            json!({"san": "e5"}),
            json!({"san": "Nf6"}),
            json!({"san": "O-O"}),
            json!({"san": "Ke2"}),
            json!({"san": "Q@e4"}),
            json!({"san": "--"}),
        ] {
            let err = g.apply(0, &mv).unwrap_err();
            assert!(matches!(err, MoveError::Illegal(_)), "{mv} -> {err:?}");
        }
        assert_eq!(g.ply(), 0);
        assert_eq!(g.fen(), START_FEN);
        // Ambiguous SAN is rejected as illegal.
        let mut g = from_fen("4k3/8/8/8/8/8/4K3/R6R w - - 0 1");
        assert!(matches!(
            g.apply(0, &json!({"san": "Rd1"})),
            Err(MoveError::Illegal(_))
        ));
        assert_eq!(
            g.apply(0, &json!({"san": "Rad1"})).unwrap(),
            json!({"uci": "a1d1", "san": "Rad1"})
        );
    }

    #[test]
    fn malformed_inputs() {
        let long = "e2e4".repeat(5);
        let bad = [
            json!(null),
            json!("e2e4"),
            json!(42),
            json!([]),
            json!({}),
            json!({"move": "e2e4"}),
            json!({"uci": null}),
            json!({"uci": 1}),
            json!({"uci": ["e2e4"]}),
            json!({"uci": ""}),
            json!({"uci": long}),
            json!({"uci": "e2"}),
            json!({"uci": "e2e9"}),
            json!({"uci": "i2e4"}),
            json!({"uci": "e2e4x"}),
            json!({"uci": "E2E4"}),
            json!({"uci": "e2-e4"}),
            json!({"uci": "é2e4"}),
            json!({"san": "e4", "uci": null}),
            json!({"san": null}),
            json!({"san": 4}),
            json!({"san": ""}),
            json!({"san": "Xf3"}),
            json!({"san": "e9"}),
            json!({"san": "Nf3!!extra"}),
            json!({"san": "0-0-0-0"}),
            json!({"san": long}),
        ];
        for mv in bad {
            let mut g = ChessGame::new();
            let err = g.apply(0, &mv).unwrap_err();
            assert!(matches!(err, MoveError::Malformed(_)), "{mv} -> {err:?}");
            assert_eq!(g.fen(), START_FEN);
            assert_eq!(g.ply(), 0);
        }
    }

    #[test]
    fn extra_fields_ignored() {
        let mut g = ChessGame::new();
        assert_eq!(
            g.apply(0, &json!({"uci": "e2e4", "comment": "!"})).unwrap(),
            json!({"uci": "e2e4", "san": "e4"})
        );
    }
}

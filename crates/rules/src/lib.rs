//! Pure, deterministic game rules for every Versus game kind.
//!
//! # What this crate owns
//!
//! * The catalogue of game kinds ([`kinds`], [`kind`]) and their static metadata ([`KindInfo`]).
//! * For each kind: the position, move parsing/validation, the canonical stored form of a
//!   move, the list of legal moves, end-of-game detection ([`Status`]) and the JSON view of
//!   the position that clients render.
//! * Rebuilding a game from its journal of canonical moves ([`replay`]).
//!
//! # What it must not touch
//!
//! No I/O of any kind (network, files, database), no wall clock, no global or thread-local
//! RNG, no logging side effects and no async runtime. Everything here is a pure function of
//! its inputs, so replaying the same moves always yields the same state. If a future kind
//! needs randomness, the seed is passed in explicitly. Clocks, time controls, resignations,
//! draw offers, seating and persistence belong to the server and store crates; this crate
//! only reports *whether* a kind supports them ([`KindInfo`]).
//!
//! # Adding a kind
//!
//! Write one module implementing [`GameState`] plus the crate-internal `Kind` trait
//! (a `const INFO` and a `Default` starting position), then add one line to the
//! `registry!` invocation below.

// No `unwrap`/`expect` outside tests (no panic may depend on what a client sent);
// each remaining one is allowed where it is, with its reason. Tests may use both.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use serde::{Deserialize, Serialize};

pub mod chess;
pub mod connect4;
pub mod lightcycles;
pub mod rating;
pub mod tictactoe;

pub use chess::ChessGame;
pub use connect4::ConnectFour;
pub use tictactoe::TicTacToe;

/// A player's position at the table: 0 = first player (X / red / white), 1 = second.
pub type Seat = usize;

/// How a finished game ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The player in `seat` won.
    Win { seat: Seat },
    /// Nobody won.
    Draw,
}

/// Whether a game is still running, and if not, how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Ongoing {
        to_move: Seat,
    },
    /// `reason` is one of `three_in_a_row`, `four_in_a_row`, `board_full`, `checkmate`,
    /// `stalemate`, `threefold_repetition`, `fifty_move_rule`, `insufficient_material`.
    Finished {
        outcome: Outcome,
        reason: String,
    },
}

impl Status {
    /// Whether the game has ended.
    pub fn is_finished(&self) -> bool {
        matches!(self, Status::Finished { .. })
    }

    /// The seat to move, if the game is still running.
    pub fn to_move(&self) -> Option<Seat> {
        match self {
            Status::Ongoing { to_move } => Some(*to_move),
            Status::Finished { .. } => None,
        }
    }
}

/// Why a move was rejected. The state is unchanged whenever one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// Wrong JSON shape, bad UCI/SAN syntax, out-of-range number.
    #[error("the move is malformed: {0}")]
    Malformed(String),
    /// Well-formed but not legal here (occupied cell, full column, illegal chess move).
    #[error("the move is illegal: {0}")]
    Illegal(String),
    #[error("it is not your turn")]
    NotYourTurn,
    #[error("the game is over")]
    GameOver,
}

impl MoveError {
    /// Stable machine-readable error code.
    pub fn code(&self) -> &'static str {
        match self {
            MoveError::Malformed(_) => "malformed_move",
            MoveError::Illegal(_) => "illegal_move",
            MoveError::NotYourTurn => "not_your_turn",
            MoveError::GameOver => "game_over",
        }
    }
}

/// Static description of a game kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindInfo {
    /// Stable identifier: `tictactoe`, `connect4`, `chess`, `lightcycles`.
    pub id: &'static str,
    /// Human-readable name.
    pub name: &'static str,
    pub min_seats: usize,
    pub max_seats: usize,
    /// Whether the game runs in real time rather than turn by turn.
    pub realtime: bool,
    /// Whether the server should offer agreed draws.
    pub supports_draw_offers: bool,
    /// Whether the server may run a game clock.
    pub supports_clock: bool,
    /// Human description of the move JSON.
    pub move_format: &'static str,
}

/// A running game of some kind. Implementations are pure and deterministic.
pub trait GameState: Send + Sync + std::fmt::Debug {
    /// The kind id (see [`KindInfo::id`]).
    fn kind(&self) -> &'static str;
    fn status(&self) -> Status;
    /// Validate and apply `mv` by `seat`. On success returns the move in its canonical stored
    /// form (tictactoe `{"cell":4}`; connect4 `{"column":3}`; chess
    /// `{"uci":"e2e4","san":"e4"}` — UCI is canonical, SAN is added for display).
    /// The canonical form is itself accepted by `apply`. On error the state is unchanged.
    ///
    /// Checks run in this order: [`MoveError::GameOver`], then [`MoveError::NotYourTurn`]
    /// (also for a seat that does not exist), then [`MoveError::Malformed`], then
    /// [`MoveError::Illegal`].
    fn apply(&mut self, seat: Seat, mv: &serde_json::Value)
    -> Result<serde_json::Value, MoveError>;
    /// All legal moves for the side to move, in canonical form (empty when finished).
    fn legal_moves(&self) -> Vec<serde_json::Value>;
    /// A JSON view of the position for clients.
    fn view(&self) -> serde_json::Value;
    /// Number of moves applied so far.
    fn ply(&self) -> usize;
    fn clone_box(&self) -> Box<dyn GameState>;
}

impl Clone for Box<dyn GameState> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// Why [`replay`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("unknown game kind: {0}")]
    UnknownKind(String),
    #[error("move {index} could not be replayed: {error}")]
    Move { index: usize, error: MoveError },
}

/// Crate-internal glue that lets the registry build a kind's metadata and starting state.
trait Kind: GameState + Default + 'static {
    const INFO: KindInfo;
}

fn construct<K: Kind>() -> Box<dyn GameState> {
    Box::new(K::default())
}

/// One line per kind: the type implementing [`GameState`] + `Kind`.
macro_rules! registry {
    ($($ty:ty),+ $(,)?) => {
        static KINDS: &[KindInfo] = &[$(<$ty as Kind>::INFO),+];
        static CONSTRUCTORS: &[fn() -> Box<dyn GameState>] = &[$(construct::<$ty>),+];
    };
}

registry! {
    tictactoe::TicTacToe,
    connect4::ConnectFour,
    chess::ChessGame,
    lightcycles::Game,
}

/// Every supported kind, in a stable order.
pub fn kinds() -> &'static [KindInfo] {
    KINDS
}

/// Metadata for the kind `id`, if it exists.
pub fn kind(id: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.id == id)
}

/// A fresh game of kind `kind`, if it exists.
pub fn new_game(kind: &str) -> Option<Box<dyn GameState>> {
    let index = KINDS.iter().position(|k| k.id == kind)?;
    CONSTRUCTORS.get(index).map(|construct| construct())
}

/// Rebuild a state by applying `(seat, canonical move)` pairs in order.
pub fn replay(
    kind: &str,
    moves: &[(Seat, serde_json::Value)],
) -> Result<Box<dyn GameState>, ReplayError> {
    let mut state = new_game(kind).ok_or_else(|| ReplayError::UnknownKind(kind.to_owned()))?;
    for (index, (seat, mv)) in moves.iter().enumerate() {
        state
            .apply(*seat, mv)
            .map_err(|error| ReplayError::Move { index, error })?;
    }
    Ok(state)
}

/// Read a required non-negative integer field `name` from a move object, bounded by `max`
/// (inclusive). Anything else is [`MoveError::Malformed`].
fn small_index_field(mv: &serde_json::Value, name: &str, max: usize) -> Result<usize, MoveError> {
    let obj = mv
        .as_object()
        .ok_or_else(|| MoveError::Malformed(format!("expected an object with \"{name}\"")))?;
    let value = obj
        .get(name)
        .ok_or_else(|| MoveError::Malformed(format!("missing \"{name}\"")))?;
    let n = value
        .as_u64()
        .ok_or_else(|| MoveError::Malformed(format!("\"{name}\" must be an integer 0..={max}")))?;
    usize::try_from(n)
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| MoveError::Malformed(format!("\"{name}\" must be an integer 0..={max}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registry_order_and_lookup() {
        let ids: Vec<_> = kinds().iter().map(|k| k.id).collect();
        assert_eq!(ids, ["tictactoe", "connect4", "chess", "lightcycles"]);
        for info in kinds().iter().filter(|k| !k.realtime) {
            let game = new_game(info.id).unwrap();
            assert_eq!(game.kind(), info.id);
            assert_eq!(game.ply(), 0);
            assert_eq!(game.status(), Status::Ongoing { to_move: 0 });
            assert_eq!(kind(info.id).unwrap().id, info.id);
            assert_eq!((info.min_seats, info.max_seats), (2, 2));
            assert!(!info.realtime);
            assert!(info.supports_clock);
        }
        assert!(!kind("tictactoe").unwrap().supports_draw_offers);
        assert!(kind("connect4").unwrap().supports_draw_offers);
        assert!(kind("chess").unwrap().supports_draw_offers);
        let lc = kind("lightcycles").unwrap();
        assert!(lc.realtime && !lc.supports_clock && !lc.supports_draw_offers);
        assert_eq!((lc.min_seats, lc.max_seats), (2, 4));
        assert_eq!(new_game("lightcycles").unwrap().kind(), "lightcycles");
        assert!(kind("go").is_none());
        assert!(new_game("go").is_none());
    }

    #[test]
    fn serde_shapes() {
        assert_eq!(
            serde_json::to_value(Outcome::Win { seat: 0 }).unwrap(),
            json!({"win": {"seat": 0}})
        );
        assert_eq!(serde_json::to_value(Outcome::Draw).unwrap(), json!("draw"));
        let info = serde_json::to_value(kind("chess").unwrap()).unwrap();
        assert_eq!(info["id"], "chess");
        assert_eq!(info["name"], "Chess");
        let status = Status::Finished {
            outcome: Outcome::Draw,
            reason: "stalemate".into(),
        };
        let back: Status = serde_json::from_value(serde_json::to_value(&status).unwrap()).unwrap();
        assert_eq!(back, status);
    }

    #[test]
    fn error_codes() {
        assert_eq!(MoveError::Malformed("x".into()).code(), "malformed_move");
        assert_eq!(MoveError::Illegal("x".into()).code(), "illegal_move");
        assert_eq!(MoveError::NotYourTurn.code(), "not_your_turn");
        assert_eq!(MoveError::GameOver.code(), "game_over");
        assert_eq!(
            MoveError::Illegal("cell 4 is occupied".into()).to_string(),
            "the move is illegal: cell 4 is occupied"
        );
    }

    #[test]
    fn replay_errors() {
        assert_eq!(
            replay("go", &[]).unwrap_err(),
            ReplayError::UnknownKind("go".into())
        );
        let err = replay(
            "tictactoe",
            &[(0, json!({"cell": 4})), (1, json!({"cell": 4}))],
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ReplayError::Move {
                index: 1,
                error: MoveError::Illegal(_)
            }
        ));
        let err = replay("tictactoe", &[(1, json!({"cell": 4}))]).unwrap_err();
        assert_eq!(
            err,
            ReplayError::Move {
                index: 0,
                error: MoveError::NotYourTurn
            }
        );
        let ok = replay("connect4", &[(0, json!({"column": 3}))]).unwrap();
        assert_eq!(ok.ply(), 1);
    }

    #[test]
    fn boxed_clone_is_independent() {
        let mut a = new_game("tictactoe").unwrap();
        let b = a.clone();
        a.apply(0, &json!({"cell": 0})).unwrap();
        assert_eq!(b.ply(), 0);
        assert_eq!(a.ply(), 1);
    }
}

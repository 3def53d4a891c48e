//! Light cycles: a real-time arena for 2 to 4 players on a grid, advanced one fixed tick at a
//! time. The rules know tick numbers only, never time; the server decides the tick rate.
//!
//! The registry ([`crate::kinds`]) lists this kind through [`Game`], a thin [`crate::GameState`]
//! adapter (an input is its "move"); the server runs the simulation itself ([`State`]) with
//! the session's [`Config`] (players, points, seed), advancing it at its own tick rate.
//!
//! # Rules
//!
//! * Coordinates: `x` grows to the right (`0..width`), `y` grows downwards (`0..height`).
//!   Board cells are stored row-major (`y * width + x`), `0` = empty, `seat + 1` = that seat's
//!   trail. A cycle's head cell is part of its trail.
//! * Every tick each live cycle moves one cell in its direction and leaves its trail behind.
//!   Trails of eliminated cycles stay on the board until the round ends.
//! * A round ends when at most one cycle is alive. The survivor scores one point; if the last
//!   cycles die in the same tick the round is a draw and nobody scores. The first seat to reach
//!   `points_to_win` wins the session; otherwise the next round starts in the same tick.
//! * Spawns are derived from `(seed, round)` with a small self-contained SplitMix64 generator.
//!   Cycles stand still for `countdown_ticks` ticks after every spawn (inputs are accepted and
//!   take effect on the first moving tick).
//!
//! # Inputs
//!
//! [`State::input`] records a direction for the next moving tick. **The last accepted input
//! per player per tick counts**: a later input in the same tick replaces an earlier one, so
//! exactly one input per player takes effect per tick. An input is checked against the
//! direction the cycle is *currently moving in* (not against an earlier pending input): the
//! reverse of it is refused with [`InputError::Reversal`]; the same direction is accepted and
//! cancels an earlier pending turn. Inputs by eliminated players, unknown seats or after the
//! session ended are refused. A refused input changes nothing.
//!
//! # Collisions (all resolved simultaneously, against the board as it was before the tick)
//!
//! For each live cycle, with `target` the cell it moves into, in this order:
//! 1. `target` is off the grid: [`Cause::Wall`].
//! 2. `target` is the head of another live cycle whose own target is this cycle's head (two
//!    adjacent cycles driving into each other): [`Cause::HeadOn`], both die.
//! 3. `target` holds any trail (including heads and its own trail): [`Cause::Trail`].
//! 4. `target` is empty but another live cycle moves into it in the same tick:
//!    [`Cause::SameCell`]; all cycles entering that cell die and the cell stays empty.
//!
//! A cycle that dies does not move and keeps its previous direction: its trail ends at its
//! last head. Survivors then move.

use serde::{Deserialize, Serialize};

use crate::{GameState, KindInfo, MoveError, Outcome, Seat, Status};

/// Static metadata for light cycles.
pub const INFO: KindInfo = KindInfo {
    id: "lightcycles",
    name: "Light Cycles",
    min_seats: 2,
    max_seats: 4,
    realtime: true,
    supports_draw_offers: false,
    supports_clock: false,
    move_format: r#"{"dir": "up" | "down" | "left" | "right"} (one input per player per tick counts: the last one)"#,
};

/// Smallest allowed width and height.
pub const MIN_SIDE: u16 = 8;
/// Largest allowed width and height.
pub const MAX_SIDE: u16 = 512;

/// A direction of travel. `up` decreases `y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    Left,
    Right,
}

impl Direction {
    /// All four directions.
    pub const ALL: [Direction; 4] = [
        Direction::Up,
        Direction::Down,
        Direction::Left,
        Direction::Right,
    ];

    /// The opposite direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::Up => Direction::Down,
            Direction::Down => Direction::Up,
            Direction::Left => Direction::Right,
            Direction::Right => Direction::Left,
        }
    }

    /// The neighbouring cell of `(x, y)` in this direction, if it lies on a `width × height` grid.
    pub fn step(self, x: u16, y: u16, width: u16, height: u16) -> Option<(u16, u16)> {
        let (nx, ny) = match self {
            Direction::Up => (Some(x), y.checked_sub(1)),
            Direction::Down => (Some(x), y.checked_add(1)),
            Direction::Left => (x.checked_sub(1), Some(y)),
            Direction::Right => (x.checked_add(1), Some(y)),
        };
        let (nx, ny) = (nx?, ny?);
        (nx < width && ny < height).then_some((nx, ny))
    }

    /// The direction leading from `from` to the adjacent cell `to`, if they are adjacent.
    pub fn between(from: (u16, u16), to: (u16, u16)) -> Option<Direction> {
        Direction::ALL
            .into_iter()
            .find(|d| d.step(from.0, from.1, u16::MAX, u16::MAX) == Some(to))
    }
}

/// Session parameters. Everything the simulation depends on, including its randomness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Grid width, `MIN_SIDE..=MAX_SIDE`.
    pub width: u16,
    /// Grid height, `MIN_SIDE..=MAX_SIDE`.
    pub height: u16,
    /// Number of players, 2..=4.
    pub players: usize,
    /// Points needed to win the session, at least 1.
    pub points_to_win: u32,
    /// Seed for spawn positions.
    pub seed: u64,
    /// Ticks the cycles stand still after each spawn (60 = 3 s at 20 Hz).
    pub countdown_ticks: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            width: 48,
            height: 48,
            players: 2,
            points_to_win: 3,
            seed: 0,
            countdown_ticks: 60,
        }
    }
}

/// Why a [`Config`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("width and height must be between {MIN_SIDE} and {MAX_SIDE}")]
    Size,
    #[error("light cycles needs 2 to 4 players")]
    Players,
    #[error("points_to_win must be at least 1")]
    Points,
}

/// Why an input was refused. The state is unchanged whenever one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the session is over")]
    SessionOver,
    #[error("there is no seat {0}")]
    UnknownSeat(Seat),
    #[error("your cycle has been eliminated this round")]
    Eliminated,
    #[error("cannot reverse into your own trail: moving {current:?}, asked for {requested:?}")]
    Reversal {
        current: Direction,
        requested: Direction,
    },
}

impl InputError {
    /// Stable machine-readable error code.
    pub fn code(&self) -> &'static str {
        match self {
            InputError::SessionOver => "game_over",
            InputError::UnknownSeat(_) => "not_your_turn",
            InputError::Eliminated => "eliminated",
            InputError::Reversal { .. } => "reversal",
        }
    }
}

/// One player's cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    pub x: u16,
    pub y: u16,
    /// The direction it moved in last (or was spawned facing).
    pub dir: Direction,
    pub alive: bool,
}

/// Why a cycle was eliminated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "cause")]
pub enum Cause {
    /// Drove off the grid.
    Wall,
    /// Drove into a trail (`owner` may be the cycle itself).
    Trail { owner: Seat },
    /// Two adjacent cycles drove into each other's heads.
    HeadOn { with: Seat },
    /// Entered the same empty cell as the cycles `with` in the same tick.
    SameCell { with: Vec<Seat> },
}

/// An elimination in a tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Elimination {
    pub seat: Seat,
    #[serde(flatten)]
    pub cause: Cause,
}

/// A live cycle's new head: `[seat, x, y]` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step(pub Seat, pub u16, pub u16);

/// The end of a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundEnd {
    pub round: u32,
    /// The survivor, who scored a point; `None` for a draw round.
    pub winner: Option<Seat>,
    /// Scores after this round, by seat.
    pub scores: Vec<u32>,
}

/// The start of a round: the board is cleared and the cycles respawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundStart {
    pub round: u32,
    /// By seat.
    pub spawns: Vec<Cycle>,
    /// Cycles stand still through this tick number and move from the next one.
    pub frozen_until: u64,
}

/// Everything that changed in one tick. Empty parts are omitted on the wire, so a typical
/// tick is `{"tick":123,"steps":[[0,12,30],[1,35,17]]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TickDelta {
    /// The tick number this delta brings the state to.
    pub tick: u64,
    /// New heads of the cycles that moved, by seat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eliminations: Vec<Elimination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_end: Option<RoundEnd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_start: Option<RoundStart>,
    /// Set in the tick the session is won.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<Seat>,
}

impl TickDelta {
    /// Whether nothing but the tick number changed.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
            && self.eliminations.is_empty()
            && self.round_end.is_none()
            && self.round_start.is_none()
            && self.winner.is_none()
    }
}

/// The whole visible state, for (re)syncing a client. Pending inputs and the seed are not
/// included. A client keeps one of these and advances it with [`Snapshot::apply_delta`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub width: u16,
    pub height: u16,
    pub points_to_win: u32,
    pub tick: u64,
    pub round: u32,
    pub frozen_until: u64,
    pub scores: Vec<u32>,
    pub cycles: Vec<Cycle>,
    /// Row-major, `0` = empty, `seat + 1` = trail of that seat.
    pub board: Vec<u8>,
    pub winner: Option<Seat>,
}

impl Snapshot {
    /// Advance this client-side view by one server delta. Deltas must be applied in order.
    pub fn apply_delta(&mut self, delta: &TickDelta) {
        self.tick = delta.tick;
        let width = usize::from(self.width);
        for &Step(seat, x, y) in &delta.steps {
            if let Some(cycle) = self.cycles.get_mut(seat) {
                if let Some(dir) = Direction::between((cycle.x, cycle.y), (x, y)) {
                    cycle.dir = dir;
                }
                cycle.x = x;
                cycle.y = y;
            }
            if let Some(cell) = self.board.get_mut(usize::from(y) * width + usize::from(x)) {
                *cell = seat_mark(seat);
            }
        }
        for elimination in &delta.eliminations {
            if let Some(cycle) = self.cycles.get_mut(elimination.seat) {
                cycle.alive = false;
            }
        }
        if let Some(end) = &delta.round_end {
            self.scores.clone_from(&end.scores);
        }
        if let Some(start) = &delta.round_start {
            self.round = start.round;
            self.frozen_until = start.frozen_until;
            self.cycles.clone_from(&start.spawns);
            self.board.fill(0);
            for (seat, cycle) in self.cycles.iter().enumerate() {
                self.board[usize::from(cycle.y) * width + usize::from(cycle.x)] = seat_mark(seat);
            }
        }
        if delta.winner.is_some() {
            self.winner = delta.winner;
        }
    }

    /// The board cell at `(x, y)`: `None` if empty or off the grid, else the trail's seat.
    pub fn cell(&self, x: u16, y: u16) -> Option<Seat> {
        cell_of(&self.board, self.width, self.height, x, y)
    }
}

/// The authoritative state of a light-cycles session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    config: Config,
    tick: u64,
    round: u32,
    frozen_until: u64,
    scores: Vec<u32>,
    cycles: Vec<Cycle>,
    /// The direction each seat asked for, applied on the next moving tick.
    pending: Vec<Option<Direction>>,
    board: Vec<u8>,
    winner: Option<Seat>,
}

impl State {
    /// A session at tick 0, round 1, with the cycles spawned.
    pub fn new(config: Config) -> Result<State, ConfigError> {
        if !(MIN_SIDE..=MAX_SIDE).contains(&config.width)
            || !(MIN_SIDE..=MAX_SIDE).contains(&config.height)
        {
            return Err(ConfigError::Size);
        }
        if !(2..=4).contains(&config.players) {
            return Err(ConfigError::Players);
        }
        if config.points_to_win == 0 {
            return Err(ConfigError::Points);
        }
        let mut state = State {
            config,
            tick: 0,
            round: 0,
            frozen_until: 0,
            scores: vec![0; config.players],
            cycles: Vec::new(),
            pending: vec![None; config.players],
            board: vec![0; usize::from(config.width) * usize::from(config.height)],
            winner: None,
        };
        state.start_round(1);
        Ok(state)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of ticks completed.
    pub fn tick_count(&self) -> u64 {
        self.tick
    }

    /// The current round, from 1.
    pub fn round(&self) -> u32 {
        self.round
    }

    /// Cycles stand still through this tick number.
    pub fn frozen_until(&self) -> u64 {
        self.frozen_until
    }

    pub fn scores(&self) -> &[u32] {
        &self.scores
    }

    pub fn cycles(&self) -> &[Cycle] {
        &self.cycles
    }

    /// The session winner, once someone reached `points_to_win`.
    pub fn winner(&self) -> Option<Seat> {
        self.winner
    }

    pub fn is_over(&self) -> bool {
        self.winner.is_some()
    }

    /// The direction `seat` asked for in this tick, if any.
    pub fn pending(&self, seat: Seat) -> Option<Direction> {
        self.pending.get(seat).copied().flatten()
    }

    /// The board cell at `(x, y)`: `None` if empty or off the grid, else the trail's seat.
    pub fn cell(&self, x: u16, y: u16) -> Option<Seat> {
        cell_of(&self.board, self.config.width, self.config.height, x, y)
    }

    /// The board, row-major, `0` = empty, `seat + 1` = trail of that seat.
    pub fn board(&self) -> &[u8] {
        &self.board
    }

    /// Ask for `seat` to turn to `dir` on the next moving tick. See the module docs for the
    /// rule (the last accepted input of a tick counts; reversals are refused).
    pub fn input(&mut self, seat: Seat, dir: Direction) -> Result<(), InputError> {
        if self.winner.is_some() {
            return Err(InputError::SessionOver);
        }
        let cycle = self.cycles.get(seat).ok_or(InputError::UnknownSeat(seat))?;
        if !cycle.alive {
            return Err(InputError::Eliminated);
        }
        if dir == cycle.dir.reverse() {
            return Err(InputError::Reversal {
                current: cycle.dir,
                requested: dir,
            });
        }
        self.pending[seat] = Some(dir);
        Ok(())
    }

    /// Advance exactly one tick and report what changed. After the session is over only the
    /// tick number advances.
    pub fn tick(&mut self) -> TickDelta {
        self.tick += 1;
        let mut delta = TickDelta {
            tick: self.tick,
            ..TickDelta::default()
        };
        if self.winner.is_some() || self.tick <= self.frozen_until {
            return delta;
        }
        let (width, height) = (self.config.width, self.config.height);
        // A cycle that dies keeps its last direction; survivors take their pending turn.
        let dirs: Vec<Direction> = self
            .cycles
            .iter()
            .zip(&mut self.pending)
            .map(|(cycle, pending)| pending.take().unwrap_or(cycle.dir))
            .collect();
        // `None` for dead cycles, `Some(None)` for a cycle driving off the grid.
        let targets: Vec<Option<Option<(u16, u16)>>> = self
            .cycles
            .iter()
            .zip(&dirs)
            .map(|(c, dir)| c.alive.then(|| dir.step(c.x, c.y, width, height)))
            .collect();
        let mut moves = Vec::new();
        for (seat, cycle) in self.cycles.iter().enumerate() {
            let Some(target) = targets[seat] else {
                continue;
            };
            let cause = match target {
                None => Some(Cause::Wall),
                Some((x, y)) => match self.cell(x, y) {
                    Some(owner) => {
                        let other = self.cycles[owner];
                        let head_on = owner != seat
                            && other.alive
                            && (other.x, other.y) == (x, y)
                            && targets[owner] == Some(Some((cycle.x, cycle.y)));
                        Some(if head_on {
                            Cause::HeadOn { with: owner }
                        } else {
                            Cause::Trail { owner }
                        })
                    }
                    None => {
                        let with: Vec<Seat> = (0..self.cycles.len())
                            .filter(|&o| o != seat && targets[o] == Some(Some((x, y))))
                            .collect();
                        (!with.is_empty()).then_some(Cause::SameCell { with })
                    }
                },
            };
            match (cause, target) {
                (Some(cause), _) => delta.eliminations.push(Elimination { seat, cause }),
                (None, Some(cell)) => moves.push((seat, cell)),
                (None, None) => unreachable!("a wall target always has a cause"),
            }
        }
        for elimination in &delta.eliminations {
            self.cycles[elimination.seat].alive = false;
            self.pending[elimination.seat] = None;
        }
        for (seat, (x, y)) in moves {
            let cycle = &mut self.cycles[seat];
            cycle.dir = dirs[seat];
            cycle.x = x;
            cycle.y = y;
            self.set_cell(x, y, seat);
            delta.steps.push(Step(seat, x, y));
        }
        let mut alive = self.cycles.iter().enumerate().filter(|(_, c)| c.alive);
        let survivor = alive.next().map(|(seat, _)| seat);
        if alive.next().is_none() {
            self.end_round(survivor, &mut delta);
        }
        delta
    }

    fn end_round(&mut self, winner: Option<Seat>, delta: &mut TickDelta) {
        if let Some(seat) = winner {
            self.scores[seat] += 1;
        }
        delta.round_end = Some(RoundEnd {
            round: self.round,
            winner,
            scores: self.scores.clone(),
        });
        match winner.filter(|&seat| self.scores[seat] >= self.config.points_to_win) {
            Some(seat) => {
                self.winner = Some(seat);
                delta.winner = Some(seat);
                self.pending.fill(None);
            }
            None => {
                self.start_round(self.round + 1);
                delta.round_start = Some(RoundStart {
                    round: self.round,
                    spawns: self.cycles.clone(),
                    frozen_until: self.frozen_until,
                });
            }
        }
    }

    fn start_round(&mut self, round: u32) {
        self.round = round;
        self.frozen_until = self.tick + u64::from(self.config.countdown_ticks);
        self.cycles = spawns(&self.config, round);
        self.pending.fill(None);
        self.board.fill(0);
        for seat in 0..self.cycles.len() {
            let Cycle { x, y, .. } = self.cycles[seat];
            self.set_cell(x, y, seat);
        }
    }

    fn set_cell(&mut self, x: u16, y: u16, seat: Seat) {
        let index = usize::from(y) * usize::from(self.config.width) + usize::from(x);
        self.board[index] = seat_mark(seat);
    }

    /// The visible state for a (re)syncing client.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            width: self.config.width,
            height: self.config.height,
            points_to_win: self.config.points_to_win,
            tick: self.tick,
            round: self.round,
            frozen_until: self.frozen_until,
            scores: self.scores.clone(),
            cycles: self.cycles.clone(),
            board: self.board.clone(),
            winner: self.winner,
        }
    }

    /// [`State::snapshot`] as JSON.
    pub fn snapshot_json(&self) -> serde_json::Value {
        // Serializing plain structs of integers and strings cannot fail.
        serde_json::to_value(self.snapshot()).unwrap_or_default()
    }
}

/// Rebuild a session from its input journal. `inputs_by_tick[t]` holds the `(seat, direction)`
/// inputs received while `t` ticks had completed, in arrival order; after applying them one
/// tick is run, so the result has completed `inputs_by_tick.len()` ticks. Inputs the live
/// session refused are refused again and change nothing.
pub fn replay(
    config: Config,
    inputs_by_tick: &[Vec<(Seat, Direction)>],
) -> Result<State, ConfigError> {
    let mut state = State::new(config)?;
    for inputs in inputs_by_tick {
        for &(seat, dir) in inputs {
            let _refused_inputs_change_nothing = state.input(seat, dir);
        }
        state.tick();
    }
    Ok(state)
}

/// The spawn positions of `round`, by seat. Each seat gets one of four slots, one near the
/// middle of each side facing inwards (two players always face each other from opposite
/// sides); the slot assignment and the offset along the side come from `(seed, round)`.
pub fn spawns(config: &Config, round: u32) -> Vec<Cycle> {
    let mut rng =
        SplitMix64::new(config.seed ^ u64::from(round).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let (w, h) = (config.width, config.height);
    let mut slots = [0usize, 1, 2, 3];
    if config.players == 2 {
        if rng.below(2) == 1 {
            slots = [2, 3, 0, 1];
        }
        if rng.below(2) == 1 {
            slots.swap(0, 1);
        }
    } else {
        for i in (1..slots.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            slots.swap(i, j);
        }
    }
    slots[..config.players]
        .iter()
        .map(|&slot| {
            let along_x = w / 4 + rng.below(u64::from(w / 2)) as u16;
            let along_y = h / 4 + rng.below(u64::from(h / 2)) as u16;
            let (x, y, dir) = match slot {
                0 => (w / 8, along_y, Direction::Right),
                1 => (w - 1 - w / 8, along_y, Direction::Left),
                2 => (along_x, h / 8, Direction::Down),
                _ => (along_x, h - 1 - h / 8, Direction::Up),
            };
            Cycle {
                x,
                y,
                dir,
                alive: true,
            }
        })
        .collect()
}

fn seat_mark(seat: Seat) -> u8 {
    // Seats are 0..4, so this always fits.
    u8::try_from(seat + 1).unwrap_or(u8::MAX)
}

fn cell_of(board: &[u8], width: u16, height: u16, x: u16, y: u16) -> Option<Seat> {
    if x >= width || y >= height {
        return None;
    }
    match board.get(usize::from(y) * usize::from(width) + usize::from(x)) {
        Some(&mark) if mark > 0 => Some(usize::from(mark) - 1),
        _ => None,
    }
}

/// Parses an input's JSON form, `{"dir": "up" | "down" | "left" | "right"}`.
pub fn parse_input(mv: &serde_json::Value) -> Result<Direction, MoveError> {
    let dir = mv.as_object().and_then(|o| o.get("dir")).ok_or_else(|| {
        MoveError::Malformed("expected {\"dir\": \"up\"|\"down\"|\"left\"|\"right\"}".into())
    })?;
    serde_json::from_value(dir.clone())
        .map_err(|_| MoveError::Malformed("\"dir\" must be up, down, left or right".into()))
}

/// The registry's view of light cycles: a session with the default [`Config`] where an input
/// is a move (`{"dir": "left"}`) and nothing ever ticks. The server does not play through
/// this adapter: it builds a [`State`] from the session's own config and ticks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Game {
    state: State,
}

impl Default for Game {
    fn default() -> Self {
        Game {
            // The default config is valid by construction.
            state: State::new(Config::default()).unwrap_or_else(|_| unreachable!()),
        }
    }
}

impl crate::Kind for Game {
    const INFO: KindInfo = INFO;
}

impl GameState for Game {
    fn kind(&self) -> &'static str {
        INFO.id
    }

    fn status(&self) -> Status {
        match self.state.winner() {
            Some(seat) => Status::Finished {
                outcome: Outcome::Win { seat },
                reason: "points".into(),
            },
            None => Status::Ongoing { to_move: 0 },
        }
    }

    fn apply(
        &mut self,
        seat: Seat,
        mv: &serde_json::Value,
    ) -> Result<serde_json::Value, MoveError> {
        if self.state.is_over() {
            return Err(MoveError::GameOver);
        }
        if seat >= self.state.config().players {
            return Err(MoveError::NotYourTurn);
        }
        let dir = parse_input(mv)?;
        self.state
            .input(seat, dir)
            .map_err(|e| MoveError::Illegal(e.to_string()))?;
        Ok(serde_json::json!({ "dir": dir }))
    }

    fn legal_moves(&self) -> Vec<serde_json::Value> {
        let Some(cycle) = self.state.cycles().first().filter(|c| c.alive) else {
            return Vec::new();
        };
        if self.state.is_over() {
            return Vec::new();
        }
        Direction::ALL
            .into_iter()
            .filter(|d| *d != cycle.dir.reverse())
            .map(|d| serde_json::json!({ "dir": d }))
            .collect()
    }

    fn view(&self) -> serde_json::Value {
        self.state.snapshot_json()
    }

    fn ply(&self) -> usize {
        usize::try_from(self.state.tick_count()).unwrap_or(usize::MAX)
    }

    fn clone_box(&self) -> Box<dyn GameState> {
        Box::new(self.clone())
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, seedable, good enough for spawn positions.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`); the modulo bias is negligible for these tiny ranges.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs for seed 0 from the reference implementation.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn spawns_are_distinct_and_inside() {
        for players in 2..=4 {
            for seed in 0..50 {
                for (width, height) in [(8, 8), (48, 48), (9, 31), (512, 8)] {
                    let config = Config {
                        width,
                        height,
                        players,
                        seed,
                        ..Config::default()
                    };
                    let s = spawns(&config, 1 + (seed % 5) as u32);
                    assert_eq!(s.len(), players);
                    for (i, a) in s.iter().enumerate() {
                        assert!(a.x < width && a.y < height);
                        assert!(a.dir.step(a.x, a.y, width, height).is_some());
                        for b in &s[i + 1..] {
                            assert_ne!((a.x, a.y), (b.x, b.y));
                        }
                    }
                }
            }
        }
    }
}

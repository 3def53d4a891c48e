//! Glicko-2 ratings (via the `skillratings` crate): the pure math behind the leaderboards.
//!
//! One rating per player per game kind. A finished rated session between two players is one
//! rating period for both of them: [`rate_pair`] takes both ratings before the game and the
//! first player's score (1, ½ or 0) and returns both ratings after it. The store calls this
//! inside the transaction that records the result, so a rating changes exactly once per game.
//! No I/O, no clock: the same inputs always give the same outputs.

use skillratings::Outcomes;
use skillratings::glicko2::{Glicko2Config, Glicko2Rating, glicko2, glicko2_rating_period};

/// The rating a player starts with in every kind.
pub const INITIAL_RATING: f64 = 1500.0;
/// The rating deviation a player starts with.
pub const INITIAL_DEVIATION: f64 = 350.0;
/// The volatility a player starts with.
pub const INITIAL_VOLATILITY: f64 = 0.06;
/// A rating is provisional while its deviation is above this (Lichess uses the same
/// threshold): the system is not yet sure of the player's strength.
pub const PROVISIONAL_DEVIATION: f64 = 110.0;

/// A player's Glicko-2 rating in one kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    pub rating: f64,
    pub deviation: f64,
    pub volatility: f64,
}

impl Default for Rating {
    fn default() -> Self {
        Rating {
            rating: INITIAL_RATING,
            deviation: INITIAL_DEVIATION,
            volatility: INITIAL_VOLATILITY,
        }
    }
}

impl Rating {
    /// Whether the rating is still provisional.
    pub fn provisional(&self) -> bool {
        self.deviation > PROVISIONAL_DEVIATION
    }

    /// The leaderboard score: the rating rounded to an integer.
    pub fn score(&self) -> i64 {
        self.rating.round() as i64
    }
}

/// Both ratings after one game between `a` and `b`, where `a_score` is 1.0 when `a` won,
/// 0.5 for a draw and 0.0 when `b` won (anything else counts as a draw).
pub fn rate_pair(a: Rating, b: Rating, a_score: f64) -> (Rating, Rating) {
    let outcome = if a_score > 0.75 {
        Outcomes::WIN
    } else if a_score < 0.25 {
        Outcomes::LOSS
    } else {
        Outcomes::DRAW
    };
    let (na, nb) = glicko2(&to_lib(a), &to_lib(b), &outcome, &Glicko2Config::new());
    (from_lib(na), from_lib(nb))
}

/// The ratings after one session of three or more players (real-time kinds), by the
/// documented pairwise scheme: the session is one rating period for every player, in which
/// they played each other player once; a pair's outcome compares their scores (the higher
/// won, equal drew: the winner beat every loser, the losers drew among themselves). All
/// players are rated against the ratings everyone had before the session, so the order of
/// the seats does not matter. With two players this is exactly [`rate_pair`].
pub fn rate_group(ratings: &[Rating], scores: &[f64]) -> Vec<Rating> {
    let config = Glicko2Config::new();
    ratings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let results: Vec<(Glicko2Rating, Outcomes)> = ratings
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(j, o)| {
                    let (mine, theirs) = (scores.get(i), scores.get(j));
                    let outcome = match mine.partial_cmp(&theirs) {
                        Some(std::cmp::Ordering::Greater) => Outcomes::WIN,
                        Some(std::cmp::Ordering::Less) => Outcomes::LOSS,
                        _ => Outcomes::DRAW,
                    };
                    (to_lib(*o), outcome)
                })
                .collect();
            from_lib(glicko2_rating_period(&to_lib(*r), &results, &config))
        })
        .collect()
}

fn to_lib(r: Rating) -> Glicko2Rating {
    Glicko2Rating {
        rating: r.rating,
        deviation: r.deviation,
        volatility: r.volatility,
    }
}

fn from_lib(r: Glicko2Rating) -> Rating {
    Rating {
        rating: r.rating,
        deviation: r.deviation,
        volatility: r.volatility,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_winner_gains_what_the_loser_loses_between_equal_newcomers() {
        let (a, b) = rate_pair(Rating::default(), Rating::default(), 1.0);
        assert!(a.rating > 1500.0 && b.rating < 1500.0);
        assert!(((a.rating - 1500.0) - (1500.0 - b.rating)).abs() < 1e-9);
        assert!(a.deviation < INITIAL_DEVIATION);
        assert!(a.provisional());
    }

    #[test]
    fn a_draw_between_equals_changes_no_rating() {
        let (a, b) = rate_pair(Rating::default(), Rating::default(), 0.5);
        assert!((a.rating - 1500.0).abs() < 1e-9 && (b.rating - 1500.0).abs() < 1e-9);
    }

    #[test]
    fn a_group_session_ranks_the_winner_first_and_losers_equally() {
        let before = vec![Rating::default(); 4];
        let after = rate_group(&before, &[0.0, 1.0, 0.0, 0.0]);
        assert!(after[1].rating > 1500.0);
        for i in [0, 2, 3] {
            assert!(after[i].rating < 1500.0);
            assert!((after[i].rating - after[0].rating).abs() < 1e-9);
        }
        // Two players: the same as a pair.
        let pair = rate_pair(Rating::default(), Rating::default(), 1.0);
        let group = rate_group(&[Rating::default(); 2], &[1.0, 0.0]);
        assert!((pair.0.rating - group[0].rating).abs() < 1e-6);
        assert!((pair.1.rating - group[1].rating).abs() < 1e-6);
    }

    #[test]
    fn many_games_end_the_provisional_period() {
        let (mut a, mut b) = (Rating::default(), Rating::default());
        for i in 0..30 {
            (a, b) = rate_pair(a, b, if i % 3 == 0 { 0.0 } else { 1.0 });
        }
        assert!(!a.provisional() && !b.provisional());
        assert!(a.score() > b.score());
    }
}

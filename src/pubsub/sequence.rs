//! Gap detection on the invalidation bus: each instance numbers its events 1, 2, 3, ...
//! (see `publisher`), so a receiver that sees an origin jump from 4 to 6 knows it missed
//! one and must drop its whole L1. Pure logic, unit-tested.

use std::collections::HashMap;

/// Origins remembered at most. Past it the map starts over: an origin forgotten that
/// way sets a new baseline with its next event, so only a gap straddling the reset goes
/// unseen (a thousand instance starts between two reconnects of this one).
const MAX_ORIGINS: usize = 1024;

/// What one event's sequence number says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first event from this origin since (re)subscribing: the baseline.
    First,
    /// The one after the last.
    Next,
    /// `missed` events of this origin never arrived.
    Gap { missed: u64 },
    /// At or below the last one: a repeat (a publish that timed out but went through
    /// is sent again under the same number). Still applied; invalidating twice is safe.
    Repeat,
}

/// The last sequence number seen per origin instance.
#[derive(Debug, Default)]
pub struct Sequences {
    last: HashMap<String, u64>,
}

impl Sequences {
    /// Records `seq` from `origin` and says how it follows the previous one.
    pub fn observe(&mut self, origin: &str, seq: u64) -> Seen {
        let Some(last) = self.last.get_mut(origin) else {
            if self.last.len() >= MAX_ORIGINS {
                self.last.clear();
            }
            self.last.insert(origin.to_string(), seq);
            return Seen::First;
        };
        let expected = last.saturating_add(1);
        let seen = match seq {
            s if s == expected => Seen::Next,
            s if s > expected => Seen::Gap {
                missed: s - expected,
            },
            _ => return Seen::Repeat,
        };
        *last = seq;
        seen
    }

    /// Forgets every origin: after a reconnect (L1 is cleared then anyway) the next event
    /// of each origin is a new baseline.
    pub fn reset(&mut self) {
        self.last.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jump_in_one_origin_is_a_gap_of_the_missing_count() {
        let mut s = Sequences::default();
        assert_eq!(s.observe("a", 1), Seen::First);
        assert_eq!(s.observe("a", 2), Seen::Next);
        assert_eq!(s.observe("a", 5), Seen::Gap { missed: 2 });
        assert_eq!(s.observe("a", 6), Seen::Next);
    }

    #[test]
    fn origins_are_tracked_apart() {
        let mut s = Sequences::default();
        assert_eq!(s.observe("a", 7), Seen::First);
        assert_eq!(s.observe("b", 1), Seen::First);
        assert_eq!(s.observe("a", 8), Seen::Next);
        assert_eq!(s.observe("b", 2), Seen::Next);
        assert_eq!(s.observe("b", 4), Seen::Gap { missed: 1 });
        assert_eq!(s.observe("a", 9), Seen::Next);
    }

    #[test]
    fn repeats_and_late_events_are_not_gaps_and_do_not_move_the_baseline() {
        let mut s = Sequences::default();
        s.observe("a", 3);
        assert_eq!(s.observe("a", 3), Seen::Repeat);
        assert_eq!(s.observe("a", 1), Seen::Repeat);
        assert_eq!(s.observe("a", 4), Seen::Next);
    }

    #[test]
    fn after_a_reset_the_next_event_is_a_baseline() {
        let mut s = Sequences::default();
        s.observe("a", 1);
        s.reset();
        assert_eq!(s.observe("a", 9), Seen::First);
        assert_eq!(s.observe("a", 10), Seen::Next);
    }

    #[test]
    fn the_map_is_bounded() {
        let mut s = Sequences::default();
        for i in 0..MAX_ORIGINS {
            s.observe(&format!("o{i}"), 1);
        }
        assert_eq!(s.observe("one-more", 1), Seen::First);
        assert_eq!(s.last.len(), 1);
        assert_eq!(s.observe("o0", 5), Seen::First, "forgotten: a new baseline");
    }
}

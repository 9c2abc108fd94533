//! Whether the hub has seen every product event, judged by offset. Offsets are
//! deployment-wide and contiguous (every published event, `product.gap` markers included,
//! takes the next one, and Redis publishes them in that order), so a jump means events
//! were missed (the subscriber's connection was lost meanwhile) and a step back means
//! Redis lost its data and counts again from 1.

/// Where a live event stands against the last one delivered.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The next one (or the first one seen): deliver it.
    Next,
    /// Events after `after` were missed: replay them from the history first.
    Gap { after: u64 },
    /// The offset went back: Redis restarted empty; nothing can be replayed.
    Reset,
}

/// The last offset the hub delivered, if it knows one.
#[derive(Debug, Default)]
pub struct Continuity {
    last: Option<u64>,
}

impl Continuity {
    /// Where `offset` stands; does not record it (see `delivered`).
    pub fn step(&self, offset: u64) -> Step {
        match self.last {
            None => Step::Next,
            Some(last) if offset == last.saturating_add(1) => Step::Next,
            Some(last) if offset > last => Step::Gap { after: last },
            Some(_) => Step::Reset,
        }
    }

    /// Records a delivered event.
    pub fn delivered(&mut self, offset: u64) {
        self.last = Some(offset);
    }

    /// Whether `offset` was already delivered (a replayed event arriving live too).
    pub fn covers(&self, offset: u64) -> bool {
        self.last.is_some_and(|last| offset <= last)
    }

    /// The last offset delivered.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Forgets the position: the clients were told to resync, so nothing before the next
    /// event needs replaying.
    pub fn forget(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_next_gap_or_reset() {
        let mut c = Continuity::default();
        assert_eq!(c.step(7), Step::Next, "the first event seen");
        c.delivered(7);
        assert_eq!(c.step(8), Step::Next);
        assert_eq!(c.step(10), Step::Gap { after: 7 });
        assert_eq!(c.step(7), Step::Reset);
        assert_eq!(c.step(1), Step::Reset);
        assert!(c.covers(7) && c.covers(3) && !c.covers(8));
        c.forget();
        assert_eq!(c.step(1), Step::Next);
        assert!(!c.covers(1));
    }
}

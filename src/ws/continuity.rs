//! Whether the hub has seen every product event, judged by offset. Offsets are
//! deployment-wide and contiguous (every published event, `product.gap` markers included,
//! takes the next one, and Redis publishes them in that order), so a jump means events
//! were missed (the subscriber's connection was lost meanwhile) and a step back means
//! Redis lost its data and counts again from 1. So does another epoch (`pubsub::epoch`),
//! even when the new counter has already passed the last offset seen.

/// Where a live event stands against the last one delivered.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The next one (or the first one seen): deliver it.
    Next,
    /// Events after `after` were missed: replay them from the history first.
    Gap { after: u64 },
    /// The offset went back, or the epoch changed: Redis restarted empty; nothing can be
    /// replayed.
    Reset,
}

/// The last offset the hub delivered, if it knows one, and its epoch.
#[derive(Debug, Default)]
pub struct Continuity {
    last: Option<u64>,
    epoch: Option<String>,
}

impl Continuity {
    /// Where an event of `epoch` at `offset` stands; does not record it (see
    /// `delivered`). An unknown epoch (events from before epochs) is no change.
    pub fn step(&self, epoch: Option<&str>, offset: u64) -> Step {
        if self.last.is_some() && self.other_epoch(epoch) {
            return Step::Reset;
        }
        match self.last {
            None => Step::Next,
            Some(last) if offset == last.saturating_add(1) => Step::Next,
            Some(last) if offset > last => Step::Gap { after: last },
            Some(_) => Step::Reset,
        }
    }

    /// Records a delivered event.
    pub fn delivered(&mut self, epoch: Option<&str>, offset: u64) {
        self.last = Some(offset);
        if let Some(epoch) = epoch {
            // Compared first: it changes only when Redis loses its data.
            if self.epoch.as_deref() != Some(epoch) {
                self.epoch = Some(epoch.to_string());
            }
        }
    }

    /// Whether `epoch` is known and not the one of the events delivered so far.
    pub fn other_epoch(&self, epoch: Option<&str>) -> bool {
        matches!((self.epoch.as_deref(), epoch), (Some(ours), Some(theirs)) if ours != theirs)
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
        let e1 = Some("e1");
        assert_eq!(c.step(e1, 7), Step::Next, "the first event seen");
        c.delivered(e1, 7);
        assert_eq!(c.step(e1, 8), Step::Next);
        assert_eq!(c.step(e1, 10), Step::Gap { after: 7 });
        assert_eq!(c.step(e1, 7), Step::Reset);
        assert_eq!(c.step(e1, 1), Step::Reset);
        assert!(c.covers(7) && c.covers(3) && !c.covers(8));
        c.forget();
        assert_eq!(c.step(e1, 1), Step::Next);
        assert!(!c.covers(1));
    }

    #[test]
    fn another_epoch_is_a_reset_whatever_the_offset() {
        let mut c = Continuity::default();
        c.delivered(Some("e1"), 7);
        for offset in [1, 8, 500] {
            assert_eq!(c.step(Some("e2"), offset), Step::Reset, "{offset}");
        }
        assert_eq!(c.step(None, 8), Step::Next, "an event without an epoch");
        assert!(c.other_epoch(Some("e2")) && !c.other_epoch(Some("e1")));
        c.forget();
        assert_eq!(c.step(Some("e2"), 1), Step::Next, "nothing to compare with");
        c.delivered(Some("e2"), 1);
        assert_eq!(c.step(Some("e2"), 2), Step::Next);
        assert_eq!(c.step(Some("e1"), 2), Step::Reset);
    }
}

//! The Redis circuit breaker as pure logic: no clock, no I/O, so every transition is
//! unit-tested with made-up instants.
//!
//! closed --(N consecutive failures)--> open --(cooldown)--> half-open
//! half-open --(probe succeeds)--> closed; half-open --(probe fails)--> open.
//! While half-open exactly one call (the probe) is let through; the rest fail fast.
//!
//! Hand-written rather than a crate: the existing ones (`failsafe`, `recloser`) wrap a
//! call in their own future type and policy objects; what is needed here is three states,
//! two numbers and a snapshot for the metrics, about eighty lines.

use std::time::{Duration, Instant};

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// The name the metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// The state machine; wrap it in a lock to share it.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
    /// Every state change since start.
    pub transitions: u64,
    /// How many times it went to open.
    pub opened: u64,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            opened_at: None,
            probe_in_flight: false,
            transitions: 0,
            opened: 0,
        }
    }

    /// The state as of `now` (an open breaker past its cooldown reads as half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match (self.state, self.opened_at) {
            (BreakerState::Open, Some(at)) if now.duration_since(at) >= self.cooldown => {
                BreakerState::HalfOpen
            }
            (state, _) => state,
        }
    }

    /// Whether a call may go to Redis now. In half-open only the first caller (the
    /// probe) gets `true` until its outcome is reported.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                if self.state == BreakerState::Open {
                    self.move_to(BreakerState::HalfOpen);
                }
                if self.probe_in_flight {
                    false
                } else {
                    self.probe_in_flight = true;
                    true
                }
            }
        }
    }

    /// A call that was allowed succeeded.
    pub fn on_success(&mut self) {
        self.consecutive_failures = 0;
        self.probe_in_flight = false;
        if self.state != BreakerState::Closed {
            self.opened_at = None;
            self.move_to(BreakerState::Closed);
        }
    }

    /// A call that was allowed failed or timed out.
    pub fn on_failure(&mut self, now: Instant) {
        self.probe_in_flight = false;
        match self.state {
            BreakerState::Closed => {
                self.consecutive_failures += 1;
                if self.consecutive_failures >= self.threshold {
                    self.open(now);
                }
            }
            BreakerState::HalfOpen | BreakerState::Open => self.open(now),
        }
    }

    fn open(&mut self, now: Instant) {
        self.opened_at = Some(now);
        self.consecutive_failures = 0;
        if self.state != BreakerState::Open {
            self.opened += 1;
            self.move_to(BreakerState::Open);
        }
    }

    fn move_to(&mut self, state: BreakerState) {
        self.state = state;
        self.transitions += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(1);

    fn tripped(t0: Instant) -> Breaker {
        let mut b = Breaker::new(3, COOLDOWN);
        for _ in 0..3 {
            assert!(b.allow(t0));
            b.on_failure(t0);
        }
        b
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOLDOWN);
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        b.on_failure(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
        b.on_failure(t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.allow(t0));
        assert_eq!(b.opened, 1);
    }

    #[test]
    fn half_open_after_cooldown_lets_one_probe_through() {
        let t0 = Instant::now();
        let mut b = tripped(t0);
        let later = t0 + COOLDOWN;
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        assert!(b.allow(later), "the probe");
        assert!(!b.allow(later), "everyone else fails fast");
    }

    #[test]
    fn probe_success_closes_and_probe_failure_reopens() {
        let t0 = Instant::now();
        let mut b = tripped(t0);
        let later = t0 + COOLDOWN;
        assert!(b.allow(later));
        b.on_failure(later);
        assert_eq!(b.state(later), BreakerState::Open);
        assert_eq!(b.state(later + COOLDOWN / 2), BreakerState::Open);
        let again = later + COOLDOWN;
        assert!(b.allow(again));
        b.on_success();
        assert_eq!(b.state(again), BreakerState::Closed);
        assert!(b.allow(again));
        // closed -> open -> half-open -> open -> half-open -> closed
        assert_eq!(b.transitions, 5);
        assert_eq!(b.opened, 2);
    }
}

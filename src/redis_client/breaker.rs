//! The Redis circuit breaker as pure logic: no clock, no I/O, so every transition is
//! unit-tested with made-up instants.
//!
//! closed --(N consecutive failures)--> open --(cooldown)--> half-open
//! half-open --(probe succeeds)--> closed; half-open --(probe fails)--> open.
//! While half-open exactly one call (the probe) is let through; the rest fail fast.
//!
//! The probe can never be lost: a caller that is dropped before reporting (client gone,
//! timeout, panic) calls [`Breaker::on_abandoned`] from its drop guard, which frees the
//! probe slot, and a probe older than `probe_deadline` is taken as lost anyway, so the
//! next call probes again. Without this one dropped future kept the breaker half-open,
//! failing every call, for as long as the process lived.
//!
//! Hand-written rather than a crate: the existing ones (`failsafe`, `recloser`) wrap a
//! call in their own future type and policy objects; what is needed here is three states,
//! two numbers and a snapshot for the metrics, about a hundred lines.

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

/// What `allow` let through: an ordinary call, or the half-open probe (numbered, so a
/// late report of an earlier probe cannot free a later one's slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Call,
    Probe(u64),
}

/// The probe in flight: its number and when it started.
#[derive(Debug, Clone, Copy)]
struct Probe {
    id: u64,
    started: Instant,
}

/// The state machine; wrap it in a lock to share it.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    probe_deadline: Duration,
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    probe: Option<Probe>,
    next_probe_id: u64,
    /// Every state change since start.
    pub transitions: u64,
    /// How many times it went to open.
    pub opened: u64,
}

impl Breaker {
    /// `probe_deadline`: how long a probe may stay unreported before another is let
    /// through (longer than any call can take, so it only matters for a lost probe).
    pub fn new(threshold: u32, cooldown: Duration, probe_deadline: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            probe_deadline,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            opened_at: None,
            probe: None,
            next_probe_id: 0,
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

    /// Whether a call may go to Redis now, and as what. In half-open only one caller at
    /// a time (the probe) is admitted until its outcome is reported, it is abandoned, or
    /// its deadline passes.
    pub fn allow(&mut self, now: Instant) -> Option<Admission> {
        match self.state(now) {
            BreakerState::Closed => Some(Admission::Call),
            BreakerState::Open => None,
            BreakerState::HalfOpen => {
                if self.state == BreakerState::Open {
                    self.move_to(BreakerState::HalfOpen);
                }
                let busy = self
                    .probe
                    .is_some_and(|p| now.duration_since(p.started) < self.probe_deadline);
                if busy {
                    return None;
                }
                self.next_probe_id += 1;
                let id = self.next_probe_id;
                self.probe = Some(Probe { id, started: now });
                Some(Admission::Probe(id))
            }
        }
    }

    /// An admitted call (probe or not) succeeded: Redis answered, so the breaker closes.
    /// Returns true when this closed it (Redis is back after an outage).
    pub fn on_success(&mut self) -> bool {
        self.consecutive_failures = 0;
        self.probe = None;
        if self.state == BreakerState::Closed {
            return false;
        }
        self.opened_at = None;
        self.move_to(BreakerState::Closed);
        true
    }

    /// An admitted call failed or timed out.
    pub fn on_failure(&mut self, admission: Admission, now: Instant) {
        match (self.state, admission) {
            (BreakerState::Closed, _) => {
                self.consecutive_failures += 1;
                if self.consecutive_failures >= self.threshold {
                    self.open(now);
                }
            }
            (_, Admission::Probe(id)) => {
                if self.probe.is_some_and(|p| p.id == id) {
                    self.probe = None;
                }
                self.open(now);
            }
            // A call admitted before the breaker opened: it says nothing new.
            (_, Admission::Call) => {}
        }
    }

    /// An admitted call was dropped before it could report (its caller went away). It
    /// tells nothing about Redis, so only the probe slot is freed: the next call probes.
    pub fn on_abandoned(&mut self, admission: Admission) {
        if let Admission::Probe(id) = admission {
            if self.probe.is_some_and(|p| p.id == id) {
                self.probe = None;
            }
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
    const DEADLINE: Duration = Duration::from_secs(2);

    fn tripped(t0: Instant) -> Breaker {
        let mut b = Breaker::new(3, COOLDOWN, DEADLINE);
        for _ in 0..3 {
            let admission = b.allow(t0).unwrap();
            b.on_failure(admission, t0);
        }
        b
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOLDOWN, DEADLINE);
        b.on_failure(Admission::Call, t0);
        b.on_failure(Admission::Call, t0);
        b.on_success();
        b.on_failure(Admission::Call, t0);
        b.on_failure(Admission::Call, t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
        b.on_failure(Admission::Call, t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert_eq!(b.allow(t0), None);
        assert_eq!(b.opened, 1);
    }

    #[test]
    fn half_open_after_cooldown_lets_one_probe_through() {
        let t0 = Instant::now();
        let mut b = tripped(t0);
        let later = t0 + COOLDOWN;
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        assert!(
            matches!(b.allow(later), Some(Admission::Probe(_))),
            "the probe"
        );
        assert_eq!(b.allow(later), None, "everyone else fails fast");
    }

    #[test]
    fn probe_success_closes_and_probe_failure_reopens() {
        let t0 = Instant::now();
        let mut b = tripped(t0);
        let later = t0 + COOLDOWN;
        let probe = b.allow(later).unwrap();
        b.on_failure(probe, later);
        assert_eq!(b.state(later), BreakerState::Open);
        assert_eq!(b.state(later + COOLDOWN / 2), BreakerState::Open);
        let again = later + COOLDOWN;
        assert!(matches!(b.allow(again), Some(Admission::Probe(_))));
        assert!(b.on_success(), "this success closed it");
        assert_eq!(b.state(again), BreakerState::Closed);
        assert_eq!(b.allow(again), Some(Admission::Call));
        assert!(!b.on_success(), "already closed");
        // closed -> open -> half-open -> open -> half-open -> closed
        assert_eq!(b.transitions, 5);
        assert_eq!(b.opened, 2);
    }

    #[test]
    fn an_abandoned_probe_frees_the_slot_for_the_next_call() {
        let t0 = Instant::now();
        let mut b = tripped(t0);
        let later = t0 + COOLDOWN;
        let dropped = b.allow(later).unwrap();
        assert_eq!(b.allow(later), None);
        b.on_abandoned(dropped);
        let probe = b.allow(later).expect("a new probe after the drop");
        assert_ne!(probe, dropped);
        b.on_success();
        assert_eq!(b.state(later), BreakerState::Closed);
    }

    #[test]
    fn a_probe_never_reported_is_replaced_after_its_deadline() {
        let t0 = Instant::now();
        let mut b = tripped(t0);
        let later = t0 + COOLDOWN;
        let lost = b.allow(later).unwrap();
        assert_eq!(b.allow(later + DEADLINE / 2), None);
        let replacement = b.allow(later + DEADLINE).expect("a new probe");
        assert_ne!(replacement, lost);
        // The lost probe turning up late does not free the replacement's slot.
        b.on_abandoned(lost);
        assert_eq!(b.allow(later + DEADLINE), None);
    }

    #[test]
    fn calls_admitted_before_the_breaker_opened_do_not_reopen_it() {
        let t0 = Instant::now();
        let mut b = tripped(t0);
        let later = t0 + COOLDOWN;
        let probe = b.allow(later).unwrap();
        b.on_failure(Admission::Call, later);
        assert_eq!(
            b.state(later),
            BreakerState::HalfOpen,
            "still waiting on the probe"
        );
        assert_eq!(b.allow(later), None, "the probe still holds the slot");
        b.on_failure(probe, later);
        assert_eq!(b.state(later), BreakerState::Open, "the probe decides");
    }
}

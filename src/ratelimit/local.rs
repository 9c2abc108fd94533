//! The per-instance fallback: the same algorithms, in this process's memory.
//!
//! Used only while Redis cannot be asked. Each instance counts on its own, so with N
//! instances a client may get up to N times the limit: better than no limit (a client can
//! no longer flood the database while Redis is down) and better than refusing everyone.
//!
//! Bounded: the cells live in a moka cache weighed in timestamps (a sliding-log cell
//! weighs its limit, the most it can hold; a GCRA cell weighs 1), so memory stays under
//! `local_max_entries` however many clients appear, with no sweep on the request path.
//! moka's TinyLFU admission keeps the clients seen often (the ones worth limiting) when a
//! flood of one-off addresses competes for room. Each cell has its own mutex; one check
//! locks its cells in key order, so a multi-policy check is atomic without one global lock
//! and two checks cannot deadlock (the keys of one check are distinct: each names its
//! policy).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::policy::Algorithm;
use super::{Decision, PolicyState};

/// One key's state: the instants it counted (sliding log) or its theoretical arrival
/// time (GCRA).
#[derive(Debug, Default)]
struct State {
    log: VecDeque<Instant>,
    tat: Option<Instant>,
}

#[derive(Debug)]
struct Cell {
    weight: u32,
    state: Mutex<State>,
}

/// Per-key cells, bounded in timestamps.
#[derive(Clone)]
pub struct LocalLimiter {
    cells: Cache<String, Arc<Cell>>,
}

/// One key to check: its name, limit, window and algorithm.
pub struct LocalCheck<'a> {
    pub key: &'a str,
    pub limit: u32,
    pub window_ms: u64,
    pub algorithm: Algorithm,
}

impl LocalCheck<'_> {
    fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }

    /// GCRA's emission interval: one request's share of the window.
    fn period(&self) -> Duration {
        (self.window() / self.limit.max(1)).max(Duration::from_nanos(1))
    }
}

impl LocalLimiter {
    /// Holds at most `max_entries` timestamps; a key idle for `idle` is forgotten (the
    /// longest window: by then it holds nothing that still counts).
    pub fn new(max_entries: u64, idle: Duration) -> Self {
        let cells = Cache::builder()
            .max_capacity(max_entries)
            .weigher(|_: &String, cell: &Arc<Cell>| cell.weight)
            .time_to_idle(idle)
            .build();
        LocalLimiter { cells }
    }

    /// The same semantics as the Lua script: each policy decides, and quota is used in
    /// all of them only if all allow.
    pub fn check(&self, checks: &[LocalCheck<'_>], now: Instant) -> Decision {
        let cells: Vec<Arc<Cell>> = checks
            .iter()
            .map(|c| {
                let weight = match c.algorithm {
                    Algorithm::SlidingLog => c.limit.max(1),
                    Algorithm::Gcra => 1,
                };
                self.cells.get_with(c.key.to_string(), || {
                    Arc::new(Cell {
                        weight,
                        state: Mutex::default(),
                    })
                })
            })
            .collect();
        let mut states = lock_in_key_order(checks, &cells);
        let allowed = checks
            .iter()
            .zip(states.iter_mut())
            .all(|(c, s)| fits(c, s, now));
        let states = checks
            .iter()
            .zip(states.iter_mut())
            .map(|(c, s)| settle(c, s, now, allowed))
            .collect();
        Decision { allowed, states }
    }

    /// Lets moka finish pending evictions (tests read the bound right after inserting).
    #[cfg(test)]
    fn entries(&self) -> u64 {
        self.cells.run_pending_tasks();
        self.cells.weighted_size()
    }
}

fn lock_in_key_order<'c>(
    checks: &[LocalCheck<'_>],
    cells: &'c [Arc<Cell>],
) -> Vec<MutexGuard<'c, State>> {
    let mut order: Vec<usize> = (0..checks.len()).collect();
    order.sort_by_key(|&i| checks[i].key);
    let mut guards: Vec<Option<MutexGuard<'c, State>>> = cells.iter().map(|_| None).collect();
    for i in order {
        guards[i] = Some(
            cells[i]
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
    }
    guards.into_iter().flatten().collect()
}

/// Prunes what left the window and says whether one more request fits.
fn fits(c: &LocalCheck<'_>, s: &mut State, now: Instant) -> bool {
    match c.algorithm {
        Algorithm::SlidingLog => {
            while s
                .log
                .front()
                .is_some_and(|t| now.duration_since(*t) >= c.window())
            {
                s.log.pop_front();
            }
            s.log.len() < c.limit as usize
        }
        Algorithm::Gcra => ahead(s, now) + c.period() <= c.window(),
    }
}

/// How far the theoretical arrival time is ahead of now.
fn ahead(s: &State, now: Instant) -> Duration {
    s.tat
        .map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
}

/// Uses quota when the request is allowed, and reports what is left and when it resets.
fn settle(c: &LocalCheck<'_>, s: &mut State, now: Instant, allowed: bool) -> PolicyState {
    let limit = u64::from(c.limit);
    match c.algorithm {
        Algorithm::SlidingLog => {
            if allowed {
                s.log.push_back(now);
            }
            let count = s.log.len() as u64;
            let at = count.saturating_sub(limit) as usize;
            let reset = s.log.get(at).map_or(c.window(), |t| {
                c.window().saturating_sub(now.duration_since(*t))
            });
            PolicyState {
                remaining: limit.saturating_sub(count),
                reset_ms: ceil_ms(reset),
            }
        }
        Algorithm::Gcra => {
            if allowed {
                s.tat = Some(now + ahead(s, now) + c.period());
            }
            let ahead = ahead(s, now);
            let free = c.window().saturating_sub(ahead);
            let remaining = (free.as_nanos() / c.period().as_nanos()).min(u128::from(limit)) as u64;
            // Whole again when the arrival time is reached; with nothing left, the next
            // request fits once one period more is within the window.
            let reset = if remaining == 0 {
                (ahead + c.period()).saturating_sub(c.window())
            } else {
                ahead
            };
            PolicyState {
                remaining,
                reset_ms: ceil_ms(reset),
            }
        }
    }
}

fn ceil_ms(d: Duration) -> u64 {
    d.as_micros().div_ceil(1000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LocalLimiter {
        LocalLimiter::new(1_000_000, Duration::from_secs(3600))
    }

    fn one(key: &str, limit: u32, window_ms: u64, algorithm: Algorithm) -> LocalCheck<'_> {
        LocalCheck {
            key,
            limit,
            window_ms,
            algorithm,
        }
    }

    #[test]
    fn counts_exactly_and_rejected_requests_use_no_quota() {
        let l = limiter();
        let t0 = Instant::now();
        let one = [one("a", 2, 1000, Algorithm::SlidingLog)];
        assert!(l.check(&one, t0).allowed);
        let second = l.check(&one, t0);
        assert!(second.allowed);
        assert_eq!(second.states[0].remaining, 0);
        assert!(!l.check(&one, t0).allowed);
        assert!(!l.check(&one, t0 + Duration::from_millis(999)).allowed);
        assert!(l.check(&one, t0 + Duration::from_millis(1000)).allowed);
    }

    #[test]
    fn a_request_passes_only_if_every_policy_allows_it() {
        let l = limiter();
        let t0 = Instant::now();
        let both = [
            one("wide", 10, 1000, Algorithm::SlidingLog),
            one("narrow", 1, 1000, Algorithm::SlidingLog),
        ];
        assert!(l.check(&both, t0).allowed);
        let rejected = l.check(&both, t0);
        assert!(!rejected.allowed);
        // The rejected request did not count against the wide policy.
        assert_eq!(rejected.states[0].remaining, 9);
        assert_eq!(rejected.states[1].reset_ms, 1000);
    }

    #[test]
    fn gcra_lets_a_burst_of_the_limit_through_then_refills_one_period_at_a_time() {
        let l = limiter();
        let t0 = Instant::now();
        let g = [one("g", 4, 1000, Algorithm::Gcra)];
        for left in (0..4).rev() {
            let d = l.check(&g, t0);
            assert!(d.allowed);
            assert_eq!(d.states[0].remaining, left);
        }
        let refused = l.check(&g, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.states[0].reset_ms, 250);
        assert!(!l.check(&g, t0 + Duration::from_millis(249)).allowed);
        let later = t0 + Duration::from_millis(250);
        assert!(l.check(&g, later).allowed);
        assert!(!l.check(&g, later).allowed);
        // A whole window later the quota is whole again.
        let whole = l.check(&g, t0 + Duration::from_millis(2000));
        assert_eq!(whole.states[0].remaining, 3);
    }

    #[test]
    fn gcra_and_log_policies_decide_together() {
        let l = limiter();
        let t0 = Instant::now();
        let both = [
            one("g", 10, 1000, Algorithm::Gcra),
            one("l", 1, 1000, Algorithm::SlidingLog),
        ];
        assert!(l.check(&both, t0).allowed);
        let refused = l.check(&both, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.states[0].remaining, 9, "no GCRA quota used");
    }

    #[test]
    fn memory_is_bounded_in_entries_whatever_the_number_of_clients() {
        let l = LocalLimiter::new(1000, Duration::from_secs(3600));
        let t0 = Instant::now();
        for i in 0..5000 {
            let key = format!("g:{i}");
            l.check(&[one(&key, 10, 1000, Algorithm::Gcra)], t0);
            let key = format!("l:{i}");
            l.check(&[one(&key, 10, 1000, Algorithm::SlidingLog)], t0);
        }
        assert!(l.entries() <= 1000, "{}", l.entries());
    }
}

//! The per-instance fallback: the same sliding-window log, in this process's memory.
//!
//! Used only while Redis cannot be asked. Each instance counts on its own, so with N
//! instances a client may get up to N times the limit: better than no limit (a client can
//! no longer flood the database while Redis is down) and better than refusing everyone.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::{Decision, PolicyState};

/// Checks between sweeps of idle keys, so memory stays bounded by active clients.
const SWEEP_EVERY: u32 = 1024;

/// One key's window and the instants of the requests it counted.
#[derive(Debug, Default)]
struct Log {
    window_ms: u64,
    entries: VecDeque<Instant>,
}

/// Per-key logs of request instants.
#[derive(Debug, Default)]
pub struct LocalLimiter {
    logs: HashMap<String, Log>,
    checks: u32,
}

/// One key to check: its name, limit and window.
pub struct LocalCheck<'a> {
    pub key: &'a str,
    pub limit: u32,
    pub window_ms: u64,
}

impl LocalLimiter {
    /// The same semantics as the Lua script: prune, count, add to all only if all allow.
    pub fn check(&mut self, checks: &[LocalCheck<'_>], now: Instant) -> Decision {
        self.sweep(now);
        let mut counts = Vec::with_capacity(checks.len());
        for c in checks {
            let log = self.logs.entry(c.key.to_string()).or_default();
            log.window_ms = c.window_ms;
            let log = &mut log.entries;
            while log
                .front()
                .is_some_and(|t| now.duration_since(*t).as_millis() >= u128::from(c.window_ms))
            {
                log.pop_front();
            }
            counts.push(log.len() as u64);
        }
        let allowed = checks
            .iter()
            .zip(&counts)
            .all(|(c, n)| *n < u64::from(c.limit));
        let mut states = Vec::with_capacity(checks.len());
        for (c, count) in checks.iter().zip(counts) {
            let log = &mut self.logs.entry(c.key.to_string()).or_default().entries;
            let mut count = count;
            if allowed {
                log.push_back(now);
                count += 1;
            }
            let at = count.saturating_sub(u64::from(c.limit)) as usize;
            let reset_ms = log.get(at).map_or(c.window_ms, |t| {
                c.window_ms
                    .saturating_sub(now.duration_since(*t).as_millis() as u64)
            });
            states.push(PolicyState {
                remaining: u64::from(c.limit).saturating_sub(count),
                reset_ms,
            });
        }
        Decision { allowed, states }
    }

    /// Now and then, forgets the logs whose every entry has left its window.
    fn sweep(&mut self, now: Instant) {
        self.checks = self.checks.wrapping_add(1);
        if self.checks % SWEEP_EVERY != 0 {
            return;
        }
        self.logs.retain(|_, log| {
            log.entries
                .back()
                .is_some_and(|t| now.duration_since(*t).as_millis() < u128::from(log.window_ms))
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn counts_exactly_and_rejected_requests_use_no_quota() {
        let mut l = LocalLimiter::default();
        let t0 = Instant::now();
        let one = [LocalCheck {
            key: "a",
            limit: 2,
            window_ms: 1000,
        }];
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
        let mut l = LocalLimiter::default();
        let t0 = Instant::now();
        let both = [
            LocalCheck {
                key: "wide",
                limit: 10,
                window_ms: 1000,
            },
            LocalCheck {
                key: "narrow",
                limit: 1,
                window_ms: 1000,
            },
        ];
        assert!(l.check(&both, t0).allowed);
        let rejected = l.check(&both, t0);
        assert!(!rejected.allowed);
        // The rejected request did not count against the wide policy.
        assert_eq!(rejected.states[0].remaining, 9);
        assert_eq!(rejected.states[1].reset_ms, 1000);
    }
}

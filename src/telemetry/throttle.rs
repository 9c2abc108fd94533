//! Log lines a client can provoke, at most one per kind per period.
//!
//! A warning written for each failed replay, slow client or refused handshake lets any
//! client fill the disk: one attack wrote 56 MB of the same warning in 15 s. Each such
//! kind of line gets a `LogThrottle` (a `static` beside the line): the first occurrence in
//! a period is written, the others are counted, and the next line written says how many
//! were left out (`suppressed`). So a kind costs at most one line per period whatever the
//! clients do. Lock-free: two atomics, shared by every worker thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The period of every throttled kind: one line per kind per 10 s.
pub const PERIOD: Duration = Duration::from_secs(10);

/// One kind of line: whether the next occurrence is written, and how many were not.
pub struct LogThrottle {
    period_ms: u64,
    /// When the current period ends (ms since the process's first throttled line); 0 = no
    /// line written yet.
    until_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl LogThrottle {
    /// A kind with the standard period (`PERIOD`).
    pub const fn new() -> LogThrottle {
        LogThrottle::with_period(PERIOD)
    }

    pub const fn with_period(period: Duration) -> LogThrottle {
        LogThrottle {
            period_ms: period.as_millis() as u64,
            until_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(suppressed)` when this occurrence is to be written (with the number of lines
    /// left out since the last one written), `None` when it is only counted.
    pub fn admit(&self) -> Option<u64> {
        static START: OnceLock<Instant> = OnceLock::new();
        let start = *START.get_or_init(Instant::now);
        // +1: the first instant is 1 ms, so 0 stays "no line yet".
        self.admit_at(start.elapsed().as_millis() as u64 + 1)
    }

    /// `admit` at `now_ms` (a clock of the caller's), for tests.
    fn admit_at(&self, now_ms: u64) -> Option<u64> {
        let until = self.until_ms.load(Ordering::Acquire);
        if now_ms < until
            || self
                .until_ms
                .compare_exchange(
                    until,
                    now_ms + self.period_ms,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
        {
            // Within the period, or another thread just took this period's line.
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

impl Default for LogThrottle {
    fn default() -> Self {
        LogThrottle::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_then_the_count_of_those_left_out() {
        let kind = LogThrottle::with_period(Duration::from_secs(10));
        assert_eq!(kind.admit_at(1), Some(0), "the first one is written");
        for now in [2, 500, 10_000] {
            assert_eq!(kind.admit_at(now), None, "at {now} ms");
        }
        assert_eq!(
            kind.admit_at(10_001),
            Some(3),
            "the next period, with the count"
        );
        assert_eq!(kind.admit_at(10_002), None);
        assert_eq!(kind.admit_at(60_000), Some(1));
        assert_eq!(kind.admit_at(60_001), None);
    }

    #[test]
    fn kinds_are_apart() {
        let (a, b) = (LogThrottle::new(), LogThrottle::new());
        assert_eq!(a.admit_at(1), Some(0));
        assert_eq!(b.admit_at(2), Some(0));
        assert_eq!(a.admit_at(3), None);
    }

    #[test]
    fn many_threads_write_one_line_per_period() {
        let kind = std::sync::Arc::new(LogThrottle::new());
        let written: u64 = (0..8)
            .map(|_| {
                let kind = kind.clone();
                std::thread::spawn(move || {
                    (0..10_000).filter(|_| kind.admit().is_some()).count() as u64
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(written, 1, "80,000 occurrences within one period");
    }
}

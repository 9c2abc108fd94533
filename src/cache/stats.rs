//! Cache counters and the `GET /admin/metrics/cache` document.
//!
//! Counters touched on the miss path are relaxed atomics shared by the instance; L1
//! counters are plain integers inside each worker's actor (no cross-core traffic on a
//! hit), merged when the `Stats` message asks for them.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Instance-wide miss-path counters.
#[derive(Debug, Default)]
pub struct Counters {
    pub l2_hits: AtomicU64,
    pub l2_misses: AtomicU64,
    pub l2_stale: AtomicU64,
    pub l2_errors: AtomicU64,
    pub db_queries: AtomicU64,
    pub coalesced: AtomicU64,
    /// Whole-L1 clears after a pub/sub gap.
    pub l1_clears: AtomicU64,
    pub invalidations_published: AtomicU64,
    pub invalidations_received: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// One worker's L1, or the sum over workers.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct L1Stats {
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub hit_rate: f64,
    pub evictions: u64,
    pub entries: u64,
    pub bytes: u64,
    pub clears: u64,
    pub workers: u64,
}

impl L1Stats {
    /// Adds another worker's numbers.
    pub fn merge(mut self, other: L1Stats) -> L1Stats {
        self.hits += other.hits;
        self.misses += other.misses;
        self.stale += other.stale;
        self.evictions += other.evictions;
        self.entries += other.entries;
        self.bytes += other.bytes;
        self.workers += other.workers;
        self.hit_rate = rate(self.hits + self.stale, self.misses);
        self
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L2Stats {
    /// Entries under this instance's prefix; `null` when Redis is unreachable.
    pub entries: Option<u64>,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub errors: u64,
    pub hit_rate: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerStats {
    pub state: &'static str,
    pub transitions: u64,
    pub opened: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    pub l1: L1Stats,
    pub l2: L2Stats,
    /// Requests answered without PostgreSQL, over all requests.
    pub hit_rate: f64,
    pub db_queries: u64,
    pub coalesced: u64,
    pub invalidations_published: u64,
    pub invalidations_received: u64,
    pub breaker: BreakerStats,
}

impl CacheStats {
    pub fn new(
        mut l1: L1Stats,
        l2_entries: Option<u64>,
        counters: &Counters,
        breaker: BreakerStats,
    ) -> CacheStats {
        l1.clears = Counters::read(&counters.l1_clears);
        let l2 = L2Stats {
            entries: l2_entries,
            hits: Counters::read(&counters.l2_hits),
            misses: Counters::read(&counters.l2_misses),
            stale: Counters::read(&counters.l2_stale),
            errors: Counters::read(&counters.l2_errors),
            hit_rate: 0.0,
        };
        let l2 = L2Stats {
            hit_rate: rate(l2.hits + l2.stale, l2.misses),
            ..l2
        };
        let served = l1.hits + l1.stale + l2.hits + l2.stale;
        let requests = l1.hits + l1.stale + l1.misses;
        CacheStats {
            l1,
            hit_rate: if requests == 0 {
                0.0
            } else {
                (served as f64 / requests as f64).min(1.0)
            },
            l2,
            db_queries: Counters::read(&counters.db_queries),
            coalesced: Counters::read(&counters.coalesced),
            invalidations_published: Counters::read(&counters.invalidations_published),
            invalidations_received: Counters::read(&counters.invalidations_received),
            breaker,
        }
    }
}

fn rate(hits: u64, misses: u64) -> f64 {
    match hits + misses {
        0 => 0.0,
        total => hits as f64 / total as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_sums_and_recomputes_the_rate() {
        let a = L1Stats {
            hits: 3,
            misses: 1,
            workers: 1,
            ..L1Stats::default()
        };
        let b = L1Stats {
            hits: 1,
            misses: 3,
            workers: 1,
            ..L1Stats::default()
        };
        let sum = L1Stats::default().merge(a).merge(b);
        assert_eq!((sum.hits, sum.misses, sum.workers), (4, 4, 2));
        assert!((sum.hit_rate - 0.5).abs() < f64::EPSILON);
    }
}

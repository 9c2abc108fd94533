//! Percentiles of the measured propagation times.

use std::time::Duration;

/// What the run measured, in microseconds.
#[derive(Debug, Default)]
pub struct Summary {
    /// One propagation time per write that reached B in time, µs.
    pub latencies_us: Vec<u64>,
    /// Writes B still served the old version for after `--write-timeout-ms`.
    pub timed_out: usize,
    /// Writes B already no longer served the old version at the first poll after A's
    /// answer (their time is that poll's round trip: an upper bound).
    pub at_first_poll: usize,
    /// Polls that returned the old version from somewhere other than L1 (must be 0: L2
    /// and PostgreSQL never give back a version older than a committed write).
    pub old_not_from_l1: usize,
    /// Polls in total, after the writes' answers.
    pub polls: u64,
}

impl Summary {
    pub fn record(&mut self, latency: Duration) {
        self.latencies_us
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Nearest-rank percentile (`p` in 0..=100) of the recorded times; None when empty.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        percentile(&self.latencies_us, p)
    }

    /// One tab-free `RESULT` line of `key=value` pairs, read by bench/run.sh.
    pub fn result_line(&self, writes: usize) -> String {
        let show = |v: Option<u64>| v.map_or_else(|| "NA".to_string(), |v| v.to_string());
        format!(
            "RESULT writes={writes} propagated={} timed_out={} p50_us={} p99_us={} max_us={} \
             at_first_poll={} old_not_from_l1={} polls={}",
            self.latencies_us.len(),
            self.timed_out,
            show(self.percentile(50.0)),
            show(self.percentile(99.0)),
            show(self.latencies_us.iter().copied().max()),
            self.at_first_poll,
            self.old_not_from_l1,
            self.polls,
        )
    }
}

/// Nearest-rank percentile: the smallest value with at least `p` % of the values at or
/// below it.
pub fn percentile(values: &[u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_of_one_to_two_hundred() {
        let values: Vec<u64> = (1..=200).rev().collect();
        assert_eq!(percentile(&values, 50.0), Some(100));
        assert_eq!(percentile(&values, 99.0), Some(198));
        assert_eq!(percentile(&values, 100.0), Some(200));
        assert_eq!(percentile(&values, 0.0), Some(1));
    }

    #[test]
    fn empty_has_no_percentile_and_prints_na() {
        assert_eq!(percentile(&[], 50.0), None);
        let line = Summary::default().result_line(3);
        assert!(line.contains("p50_us=NA"), "{line}");
        assert!(line.contains("writes=3 propagated=0"), "{line}");
    }

    #[test]
    fn result_line_reports_max_and_counts() {
        let mut s = Summary::default();
        for ms in [3, 1, 2] {
            s.record(Duration::from_millis(ms));
        }
        s.timed_out = 1;
        let line = s.result_line(4);
        assert!(line.contains("propagated=3 timed_out=1"), "{line}");
        assert!(
            line.contains("p50_us=2000 p99_us=3000 max_us=3000"),
            "{line}"
        );
    }
}

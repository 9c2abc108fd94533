//! Percentiles of the measured propagation times.

use std::time::Instant;

/// When one write was sent and answered on A, and first seen on B.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub sent: Instant,
    pub answered: Instant,
    /// When B's first answer with the new version arrived.
    pub seen: Instant,
}

impl Sample {
    /// From A's answer (the commit) to B's first new answer, µs; negative when B had
    /// already dropped the old version before A's answer reached the client.
    pub fn since_answer_us(&self) -> i64 {
        if self.seen >= self.answered {
            micros(self.seen - self.answered)
        } else {
            -micros(self.answered - self.seen)
        }
    }

    /// From sending the PUT to B's first new answer, µs (never negative).
    pub fn since_send_us(&self) -> i64 {
        micros(self.seen.saturating_duration_since(self.sent))
    }
}

fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// What the run measured.
#[derive(Debug, Default)]
pub struct Summary {
    /// Per write that reached B in time: from A's answer, µs (signed).
    pub from_answer_us: Vec<i64>,
    /// Per write that reached B in time: from the PUT's send, µs.
    pub from_send_us: Vec<i64>,
    /// Writes B still served the old version for after `--write-timeout-ms`.
    pub timed_out: usize,
    /// Polls sent after A's answer that returned the old version from somewhere other than L1
    /// (must be 0: L2 and PostgreSQL never give back a version older than a committed
    /// write).
    pub old_not_from_l1: usize,
    /// Polls of B in total.
    pub polls: u64,
}

impl Summary {
    pub fn record(&mut self, sample: &Sample) {
        self.from_answer_us.push(sample.since_answer_us());
        self.from_send_us.push(sample.since_send_us());
    }

    /// Writes whose new version B served before A's answer arrived.
    pub fn before_answer(&self) -> usize {
        self.from_answer_us.iter().filter(|&&us| us < 0).count()
    }

    /// One `RESULT` line of `key=value` pairs, read by bench/report/propagation.sh.
    pub fn result_line(&self, writes: usize) -> String {
        let show = |v: Option<i64>| v.map_or_else(|| "NA".to_string(), |v| v.to_string());
        let (a, s) = (&self.from_answer_us, &self.from_send_us);
        format!(
            "RESULT writes={writes} propagated={} timed_out={} p50_us={} p99_us={} max_us={} \
             min_us={} before_answer={} send_p50_us={} send_p99_us={} send_max_us={} \
             old_not_from_l1={} polls={}",
            a.len(),
            self.timed_out,
            show(percentile(a, 50.0)),
            show(percentile(a, 99.0)),
            show(a.iter().copied().max()),
            show(a.iter().copied().min()),
            self.before_answer(),
            show(percentile(s, 50.0)),
            show(percentile(s, 99.0)),
            show(s.iter().copied().max()),
            self.old_not_from_l1,
            self.polls,
        )
    }
}

/// Nearest-rank percentile: the smallest value with at least `p` % of the values at or
/// below it; None when there are none.
pub fn percentile(values: &[i64], p: f64) -> Option<i64> {
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
    use std::time::Duration;

    #[test]
    fn nearest_rank_of_one_to_two_hundred() {
        let values: Vec<i64> = (1..=200).rev().collect();
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
    fn a_drop_seen_before_the_answer_is_negative() {
        let sent = Instant::now();
        let seen = sent + Duration::from_micros(300);
        let answered = sent + Duration::from_micros(500);
        let sample = Sample {
            sent,
            answered,
            seen,
        };
        assert_eq!(sample.since_answer_us(), -200);
        assert_eq!(sample.since_send_us(), 300);
    }

    #[test]
    fn result_line_reports_both_clocks_and_counts() {
        let sent = Instant::now();
        let answered = sent + Duration::from_millis(1);
        let mut s = Summary::default();
        for seen_ms in [3, 0, 2] {
            let seen = sent + Duration::from_millis(seen_ms);
            s.record(&Sample {
                sent,
                answered,
                seen,
            });
        }
        s.timed_out = 1;
        let line = s.result_line(4);
        assert!(line.contains("propagated=3 timed_out=1"), "{line}");
        assert!(
            line.contains("p50_us=1000 p99_us=2000 max_us=2000 min_us=-1000 before_answer=1"),
            "{line}"
        );
        assert!(
            line.contains("send_p50_us=2000 send_p99_us=3000 send_max_us=3000"),
            "{line}"
        );
    }
}

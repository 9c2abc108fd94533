//! Background jobs: the queues' concurrency, attempts and backoff, the timing of
//! heartbeats, stalled-job recovery, the outbox relay and cron checks, and the repeatable
//! jobs (`[[jobs.schedules]]`).

use serde::Deserialize;

use super::{invalid, ConfigError};
// Defined beside its parser, which must not depend on configuration (the schedules
// are validated with that parser).
pub use crate::jobs::cron::ScheduleSettings;

/// A day in milliseconds: the longest backoff delay and job timeout.
const DAY_MS: u64 = 86_400_000;

/// The most completed or failed jobs a queue may be told to keep.
const MAX_KEPT: u32 = 1_000_000;

/// How a failed attempt's retry is delayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackoffKind {
    /// `backoff_delay_ms × 2^(attempt - 1)`: 2 s, 4 s, 8 s ... with the default delay.
    Exponential,
    /// `backoff_delay_ms` every time.
    Fixed,
}

/// One queue's worker and job defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct QueueSettings {
    /// Jobs of this queue one instance runs at once (0 = this instance takes none).
    pub concurrency: u32,
    /// Attempts per job before it lands in the failed set.
    pub attempts: u32,
    pub backoff: BackoffKind,
    pub backoff_delay_ms: u64,
    /// Completed jobs kept for inspection (the newest N, at most `jobs.keep_completed`);
    /// 0 removes a job on completion.
    pub keep_completed: u32,
    /// An attempt running longer fails with `timed out` (and is retried per `attempts`),
    /// so a hung handler (an SMTP server that never answers) cannot pin a worker.
    pub timeout_ms: u64,
}

/// The test-only queue `test`, whose job kinds (record, fail, sleep) exist for tests.
#[derive(Debug, Clone, Deserialize)]
pub struct TestQueueSettings {
    /// Never on outside `config/test.toml`.
    pub enabled: bool,
    #[serde(flatten)]
    pub queue: QueueSettings,
}

/// The `[jobs]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct JobsSettings {
    /// How often an idle worker asks Redis for waiting and due delayed jobs.
    pub poll_interval_ms: u64,
    /// How often a running job's lease is renewed (and stalled jobs are looked for).
    pub heartbeat_interval_ms: u64,
    /// A job whose lease was not renewed for this long goes back to waiting.
    pub stalled_after_ms: u64,
    /// At shutdown, running jobs get this long to finish; the rest return to waiting.
    pub shutdown_grace_ms: u64,
    /// How often the outbox relay looks for rows (it is also nudged after each write).
    pub outbox_interval_ms: u64,
    /// How often cron schedules are checked for ticks that came due.
    pub cron_check_interval_ms: u64,
    /// Timeout of each job-queue call to Redis, on a client of the queue's own
    /// (background work: longer than a request's `redis.timeout_ms`).
    pub redis_timeout_ms: u64,
    /// Products preloaded by a `{"kind":"products"}` warming job.
    pub warm_products: u32,
    /// The most completed jobs any queue keeps (a queue's own `keep_completed` may say
    /// fewer); older ones and their data are removed as new ones complete.
    pub keep_completed: u32,
    /// The most failed jobs any queue keeps; older ones and their data are removed as new
    /// ones fail for good.
    pub keep_failed: u32,
    pub cache_warming: QueueSettings,
    pub email: QueueSettings,
    pub test: TestQueueSettings,
    #[serde(default)]
    pub schedules: Vec<ScheduleSettings>,
}

impl JobsSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (name, value, range) in [
            ("jobs.poll_interval_ms", self.poll_interval_ms, 1..=60_000),
            (
                "jobs.heartbeat_interval_ms",
                self.heartbeat_interval_ms,
                10..=60_000,
            ),
            (
                "jobs.stalled_after_ms",
                self.stalled_after_ms,
                20..=3_600_000,
            ),
            (
                "jobs.shutdown_grace_ms",
                self.shutdown_grace_ms,
                0..=3_600_000,
            ),
            (
                "jobs.outbox_interval_ms",
                self.outbox_interval_ms,
                10..=60_000,
            ),
            (
                "jobs.cron_check_interval_ms",
                self.cron_check_interval_ms,
                10..=60_000,
            ),
        ] {
            if !range.contains(&value) {
                return invalid(name, &format!("must be in {range:?}"));
            }
        }
        // A lease renewed less often than it lapses would let a healthy job be stolen.
        if self.stalled_after_ms < 2 * self.heartbeat_interval_ms {
            return invalid(
                "jobs.stalled_after_ms",
                "must be at least twice jobs.heartbeat_interval_ms",
            );
        }
        for (name, value) in [
            ("jobs.keep_completed", self.keep_completed),
            ("jobs.keep_failed", self.keep_failed),
        ] {
            if value > MAX_KEPT {
                return invalid(name, &format!("must be at most {MAX_KEPT}"));
            }
        }
        for (name, queue) in [
            ("jobs.cache_warming", &self.cache_warming),
            ("jobs.email", &self.email),
            ("jobs.test", &self.test.queue),
        ] {
            queue.validate(name)?;
            if queue.keep_completed > self.keep_completed {
                return invalid(name, "keep_completed must be at most jobs.keep_completed");
            }
        }
        for schedule in &self.schedules {
            crate::jobs::cron::Schedule::parse(schedule).map_err(|reason| {
                ConfigError::Invalid {
                    setting: "jobs.schedules",
                    reason,
                }
            })?;
        }
        Ok(())
    }
}

impl QueueSettings {
    fn validate(&self, name: &'static str) -> Result<(), ConfigError> {
        if self.concurrency > 1000 {
            return invalid(name, "concurrency must be in 0..=1000");
        }
        if !(1..=100).contains(&self.attempts) {
            return invalid(name, "attempts must be in 1..=100");
        }
        if self.backoff_delay_ms > DAY_MS {
            return invalid(name, "backoff_delay_ms must be at most a day");
        }
        if !(1..=DAY_MS).contains(&self.timeout_ms) {
            return invalid(name, "timeout_ms must be in 1..=86400000 (a day)");
        }
        Ok(())
    }
}

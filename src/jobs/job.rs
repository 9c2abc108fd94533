//! A job as the queue keeps it: id, JSON payload, attempts, backoff, and what happened.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use crate::configuration::{BackoffKind, QueueSettings};

/// How a job is run and retried; the queue's settings give the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOptions {
    /// A caller-chosen id makes the enqueue idempotent (the outbox and cron use this);
    /// `None` gets a fresh random id.
    pub id: Option<String>,
    pub attempts: u32,
    pub backoff: BackoffKind,
    pub backoff_delay: Duration,
    /// Not run before this much time has passed.
    pub delay: Duration,
    /// Completed jobs of the queue kept (at most `jobs.keep_completed`); 0 removes this
    /// one when it completes.
    pub keep_completed: u32,
}

impl JobOptions {
    /// The queue's defaults, no delay, a random id.
    pub fn from_queue(settings: &QueueSettings) -> JobOptions {
        JobOptions {
            id: None,
            attempts: settings.attempts,
            backoff: settings.backoff,
            backoff_delay: Duration::from_millis(settings.backoff_delay_ms),
            delay: Duration::ZERO,
            keep_completed: settings.keep_completed,
        }
    }

    pub fn with_id(mut self, id: impl Into<String>) -> JobOptions {
        self.id = Some(id.into());
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> JobOptions {
        self.delay = delay;
        self
    }
}

/// How long to wait before the attempt after failed attempt number `attempt` (1-based).
pub fn backoff_delay(kind: BackoffKind, base: Duration, attempt: u32) -> Duration {
    match kind {
        BackoffKind::Fixed => base,
        BackoffKind::Exponential => {
            let factor = 1u32
                .checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX);
            base.saturating_mul(factor)
        }
    }
}

/// A job taken by a worker: what the handler needs and the lease token that proves the
/// job is still this worker's.
#[derive(Debug, Clone)]
pub struct TakenJob {
    pub id: String,
    pub token: String,
    pub payload: serde_json::Value,
    pub attempts: u32,
    /// Failed attempts so far (this attempt is number `attempts_made + 1`).
    pub attempts_made: u32,
    pub backoff: BackoffKind,
    pub backoff_delay: Duration,
    /// When it was enqueued (or became due), Redis time in ms.
    pub ready_at_ms: u64,
    /// When this worker took it, Redis time in ms.
    pub taken_at_ms: u64,
}

impl TakenJob {
    /// The retry delay after this attempt fails, or `None` when it was the last.
    pub fn retry_after_failure(&self) -> Option<Duration> {
        let attempt = self.attempts_made + 1;
        (attempt < self.attempts).then(|| backoff_delay(self.backoff, self.backoff_delay, attempt))
    }
}

/// A job in the failed set, as `GET /admin/queues/{name}/failed` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedJob {
    pub id: String,
    pub queue: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Attempts made, all failed.
    pub attempts_made: u32,
    /// Attempts the job was allowed.
    pub attempts: u32,
    /// The error of the last attempt.
    pub failed_reason: String,
    /// Unix time in ms.
    pub enqueued_at: u64,
    /// Unix time in ms.
    pub failed_at: u64,
}

/// Counts of one queue, as `GET /admin/queues` shows them.
#[derive(Debug, Clone, Default, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub name: String,
    pub waiting: u64,
    pub active: u64,
    pub delayed: u64,
    pub completed: u64,
    pub failed: u64,
    /// Jobs finished (completed or finally failed) in the last 60 seconds.
    pub processed_per_minute: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_doubles_from_the_base() {
        let base = Duration::from_secs(2);
        let delays: Vec<u64> = (1..=4)
            .map(|a| backoff_delay(BackoffKind::Exponential, base, a).as_secs())
            .collect();
        assert_eq!(delays, [2, 4, 8, 16]);
        assert_eq!(backoff_delay(BackoffKind::Fixed, base, 5), base);
        assert!(backoff_delay(BackoffKind::Exponential, base, 200) >= base);
    }
}

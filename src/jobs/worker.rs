//! Running one taken job: the handler its queue names, then the outcome recorded in Redis
//! (completed, retried after its backoff, or failed for good), logged and published on
//! `{prefix}jobs:events`.

use std::time::Duration;

use serde::Serialize;

use super::email::Mailer;
use super::job::TakenJob;
use super::queue::QueueStore;
use super::testing::TestJobs;
use super::{warming, CACHE_WARMING_QUEUE, EMAIL_QUEUE, TEST_QUEUE};
use crate::cache::Cache;
use crate::db::DbPool;

/// What the job handlers need.
pub struct Runner {
    pub cache: Cache,
    pub db: DbPool,
    pub mailer: Mailer,
    /// `Some` only when `jobs.test.enabled`.
    pub test: Option<TestJobs>,
    pub warm_products: u32,
}

/// A job event as published on `{prefix}jobs:events`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEvent<'a> {
    /// `completed` or `failed`.
    pub event: &'static str,
    pub queue: &'a str,
    pub id: &'a str,
    /// Attempts made so far, this one included.
    pub attempts_made: u32,
    /// How long the job waited from ready (enqueued, or due) until this attempt began.
    pub waited_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    /// For `failed`: whether another attempt follows (after `retryInMs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
}

/// The error of an attempt cut off by its queue's `timeout_ms`.
pub const TIMED_OUT: &str = "timed out";

impl Runner {
    /// Runs the handler of `queue` on the job, cut off after `limit`: a hung handler (an
    /// SMTP server that never answers) fails the attempt instead of pinning a worker.
    pub async fn run_within(
        &self,
        queue: &str,
        job: &TakenJob,
        limit: Duration,
    ) -> Result<(), String> {
        tokio::time::timeout(limit, self.run(queue, job))
            .await
            .unwrap_or_else(|_| Err(TIMED_OUT.to_string()))
    }

    /// Runs the handler of `queue` on the job.
    async fn run(&self, queue: &str, job: &TakenJob) -> Result<(), String> {
        match queue {
            EMAIL_QUEUE => self
                .mailer
                .handle(&job.payload)
                .await
                .map_err(|e| e.to_string()),
            CACHE_WARMING_QUEUE => {
                let loaded =
                    warming::run(&self.cache, &self.db, &job.payload, self.warm_products).await?;
                tracing::info!(job_id = %job.id, loaded, "cache warmed");
                Ok(())
            }
            TEST_QUEUE => match &self.test {
                Some(test) => test.run(job).await,
                None => Err("the test queue is disabled".to_string()),
            },
            other => Err(format!("no handler for queue {other}")),
        }
    }
}

/// Records the outcome of an attempt, then logs and publishes it. A Redis failure here
/// leaves the job's lease to lapse, so it runs again elsewhere (at least once).
pub async fn finish(store: &QueueStore, queue: &str, job: &TakenJob, outcome: Result<(), String>) {
    let attempts_made = job.attempts_made + 1;
    let waited_ms = job.taken_at_ms.saturating_sub(job.ready_at_ms);
    let (recorded, event) = match &outcome {
        Ok(()) => (
            store.complete(queue, job).await,
            JobEvent {
                event: "completed",
                queue,
                id: &job.id,
                attempts_made,
                waited_ms,
                error: None,
                retry_in_ms: None,
            },
        ),
        Err(error) => {
            let retry = job.retry_after_failure();
            (
                store.fail(queue, job, error, retry).await,
                JobEvent {
                    event: "failed",
                    queue,
                    id: &job.id,
                    attempts_made,
                    waited_ms,
                    error: Some(error),
                    retry_in_ms: retry.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                },
            )
        }
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(queue, job_id = %job.id, "job lease lost (stalled); another worker runs it");
            return;
        }
        Err(e) => {
            tracing::error!(queue, job_id = %job.id, error = %e, "could not record the job's outcome; it will run again");
            return;
        }
    }
    match &outcome {
        Ok(()) => tracing::info!(queue, job_id = %job.id, attempts_made, "job completed"),
        Err(error) if event.retry_in_ms.is_some() => tracing::warn!(
            queue, job_id = %job.id, attempts_made, %error, retry_in_ms = event.retry_in_ms,
            "job attempt failed; retrying"
        ),
        Err(error) => {
            tracing::error!(queue, job_id = %job.id, attempts_made, %error, "job failed")
        }
    }
    if let Err(e) = store.publish(&event).await {
        tracing::debug!(error = %e, "job event not published");
    }
}

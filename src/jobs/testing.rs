//! The queue `test`, only when `jobs.test.enabled` (set in `config/test.toml`, never by
//! default): job kinds that let black-box tests see retries, stalls and delivery. Each
//! run appends a JSON line to the Redis list `{prefix}jobs:{test}:log`:
//! `{"id","event":"start"|"done","attempt","at":unix ms,"instance","instanceId"}`:
//! `instance` tells processes apart (random per start), `instanceId` is the configured
//! `server.instance_id` (null when unset), so a test of a deployment knows which of its
//! named instances ran a job.
//!
//! Kinds: `{"kind":"noop"}` (nothing, for benchmarks), `{"kind":"record"}`,
//! `{"kind":"fail","times":N}` (fails its first N attempts), `{"kind":"sleep","ms":N}`.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::job::TakenJob;
use crate::redis_client::RedisClient;

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TestJob {
    Noop,
    Record,
    Fail { times: u32 },
    Sleep { ms: u64 },
}

/// Runs test jobs and logs them.
pub struct TestJobs {
    redis: RedisClient,
    instance: Arc<str>,
    instance_id: Option<String>,
}

impl TestJobs {
    pub fn new(redis: RedisClient, instance: Arc<str>, instance_id: Option<String>) -> TestJobs {
        TestJobs {
            redis,
            instance,
            instance_id,
        }
    }

    pub async fn run(&self, job: &TakenJob) -> Result<(), String> {
        let kind: TestJob =
            serde_json::from_value(job.payload.clone()).map_err(|e| format!("bad payload: {e}"))?;
        match kind {
            TestJob::Noop => Ok(()),
            TestJob::Record => self.log(job, "done").await,
            TestJob::Fail { times } => {
                self.log(job, "start").await?;
                if job.attempts_made < times {
                    return Err(format!(
                        "failing on purpose, attempt {}",
                        job.attempts_made + 1
                    ));
                }
                self.log(job, "done").await
            }
            TestJob::Sleep { ms } => {
                self.log(job, "start").await?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                self.log(job, "done").await
            }
        }
    }

    async fn log(&self, job: &TakenJob, event: &str) -> Result<(), String> {
        let line = serde_json::json!({
            "id": job.id,
            "event": event,
            "attempt": job.attempts_made + 1,
            "at": chrono::Utc::now().timestamp_millis(),
            "instance": &*self.instance,
            "instanceId": self.instance_id,
        })
        .to_string();
        let key = self.redis.keyspace().key("jobs:{test}:log");
        self.redis
            .run(|mut c| async move {
                redis::cmd("RPUSH")
                    .arg(key)
                    .arg(line)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
            .map_err(|e| e.to_string())
    }
}

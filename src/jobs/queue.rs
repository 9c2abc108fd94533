//! The queues in Redis: one Lua script per state change, so each is atomic, and every
//! key of a queue carries the queue's name as a hash tag (`{prefix}jobs:{email}:wait`),
//! so each script touches one Redis Cluster slot.
//!
//! Per queue: `wait` (list, taken from the right), `delayed` (sorted set by due time),
//! `active` (sorted set by lease deadline), `completed` and `failed` (sorted sets by
//! time), one hash per job (`job:{id}`), and per-second `processed:{unix s}` counters.
//! Times are Redis's (`TIME`), so instances with skewed clocks agree.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::job::{FailedJob, JobOptions, QueueStats, TakenJob};
use super::JobsError;
use crate::configuration::{BackoffKind, JobsSettings};
use crate::redis_client::RedisClient;

static ENQUEUE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/enqueue.lua")));
static TAKE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/take.lua")));
static COMPLETE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/complete.lua")));
static FAIL: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/fail.lua")));
static EXTEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/extend.lua")));
static RECOVER: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/recover.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/release.lua")));
static RETRY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/retry.lua")));
static REMOVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/remove.lua")));
static STATS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/stats.lua")));
static FAILED: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/failed.lua")));

/// How long a cron tick's key lives: far longer than any instance lags behind a tick.
const TICK_KEY_TTL: Duration = Duration::from_secs(86_400);

/// The key names of one queue.
#[derive(Debug, Clone)]
struct Keys {
    base: String,
}

impl Keys {
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.base)
    }
    fn job_prefix(&self) -> String {
        self.key("job:")
    }
    fn job(&self, id: &str) -> String {
        format!("{}job:{id}", self.base)
    }
    fn processed_prefix(&self) -> String {
        self.key("processed:")
    }
}

/// Outcome of an admin action on one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    Done,
    NoSuchJob,
    /// Retry: the job has not failed. Remove: the job is running.
    WrongState,
}

impl JobAction {
    fn from_code(code: i64) -> JobAction {
        match code {
            1 => JobAction::Done,
            0 => JobAction::NoSuchJob,
            _ => JobAction::WrongState,
        }
    }
}

/// How many finished jobs each queue keeps at most (`jobs.keep_completed`,
/// `jobs.keep_failed`); the scripts that add to those sets trim them in the same step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub completed: u32,
    pub failed: u32,
}

impl Retention {
    pub fn from_settings(settings: &JobsSettings) -> Retention {
        Retention {
            completed: settings.keep_completed,
            failed: settings.keep_failed,
        }
    }
}

/// Queue operations over the shared Redis client; cheap to clone.
///
/// Give it a client of its own (see `startup::start_jobs`): its per-command timeout is
/// `jobs.redis_timeout_ms`, longer than a request's, because a call that times out after
/// Redis applied it makes a job run twice; and its breaker is its own, so background
/// polling on a busy machine never opens the breaker requests go through.
#[derive(Clone)]
pub struct QueueStore {
    redis: RedisClient,
    retention: Retention,
}

impl QueueStore {
    /// Runs one prepared script on the queue's own Redis client.
    async fn run_script<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, JobsError> {
        Ok(self
            .redis
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?)
    }

    pub fn new(redis: RedisClient, retention: Retention) -> QueueStore {
        QueueStore { redis, retention }
    }

    fn keys(&self, queue: &str) -> Keys {
        Keys {
            base: self.redis.keyspace().key(&format!("jobs:{{{queue}}}:")),
        }
    }

    /// The channel completed and failed events are published on.
    pub fn events_channel(&self) -> String {
        self.redis.keyspace().channel("jobs:events")
    }

    /// Publishes a job event on `{prefix}jobs:events`.
    pub async fn publish(&self, event: &super::worker::JobEvent<'_>) -> Result<(), JobsError> {
        let channel = self.events_channel();
        let message = serde_json::to_string(event).unwrap_or_default();
        self.redis
            .run(|mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(message)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await?;
        Ok(())
    }

    /// Adds a job; answers its id and whether it was new (an existing id is left as is).
    pub async fn enqueue(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        options: &JobOptions,
    ) -> Result<(String, bool), JobsError> {
        self.enqueue_inner(queue, payload, options, None).await
    }

    /// Enqueues the job of one cron tick, unless another instance already did.
    pub async fn enqueue_tick(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        options: &JobOptions,
        tick_key: &str,
    ) -> Result<bool, JobsError> {
        let tick = self.keys(queue).key(&format!("cron:{tick_key}"));
        Ok(self
            .enqueue_inner(queue, payload, options, Some(tick))
            .await?
            .1)
    }

    async fn enqueue_inner(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        options: &JobOptions,
        tick: Option<String>,
    ) -> Result<(String, bool), JobsError> {
        let id = match &options.id {
            Some(id) if super::id::valid_id(id) => id.clone(),
            Some(id) => return Err(JobsError::InvalidId(id.clone())),
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        let keys = self.keys(queue);
        let mut invocation = ENQUEUE.prepare_invoke();
        invocation
            .key(keys.job(&id))
            .key(keys.key("wait"))
            .key(keys.key("delayed"));
        if let Some(tick) = tick {
            invocation.key(tick);
        }
        invocation
            .arg(&id)
            .arg(payload.to_string())
            .arg(options.attempts)
            .arg(backoff_name(options.backoff))
            .arg(millis(options.backoff_delay))
            .arg(options.keep_completed)
            .arg(millis(options.delay))
            .arg(millis(TICK_KEY_TTL));
        let added: i64 = self.run_script(invocation).await?;
        Ok((id, added == 1))
    }

    /// Takes up to `count` jobs (due delayed ones first move to waiting), each leased
    /// for `lease`.
    pub async fn take(
        &self,
        queue: &str,
        count: usize,
        lease: Duration,
        worker: &str,
    ) -> Result<Vec<TakenJob>, JobsError> {
        let keys = self.keys(queue);
        let mut invocation = TAKE.prepare_invoke();
        invocation
            .key(keys.key("wait"))
            .key(keys.key("delayed"))
            .key(keys.key("active"))
            .arg(keys.job_prefix())
            .arg(count)
            .arg(millis(lease))
            .arg(worker);
        let rows: Vec<Vec<String>> = self.run_script(invocation).await?;
        Ok(rows.into_iter().filter_map(parse_taken).collect())
    }

    /// Marks a job completed; false when its lease was lost (another worker has it).
    pub async fn complete(&self, queue: &str, job: &TakenJob) -> Result<bool, JobsError> {
        let keys = self.keys(queue);
        let mut invocation = COMPLETE.prepare_invoke();
        invocation
            .key(keys.job(&job.id))
            .key(keys.key("active"))
            .key(keys.key("completed"))
            .arg(&job.id)
            .arg(&job.token)
            .arg(keys.job_prefix())
            .arg(keys.processed_prefix())
            .arg(self.retention.completed);
        let done: i64 = self.run_script(invocation).await?;
        Ok(done == 1)
    }

    /// Records a failed attempt: retried after `retry` or, with `None`, failed for good.
    pub async fn fail(
        &self,
        queue: &str,
        job: &TakenJob,
        error: &str,
        retry: Option<Duration>,
    ) -> Result<bool, JobsError> {
        let keys = self.keys(queue);
        let delay = retry.map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut invocation = FAIL.prepare_invoke();
        invocation
            .key(keys.job(&job.id))
            .key(keys.key("active"))
            .key(keys.key("delayed"))
            .key(keys.key("failed"))
            .key(keys.key("wait"))
            .arg(&job.id)
            .arg(&job.token)
            .arg(error)
            .arg(delay)
            .arg(keys.processed_prefix())
            .arg(self.retention.failed)
            .arg(keys.job_prefix());
        let done: i64 = self.run_script(invocation).await?;
        Ok(done == 1)
    }

    /// Renews the leases of the jobs (id, token) this worker runs.
    pub async fn extend(
        &self,
        queue: &str,
        jobs: &[(String, String)],
        lease: Duration,
    ) -> Result<u64, JobsError> {
        let keys = self.keys(queue);
        let mut invocation = EXTEND.prepare_invoke();
        invocation
            .key(keys.key("active"))
            .arg(keys.job_prefix())
            .arg(millis(lease));
        for (id, token) in jobs {
            invocation.arg(id).arg(token);
        }
        self.run_script(invocation).await
    }

    /// Returns jobs whose lease lapsed to waiting; answers their ids.
    pub async fn recover_stalled(&self, queue: &str) -> Result<Vec<String>, JobsError> {
        let keys = self.keys(queue);
        let mut invocation = RECOVER.prepare_invoke();
        invocation
            .key(keys.key("active"))
            .key(keys.key("wait"))
            .arg(keys.job_prefix());
        self.run_script(invocation).await
    }

    /// Puts a job this worker holds back at the head of waiting (shutdown).
    pub async fn release(&self, queue: &str, id: &str, token: &str) -> Result<bool, JobsError> {
        let keys = self.keys(queue);
        let mut invocation = RELEASE.prepare_invoke();
        invocation
            .key(keys.job(id))
            .key(keys.key("active"))
            .key(keys.key("wait"))
            .arg(id)
            .arg(token);
        let done: i64 = self.run_script(invocation).await?;
        Ok(done == 1)
    }

    /// Moves a failed job back to waiting with its attempts reset.
    pub async fn retry(&self, queue: &str, id: &str) -> Result<JobAction, JobsError> {
        if !super::id::valid_id(id) {
            return Ok(JobAction::NoSuchJob);
        }
        let keys = self.keys(queue);
        let mut invocation = RETRY.prepare_invoke();
        invocation
            .key(keys.job(id))
            .key(keys.key("failed"))
            .key(keys.key("wait"))
            .arg(id);
        let code: i64 = self.run_script(invocation).await?;
        Ok(JobAction::from_code(code))
    }

    /// Removes a job that is not running.
    pub async fn remove(&self, queue: &str, id: &str) -> Result<JobAction, JobsError> {
        if !super::id::valid_id(id) {
            return Ok(JobAction::NoSuchJob);
        }
        let keys = self.keys(queue);
        let mut invocation = REMOVE.prepare_invoke();
        invocation.key(keys.job(id));
        for set in ["wait", "delayed", "active", "completed", "failed"] {
            invocation.key(keys.key(set));
        }
        invocation.arg(id);
        let code: i64 = self.run_script(invocation).await?;
        Ok(JobAction::from_code(code))
    }

    /// The queue's counts, in one script run.
    pub async fn stats(&self, queue: &str) -> Result<QueueStats, JobsError> {
        let keys = self.keys(queue);
        let mut invocation = STATS.prepare_invoke();
        for set in ["wait", "active", "delayed", "completed", "failed"] {
            invocation.key(keys.key(set));
        }
        invocation.arg(keys.processed_prefix());
        let n: Vec<u64> = self.run_script(invocation).await?;
        let at = |i: usize| n.get(i).copied().unwrap_or(0);
        Ok(QueueStats {
            name: queue.to_string(),
            waiting: at(0),
            active: at(1),
            delayed: at(2),
            completed: at(3),
            failed: at(4),
            processed_per_minute: at(5),
        })
    }

    /// The newest `limit` failed jobs.
    pub async fn failed(&self, queue: &str, limit: u32) -> Result<Vec<FailedJob>, JobsError> {
        let keys = self.keys(queue);
        let mut invocation = FAILED.prepare_invoke();
        invocation
            .key(keys.key("failed"))
            .arg(keys.job_prefix())
            .arg(limit);
        let rows: Vec<Vec<String>> = self.run_script(invocation).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| parse_failed(queue, row))
            .collect())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn backoff_name(kind: BackoffKind) -> &'static str {
    match kind {
        BackoffKind::Exponential => "exponential",
        BackoffKind::Fixed => "fixed",
    }
}

/// One row of `take.lua`; a row that does not parse (a hand-edited hash) is skipped and
/// its lease lapses into recovery, where an admin sees it.
fn parse_taken(row: Vec<String>) -> Option<TakenJob> {
    let [id, token, payload, attempts, backoff, backoff_ms, made, ready, now] =
        <[String; 9]>::try_from(row).ok()?;
    Some(TakenJob {
        payload: serde_json::from_str(&payload).ok()?,
        attempts: attempts.parse().ok()?,
        backoff: if backoff == "fixed" {
            BackoffKind::Fixed
        } else {
            BackoffKind::Exponential
        },
        backoff_delay: Duration::from_millis(backoff_ms.parse().ok()?),
        attempts_made: made.parse().ok()?,
        ready_at_ms: ready.parse().ok()?,
        taken_at_ms: now.parse().ok()?,
        id,
        token,
    })
}

fn parse_failed(queue: &str, row: Vec<String>) -> Option<FailedJob> {
    let [id, payload, made, attempts, reason, enqueued, failed] =
        <[String; 7]>::try_from(row).ok()?;
    Some(FailedJob {
        id,
        queue: queue.to_string(),
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        attempts_made: made.parse().unwrap_or(0),
        attempts: attempts.parse().unwrap_or(0),
        failed_reason: reason,
        enqueued_at: enqueued.parse().unwrap_or(0),
        failed_at: failed.parse().unwrap_or(0),
    })
}

//! Background jobs: durable Redis queues behind one scheduler actor per instance.
//!
//! - [`queue`]: the queues in Redis (Lua scripts, one hash-tagged slot per queue);
//!   [`job`]: a job's options, backoff and the shapes the admin API shows.
//! - [`scheduler`]: the actor that owns this instance's workers, leases and heartbeats,
//!   stalled-job recovery, cron ticks and the outbox relay; [`Jobs`] is its handle.
//! - [`worker`]: one attempt of one job and its recorded outcome; the handlers:
//!   [`email`], [`warming`], and [`testing`] (the `test` queue, tests only).
//! - [`cron`]: `[[jobs.schedules]]` and their ticks; [`outbox`]: the relay that moves jobs
//!   committed in PostgreSQL to Redis.
//!
//! Delivery is at least once: a job whose instance dies mid-run runs again elsewhere, so
//! every handler is idempotent or harmless to repeat.

pub mod cron;
pub mod email;
pub mod id;
pub mod job;
pub mod outbox;
pub mod queue;
pub mod scheduler;
pub mod testing;
pub mod warming;
pub mod worker;

pub use job::{FailedJob, JobOptions, QueueStats};
pub use queue::{JobAction, QueueStore, Retention};
pub use scheduler::{Jobs, Scheduler};

use crate::configuration::{JobsSettings, QueueSettings};
use crate::db::DbError;
use crate::redis_client::RedisError;

pub const CACHE_WARMING_QUEUE: &str = "cache-warming";
pub const EMAIL_QUEUE: &str = "email";
/// Exists only when `jobs.test.enabled`.
pub const TEST_QUEUE: &str = "test";
/// Every queue name this build knows.
pub const QUEUES: [&str; 3] = [CACHE_WARMING_QUEUE, EMAIL_QUEUE, TEST_QUEUE];

/// A job operation that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("no queue named {0}")]
    UnknownQueue(String),
    #[error("no job {id} in queue {queue}")]
    UnknownJob { queue: String, id: String },
    #[error("job {0} is not in a state that allows this")]
    WrongState(String),
    #[error("a job id must be 1..=128 of letters, digits, - _ . : (got {0:?})")]
    InvalidId(String),
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the job scheduler is not running")]
    Stopped,
}

impl From<actix::MailboxError> for JobsError {
    fn from(_: actix::MailboxError) -> Self {
        JobsError::Stopped
    }
}

/// The settings of a queue this instance runs, by name (`None` for an unknown queue, or
/// `test` while it is disabled).
pub fn queue_settings<'a>(settings: &'a JobsSettings, queue: &str) -> Option<&'a QueueSettings> {
    match queue {
        CACHE_WARMING_QUEUE => Some(&settings.cache_warming),
        EMAIL_QUEUE => Some(&settings.email),
        TEST_QUEUE if settings.test.enabled => Some(&settings.test.queue),
        _ => None,
    }
}

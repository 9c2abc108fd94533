//! The outbox relay: moves jobs committed in PostgreSQL (`outbox`) to their Redis queue.
//!
//! One batch is one transaction: lock the oldest rows no other relay holds
//! (`FOR UPDATE SKIP LOCKED`, so every instance can relay at once), enqueue each with the
//! id `outbox-{row id}`, delete them, commit. Should the process die or the commit fail
//! after an enqueue, the row comes back and its enqueue finds the job already there
//! (enqueue is idempotent by id): one job per row. While Redis is down the enqueue fails,
//! the transaction rolls back, and the rows wait.

use diesel_async::AsyncConnection;

use super::job::JobOptions;
use super::queue::QueueStore;
use super::JobsError;
use crate::configuration::JobsSettings;
use crate::db::{self, outbox, DbError, DbPool};

/// Rows moved per transaction.
pub const BATCH: i64 = 100;

/// Moves one batch; answers how many rows it moved.
pub async fn relay_batch(
    db: &DbPool,
    store: &QueueStore,
    settings: &JobsSettings,
) -> Result<usize, JobsError> {
    let mut conn = db::pool::connection(db).await?;
    conn.transaction::<_, JobsError, _>(async move |conn| {
        let rows = outbox::lock_batch(conn, BATCH).await?;
        let mut moved = Vec::with_capacity(rows.len());
        for row in &rows {
            // A row for a queue this build does not run stays for one that does.
            let Some(queue) = super::queue_settings(settings, &row.queue) else {
                tracing::warn!(row = row.id, queue = %row.queue, "outbox row for an unknown queue");
                continue;
            };
            let options = JobOptions::from_queue(queue).with_id(format!("outbox-{}", row.id));
            store.enqueue(&row.queue, &row.payload, &options).await?;
            moved.push(row.id);
        }
        outbox::delete(conn, &moved).await?;
        Ok(rows.len())
    })
    .await
}

impl From<diesel::result::Error> for JobsError {
    fn from(e: diesel::result::Error) -> Self {
        JobsError::Db(DbError::from(e))
    }
}

//! Publishes this instance's invalidations, numbered 1, 2, 3, ... so that receivers can
//! tell a lost event (see `sequence`).

use std::sync::Arc;

use tokio::sync::Mutex;

use super::{Event, CHANNEL};
use crate::cache::Target;
use crate::redis_client::{RedisClient, RedisError};

pub struct Publisher {
    redis: RedisClient,
    origin: Arc<str>,
    /// The last number published. A tokio mutex held across the PUBLISH (at most one
    /// command timeout), so events leave in the order of their numbers: concurrent
    /// writes would otherwise reorder on the wire and look like gaps to the receivers.
    seq: Mutex<u64>,
}

impl Publisher {
    /// `origin` identifies this instance in its events.
    pub fn new(redis: RedisClient, origin: Arc<str>) -> Publisher {
        Publisher {
            redis,
            origin,
            seq: Mutex::new(0),
        }
    }

    /// Publishes one event. A failed publish does not use up its number: its targets
    /// are deferred and go out again, so a receiver sees a gap only for an event that
    /// was published and then lost.
    pub async fn publish(&self, targets: &[Target]) -> Result<(), RedisError> {
        let mut seq = self.seq.lock().await;
        let event = Event {
            origin: self.origin.to_string(),
            seq: *seq + 1,
            targets: targets.to_vec(),
        };
        let payload = serde_json::to_string(&event).unwrap_or_default();
        let channel = self.redis.keyspace().channel(CHANNEL);
        self.redis
            .run(|mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async::<i64>(&mut c)
                    .await
            })
            .await?;
        *seq += 1;
        Ok(())
    }
}

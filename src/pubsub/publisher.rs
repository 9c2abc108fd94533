//! Publishes this instance's invalidations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Event, CHANNEL};
use crate::cache::Target;
use crate::redis_client::{RedisClient, RedisError};

pub struct Publisher {
    redis: RedisClient,
    origin: Arc<str>,
    seq: AtomicU64,
}

impl Publisher {
    /// `origin` identifies this instance in its events.
    pub fn new(redis: RedisClient, origin: Arc<str>) -> Publisher {
        Publisher {
            redis,
            origin,
            seq: AtomicU64::new(0),
        }
    }

    pub async fn publish(&self, targets: &[Target]) -> Result<(), RedisError> {
        let event = Event {
            origin: self.origin.to_string(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
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
            .await
            .map(|_| ())
    }
}

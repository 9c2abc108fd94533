//! Invalidation as the cache handle runs it: here, in L2, on every instance, and again
//! when Redis comes back.
//!
//! Order (so no instance can serve the old value afterwards): bump the
//! local epoch (in-flight fills of this instance will not be stored), take a new
//! generation in Redis with the key's delete in one script (no fill that read the old
//! row can be stored in L2 afterwards, and no entry loaded before it is read from L2),
//! bump the epoch again (whatever a local miss read from L2 meanwhile is not put in L1),
//! drop from every local L1, then publish so the other instances drop theirs.

use std::sync::Arc;

use super::{actor, l2, Cache, Counters, PausePoint, Pending, Target};
use crate::redis_client::RedisError;

/// What an invalidation did: entries dropped, and whether part of it waits for Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalidated {
    pub count: u64,
    /// L2 or the other instances could not be reached yet: retried until they are.
    pub deferred: bool,
}

impl Cache {
    /// Invalidates here and everywhere: L2, every local L1, then the event for the other
    /// instances. Counts the entries dropped (L2's deletes, or L1's when more: a tag's
    /// L2 entries are hidden, not counted).
    pub async fn invalidate(&self, targets: Vec<Target>) -> Invalidated {
        self.shared.bump_epoch();
        let hooks = &self.shared.hooks;
        hooks
            .reach(PausePoint::BeforeInvalidationL2, String::new)
            .await;
        let l2 = self.invalidate_l2(&targets).await;
        // A local miss that read L2 before the line above must not reach L1.
        self.shared.bump_epoch();
        let targets: Arc<[Target]> = targets.into();
        let l1 = self.invalidate_l1(targets.clone()).await;
        let published = self.publish(&targets).await;
        let deferred = l2.is_err() || !published;
        if deferred {
            // Redis is unreachable: L2 may still hold the old value and the other
            // instances have not heard. Retried until it goes through.
            tracing::warn!("invalidation deferred until Redis is back");
            self.defer(&targets);
        }
        Invalidated {
            count: l2.unwrap_or(0).max(l1),
            deferred,
        }
    }

    async fn invalidate_l2(&self, targets: &[Target]) -> Result<u64, RedisError> {
        if !self.shared.settings.l2_enabled {
            return Ok(0);
        }
        l2::invalidate(&self.shared.redis, targets, self.shared.marker_ttl).await
    }

    async fn publish(&self, targets: &[Target]) -> bool {
        let published = self.shared.publisher.publish(targets).await.is_ok();
        if published {
            Counters::bump(&self.shared.counters.invalidations_published);
        }
        published
    }

    /// Retries deferred invalidations (L2 and the event); called periodically and on
    /// reconnection. Once L2 has them, this instance's L1 is dropped for them again:
    /// a local miss may have refilled it from L2 between Redis coming back and now.
    /// They stay pending (L2 closed for them) until both steps have gone through.
    pub async fn retry_deferred(&self) {
        let (targets, mark) = self.pending().to_retry();
        if targets.is_empty() {
            return;
        }
        if self.invalidate_l2(&targets).await.is_err() {
            return;
        }
        self.shared.bump_epoch();
        self.invalidate_l1(targets.clone().into()).await;
        if self.publish(&targets).await {
            self.pending().done(mark);
        }
    }

    /// Applies another instance's invalidation to the local L1s.
    pub async fn apply_remote(&self, targets: Vec<Target>) {
        Counters::bump(&self.shared.counters.invalidations_received);
        self.shared.bump_epoch();
        self.invalidate_l1(targets.into()).await;
    }

    /// Empties every local L1: events may have been missed.
    pub async fn clear_l1(&self) {
        Counters::bump(&self.shared.counters.l1_clears);
        self.shared.bump_epoch();
        self.invalidate_l1(Arc::from([Target::All])).await;
    }

    /// After the pub/sub connection is back: clear L1 and replay deferred work.
    pub async fn resync(&self) {
        self.clear_l1().await;
        self.retry_deferred().await;
    }

    fn defer(&self, targets: &[Target]) {
        self.pending().defer(targets);
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn invalidate_l1(&self, targets: Arc<[Target]>) -> u64 {
        let sends = self
            .shared
            .workers()
            .into_iter()
            .map(|w| w.send(actor::Invalidate(targets.clone())));
        futures_util::future::join_all(sends)
            .await
            .into_iter()
            .filter_map(Result::ok)
            .sum()
    }
}

//! The cache as routes see it: read-through, invalidation, stats, warming.
//!
//! Invalidation order (so no instance can serve the old value afterwards): bump the
//! local epoch (in-flight fills of this instance will not be stored), take a new
//! generation in Redis with the key's delete in one script (no fill that read the old
//! row can be stored in L2 afterwards, and no entry loaded before it is read from L2),
//! bump the epoch again (whatever a local miss read from L2 meanwhile is not put in L1),
//! drop from every local L1, then publish so the other instances drop theirs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use actix::prelude::*;

use super::actor::{self, CacheActor, Put};
use super::deferred::Pending;
use super::hooks::Hooks;
use super::l1::Lookup;
use super::loader::{Load, Loader, Outcome, Warm};
use super::stats::{BreakerStats, CacheStats, Counters, L1Stats};
use super::{generation, l2, CacheError, CacheKey, Source, Target, Tier};
use crate::configuration::CacheSettings;
use crate::db::DbPool;
use crate::pubsub::Publisher;
use crate::redis_client::RedisClient;

/// State shared by the loader, the worker actors and the handle.
pub struct Shared {
    pub db: DbPool,
    pub redis: RedisClient,
    pub settings: CacheSettings,
    pub max_stale: Duration,
    /// How long generation markers live in Redis (`generation::marker_ttl`).
    pub marker_ttl: Duration,
    /// The longest one load may wait for PostgreSQL (pool wait + statement timeout).
    pub load_deadline: Duration,
    pub counters: Counters,
    pub hooks: Hooks,
    publisher: Publisher,
    /// Bumped by every invalidation this instance applies; a fill that began under an
    /// older epoch is not stored.
    epoch: AtomicU64,
    // Written once per worker at start-up, read on invalidation: never on a hit.
    workers: RwLock<Vec<Addr<CacheActor>>>,
    // Invalidations that did not reach L2 or the bus (Redis down), retried until they do.
    pending: Mutex<Pending>,
}

impl Shared {
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether an invalidation of the key or one of its tags is waiting for Redis.
    pub fn invalidation_pending(&self, key: &CacheKey, tags: &[String]) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .affects(key, tags)
    }

    fn bump_epoch(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    pub fn workers(&self) -> Vec<Addr<CacheActor>> {
        self.workers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// What an invalidation did: entries dropped, and whether part of it waits for Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalidated {
    pub count: u64,
    /// L2 or the other instances could not be reached yet: retried until they are.
    pub deferred: bool,
}

/// A cloneable handle on the instance's cache.
#[derive(Clone)]
pub struct Cache {
    shared: Arc<Shared>,
    loader: Addr<Loader>,
    l1_bytes_per_worker: u64,
}

/// What one actix-web worker holds: the instance's cache and its own L1 actor.
#[derive(Clone)]
pub struct WorkerCache {
    pub cache: Cache,
    pub actor: Addr<CacheActor>,
}

impl Cache {
    /// Starts the loader on the current arbiter. `workers` splits the L1 byte budget.
    pub fn start(
        db: DbPool,
        redis: RedisClient,
        settings: CacheSettings,
        publisher: Publisher,
        workers: usize,
        load_deadline: Duration,
    ) -> Cache {
        let l1_bytes_per_worker = settings.l1_max_bytes / workers.max(1) as u64;
        let shared = Arc::new(Shared {
            db,
            redis,
            max_stale: Duration::from_secs(settings.max_stale_secs),
            marker_ttl: generation::marker_ttl(&settings),
            load_deadline,
            settings,
            counters: Counters::default(),
            hooks: Hooks::default(),
            publisher,
            epoch: AtomicU64::new(0),
            workers: RwLock::new(Vec::new()),
            pending: Mutex::new(Pending::default()),
        });
        let loader = Loader::new(shared.clone()).start();
        Cache {
            shared,
            loader,
            l1_bytes_per_worker,
        }
    }

    /// Starts this worker thread's cache actor (call from the worker's app factory).
    pub fn start_worker(&self) -> WorkerCache {
        let actor = CacheActor::new(self.clone(), self.l1_bytes_per_worker).start();
        self.shared
            .workers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(actor.clone());
        WorkerCache {
            cache: self.clone(),
            actor,
        }
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.shared.settings
    }

    pub fn redis(&self) -> &RedisClient {
        &self.shared.redis
    }

    pub fn loader(&self) -> &Addr<Loader> {
        &self.loader
    }

    pub fn epoch(&self) -> u64 {
        self.shared.epoch()
    }

    /// Pause points for tests (see `hooks.rs`).
    #[doc(hidden)]
    pub fn hooks(&self) -> &Hooks {
        &self.shared.hooks
    }

    /// Worker actors registered so far.
    pub fn worker_count(&self) -> usize {
        self.shared.workers().len()
    }

    /// Reads through L1 (this worker's), then the loader (L2, PostgreSQL).
    pub async fn read(
        &self,
        actor: &Addr<CacheActor>,
        source: Source,
    ) -> Result<Outcome, CacheError> {
        let epoch = self.epoch();
        if !self.shared.settings.l1_enabled {
            return self.loader.send(Load { source, epoch }).await?;
        }
        match actor.send(actor::Get(source.clone())).await? {
            Lookup::Fresh(entry) => Ok(Outcome::Found {
                entry,
                tier: Tier::L1,
            }),
            Lookup::Stale(entry) => Ok(Outcome::Found {
                entry,
                tier: Tier::Stale,
            }),
            Lookup::Miss => {
                let key = source.key();
                let outcome = self.loader.send(Load { source, epoch }).await??;
                if let Outcome::Found { entry, tier } = &outcome {
                    if matches!(tier, Tier::L2 | Tier::Miss) {
                        // A fill, not on the response's path: a full mailbox skips it.
                        let _ = actor.try_send(Put {
                            key,
                            entry: entry.clone(),
                            epoch,
                        });
                    }
                }
                Ok(outcome)
            }
        }
    }

    /// Invalidates here and everywhere: L2, every local L1, then the event for the other
    /// instances. Counts the entries dropped (L2's deletes, or L1's when more: a tag's
    /// L2 entries are hidden, not counted).
    pub async fn invalidate(&self, targets: Vec<Target>) -> Invalidated {
        self.shared.bump_epoch();
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

    async fn invalidate_l2(
        &self,
        targets: &[Target],
    ) -> Result<u64, crate::redis_client::RedisError> {
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
    pub async fn retry_deferred(&self) {
        let targets = self.pending().take();
        if targets.is_empty() {
            return;
        }
        let l2_done = self.invalidate_l2(&targets).await.is_ok();
        if l2_done {
            self.shared.bump_epoch();
            self.invalidate_l1(targets.clone().into()).await;
        }
        if !l2_done || !self.publish(&targets).await {
            self.defer(&targets);
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

    /// Counters of every tier, L1 merged over the workers.
    pub async fn stats(&self) -> CacheStats {
        let sends = self
            .shared
            .workers()
            .into_iter()
            .map(|w| w.send(actor::Stats));
        let (l1, l2_entries) = tokio::join!(
            futures_util::future::join_all(sends),
            l2::count_entries(&self.shared.redis)
        );
        let l1 = l1
            .into_iter()
            .filter_map(Result::ok)
            .fold(L1Stats::default(), L1Stats::merge);
        let breaker = self.shared.redis.breaker_snapshot();
        CacheStats::new(
            l1,
            l2_entries.ok(),
            &self.shared.counters,
            BreakerStats {
                state: breaker.state.as_str(),
                transitions: breaker.transitions,
                opened: breaker.opened,
            },
        )
    }

    /// Start-up warming within `timeout` in all: first waits (at most half of it) for
    /// every worker's actor to register and for the first invalidation subscription,
    /// whose L1 clear would otherwise undo the warming, then warms.
    pub async fn warm_at_start(&self, count: u32, timeout: Duration, workers: usize) -> usize {
        let started = std::time::Instant::now();
        while started.elapsed() < timeout / 2
            && (self.worker_count() < workers
                || self.shared.counters.l1_clears.load(Ordering::Relaxed) == 0)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.warm(count, timeout.saturating_sub(started.elapsed()))
            .await
    }

    /// Preloads the most popular products, giving up after `timeout`.
    pub async fn warm(&self, count: u32, timeout: Duration) -> usize {
        match tokio::time::timeout(timeout, self.loader.send(Warm { count })).await {
            Ok(Ok(n)) => n,
            _ => 0,
        }
    }
}

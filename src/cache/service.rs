//! The cache as routes see it: read-through, invalidation, stats, warming.
//!
//! Invalidation lives in [`invalidation`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::actor::{self, CacheActor, Put};
use super::deferred::Pending;
use super::hooks::{Hooks, PausePoint};
use super::l1::Lookup;
use super::loader::{Load, Loader, Outcome, Warm};
use super::stats::{BreakerStats, CacheStats, Counters, L1Stats};
use super::{generation, l2, CacheError, CacheKey, Source, Target, Tier};
use crate::configuration::CacheSettings;
use crate::db::DbPool;
use crate::pubsub::Publisher;
use crate::redis_client::RedisClient;

mod invalidation;

pub use invalidation::Invalidated;

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
    /// The last count of L2 entries and when it was taken (see `Cache::stats`).
    l2_count: Mutex<Option<(Instant, Option<u64>)>>,
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
            l2_count: Mutex::new(None),
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
                        let hooks = &self.shared.hooks;
                        hooks.reach(PausePoint::BeforeL1Put, || key.name()).await;
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

    /// Counters of every tier, L1 merged over the workers. The L2 entry count is a SCAN
    /// of the prefix, which walks the whole keyspace of the Redis server (every key of
    /// every prefix, the limiter's included), so a count at most `count_age` old is
    /// reused: the snapshot published every second must not scan the keyspace every
    /// second on every instance.
    pub async fn stats(&self, count_age: Duration) -> CacheStats {
        let sends = self
            .shared
            .workers()
            .into_iter()
            .map(|w| w.send(actor::Stats));
        let (l1, l2_entries) = tokio::join!(
            futures_util::future::join_all(sends),
            self.l2_entries(count_age)
        );
        let l1 = l1
            .into_iter()
            .filter_map(Result::ok)
            .fold(L1Stats::default(), L1Stats::merge);
        let breaker = self.shared.redis.breaker_snapshot();
        CacheStats::new(
            l1,
            l2_entries,
            &self.shared.counters,
            BreakerStats {
                state: breaker.state.as_str(),
                transitions: breaker.transitions,
                opened: breaker.opened,
            },
        )
    }

    /// The number of L2 entries, counted afresh when the last count is older than
    /// `max_age` (`None`: Redis could not be asked). Counts that run at once may both
    /// scan; the memo only has to keep the steady rate down.
    async fn l2_entries(&self, max_age: Duration) -> Option<u64> {
        let memo = *self
            .shared
            .l2_count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, count)) = memo {
            if at.elapsed() < max_age {
                return count;
            }
        }
        let count = l2::count_entries(&self.shared.redis).await.ok();
        *self
            .shared
            .l2_count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), count));
        count
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

    /// Preloads the first list page of each category (the `categories` warming job).
    pub async fn warm_categories(&self, categories: Vec<String>) -> usize {
        super::warm::warm_categories(self.shared.clone(), categories).await
    }

    /// Preloads the most popular products, giving up after `timeout`.
    pub async fn warm(&self, count: u32, timeout: Duration) -> usize {
        match tokio::time::timeout(timeout, self.loader.send(Warm { count })).await {
            Ok(Ok(n)) => n,
            _ => 0,
        }
    }
}

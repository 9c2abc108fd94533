//! The cache actor: one per actix-web worker, started on the worker's own thread, sole
//! owner of that worker's L1. A handler's `Get` is answered on the same thread, so an L1
//! hit involves no lock and no cross-core hand-off (see `docs/architecture-cache.md`
//! for the measurement behind one-per-worker).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::entry::jittered;
use super::l1::{Lookup, L1};
use super::l2;
use super::loader::Refresh;
use super::service::Cache;
use super::stats::L1Stats;
use super::{CacheKey, Entry, Source, Target};

/// Messages queued per worker actor before senders wait.
const MAILBOX: usize = 4096;
/// How often counted product reads go to the popularity sorted set.
const POPULARITY_FLUSH: Duration = Duration::from_secs(1);

pub struct CacheActor {
    cache: Cache,
    l1: L1,
    l1_ttl: Duration,
    jitter: u8,
    hits: u64,
    misses: u64,
    stale: u64,
    /// Keys whose refresh was asked for and has not come back yet.
    refreshing: HashSet<CacheKey>,
    /// Product reads since the last flush.
    popularity: HashMap<i64, u32>,
}

impl CacheActor {
    pub fn new(cache: Cache, l1_max_bytes: u64) -> CacheActor {
        let settings = cache.settings();
        CacheActor {
            l1_ttl: Duration::from_secs(settings.l1_ttl_secs),
            jitter: settings.jitter_percent,
            cache,
            l1: L1::new(l1_max_bytes),
            hits: 0,
            misses: 0,
            stale: 0,
            refreshing: HashSet::new(),
            popularity: HashMap::new(),
        }
    }

    fn store(&self, key: CacheKey, entry: &Entry) {
        if !self.cache.settings().l1_enabled {
            return;
        }
        let now = Instant::now();
        let l1_entry = entry.for_l1(now, jittered(self.l1_ttl, self.jitter));
        self.l1.put(key, Arc::new(l1_entry));
    }

    fn flush_popularity(&mut self) {
        if self.popularity.is_empty() {
            return;
        }
        let counts: Vec<(i64, u32)> = self.popularity.drain().collect();
        let redis = self.cache.redis().clone();
        // Off the response path; a lost batch only makes warming slightly less exact.
        actix_rt::spawn(async move {
            let _ = l2::add_popularity(&redis, counts).await;
        });
    }
}

impl Actor for CacheActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        ctx.run_interval(POPULARITY_FLUSH, |actor, _| actor.flush_popularity());
    }
}

/// Look a key up in this worker's L1 (a stale hit also asks for one refresh).
#[derive(Message)]
#[rtype(result = "Lookup")]
pub struct Get(pub Source);

/// Store an entry loaded for this worker, unless an invalidation happened since `epoch`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Put {
    pub key: CacheKey,
    pub entry: Arc<Entry>,
    pub epoch: u64,
}

/// The outcome of a refresh this worker asked for (`entry` `None`: it failed, keep the
/// stale one, unless `gone`: the product no longer exists, drop it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Refreshed {
    pub key: CacheKey,
    pub entry: Option<Arc<Entry>>,
    pub gone: bool,
    pub epoch: u64,
}

/// Drop what the targets name from this L1; answers how many entries went.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Invalidate(pub Arc<[Target]>);

/// This worker's L1 counters and size.
#[derive(Message)]
#[rtype(result = "L1Stats")]
pub struct Stats;

impl Handler<Get> for CacheActor {
    type Result = MessageResult<Get>;

    fn handle(&mut self, Get(source): Get, ctx: &mut Self::Context) -> Self::Result {
        let key = source.key();
        if let CacheKey::Product(id) = key {
            *self.popularity.entry(id).or_default() += 1;
        }
        let lookup = self.l1.get(&key, Instant::now());
        match &lookup {
            Lookup::Fresh(_) => self.hits += 1,
            Lookup::Miss => self.misses += 1,
            Lookup::Stale(_) => {
                self.stale += 1;
                if self.refreshing.insert(key.clone()) {
                    let refresh = Refresh {
                        source,
                        epoch: self.cache.epoch(),
                        reply_to: ctx.address(),
                    };
                    // A full loader mailbox only delays the refresh to the next stale hit.
                    if self.cache.loader().try_send(refresh).is_err() {
                        self.refreshing.remove(&key);
                    }
                }
            }
        }
        MessageResult(lookup)
    }
}

impl Handler<Put> for CacheActor {
    type Result = ();

    fn handle(&mut self, msg: Put, _: &mut Self::Context) {
        if msg.epoch == self.cache.epoch() {
            self.store(msg.key, &msg.entry);
        }
    }
}

impl Handler<Refreshed> for CacheActor {
    type Result = ();

    fn handle(&mut self, msg: Refreshed, _: &mut Self::Context) {
        self.refreshing.remove(&msg.key);
        if msg.gone {
            // Whatever the epoch: a deleted product must never be served as STALE.
            self.l1.remove(&msg.key);
        } else if let Some(entry) = msg.entry {
            if msg.epoch == self.cache.epoch() {
                self.store(msg.key, &entry);
            }
        }
    }
}

impl Handler<Invalidate> for CacheActor {
    type Result = u64;

    fn handle(&mut self, Invalidate(targets): Invalidate, _: &mut Self::Context) -> u64 {
        self.refreshing.clear();
        self.l1.invalidate(&targets)
    }
}

impl Handler<Stats> for CacheActor {
    type Result = MessageResult<Stats>;

    fn handle(&mut self, _: Stats, _: &mut Self::Context) -> Self::Result {
        MessageResult(L1Stats::default().merge(L1Stats {
            hits: self.hits,
            misses: self.misses,
            stale: self.stale,
            evictions: self.l1.evictions(),
            entries: self.l1.entries(),
            bytes: self.l1.bytes(),
            workers: 1,
            ..L1Stats::default()
        }))
    }
}

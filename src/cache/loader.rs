//! The loader: one actor per instance that runs every L1 miss and refresh.
//!
//! Single-flight: concurrent loads of one key share one flight (one L2 read, at most
//! one database query); a load that has seen an invalidation the running flight has not
//! starts a new flight instead of joining it. Across instances a short Redis lock lets
//! one request per key go to PostgreSQL while the others wait briefly for its L2 fill.
//! Flights run as spawned tasks and report back with `Landed`, so the actor never
//! blocks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use super::actor::{CacheActor, Put, Refreshed};
use super::entry::{jittered, unix_ms, Entry, Freshness};
use super::service::Shared;
use super::stats::Counters;
use super::{l2, CacheError, CacheKey, Source, Tier};

/// Loads queued before senders wait.
const MAILBOX: usize = 4096;
/// While another instance holds the refresh lock: how often, and how many times, to
/// look for its fill in L2 before querying PostgreSQL anyway.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// What a load found.
#[derive(Debug, Clone)]
pub enum Outcome {
    Found { entry: Arc<Entry>, tier: Tier },
    NotFound,
}

type LoadResult = Result<Outcome, CacheError>;

/// Load a key through L2 and PostgreSQL (`epoch`: the invalidation epoch the caller saw).
#[derive(Message)]
#[rtype(result = "Result<Outcome, CacheError>")]
pub struct Load {
    pub source: Source,
    pub epoch: u64,
}

/// Refresh a stale key in the background and hand the result to `reply_to`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Refresh {
    pub source: Source,
    pub epoch: u64,
    pub reply_to: Addr<CacheActor>,
}

/// A flight has finished (sent by the flight's own task).
#[derive(Message)]
#[rtype(result = "()")]
struct Landed {
    key: CacheKey,
    flight: u64,
    result: LoadResult,
}

struct Flight {
    id: u64,
    epoch: u64,
    source: Source,
    refresh: bool,
    waiters: Vec<oneshot::Sender<LoadResult>>,
    refreshers: Vec<Addr<CacheActor>>,
}

pub struct Loader {
    shared: Arc<Shared>,
    next_flight: u64,
    flights: HashMap<CacheKey, Flight>,
    /// Flights replaced by a newer one after an invalidation, still owed to their
    /// waiters.
    superseded: HashMap<u64, Flight>,
}

impl Loader {
    pub fn new(shared: Arc<Shared>) -> Loader {
        Loader {
            shared,
            next_flight: 0,
            flights: HashMap::new(),
            superseded: HashMap::new(),
        }
    }

    /// Joins the key's flight when it is recent enough, or starts one.
    fn flight_for(
        &mut self,
        source: Source,
        seen_epoch: u64,
        refresh: bool,
        ctx: &mut Context<Self>,
    ) -> &mut Flight {
        let key = source.key();
        let joinable = self
            .flights
            .get(&key)
            .is_some_and(|f| f.epoch >= seen_epoch);
        if !joinable {
            self.next_flight += 1;
            let epoch = self.shared.epoch();
            let flight = Flight {
                id: self.next_flight,
                epoch,
                source: source.clone(),
                refresh,
                waiters: Vec::new(),
                refreshers: Vec::new(),
            };
            if let Some(old) = self.flights.insert(key.clone(), flight) {
                self.superseded.insert(old.id, old);
            }
            let (shared, me, id) = (self.shared.clone(), ctx.address(), self.next_flight);
            let key = key.clone();
            actix_rt::spawn(async move {
                let result = fetch(&shared, &source, epoch, refresh).await;
                // The actor only goes away with the system; nothing to deliver then.
                let _ = me
                    .send(Landed {
                        key,
                        flight: id,
                        result,
                    })
                    .await;
            });
        } else if !refresh {
            Counters::bump(&self.shared.counters.coalesced);
        }
        self.flights
            .get_mut(&key)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }
}

impl Actor for Loader {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

impl Handler<Load> for Loader {
    type Result = ResponseFuture<LoadResult>;

    fn handle(&mut self, msg: Load, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.flight_for(msg.source, msg.epoch, false, ctx)
            .waiters
            .push(tx);
        Box::pin(async move { rx.await.unwrap_or(Err(CacheError::ActorGone)) })
    }
}

impl Handler<Refresh> for Loader {
    type Result = ();

    fn handle(&mut self, msg: Refresh, ctx: &mut Self::Context) {
        self.flight_for(msg.source, msg.epoch, true, ctx)
            .refreshers
            .push(msg.reply_to);
    }
}

impl Handler<Landed> for Loader {
    type Result = ();

    fn handle(&mut self, msg: Landed, ctx: &mut Self::Context) {
        let flight = match self.flights.get(&msg.key) {
            Some(f) if f.id == msg.flight => self.flights.remove(&msg.key),
            _ => self.superseded.remove(&msg.flight),
        };
        let Some(flight) = flight else { return };
        let fresh = match &msg.result {
            Ok(Outcome::Found { entry, tier }) if *tier != Tier::Stale => Some(entry.clone()),
            _ => None,
        };
        for reply_to in flight.refreshers {
            let _ = reply_to.try_send(Refreshed {
                key: msg.key.clone(),
                entry: fresh.clone(),
                epoch: flight.epoch,
            });
        }
        for waiter in flight.waiters {
            let _ = waiter.send(msg.result.clone());
        }
        let served_stale_l2 = matches!(
            &msg.result,
            Ok(Outcome::Found {
                tier: Tier::Stale,
                ..
            })
        );
        if served_stale_l2 && !flight.refresh && !self.flights.contains_key(&msg.key) {
            // Waiters got the stale L2 entry; now one refresh replaces it.
            self.flight_for(flight.source, flight.epoch, true, ctx);
        }
    }
}

/// One flight: L2, then (under the cross-instance lock) PostgreSQL, filling L2.
/// `refresh` skips serving a stale L2 entry: the point is to replace it.
async fn fetch(shared: &Arc<Shared>, source: &Source, epoch: u64, refresh: bool) -> LoadResult {
    let key = source.key();
    let counters = &shared.counters;
    let mut stale = None;
    match l2::get(&shared.redis, &key).await {
        Ok(Some(entry)) => match entry.freshness(Instant::now()) {
            Freshness::Fresh => {
                Counters::bump(&counters.l2_hits);
                return found(entry, Tier::L2);
            }
            Freshness::Stale => stale = Some(entry),
            Freshness::Expired => Counters::bump(&counters.l2_misses),
        },
        Ok(None) => Counters::bump(&counters.l2_misses),
        Err(_) => Counters::bump(&counters.l2_errors),
    }
    if let (Some(entry), false) = (&stale, refresh) {
        // Served now; on landing the loader starts one refresh flight to replace it.
        Counters::bump(&counters.l2_stale);
        return found(entry.clone(), Tier::Stale);
    }
    let lock_ttl = Duration::from_millis(shared.settings.lock_ms);
    // Redis down: no lock to take; the per-instance single-flight still holds.
    let locked = l2::lock(&shared.redis, &key, lock_ttl)
        .await
        .unwrap_or(true);
    if !locked {
        if let Some(entry) = wait_for_fill(shared, &key, lock_ttl).await {
            Counters::bump(&counters.l2_hits);
            return found(entry, Tier::L2);
        }
    }
    let started_ms = unix_ms();
    Counters::bump(&counters.db_queries);
    let loaded = source.load(&shared.db).await;
    let result = match loaded {
        Ok(Some(loaded)) => {
            let now = Instant::now();
            let fresh_until =
                now + jittered(source.ttl(&shared.settings), shared.settings.jitter_percent);
            let entry = Entry {
                body: loaded.body,
                etag: loaded.etag,
                tags: loaded.tags,
                fresh_until,
                stale_until: fresh_until + shared.max_stale,
            };
            if shared.epoch() == epoch {
                let _ = l2::fill(&shared.redis, &key, &entry, started_ms).await;
            }
            found(entry, Tier::Miss)
        }
        Ok(None) => Ok(Outcome::NotFound),
        Err(e) => match stale {
            Some(entry) => found(entry, Tier::Stale),
            None => Err(e),
        },
    };
    if locked {
        let _ = l2::unlock(&shared.redis, &key).await;
    }
    result
}

/// Polls L2 while another instance holds the lock; the fresh entry if it appears.
async fn wait_for_fill(shared: &Shared, key: &CacheKey, lock_ttl: Duration) -> Option<Entry> {
    let deadline = Instant::now() + lock_ttl;
    while Instant::now() < deadline {
        tokio::time::sleep(LOCK_POLL).await;
        if let Ok(Some(entry)) = l2::get(&shared.redis, key).await {
            if entry.freshness(Instant::now()) == Freshness::Fresh {
                return Some(entry);
            }
        }
    }
    None
}

fn found(entry: Entry, tier: Tier) -> LoadResult {
    Ok(Outcome::Found {
        entry: Arc::new(entry),
        tier,
    })
}

/// Preload the `count` most popular products (or, with no popularity yet, the most
/// recently updated) into L2 and every worker's L1; answers how many were loaded.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Warm {
    pub count: u32,
}

/// Loads warmed concurrently, to bound start-up time without flooding the pool.
const WARM_CONCURRENCY: usize = 8;

impl Handler<Warm> for Loader {
    type Result = ResponseFuture<usize>;

    fn handle(&mut self, msg: Warm, _: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move { warm(shared, msg.count).await })
    }
}

async fn warm(shared: Arc<Shared>, count: u32) -> usize {
    use futures_util::StreamExt;
    if count == 0 {
        return 0;
    }
    let mut ids = l2::most_popular(&shared.redis, count)
        .await
        .unwrap_or_default();
    if ids.is_empty() {
        ids = match crate::db::pool::connection(&shared.db).await {
            Ok(mut conn) => {
                crate::db::products::recently_updated_active_ids(&mut conn, i64::from(count))
                    .await
                    .unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
    }
    let epoch = shared.epoch();
    let workers = shared.workers();
    futures_util::stream::iter(ids)
        .map(|id| {
            let shared = shared.clone();
            async move { (id, fetch(&shared, &Source::Product(id), epoch, false).await) }
        })
        .buffer_unordered(WARM_CONCURRENCY)
        .filter_map(|(id, result)| async move {
            match result {
                Ok(Outcome::Found { entry, tier }) if tier != Tier::Stale => Some((id, entry)),
                _ => None,
            }
        })
        .map(|(id, entry)| {
            for worker in &workers {
                let _ = worker.try_send(Put {
                    key: CacheKey::Product(id),
                    entry: entry.clone(),
                    epoch,
                });
            }
        })
        .count()
        .await
}

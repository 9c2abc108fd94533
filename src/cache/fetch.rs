//! One flight's work: L2, then (under the cross-instance lock) PostgreSQL, filling L2.
//!
//! The fill is guarded by a generation read from Redis before the database query
//! (`generation.rs`), and the query by a deadline, so a hung database cannot pin the
//! key's flight: past it, a stale entry answers, else `DbUnavailable` (503).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::entry::{jittered, Entry, Freshness};
use super::generation;
use super::hooks::PausePoint;
use super::loader::{LoadResult, Outcome};
use super::service::Shared;
use super::stats::Counters;
use super::{l2, CacheError, CacheKey, Source, Tier};
use crate::redis_client::RedisError;

/// While another instance holds the refresh lock: how often to look for its fill in L2
/// (until the lock's lifetime has passed, then PostgreSQL is queried anyway).
const LOCK_POLL: Duration = Duration::from_millis(20);

/// Runs one flight.
/// `refresh` skips serving a stale L2 entry: the point is to replace it.
pub async fn fetch(shared: &Arc<Shared>, source: &Source, epoch: u64, refresh: bool) -> LoadResult {
    let key = source.key();
    let counters = &shared.counters;
    let mut stale = None;
    if !shared.settings.l2_enabled {
        return load(shared, source, epoch, None).await;
    }
    match read_l2(shared, &key).await {
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
    let mut held = None;
    match l2::lock(&shared.redis, &key, lock_ttl).await {
        Ok(Some(token)) => held = Some(token),
        Ok(None) => match wait_for_fill(shared, &key, lock_ttl).await {
            Wait::Filled(entry) => {
                Counters::bump(&counters.l2_hits);
                return found(entry, Tier::L2);
            }
            Wait::OurTurn(token) => held = Some(token),
            Wait::GaveUp => {}
        },
        // Redis down: no lock to take; the per-instance single-flight still holds.
        Err(_) => {}
    }
    let result = load(shared, source, epoch, stale).await;
    if let Some(token) = held {
        let _ = l2::unlock(&shared.redis, &key, token).await;
    }
    result
}

/// Queries PostgreSQL (within the load deadline) and fills L2; on a database failure
/// falls back to `stale`.
async fn load(shared: &Shared, source: &Source, epoch: u64, stale: Option<Entry>) -> LoadResult {
    let key = source.key();
    // Before the query: any invalidation after this point makes the fill refuse.
    let snapshot = if shared.settings.l2_enabled {
        generation::snapshot(&shared.redis).await.ok()
    } else {
        None
    };
    Counters::bump(&shared.counters.db_queries);
    let loaded = tokio::time::timeout(shared.load_deadline, source.load(&shared.db))
        .await
        .unwrap_or_else(|_| Err(CacheError::DbUnavailable("load deadline passed".into())));
    match loaded {
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
                generation: snapshot.map_or(0, |s| s.seq),
            };
            if let (Some(snapshot), true) = (snapshot, shared.epoch() == epoch) {
                shared
                    .hooks
                    .reach(PausePoint::BeforeL2Fill, || key.name())
                    .await;
                let _ = l2::fill(&shared.redis, &key, &entry, snapshot, shared.marker_ttl).await;
            }
            found(entry, Tier::Miss)
        }
        Ok(None) => {
            if stale.is_some() {
                // The stale copy in L2 is of a product now gone: nobody may serve it.
                let _ = l2::remove(&shared.redis, &key).await;
            }
            Ok(Outcome::NotFound)
        }
        Err(e) => match stale {
            Some(entry) => found(entry, Tier::Stale),
            None => Err(e),
        },
    }
}

/// An L2 read, skipped (a miss) while an invalidation of the key or of one of its tags
/// waits to reach Redis: until then L2 may still hold the value it drops.
async fn read_l2(shared: &Shared, key: &CacheKey) -> Result<Option<Entry>, RedisError> {
    let entry = l2::get(&shared.redis, key).await?;
    Ok(entry.filter(|e| !shared.invalidation_pending(key, &e.tags)))
}

/// How a wait for another flight's fill ended.
enum Wait {
    /// Its fresh entry appeared in L2.
    Filled(Entry),
    /// It let go of the lock without a fill, and this flight took the lock.
    OurTurn(l2::LockToken),
    /// The lock's lifetime passed, or Redis stopped answering: load without the lock.
    GaveUp,
}

/// Polls L2 while another flight (of any instance) holds the lock. A holder can let go
/// without filling L2: an invalidation after its generation snapshot refuses its fill
/// (the common case: a stale entry's refresh crossing a write), or its load failed.
/// Waiting out the lock's lifetime then would hold every reader of the key for
/// `cache.lock_ms` (measured: about 515 ms after such a write, docs/PERFORMANCE.md), so
/// each poll also tries to take the lock over.
async fn wait_for_fill(shared: &Shared, key: &CacheKey, lock_ttl: Duration) -> Wait {
    let deadline = Instant::now() + lock_ttl;
    while Instant::now() < deadline {
        tokio::time::sleep(LOCK_POLL).await;
        if let Ok(Some(entry)) = read_l2(shared, key).await {
            if entry.freshness(Instant::now()) == Freshness::Fresh {
                return Wait::Filled(entry);
            }
        }
        match l2::lock(&shared.redis, key, lock_ttl).await {
            Ok(Some(token)) => return Wait::OurTurn(token),
            Ok(None) => {}
            Err(_) => return Wait::GaveUp,
        }
    }
    Wait::GaveUp
}

fn found(entry: Entry, tier: Tier) -> LoadResult {
    Ok(Outcome::Found {
        entry: Arc::new(entry),
        tier,
    })
}

//! L1: one worker's in-process cache, a moka cache bounded by bytes (a weigher counts
//! body + key + bookkeeping) with TinyLFU admission and LRU eviction, and a per-entry
//! expiry at the end of the entry's stale window.
//!
//! Invalidation by tag or pattern walks the entries: writes are rare next to reads, one
//! worker's L1 is a few thousand entries, and a walk keeps no tag index to maintain on
//! every fill and eviction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

use super::entry::{Entry, Freshness};
use super::keys::{glob_match, CacheKey};
use super::Target;

/// Bytes counted per entry on top of its body and key: the `Entry`, the `Arc`s and
/// moka's own node.
const OVERHEAD_BYTES: usize = 256;

/// What a lookup found.
#[derive(Debug, Clone)]
pub enum Lookup {
    Fresh(Arc<Entry>),
    Stale(Arc<Entry>),
    Miss,
}

pub struct L1 {
    cache: Cache<CacheKey, Arc<Entry>>,
    evictions: Arc<AtomicU64>,
}

struct UntilStale;

impl Expiry<CacheKey, Arc<Entry>> for UntilStale {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Arc<Entry>,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(value.stale_until.saturating_duration_since(created_at))
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Arc<Entry>,
        updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.stale_until.saturating_duration_since(updated_at))
    }
}

impl L1 {
    pub fn new(max_bytes: u64) -> L1 {
        let evictions = Arc::new(AtomicU64::new(0));
        let counter = evictions.clone();
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &CacheKey, value: &Arc<Entry>| {
                let key_len = match key {
                    CacheKey::Product(_) => 8,
                    CacheKey::List(q) => q.len(),
                };
                u32::try_from(value.body.len() + key_len + OVERHEAD_BYTES).unwrap_or(u32::MAX)
            })
            .expire_after(UntilStale)
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        L1 { cache, evictions }
    }

    pub fn get(&self, key: &CacheKey, now: Instant) -> Lookup {
        match self.cache.get(key) {
            Some(entry) => match entry.freshness(now) {
                Freshness::Fresh => Lookup::Fresh(entry),
                Freshness::Stale => Lookup::Stale(entry),
                Freshness::Expired => Lookup::Miss,
            },
            None => Lookup::Miss,
        }
    }

    pub fn put(&self, key: CacheKey, entry: Arc<Entry>) {
        self.cache.insert(key, entry);
    }

    pub fn remove(&self, key: &CacheKey) {
        self.cache.invalidate(key);
    }

    /// Drops what the targets name; returns how many entries went.
    pub fn invalidate(&self, targets: &[Target]) -> u64 {
        targets.iter().map(|t| self.invalidate_one(t)).sum()
    }

    fn invalidate_one(&self, target: &Target) -> u64 {
        match target {
            Target::All => self.clear(),
            Target::Key(name) => self.remove_where(|k, _| k.name() == *name),
            Target::Tag(tag) => self.remove_where(|_, v| v.tags.iter().any(|t| t == tag)),
            Target::Pattern(p) => self.remove_where(|k, _| glob_match(p, &k.name())),
        }
    }

    fn remove_where(&self, doomed: impl Fn(&CacheKey, &Entry) -> bool) -> u64 {
        let keys: Vec<Arc<CacheKey>> = self
            .cache
            .iter()
            .filter(|(k, v)| doomed(k, v))
            .map(|(k, _)| k)
            .collect();
        for key in &keys {
            self.cache.invalidate(&**key);
        }
        keys.len() as u64
    }

    /// Drops everything; returns how many entries there were.
    pub fn clear(&self) -> u64 {
        let n = self.cache.iter().count() as u64;
        self.cache.invalidate_all();
        n
    }

    pub fn entries(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    pub fn bytes(&self) -> u64 {
        self.cache.weighted_size()
    }

    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;
    use bytes::Bytes;

    fn entry(tags: &[&str], fresh: Duration, stale: Duration) -> Arc<Entry> {
        let now = Instant::now();
        Arc::new(Entry {
            body: Bytes::from_static(b"{}"),
            etag: HeaderValue::from_static("\"e\""),
            tags: tags
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .into(),
            fresh_until: now + fresh,
            stale_until: now + stale,
            generation: 0,
        })
    }

    #[test]
    fn tags_patterns_and_keys_drop_only_what_they_name() {
        let l1 = L1::new(1 << 20);
        let long = Duration::from_secs(60);
        l1.put(
            CacheKey::Product(1),
            entry(&["product:1", "category:a"], long, long),
        );
        l1.put(
            CacheKey::Product(2),
            entry(&["product:2", "category:b"], long, long),
        );
        l1.put(
            CacheKey::List("page=1".into()),
            entry(&["products:list"], long, long),
        );
        let now = Instant::now();
        assert_eq!(l1.invalidate(&[Target::Tag("category:a".into())]), 1);
        assert!(matches!(l1.get(&CacheKey::Product(1), now), Lookup::Miss));
        assert!(matches!(
            l1.get(&CacheKey::Product(2), now),
            Lookup::Fresh(_)
        ));
        assert_eq!(
            l1.invalidate(&[Target::Pattern("products:list:*".into())]),
            1
        );
        assert_eq!(l1.invalidate(&[Target::Key("products:2".into())]), 1);
        assert_eq!(l1.entries(), 0);
    }

    #[test]
    fn stale_entries_read_as_stale() {
        let l1 = L1::new(1 << 20);
        l1.put(
            CacheKey::Product(1),
            entry(&[], Duration::ZERO, Duration::from_secs(60)),
        );
        assert!(matches!(
            l1.get(&CacheKey::Product(1), Instant::now()),
            Lookup::Stale(_)
        ));
    }

    #[test]
    fn bounded_by_bytes() {
        let l1 = L1::new(64 * 1024);
        let long = Duration::from_secs(60);
        for id in 0..10_000 {
            l1.put(CacheKey::Product(id), entry(&[], long, long));
        }
        l1.entries();
        assert!(l1.bytes() <= 64 * 1024, "{}", l1.bytes());
    }
}

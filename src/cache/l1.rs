//! L1: one worker's in-process cache, a moka cache bounded by bytes (a weigher counts
//! body + key + bookkeeping) with TinyLFU admission and LRU eviction, and a per-entry
//! expiry at the end of the entry's stale window.
//!
//! A key's invalidation drops that key, a tag's drops the keys a tag index lists
//! (`tag_index.rs`): a product write costs each worker a few map operations however
//! full its L1 is. Only an admin's pattern walks the entries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

use super::entry::{Entry, Freshness};
use super::keys::{glob_match, CacheKey};
use super::tag_index::TagIndex;
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
    // Shared with the removal listener, which runs on this worker's thread inside the
    // cache's own calls: never held across a call into `cache`.
    index: Arc<Mutex<TagIndex>>,
    evictions: Arc<AtomicU64>,
    /// Entries looked at by invalidations, all kinds together.
    examined: AtomicU64,
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
        let index = Arc::new(Mutex::new(TagIndex::default()));
        let listed = index.clone();
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
            .eviction_listener(move |key, value, cause| {
                if cause == RemovalCause::Size {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                lock(&listed).remove(&key, &value);
            })
            .build();
        L1 {
            cache,
            index,
            evictions,
            examined: AtomicU64::new(0),
        }
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
        lock(&self.index).insert(&key, &entry);
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
            Target::Key(name) => match CacheKey::from_name(name) {
                Some(key) => {
                    self.examined.fetch_add(1, Ordering::Relaxed);
                    u64::from(self.cache.remove(&key).is_some())
                }
                None => 0,
            },
            Target::Tag(tag) => self.remove_tagged(tag),
            Target::Pattern(p) => self.remove_where(|k, _| glob_match(p, &k.name())),
        }
    }

    fn remove_tagged(&self, tag: &str) -> u64 {
        let keys = lock(&self.index).take(tag);
        self.examined
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        let mut removed = 0;
        for key in keys {
            // A listing can outlive its entry until the entry's removal notice runs.
            let tagged = self
                .cache
                .get(&key)
                .is_some_and(|entry| entry.tags.iter().any(|t| t == tag));
            if tagged {
                self.cache.invalidate(&key);
                removed += 1;
            }
        }
        removed
    }

    fn remove_where(&self, doomed: impl Fn(&CacheKey, &Entry) -> bool) -> u64 {
        let keys: Vec<Arc<CacheKey>> = self
            .cache
            .iter()
            .inspect(|_| {
                self.examined.fetch_add(1, Ordering::Relaxed);
            })
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
        lock(&self.index).clear();
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

    /// Entries invalidations have looked at so far.
    pub fn examined(&self) -> u64 {
        self.examined.load(Ordering::Relaxed)
    }

    /// Tag memberships the index holds (they leave with their entries).
    pub fn listed(&self) -> usize {
        self.cache.run_pending_tasks();
        lock(&self.index).memberships()
    }
}

fn lock(index: &Mutex<TagIndex>) -> MutexGuard<'_, TagIndex> {
    index.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tags: &[&str], fresh: Duration, stale: Duration) -> Arc<Entry> {
        Arc::new(Entry::for_tests(tags, fresh, stale))
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
    fn a_key_or_a_tag_invalidation_looks_only_at_its_own_entries() {
        let l1 = L1::new(1 << 30);
        let long = Duration::from_secs(60);
        for id in 0..10_000 {
            let tags = [format!("product:{id}"), format!("category:{}", id % 20)];
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            l1.put(CacheKey::Product(id), entry(&tags, long, long));
        }
        assert_eq!(l1.invalidate(&[Target::Key("products:5".into())]), 1);
        assert_eq!(l1.examined(), 1);
        assert_eq!(l1.invalidate(&[Target::Tag("category:3".into())]), 500);
        assert_eq!(l1.examined(), 501);
        assert_eq!(l1.invalidate(&[Target::Tag("product:5".into())]), 0);
        assert_eq!(l1.invalidate(&[Target::Key("products:005".into())]), 0);
        assert_eq!(l1.examined(), 501);
        assert_eq!(l1.entries(), 10_000 - 1 - 500);
        assert!(matches!(
            l1.get(&CacheKey::Product(3), Instant::now()),
            Lookup::Miss
        ));
        assert!(matches!(
            l1.get(&CacheKey::Product(4), Instant::now()),
            Lookup::Fresh(_)
        ));
    }

    #[test]
    fn a_replaced_entry_is_found_by_its_new_tags_only() {
        let l1 = L1::new(1 << 20);
        let long = Duration::from_secs(60);
        let key = CacheKey::Product(1);
        l1.put(key.clone(), entry(&["product:1", "category:a"], long, long));
        l1.put(key.clone(), entry(&["product:1", "category:b"], long, long));
        assert_eq!(l1.invalidate(&[Target::Tag("category:a".into())]), 0);
        assert_eq!(l1.listed(), 2);
        assert_eq!(l1.invalidate(&[Target::Tag("category:b".into())]), 1);
        assert_eq!(l1.listed(), 0);
    }

    #[test]
    fn the_tag_index_lets_go_of_evicted_expired_and_cleared_entries() {
        // Evicted: a 64 KiB L1 keeps a few hundred of 10,000 entries.
        let l1 = L1::new(64 * 1024);
        let long = Duration::from_secs(60);
        for id in 0..10_000 {
            l1.put(
                CacheKey::Product(id),
                entry(&["products:list:any"], long, long),
            );
        }
        let entries = l1.entries();
        assert!(entries < 1_000, "{entries}");
        assert_eq!(l1.listed() as u64, entries);

        // Expired.
        let l1 = L1::new(1 << 20);
        let short = Duration::from_millis(20);
        for id in 0..100 {
            l1.put(CacheKey::Product(id), entry(&["x", "y"], short, short));
        }
        // The cache drops expired entries when its timer wheel passes them (about a
        // second's granularity), so wait for that, within a bound.
        let deadline = Instant::now() + Duration::from_secs(5);
        while l1.listed() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(l1.listed(), 0);

        // Cleared, then filled again: only the new entries are listed.
        let l1 = L1::new(1 << 20);
        for id in 0..100 {
            l1.put(CacheKey::Product(id), entry(&["x"], long, long));
        }
        assert_eq!(l1.invalidate(&[Target::All]), 100);
        l1.put(CacheKey::Product(1), entry(&["x"], long, long));
        assert_eq!(l1.listed(), 1);
        assert_eq!(l1.invalidate(&[Target::Tag("x".into())]), 1);
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

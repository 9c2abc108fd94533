//! Which L1 keys carry each tag, so that invalidating a tag visits only its own entries
//! instead of walking the whole L1 (a full walk cost about 20 ms per write on a worker
//! holding 10,000 products, during which that worker answered nothing:
//! docs/PERFORMANCE.md, "Invalidation with a full L1").
//!
//! Each membership records which entry put it there (the entry's address): when an
//! entry leaves L1 (replaced, expired, evicted, invalidated) its memberships go only if
//! they are still its own, so a late notice about an old entry never unlists the new
//! entry of the same key. An address cannot be reused while the entry it names is
//! alive, and L1 keeps a removed entry alive until its removal notice has run.

use std::collections::HashMap;
use std::sync::Arc;

use super::keys::CacheKey;
use super::Entry;

/// An entry's identity: the address of its allocation.
pub type EntryId = usize;

pub fn entry_id(entry: &Arc<Entry>) -> EntryId {
    Arc::as_ptr(entry) as EntryId
}

#[derive(Debug, Default)]
pub struct TagIndex {
    by_tag: HashMap<String, HashMap<CacheKey, EntryId>>,
}

impl TagIndex {
    /// Lists `key` under each of the entry's tags (replacing an older entry's listing).
    pub fn insert(&mut self, key: &CacheKey, entry: &Arc<Entry>) {
        let id = entry_id(entry);
        for tag in entry.tags.iter() {
            match self.by_tag.get_mut(tag.as_str()) {
                Some(keys) => {
                    keys.insert(key.clone(), id);
                }
                None => {
                    self.by_tag
                        .insert(tag.clone(), HashMap::from([(key.clone(), id)]));
                }
            }
        }
    }

    /// Unlists an entry that left L1, where its listing is still its own.
    pub fn remove(&mut self, key: &CacheKey, entry: &Arc<Entry>) {
        let id = entry_id(entry);
        for tag in entry.tags.iter() {
            if let Some(keys) = self.by_tag.get_mut(tag.as_str()) {
                if keys.get(key) == Some(&id) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.by_tag.remove(tag.as_str());
                    }
                }
            }
        }
    }

    /// Takes every key listed under `tag` (the caller drops them from L1).
    pub fn take(&mut self, tag: &str) -> Vec<CacheKey> {
        self.by_tag
            .remove(tag)
            .map(|keys| keys.into_keys().collect())
            .unwrap_or_default()
    }

    pub fn clear(&mut self) {
        self.by_tag.clear();
    }

    /// Memberships held, all tags together.
    pub fn memberships(&self) -> usize {
        self.by_tag.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(tags: &[&str]) -> Arc<Entry> {
        Arc::new(Entry::for_tests(tags, Duration::ZERO, Duration::ZERO))
    }

    #[test]
    fn a_tag_gives_exactly_its_keys() {
        let mut index = TagIndex::default();
        index.insert(&CacheKey::Product(1), &entry(&["product:1", "category:a"]));
        index.insert(&CacheKey::Product(2), &entry(&["product:2", "category:a"]));
        index.insert(&CacheKey::Product(3), &entry(&["product:3", "category:b"]));
        let mut keys = index.take("category:a");
        keys.sort_by_key(CacheKey::name);
        assert_eq!(keys, [CacheKey::Product(1), CacheKey::Product(2)]);
        assert!(index.take("category:a").is_empty());
        assert_eq!(index.take("product:3"), [CacheKey::Product(3)]);
    }

    #[test]
    fn a_late_notice_about_an_old_entry_keeps_the_new_entrys_listing() {
        let mut index = TagIndex::default();
        let key = CacheKey::Product(1);
        let old = entry(&["product:1", "category:a"]);
        let new = entry(&["product:1", "category:b"]);
        index.insert(&key, &old);
        index.insert(&key, &new);
        // The old entry's removal notice arrives after the new entry was listed.
        index.remove(&key, &old);
        assert_eq!(index.take("product:1"), std::slice::from_ref(&key));
        assert_eq!(index.take("category:b"), std::slice::from_ref(&key));
        // Its own tag that the new entry does not carry is gone with it.
        assert!(index.take("category:a").is_empty());
    }

    #[test]
    fn removing_every_entry_leaves_nothing_behind() {
        let mut index = TagIndex::default();
        let entries: Vec<_> = (0..100)
            .map(|id| (CacheKey::Product(id), entry(&["products:list:any", "x"])))
            .collect();
        for (key, e) in &entries {
            index.insert(key, e);
        }
        assert_eq!(index.memberships(), 200);
        for (key, e) in &entries {
            index.remove(key, e);
        }
        assert_eq!(index.memberships(), 0);
        assert!(index.by_tag.is_empty());
    }
}

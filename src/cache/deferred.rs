//! Invalidations that could not reach Redis (L2 or the bus) yet: kept, bounded, retried
//! by `Cache::retry_deferred`, and consulted by L2 reads, which must not use an entry
//! such an invalidation will drop.

use super::keys::glob_match;
use super::{CacheKey, Target};

/// Targets kept for retry; past this, everything is invalidated instead once Redis is
/// back.
const MAX_PENDING: usize = 1000;

/// The invalidations waiting for Redis.
#[derive(Debug, Default)]
pub struct Pending {
    targets: Vec<Target>,
    overflow: bool,
}

impl Pending {
    /// Keeps `targets` for retry (all of them become "everything" past the bound).
    pub fn defer(&mut self, targets: &[Target]) {
        if self.targets.len() + targets.len() > MAX_PENDING {
            self.overflow = true;
            self.targets.clear();
        } else if !self.overflow {
            self.targets.extend_from_slice(targets);
        }
    }

    /// Takes everything out for a retry.
    pub fn take(&mut self) -> Vec<Target> {
        let pending = std::mem::take(self);
        if pending.overflow {
            vec![Target::All]
        } else {
            pending.targets
        }
    }

    /// Whether a pending invalidation covers the key or one of its entry's tags.
    pub fn affects(&self, key: &CacheKey, tags: &[String]) -> bool {
        if self.overflow {
            return true;
        }
        if self.targets.is_empty() {
            return false;
        }
        let name = key.name();
        self.targets.iter().any(|target| match target {
            Target::All => true,
            Target::Key(k) => *k == name,
            Target::Tag(t) => tags.contains(t),
            Target::Pattern(p) => glob_match(p, &name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_targets_cover_their_keys_and_tags_only() {
        let mut pending = Pending::default();
        let key = CacheKey::Product(1);
        let tags = ["product:1".to_string(), "category:a".to_string()];
        assert!(!pending.affects(&key, &tags));
        pending.defer(&[Target::Tag("category:b".into())]);
        assert!(!pending.affects(&key, &tags));
        pending.defer(&[Target::Pattern("products:?".into())]);
        assert!(pending.affects(&key, &tags));
        assert_eq!(pending.take().len(), 2);
        assert!(!pending.affects(&key, &tags));
        pending.defer(&[Target::Tag("category:a".into())]);
        assert!(pending.affects(&key, &tags));
    }

    #[test]
    fn past_the_bound_everything_is_pending() {
        let mut pending = Pending::default();
        let many: Vec<Target> = (0..=MAX_PENDING)
            .map(|i| Target::Key(format!("products:{i}")))
            .collect();
        pending.defer(&many);
        assert!(pending.affects(&CacheKey::Product(123_456), &[]));
        assert_eq!(pending.take(), vec![Target::All]);
    }
}

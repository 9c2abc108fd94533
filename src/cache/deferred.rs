//! Invalidations that could not reach Redis (L2 or the bus) yet: kept, bounded, retried
//! by `Cache::retry_deferred`, and consulted by L2 reads, which must not use an entry
//! such an invalidation will drop.

use super::keys::glob_match;
use super::{CacheKey, Target};

/// Targets kept for retry; past this, everything is invalidated instead once Redis is
/// back.
const MAX_PENDING: usize = 1000;

/// The invalidations waiting for Redis. They stay here (and keep L2 closed for what
/// they cover) until a retry has fully gone through, not just until one starts.
#[derive(Debug, Default)]
pub struct Pending {
    targets: Vec<Target>,
    overflow: bool,
    /// Counts `defer` calls, so a retry knows whether more came in meanwhile.
    deferrals: u64,
}

impl Pending {
    /// Keeps `targets` for retry (all of them become "everything" past the bound).
    pub fn defer(&mut self, targets: &[Target]) {
        self.deferrals += 1;
        if self.targets.len() + targets.len() > MAX_PENDING {
            self.overflow = true;
            self.targets.clear();
        } else if !self.overflow {
            self.targets.extend_from_slice(targets);
        }
    }

    /// What a retry should do, and a mark to hand back to [`Pending::done`].
    pub fn to_retry(&self) -> (Vec<Target>, u64) {
        let targets = if self.overflow {
            vec![Target::All]
        } else {
            self.targets.clone()
        };
        (targets, self.deferrals)
    }

    /// A retry started at `mark` went through: forget it, unless more was deferred
    /// since (then everything stays for the next retry; doing a target twice is
    /// harmless).
    pub fn done(&mut self, mark: u64) {
        if self.deferrals == mark {
            self.targets.clear();
            self.overflow = false;
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
        let (targets, mark) = pending.to_retry();
        assert_eq!(targets.len(), 2);
        assert!(
            pending.affects(&key, &tags),
            "pending until the retry is done"
        );
        pending.done(mark);
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
        let (targets, mark) = pending.to_retry();
        assert_eq!(targets, vec![Target::All]);
        pending.defer(&[Target::Key("products:1".into())]);
        pending.done(mark);
        assert!(
            pending.affects(&CacheKey::Product(7), &[]),
            "deferred during the retry: kept"
        );
    }
}

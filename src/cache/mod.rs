//! The two-level cache of product responses.
//!
//! - [`actor::CacheActor`]: one per actix-web worker thread, owns that worker's L1
//!   ([`l1`]); handlers on the worker ask it with `Get`/`Put` without leaving the thread.
//! - [`loader::Loader`]: one per instance, runs every miss: single-flight per key; each
//!   flight ([`fetch`]) reads L2 ([`l2`], Redis), takes a short Redis lock across
//!   instances, then queries PostgreSQL ([`source`]), filling L2 upward. Fills are
//!   guarded so one that began before an invalidation is never stored. It also runs
//!   [`warm`]ing.
//! - [`service::Cache`]: the handle routes use: read-through, invalidation (L2, then
//!   every local L1, then a published event), stats, warming.
//! - [`keys`]: key names, tags, globs; [`entry`]: the cached response and its encoding;
//!   [`stats`]: counters and the metrics document; [`generation`]: the Redis-side
//!   guard of fills and reads; [`deferred`]: invalidations waiting for Redis.

pub mod actor;
pub mod deferred;
pub mod entry;
pub mod fetch;
pub mod generation;
#[doc(hidden)]
pub mod hooks;
pub mod keys;
pub mod l1;
pub mod l2;
pub mod loader;
pub mod service;
pub mod source;
pub mod stats;
pub mod tag_index;
pub mod warm;

use serde::{Deserialize, Serialize};

pub use entry::Entry;
pub use keys::CacheKey;
pub use service::{Cache, Invalidated, WorkerCache};
pub use source::Source;

/// What to invalidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// One key by name, e.g. `products:7`.
    Key(String),
    /// Every entry carrying the tag.
    Tag(String),
    /// Every key matching the glob (inside the prefix).
    Pattern(String),
    /// Everything.
    All,
}

/// Where a response came from, as `X-Cache` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    L1,
    L2,
    Miss,
    Stale,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "HIT-L1",
            Tier::L2 => "HIT-L2",
            Tier::Miss => "MISS",
            Tier::Stale => "STALE",
        }
    }
}

/// A failure of the cache layer (cloneable: one result goes to every coalesced waiter).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    #[error("database unavailable: {0}")]
    DbUnavailable(String),
    #[error("database query failed: {0}")]
    DbQuery(String),
    #[error("cache actor unavailable")]
    ActorGone,
}

impl From<crate::db::DbError> for CacheError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Unavailable(s) => CacheError::DbUnavailable(s),
            crate::db::DbError::Query(e) => CacheError::DbQuery(e.to_string()),
        }
    }
}

impl From<actix::MailboxError> for CacheError {
    fn from(_: actix::MailboxError) -> Self {
        CacheError::ActorGone
    }
}

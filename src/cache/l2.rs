//! L2: entries in Redis, shared by every instance.
//!
//! Layout (all under the configured prefix, through `Keyspace`):
//! - `cache:{name}`: the encoded entry (carrying the generation it was loaded under),
//!   expiring at the end of its stale window;
//! - `gen:*`: the invalidation generations that guard fills and reads (see
//!   [`super::generation`]); there are no tag member sets: a tag's invalidation hides its
//!   entries through `gen:tag:{tag}` and they expire on their own;
//! - `lock:{name}`: the short cross-instance lock letting one request refresh a key.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use redis::Script;

use super::entry::Entry;
use super::generation::{self, Snapshot};
use super::keys::CacheKey;
use super::Target;
use crate::redis_client::{Keyspace, RedisClient, RedisError};

/// Keys per SCAN step and per DEL.
const SCAN_BATCH: usize = 500;

pub(super) fn entry_key(ks: &Keyspace, name: &str) -> String {
    ks.key(&format!("cache:{name}"))
}

/// Reads an entry (fresh or stale); `None` when absent, unreadable, or invalidated
/// after it was loaded (the script then deletes it).
pub async fn get(redis: &RedisClient, key: &CacheKey) -> Result<Option<Entry>, RedisError> {
    let invocation = generation::guarded_get(redis.keyspace(), &key.name());
    let raw: Option<Vec<u8>> = redis
        .run(|mut c| async move { invocation.invoke_async(&mut c).await })
        .await?;
    Ok(raw.and_then(|raw| Entry::decode(&raw, Instant::now())))
}

/// Writes an entry loaded after `snapshot` unless an invalidation of its key, one of its
/// tags, a pattern, or everything has happened since. Returns whether it was written.
pub async fn fill(
    redis: &RedisClient,
    key: &CacheKey,
    entry: &Entry,
    snapshot: Snapshot,
    max_age: Duration,
) -> Result<bool, RedisError> {
    let now = Instant::now();
    let ttl_ms = entry.stale_until.saturating_duration_since(now).as_millis() as u64;
    if ttl_ms == 0 {
        return Ok(false);
    }
    let payload = entry.encode(now);
    let invocation = generation::guarded_fill(
        redis.keyspace(),
        &key.name(),
        &entry.tags,
        payload,
        ttl_ms,
        snapshot,
        max_age,
    );
    let written: i64 = redis
        .run(|mut c| async move { invocation.invoke_async(&mut c).await })
        .await?;
    Ok(written == 1)
}

/// Deletes one entry outright (a refresh found its product gone). Always safe: a delete
/// can only make a reader go to PostgreSQL.
pub async fn remove(redis: &RedisClient, key: &CacheKey) -> Result<u64, RedisError> {
    delete(redis, vec![entry_key(redis.keyspace(), &key.name())]).await
}

/// Invalidates the targets in L2: one generation for all of them (with the keys'
/// deletes, in one script and one round trip), then, for a pattern or everything,
/// SCAN-deletes the matching entries in batches (the generation already keeps in-flight
/// fills out). A tag's entries are hidden by its generation at once and expire on their
/// own: they are not counted.
pub async fn invalidate(
    redis: &RedisClient,
    targets: &[Target],
    marker_ttl: Duration,
) -> Result<u64, RedisError> {
    let ks = redis.keyspace();
    let mut deleted = generation::invalidate(redis, targets, marker_ttl).await?;
    for target in targets {
        match target {
            Target::Pattern(pattern) => {
                deleted += delete_matching(redis, &ks.pattern(&format!("cache:{pattern}"))).await?;
            }
            Target::All => deleted += delete_matching(redis, &ks.pattern("cache:*")).await?,
            Target::Key(_) | Target::Tag(_) => {}
        }
    }
    Ok(deleted)
}

pub(super) async fn delete(redis: &RedisClient, keys: Vec<String>) -> Result<u64, RedisError> {
    if keys.is_empty() {
        return Ok(0);
    }
    redis
        .run(|mut c| async move { redis::cmd("DEL").arg(keys).query_async(&mut c).await })
        .await
}

/// One `SCAN` step (never `KEYS`): the next cursor and a batch of matching keys.
async fn scan_step(
    redis: &RedisClient,
    pattern: &str,
    cursor: u64,
) -> Result<(u64, Vec<String>), RedisError> {
    let pattern = pattern.to_string();
    redis
        .run(|mut c| async move {
            redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH)
                .query_async(&mut c)
                .await
        })
        .await
}

/// SCAN (never KEYS) for the prefixed pattern, deleting each batch.
pub(super) async fn delete_matching(redis: &RedisClient, pattern: &str) -> Result<u64, RedisError> {
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys) = scan_step(redis, pattern, cursor).await?;
        deleted += delete(redis, keys).await?;
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// SCAN steps the metrics spend counting entries: past this the count is a lower bound.
const COUNT_STEPS: usize = 100;

/// The number of entries under `{prefix}cache:` (at most `COUNT_STEPS` SCAN steps).
pub async fn count_entries(redis: &RedisClient) -> Result<u64, RedisError> {
    let pattern = redis.keyspace().pattern("cache:*");
    let mut cursor: u64 = 0;
    let mut count = 0;
    for _ in 0..COUNT_STEPS {
        let (next, keys) = scan_step(redis, &pattern, cursor).await?;
        count += keys.len() as u64;
        if next == 0 {
            break;
        }
        cursor = next;
    }
    Ok(count)
}

/// Who holds a key's refresh lock: a random value only its taker knows.
pub type LockToken = u64;

/// Lets go of a lock only while it is still the caller's: a holder whose lock outlived
/// `lock_ms` (a slow load) must not delete the lock a waiter took over meanwhile.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end \
         return 0",
    )
});

fn lock_key(redis: &RedisClient, key: &CacheKey) -> String {
    redis.keyspace().key(&format!("lock:{}", key.name()))
}

/// Takes the refresh lock for a key; its token when this caller got it.
pub async fn lock(
    redis: &RedisClient,
    key: &CacheKey,
    ttl: Duration,
) -> Result<Option<LockToken>, RedisError> {
    let k = lock_key(redis, key);
    let token: LockToken = rand::random();
    let ms = ttl.as_millis() as u64;
    let reply: Option<String> = redis
        .run(|mut c| async move {
            redis::cmd("SET")
                .arg(k)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .query_async(&mut c)
                .await
        })
        .await?;
    Ok(reply.map(|_| token))
}

/// Lets go of the lock `token` took, if it is still held by it.
pub async fn unlock(
    redis: &RedisClient,
    key: &CacheKey,
    token: LockToken,
) -> Result<(), RedisError> {
    let k = lock_key(redis, key);
    redis
        .run(|mut c| async move { UNLOCK.key(k).arg(token).invoke_async::<i64>(&mut c).await })
        .await
        .map(|_| ())
}

/// Counts one read of a product in the popularity sorted set (batched by the caller).
pub async fn add_popularity(
    redis: &RedisClient,
    counts: Vec<(i64, u32)>,
) -> Result<(), RedisError> {
    let k = redis.keyspace().key("products:popularity");
    let mut pipe = redis::pipe();
    for (id, n) in counts {
        pipe.cmd("ZINCRBY").arg(&k).arg(n).arg(id).ignore();
    }
    redis
        .run(|mut c| async move { pipe.query_async::<()>(&mut c).await })
        .await
}

/// The most read product ids, most popular first.
pub async fn most_popular(redis: &RedisClient, count: u32) -> Result<Vec<i64>, RedisError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let k = redis.keyspace().key("products:popularity");
    let stop = i64::from(count) - 1;
    redis
        .run(|mut c| async move {
            redis::cmd("ZREVRANGE")
                .arg(k)
                .arg(0)
                .arg(stop)
                .query_async(&mut c)
                .await
        })
        .await
}

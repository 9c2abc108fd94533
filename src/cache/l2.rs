//! L2: entries in Redis, shared by every instance.
//!
//! Layout (all under the configured prefix, through `Keyspace`):
//! - `cache:{name}`: the encoded entry, expiring at the end of its stale window;
//! - `tag:{tag}`: a set of the entry keys carrying the tag, so tag invalidation reaches
//!   entries other instances wrote;
//! - `tomb:key:{name}`, `tomb:tag:{tag}`, `tomb:all`: the time (Unix ms) of the last
//!   invalidation. A fill that started before it is refused (by a Lua script, atomically
//!   with the write), so a miss that read the old row cannot put it back afterwards;
//! - `lock:{name}`: the short cross-instance lock letting one request refresh a key.

use std::time::{Duration, Instant};

use redis::Script;

use super::entry::{unix_ms, Entry};
use super::keys::CacheKey;
use super::Target;
use crate::redis_client::{Keyspace, RedisClient, RedisError};

/// How long an invalidation's tombstone outlives it: longer than any fill can take
/// (pool wait and query are bounded by the database timeouts).
const TOMBSTONE_MS: u64 = 30_000;
/// Keys per SCAN step and per DEL.
const SCAN_BATCH: usize = 500;

/// KEYS: entry, then `n` tombstones, then tag sets; ARGV: payload, ttl ms, fill start
/// ms, n, entry key, number of tag sets.
const FILL_SCRIPT: &str = r"
local n = tonumber(ARGV[4])
for i = 2, 1 + n do
  local t = redis.call('GET', KEYS[i])
  if t and tonumber(t) >= tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local ttl = tonumber(ARGV[2])
for i = 2 + n, 1 + n + tonumber(ARGV[6]) do
  redis.call('SADD', KEYS[i], ARGV[5])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
";

fn entry_key(ks: &Keyspace, name: &str) -> String {
    ks.key(&format!("cache:{name}"))
}

/// Reads an entry (fresh or stale); `None` when absent or unreadable.
pub async fn get(redis: &RedisClient, key: &CacheKey) -> Result<Option<Entry>, RedisError> {
    let k = entry_key(redis.keyspace(), &key.name());
    let raw: Option<Vec<u8>> = redis
        .run(|mut c| async move { redis::cmd("GET").arg(k).query_async(&mut c).await })
        .await?;
    Ok(raw.and_then(|raw| Entry::decode(&raw, Instant::now())))
}

/// Writes an entry unless an invalidation of its key, one of its tags, or everything
/// happened at or after `started_ms`. Returns whether it was written.
pub async fn fill(
    redis: &RedisClient,
    key: &CacheKey,
    entry: &Entry,
    started_ms: u64,
) -> Result<bool, RedisError> {
    let ks = redis.keyspace();
    let name = key.name();
    let now = Instant::now();
    let ttl_ms = entry.stale_until.saturating_duration_since(now).as_millis() as u64;
    if ttl_ms == 0 {
        return Ok(false);
    }
    let entry_key = entry_key(ks, &name);
    let mut tombstones = vec![ks.key(&format!("tomb:key:{name}")), ks.key("tomb:all")];
    tombstones.extend(entry.tags.iter().map(|t| ks.key(&format!("tomb:tag:{t}"))));
    let tag_sets: Vec<String> = entry
        .tags
        .iter()
        .map(|t| ks.key(&format!("tag:{t}")))
        .collect();
    let script = Script::new(FILL_SCRIPT);
    let mut invocation = script.prepare_invoke();
    invocation
        .key(&entry_key)
        .key(&tombstones)
        .key(&tag_sets)
        .arg(entry.encode(now))
        .arg(ttl_ms)
        .arg(started_ms)
        .arg(tombstones.len())
        .arg(&entry_key)
        .arg(tag_sets.len());
    let written: i64 = redis
        .run(|mut c| async move { invocation.invoke_async(&mut c).await })
        .await?;
    Ok(written == 1)
}

/// Deletes what the targets name and leaves tombstones; returns the entries deleted.
pub async fn invalidate(redis: &RedisClient, targets: &[Target]) -> Result<u64, RedisError> {
    let ks = redis.keyspace();
    let now = unix_ms().to_string();
    let mut deleted = 0;
    for target in targets {
        let tombstone = match target {
            Target::Key(name) => {
                deleted += delete(redis, vec![entry_key(ks, name)]).await?;
                ks.key(&format!("tomb:key:{name}"))
            }
            Target::Tag(tag) => {
                let set = ks.key(&format!("tag:{tag}"));
                let query = set.clone();
                let members: Vec<String> = redis
                    .run(|mut c| async move {
                        redis::cmd("SMEMBERS").arg(query).query_async(&mut c).await
                    })
                    .await?;
                for chunk in members.chunks(SCAN_BATCH) {
                    deleted += delete(redis, chunk.to_vec()).await?;
                }
                delete(redis, vec![set]).await?;
                ks.key(&format!("tomb:tag:{tag}"))
            }
            Target::Pattern(pattern) => {
                deleted += delete_matching(redis, &ks.pattern(&format!("cache:{pattern}"))).await?;
                ks.key("tomb:all")
            }
            Target::All => {
                deleted += delete_matching(redis, &ks.pattern("cache:*")).await?;
                delete_matching(redis, &ks.pattern("tag:*")).await?;
                ks.key("tomb:all")
            }
        };
        let value = now.clone();
        redis
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(tombstone)
                    .arg(value)
                    .arg("PX")
                    .arg(TOMBSTONE_MS)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await?;
    }
    Ok(deleted)
}

async fn delete(redis: &RedisClient, keys: Vec<String>) -> Result<u64, RedisError> {
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
async fn delete_matching(redis: &RedisClient, pattern: &str) -> Result<u64, RedisError> {
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

/// Takes the refresh lock for a key; `true` when this caller got it.
pub async fn lock(redis: &RedisClient, key: &CacheKey, ttl: Duration) -> Result<bool, RedisError> {
    let k = redis.keyspace().key(&format!("lock:{}", key.name()));
    let ms = ttl.as_millis() as u64;
    let reply: Option<String> = redis
        .run(|mut c| async move {
            redis::cmd("SET")
                .arg(k)
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .query_async(&mut c)
                .await
        })
        .await?;
    Ok(reply.is_some())
}

pub async fn unlock(redis: &RedisClient, key: &CacheKey) -> Result<(), RedisError> {
    let k = redis.keyspace().key(&format!("lock:{}", key.name()));
    delete(redis, vec![k]).await.map(|_| ())
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

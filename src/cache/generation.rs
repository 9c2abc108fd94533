//! Invalidation generations in Redis: the guard that keeps an invalidated value from
//! being written back to L2 or read from it (the proof is in
//! `docs/architecture-cache.md`, "What invalidation guarantees").
//!
//! - `gen:seq`: the last generation handed out. Each invalidation takes the next one as
//!   `max(seq + 1, Redis TIME in µs)`, so it only ever grows, even if the key is lost,
//!   and only Redis's own clock is involved, never an instance's.
//! - `gen:key:{name}`, `gen:tag:{tag}`, `gen:all`, `gen:pattern`: the generation of the
//!   last invalidation of that key, tag, of everything, of any pattern. They live
//!   `marker_ttl` (longer than any entry can), set in the same script as the key's
//!   delete, so guard and delete are one atomic step.
//! - A fill reads `gen:seq` (and Redis's time) *before* its database query, and its
//!   write script refuses if any marker of its key, its tags, `all` or `pattern` is newer,
//!   or if the snapshot is older than the markers live.
//! - An entry carries the generation it was loaded under; the read script hides (and
//!   deletes) an entry older than its key's, one of its tags' or `all`'s marker. So a tag
//!   needs no member set: invalidating it is one `SET`, however many entries carry it.
//!
//! Redis Cluster: the scripts touch only keys under the prefix; giving the prefix a hash
//! tag (`cc:{cache}:`) puts them all in one slot. The read script builds tag marker names
//! from the entry (not declared in `KEYS`), which a cluster tolerates only within one
//! slot: the same hash tag covers it.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{Script, ScriptInvocation};

use super::l2::entry_key;
use super::Target;
use crate::configuration::CacheSettings;
use crate::redis_client::{Keyspace, RedisClient, RedisError};

/// What a fill saw before its database query: the generation, and Redis's time (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub seq: u64,
    pub time_ms: u64,
}

const SNAPSHOT: &str = r"
local t = redis.call('TIME')
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
return {seq, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)}
";

/// KEYS: seq, the M markers, then entries to delete with them. ARGV: marker ttl ms, M.
/// One generation for all of a write's targets, set with their deletes in one step.
const INVALIDATE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = math.max(tonumber(redis.call('GET', KEYS[1]) or '0') + 1, now)
local s = string.format('%.0f', n)
redis.call('SET', KEYS[1], s)
local markers = tonumber(ARGV[2])
for i = 2, markers + 1 do redis.call('SET', KEYS[i], s, 'PX', ARGV[1]) end
local deleted = 0
for i = markers + 2, #KEYS do deleted = deleted + redis.call('DEL', KEYS[i]) end
return deleted
";

/// KEYS: entry, then every marker that must not be newer than the snapshot.
/// ARGV: payload, ttl ms, snapshot seq, snapshot time ms, max snapshot age ms.
const FILL: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now - tonumber(ARGV[4]) >= tonumber(ARGV[5]) then return 0 end
local snap = tonumber(ARGV[3])
for i = 2, #KEYS do
  local g = redis.call('GET', KEYS[i])
  if g and tonumber(g) > snap then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// KEYS: entry, `gen:all`, `gen:key:{name}`. ARGV: the tag marker prefix.
const GET: &str = r"
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local nl = string.find(raw, '\n', 1, true)
if not nl then return raw end
local ok, h = pcall(cjson.decode, string.sub(raw, 1, nl - 1))
if not ok or type(h) ~= 'table' then return raw end
local g = tonumber(h.g) or 0
local function newer(k)
  local v = redis.call('GET', k)
  return v and tonumber(v) > g
end
local hidden = newer(KEYS[2]) or newer(KEYS[3])
if not hidden and type(h.t) == 'table' then
  for _, tag in ipairs(h.t) do
    if newer(ARGV[1] .. tag) then hidden = true break end
  end
end
if hidden then
  redis.call('DEL', KEYS[1])
  return false
end
return raw
";

static SNAPSHOT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SNAPSHOT));
static INVALIDATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(INVALIDATE));
static FILL_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(FILL));
static GET_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GET));

/// How long markers live: longer than any entry can live in L2 (the longest TTL with
/// its jitter, plus the stale window), plus a minute. An entry older than a marker is
/// therefore always still covered by it, and a fill whose snapshot is older is refused.
pub fn marker_ttl(settings: &CacheSettings) -> Duration {
    let longest = settings.item_ttl_secs.max(settings.list_ttl_secs);
    let jittered = longest + longest * u64::from(settings.jitter_percent) / 100 + 1;
    Duration::from_secs(jittered + settings.max_stale_secs + 60)
}

fn marker(ks: &Keyspace, target: &Target) -> String {
    match target {
        Target::Key(name) => ks.key(&format!("gen:key:{name}")),
        Target::Tag(tag) => ks.key(&format!("gen:tag:{tag}")),
        Target::Pattern(_) => ks.key("gen:pattern"),
        Target::All => ks.key("gen:all"),
    }
}

/// Reads the current generation and Redis's time, before a fill's database query.
pub async fn snapshot(redis: &RedisClient) -> Result<Snapshot, RedisError> {
    let seq_key = redis.keyspace().key("gen:seq");
    let (seq, time_ms): (u64, u64) = redis
        .run(|mut c| async move { SNAPSHOT_SCRIPT.key(seq_key).invoke_async(&mut c).await })
        .await?;
    Ok(Snapshot { seq, time_ms })
}

/// Takes one new generation for all the targets (a write's key and tags go together:
/// one round trip, one atomic step) and, in the same script, deletes the entries of the
/// targets that name one key; answers how many entries went.
pub async fn invalidate(
    redis: &RedisClient,
    targets: &[Target],
    marker_ttl: Duration,
) -> Result<u64, RedisError> {
    if targets.is_empty() {
        return Ok(0);
    }
    let ks = redis.keyspace();
    let mut invocation = INVALIDATE_SCRIPT.prepare_invoke();
    invocation
        .key(ks.key("gen:seq"))
        .arg(marker_ttl.as_millis() as u64)
        .arg(targets.len());
    for target in targets {
        invocation.key(marker(ks, target));
    }
    for target in targets {
        if let Target::Key(name) = target {
            invocation.key(entry_key(ks, name));
        }
    }
    redis
        .run(|mut c| async move { invocation.invoke_async(&mut c).await })
        .await
}

/// The fill's write, refused when the snapshot is too old or any guarding marker is
/// newer than it.
pub fn guarded_fill(
    ks: &Keyspace,
    name: &str,
    tags: &[String],
    payload: Vec<u8>,
    ttl_ms: u64,
    snapshot: Snapshot,
    max_age: Duration,
) -> ScriptInvocation<'static> {
    let mut invocation = FILL_SCRIPT.prepare_invoke();
    invocation
        .key(entry_key(ks, name))
        .key(marker(ks, &Target::All))
        .key(marker(ks, &Target::Pattern(String::new())))
        .key(marker(ks, &Target::Key(name.to_string())));
    for tag in tags {
        invocation.key(marker(ks, &Target::Tag(tag.clone())));
    }
    invocation
        .arg(payload)
        .arg(ttl_ms)
        .arg(snapshot.seq)
        .arg(snapshot.time_ms)
        .arg(max_age.as_millis() as u64);
    invocation
}

/// The read: the entry unless an invalidation of its key, a tag or everything is newer.
pub fn guarded_get(ks: &Keyspace, name: &str) -> ScriptInvocation<'static> {
    let mut invocation = GET_SCRIPT.prepare_invoke();
    invocation
        .key(entry_key(ks, name))
        .key(marker(ks, &Target::All))
        .key(marker(ks, &Target::Key(name.to_string())))
        .arg(ks.key("gen:tag:"));
    invocation
}

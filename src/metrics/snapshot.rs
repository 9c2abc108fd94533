//! One instance's figures: the document of `GET /admin/metrics/cache`, also what the
//! instance publishes for `GET /admin/metrics/cluster` and what `/metrics` is refreshed
//! from at scrape time.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use super::queues::QueueFigures;
use crate::cache::stats::CacheStats;
use crate::redis_client::info::RedisMemory;
use crate::state::AppState;
use crate::ws::hub::HubStats;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisMetrics {
    pub connected: bool,
    #[schema(value_type = Object)]
    pub memory: RedisMemory,
    /// `keyspace_hits` of `INFO stats` (server-wide, since Redis started; 0 when
    /// Redis is unreachable).
    pub keyspace_hits: u64,
    /// `keyspace_misses` of `INFO stats`.
    pub keyspace_misses: u64,
}

/// Product events this instance could not publish (Redis unreachable): their writes
/// committed, but live clients missed them and must resync.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductEventMetrics {
    pub publish_failures: u64,
}

/// The rate limiter's decisions since start-up (all 0 while it is switched off).
#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimiterMetrics {
    /// Checks that let the request through (fallback answers included).
    pub allowed: u64,
    /// Requests answered 429.
    pub limited: u64,
    /// Checks the fallback answered because Redis could not be asked.
    pub fallback: u64,
}

/// This instance's WebSocket hub.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketMetrics {
    /// Open connections now.
    pub connections: u64,
    /// (connection, topic) subscriptions now.
    pub subscriptions: u64,
    /// Clients closed (1013) because they could not keep up, since start-up.
    pub closed_slow: u64,
    /// Open connections of each hub shard (one shard per worker thread, each serving the
    /// sockets its worker accepted): how evenly the workers share them.
    pub connections_per_shard: Vec<u64>,
}

/// The HTTP requests this instance has answered since it started.
#[derive(Debug, Serialize, ToSchema)]
pub struct HttpMetrics {
    pub requests: u64,
}

/// Which instance this is.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceMetrics {
    pub id: String,
    pub uptime_seconds: u64,
    pub version: String,
}

/// `{"cache":{...},"redis":{...},"productEvents":{...},"rateLimiter":{...},
/// "websocket":{...},"instance":{...},"http":{...},"queues":{...}}`
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheMetrics {
    #[schema(value_type = Object)]
    pub cache: CacheStats,
    pub redis: RedisMetrics,
    pub product_events: ProductEventMetrics,
    pub rate_limiter: RateLimiterMetrics,
    pub websocket: WebSocketMetrics,
    pub instance: InstanceMetrics,
    pub http: HttpMetrics,
    /// Per queue name: `{"depths":{state: n},"outcomes":{outcome: n}}`.
    #[schema(value_type = Object)]
    pub queues: BTreeMap<String, QueueFigures>,
}

/// How old an L2 entry count the published snapshot (every second) and a Prometheus
/// scrape may reuse: counting is a SCAN that walks the Redis server's whole keyspace.
/// `GET /admin/metrics/cache` counts afresh.
pub const L2_COUNT_MAX_AGE: Duration = Duration::from_secs(30);

/// Gathers the instance's figures; Redis, the hub and the queues are asked at once. The
/// L2 entry count may be up to `l2_count_age` old.
pub async fn collect(state: &AppState, l2_count_age: Duration) -> CacheMetrics {
    let (cache, info, shards, queues) = tokio::join!(
        state.cache.stats(l2_count_age),
        state.redis.info(),
        state.ws_hub.stats(),
        state.queues.queue_stats(),
    );
    let redis = match info {
        Ok((memory, keyspace)) => RedisMetrics {
            connected: true,
            memory,
            keyspace_hits: keyspace.hits,
            keyspace_misses: keyspace.misses,
        },
        Err(_) => RedisMetrics {
            connected: false,
            memory: RedisMemory::default(),
            keyspace_hits: 0,
            keyspace_misses: 0,
        },
    };
    // Summed over the shards that answer (a stopped one, at shutdown, has nothing
    // connected).
    let hub = HubStats::sum(&shards);
    CacheMetrics {
        cache,
        redis,
        product_events: ProductEventMetrics {
            publish_failures: state.products.publish_failures(),
        },
        rate_limiter: rate_limiter(state),
        websocket: WebSocketMetrics {
            connections: hub.connections,
            subscriptions: hub.subscriptions,
            closed_slow: hub.closed_slow,
            connections_per_shard: shards.iter().map(|s| s.connections).collect(),
        },
        http: HttpMetrics {
            requests: state.instance.requests(),
        },
        instance: InstanceMetrics {
            id: state.instance.id.clone(),
            uptime_seconds: state.instance.uptime_seconds(),
            version: state.instance.version.to_string(),
        },
        queues,
    }
}

fn rate_limiter(state: &AppState) -> RateLimiterMetrics {
    let Some(limit) = &state.rate_limit else {
        return RateLimiterMetrics {
            allowed: 0,
            limited: 0,
            fallback: 0,
        };
    };
    let stats = &limit.stats;
    RateLimiterMetrics {
        allowed: stats.allowed.load(Ordering::Relaxed),
        limited: stats.rejected.load(Ordering::Relaxed),
        fallback: stats.fallbacks.load(Ordering::Relaxed),
    }
}

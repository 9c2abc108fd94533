//! The figures Prometheus reads at scrape time (`GET /metrics`), copied from what the
//! instance already counts (the cache's counters, the breaker, the limiter, the hub, the
//! pool, the queues), so the hot paths carry no second set of counters. The series are
//! described in `prometheus`.

use ::metrics::{counter, gauge};
use metrics_exporter_prometheus::PrometheusHandle;

use super::snapshot::{self, CacheMetrics};
use crate::state::AppState;

/// The text exposition after bringing the scrape-time series up to date.
pub async fn render(state: &AppState, handle: &PrometheusHandle) -> String {
    let snapshot = snapshot::collect(state, snapshot::L2_COUNT_MAX_AGE).await;
    refresh(state, &snapshot);
    handle.render()
}

/// Copies what the instance counts anyway into the recorder.
fn refresh(state: &AppState, s: &CacheMetrics) {
    let cache = &s.cache;
    for (tier, result, value) in [
        ("l1", "hit", cache.l1.hits),
        ("l1", "miss", cache.l1.misses),
        ("l1", "stale", cache.l1.stale),
        ("l2", "hit", cache.l2.hits),
        ("l2", "miss", cache.l2.misses),
        ("l2", "stale", cache.l2.stale),
        ("l2", "error", cache.l2.errors),
    ] {
        counter!("cache_requests_total", "tier" => tier, "result" => result).absolute(value);
    }
    counter!("cache_coalesced_loads_total").absolute(cache.coalesced);
    counter!("cache_db_loads_total").absolute(cache.db_queries);
    gauge!("cache_l1_bytes").set(cache.l1.bytes as f64);
    gauge!("cache_l1_entries").set(cache.l1.entries as f64);
    for state_name in ["closed", "open", "half_open"] {
        let on = f64::from(u8::from(cache.breaker.state == state_name));
        gauge!("redis_breaker_state", "state" => state_name).set(on);
    }
    counter!("redis_breaker_opened_total").absolute(cache.breaker.opened);
    gauge!("redis_connected").set(f64::from(u8::from(s.redis.connected)));
    if s.redis.connected {
        gauge!("redis_used_memory_bytes").set(s.redis.memory.used_memory as f64);
        counter!("redis_evicted_keys_total").absolute(s.redis.memory.evicted_keys);
    }
    counter!("rate_limiter_checks_total", "result" => "allowed").absolute(s.rate_limiter.allowed);
    counter!("rate_limiter_checks_total", "result" => "limited").absolute(s.rate_limiter.limited);
    counter!("rate_limiter_fallbacks_total").absolute(s.rate_limiter.fallback);
    gauge!("websocket_connections").set(s.websocket.connections as f64);
    gauge!("websocket_subscriptions").set(s.websocket.subscriptions as f64);
    counter!("websocket_closed_slow_total").absolute(s.websocket.closed_slow);
    let pool = state.db.status();
    gauge!("db_pool_connections_in_use").set(pool.size.saturating_sub(pool.available) as f64);
    gauge!("db_pool_waiting").set(pool.waiting as f64);
    gauge!("db_pool_size").set(pool.size as f64);
    gauge!("db_pool_max_size").set(pool.max_size as f64);
    for (queue, figures) in &s.queues {
        for (state_name, depth) in &figures.depths {
            let labels = [("queue", queue.clone()), ("state", state_name.clone())];
            gauge!("queue_jobs", &labels).set(*depth as f64);
        }
        for (outcome, count) in &figures.outcomes {
            let labels = [("queue", queue.clone()), ("outcome", outcome.clone())];
            counter!("queue_job_outcomes_total", &labels).absolute(*count);
        }
    }
    let info = [
        ("id", s.instance.id.clone()),
        ("version", s.instance.version.clone()),
    ];
    gauge!("instance_info", &info).set(1.0);
    gauge!("instance_uptime_seconds").set(s.instance.uptime_seconds as f64);
}

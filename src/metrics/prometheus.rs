//! The Prometheus side: the recorder (`metrics-exporter-prometheus`), the series names
//! and the events recorded as they happen. The figures read at scrape time are
//! `scrape`'s: it reads the instance's state, which this module (called from the Redis
//! client and the middleware, below that state) must not.
//!
//! Recorded as they happen (on the request path, a few atomic adds):
//! `http_requests_total` and `http_request_duration_seconds` (`method`, `route`,
//! `status`), `redis_command_duration_seconds` (`outcome`), and
//! `rate_limited_requests_total` (`policy`).
//!
//! Read at scrape time from what the instance already counts: see `super::scrape`.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, histogram};
use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const HTTP_REQUESTS: &str = "http_requests_total";
const HTTP_DURATION: &str = "http_request_duration_seconds";
const REDIS_DURATION: &str = "redis_command_duration_seconds";
const RATE_LIMITED: &str = "rate_limited_requests_total";

/// Seconds; requests from a cached read (sub-millisecond) to a slow database load.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Seconds; a Redis command is bounded by `redis.timeout_ms` (50 ms by default).
const REDIS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];
/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's handle, once installed; a mutex so two instances starting at once in
/// one process (tests) install one recorder.
static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the process's recorder on first call (later calls, from further instances
/// in one test process, share it), describes the series, and starts the upkeep thread.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let mut installed = HANDLE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), HTTP_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(REDIS_DURATION.into()), REDIS_BUCKETS))
        .context("Prometheus histogram buckets")?
        .build_recorder();
    let handle = recorder.handle();
    ::metrics::set_global_recorder(recorder)
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    describe();
    let upkeep = handle.clone();
    // Histogram samples wait in a buffer until folded in; without scrapes that buffer
    // would grow, so fold it in on a timer. A thread: the recorder outlives any runtime.
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        })
        .context("starting the metrics upkeep thread")?;
    *installed = Some(handle.clone());
    Ok(handle)
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by route pattern, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        ::metrics::Unit::Seconds,
        "HTTP request latency"
    );
    describe_histogram!(
        REDIS_DURATION,
        ::metrics::Unit::Seconds,
        "Redis command latency (commands that reached a connection)"
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests answered 429, by the policy that refused them"
    );
    describe_counter!(
        "cache_requests_total",
        "Cache lookups by tier (l1, l2) and result (hit, miss, stale, error)"
    );
    describe_counter!(
        "cache_coalesced_loads_total",
        "Cache misses that waited for another request's load (single flight)"
    );
    describe_counter!(
        "cache_db_loads_total",
        "Cache loads that queried PostgreSQL"
    );
    describe_gauge!(
        "cache_l1_bytes",
        ::metrics::Unit::Bytes,
        "Response bytes held in L1"
    );
    describe_gauge!("cache_l1_entries", "Entries held in L1");
    describe_gauge!(
        "redis_breaker_state",
        "1 for the Redis circuit breaker's current state (closed, open, half_open)"
    );
    describe_counter!(
        "redis_breaker_opened_total",
        "Times the Redis circuit breaker opened"
    );
    describe_gauge!(
        "redis_connected",
        "1 when Redis answered INFO at the last scrape"
    );
    describe_gauge!(
        "redis_used_memory_bytes",
        ::metrics::Unit::Bytes,
        "Redis used_memory"
    );
    describe_counter!("redis_evicted_keys_total", "Redis evicted_keys");
    describe_counter!(
        "rate_limiter_checks_total",
        "Rate-limit checks by result (allowed, limited)"
    );
    describe_counter!(
        "rate_limiter_fallbacks_total",
        "Rate-limit checks answered by the fallback (Redis unreachable)"
    );
    describe_gauge!("websocket_connections", "Open WebSocket connections");
    describe_gauge!(
        "websocket_subscriptions",
        "WebSocket (connection, topic) subscriptions"
    );
    describe_counter!(
        "websocket_closed_slow_total",
        "WebSocket clients closed because they could not keep up"
    );
    describe_gauge!(
        "db_pool_connections_in_use",
        "PostgreSQL pool connections handed out"
    );
    describe_gauge!(
        "db_pool_waiting",
        "Requests waiting for a PostgreSQL pool connection"
    );
    describe_gauge!("db_pool_size", "PostgreSQL pool connections open");
    describe_gauge!("db_pool_max_size", "PostgreSQL pool bound");
    describe_gauge!(
        "queue_jobs",
        "Jobs per queue and state (from the job queues' hook)"
    );
    describe_counter!(
        "queue_job_outcomes_total",
        "Finished jobs per queue and outcome (from the job queues' hook)"
    );
    describe_gauge!(
        "instance_info",
        "1, labelled with this instance's id and version"
    );
    describe_gauge!(
        "instance_uptime_seconds",
        ::metrics::Unit::Seconds,
        "Seconds since this instance started"
    );
}

/// Methods a route can have; anything else is `other`, so the label stays bounded.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// One answered HTTP request.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method_label(method).to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    counter!(HTTP_REQUESTS, &labels).increment(1);
    histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// One Redis command or pipeline that reached a connection.
pub fn redis_command(elapsed: Duration, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    histogram!(REDIS_DURATION, "outcome" => outcome).record(elapsed.as_secs_f64());
}

/// A request answered 429 because of `policy`.
pub fn rate_limited(policy: &str) {
    counter!(RATE_LIMITED, "policy" => policy.to_string()).increment(1);
}

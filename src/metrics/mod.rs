//! What an operator watches: the instance snapshot (`GET /admin/metrics/cache`), the
//! deployment's snapshots (`GET /admin/metrics/cluster`) and Prometheus (`GET /metrics`).
//!
//! - `instance`: this instance's id, start time and version.
//! - `snapshot`: the JSON document of one instance, gathered from the cache, Redis, the
//!   rate limiter, the WebSocket hub and the job queues.
//! - `queues`: the seam through which the job queues report their figures.
//! - `cluster`: each instance publishes its snapshot to Redis every second with a short
//!   TTL; the live ones are read back from an index, never by scanning the keyspace.
//! - `prometheus`: the recorder, metric names, and the events recorded as they happen.
//! - `scrape`: what `GET /metrics` reads from the instance's state at scrape time.
//! - `http`: the middleware counting requests by route pattern, method and status.
//! - `access`: who may read `/metrics` (allowed networks, or the admin token).
//!
//! The `metrics` crate records into one recorder per process (its macros reach a global),
//! so two instances started in one test process share their Prometheus series; each
//! real deployment runs one instance per process.

pub mod access;
pub mod cluster;
pub mod http;
pub mod instance;
pub mod prometheus;
pub mod queues;
pub mod scrape;
pub mod snapshot;

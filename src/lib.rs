//! catalog-cache: a product catalogue API whose reads go through a two-level cache.
//!
//! Layout:
//! - `configuration`, `telemetry`, `startup`, `cli`: settings, logs, wiring, commands.
//! - `routes/`: HTTP handlers, one file per resource; `middleware/`: one per file.
//! - `domain/`: what the API speaks (products, prices, list queries) and its validation.
//! - `db/`: the PostgreSQL pool, migrations, models and queries; `schema.rs` is generated.
//! - `redis_client`: the shared Redis connection, the key prefix every key carries, and
//!   the circuit breaker in front of every command.
//! - `cache/`: the two-level cache (per-worker L1 actors, the loader, L2 in Redis);
//!   `pubsub/`: invalidation and product events between instances (offsets and history
//!   in Redis); `catalog`: product reads through the cache and the invalidations product
//!   writes need; `products/`: the product write use case (commit, invalidate, publish).
//! - `auth/`: accounts, password hashes, sessions; `cart/`: the cart's rules and storage.
//! - `ratelimit/`: the sliding-window limiter actor, its policies and headers.
//! - `origin`: whether a browser request comes from the service's own pages (`/ws`,
//!   the CSRF rule).
//! - `metrics/`: the instance snapshot, the cluster's snapshots in Redis, Prometheus.
//! - `jobs/`: durable Redis job queues behind one scheduler actor per instance (retries,
//!   delays, cron, stalled-job recovery, the outbox relay), and the email and cache
//!   warming jobs.
//! - `ws/`: `GET /ws`, the WebSocket hub actor and one task per connection.
//! - `error`: the HTTP error type and the one place errors become responses.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod cache;
pub mod cart;
pub mod catalog;
pub mod cli;
pub mod configuration;
pub mod db;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod middleware;
pub mod origin;
pub mod products;
pub mod pubsub;
pub mod ratelimit;
pub mod redis_client;
pub mod routes;
pub mod schema;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod ws;

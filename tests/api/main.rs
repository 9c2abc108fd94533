//! Black-box tests over real HTTP, PostgreSQL and Redis: one test binary.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod auth;
mod auth_hashing;
mod cache;
mod cache_admin;
mod cache_bounds;
mod cache_deferred;
mod cache_faults;
mod cache_instances;
mod cache_l2;
mod cache_races;
mod cart;
mod cli;
mod dashboard;
mod db_faults;
mod errors;
mod health;
mod helpers;
mod metrics;
mod openapi;
mod parsers;
mod private_redis;
mod product_events;
mod product_history;
mod products;
mod pubsub_liveness;
mod rate_limit;
mod redis_recovery;
mod relay;
mod sessions;
mod websocket;
mod websocket_limits;
mod websocket_recovery;

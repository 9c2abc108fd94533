//! Black-box tests over real HTTP, PostgreSQL and Redis: one test binary.

mod auth;
mod cart;
mod cli;
mod errors;
mod health;
mod helpers;
mod openapi;
mod products;
mod rate_limit;

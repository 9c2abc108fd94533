//! PostgreSQL: the connection pool, migrations, models and queries.
//!
//! Queries are plain functions over `&mut AsyncPgConnection` returning `DbResult`; a
//! missing row is an `Option`, never an error, so each caller names what was not found.

pub mod migrate;
pub mod models;
pub mod pool;
pub mod products;
pub mod seed;
pub mod users;

pub use pool::{DbPool, PooledConn};

/// A database failure, as seen by the layers above.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had (server down, pool exhausted past its timeout).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
}

pub type DbResult<T> = Result<T, DbError>;

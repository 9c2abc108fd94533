//! PostgreSQL: the connection pool, migrations, models and queries.
//!
//! Queries are plain functions over `&mut AsyncPgConnection` returning `DbResult`; a
//! missing row is an `Option`, never an error, so each caller names what was not found.

pub mod drivers;
pub mod migrate;
pub mod models;
pub mod outbox;
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
    Query(diesel::result::Error),
}

impl From<diesel::result::Error> for DbError {
    /// A query cancelled by `statement_timeout` means the database is too slow or
    /// blocked right now: `Unavailable` (a 503, or a stale answer), not a failed query.
    fn from(e: diesel::result::Error) -> Self {
        if is_statement_timeout(&e) {
            DbError::Unavailable(e.to_string())
        } else {
            DbError::Query(e)
        }
    }
}

/// Whether PostgreSQL cancelled the statement for `statement_timeout`. diesel keeps no
/// SQLSTATE (57014 is shared with user cancels anyway), so this reads the server's
/// message, which is English unless `lc_messages` says otherwise.
fn is_statement_timeout(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info)
        if info.message().contains("statement timeout"))
}

pub type DbResult<T> = Result<T, DbError>;

//! What a signed-in request must check against the account as it is now: its role and
//! its session generation, read from PostgreSQL and kept per instance for a moment.
//!
//! Both live in the `users` row, so nothing can evict or expire them (a Redis key could,
//! and its loss revived sessions ended by `logout-all`). Reading the row on every
//! signed-in request would put PostgreSQL on the path of every cart and product read, so
//! each instance keeps what it read for `session.account_cache_ms` (at most 1 s): a role
//! change or a `logout-all` made anywhere (another instance, the CLI) is seen by every
//! instance within that time, and at once by the instance that made it.

use std::sync::Arc;
use std::time::Duration;

use super::Role;
use crate::db::{pool, users, DbError, DbPool};

/// Most accounts remembered at once per instance; beyond, the least recently used go.
const MAX_ACCOUNTS: u64 = 100_000;

/// An account's role and session generation as PostgreSQL has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountState {
    pub role: Role,
    pub generation: i64,
}

/// The per-instance short-lived copy of [`AccountState`]s. Cheap to clone.
///
/// A moka `future::Cache` because its `try_get_with` runs one query per account however
/// many requests miss at once: a burst of signed-in requests after the entry expired
/// would otherwise queue a query each on the pool, in front of the catalogue's own.
#[derive(Clone)]
pub struct AccountStates {
    db: DbPool,
    /// `None` when `session.account_cache_ms` is 0: every check reads PostgreSQL.
    /// `None` inside an entry: no such account (deleted), remembered like the others.
    recent: Option<moka::future::Cache<i64, Option<AccountState>>>,
}

impl AccountStates {
    pub fn new(db: DbPool, ttl: Duration) -> AccountStates {
        let recent = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(MAX_ACCOUNTS)
                .time_to_live(ttl)
                .build()
        });
        AccountStates { db, recent }
    }

    /// The account's current state (`None` when it no longer exists), at most the
    /// configured time old. A failed read is not remembered.
    pub async fn current(&self, user_id: i64) -> Result<Option<AccountState>, Arc<DbError>> {
        match &self.recent {
            Some(recent) => recent.try_get_with(user_id, self.read(user_id)).await,
            None => self.read(user_id).await.map_err(Arc::new),
        }
    }

    async fn read(&self, user_id: i64) -> Result<Option<AccountState>, DbError> {
        let mut conn = pool::connection(&self.db).await?;
        Ok(users::find_session_state(&mut conn, user_id)
            .await?
            .map(|(role, generation)| AccountState {
                role: Role::from_stored(&role),
                generation,
            }))
    }

    /// Records a state this instance has just read or written (login, `logout-all`), so
    /// its own next request needs no query and never sees an older state.
    pub async fn remember(&self, user_id: i64, state: AccountState) {
        if let Some(recent) = &self.recent {
            recent.insert(user_id, Some(state)).await;
        }
    }
}

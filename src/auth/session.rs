//! What a signed-in session holds, and the two ways it ends early.
//!
//! - Absolute lifetime: the sign-in time is stored in the session; once it is older than
//!   `session.absolute_lifetime_secs` the session is purged, however active it is (the
//!   idle TTL alone would let a busy session live for ever).
//! - `logout-all`: each user has a session generation in Redis (`{prefix}user:{id}:gen`).
//!   A session remembers the generation it was made in; bumping it ends every older
//!   session on every instance at its next request, without listing them.

use actix_session::Session;
use serde::{Deserialize, Serialize};

use super::accounts::Account;
use crate::redis_client::{RedisClient, RedisError};

const USER_KEY: &str = "user";

/// The session's record of who is signed in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub account: Account,
    /// Unix seconds at sign-in.
    pub signed_in_at: i64,
    /// The user's session generation at sign-in.
    pub generation: u64,
}

impl SessionUser {
    pub fn expired(&self, absolute_lifetime_secs: u64, now_secs: i64) -> bool {
        let lifetime = i64::try_from(absolute_lifetime_secs).unwrap_or(i64::MAX);
        now_secs.saturating_sub(self.signed_in_at) >= lifetime
    }
}

/// Records the sign-in in the session.
pub fn sign_in(session: &Session, account: Account, generation: u64) -> Result<(), String> {
    let user = SessionUser {
        account,
        signed_in_at: chrono::Utc::now().timestamp(),
        generation,
    };
    session
        .insert(USER_KEY, user)
        .map_err(|e| format!("storing the session user: {e}"))
}

/// Who the session says is signed in, if anyone.
pub fn signed_in(session: &Session) -> Option<SessionUser> {
    session.get(USER_KEY).ok().flatten()
}

fn generation_key(redis: &RedisClient, user_id: i64) -> String {
    redis.keyspace().key(&format!("user:{user_id}:gen"))
}

/// The user's current session generation (0 before any `logout-all`).
pub async fn generation(redis: &RedisClient, user_id: i64) -> Result<u64, RedisError> {
    let key = generation_key(redis, user_id);
    let value: Option<u64> = redis
        .run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
        .await?;
    Ok(value.unwrap_or(0))
}

/// Ends every session of the user, on every instance.
pub async fn end_all(redis: &RedisClient, user_id: i64) -> Result<u64, RedisError> {
    let key = generation_key(redis, user_id);
    redis
        .run(|mut c| async move { redis::cmd("INCR").arg(key).query_async(&mut c).await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    #[test]
    fn a_session_expires_at_its_absolute_lifetime() {
        let user = SessionUser {
            account: Account {
                id: 1,
                email: "a@b.io".into(),
                role: Role::User,
            },
            signed_in_at: 1_000,
            generation: 0,
        };
        assert!(!user.expired(60, 1_059));
        assert!(user.expired(60, 1_060));
    }
}

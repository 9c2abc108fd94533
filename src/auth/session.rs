//! What a signed-in session holds, and the two ways it ends early.
//!
//! - Absolute lifetime: the sign-in time is stored in the session; once it is older than
//!   `session.absolute_lifetime_secs` the session is purged, however active it is (the
//!   idle TTL alone would let a busy session live for ever).
//! - `logout-all`: each account has a session generation in PostgreSQL
//!   (`users.session_generation`, see `account_state`). A session remembers the
//!   generation it was made in; bumping it ends every older session on every instance at
//!   its next request, without listing them.
//!
//! The account's role is stored too, but only as it was at sign-in: `session_guard`
//! replaces it with the current one on every request.

use std::collections::HashMap;

use actix_session::Session;
use serde::{Deserialize, Serialize};

use super::accounts::Account;

const USER_KEY: &str = "user";

/// The session's record of who is signed in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub account: Account,
    /// Unix seconds at sign-in.
    pub signed_in_at: i64,
    /// The account's session generation at sign-in.
    pub generation: i64,
}

impl SessionUser {
    pub fn expired(&self, absolute_lifetime_secs: u64, now_secs: i64) -> bool {
        let lifetime = i64::try_from(absolute_lifetime_secs).unwrap_or(i64::MAX);
        now_secs.saturating_sub(self.signed_in_at) >= lifetime
    }
}

/// Records the sign-in in the session.
pub fn sign_in(session: &Session, account: Account, generation: i64) -> Result<(), String> {
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

/// Who a session state read straight from the store says is signed in (its values are
/// JSON, as actix-session writes them).
pub fn stored_user(state: &HashMap<String, String>) -> Option<SessionUser> {
    serde_json::from_str(state.get(USER_KEY)?).ok()
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

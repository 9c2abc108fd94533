//! A sign-in held past its request: a WebSocket opened with an admin session keeps
//! receiving `admin:metrics` only while that session still stands, so it asks again
//! (`HeldSession::standing`) while the feed flows.
//!
//! A session ends three ways, each seen here: `logout` deletes its state in Redis (so
//! the state is looked up by the session key, read from the handshake's cookie), a new
//! login under the cookie renews the key (the old state is gone too), and `logout-all`
//! or a role change alter the account in PostgreSQL (read through `AccountStates`, at
//! most `session.account_cache_ms` old, like every HTTP request's check).

use actix_session::storage::{SessionKey, SessionStore};
use actix_web::cookie::{CookieJar, Key};
use actix_web::{HttpMessage, HttpRequest};

use super::account_state::AccountStates;
use super::session::{stored_user, SessionUser};
use super::session_store::RedisClientStore;
use super::Role;

/// The session cookie's name and key, to read a session key from a request's cookie
/// as the session middleware does (a private, encrypted cookie).
#[derive(Clone)]
pub struct SessionCookie {
    pub name: String,
    pub key: Key,
}

impl SessionCookie {
    /// The session key the request's cookie carries; `None` without a valid cookie.
    fn session_key(&self, req: &HttpRequest) -> Option<SessionKey> {
        let cookie = req.cookie(&self.name)?;
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        let value = jar.private(&self.key).get(&self.name)?.value().to_owned();
        SessionKey::try_from(value).ok()
    }
}

/// Whether a held admin session still stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Admin,
    /// Ended (logout, logout-all, a new login, past its lifetime) or no longer an admin.
    Lost,
    /// Redis or PostgreSQL could not be asked: ask again later.
    Unknown,
}

/// What a long-lived connection remembers of the admin session it was opened with.
pub struct HeldSession {
    key: SessionKey,
    user: SessionUser,
    store: RedisClientStore,
    accounts: AccountStates,
    absolute_lifetime_secs: u64,
}

impl HeldSession {
    /// The request's checked sign-in (`session_guard` put it in the extensions) and its
    /// session key; `None` when it has neither.
    pub fn of_request(
        req: &HttpRequest,
        cookie: &SessionCookie,
        store: RedisClientStore,
        accounts: AccountStates,
        absolute_lifetime_secs: u64,
    ) -> Option<HeldSession> {
        let user = req.extensions().get::<SessionUser>()?.clone();
        Some(HeldSession {
            key: cookie.session_key(req)?,
            user,
            store,
            accounts,
            absolute_lifetime_secs,
        })
    }

    /// Whether the session is still in the store, still the same sign-in, within its
    /// lifetime, and its account still an admin of the same session generation.
    pub async fn standing(&self) -> Standing {
        let stored = match self.store.load(&self.key).await {
            Ok(Some(state)) => stored_user(&state),
            Ok(None) => return Standing::Lost,
            Err(_) => return Standing::Unknown,
        };
        let same = stored.is_some_and(|s| {
            s.account.id == self.user.account.id
                && s.generation == self.user.generation
                && s.signed_in_at == self.user.signed_in_at
        });
        let now = chrono::Utc::now().timestamp();
        if !same || self.user.expired(self.absolute_lifetime_secs, now) {
            return Standing::Lost;
        }
        match self.accounts.current(self.user.account.id).await {
            Ok(Some(account))
                if account.role == Role::Admin && account.generation == self.user.generation =>
            {
                Standing::Admin
            }
            Ok(_) => Standing::Lost,
            Err(_) => Standing::Unknown,
        }
    }
}

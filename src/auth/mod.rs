//! Accounts and sessions.
//!
//! - `credentials`: what a valid email and password are (pure).
//! - `password`: argon2id hashing and verification, off the async workers.
//! - `accounts`: register, authenticate, create an admin; the `AuthError` layer.
//! - `session`: what a signed-in session holds and its absolute lifetime;
//!   `session_store`: the session state in Redis.
//! - `account_state`: the account's role and session generation (bumped by
//!   `logout-all`), from PostgreSQL, cached per instance for at most a second.
//! - `extract`: the `CurrentUser` and `AdminUser` extractors.
//! - `csrf`: the session's CSRF token (`X-CSRF-Token`).
//! - `held_session`: an admin session a WebSocket holds, asked again whether it stands.

pub mod account_state;
pub mod accounts;
pub mod credentials;
pub mod csrf;
pub mod extract;
pub mod held_session;
pub mod password;
pub mod session;
pub mod session_store;

pub use accounts::AuthError;
pub use extract::{AdminUser, CurrentUser};

/// What an account may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// `user` or `admin`, as the CLI takes it.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The role stored in a row; the table's CHECK allows only these two.
    pub fn from_stored(role: &str) -> Role {
        if role == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

//! Accounts and sessions.
//!
//! - `credentials`: what a valid email and password are (pure).
//! - `password`: argon2id hashing and verification, off the async workers.
//! - `accounts`: register, authenticate, create an admin; the `AuthError` layer.
//! - `session`: what a signed-in session holds, the absolute lifetime and the per-user
//!   generation that `logout-all` bumps; `session_store`: the session state in Redis.
//! - `extract`: the `CurrentUser` and `AdminUser` extractors.

pub mod accounts;
pub mod credentials;
pub mod extract;
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

    /// The role stored in a row; the table's CHECK allows only these two.
    pub fn from_stored(role: &str) -> Role {
        if role == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

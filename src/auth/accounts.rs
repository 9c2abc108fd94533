//! Registering, authenticating, creating admins, changing roles and ending every session:
//! the account rules, over `db::users`.

use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account_state::AccountState;
use super::credentials::{check_email, check_password};
use super::password::{Hasher, PasswordError};
use super::Role;
use crate::db::models::{NewUserRow, UserRow};
use crate::db::{pool, users, DbError, DbPool};
use crate::error::FieldError;

/// What can go wrong with accounts.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("no account has this email")]
    UnknownAccount,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// An account as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub role: Role,
}

impl From<UserRow> for Account {
    fn from(row: UserRow) -> Self {
        Account {
            id: row.id,
            role: Role::from_stored(&row.role),
            email: row.email,
        }
    }
}

impl From<&UserRow> for AccountState {
    fn from(row: &UserRow) -> Self {
        AccountState {
            role: Role::from_stored(&row.role),
            generation: row.session_generation,
        }
    }
}

/// An account that has just proved its password, and the state its session starts from.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub account: Account,
    pub state: AccountState,
}

/// Checks both fields, reporting every bad one.
fn checked(email: &str, password: &str) -> Result<String, AuthError> {
    let mut fields = Vec::new();
    let email = check_email(email).map_err(|e| fields.push(e)).ok();
    let _ = check_password(password).map_err(|e| fields.push(e));
    match email {
        Some(email) if fields.is_empty() => Ok(email),
        _ => Err(AuthError::Invalid(fields)),
    }
}

/// Creates an account with the `user` role.
///
/// Takes the pool rather than a connection: no connection is held while the request waits
/// for a hashing slot and hashes.
pub async fn register(
    db: &DbPool,
    hasher: &Hasher,
    email: &str,
    password: &str,
) -> Result<Account, AuthError> {
    let email = checked(email, password)?;
    let password_hash = hasher.hash(password.to_string()).await?;
    let conn = &mut pool::connection(db).await?;
    let row = NewUserRow {
        email,
        password_hash,
        role: Role::User.as_str().to_string(),
    };
    users::insert(conn, &row)
        .await?
        .map(Account::from)
        .ok_or(AuthError::EmailTaken)
}

/// The account these credentials open. An unknown email is hashed against a dummy so it
/// answers in the same time and with the same error as a wrong password. The connection
/// goes back to the pool before hashing.
pub async fn authenticate(
    db: &DbPool,
    hasher: &Hasher,
    email: &str,
    password: &str,
) -> Result<SignedIn, AuthError> {
    let row = {
        let conn = &mut pool::connection(db).await?;
        users::find_by_email(conn, email.trim()).await?
    };
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let verified = hasher.verify(password.to_string(), stored).await?;
    match row {
        Some(row) if verified => Ok(SignedIn {
            state: AccountState::from(&row),
            account: row.into(),
        }),
        _ => Err(AuthError::InvalidCredentials),
    }
}

/// Ends every session of the account, on every instance: the new state.
pub async fn end_all_sessions(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<AccountState, AuthError> {
    users::bump_session_generation(conn, user_id)
        .await?
        .map(|row| AccountState::from(&row))
        .ok_or(AuthError::UnknownAccount)
}

/// Gives the account with this email `role`. Signed-in sessions follow within
/// `session.account_cache_ms` on every instance (see `account_state`).
pub async fn set_role(
    conn: &mut AsyncPgConnection,
    email: &str,
    role: Role,
) -> Result<Account, AuthError> {
    users::set_role(conn, email.trim(), role.as_str())
        .await?
        .map(Account::from)
        .ok_or(AuthError::UnknownAccount)
}

/// Creates an admin, or makes an existing account an admin with this password.
pub async fn ensure_admin(
    conn: &mut AsyncPgConnection,
    hasher: &Hasher,
    email: &str,
    password: &str,
) -> Result<Account, AuthError> {
    let email = checked(email, password)?;
    let password_hash = hasher.hash(password.to_string()).await?;
    let admin = Role::Admin.as_str().to_string();
    let row = NewUserRow {
        email: email.clone(),
        password_hash: password_hash.clone(),
        role: admin.clone(),
    };
    if let Some(created) = users::insert(conn, &row).await? {
        return Ok(created.into());
    }
    users::set_password_and_role(conn, &email, &password_hash, &admin)
        .await?
        .map(Account::from)
        .ok_or(AuthError::EmailTaken)
}

//! Registering, authenticating and creating admins: the account rules, over `db::users`.

use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::credentials::{check_email, check_password};
use super::password::{Hasher, PasswordError};
use super::Role;
use crate::db::models::{NewUserRow, UserRow};
use crate::db::{users, DbError};
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
pub async fn register(
    conn: &mut AsyncPgConnection,
    hasher: &Hasher,
    email: &str,
    password: &str,
) -> Result<Account, AuthError> {
    let email = checked(email, password)?;
    let password_hash = hasher.hash(password.to_string()).await?;
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
/// answers in the same time and with the same error as a wrong password.
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    hasher: &Hasher,
    email: &str,
    password: &str,
) -> Result<Account, AuthError> {
    let row = users::find_by_email(conn, email.trim()).await?;
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    if hasher.verify(password.to_string(), stored).await? {
        row.map(Account::from).ok_or(AuthError::InvalidCredentials)
    } else {
        Err(AuthError::InvalidCredentials)
    }
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

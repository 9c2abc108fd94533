//! Queries on `users`.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::{NewUserRow, UserRow};
use super::DbResult;
use crate::schema::users::{self, dsl};

diesel::define_sql_function!(fn lower(x: Text) -> Text);

/// Inserts an account; `None` when the email is taken (in any case).
#[tracing::instrument(skip_all)]
pub async fn insert(conn: &mut AsyncPgConnection, row: &NewUserRow) -> DbResult<Option<UserRow>> {
    let result = diesel::insert_into(users::table)
        .values(row)
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await;
    match result {
        Ok(user) => Ok(Some(user)),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The account with this email, compared case-insensitively.
#[tracing::instrument(skip_all)]
pub async fn find_by_email(conn: &mut AsyncPgConnection, email: &str) -> DbResult<Option<UserRow>> {
    Ok(users::table
        .filter(lower(dsl::email).eq(email.to_lowercase()))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Sets an existing account's password and role; `None` when there is no such email.
#[tracing::instrument(skip_all)]
pub async fn set_password_and_role(
    conn: &mut AsyncPgConnection,
    email: &str,
    password_hash: &str,
    role: &str,
) -> DbResult<Option<UserRow>> {
    Ok(diesel::update(users::table)
        .filter(lower(dsl::email).eq(email.to_lowercase()))
        .set((dsl::password_hash.eq(password_hash), dsl::role.eq(role)))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// The role and session generation of the account with this id, if it exists.
#[tracing::instrument(skip(conn))]
pub async fn find_session_state(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> DbResult<Option<(String, i64)>> {
    Ok(users::table
        .find(id)
        .select((dsl::role, dsl::session_generation))
        .first(conn)
        .await
        .optional()?)
}

/// Adds one to the account's session generation, ending its sessions; the row after.
#[tracing::instrument(skip(conn))]
pub async fn bump_session_generation(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> DbResult<Option<UserRow>> {
    Ok(diesel::update(users::table.find(id))
        .set(dsl::session_generation.eq(dsl::session_generation + 1))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Sets the role of the account with this email; `None` when there is no such account.
#[tracing::instrument(skip(conn, email))]
pub async fn set_role(
    conn: &mut AsyncPgConnection,
    email: &str,
    role: &str,
) -> DbResult<Option<UserRow>> {
    Ok(diesel::update(users::table)
        .filter(lower(dsl::email).eq(email.to_lowercase()))
        .set(dsl::role.eq(role))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

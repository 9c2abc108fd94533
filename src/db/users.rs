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

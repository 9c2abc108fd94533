//! Rows as stored: a read struct plus insert and update forms per table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::{outbox, products, users};

/// A `products` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct ProductRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i32,
    pub is_active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A product to insert; ids, version and timestamps come from the database.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = products)]
pub struct NewProductRow {
    pub name: String,
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i32,
    pub is_active: bool,
}

/// A partial update: `None` leaves the column as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = products)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub price_cents: Option<i64>,
    pub stock: Option<i32>,
    pub is_active: Option<bool>,
}

impl ProductChanges {
    /// True when the update would change nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.category.is_none()
            && self.price_cents.is_none()
            && self.stock.is_none()
            && self.is_active.is_none()
    }
}

/// A `users` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by `logout-all`; sessions made under an older value are over.
    pub session_generation: i64,
}

/// An account to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUserRow {
    pub email: String,
    pub password_hash: String,
    pub role: String,
}

/// An `outbox` row: a job waiting for the relay.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
pub struct OutboxRow {
    pub id: i64,
    pub queue: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A job to put in the outbox, in the transaction of the write that needs it.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbox)]
pub struct NewOutboxRow {
    pub queue: String,
    pub payload: serde_json::Value,
}

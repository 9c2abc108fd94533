//! Queries on `outbox`: jobs committed with the write that needs them, waiting for the
//! relay to move them to Redis. Rows are written by the write itself (for a product,
//! `products::insert_with_job`).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::OutboxRow;
use super::DbResult;
use crate::schema::outbox::{self, dsl};

/// The oldest `limit` rows no other relay holds, locked until the transaction ends
/// (`FOR UPDATE SKIP LOCKED`, so relays on several instances never take the same row).
#[tracing::instrument(skip(conn))]
pub async fn lock_batch(conn: &mut AsyncPgConnection, limit: i64) -> DbResult<Vec<OutboxRow>> {
    Ok(outbox::table
        .order(dsl::id.asc())
        .limit(limit)
        .select(OutboxRow::as_select())
        .for_update()
        .skip_locked()
        .load(conn)
        .await?)
}

#[tracing::instrument(skip(conn))]
pub async fn delete(conn: &mut AsyncPgConnection, ids: &[i64]) -> DbResult<usize> {
    Ok(diesel::delete(outbox::table.filter(dsl::id.eq_any(ids)))
        .execute(conn)
        .await?)
}

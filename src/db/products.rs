//! Queries on `products`.

use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::{NewOutboxRow, NewProductRow, ProductChanges, ProductRow};
use super::DbResult;
use crate::domain::ListQuery;
use crate::schema::products::{self, dsl};

/// One page of active products matching the query, and the number of all matches.
#[tracing::instrument(skip(conn), fields(query = %query.canonical()))]
pub async fn list_active(
    conn: &mut AsyncPgConnection,
    query: &ListQuery,
) -> DbResult<(Vec<ProductRow>, i64)> {
    let filtered = || {
        let mut q = products::table.filter(dsl::is_active.eq(true)).into_boxed();
        if let Some(category) = &query.category {
            q = q.filter(dsl::category.eq(category.clone()));
        }
        if let Some(min) = query.min_price {
            q = q.filter(dsl::price_cents.ge(min.cents()));
        }
        if let Some(max) = query.max_price {
            q = q.filter(dsl::price_cents.le(max.cents()));
        }
        q
    };
    let rows = filtered()
        .order(dsl::id.asc())
        .limit(i64::from(query.limit))
        .offset(query.offset())
        .select(ProductRow::as_select())
        .load(conn)
        .await?;
    let total = filtered().count().get_result(conn).await?;
    Ok((rows, total))
}

/// The product with this id, active or not.
#[tracing::instrument(skip(conn))]
pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> DbResult<Option<ProductRow>> {
    Ok(products::table
        .find(id)
        .select(ProductRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Inserts a product and, in the same transaction, the outbox job `job` makes for it:
/// both commit or neither does.
#[tracing::instrument(skip_all)]
pub async fn insert_with_job(
    conn: &mut AsyncPgConnection,
    row: &NewProductRow,
    job: impl FnOnce(&ProductRow) -> NewOutboxRow + Send,
) -> DbResult<ProductRow> {
    use diesel_async::AsyncConnection as _;
    let row = row.clone();
    let inserted = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn| {
            let product = diesel::insert_into(products::table)
                .values(&row)
                .returning(ProductRow::as_returning())
                .get_result(conn)
                .await?;
            diesel::insert_into(crate::schema::outbox::table)
                .values(&job(&product))
                .execute(conn)
                .await?;
            Ok(product)
        })
        .await?;
    Ok(inserted)
}

#[tracing::instrument(skip_all)]
pub async fn insert(conn: &mut AsyncPgConnection, row: &NewProductRow) -> DbResult<ProductRow> {
    Ok(diesel::insert_into(products::table)
        .values(row)
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Applies a partial update and bumps the version. Returns the row as it was before and
/// after, so callers can invalidate both the old and the new category.
#[tracing::instrument(skip(conn, changes))]
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: i64,
    changes: &ProductChanges,
) -> DbResult<Option<(ProductRow, ProductRow)>> {
    use diesel_async::AsyncConnection as _;
    let changes = changes.clone();
    let result = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn| {
            let Some(before) = products::table
                .find(id)
                .select(ProductRow::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?
            else {
                return Ok(None);
            };
            let after = diesel::update(products::table.find(id))
                .set((
                    changes,
                    dsl::version.eq(dsl::version + 1),
                    dsl::updated_at.eq(now),
                ))
                .returning(ProductRow::as_returning())
                .get_result(conn)
                .await?;
            Ok(Some((before, after)))
        })
        .await?;
    Ok(result)
}

/// Deletes the product; returns the deleted row.
#[tracing::instrument(skip(conn))]
pub async fn delete(conn: &mut AsyncPgConnection, id: i64) -> DbResult<Option<ProductRow>> {
    Ok(diesel::delete(products::table.find(id))
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Number of rows in the table, active or not.
pub async fn count_all(conn: &mut AsyncPgConnection) -> DbResult<i64> {
    Ok(products::table.count().get_result(conn).await?)
}

/// The ids of the most recently updated active products, newest first (cache warming's
/// fallback when no popularity has been counted yet).
#[tracing::instrument(skip(conn))]
pub async fn recently_updated_active_ids(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> DbResult<Vec<i64>> {
    Ok(products::table
        .filter(dsl::is_active.eq(true))
        .order((dsl::updated_at.desc(), dsl::id.desc()))
        .limit(limit)
        .select(dsl::id)
        .load(conn)
        .await?)
}

/// The categories of active products, alphabetically (the `categories` warming job), at
/// most `limit` of them.
#[tracing::instrument(skip(conn))]
pub async fn active_categories(conn: &mut AsyncPgConnection, limit: i64) -> DbResult<Vec<String>> {
    Ok(products::table
        .filter(dsl::is_active.eq(true))
        .select(dsl::category)
        .distinct()
        .order(dsl::category.asc())
        .limit(limit)
        .load(conn)
        .await?)
}

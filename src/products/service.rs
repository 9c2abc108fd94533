//! The product write use case, in one place: write and commit in PostgreSQL, then
//! invalidate the cache (here and, through the bus, on every instance), then publish the
//! product event. Handlers only parse, authorize and shape the answer.
//!
//! A create also writes the `email` job into the outbox in its transaction, so the email
//! goes out once Redis has the job even if Redis is down at the moment of the write.
//!
//! Order matters: the invalidation and the event come after the commit, so no reader
//! (and no WebSocket client acting on the event) can fetch the old row back into a cache
//! or see a change that then rolls back. A write that finds nothing, or fails, publishes
//! nothing; each successful write publishes exactly one event.

use crate::cache::Cache;
use crate::catalog;
use crate::db::models::{NewOutboxRow, NewProductRow, ProductChanges, ProductRow};
use crate::db::{self, products, DbError, DbPool};
use crate::domain::{Price, Product};
use crate::jobs::email::EmailJob;
use crate::jobs::{Jobs, EMAIL_QUEUE};
use crate::pubsub::product_events::ProductChange;
use crate::pubsub::ProductEvents;

/// A product write that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("no such product")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Creates, updates and deletes products; cheap to clone.
#[derive(Clone)]
pub struct ProductWrites {
    db: DbPool,
    cache: Cache,
    events: ProductEvents,
    jobs: Jobs,
}

impl ProductWrites {
    pub fn new(db: DbPool, cache: Cache, events: ProductEvents, jobs: Jobs) -> ProductWrites {
        ProductWrites {
            db,
            cache,
            events,
            jobs,
        }
    }

    /// Events this instance could not publish since start-up.
    pub fn publish_failures(&self) -> u64 {
        self.events.failures()
    }

    /// Inserts a product, with its email job in the outbox in the same transaction, and
    /// returns it as the API shows it.
    #[tracing::instrument(skip_all)]
    pub async fn create(&self, new_row: &NewProductRow) -> Result<Product, WriteError> {
        let mut conn = db::pool::connection(&self.db).await?;
        let row = products::insert_with_job(&mut conn, new_row, product_created_job).await?;
        drop(conn);
        // The relay would find the row within a second anyway; this makes it now.
        self.jobs.nudge_outbox();
        catalog::product_written(&self.cache, row.id, &[&row.category]).await;
        let product = Product::from(row);
        let offset = self
            .events
            .publish(&ProductChange::Created {
                product: product.clone(),
            })
            .await;
        tracing::info!(product_id = product.id, ?offset, "product created");
        Ok(product)
    }

    /// Applies a partial update (bumping the version) and returns the product after it.
    #[tracing::instrument(skip(self, changes))]
    pub async fn update(&self, id: i64, changes: &ProductChanges) -> Result<Product, WriteError> {
        let mut conn = db::pool::connection(&self.db).await?;
        let (before, after) = products::update(&mut conn, id, changes)
            .await?
            .ok_or(WriteError::NotFound)?;
        drop(conn);
        // Both categories: a product that moved leaves one category's lists for another's.
        catalog::product_written(&self.cache, id, &[&before.category, &after.category]).await;
        let previous_category = (before.category != after.category).then_some(before.category);
        let product = Product::from(after);
        let offset = self
            .events
            .publish(&ProductChange::Updated {
                product: product.clone(),
                previous_category,
            })
            .await;
        tracing::info!(
            product_id = id,
            version = product.version,
            ?offset,
            "product updated"
        );
        Ok(product)
    }

    /// Deletes a product.
    #[tracing::instrument(skip(self))]
    pub async fn delete(&self, id: i64) -> Result<(), WriteError> {
        let mut conn = db::pool::connection(&self.db).await?;
        let row = products::delete(&mut conn, id)
            .await?
            .ok_or(WriteError::NotFound)?;
        drop(conn);
        catalog::product_written(&self.cache, id, &[&row.category]).await;
        // The version deleted, so the event takes its place in the product's order.
        let deleted = ProductChange::Deleted {
            id,
            version: Some(row.version),
            reason: None,
        };
        let offset = self.events.publish(&deleted).await;
        tracing::info!(
            product_id = id,
            version = row.version,
            ?offset,
            "product deleted"
        );
        Ok(())
    }
}

/// The outbox row of the email that announces a new product.
fn product_created_job(row: &ProductRow) -> NewOutboxRow {
    let job = EmailJob::ProductCreated {
        product_id: row.id,
        name: row.name.clone(),
        category: row.category.clone(),
        price: Price::from_stored_cents(row.price_cents).to_string(),
    };
    NewOutboxRow {
        queue: EMAIL_QUEUE.to_string(),
        // A derived Serialize of strings and numbers cannot fail.
        payload: serde_json::to_value(job).unwrap_or_default(),
    }
}

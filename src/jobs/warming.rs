//! The `cache-warming` queue's job: `{"kind":"products"}` preloads the most popular
//! products (the most read, counted per product hit in the Redis sorted set
//! `{prefix}products:popularity`; the most recently updated while nothing has been
//! counted), `{"kind":"categories"}` the first list page of every category, both through
//! the cache loader into L2 and every worker's L1.

use std::time::Duration;

use serde::Deserialize;

use crate::cache::Cache;
use crate::db::{self, products, DbPool};

/// Categories warmed at most: one list page each.
const MAX_CATEGORIES: i64 = 1000;
/// A products warming gives up after this long.
const WARM_TIMEOUT: Duration = Duration::from_secs(60);

/// The payload of a warming job.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WarmingJob {
    Products,
    Categories,
}

/// Runs one warming job; answers how many entries were loaded.
pub async fn run(
    cache: &Cache,
    db: &DbPool,
    payload: &serde_json::Value,
    products_count: u32,
) -> Result<usize, String> {
    let job: WarmingJob = serde_json::from_value(payload.clone())
        .map_err(|e| format!("bad warming payload (kind must be products or categories): {e}"))?;
    match job {
        WarmingJob::Products => Ok(cache.warm(products_count, WARM_TIMEOUT).await),
        WarmingJob::Categories => {
            let mut conn = db::pool::connection(db).await.map_err(|e| e.to_string())?;
            let categories = products::active_categories(&mut conn, MAX_CATEGORIES)
                .await
                .map_err(|e| e.to_string())?;
            drop(conn);
            Ok(cache.warm_categories(categories).await)
        }
    }
}

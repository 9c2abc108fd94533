//! Warming: the most popular products (or, with no popularity counted yet, the most
//! recently updated) loaded into L2 and every worker's L1.

use std::sync::Arc;

use futures_util::StreamExt;

use super::actor::Put;
use super::fetch::fetch;
use super::loader::Outcome;
use super::service::Shared;
use super::{l2, CacheKey, Source, Tier};
use crate::db::{self, products};

/// Loads run concurrently, to bound start-up time without flooding the pool.
const WARM_CONCURRENCY: usize = 8;

/// Warms `count` products; answers how many were loaded.
pub async fn warm(shared: Arc<Shared>, count: u32) -> usize {
    if count == 0 {
        return 0;
    }
    let mut ids = l2::most_popular(&shared.redis, count)
        .await
        .unwrap_or_default();
    if ids.is_empty() {
        ids = match db::pool::connection(&shared.db).await {
            Ok(mut conn) => products::recently_updated_active_ids(&mut conn, i64::from(count))
                .await
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
    }
    let epoch = shared.epoch();
    let workers = shared.workers();
    futures_util::stream::iter(ids)
        .map(|id| {
            let shared = shared.clone();
            async move { (id, fetch(&shared, &Source::Product(id), epoch, false).await) }
        })
        .buffer_unordered(WARM_CONCURRENCY)
        .filter_map(|(id, result)| async move {
            match result {
                Ok(Outcome::Found { entry, tier }) if tier != Tier::Stale => Some((id, entry)),
                _ => None,
            }
        })
        .map(|(id, entry)| {
            for worker in &workers {
                let _ = worker.try_send(Put {
                    key: CacheKey::Product(id),
                    entry: entry.clone(),
                    epoch,
                });
            }
        })
        .count()
        .await
}

//! Warming: the most popular products (or, with no popularity counted yet, the most
//! recently updated) loaded into L2 and every worker's L1; and, for the `categories`
//! warming job, the first list page of every category.

use std::sync::Arc;

use futures_util::StreamExt;

use super::actor::Put;
use super::fetch::fetch;
use super::loader::Outcome;
use super::service::Shared;
use super::{l2, Source, Tier};
use crate::db::{self, products};
use crate::domain::list_query::ListParams;
use crate::domain::ListQuery;

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
    let sources = ids.into_iter().map(Source::Product).collect();
    warm_sources(shared, sources).await
}

/// Loads the first list page of each of `categories` into L2 and every worker's L1;
/// answers how many were loaded.
pub async fn warm_categories(shared: Arc<Shared>, categories: Vec<String>) -> usize {
    let sources = categories
        .into_iter()
        .filter_map(|category| {
            ListQuery::from_params(ListParams {
                category: Some(category),
                ..ListParams::default()
            })
            .ok()
        })
        .map(Source::List)
        .collect();
    warm_sources(shared, sources).await
}

/// Loads each source (L2, else PostgreSQL) and puts the fresh ones into every worker's L1.
async fn warm_sources(shared: Arc<Shared>, sources: Vec<Source>) -> usize {
    let epoch = shared.epoch();
    let workers = shared.workers();
    futures_util::stream::iter(sources)
        .map(|source| {
            let shared = shared.clone();
            async move { (source.key(), fetch(&shared, &source, epoch, false).await) }
        })
        .buffer_unordered(WARM_CONCURRENCY)
        .filter_map(|(key, result)| async move {
            match result {
                Ok(Outcome::Found { entry, tier }) if tier != Tier::Stale => Some((key, entry)),
                _ => None,
            }
        })
        .map(|(key, entry)| {
            for worker in &workers {
                let _ = worker.try_send(Put {
                    key: key.clone(),
                    entry: entry.clone(),
                    epoch,
                });
            }
        })
        .count()
        .await
}

//! Product reads through the cache and the invalidations product writes need. Routes
//! call this; so can any other feature that needs a product (the cart reads prices and
//! stock through `get_product`).

use std::sync::Arc;

use crate::cache::keys::{list_category_tag, UNFILTERED_LISTS};
use crate::cache::loader::Outcome;
use crate::cache::{
    Cache, CacheError, CacheKey, Entry, Invalidated, Source, Target, Tier, WorkerCache,
};
use crate::domain::responses::ProductResponse;
use crate::domain::{ListQuery, Product};

/// A cached response ready to send.
pub struct Cached {
    pub entry: Arc<Entry>,
    pub tier: Tier,
}

/// One active product's response, or `None` when there is no such active product.
pub async fn product_response(cache: &WorkerCache, id: i64) -> Result<Option<Cached>, CacheError> {
    read(cache, Source::Product(id)).await
}

/// One list page's response.
pub async fn list_response(
    cache: &WorkerCache,
    query: ListQuery,
) -> Result<Option<Cached>, CacheError> {
    read(cache, Source::List(query)).await
}

/// One active product, read through the cache.
pub async fn get_product(cache: &WorkerCache, id: i64) -> Result<Option<Product>, CacheError> {
    let Some(cached) = product_response(cache, id).await? else {
        return Ok(None);
    };
    let response: ProductResponse = serde_json::from_slice(&cached.entry.body)
        .map_err(|e| CacheError::DbQuery(format!("cached product is unreadable: {e}")))?;
    Ok(Some(response.data))
}

async fn read(cache: &WorkerCache, source: Source) -> Result<Option<Cached>, CacheError> {
    match cache.cache.read(&cache.actor, source).await? {
        Outcome::Found { entry, tier } => Ok(Some(Cached { entry, tier })),
        Outcome::NotFound => Ok(None),
    }
}

/// After a product write has committed: drops the product's entry and every list that
/// could contain it before or after (its old and new categories' lists and the lists not
/// filtered by category), here and on every instance. `categories` holds the old and the
/// new category (the same one twice is fine).
pub async fn product_written(cache: &Cache, id: i64, categories: &[&str]) -> Invalidated {
    let mut targets = vec![
        Target::Key(CacheKey::Product(id).name()),
        Target::Tag(UNFILTERED_LISTS.to_string()),
    ];
    for category in categories {
        let tag = Target::Tag(list_category_tag(category));
        if !targets.contains(&tag) {
            targets.push(tag);
        }
    }
    cache.invalidate(targets).await
}

//! Where a cache entry comes from on a miss: the PostgreSQL query behind each key, and
//! the response body, ETag and tags built from its result.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::HeaderValue;
use bytes::Bytes;

use super::keys::{list_tags, product_tags, CacheKey};
use super::CacheError;
use crate::configuration::CacheSettings;
use crate::db::{self, products, DbPool};
use crate::domain::responses::{ProductListResponse, ProductResponse};
use crate::domain::{ListQuery, Product};

/// A cacheable read.
#[derive(Debug, Clone)]
pub enum Source {
    Product(i64),
    List(ListQuery),
}

/// A freshly loaded response, before it gets its deadlines.
pub struct Loaded {
    pub body: Bytes,
    pub etag: HeaderValue,
    pub tags: Arc<[String]>,
}

impl Source {
    pub fn key(&self) -> CacheKey {
        match self {
            Source::Product(id) => CacheKey::Product(*id),
            Source::List(query) => CacheKey::list(query),
        }
    }

    /// How long a fresh load stays fresh in L2 (before jitter).
    pub fn ttl(&self, settings: &CacheSettings) -> Duration {
        Duration::from_secs(match self {
            Source::Product(_) => settings.item_ttl_secs,
            Source::List(_) => settings.list_ttl_secs,
        })
    }

    /// Runs the query; `None` when the product does not exist or is inactive.
    pub async fn load(&self, pool: &DbPool) -> Result<Option<Loaded>, CacheError> {
        let mut conn = db::pool::connection(pool).await?;
        match self {
            Source::Product(id) => {
                let Some(row) = products::find(&mut conn, *id)
                    .await?
                    .filter(|row| row.is_active)
                else {
                    return Ok(None);
                };
                let etag = format!("\"p{}-v{}\"", row.id, row.version);
                let tags = product_tags(row.id, &row.category);
                let body = serde_json::to_vec(&ProductResponse {
                    success: true,
                    data: row.into(),
                })
                .map_err(|e| CacheError::DbQuery(e.to_string()))?;
                Ok(Some(Loaded::new(body, &etag, tags)))
            }
            Source::List(query) => {
                let (rows, total) = products::list_active(&mut conn, query).await?;
                let data: Vec<Product> = rows.into_iter().map(Product::from).collect();
                let body = serde_json::to_vec(&ProductListResponse {
                    success: true,
                    count: data.len(),
                    total,
                    page: query.page,
                    limit: query.limit,
                    data,
                })
                .map_err(|e| CacheError::DbQuery(e.to_string()))?;
                let etag = format!("\"l{:016x}\"", content_hash(&body));
                Ok(Some(Loaded::new(body, &etag, list_tags(query))))
            }
        }
    }
}

impl Loaded {
    fn new(body: Vec<u8>, etag: &str, tags: Vec<String>) -> Loaded {
        Loaded {
            body: Bytes::from(body),
            // Built only from digits, letters and quotes, so always a valid header.
            etag: HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            tags: tags.into(),
        }
    }
}

/// A stable 64-bit hash of a list body for its ETag. `DefaultHasher::new()` uses fixed
/// keys, so every instance of one build agrees; the ETag travels with the body in L2
/// anyway.
fn content_hash(body: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    hasher.finish()
}

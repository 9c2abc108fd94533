//! How the cart reads a product's name and price: the one place to point at the cache.

use crate::cache::WorkerCache;
use crate::catalog;
use crate::db::{self, products};
use crate::domain::Price;
use crate::error::ApiError;
use crate::state::AppState;

/// What the cart needs of a product.
#[derive(Debug, Clone)]
pub struct CartProduct {
    pub name: String,
    pub price: Price,
    pub active: bool,
}

/// The product with this id, active or not. Active products come through the two-level
/// cache (the common case: an L1 hit); only a product the cache does not know (missing
/// or inactive, which the cache never stores) costs a PostgreSQL query, which tells the
/// two apart.
pub async fn product(
    state: &AppState,
    cache: &WorkerCache,
    id: i64,
) -> Result<Option<CartProduct>, ApiError> {
    if let Some(product) = catalog::get_product(cache, id).await? {
        return Ok(Some(CartProduct {
            name: product.name,
            price: product.price,
            active: true,
        }));
    }
    let mut conn = db::pool::connection(&state.db).await?;
    Ok(products::find(&mut conn, id).await?.map(|row| CartProduct {
        name: row.name,
        price: Price::from_stored_cents(row.price_cents),
        active: row.is_active,
    }))
}

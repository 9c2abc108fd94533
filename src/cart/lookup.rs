//! How the cart reads a product's name and price: the one place to point at the cache.

use crate::db::{self, products};
use crate::domain::Price;
use crate::error::ApiError;
use crate::startup::AppState;

/// What the cart needs of a product.
#[derive(Debug, Clone)]
pub struct CartProduct {
    pub name: String,
    pub price: Price,
    pub active: bool,
}

/// The product with this id, active or not. Reads PostgreSQL for now; switching the cart
/// to the two-level cache is a change to this function only.
pub async fn product(state: &AppState, id: i64) -> Result<Option<CartProduct>, ApiError> {
    let mut conn = db::pool::connection(&state.db).await?;
    Ok(products::find(&mut conn, id).await?.map(|row| CartProduct {
        name: row.name,
        price: Price::from_stored_cents(row.price_cents),
        active: row.is_active,
    }))
}

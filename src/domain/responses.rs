//! The success bodies the routes share: the product reads (also stored serialized by the
//! cache) and the plain message answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Product;

/// `{"success":true,"data":{...}}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductResponse {
    pub success: bool,
    pub data: Product,
}

/// One page of products.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductListResponse {
    pub success: bool,
    /// Items in `data`.
    pub count: usize,
    /// All matches across pages.
    pub total: i64,
    pub page: u32,
    pub limit: u32,
    pub data: Vec<Product>,
}

/// `{"success":true,"message":"..."}`, e.g. `Product deleted successfully`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub success: bool,
    pub message: String,
}

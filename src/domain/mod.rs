//! What the API speaks: products, prices, list queries, and their validation.

mod form;
pub mod id;
pub mod json;
pub mod list_query;
pub mod price;
pub mod product;
pub mod responses;
pub mod text;

pub use list_query::ListQuery;
pub use price::Price;
pub use product::{CreateProduct, Product, UpdateProduct};

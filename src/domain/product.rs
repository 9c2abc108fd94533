//! The product as clients see it, and validation of what they send.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::form::{check_text, Form, TextKind};
use super::price::Price;
use crate::db::models::{NewProductRow, ProductChanges, ProductRow};
use crate::error::{ApiError, FieldError};

pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const CATEGORY_MAX: usize = 100;

/// A category as products store it: the rule a product's `category` follows (1..=100
/// characters, one that is not white space, no control character), then trimmed as a
/// write trims it. Used wherever a client names a category (the WebSocket's `category:`
/// topics); the reason when it breaks the rule.
pub fn category(name: &str) -> Result<&str, String> {
    check_text(name, TextKind::Line, CATEGORY_MAX)?;
    Ok(name.trim())
}

/// A product, as every product endpoint returns it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category: String,
    /// Exact to the cent.
    #[schema(value_type = f64, example = 19.99)]
    pub price: Price,
    pub stock: i32,
    pub is_active: bool,
    /// Bumped on every update.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ProductRow> for Product {
    fn from(row: ProductRow) -> Self {
        Product {
            id: row.id,
            name: row.name,
            description: row.description,
            category: row.category,
            price: Price::from_stored_cents(row.price_cents),
            stock: row.stock,
            is_active: row.is_active,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

// What the schema says about each field is exactly what `Form` checks below: a name or
// category is 1..=200 / 1..=100 characters with at least one that is not white space
// (surrounding spaces are trimmed) and no control character; a description keeps tabs and
// line breaks but no other control character; a price is a non-negative number of whole
// cents. Optional fields may be left out but are never `null`, and unknown fields are
// refused (`additionalProperties: false`, set in `routes::openapi`, as is the update's
// `minProperties: 1`). A stock is a whole number, also when written `3.0`. The patterns are
// ECMA-262 regular expressions spelled out in each attribute (utoipa takes only literals).

/// The body of `POST /api/products`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct CreateProduct {
    /// 1..=200 characters, not all white space; trimmed.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// At most 10,000 characters; defaults to empty.
    #[schema(value_type = String, required = false, max_length = 10000, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
    /// 1..=100 characters, not all white space; trimmed.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub category: String,
    /// Non-negative, at most 2 decimals.
    #[schema(value_type = f64, example = 19.99, minimum = 0, maximum = 9999999999.99, multiple_of = 0.01)]
    pub price: Price,
    /// 0 or more; defaults to 0.
    #[schema(value_type = i32, required = false, minimum = 0)]
    pub stock: Option<i32>,
    /// Defaults to true.
    #[schema(value_type = bool, required = false)]
    pub is_active: Option<bool>,
}

/// The body of `PUT`/`PATCH /api/products/{id}`: only the given fields change; at least
/// one must be given.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct UpdateProduct {
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    #[schema(value_type = String, required = false, max_length = 10000, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
    #[schema(value_type = String, required = false, min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub category: Option<String>,
    #[schema(value_type = f64, required = false, example = 19.99, minimum = 0, maximum = 9999999999.99, multiple_of = 0.01)]
    pub price: Option<Price>,
    #[schema(value_type = i32, required = false, minimum = 0)]
    pub stock: Option<i32>,
    #[schema(value_type = bool, required = false)]
    pub is_active: Option<bool>,
}

const FIELDS: &[&str] = &[
    "name",
    "description",
    "category",
    "price",
    "stock",
    "isActive",
];

impl CreateProduct {
    /// Checks the JSON body, reporting every bad field at once, and turns it into a row.
    pub fn parse(body: Value) -> Result<NewProductRow, ApiError> {
        let mut form = Form::new(body, FIELDS)?;
        let name = form.required::<String>("name");
        let description = form.optional::<String>("description");
        let category = form.required::<String>("category");
        let price = form.required::<Price>("price");
        let stock = form.optional_int("stock");
        let is_active = form.optional::<bool>("isActive");
        if let Some(name) = &name {
            form.check_text("name", name, TextKind::Line, NAME_MAX);
        }
        if let Some(description) = &description {
            form.check_text(
                "description",
                description,
                TextKind::MultiLine,
                DESCRIPTION_MAX,
            );
        }
        if let Some(category) = &category {
            form.check_text("category", category, TextKind::Line, CATEGORY_MAX);
        }
        form.check_stock(stock);
        form.finish()?;
        match (name, category, price) {
            (Some(name), Some(category), Some(price)) => Ok(NewProductRow {
                name: name.trim().to_string(),
                description: description.unwrap_or_default(),
                category: category.trim().to_string(),
                price_cents: price.cents(),
                stock: stock.unwrap_or(0),
                is_active: is_active.unwrap_or(true),
            }),
            // `finish` has already refused a body missing any of them.
            _ => Err(ApiError::Validation(vec![FieldError::new(
                "body",
                "name, category and price are required",
            )])),
        }
    }
}

impl UpdateProduct {
    /// Checks the JSON body, reporting every bad field at once, and turns it into the
    /// changes to apply.
    pub fn parse(body: Value) -> Result<ProductChanges, ApiError> {
        let mut form = Form::new(body, FIELDS)?;
        let changes = ProductChanges {
            name: form.optional::<String>("name"),
            description: form.optional::<String>("description"),
            category: form.optional::<String>("category"),
            price_cents: form.optional::<Price>("price").map(Price::cents),
            stock: form.optional_int("stock"),
            is_active: form.optional::<bool>("isActive"),
        };
        if let Some(name) = &changes.name {
            form.check_text("name", name, TextKind::Line, NAME_MAX);
        }
        if let Some(description) = &changes.description {
            form.check_text(
                "description",
                description,
                TextKind::MultiLine,
                DESCRIPTION_MAX,
            );
        }
        if let Some(category) = &changes.category {
            form.check_text("category", category, TextKind::Line, CATEGORY_MAX);
        }
        form.check_stock(changes.stock);
        if form.errors.is_empty() && changes.is_empty() {
            form.errors.push(FieldError::new(
                "body",
                format!("give at least one of {}", FIELDS.join(", ")),
            ));
        }
        form.finish()?;
        Ok(ProductChanges {
            name: changes.name.map(|s| s.trim().to_string()),
            category: changes.category.map(|s| s.trim().to_string()),
            ..changes
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn create_reports_every_bad_field_at_once() {
        let err = CreateProduct::parse(json!({"name": "", "price": -1, "stock": -2, "foo": 1}))
            .unwrap_err();
        let mut f = fields(err);
        f.sort();
        assert_eq!(f, ["category", "foo", "name", "price", "stock"]);
    }

    #[test]
    fn create_fills_defaults() {
        let row =
            CreateProduct::parse(json!({"name": " Lamp ", "category": "Home", "price": 19.99}))
                .expect("valid");
        assert_eq!(row.name, "Lamp");
        assert_eq!(row.price_cents, 1999);
        assert_eq!(row.stock, 0);
        assert!(row.is_active);
        assert_eq!(row.description, "");
    }

    #[test]
    fn create_refuses_overlong_text_and_wrong_types() {
        let long = "x".repeat(NAME_MAX + 1);
        let err = CreateProduct::parse(json!({"name": long, "category": 5, "price": "1.001"}))
            .unwrap_err();
        let mut f = fields(err);
        f.sort();
        assert_eq!(f, ["category", "name", "price"]);
    }

    #[test]
    fn update_needs_a_field_and_checks_what_is_given() {
        assert_eq!(
            fields(UpdateProduct::parse(json!({})).unwrap_err()),
            ["body"]
        );
        assert_eq!(
            fields(UpdateProduct::parse(json!([1])).unwrap_err()),
            ["body"]
        );
        assert_eq!(
            fields(UpdateProduct::parse(json!({"price": null})).unwrap_err()),
            ["price"]
        );
        let changes = UpdateProduct::parse(json!({"stock": 3})).expect("valid");
        let mut f = fields(
            UpdateProduct::parse(json!({"name": "a\u{0}", "category": "\u{85}"})).unwrap_err(),
        );
        f.sort();
        assert_eq!(f, ["category", "name"]);
        assert!(UpdateProduct::parse(json!({"description": "one\r\n\ttwo"})).is_ok());
        assert_eq!(
            fields(UpdateProduct::parse(json!({"description": "bell\u{7}"})).unwrap_err()),
            ["description"]
        );
        assert_eq!(changes.stock, Some(3));
        assert!(changes.name.is_none());
    }
}

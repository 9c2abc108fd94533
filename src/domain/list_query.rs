//! The query of `GET /api/products`: parsed strictly, with defaults applied.
//!
//! Unknown parameters are ignored (so `?_=123` changes nothing), but a known parameter
//! with a bad value is a 400 naming it: `minPrice=abc` is never silently dropped, and a
//! `category` holding a control character (`%00`) never reaches PostgreSQL.

use serde::Deserialize;
use utoipa::IntoParams;

use super::price::Price;
use super::product::CATEGORY_MAX;
use super::text::{has_control, CONTROL_MESSAGE};
use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// The raw query string parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only products of this category (exact match, surrounding spaces ignored; an
    /// empty value means no filter); at most 100 characters, no control characters.
    #[param(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub category: Option<String>,
    /// Lowest price, inclusive (at most 2 decimals). Above `maxPrice`, nothing matches.
    #[param(value_type = Option<f64>, minimum = 0, maximum = 9999999999.99, multiple_of = 0.01)]
    pub min_price: Option<Price>,
    /// Highest price, inclusive (at most 2 decimals).
    #[param(value_type = Option<f64>, minimum = 0, maximum = 9999999999.99, multiple_of = 0.01)]
    pub max_price: Option<Price>,
    /// Page number, from 1 (an unsigned 32-bit number).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295_i64)]
    pub page: Option<u32>,
    /// Items per page, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A validated list query with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListQuery {
    pub category: Option<String>,
    pub min_price: Option<Price>,
    pub max_price: Option<Price>,
    pub page: u32,
    pub limit: u32,
}

impl ListQuery {
    /// Parses a raw query string (without the `?`).
    pub fn parse(query_string: &str) -> Result<ListQuery, ApiError> {
        let params: ListParams = serde_urlencoded::from_str(query_string)
            .map_err(|e| ApiError::BadRequest(format!("Invalid query string: {e}")))?;
        ListQuery::from_params(params)
    }

    pub fn from_params(params: ListParams) -> Result<ListQuery, ApiError> {
        let page = params.page.unwrap_or(1);
        if page < 1 {
            return Err(ApiError::BadRequest("page must be at least 1".into()));
        }
        let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        // Checked as sent, before trimming, so the bounds are the documented ones.
        if let Some(c) = &params.category {
            if has_control(c) {
                return Err(ApiError::BadRequest(format!("category {CONTROL_MESSAGE}")));
            }
            if c.chars().count() > CATEGORY_MAX {
                return Err(ApiError::BadRequest(format!(
                    "category must be at most {CATEGORY_MAX} characters"
                )));
            }
        }
        let category = params
            .category
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        Ok(ListQuery {
            category,
            min_price: params.min_price,
            max_price: params.max_price,
            page,
            limit,
        })
    }

    /// Rows to skip for this page.
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }

    /// A canonical form: parameters in a fixed (sorted) order, defaults applied, unknown
    /// ones dropped. Two queries that mean the same thing have the same form.
    pub fn canonical(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::with_capacity(5);
        if let Some(c) = &self.category {
            pairs.push(("category", c.clone()));
        }
        pairs.push(("limit", self.limit.to_string()));
        if let Some(p) = self.max_price {
            pairs.push(("maxPrice", p.to_string()));
        }
        if let Some(p) = self.min_price {
            pairs.push(("minPrice", p.to_string()));
        }
        pairs.push(("page", self.page.to_string()));
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_unknown_parameters_are_ignored() {
        let q = ListQuery::parse("_=123").expect("parses");
        assert_eq!(q.page, 1);
        assert_eq!(q.limit, 50);
        assert_eq!(q.category, None);
        assert_eq!(
            q.canonical(),
            ListQuery::parse("").expect("parses").canonical()
        );
    }

    #[test]
    fn equivalent_queries_share_one_canonical_form() {
        let a = ListQuery::parse("category=a&minPrice=1").expect("parses");
        let b = ListQuery::parse("minPrice=1.00&category=a&page=1&limit=50").expect("parses");
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.canonical(), "category=a&limit=50&minPrice=1.00&page=1");
    }

    #[test]
    fn bad_values_are_rejected() {
        for bad in [
            "minPrice=abc",
            "maxPrice=-1",
            "page=0",
            "page=x",
            "limit=0",
            "limit=201",
            "category=%00",
            "category=a%1Fb",
            "category=%C2%85",
        ] {
            assert!(ListQuery::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_price_range_that_is_empty_is_a_query_that_matches_nothing() {
        // Not an error: the OpenAPI document cannot say "min <= max", and an empty range
        // simply has no products in it.
        let q = ListQuery::parse("minPrice=5&maxPrice=1").expect("parses");
        assert!(q.min_price > q.max_price);
    }

    #[test]
    fn offset_follows_page_and_limit() {
        let q = ListQuery::parse("page=3&limit=20").expect("parses");
        assert_eq!(q.offset(), 40);
    }
}

//! The query of `GET /api/products`: parsed strictly, with defaults applied.
//!
//! Unknown parameters are ignored (so `?_=123` changes nothing), but a known parameter
//! with a bad value is a 400: `minPrice=abc` is never silently dropped.

use serde::Deserialize;
use utoipa::IntoParams;

use super::price::Price;
use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// The raw query string parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only products of this category (exact match).
    pub category: Option<String>,
    /// Lowest price, inclusive.
    #[param(value_type = Option<f64>)]
    pub min_price: Option<Price>,
    /// Highest price, inclusive.
    #[param(value_type = Option<f64>)]
    pub max_price: Option<Price>,
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Items per page, 1..=200 (default 50).
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
        if let (Some(min), Some(max)) = (params.min_price, params.max_price) {
            if min > max {
                return Err(ApiError::BadRequest(
                    "minPrice must not be greater than maxPrice".into(),
                ));
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
            "minPrice=5&maxPrice=1",
        ] {
            assert!(ListQuery::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn offset_follows_page_and_limit() {
        let q = ListQuery::parse("page=3&limit=20").expect("parses");
        assert_eq!(q.offset(), 40);
    }
}

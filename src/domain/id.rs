//! A numeric id in a path (`/api/products/{id}`, `/api/cart/items/{productId}`).
//!
//! Besides `12` it takes `12.0`: the OpenAPI document says `integer`, and JSON Schema
//! counts a number whose fraction is zero as an integer, so clients generated from the
//! document may write it so. `1.5`, `12.` and `abc` are still a 400.

use serde::{de, Deserialize, Deserializer};

/// The id from a path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathId(pub i64);

impl PathId {
    pub fn parse(text: &str) -> Option<PathId> {
        let (whole, fraction) = match text.split_once('.') {
            Some((_, "")) => return None,
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        if !fraction.bytes().all(|b| b == b'0') {
            return None;
        }
        whole.parse().ok().map(PathId)
    }
}

impl<'de> Deserialize<'de> for PathId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PathId, D::Error> {
        let text = String::deserialize(deserializer)?;
        PathId::parse(&text)
            .ok_or_else(|| de::Error::custom(format!("`{text}` is not a whole number")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_with_or_without_a_zero_fraction() {
        assert_eq!(PathId::parse("12"), Some(PathId(12)));
        assert_eq!(PathId::parse("4.0"), Some(PathId(4)));
        assert_eq!(PathId::parse("-3.00"), Some(PathId(-3)));
        for bad in ["1.5", "12.", ".0", "abc", "", "99999999999999999999", "1e3"] {
            assert_eq!(PathId::parse(bad), None, "{bad}");
        }
    }
}

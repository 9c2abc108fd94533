//! Money as integer cents, shown to clients as a number with two decimals.
//!
//! Parsing goes through the decimal text of the number (Rust prints the shortest text that
//! round-trips an `f64`), so `19.99` becomes exactly 1999 cents with no float arithmetic,
//! and `19.999` is refused rather than rounded.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest price NUMERIC(12,2) could hold: 9,999,999,999.99.
pub const MAX_CENTS: i64 = 999_999_999_999;

/// A non-negative amount of money in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(i64);

/// Why a text is not a price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("must be a number with at most 2 decimals")]
    NotADecimal,
    #[error("must not be negative")]
    Negative,
    #[error("must be at most 9999999999.99")]
    TooLarge,
}

impl Price {
    pub fn from_cents(cents: i64) -> Result<Price, PriceError> {
        match cents {
            c if c < 0 => Err(PriceError::Negative),
            c if c > MAX_CENTS => Err(PriceError::TooLarge),
            c => Ok(Price(c)),
        }
    }

    /// A price read back from the table, whose CHECK constraint keeps it in range.
    pub fn from_stored_cents(cents: i64) -> Price {
        Price(cents.clamp(0, MAX_CENTS))
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// Parses decimal text such as `12`, `12.5` or `12.50`; also the text of a binary
    /// float that is a whole number of cents but for its rounding error.
    pub fn parse(text: &str) -> Result<Price, PriceError> {
        match Price::parse_exact(text) {
            Err(PriceError::NotADecimal) => Price::parse_float_cents(text.trim()),
            other => other,
        }
    }

    /// A client that computes `57 * 0.01` sends `0.5700000000000001`, which means 0.57:
    /// plain decimal text with more than 2 decimals is accepted when it lies within a few
    /// units in the last place of a whole number of cents. `19.999` and `1.005` are still
    /// refused (they are far from any cent), as is anything that is not plain decimal text.
    fn parse_float_cents(text: &str) -> Result<Price, PriceError> {
        let plain = text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && text.bytes().filter(|&b| b == b'.').count() == 1;
        let value: f64 = match text.parse() {
            Ok(v) if plain => v,
            _ => return Err(PriceError::NotADecimal),
        };
        let cents = (value * 100.0).round();
        let nearest = cents / 100.0;
        if (nearest - value).abs() <= 4.0 * f64::EPSILON * value.abs() {
            // `cents` is a whole, finite number here; the cast cannot truncate a fraction.
            Price::from_cents(cents as i64)
        } else {
            Err(PriceError::NotADecimal)
        }
    }

    /// Exactly `digits[.d[d]]`, optionally with a sign that must not make it negative.
    fn parse_exact(text: &str) -> Result<Price, PriceError> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 2 {
            return Err(PriceError::NotADecimal);
        }
        if negative && (whole.bytes().any(|b| b != b'0') || frac.bytes().any(|b| b != b'0')) {
            return Err(PriceError::Negative);
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 10 {
            return Err(PriceError::TooLarge);
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| PriceError::NotADecimal)?
        };
        let frac: i64 = format!("{frac:0<2}")
            .parse()
            .map_err(|_| PriceError::NotADecimal)?;
        Price::from_cents(whole * 100 + frac)
    }

    /// The price as an `f64` for JSON output only. `cents / 100` is correctly rounded,
    /// so it prints as the exact two-decimal text.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Price, D::Error> {
        deserializer.deserialize_any(PriceVisitor)
    }
}

struct PriceVisitor;

impl Visitor<'_> for PriceVisitor {
    type Value = Price;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a non-negative number with at most 2 decimals")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Price, E> {
        Price::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Price, E> {
        Price::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Price, E> {
        if !v.is_finite() {
            return Err(E::custom(PriceError::NotADecimal));
        }
        // `Display` for f64 never uses exponent notation and gives the shortest
        // round-trip digits, so 19.99 prints as "19.99".
        Price::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Price, E> {
        Price::parse(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_cents() {
        assert_eq!(Price::parse("19.99").map(Price::cents), Ok(1999));
        assert_eq!(Price::parse("0.1").map(Price::cents), Ok(10));
        assert_eq!(Price::parse("7").map(Price::cents), Ok(700));
        assert_eq!(Price::parse("-0").map(Price::cents), Ok(0));
        assert_eq!(
            Price::parse("9999999999.99").map(Price::cents),
            Ok(MAX_CENTS)
        );
    }

    #[test]
    fn refuses_what_is_not_a_price() {
        assert_eq!(Price::parse("19.999"), Err(PriceError::NotADecimal));
        assert_eq!(Price::parse("abc"), Err(PriceError::NotADecimal));
        assert_eq!(Price::parse(""), Err(PriceError::NotADecimal));
        assert_eq!(Price::parse("1e3"), Err(PriceError::NotADecimal));
        assert_eq!(Price::parse("-1"), Err(PriceError::Negative));
        assert_eq!(Price::parse("10000000000"), Err(PriceError::TooLarge));
        assert_eq!(Price::parse("0.570000001"), Err(PriceError::NotADecimal));
        assert_eq!(Price::parse("1.005"), Err(PriceError::NotADecimal));
    }

    #[test]
    fn float_rounding_error_around_a_cent_is_forgiven() {
        assert_eq!(Price::parse("0.5700000000000001").map(Price::cents), Ok(57));
        let p: Price = serde_json::from_str(&(57.0 * 0.01_f64).to_string()).expect("parses");
        assert_eq!(p.cents(), 57);
    }

    #[test]
    fn json_round_trip_keeps_two_decimals() {
        let p: Price = serde_json::from_str("84.18").expect("parses");
        assert_eq!(p.cents(), 8418);
        assert_eq!(serde_json::to_string(&p).expect("serialises"), "84.18");
        let p: Price = serde_json::from_str("0.3").expect("parses");
        assert_eq!(serde_json::to_string(&p).expect("serialises"), "0.3");
        assert!(serde_json::from_str::<Price>("1.005").is_err());
        assert!(serde_json::from_str::<Price>("-2").is_err());
    }
}

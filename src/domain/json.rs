//! Reading JSON numbers the way JSON Schema counts them.
//!
//! For JSON Schema (and so for the OpenAPI document), `3.0` is an integer: a number whose
//! fraction is zero. serde refuses it for an `i32`, so integer fields are read here.

use serde_json::Value;

/// The value as an integer when it is a number without a fraction, else `None`.
pub fn whole_number(value: &Value) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    // Below 2^63 in magnitude, a float without fraction converts exactly.
    let in_range = f.fract() == 0.0 && f.abs() < 9.2e18;
    in_range.then_some(f as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_without_fraction_are_integers() {
        assert_eq!(whole_number(&json!(3)), Some(3));
        assert_eq!(whole_number(&json!(3.0)), Some(3));
        assert_eq!(whole_number(&json!(-2.0)), Some(-2));
        assert_eq!(whole_number(&json!(3.5)), None);
        assert_eq!(whole_number(&json!(1e300)), None);
        assert_eq!(whole_number(&json!("3")), None);
    }
}

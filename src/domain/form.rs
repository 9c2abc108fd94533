//! A JSON body checked field by field, collecting every error, so a 422 names every
//! offending field at once (serde would stop at the first). Used by the product bodies.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::json::whole_number;
use super::text::{has_control, has_control_besides_layout, CONTROL_MESSAGE};
use crate::error::{ApiError, FieldError};

/// Which rules a text field follows.
#[derive(Debug, Clone, Copy)]
pub(super) enum TextKind {
    Line,
    MultiLine,
}

/// A JSON object being checked field by field, collecting every error.
pub(super) struct Form {
    map: serde_json::Map<String, Value>,
    pub(super) errors: Vec<FieldError>,
}

impl Form {
    /// Accepts only an object, and refuses every field not in `fields`.
    pub(super) fn new(body: Value, fields: &[&str]) -> Result<Form, ApiError> {
        let Value::Object(map) = body else {
            return Err(ApiError::Validation(vec![FieldError::new(
                "body",
                "must be a JSON object",
            )]));
        };
        let errors = map
            .keys()
            .filter(|k| !fields.contains(&k.as_str()))
            .map(|k| FieldError::new(k.as_str(), "unknown field"))
            .collect();
        Ok(Form { map, errors })
    }

    pub(super) fn optional<T: DeserializeOwned>(&mut self, field: &str) -> Option<T> {
        let value = self.map.get(field)?;
        match T::deserialize(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors
                    .push(FieldError::new(field, describe(&e, value)));
                None
            }
        }
    }

    /// A whole number in `i32`'s range (`3` or `3.0`).
    pub(super) fn optional_int(&mut self, field: &str) -> Option<i32> {
        let value = self.map.get(field)?;
        match whole_number(value).and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                let message = match value {
                    Value::Null => "must not be null",
                    _ => "must be a whole number from -2147483648 to 2147483647",
                };
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    pub(super) fn required<T: DeserializeOwned>(&mut self, field: &str) -> Option<T> {
        if !self.map.contains_key(field) {
            self.errors.push(FieldError::new(field, "is required"));
            return None;
        }
        self.optional(field)
    }

    /// At most `max` characters and no control characters. A line (name, category) must
    /// also have a visible character and refuses every control character; a multi-line
    /// text (description) may be empty and keeps tabs and line breaks.
    pub(super) fn check_text(&mut self, field: &str, value: &str, kind: TextKind, max: usize) {
        if let Err(message) = check_text(value, kind, max) {
            self.errors.push(FieldError::new(field, message));
        }
    }

    pub(super) fn check_stock(&mut self, stock: Option<i32>) {
        if stock.is_some_and(|s| s < 0) {
            self.errors
                .push(FieldError::new("stock", "must not be negative"));
        }
    }

    pub(super) fn finish(&mut self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(std::mem::take(&mut self.errors)))
        }
    }
}

/// The rule of `Form::check_text` for one value, the reason when it breaks it.
pub(super) fn check_text(value: &str, kind: TextKind, max: usize) -> Result<(), String> {
    let (control, min) = match kind {
        TextKind::Line => (has_control(value), 1),
        TextKind::MultiLine => (has_control_besides_layout(value), 0),
    };
    if control {
        Err(CONTROL_MESSAGE.to_string())
    } else if value.trim().chars().count() < min {
        Err("must not be empty".to_string())
    } else if value.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(())
    }
}

/// A short message for a value of the wrong type or out of range.
fn describe(error: &serde_json::Error, value: &Value) -> String {
    match value {
        Value::Null => "must not be null".to_string(),
        _ => error.to_string(),
    }
}

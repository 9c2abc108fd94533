//! What a valid email and password are, and reading them from a request body.

use serde_json::Value;

use crate::domain::text::{has_control, CONTROL_MESSAGE};
use crate::error::FieldError;

pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;

/// `email` and `password` of a login or register body: both strings without control
/// characters (a NUL byte would reach PostgreSQL in the email lookup and fail there),
/// each one that is not named in the errors.
pub fn read(body: &Value) -> Result<(&str, &str), Vec<FieldError>> {
    let field = |name: &str| match body.get(name) {
        Some(Value::String(s)) if has_control(s) => Err(FieldError::new(name, CONTROL_MESSAGE)),
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(FieldError::new(name, "is required and must be a string")),
    };
    match (field("email"), field("password")) {
        (Ok(email), Ok(password)) => Ok((email, password)),
        (email, password) => Err([email.err(), password.err()]
            .into_iter()
            .flatten()
            .collect()),
    }
}

/// An email address, trimmed; its case is kept, comparisons ignore it.
pub fn check_email(email: &str) -> Result<String, FieldError> {
    let email = email.trim();
    let bad = || FieldError::new("email", "must be a valid email address");
    if has_control(email) {
        return Err(FieldError::new("email", CONTROL_MESSAGE));
    }
    if email.len() < 3 || email.len() > 254 || email.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@');
    if local.is_empty() || !domain_ok {
        return Err(bad());
    }
    Ok(email.to_string())
}

/// A password of 12..=128 characters (counted as characters, not bytes), without
/// control characters.
pub fn check_password(password: &str) -> Result<(), FieldError> {
    if has_control(password) {
        return Err(FieldError::new("password", CONTROL_MESSAGE));
    }
    let n = password.chars().count();
    if (PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
        Ok(())
    } else {
        Err(FieldError::new(
            "password",
            format!("must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(check_email(" A@b.io ").unwrap(), "A@b.io");
        for bad in [
            "", "a", "a@b", "@b.io", "a@.io", "a@b.", "a b@c.io", "a@b@c.io",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_lengths_are_counted_in_characters() {
        assert!(check_password(&"x".repeat(11)).is_err());
        assert!(check_password(&"x".repeat(12)).is_ok());
        assert!(check_password(&"é".repeat(128)).is_ok());
        assert!(check_password(&"x".repeat(129)).is_err());
        assert!(check_password("twelve chars\u{0}").is_err());
    }

    #[test]
    fn bodies_name_each_missing_or_bad_field() {
        let names = |body: Value| -> Vec<String> {
            read(&body)
                .unwrap_err()
                .into_iter()
                .map(|f| f.field)
                .collect()
        };
        assert_eq!(
            read(&serde_json::json!({"email": "a@b.io", "password": "p"})).unwrap(),
            ("a@b.io", "p")
        );
        assert_eq!(names(serde_json::json!({})), ["email", "password"]);
        assert_eq!(
            names(serde_json::json!({"email": "a\u{0}@b.io", "password": 1})),
            ["email", "password"]
        );
        assert!(check_email("a\u{0}@b.io").is_err());
    }
}

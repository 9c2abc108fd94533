//! Extractors for handlers that need a signed-in user or an admin.
//!
//! They read what `middleware::session_guard` put in the request extensions after
//! checking the session's lifetime and generation, so they cost no Redis round trip.

use std::future::{ready, Ready};

use actix_web::dev::{Extensions, Payload};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::accounts::Account;
use super::session::SessionUser;
use super::Role;
use crate::error::ApiError;
use crate::state::AppState;

/// The signed-in user; 401 `unauthorized` without one.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Account);

/// An admin: a signed-in admin account or a caller holding the admin API token;
/// 401 `unauthorized` without either, 403 `forbidden` for a signed-in non-admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Admin);

/// Who is acting as admin.
#[derive(Debug, Clone)]
pub enum Admin {
    Account(Account),
    /// The configured `admin.api_token` was presented as a bearer token.
    ApiToken,
}

/// Put in the request extensions when the request carries a sign-in whose account could
/// not be read: it is neither signed in nor signed out, so a route that needs the
/// sign-in answers 503 (try again) instead of 401 (sign in again).
#[derive(Debug, Clone, Copy)]
pub struct AccountUnverified;

/// The signed-in user recorded in these extensions.
pub fn current_user(extensions: &Extensions) -> Result<Account, ApiError> {
    match extensions.get::<SessionUser>() {
        Some(user) => Ok(user.account.clone()),
        None if extensions.get::<AccountUnverified>().is_some() => {
            Err(ApiError::Unavailable("Account store"))
        }
        None => Err(ApiError::Unauthorized),
    }
}

/// The admin making this request: the admin API token when presented (checked first,
/// so it works without any session), else the signed-in admin account.
pub fn admin_user(req: &HttpRequest) -> Result<Admin, ApiError> {
    if bearer_token(req).is_some() {
        // A token was presented: it decides, right or wrong, whatever the session says.
        return if has_admin_token(req) {
            Ok(Admin::ApiToken)
        } else {
            Err(ApiError::Unauthorized)
        };
    }
    let account = current_user(&req.extensions())?;
    if account.role == Role::Admin {
        Ok(Admin::Account(account))
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Whether the request presents the configured admin API token (no session consulted).
pub fn has_admin_token(req: &HttpRequest) -> bool {
    let configured = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.settings.admin.api_token.clone());
    match (bearer_token(req), configured) {
        (Some(presented), Some(token)) => {
            constant_time_eq(presented.as_bytes(), token.expose_secret().as_bytes())
        }
        _ => false,
    }
}

fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Compares in constant time (`subtle`), so the time taken does not tell how much of a
/// guessed token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(current_user(&req.extensions()).map(CurrentUser))
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(admin_user(req).map(AdminUser))
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison_needs_every_byte() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abcdef", b"abcde"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}

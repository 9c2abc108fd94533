//! Extractors for handlers that need a signed-in user or an admin.
//!
//! They read what `middleware::session_guard` put in the request extensions after
//! checking the session's lifetime and generation, so they cost no Redis round trip.

use std::future::{ready, Ready};

use actix_web::dev::{Extensions, Payload};
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use super::accounts::Account;
use super::session::SessionUser;
use super::Role;
use crate::error::ApiError;

/// The signed-in user; 401 `unauthorized` without one.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Account);

/// A signed-in admin; 401 `unauthorized` without a session, 403 `forbidden` otherwise.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Account);

/// The signed-in user recorded in these extensions.
pub fn current_user(extensions: &Extensions) -> Result<Account, ApiError> {
    extensions
        .get::<SessionUser>()
        .map(|u| u.account.clone())
        .ok_or(ApiError::Unauthorized)
}

/// The signed-in admin recorded in these extensions.
pub fn admin_user(extensions: &Extensions) -> Result<Account, ApiError> {
    let account = current_user(extensions)?;
    if account.role == Role::Admin {
        Ok(account)
    } else {
        Err(ApiError::Forbidden)
    }
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
        ready(admin_user(&req.extensions()).map(AdminUser))
    }
}

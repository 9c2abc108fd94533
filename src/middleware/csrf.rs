//! Cross-site request forgery: an unsafe request (anything but GET, HEAD, OPTIONS,
//! TRACE) that carries the session cookie must show it comes from this service's own
//! pages, since a browser attaches the cookie whatever page made the request
//! (`SameSite=Lax` only keeps other *sites* out, not another origin of the same site).
//!
//! In order: an `X-CSRF-Token` header decides alone, right or wrong (the session's
//! token, `auth::csrf`); else `Origin` must be the service's own origin (`origin.rs`;
//! `null` never is); else `Referer` must be of that origin. A request with none of the
//! three is let through: browsers send `Origin` on every request that is not GET or HEAD
//! (the Fetch standard), so such a request comes from a client that is not a browser (a
//! script with a cookie jar), which no page can drive. The same choice as Go's
//! `net/http.CrossOriginProtection`. A bearer token (`Authorization`) bypasses the check:
//! no page can add that header to another origin's request without a preflight.
//! Refused: 403 `csrf_failed`.

use actix_session::SessionExt;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};

use crate::auth::csrf;
use crate::error::ApiError;
use crate::origin::{origin_header, referer_header};
use crate::state::AppState;
use crate::telemetry::throttle::LogThrottle;

/// Refusals are logged once per 10 s: any page can make browsers send such requests.
static REFUSED: LogThrottle = LogThrottle::new();

pub async fn csrf_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    match verdict(&req) {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(reason) => {
            if let Some(suppressed) = REFUSED.admit() {
                tracing::info!(reason, suppressed, "cross-site request refused");
            }
            let response = ApiError::CsrfFailed(reason).error_response();
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

fn verdict(req: &ServiceRequest) -> Result<(), &'static str> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Ok(());
    };
    let cookie_name = &state.settings.session.cookie_name;
    let safe = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if safe
        || req.cookie(cookie_name).is_none()
        || req.headers().contains_key(header::AUTHORIZATION)
    {
        return Ok(());
    }
    if let Some(presented) = req.headers().get(csrf::HEADER) {
        let session = req.get_session();
        return match presented.to_str() {
            Ok(presented) if csrf::matches(&session, presented) => Ok(()),
            _ => Err("the X-CSRF-Token is not this session's (GET /api/auth/csrf)"),
        };
    }
    let request = req.request();
    if let Some(origin) = origin_header(request) {
        return match state.origins.is_own(origin, request) {
            true => Ok(()),
            false => Err("a cookie-authenticated request from another origin: send this session's X-CSRF-Token (GET /api/auth/csrf)"),
        };
    }
    match referer_header(request) {
        Some(referer) if !state.origins.is_own(referer, request) => {
            Err("a cookie-authenticated request from another origin's page: send this session's X-CSRF-Token (GET /api/auth/csrf)")
        }
        _ => Ok(()),
    }
}

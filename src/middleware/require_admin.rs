//! A guard for a whole scope: 401 without a session or the admin API token, 403 for a
//! signed-in non-admin. Wrap a scope
//! with `.wrap(from_fn(require_admin))`; single handlers take the `AdminUser` extractor.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};

use crate::auth::extract::admin_user;

pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let verdict = admin_user(req.request());
    match verdict {
        Ok(_) => Ok(next.call(req).await?.map_into_left_body()),
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

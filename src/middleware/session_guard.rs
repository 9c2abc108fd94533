//! Checks a signed-in session before anything uses it: past its absolute lifetime, or
//! older than the user's session generation (`logout-all`), it is purged and the request
//! goes on signed out. A valid sign-in is put in the request extensions for the
//! `CurrentUser`/`AdminUser` extractors and the rate limiter.

use actix_session::SessionExt;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};

use crate::auth::session::{generation, signed_in};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn session_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let session = req.get_session();
    let user = signed_in(&session);
    if let (Some(user), Some(state)) = (user, req.app_data::<web::Data<AppState>>().cloned()) {
        let now = chrono::Utc::now().timestamp();
        if user.expired(state.settings.session.absolute_lifetime_secs, now) {
            tracing::info!(
                user_id = user.account.id,
                "session past its absolute lifetime"
            );
            session.purge();
        } else {
            match generation(&state.redis, user.account.id).await {
                Ok(current) if current == user.generation => {
                    req.extensions_mut().insert(user);
                }
                Ok(_) => {
                    tracing::info!(user_id = user.account.id, "session ended by logout-all");
                    session.purge();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check the session generation");
                    let response = ApiError::Unavailable("Session store").error_response();
                    return Ok(req.into_response(response).map_into_right_body());
                }
            }
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

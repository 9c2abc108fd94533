//! Checks a signed-in session before anything uses it: past its absolute lifetime, made
//! under an older session generation than the account's (`logout-all`), or for an account
//! that no longer exists, it is purged and the request goes on signed out. A valid sign-in
//! is put in the request extensions, with the account's current role (not the one it had
//! at sign-in), for the `CurrentUser`/`AdminUser` extractors and the rate limiter. When
//! the account cannot be read (PostgreSQL down or hung), the request carries
//! `AccountUnverified` instead, and routes that need a sign-in answer 503.

use actix_session::SessionExt;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};

use crate::auth::extract::AccountUnverified;
use crate::auth::session::signed_in;
use crate::state::AppState;

pub async fn session_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let session = req.get_session();
    let user = signed_in(&session);
    if let (Some(mut user), Some(state)) = (user, req.app_data::<web::Data<AppState>>().cloned()) {
        let now = chrono::Utc::now().timestamp();
        if user.expired(state.settings.session.absolute_lifetime_secs, now) {
            tracing::info!(
                user_id = user.account.id,
                "session past its absolute lifetime"
            );
            session.purge();
        } else {
            match state.accounts.current(user.account.id).await {
                Ok(Some(current)) if current.generation == user.generation => {
                    user.account.role = current.role;
                    req.extensions_mut().insert(user);
                }
                Ok(_) => {
                    tracing::info!(
                        user_id = user.account.id,
                        "session ended by logout-all, or its account is gone"
                    );
                    session.purge();
                }
                // Fail closed without ending the session: public reads still work (from
                // the cache if need be), a route that needs the sign-in answers 503
                // rather than a misleading 401, and the session is checked again on the
                // next request.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the account; request goes on unverified");
                    req.extensions_mut().insert(AccountUnverified);
                }
            }
        }
    }
    next.call(req).await
}

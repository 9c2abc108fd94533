//! Turns a failure of the session middleware (its store, Redis, could not load or save
//! the state) into the JSON 503 every other dependency failure gets, instead of
//! actix-session's empty 500.
//!
//! It wraps the session middleware directly, so the only errors it sees come from there
//! (handlers' errors are already responses by then). actix renders the returned
//! `ApiError` through `ResponseError`, so the body is the usual JSON error.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::Error;

use crate::error::ApiError;

pub async fn session_unavailable(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    next.call(req).await.map_err(|e| {
        tracing::warn!(error = %e, "session store failed");
        ApiError::Unavailable("Session store").into()
    })
}

//! Turns a failure of the session middleware (its store, Redis, could not load or save
//! the state) into the JSON 503 every other dependency failure gets, instead of
//! actix-session's empty 500.
//!
//! It wraps the session middleware directly, so the only errors it sees come from there
//! (handlers' errors are already responses by then). actix renders the returned
//! `ApiError` through `ResponseError`, so the body is the usual JSON error.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};

use super::request_id::{RequestId, X_REQUEST_ID};
use crate::error::ApiError;

pub async fn session_unavailable(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    // The error travels past the request-id middleware, which then cannot add its
    // header: carry the id in the error instead.
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    next.call(req).await.map_err(|e| {
        tracing::warn!(error = %e, "session store failed");
        SessionStoreUnavailable { request_id }.into()
    })
}

/// The JSON 503 for a session store that could not be reached, with the request id.
#[derive(Debug, thiserror::Error)]
#[error("session store unavailable")]
struct SessionStoreUnavailable {
    request_id: Option<String>,
}

impl ResponseError for SessionStoreUnavailable {
    fn status_code(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = ApiError::Unavailable("Session store").error_response();
        if let Some(value) = self
            .request_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            response.headers_mut().insert(X_REQUEST_ID, value);
        }
        response
    }
}

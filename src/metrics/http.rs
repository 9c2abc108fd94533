//! Counts every request by route pattern, method and status, with its latency.
//!
//! The route label is the pattern the router matched (`/api/products/{id}`), never the
//! raw path, so the number of series stays bounded whatever clients send; a request no
//! route matched is `unmatched`. Wrapped outermost, so the answers of the other
//! middleware (401, 403, 429, 503) are counted too.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use super::prometheus;
use crate::state::AppState;

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

pub async fn record_http(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        state.instance.count_request();
    }
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(response) => (
            response.request().match_pattern(),
            response.status().as_u16(),
        ),
        // An error the framework turns into a response later: its status is known now.
        Err(error) => (None, error.as_response_error().status_code().as_u16()),
    };
    let route = route.unwrap_or_else(|| UNMATCHED.to_string());
    prometheus::http_request(method.as_str(), &route, status, started.elapsed());
    result
}

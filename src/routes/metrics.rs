//! `GET /metrics`: the Prometheus text exposition, for loopback, the networks in
//! `metrics.allowed_networks`, or the admin token; anyone else gets 403.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::extract::has_admin_token;
use crate::error::ApiError;
use crate::metrics::scrape;
use crate::state::AppState;

/// The content type of the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus metrics of this instance.
#[utoipa::path(get, path = "/metrics", tag = "admin",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        (status = 403, description = "Not from an allowed network and no admin token", body = crate::error::ErrorBody),
    ))]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let allowed = state
        .metrics_access
        .client_ip(&req)
        .is_some_and(|ip| state.metrics_access.allows(ip));
    if !allowed && !has_admin_token(&req) {
        return Err(ApiError::Forbidden);
    }
    let text = scrape::render(&state, &state.prometheus).await;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}

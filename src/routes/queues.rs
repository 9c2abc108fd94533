//! `/admin/queues`: the job queues' counts, their failed jobs, and retrying or removing a
//! job (inside the admin scope: an admin session or the admin bearer token).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::responses::MessageResponse;
use crate::error::{ApiError, ErrorBody};
use crate::jobs::{FailedJob, QueueStats};
use crate::state::AppState;

/// Failed jobs listed when `limit` is not given, and at most.
const DEFAULT_FAILED: u32 = 100;
const MAX_FAILED: u32 = 1000;

/// Registers the queue routes inside the `/admin` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/queues")
            .route(web::get().to(list))
            .default_service(web::to(super::not_allowed("GET"))),
    )
    .service(
        web::resource("/queues/{name}/failed")
            .route(web::get().to(failed))
            .default_service(web::to(super::not_allowed("GET"))),
    )
    .service(
        web::resource("/queues/{name}/jobs/{id}/retry")
            .route(web::post().to(retry))
            .default_service(web::to(super::not_allowed("POST"))),
    )
    .service(
        web::resource("/queues/{name}/jobs/{id}")
            .route(web::delete().to(remove))
            .default_service(web::to(super::not_allowed("DELETE"))),
    );
}

/// `{"success":true,"data":[{"name","waiting","active","delayed","completed","failed","processedPerMinute"}]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuesResponse {
    pub success: bool,
    pub data: Vec<QueueStats>,
}

/// `{"success":true,"count":N,"data":[...]}`, newest failure first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedJobsResponse {
    pub success: bool,
    pub count: usize,
    pub data: Vec<FailedJob>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FailedParams {
    /// Jobs listed at most, newest failure first (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Counts per queue.
#[utoipa::path(get, path = "/admin/queues", tag = "admin",
    responses(
        (status = 200, description = "Counts per queue", body = QueuesResponse),
        (status = 503, description = "Redis is unreachable", body = ErrorBody),
    ))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let data = state.jobs.stats().await?;
    Ok(HttpResponse::Ok().json(QueuesResponse {
        success: true,
        data,
    }))
}

/// The failed jobs of a queue, with their last error and attempt count.
#[utoipa::path(get, path = "/admin/queues/{name}/failed", tag = "admin",
    params(("name" = String, Path, description = "Queue name: cache-warming or email"), FailedParams),
    responses(
        (status = 200, description = "Failed jobs, newest first", body = FailedJobsResponse),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 404, description = "No such queue", body = ErrorBody),
        (status = 503, description = "Redis is unreachable", body = ErrorBody),
    ))]
pub async fn failed(
    name: web::Path<String>,
    params: web::Query<FailedParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_FAILED);
    if !(1..=MAX_FAILED).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be in 1..={MAX_FAILED}"
        )));
    }
    let data = state.jobs.failed(&name, limit).await?;
    Ok(HttpResponse::Ok().json(FailedJobsResponse {
        success: true,
        count: data.len(),
        data,
    }))
}

/// Moves a failed job back to waiting, its attempts reset.
#[utoipa::path(post, path = "/admin/queues/{name}/jobs/{id}/retry", tag = "admin",
    params(("name" = String, Path, description = "Queue name"), ("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job waits again", body = MessageResponse),
        (status = 404, description = "No such queue or job", body = ErrorBody),
        (status = 409, description = "The job has not failed", body = ErrorBody),
        (status = 503, description = "Redis is unreachable", body = ErrorBody),
    ))]
pub async fn retry(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (queue, id) = path.into_inner();
    state.jobs.retry(&queue, &id).await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        success: true,
        message: format!("Job {id} moved back to waiting"),
    }))
}

/// Removes a job that is not running (waiting, delayed, completed or failed).
#[utoipa::path(delete, path = "/admin/queues/{name}/jobs/{id}", tag = "admin",
    params(("name" = String, Path, description = "Queue name"), ("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "Removed", body = MessageResponse),
        (status = 404, description = "No such queue or job", body = ErrorBody),
        (status = 409, description = "The job is running", body = ErrorBody),
        (status = 503, description = "Redis is unreachable", body = ErrorBody),
    ))]
pub async fn remove(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (queue, id) = path.into_inner();
    state.jobs.remove(&queue, &id).await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        success: true,
        message: format!("Job {id} removed"),
    }))
}

//! `/api/products`: list, read, create, update, delete. Writes go through
//! `products::ProductWrites` (commit, invalidate, publish); handlers parse, authorize and
//! shape the answer.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::auth::extract::admin_user;
use crate::auth::AdminUser;
use crate::cache::WorkerCache;
use crate::catalog::{self, Cached};
use crate::db::{self, products};
use crate::domain::id::PathId;
use crate::domain::list_query::ListParams;
pub use crate::domain::responses::{MessageResponse, ProductListResponse, ProductResponse};
use crate::domain::{CreateProduct, ListQuery, UpdateProduct};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

const NOT_FOUND: &str = "Product not found";
/// Where a read was answered from: `HIT-L1`, `HIT-L2`, `MISS` or `STALE`.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// Lists active products, ordered by id.
#[utoipa::path(
    get, path = "/api/products", tag = "products",
    params(ListParams),
    responses(
        (status = 200, description = "A page of products", body = ProductListResponse),
        (status = 400, description = "A parameter has a bad value", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn list(
    req: HttpRequest,
    cache: web::Data<WorkerCache>,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::parse(req.query_string())?;
    let cached = catalog::list_response(&cache, query)
        .await?
        .ok_or(ApiError::Internal("a list read found nothing".into()))?;
    Ok(cached_response(&req, &cached))
}

/// Reads one active product.
#[utoipa::path(
    get, path = "/api/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = ProductResponse),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such active product (an admin also reads inactive ones)", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(req, cache, state))]
pub async fn get(
    req: HttpRequest,
    id: web::Path<PathId>,
    cache: web::Data<WorkerCache>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().0;
    if let Some(cached) = catalog::product_response(&cache, id).await? {
        return Ok(cached_response(&req, &cached));
    }
    // The cache holds active products only. An admin may also read an inactive one,
    // straight from PostgreSQL and never cached, so no one else is served it.
    if admin_user(&req).is_ok() {
        let mut conn = db::pool::connection(&state.db).await?;
        if let Some(row) = products::find(&mut conn, id).await? {
            return Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                .json(ProductResponse {
                    success: true,
                    data: row.into(),
                }));
        }
    }
    Err(ApiError::NotFound(NOT_FOUND))
}

/// The cached body with `X-Cache`, `ETag` and `Cache-Control`, or a 304 without body
/// when the client already holds this ETag.
fn cached_response(req: &HttpRequest, cached: &Cached) -> HttpResponse {
    let etag = &cached.entry.etag;
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| etag_matches(v, etag));
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.clone()))
        .insert_header((X_CACHE, HeaderValue::from_static(cached.tier.as_str())))
        // Clients and CDNs may keep the body but must revalidate (cheap: a 304) before
        // reusing it, so nothing outlives an invalidation downstream.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
    if not_modified {
        response.finish()
    } else {
        response
            .content_type(HeaderValue::from_static("application/json"))
            .body(cached.entry.body.clone())
    }
}

/// `If-None-Match` uses the weak comparison: `*`, or any listed tag equal to ours with
/// or without `W/`.
fn etag_matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    let ours = etag.as_bytes();
    list.split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/").as_bytes() == ours)
}

/// Creates a product.
#[utoipa::path(
    post, path = "/api/products", tag = "products",
    request_body = CreateProduct,
    responses(
        (status = 201, description = "Created", body = ProductResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn create(
    _admin: AdminUser,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let new_row = CreateProduct::parse(body.into_inner())?;
    let product = state.products.create(&new_row).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/products/{}", product.id)))
        .json(ProductResponse {
            success: true,
            data: product,
        }))
}

/// Changes the given fields of a product (`PATCH` is an alias).
#[utoipa::path(
    put, path = "/api/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Product id")),
    request_body = UpdateProduct,
    responses(
        (status = 200, description = "Updated", body = ProductResponse),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(_admin, body, state))]
pub async fn update(
    _admin: AdminUser,
    id: web::Path<PathId>,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let changes = UpdateProduct::parse(body.into_inner())?;
    let product = state.products.update(id.into_inner().0, &changes).await?;
    Ok(HttpResponse::Ok().json(ProductResponse {
        success: true,
        data: product,
    }))
}

/// `PATCH /api/products/{id}`: the same partial update as `PUT`.
#[utoipa::path(
    patch, path = "/api/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Product id")),
    request_body = UpdateProduct,
    responses(
        (status = 200, description = "Updated", body = ProductResponse),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    )
)]
pub async fn patch(
    admin: AdminUser,
    id: web::Path<PathId>,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    update(admin, id, body, state).await
}

/// Deletes a product.
#[utoipa::path(
    delete, path = "/api/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Product id")),
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(_admin, state))]
pub async fn delete(
    _admin: AdminUser,
    id: web::Path<PathId>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.products.delete(id.into_inner().0).await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        success: true,
        message: "Product deleted successfully".into(),
    }))
}

//! `/api/products`: list, read, create, update, delete.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::AdminUser;
use crate::db::{self, products};
use crate::domain::list_query::ListParams;
use crate::domain::{CreateProduct, ListQuery, Product, UpdateProduct};
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

const NOT_FOUND: &str = "Product not found";

/// `{"success":true,"data":{...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse {
    pub success: bool,
    pub data: Product,
}

/// One page of products.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductListResponse {
    pub success: bool,
    /// Items in `data`.
    pub count: usize,
    /// All matches across pages.
    pub total: i64,
    pub page: u32,
    pub limit: u32,
    pub data: Vec<Product>,
}

/// `{"success":true,"message":"Product deleted successfully"}`
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub success: bool,
    pub message: String,
}

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
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::parse(req.query_string())?;
    let mut conn = db::pool::connection(&state.db).await?;
    let (rows, total) = products::list_active(&mut conn, &query).await?;
    let data: Vec<Product> = rows.into_iter().map(Product::from).collect();
    Ok(HttpResponse::Ok().json(ProductListResponse {
        success: true,
        count: data.len(),
        total,
        page: query.page,
        limit: query.limit,
        data,
    }))
}

/// Reads one active product.
#[utoipa::path(
    get, path = "/api/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = ProductResponse),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such active product", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(state))]
pub async fn get(id: web::Path<i64>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = db::pool::connection(&state.db).await?;
    let row = products::find(&mut conn, id.into_inner())
        .await?
        .filter(|row| row.is_active)
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(HttpResponse::Ok().json(ProductResponse {
        success: true,
        data: row.into(),
    }))
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
    let mut conn = db::pool::connection(&state.db).await?;
    let row = products::insert(&mut conn, &new_row).await?;
    tracing::info!(product_id = row.id, "product created");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/products/{}", row.id)))
        .json(ProductResponse {
            success: true,
            data: row.into(),
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
    id: web::Path<i64>,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let changes = UpdateProduct::parse(body.into_inner())?;
    let mut conn = db::pool::connection(&state.db).await?;
    let (_before, after) = products::update(&mut conn, id.into_inner(), &changes)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    tracing::info!(
        product_id = after.id,
        version = after.version,
        "product updated"
    );
    Ok(HttpResponse::Ok().json(ProductResponse {
        success: true,
        data: after.into(),
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
    id: web::Path<i64>,
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
    id: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = db::pool::connection(&state.db).await?;
    let row = products::delete(&mut conn, id.into_inner())
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    tracing::info!(product_id = row.id, "product deleted");
    Ok(HttpResponse::Ok().json(MessageResponse {
        success: true,
        message: "Product deleted successfully".into(),
    }))
}

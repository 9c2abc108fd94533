//! The OpenAPI 3 document, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::{admin, auth, cart, health, products};
use crate::auth::accounts::Account;
use crate::domain::{CreateProduct, Product, UpdateProduct};
use crate::error::{ErrorBody, ErrorDetail, FieldError};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "catalog-cache",
        description = "A product catalogue API served through a two-level cache."
    ),
    paths(
        products::list,
        products::get,
        products::create,
        products::update,
        products::patch,
        products::delete,
        admin::metrics_cache,
        admin::invalidate,
        auth::register,
        auth::login,
        auth::logout,
        auth::me,
        auth::logout_all,
        cart::get,
        cart::add,
        cart::set_quantity,
        cart::remove,
        cart::clear,
        health::healthz,
        health::readyz,
        openapi_json,
    ),
    components(schemas(
        Product,
        CreateProduct,
        UpdateProduct,
        Account,
        auth::Credentials,
        auth::AccountResponse,
        cart::CartResponse,
        cart::CartLineView,
        ErrorBody,
        ErrorDetail,
        FieldError,
    ))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

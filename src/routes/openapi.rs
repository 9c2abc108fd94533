//! The OpenAPI 3 document, generated from the handlers' annotations, then completed by
//! [`CommonResponses`] with the answers that come from the middleware and extractors
//! rather than from a handler (so no annotation repeats them, and none is forgotten).

use actix_web::HttpResponse;
use utoipa::openapi::path::{HttpMethod, Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema};
use utoipa::openapi::Required;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{admin, auth, cart, health, metrics, products, queues, ws};
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
        admin::metrics_cluster,
        metrics::metrics,
        admin::invalidate,
        queues::list,
        queues::failed,
        queues::retry,
        queues::remove,
        auth::register,
        auth::login,
        auth::logout,
        auth::me,
        auth::logout_all,
        auth::csrf_token,
        cart::get,
        cart::add,
        cart::set_quantity,
        cart::remove,
        cart::clear,
        health::healthz,
        health::readyz,
        ws::ws,
        openapi_json,
    ),
    components(schemas(
        Product,
        CreateProduct,
        UpdateProduct,
        Account,
        auth::Credentials,
        auth::Registration,
        auth::AccountResponse,
        auth::CsrfResponse,
        auth::CsrfToken,
        cart::CartResponse,
        cart::CartLineView,
        cart::CartAdd,
        cart::CartQuantity,
        admin::InvalidateBody,
        queues::QueuesResponse,
        queues::FailedJobsResponse,
        crate::jobs::QueueStats,
        crate::jobs::FailedJob,
        ErrorBody,
        ErrorDetail,
        FieldError,
    )),
    modifiers(&CommonResponses)
)]
pub struct ApiDoc;

/// Bodies whose unknown fields are refused (422 naming each one).
const CLOSED_BODIES: &[&str] = &["CreateProduct", "UpdateProduct"];

/// Adds to every operation the error answers that layers outside its handler give:
/// - 429 from the rate limiter (policies are configuration, so any route may have one);
/// - 503 when PostgreSQL, or Redis for a request carrying a session cookie, is down;
/// - 400, 413 and 415 from the JSON extractor, for operations with a body;
/// - 400 from the path extractor, for operations with a numeric path parameter;
/// - 401 and 403 from the admin guard, for `/admin` and product writes;
/// - 403 `csrf_failed` from the CSRF rule, and its `X-CSRF-Token` header, for every
///   unsafe method.
///
/// It also marks the product bodies as closed (`additionalProperties: false`), which the
/// derive cannot say for types that are checked by hand rather than by serde.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let methods = [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Put, item.put.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
            ];
            for (method, operation) in methods {
                if let Some(operation) = operation {
                    add_common_responses(path, &method, operation);
                }
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            for name in CLOSED_BODIES {
                if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*name) {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
            // An update names at least one field. Set here because utoipa 5.5's
            // `#[schema(min_properties = 1)]` comes out as `maxProperties`.
            if let Some(RefOr::T(Schema::Object(update))) =
                components.schemas.get_mut("UpdateProduct")
            {
                update.min_properties = Some(1);
            }
        }
    }
}

fn add_common_responses(path: &str, method: &HttpMethod, operation: &mut Operation) {
    let admin_only = path.starts_with("/admin")
        || (path.starts_with("/api/products") && *method != HttpMethod::Get);
    let has_body = operation.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    // Every handler that reads a JSON body documents it, and only those read one.
    if has_body {
        add("400", "Malformed JSON");
        add(
            "413",
            "Body over `server.max_body_bytes` (64 KiB by default)",
        );
        add("415", "Content-Type is not application/json");
    }
    if path.contains('{') {
        add("400", "The id is not a number");
    }
    let unsafe_method = *method != HttpMethod::Get;
    if unsafe_method {
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(csrf_header());
    }
    let csrf = "`csrf_failed`: made with the session cookie from another origin's page \
                (`Origin`, else `Referer`), or with an `X-CSRF-Token` that is not the session's";
    match (admin_only, unsafe_method) {
        (true, true) => {
            add("401", "Neither a session nor the admin token");
            add("403", &format!("Signed in, but not an admin; or {csrf}"));
        }
        (true, false) => {
            add("401", "Neither a session nor the admin token");
            add("403", "Signed in, but not an admin");
        }
        (false, true) => add("403", csrf),
        (false, false) => {}
    }
    add(
        "429",
        "A rate-limit policy is exhausted (`Retry-After` says when to retry)",
    );
    add(
        "503",
        "PostgreSQL is unavailable, or Redis is for a request carrying a session cookie",
    );
}

/// The optional `X-CSRF-Token` header of an unsafe request (`GET /api/auth/csrf`).
fn csrf_header() -> Parameter {
    ParameterBuilder::new()
        .name("X-CSRF-Token")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The session's CSRF token (`GET /api/auth/csrf`), for a request made with the \
             session cookie whose `Origin` is not this service's",
        ))
        .schema(Some(
            ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String),
        ))
        .build()
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

//! HTTP routes, one file per resource, and the extractor settings that make every
//! malformed request a JSON error.

pub mod admin;
pub mod auth;
pub mod cart;
pub mod dashboard;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod products;
pub mod queues;
pub mod ws;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;

/// Registers every route and the extractor configuration.
pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.app_data(json_config(max_body_bytes))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .service(
            web::resource("/api/products")
                .route(web::get().to(products::list))
                .route(web::post().to(products::create))
                .default_service(web::to(not_allowed("GET, POST"))),
        )
        .service(
            web::resource("/api/products/{id}")
                .route(web::get().to(products::get))
                .route(web::put().to(products::update))
                .route(web::patch().to(products::patch))
                .route(web::delete().to(products::delete))
                .default_service(web::to(not_allowed("GET, PUT, PATCH, DELETE"))),
        )
        .service(
            web::resource("/api/auth/register")
                .route(web::post().to(auth::register))
                .default_service(web::to(not_allowed("POST"))),
        )
        .service(
            web::resource("/api/auth/login")
                .route(web::post().to(auth::login))
                .default_service(web::to(not_allowed("POST"))),
        )
        .service(
            web::resource("/api/auth/logout")
                .route(web::post().to(auth::logout))
                .default_service(web::to(not_allowed("POST"))),
        )
        .service(
            web::resource("/api/auth/logout-all")
                .route(web::post().to(auth::logout_all))
                .default_service(web::to(not_allowed("POST"))),
        )
        .service(
            web::resource("/api/auth/csrf")
                .route(web::get().to(auth::csrf_token))
                .default_service(web::to(not_allowed("GET"))),
        )
        .service(
            web::resource("/api/auth/me")
                .route(web::get().to(auth::me))
                .default_service(web::to(not_allowed("GET"))),
        )
        .service(
            web::resource("/api/cart")
                .route(web::get().to(cart::get))
                .route(web::delete().to(cart::clear))
                .default_service(web::to(not_allowed("GET, DELETE"))),
        )
        .service(
            web::resource("/api/cart/add")
                .route(web::post().to(cart::add))
                .default_service(web::to(not_allowed("POST"))),
        )
        .service(
            web::resource("/api/cart/items/{productId}")
                .route(web::put().to(cart::set_quantity))
                .route(web::delete().to(cart::remove))
                .default_service(web::to(not_allowed("PUT, DELETE"))),
        )
        .service(
            web::resource("/api/openapi.json")
                .route(web::get().to(openapi::openapi_json))
                .default_service(web::to(not_allowed("GET"))),
        )
        // The pages before the guarded scope: the sign-in page is for anyone, and the
        // dashboard sends a browser without an admin session there.
        .service(
            web::resource("/admin")
                .route(web::get().to(dashboard::page))
                .default_service(web::to(not_allowed("GET"))),
        )
        .service(
            web::resource("/admin/login")
                .route(web::get().to(dashboard::login_page))
                .default_service(web::to(not_allowed("GET"))),
        )
        .service(
            web::resource("/static/{path:.*}")
                .route(web::get().to(dashboard::asset))
                .default_service(web::to(not_allowed("GET"))),
        )
        .service(
            web::scope("/admin")
                .wrap(actix_web::middleware::from_fn(
                    crate::middleware::require_admin::require_admin,
                ))
                .configure(admin::configure)
                .configure(queues::configure),
        )
        .service(
            web::resource("/ws")
                .route(web::get().to(ws::ws))
                .default_service(web::to(not_allowed("GET"))),
        )
        .service(
            web::resource("/metrics")
                .route(web::get().to(metrics::metrics))
                .default_service(web::to(not_allowed("GET"))),
        )
        .service(
            web::resource("/healthz")
                .route(web::get().to(health::healthz))
                .default_service(web::to(not_allowed("GET"))),
        )
        .service(
            web::resource("/readyz")
                .route(web::get().to(health::readyz))
                .default_service(web::to(not_allowed("GET"))),
        );
}

/// The answer for a path no route knows.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("Route not found"))
}

/// A handler answering 405 with the methods the resource does allow.
pub(crate) fn not_allowed(
    allow: &'static str,
) -> impl Fn() -> std::future::Ready<HttpResponse> + Clone + 'static {
    move || {
        let mut response = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
        if let Ok(value) = header::HeaderValue::from_str(allow) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        std::future::ready(response)
    }
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| {
            let api_error = match &err {
                JsonPayloadError::ContentType => {
                    ApiError::UnsupportedMediaType("Content-Type must be application/json".into())
                }
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::PayloadTooLarge { limit }
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::BadRequest(format!("Malformed JSON: {e}"))
                }
                other => ApiError::BadRequest(format!("Could not read the body: {other}")),
            };
            api_error.into()
        })
}

fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let PathError::Deserialize(e) = err else {
        return ApiError::BadRequest("Invalid path".into()).into();
    };
    ApiError::BadRequest(format!("Invalid id: {e}")).into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("Invalid query string: {err}")).into()
}

//! The HTTP error type and the one place where errors become responses.
//!
//! Policy: lower layers have their own `thiserror` enums (`DbError`, `RedisError`, ...);
//! handlers return `ApiError`, converted from those with `From`. Only here does an error
//! turn into a status code and the JSON shape
//! `{"success":false,"error":{"code":"...","message":"..."}}`. Internal errors are logged
//! in full (inside the request's span, so with its request id) and answered with a
//! generic message: no SQL, no Redis text, no stack reaches a client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::password::PasswordError;
use crate::auth::AuthError;
use crate::cache::CacheError;
use crate::cart::CartError;
use crate::db::DbError;
use crate::jobs::JobsError;
use crate::products::WriteError;
use crate::redis_client::RedisError;

/// One invalid field of a request body.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the client sent it (camelCase).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every error a handler can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    #[error("sign in first")]
    Unauthorized,
    #[error("this needs an admin")]
    Forbidden,
    /// A browser handshake on `/ws` from a page of another origin.
    #[error("the page's origin is neither this service's origin nor in realtime.allowed_origins")]
    OriginRefused,
    /// A cookie-authenticated unsafe request that shows no sign of coming from our pages.
    #[error("{0}")]
    CsrfFailed(&'static str),
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("{0}")]
    Conflict(String),
    #[error("too many requests: retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON error body, as documented in the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `not_found` or `validation_failed`.
    pub code: &'static str,
    /// A human-readable explanation.
    pub message: String,
    /// The offending fields, for `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
    /// Seconds to wait, for `rate_limited`.
    #[serde(rename = "retryAfter", skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Validation(_) => "validation_failed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden | ApiError::OriginRefused => "forbidden",
            ApiError::CsrfFailed(_) => "csrf_failed",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Conflict(_) => "conflict",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn public_message(&self) -> String {
        match self {
            ApiError::Validation(fields) => {
                let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
                format!("Invalid fields: {}", names.join(", "))
            }
            ApiError::Internal(_) => "Internal server error".to_string(),
            other => capitalise(&other.to_string()),
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::OriginRefused | ApiError::CsrfFailed(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            ApiError::Unavailable(what) => tracing::warn!(dependency = what, "unavailable"),
            _ => {}
        }
        let fields = match self {
            ApiError::Validation(fields) => Some(fields.clone()),
            _ => None,
        };
        let retry_after = match self {
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        };
        let body = ErrorBody {
            success: false,
            error: ErrorDetail {
                code: self.code(),
                message: self.public_message(),
                fields,
                retry_after,
            },
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::RateLimited { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            _ => {}
        }
        response.json(body)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(fields) => ApiError::Validation(fields),
            AuthError::EmailTaken => ApiError::Conflict(e.to_string()),
            AuthError::InvalidCredentials => ApiError::InvalidCredentials,
            AuthError::UnknownAccount => ApiError::NotFound("Account not found"),
            AuthError::Db(e) => e.into(),
            AuthError::Password(PasswordError::Busy) => ApiError::Unavailable("Password hashing"),
            AuthError::Password(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<CartError> for ApiError {
    fn from(e: CartError) -> Self {
        match e {
            CartError::Quantity | CartError::TooManyLines => {
                ApiError::Validation(vec![FieldError::new(e.field(), e.to_string())])
            }
            CartError::NotInCart => ApiError::NotFound("Product is not in the cart"),
        }
    }
}

impl From<RedisError> for ApiError {
    fn from(e: RedisError) -> Self {
        tracing::warn!(error = %e, "redis call failed");
        ApiError::Unavailable("Session store")
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => ApiError::Unavailable("Database"),
            DbError::Query(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotFound => ApiError::NotFound("Product not found"),
            WriteError::Db(e) => e.into(),
        }
    }
}

impl From<JobsError> for ApiError {
    fn from(e: JobsError) -> Self {
        match e {
            JobsError::UnknownQueue(_) => ApiError::NotFound("Queue not found"),
            JobsError::UnknownJob { .. } => ApiError::NotFound("Job not found"),
            JobsError::WrongState(_) | JobsError::InvalidId(_) => ApiError::Conflict(e.to_string()),
            JobsError::Redis(e) => {
                tracing::warn!(error = %e, "job queue unreachable");
                ApiError::Unavailable("Job queue (Redis)")
            }
            JobsError::Db(e) => e.into(),
            JobsError::Stopped => ApiError::Unavailable("Job scheduler"),
        }
    }
}

impl From<CacheError> for ApiError {
    fn from(e: CacheError) -> Self {
        match e {
            CacheError::DbUnavailable(_) => ApiError::Unavailable("Database"),
            CacheError::DbQuery(detail) => ApiError::Internal(detail),
            CacheError::ActorGone => ApiError::Unavailable("Cache"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each kind of answer.
    fn every_error() -> Vec<ApiError> {
        vec![
            ApiError::NotFound("Product not found"),
            ApiError::BadRequest("bad".into()),
            ApiError::Validation(vec![FieldError::new("name", "is empty")]),
            ApiError::PayloadTooLarge { limit: 65536 },
            ApiError::UnsupportedMediaType("text/plain".into()),
            ApiError::MethodNotAllowed,
            ApiError::Unavailable("PostgreSQL"),
            ApiError::Unauthorized,
            ApiError::Forbidden,
            ApiError::OriginRefused,
            ApiError::CsrfFailed("another origin"),
            ApiError::InvalidCredentials,
            ApiError::Conflict("taken".into()),
            ApiError::RateLimited { retry_after: 3 },
            ApiError::Internal("boom".into()),
        ]
    }

    /// The rows of the README's error table (`| status | code | when |`), which must be
    /// one table: clients look codes up there.
    fn readme_error_rows() -> Vec<&'static str> {
        let readme = include_str!("../README.md");
        let header = "| status | code | when |";
        assert_eq!(readme.matches(header).count(), 1, "one error table");
        let start = readme.find(header).expect("the error table") + header.len();
        readme[start..]
            .lines()
            .skip(2) // the rest of the header line and the |---| line
            .take_while(|line| line.starts_with('|'))
            .collect()
    }

    #[test]
    fn the_readme_error_table_lists_every_code_with_its_status() {
        let rows = readme_error_rows();
        for error in every_error() {
            let (status, code) = (error.status_code().as_u16(), error.code());
            assert!(
                rows.iter()
                    .any(|row| row.starts_with(&format!("| {status} |"))
                        && row.contains(&format!("`{code}`"))),
                "no README row for {status} `{code}`: {rows:#?}"
            );
        }
        // And no row for a code the service does not answer with.
        let codes: Vec<&str> = every_error().iter().map(ApiError::code).collect();
        for row in &rows {
            let cell = row.split('|').nth(2).unwrap_or("");
            for documented in cell.split('`').skip(1).step_by(2) {
                assert!(
                    codes.contains(&documented),
                    "README documents `{documented}`"
                );
            }
        }
    }
}

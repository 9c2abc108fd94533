//! `/api/auth`: register, login, logout, me, logout-all, the CSRF token.

use actix_session::Session;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::accounts::{self, Account};
use crate::auth::credentials::read as read_credentials;
use crate::auth::{csrf, session as auth_session, CurrentUser};
use crate::cart::store as cart_store;
use crate::db;
use crate::domain::responses::MessageResponse;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// `{"success":true,"data":{"id","email","role"}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountResponse {
    pub success: bool,
    pub data: Account,
}

/// `{"success":true,"data":{"token":"..."}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct CsrfResponse {
    pub success: bool,
    pub data: CsrfToken,
}

/// The session's CSRF token.
#[derive(Debug, Serialize, ToSchema)]
pub struct CsrfToken {
    /// Send it as `X-CSRF-Token` on unsafe requests made with the session cookie.
    #[schema(min_length = 64, max_length = 64, pattern = "^[0-9a-f]{64}$")]
    pub token: String,
}

/// `{email, password}` to sign in: two strings without control characters.
#[derive(Debug, Serialize, ToSchema)]
pub struct Credentials {
    #[schema(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub email: String,
    #[schema(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub password: String,
}

/// `{email, password}` to register: an email address (at most 254 characters) and a
/// password of 12..=128 characters, neither with control characters.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registration {
    #[schema(format = Email, min_length = 3, max_length = 254)]
    pub email: String,
    #[schema(
        min_length = 12,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub password: String,
}

/// Reads `email` and `password` as strings, naming each one that is not.
fn credentials(body: &Value) -> Result<(&str, &str), ApiError> {
    read_credentials(body).map_err(ApiError::Validation)
}

fn account(status: actix_web::http::StatusCode, data: Account) -> HttpResponse {
    HttpResponse::build(status).json(AccountResponse {
        success: true,
        data,
    })
}

fn message(text: &str) -> HttpResponse {
    HttpResponse::Ok().json(MessageResponse {
        success: true,
        message: text.to_string(),
    })
}

/// Creates an account (role `user`); does not sign in.
#[utoipa::path(
    post, path = "/api/auth/register", tag = "auth", request_body = Registration,
    responses(
        (status = 201, description = "Created", body = AccountResponse),
        (status = 409, description = "Email taken", body = ErrorBody),
        (status = 422, description = "Bad email or weak password", body = ErrorBody),
        (status = 503, description = "Every password-hashing slot stayed busy (`Retry-After`), or PostgreSQL is down", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn register(
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (email, password) = credentials(&body)?;
    let created = accounts::register(&state.db, &state.hasher, email, password).await?;
    tracing::info!(user_id = created.id, "account registered");
    Ok(account(actix_web::http::StatusCode::CREATED, created))
}

/// Signs in under a new session id and folds the anonymous cart into the user's.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = AccountResponse),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 422, description = "Missing fields", body = ErrorBody),
        (status = 503, description = "Every password-hashing slot stayed busy (`Retry-After`), or PostgreSQL or Redis is down", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn login(
    body: web::Json<Value>,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (email, password) = credentials(&body)?;
    let signed_in = accounts::authenticate(&state.db, &state.hasher, email, password).await?;
    let user = signed_in.account;
    state.accounts.remember(user.id, signed_in.state).await;
    let anonymous_cart = cart_store::take_anonymous(&session);
    // A new id for the signed-in session: a planted session id is worth nothing.
    session.renew();
    // And a new CSRF token: one handed out before the sign-in is worth nothing after.
    csrf::forget(&session);
    auth_session::sign_in(&session, user.clone(), signed_in.state.generation)
        .map_err(ApiError::Internal)?;
    cart_store::merge_into_user(&state.redis, &session, user.id, &anonymous_cart).await?;
    tracing::info!(user_id = user.id, "signed in");
    Ok(account(actix_web::http::StatusCode::OK, user))
}

/// Ends this session (its server-side state is deleted).
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    responses((status = 200, description = "Signed out", body = MessageResponse))
)]
pub async fn logout(session: Session) -> HttpResponse {
    session.purge();
    message("Signed out")
}

/// The signed-in account.
#[utoipa::path(
    get, path = "/api/auth/me", tag = "auth",
    responses(
        (status = 200, description = "Signed in", body = AccountResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
pub async fn me(user: CurrentUser) -> HttpResponse {
    account(actix_web::http::StatusCode::OK, user.0)
}

/// Ends every session of the user, on every instance.
#[utoipa::path(
    post, path = "/api/auth/logout-all", tag = "auth",
    responses(
        (status = 200, description = "All sessions ended", body = MessageResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(user_id = user.0.id))]
pub async fn logout_all(
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = db::pool::connection(&state.db).await?;
    let ended = accounts::end_all_sessions(&mut conn, user.0.id).await?;
    drop(conn);
    // This instance sees the new generation at once; the others within
    // `session.account_cache_ms`.
    state.accounts.remember(user.0.id, ended).await;
    session.purge();
    tracing::info!("every session of the user ended");
    Ok(message("Signed out everywhere"))
}

/// This session's CSRF token, made on first use (a session is started for it when there
/// is none) and replaced at each sign-in. A client whose unsafe requests carry the
/// session cookie but no `Origin` of this service (a page behind a proxy that rewrites
/// the host) sends it as `X-CSRF-Token`.
#[utoipa::path(
    get, path = "/api/auth/csrf", tag = "auth",
    responses((status = 200, description = "The session's token", body = CsrfResponse))
)]
pub async fn csrf_token(session: Session) -> Result<HttpResponse, ApiError> {
    let token = csrf::token(&session).map_err(ApiError::Internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(CsrfResponse {
            success: true,
            data: CsrfToken { token },
        }))
}

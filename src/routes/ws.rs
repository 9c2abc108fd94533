//! `GET /ws`: the WebSocket handshake; the connection then runs in its own task.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::extract::{admin_user, Admin};
use crate::auth::held_session::HeldSession;
use crate::auth::session_store::RedisClientStore;
use crate::error::{ApiError, ErrorBody};
use crate::origin::origin_header;
use crate::state::AppState;
use crate::telemetry::throttle::LogThrottle;
use crate::ws::admission::Refused;
use crate::ws::session::{self, AdminAccess, Limits};
use crate::ws::WorkerHub;

/// Seconds a client at its own cap is asked to wait: its sockets are long-lived, so a
/// place rarely frees within a second.
const PER_CLIENT_RETRY_AFTER_SECS: u64 = 10;

/// Refused handshakes, logged once per 10 s however many a client sends.
static REFUSED: LogThrottle = LogThrottle::new();

/// Handshakes refused for their Origin: any page can make a visitor's browser send them.
static OTHER_ORIGIN: LogThrottle = LogThrottle::new();

/// Live product events over WebSocket.
///
/// JSON text frames. Client: `{"type":"subscribe","topics":["products","product:42",
/// "category:Books"],"since":123}` (`since` optional), `{"type":"unsubscribe","topics":
/// [...]}`, `{"type":"ping"}`. Server: `subscribed`, `unsubscribed`, the product events
/// (`product.created`/`product.updated` with `product`, `product.deleted` with `id` and
/// `version`, each with `offset` and `ts`), `pong`, `resync`, `error` (`code`,
/// `message`). Only admin sockets get inactive products: any other socket gets a
/// deactivation as `product.deleted` with `reason` `inactive`, and nothing of the product. A client whose
/// queue (`realtime.client_queue_size`) is full is closed with 1013; a frame larger than
/// `realtime.max_frame_bytes` closes it with 1009; after `realtime.max_bad_frames`
/// refused frames, 1008; on server shutdown, 1001. An `update` of a product moved to
/// another category carries `previousCategory` and reaches both categories' topics.
/// `admin:metrics` (an admin session or the admin token, else an `error` frame with
/// `unauthorized` or `forbidden`) pushes `{"type":"admin.metrics","snapshot":{...}}`, the
/// document of `GET /admin/metrics/cache`, every second; a session-held feed ends with a
/// `forbidden` error frame within a second of the session's end or demotion. A browser
/// handshake (one with `Origin`) from a page of another origin than the service's own or
/// `realtime.allowed_origins` is refused with 403.
#[utoipa::path(get, path = "/ws", tag = "realtime",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake (no `Upgrade: websocket`, a bad key or version)", body = ErrorBody),
        (status = 403, description = "A browser page of another origin: `Origin` is neither this service's own nor in `realtime.allowed_origins` (`forbidden`)", body = ErrorBody),
        (status = 429, description = "This client address holds `realtime.max_connections_per_ip` sockets already (`rate_limited`, with `Retry-After`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
        (status = 503, description = "This instance holds `realtime.max_connections` sockets already (`service_unavailable`, with `Retry-After`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    ))]
#[tracing::instrument(skip_all)]
pub async fn ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    shard: web::Data<WorkerHub>,
) -> Result<HttpResponse, ApiError> {
    // actix-ws answers a failed handshake with an empty 400; clients get the JSON error.
    let (response, ws_session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::BadRequest(format!("not a WebSocket handshake: {e}")))?;
    // A browser sends its page's origin and the visitor's cookie, whatever page opened
    // the socket; a client that sends no Origin is not a browser acting for a visitor.
    if let Some(origin) = origin_header(&req) {
        if !state.origins.is_own_or_listed(origin, &req) {
            if let Some(suppressed) = OTHER_ORIGIN.admit() {
                tracing::info!(
                    origin,
                    suppressed,
                    "WebSocket handshake from another origin refused"
                );
            }
            return Err(ApiError::OriginRefused);
        }
    }
    let client = state.ws_admission.client_of(&req);
    // Refused after the handshake is parsed, so a malformed one is a 400 whatever the load;
    // dropping the unused session and stream answers the error instead of 101.
    let admitted = state.ws_admission.admit(&client).map_err(|refused| {
        if let Some(suppressed) = REFUSED.admit() {
            tracing::info!(%client, %refused, suppressed, "WebSocket handshake refused");
        }
        match refused {
            Refused::PerClient => ApiError::RateLimited {
                retry_after: PER_CLIENT_RETRY_AFTER_SECS,
            },
            Refused::Total => ApiError::Unavailable("WebSocket capacity"),
        }
    })?;
    let admin = admin_access(&req, &state);
    // On this worker's thread, registered with this worker's shard: the shard's fan-out
    // wakes it without crossing threads.
    actix_rt::spawn(session::run(
        shard.0.clone(),
        state.replay_redis.clone(),
        Limits::from_settings(&state.settings.realtime),
        admin,
        admitted,
        ws_session,
        stream,
    ));
    Ok(response)
}

/// What the handshake's credentials allow on `admin:metrics`. An admin session is kept
/// with its key, so the socket can ask later whether it still stands.
fn admin_access(req: &HttpRequest, state: &AppState) -> AdminAccess {
    match admin_user(req) {
        Ok(Admin::ApiToken) => AdminAccess::Token,
        Ok(Admin::Account(_)) => HeldSession::of_request(
            req,
            &state.session_cookie,
            RedisClientStore::new(state.redis.clone()),
            state.accounts.clone(),
            state.settings.session.absolute_lifetime_secs,
        )
        .map_or(AdminAccess::Unauthorized, AdminAccess::Session),
        Err(ApiError::Forbidden) => AdminAccess::Forbidden,
        Err(_) => AdminAccess::Unauthorized,
    }
}

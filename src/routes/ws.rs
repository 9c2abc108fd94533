//! `GET /ws`: the WebSocket handshake; the connection then runs in its own task.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::ws::session;

/// Live product events over WebSocket.
///
/// JSON text frames. Client: `{"type":"subscribe","topics":["products","product:42",
/// "category:Books"],"since":123}` (`since` optional), `{"type":"unsubscribe","topics":
/// [...]}`, `{"type":"ping"}`. Server: `subscribed`, `unsubscribed`, the product events
/// (`product.created`/`product.updated` with `product`, `product.deleted` with `id`, each
/// with `offset` and `ts`), `pong`, `resync`, `error` (`code`, `message`). A client whose
/// queue is full is closed with 1013; after 20 refused frames, with 1008.
#[utoipa::path(get, path = "/ws", tag = "realtime",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake (no `Upgrade: websocket`, a bad key or version)", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
pub async fn ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // actix-ws answers a failed handshake with an empty 400; clients get the JSON error.
    let (response, ws_session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::BadRequest(format!("not a WebSocket handshake: {e}")))?;
    actix_rt::spawn(session::run(
        state.ws_hub.clone(),
        state.redis.clone(),
        state.settings.realtime.ping_interval(),
        ws_session,
        stream,
    ));
    Ok(response)
}

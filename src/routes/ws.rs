//! `GET /ws`: the WebSocket handshake; the connection then runs in its own task.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::state::AppState;
use crate::ws::session;

/// Upgrades to WebSocket and hands the connection to a session task.
#[tracing::instrument(skip_all)]
pub async fn ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, ws_session, stream) = actix_ws::handle(&req, body)?;
    actix_rt::spawn(session::run(
        state.ws_hub.clone(),
        state.redis.clone(),
        state.settings.realtime.ping_interval(),
        ws_session,
        stream,
    ));
    Ok(response)
}

//! Draining before a stop. Behind a load balancer that keeps connections open to this
//! instance, stopping at once races the balancer: a request it sends on a keep-alive
//! connection just as the instance closes it fails, and one that is not idempotent (a
//! POST) cannot be retried elsewhere. So for `server.drain_ms` after a stop request the
//! instance keeps serving, but answers `/readyz` with 503 and closes every connection
//! after its answer (`Connection: close`); the balancer's next requests open new
//! connections, which the stop then refuses, and a refused connection is always safe
//! to retry on another instance. The flag itself (`state::Draining`) is set by the stop,
//! which then waits for the requests counted here to be answered, not for the clients to
//! read the answers (`ws::shutdown`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{web, Error};

use crate::state::AppState;

pub async fn close_while_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>();
    let draining = state.is_some_and(|state| state.draining.is_on());
    // Counted until the handler answers, however it ends: the stop waits for these.
    let _handling = state.map(|state| state.draining.handling());
    let mut response = next.call(req).await?;
    if draining {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}

//! Applies the rate-limit policies of the matched route: one `Check` to the limiter actor
//! per request, the headers on every limited response, and 429 when any policy says no.
//!
//! Policies are matched against the path as the router decodes it (`match_info()`), not
//! the raw request path: `/api/auth/%6Cogin` reaches the login handler, so it must meet
//! the login policies.

use actix::dev::SendError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::{self, BytesMut};
use actix_web::{Error, HttpMessage, ResponseError};
use futures_util::StreamExt;

use crate::auth::session::SessionUser;
use crate::error::ApiError;
use crate::ratelimit::policy::{Algorithm, IdentityKind, Policy};
use crate::ratelimit::{headers, Check, CheckKey, RateLimit, WorkerLimiter};
use crate::redis_client::Keyspace;
use crate::state::AppState;

pub async fn rate_limit(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let Some(limit) = state.rate_limit.as_ref() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let user_id = req.extensions().get::<SessionUser>().map(|u| u.account.id);
    let policies =
        limit
            .policies
            .matching(req.method(), req.match_info().as_str(), user_id.is_some());
    if policies.is_empty() {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let ip = client_ip(&req, limit);
    let email = if policies.iter().any(|p| p.identity == IdentityKind::Email) {
        body_email(&mut req, state.settings.server.max_body_bytes).await
    } else {
        None
    };
    // A policy whose identity is missing (no email in the body) does not apply.
    let (policies, keys): (Vec<&Policy>, Vec<CheckKey>) = policies
        .into_iter()
        .filter_map(|p| {
            let who = match (p.identity, user_id) {
                (IdentityKind::Client, Some(id)) => Who::User(id),
                (IdentityKind::Client, None) | (IdentityKind::Ip, _) => Who::Ip(&ip),
                (IdentityKind::Email, _) => Who::Email(email.as_deref()?),
            };
            let key = key(state.redis.keyspace(), p, who);
            Some((p, key))
        })
        .unzip();
    if keys.is_empty() {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let Some(limiter) = req.app_data::<web::Data<WorkerLimiter>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let (check, answer) = Check::new(keys);
    // A full mailbox makes the request wait for room, as any bounded queue would.
    let sent = match limiter.0.try_send(check) {
        Err(SendError::Full(check)) => limiter.0.send(check).await.map_err(|e| e.to_string()),
        other => other.map_err(|e| e.to_string()),
    };
    // No answer only when the actor is gone (shutdown): do not fail the request for it.
    let decision = match sent {
        Ok(()) => answer.await.ok().flatten(),
        Err(e) => {
            tracing::warn!(error = %e, "rate limiter unreachable");
            None
        }
    };
    let Some(decision) = decision else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let now = chrono::Utc::now();
    if !decision.allowed {
        let retry_after = headers::retry_after(&decision);
        if let Some(i) = headers::closest(&decision) {
            crate::metrics::prometheus::rate_limited(&policies[i].name);
        }
        tracing::info!(retry_after, "rate limited");
        let mut response = ApiError::RateLimited { retry_after }.error_response();
        headers::apply(response.headers_mut(), &policies, &decision, now);
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    headers::apply(response.headers_mut(), &policies, &decision, now);
    Ok(response.map_into_left_body())
}

/// Whose quota a policy counts.
#[derive(Clone, Copy)]
enum Who<'a> {
    User(i64),
    Ip(&'a str),
    Email(&'a str),
}

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Who::User(id) => write!(f, "user:{id}"),
            Who::Ip(ip) => write!(f, "ip:{ip}"),
            Who::Email(email) => write!(f, "email:{email}"),
        }
    }
}

/// `{prefix}rl:{policy}:{{who}}` (GCRA: `…:gcra:{{who}}`, another type, so switching a
/// policy's algorithm never meets a key of the other kind). The identity is the hash tag:
/// a check whose policies count one identity stays in one Redis Cluster slot. Written in
/// one go: this runs on every limited request.
fn key(keyspace: &Keyspace, policy: &Policy, who: Who<'_>) -> CheckKey {
    let kind = match policy.algorithm {
        Algorithm::SlidingLog => "",
        Algorithm::Gcra => "gcra:",
    };
    CheckKey {
        key: keyspace.key_from(format_args!("rl:{}:{kind}{{{who}}}", policy.name)),
        limit: policy.limit,
        window_ms: policy.window_ms,
        algorithm: policy.algorithm,
    }
}

fn client_ip(req: &ServiceRequest, limit: &RateLimit) -> String {
    limit
        .proxies
        .request_identity(req.peer_addr(), req.headers(), limit.ipv6_prefix_len)
}

/// The lower-cased `email` of a JSON body, read up to the body limit and put back for
/// the handler. A body over the limit is put back as read, and the handler's JSON
/// extractor answers 413 for it as usual.
async fn body_email(req: &mut ServiceRequest, max_bytes: usize) -> Option<String> {
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else { break };
        body.extend_from_slice(&chunk);
        if body.len() > max_bytes {
            break;
        }
    }
    let body = body.freeze();
    req.set_payload(Payload::from(body.clone()));
    let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let email = value.get("email")?.as_str()?.trim().to_lowercase();
    (!email.is_empty() && email.len() <= 254).then_some(email)
}

//! `/admin`: metrics (this instance, the whole deployment) and cache invalidation. The
//! scope is guarded by `middleware::require_admin` (session or admin token).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::cache::keys::is_match_all;
use crate::cache::Target;
use crate::domain::responses::MessageResponse;
use crate::domain::text::{has_control, CONTROL_MESSAGE};
use crate::error::{ApiError, ErrorBody};
use crate::metrics::cluster;
use crate::metrics::snapshot::{self, CacheMetrics};
use crate::state::AppState;

/// Longest accepted key, tag or pattern, in characters.
const MAX_NAME: usize = 512;
/// A name without control characters.
const NAME_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";
/// A pattern without control characters that is not only `*`s.
const GLOB_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^*\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// Registers the admin routes inside the `/admin` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics/cache")
            .route(web::get().to(metrics_cache))
            .default_service(web::to(super::not_allowed("GET"))),
    )
    .service(
        web::resource("/metrics/cluster")
            .route(web::get().to(metrics_cluster))
            .default_service(web::to(super::not_allowed("GET"))),
    )
    .service(
        web::resource("/cache/invalidate")
            .route(web::post().to(invalidate))
            .default_service(web::to(super::not_allowed("POST"))),
    );
}

/// `{"instances":[...]}`: the snapshot of every live instance, ordered by instance id.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterMetrics {
    /// Each live instance's `GET /admin/metrics/cache` document, at most a second old.
    #[schema(value_type = Vec<CacheMetrics>)]
    pub instances: Vec<Value>,
}

/// Cache counters per tier, the breaker, Redis, the rate limiter, WebSocket clients,
/// job queues, and which instance answered.
#[utoipa::path(get, path = "/admin/metrics/cache", tag = "admin",
    responses((status = 200, description = "This instance's metrics", body = CacheMetrics)))]
pub async fn metrics_cache(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(snapshot::collect(&state, std::time::Duration::ZERO).await)
}

/// The metrics of every live instance of the deployment (each publishes its own to
/// Redis every second; one silent for 3 s is gone).
#[utoipa::path(get, path = "/admin/metrics/cluster", tag = "admin",
    responses(
        (status = 200, description = "Every live instance's metrics", body = ClusterMetrics),
    ))]
pub async fn metrics_cluster(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let instances = cluster::live_instances(&state).await.map_err(|error| {
        tracing::warn!(%error, "cluster metrics unreadable");
        ApiError::Unavailable("Redis")
    })?;
    Ok(HttpResponse::Ok().json(ClusterMetrics { instances }))
}

/// The body of `POST /admin/cache/invalidate`: exactly one of `{"pattern":"products:list:*"}`,
/// `{"tag":"category:books"}`, `{"key":"products:1"}` or `{"all":true}`.
pub struct InvalidateBody;

impl utoipa::PartialSchema for InvalidateBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let one = |field: &str, value: ObjectBuilder| {
            ObjectBuilder::new()
                .property(field, value)
                .required(field)
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        let name = |pattern: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_NAME))
                .pattern(Some(pattern))
        };
        OneOfBuilder::new()
            .item(one("pattern", name(GLOB_PATTERN)))
            .item(one("tag", name(NAME_PATTERN)))
            .item(one("key", name(NAME_PATTERN)))
            .item(one(
                "all",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .enum_values(Some([true])),
            ))
            .into()
    }
}

impl ToSchema for InvalidateBody {}

/// `{"success":true,"deferred":true,"message":"..."}`: accepted, not yet done everywhere.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeferredResponse {
    pub success: bool,
    pub deferred: bool,
    pub message: String,
}

/// Invalidates by `pattern`, `tag`, `key`, or `all`, on every instance.
#[utoipa::path(post, path = "/admin/cache/invalidate", tag = "admin",
    request_body = InvalidateBody,
    responses(
        (status = 200, description = "Invalidated", body = MessageResponse),
        (status = 202, description = "Done on this instance's L1; Redis (L2, the other instances) could not be reached and is retried until it is", body = DeferredResponse),
        (status = 400, description = "None, several, or a bad target", body = ErrorBody),
    ))]
pub async fn invalidate(
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let target = parse_target(&body)?;
    let done = state.cache.invalidate(vec![target]).await;
    if done.deferred {
        // Never a success for work that has not happened: say what is still owed.
        return Ok(HttpResponse::Accepted().json(DeferredResponse {
            success: true,
            deferred: true,
            message: format!(
                "Invalidated {} keys on this instance; Redis is unreachable, so L2 and \
                 the other instances follow when it is back",
                done.count
            ),
        }));
    }
    Ok(HttpResponse::Ok().json(MessageResponse {
        success: true,
        message: format!("Invalidated {} keys", done.count),
    }))
}

/// Exactly one target; names non-empty and bounded; a pattern of only `*` needs `all`.
fn parse_target(body: &Value) -> Result<Target, ApiError> {
    let Value::Object(map) = body else {
        return Err(bad("the body must be a JSON object"));
    };
    let mut targets = Vec::new();
    for (field, value) in map {
        let target = match (field.as_str(), value) {
            ("all", Value::Bool(true)) => Target::All,
            ("all", _) => return Err(bad("`all` must be true")),
            ("pattern" | "tag" | "key", Value::String(s)) => {
                if s.is_empty() || s.chars().count() > MAX_NAME {
                    return Err(bad(&format!("`{field}` must be 1..={MAX_NAME} characters")));
                }
                if has_control(s) {
                    return Err(bad(&format!("`{field}` {CONTROL_MESSAGE}")));
                }
                match field.as_str() {
                    "pattern" if is_match_all(s) => {
                        return Err(bad(r#"a pattern matching everything needs {"all":true}"#))
                    }
                    "pattern" => Target::Pattern(s.clone()),
                    "tag" => Target::Tag(s.clone()),
                    _ => Target::Key(s.clone()),
                }
            }
            ("pattern" | "tag" | "key", _) => {
                return Err(bad(&format!("`{field}` must be a string")))
            }
            (other, _) => return Err(bad(&format!("unknown field `{other}`"))),
        };
        targets.push(target);
    }
    match <[Target; 1]>::try_from(targets) {
        Ok([target]) => Ok(target),
        Err(_) => Err(bad(
            "give exactly one of pattern, tag, key or all (all must be true)",
        )),
    }
}

fn bad(message: &str) -> ApiError {
    ApiError::BadRequest(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exactly_one_target_is_accepted() {
        assert_eq!(
            parse_target(&json!({"pattern": "products:list:*"})).unwrap(),
            Target::Pattern("products:list:*".into())
        );
        assert_eq!(
            parse_target(&json!({"tag": "category:books"})).unwrap(),
            Target::Tag("category:books".into())
        );
        assert_eq!(parse_target(&json!({"all": true})).unwrap(), Target::All);
        for bad in [
            json!({}),
            json!({"pattern": "*"}),
            json!({"pattern": "**"}),
            json!({"all": false}),
            json!({"key": ""}),
            json!({"key": "a\u{0}"}),
            json!({"key": 1}),
            json!({"tag": "a", "key": "b"}),
            json!({"nope": 1}),
            json!([1]),
        ] {
            assert!(parse_target(&bad).is_err(), "{bad} should be refused");
        }
    }
}

//! Liveness and readiness probes.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// How long readiness waits for each dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    pub status: &'static str,
}

/// `up` or `down` per dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub postgres: &'static str,
    pub redis: &'static str,
}

/// Readiness: `success` is false, and `error` names what is down, when the answer is 503.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub success: bool,
    pub status: &'static str,
    pub checks: Checks,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ReadinessError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessError {
    pub code: &'static str,
    pub message: String,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Liveness)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: "ok" })
}

/// PostgreSQL and Redis both answer.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A dependency is down", body = Readiness),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (postgres, redis) = tokio::join!(postgres_up(&state), redis_up(&state));
    let mut down = Vec::new();
    if state.draining.is_on() {
        down.push("draining (stopping)");
    }
    if !postgres {
        down.push("postgres");
    }
    if !redis {
        down.push("redis");
    }
    let checks = Checks {
        postgres: if postgres { "up" } else { "down" },
        redis: if redis { "up" } else { "down" },
    };
    if down.is_empty() {
        return HttpResponse::Ok().json(Readiness {
            success: true,
            status: "ready",
            checks,
            error: None,
        });
    }
    HttpResponse::ServiceUnavailable().json(Readiness {
        success: false,
        status: "unavailable",
        checks,
        error: Some(ReadinessError {
            code: "not_ready",
            message: format!("Unavailable: {}", down.join(", ")),
        }),
    })
}

async fn postgres_up(state: &AppState) -> bool {
    let check = async {
        let mut conn = crate::db::pool::connection(&state.db).await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.ok()
    };
    matches!(
        tokio::time::timeout(CHECK_TIMEOUT, check).await,
        Ok(Some(_))
    )
}

async fn redis_up(state: &AppState) -> bool {
    state.redis.ping().await.is_ok()
}

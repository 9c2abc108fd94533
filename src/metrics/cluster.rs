//! The deployment's snapshots: every instance publishes its own to Redis each second,
//! with a short TTL, and any instance reads back the live ones.
//!
//! Keys, all under the prefix and the one hash tag `{instances}` so a publish is one
//! atomic transaction even on Redis Cluster:
//! - `metrics:{instances}:instance:<id>`: the instance's snapshot JSON, `SET … PX 3000`; an
//!   instance that stops publishing (crashed, stopped) is gone within 3 s.
//! - `metrics:{instances}:index`: a sorted set of instance ids scored by when their key
//!   expires, so readers never SCAN or KEYS the keyspace. The string key's TTL decides
//!   who is live; members are pruned a minute after their expiry, generously, so a clock
//!   that runs behind another instance's cannot hide a live instance.

use std::time::Duration;

use actix_web::web;
use redis::AsyncCommands;

use super::snapshot;
use crate::redis_client::{Keyspace, RedisError};
use crate::state::AppState;

/// How often an instance publishes its snapshot.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// How long a published snapshot lives: three missed publishes and the instance is gone.
pub const SNAPSHOT_TTL_MS: u64 = 3000;
/// Index members this long past their key's expiry are removed.
const PRUNE_AFTER_MS: i64 = 60_000;

fn snapshot_key(keyspace: &Keyspace, id: &str) -> String {
    keyspace.key(&format!("metrics:{{instances}}:instance:{id}"))
}

fn index_key(keyspace: &Keyspace) -> String {
    keyspace.key("metrics:{instances}:index")
}

/// The running publisher of this instance's snapshot.
pub struct SnapshotPublisher {
    task: actix_rt::task::JoinHandle<()>,
    state: web::Data<AppState>,
}

/// Publishes this instance's snapshot every second until stopped. A failed publish is
/// logged at debug: Redis being down already shows in readiness and the breaker, and
/// the next tick tries again.
pub fn spawn_publisher(state: web::Data<AppState>) -> SnapshotPublisher {
    let publishing = state.clone();
    let task = actix_rt::spawn(async move {
        let mut ticks = tokio::time::interval(PUBLISH_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = publish(&publishing).await {
                tracing::debug!(%error, "instance snapshot not published");
            }
        }
    });
    SnapshotPublisher { task, state }
}

impl SnapshotPublisher {
    /// Stops publishing and withdraws the snapshot, so a graceful stop leaves the
    /// cluster view at once rather than after the TTL. Both go over the shared
    /// connection after any publish already sent, so none can land after the removal.
    pub async fn stop(self) {
        self.task.abort();
        let keyspace = self.state.redis.keyspace();
        let id = self.state.instance.id.clone();
        let (key, index) = (snapshot_key(keyspace, &id), index_key(keyspace));
        let removed = self
            .state
            .redis
            .run(|mut c| async move {
                redis::pipe()
                    .atomic()
                    .del(&key)
                    .ignore()
                    .zrem(&index, &id)
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
        if let Err(error) = removed {
            tracing::info!(%error, "instance snapshot left to expire");
        }
    }
}

async fn publish(state: &AppState) -> Result<(), RedisError> {
    let snapshot = snapshot::collect(state, snapshot::L2_COUNT_MAX_AGE).await;
    let json = serde_json::to_string(&snapshot).map_err(|e| {
        RedisError::Command(redis::RedisError::from((
            redis::ErrorKind::TypeError,
            "snapshot not serialisable",
            e.to_string(),
        )))
    })?;
    // The same snapshot goes live to this instance's `admin:metrics` WebSocket
    // subscribers (the dashboard), whether or not Redis takes it.
    state.ws_hub.admin_metrics(&json);
    let keyspace = state.redis.keyspace();
    let (key, index) = (
        snapshot_key(keyspace, &state.instance.id),
        index_key(keyspace),
    );
    let id = state.instance.id.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let expires = now + SNAPSHOT_TTL_MS as i64;
    state
        .redis
        .run(|mut c| async move {
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&key)
                .arg(json)
                .arg("PX")
                .arg(SNAPSHOT_TTL_MS)
                .ignore()
                .zadd(&index, &id, expires)
                .ignore()
                .zrembyscore(&index, "-inf", now - PRUNE_AFTER_MS)
                .ignore()
                // The index goes too once every instance has stopped publishing.
                .pexpire(&index, PRUNE_AFTER_MS)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
}

/// The snapshots of every live instance, ordered by instance id.
pub async fn live_instances(state: &AppState) -> Result<Vec<serde_json::Value>, RedisError> {
    let keyspace = state.redis.keyspace().clone();
    let index = index_key(&keyspace);
    let ids: Vec<String> = state
        .redis
        .run(|mut c| async move { c.zrange(&index, 0, -1).await })
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = ids.iter().map(|id| snapshot_key(&keyspace, id)).collect();
    let found: Vec<Option<String>> = state
        .redis
        .run(|mut c| async move { redis::cmd("MGET").arg(&keys).query_async(&mut c).await })
        .await?;
    let mut instances: Vec<(String, serde_json::Value)> = ids
        .into_iter()
        .zip(found)
        .filter_map(|(id, json)| Some((id, serde_json::from_str(&json?).ok()?)))
        .collect();
    instances.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(instances
        .into_iter()
        .map(|(_, snapshot)| snapshot)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_index_share_one_hash_tag_inside_the_prefix() {
        let ks = Keyspace::new("cc:");
        assert_eq!(
            snapshot_key(&ks, "web-1"),
            "cc:metrics:{instances}:instance:web-1"
        );
        assert_eq!(index_key(&ks), "cc:metrics:{instances}:index");
    }
}

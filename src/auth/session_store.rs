//! actix-session's `SessionStore` over the shared [`RedisClient`].
//!
//! Hand-written (about 100 lines) rather than actix-session's `RedisSessionStore` because
//! that one opens its own connection at build time and fails when Redis is down, so the
//! service could not start without Redis; it also would not go through
//! `RedisClient::run` (timeout, circuit breaker). The storage format is the same: the
//! session state as a JSON object under `{prefix}sess:{key}` with the idle TTL.
//! While Redis is down, a request carrying a session cookie cannot load its session: the
//! middleware errors and `middleware::session_unavailable` answers a JSON 503; requests
//! without a cookie, which touch no session, are served as usual.

use std::collections::HashMap;

use actix_session::storage::{
    generate_session_key, LoadError, SaveError, SessionKey, SessionStore, UpdateError,
};
use actix_web::cookie::time::Duration;

use crate::redis_client::RedisClient;

type State = HashMap<String, String>;

/// Session state in Redis under `{prefix}sess:`.
#[derive(Clone)]
pub struct RedisClientStore {
    redis: RedisClient,
}

impl RedisClientStore {
    pub fn new(redis: RedisClient) -> Self {
        RedisClientStore { redis }
    }

    fn key(&self, session_key: &SessionKey) -> String {
        self.redis
            .keyspace()
            .key(&format!("sess:{}", session_key.as_ref()))
    }

    /// `SET key body EX ttl` with `NX` (new key) or `XX` (existing); false when skipped.
    async fn set(
        &self,
        key: String,
        state: &State,
        ttl: &Duration,
        mode: &'static str,
    ) -> anyhow::Result<bool> {
        let body = serde_json::to_string(state)?;
        let secs = ttl.whole_seconds().max(1);
        let done: Option<String> = self
            .redis
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(body)
                    .arg(mode)
                    .arg("EX")
                    .arg(secs)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(done.is_some())
    }
}

impl SessionStore for RedisClientStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        let key = self.key(session_key);
        let value: Option<String> = self
            .redis
            .run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        value
            .map(|v| serde_json::from_str(&v))
            .transpose()
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let session_key = generate_session_key();
        match self.set(self.key(&session_key), &state, ttl, "NX").await {
            Ok(true) => Ok(session_key),
            Ok(false) => Err(SaveError::Other(anyhow::anyhow!("session key collision"))),
            Err(e) => Err(SaveError::Other(e)),
        }
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: State,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        match self.set(self.key(&session_key), &state, ttl, "XX").await {
            Ok(true) => Ok(session_key),
            // The state expired since it was loaded: store it under a fresh key.
            Ok(false) => self.save(state, ttl).await.map_err(|e| match e {
                SaveError::Serialization(e) => UpdateError::Serialization(e),
                SaveError::Other(e) => UpdateError::Other(e),
            }),
            Err(e) => Err(UpdateError::Other(e)),
        }
    }

    async fn update_ttl(&self, session_key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
        let key = self.key(session_key);
        let secs = ttl.whole_seconds().max(1);
        self.redis
            .run(|mut c| async move {
                redis::cmd("EXPIRE")
                    .arg(key)
                    .arg(secs)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        let key = self.key(session_key);
        self.redis
            .run(|mut c| async move { redis::cmd("DEL").arg(key).query_async::<()>(&mut c).await })
            .await?;
        Ok(())
    }
}

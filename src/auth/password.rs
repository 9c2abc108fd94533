//! argon2id password hashes (the `argon2` crate's defaults: 19 MiB, 2 passes), computed
//! on the blocking pool because one hash takes milliseconds of CPU, at most
//! `auth.max_concurrent_hashes` at once.
//!
//! Why a semaphore: each hash holds a core and 19 MiB, and `spawn_blocking` would queue
//! any number of them (up to 512 threads), so a burst of logins could take every core and
//! a lot of memory, and every login would slow down together. With the bound, a request
//! that cannot get a slot within `auth.hash_queue_timeout_ms` is answered 503 with
//! `Retry-After` at once instead, and the others keep their usual latency.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::configuration::AuthSettings;

/// Hashing could not run.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the blocking pool is gone")]
    Join,
    #[error("every hashing slot stayed busy for the queue timeout")]
    Busy,
}

/// Hashes and verifies passwords, a bounded number at once. Cheap to clone; clones share
/// the slots.
#[derive(Debug, Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
}

impl Hasher {
    pub fn new(settings: &AuthSettings) -> Hasher {
        Hasher {
            slots: Arc::new(Semaphore::new(settings.hash_limit())),
            queue_timeout: Duration::from_millis(settings.hash_queue_timeout_ms),
        }
    }

    /// A slot, waiting at most the queue timeout. `timeout` polls the acquisition before
    /// looking at the clock, so a free slot is taken even with a timeout of 0.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, PasswordError> {
        match tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat it as busy all the same.
            Ok(Err(_)) | Err(_) => Err(PasswordError::Busy),
        }
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let permit = self.slot().await?;
        // The permit moves into the blocking task: if the request is dropped meanwhile,
        // the hash still runs to its end and keeps its slot until then.
        tokio::task::spawn_blocking(move || {
            let hashed = hash_now(&password);
            drop(permit);
            hashed
        })
        .await
        .map_err(|_| PasswordError::Join)?
    }

    /// Checks a password against a stored hash, or against a dummy hash when there is no
    /// account, so an unknown email costs the same time as a wrong password.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let permit = self.slot().await?;
        tokio::task::spawn_blocking(move || {
            let verdict = verify_now(&password, stored);
            drop(permit);
            verdict
        })
        .await
        .map_err(|_| PasswordError::Join)?
    }
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

fn verify_now(password: &str, stored: Option<String>) -> Result<bool, PasswordError> {
    let known = stored.is_some();
    let phc = match stored {
        Some(s) => s,
        None => dummy_hash()?.to_string(),
    };
    let matches = PasswordHash::new(&phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false);
    Ok(known && matches)
}

/// A hash of a random password, made once per process.
fn dummy_hash() -> Result<&'static str, PasswordError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h);
    }
    let made = hash_now(&uuid::Uuid::new_v4().to_string())?;
    Ok(DUMMY.get_or_init(|| made))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(limit: usize, timeout_ms: u64) -> Hasher {
        Hasher::new(&AuthSettings {
            max_concurrent_hashes: limit,
            hash_queue_timeout_ms: timeout_ms,
        })
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = hasher(0, 1000);
        let h = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(hasher
            .verify("correct horse battery".into(), Some(h.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify("wrong horse battery".into(), Some(h))
            .await
            .unwrap());
        assert!(!hasher.verify("anything at all".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn with_every_slot_taken_a_request_is_busy_after_the_queue_timeout() {
        let hasher = hasher(1, 0);
        let held = hasher.slot().await.unwrap();
        assert!(matches!(
            hasher.hash("correct horse battery".into()).await,
            Err(PasswordError::Busy)
        ));
        drop(held);
        assert!(hasher.hash("correct horse battery".into()).await.is_ok());
    }
}

//! Test hooks: pause points that let black-box tests stop a read, a fill or an
//! invalidation exactly where a race needs it, deterministically, without sleeps.
//! Nothing arms one in production; an unarmed hook costs one atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// Where a pause can stop.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausePoint {
    /// A fill, after its database read, before its L2 write (key: the entry's name).
    BeforeL2Fill,
    /// A read that missed L1 and loaded, before it puts the entry into L1 (key: name).
    BeforeL1Put,
    /// An invalidation, after its first epoch bump, before L2 (key: ignored).
    BeforeInvalidationL2,
}

/// One armed pause: the next arrival at its point (for its key) stops until released.
#[doc(hidden)]
pub struct Pause {
    point: PausePoint,
    key: String,
    reached: Notify,
    release: Notify,
}

impl Pause {
    /// Waits until something has arrived at the point and stopped.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets it go on.
    pub fn release(&self) {
        self.release.notify_one();
    }

    fn matches(&self, point: PausePoint, key: &str) -> bool {
        self.point == point && (point == PausePoint::BeforeInvalidationL2 || self.key == key)
    }
}

/// The cache's hooks; empty unless a test arms one.
#[doc(hidden)]
#[derive(Default)]
pub struct Hooks {
    armed: AtomicBool,
    pauses: Mutex<Vec<Arc<Pause>>>,
}

impl Hooks {
    /// Arms a one-shot pause at `point` for the key named `key` (e.g. `products:1`).
    pub fn pause_next(&self, point: PausePoint, key: &str) -> Arc<Pause> {
        let pause = Arc::new(Pause {
            point,
            key: key.to_string(),
            reached: Notify::new(),
            release: Notify::new(),
        });
        self.slots().push(pause.clone());
        self.armed.store(true, Ordering::Release);
        pause
    }

    /// Called at each point: stops there if a pause is armed for it.
    pub(super) async fn reach(&self, point: PausePoint, key: impl FnOnce() -> String) {
        if !self.armed.load(Ordering::Acquire) {
            return;
        }
        let key = key();
        let armed = {
            let mut pauses = self.slots();
            let found = pauses.iter().position(|p| p.matches(point, &key));
            found.map(|i| pauses.swap_remove(i))
        };
        if let Some(pause) = armed {
            // `notify_one` keeps a permit, so the test may start waiting late.
            pause.reached.notify_one();
            pause.release.notified().await;
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Pause>>> {
        self.pauses.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

//! Test hooks: pause points that let black-box tests put a fill exactly where a race
//! needs it (between its database read and its L2 write), deterministically, without
//! sleeps. Nothing installs one in production; an uninstalled hook costs one uncontended
//! lock per L2 fill (never on a hit).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// One armed pause: the next fill of `key` stops before its L2 write until released.
#[doc(hidden)]
pub struct FillPause {
    key: String,
    reached: Notify,
    release: Notify,
}

impl FillPause {
    /// Waits until a fill of the key has read the database and stopped.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the stopped fill go on to its L2 write.
    pub fn release(&self) {
        self.release.notify_one();
    }
}

/// The cache's hooks; empty unless a test arms one.
#[doc(hidden)]
#[derive(Default)]
pub struct Hooks {
    fill_pause: Mutex<Option<Arc<FillPause>>>,
}

impl Hooks {
    /// Arms a one-shot pause for the next fill of the key named `key` (e.g. `products:1`).
    pub fn pause_next_fill(&self, key: &str) -> Arc<FillPause> {
        let pause = Arc::new(FillPause {
            key: key.to_string(),
            reached: Notify::new(),
            release: Notify::new(),
        });
        *self.slot() = Some(pause.clone());
        pause
    }

    /// Called by a fill before its L2 write: stops there if a pause is armed for it.
    pub(super) async fn before_l2_fill(&self, key: &str) {
        let armed = {
            let mut slot = self.slot();
            match slot.as_ref() {
                Some(pause) if pause.key == key => slot.take(),
                _ => None,
            }
        };
        if let Some(pause) = armed {
            // `notify_one` keeps a permit, so the test may start waiting late.
            pause.reached.notify_one();
            pause.release.notified().await;
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<FillPause>>> {
        self.fill_pause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

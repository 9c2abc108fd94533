//! Tracing set-up: pretty logs in development, JSON lines in production.
//!
//! `RUST_LOG` overrides the configured level. Tests keep quiet unless `TEST_LOG` is set.
//! Lines a client can provoke go through a `throttle::LogThrottle` (one per kind per 10 s).

pub mod throttle;

use tracing_subscriber::{fmt, EnvFilter};

use crate::configuration::{LogFormat, LogSettings};

/// Installs the global subscriber once; later calls (one per test) are ignored.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.level.as_str()));
    let builder = fmt().with_env_filter(filter).with_target(false);
    // `try_init` fails only when a subscriber is already installed, which is fine.
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

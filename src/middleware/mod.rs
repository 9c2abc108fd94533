//! Request middleware, one per file.

pub mod csrf;
pub mod drain;
pub mod rate_limit;
pub mod request_id;
pub mod require_admin;
pub mod session_guard;
pub mod session_unavailable;

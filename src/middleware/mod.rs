//! Request middleware, one per file.

pub mod request_id;

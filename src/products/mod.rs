//! Product use cases below the routes: [`service::ProductWrites`] is the one place a
//! product is created, changed or deleted.

pub mod service;

pub use service::{ProductWrites, WriteError};

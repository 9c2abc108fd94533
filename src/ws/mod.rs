//! `GET /ws`: live product events over WebSocket.
//!
//! - `protocol`: the JSON frames both ways and the topic syntax.
//! - `hub`: one actor per worker thread (a shard); owns topic → connections of that
//!   worker's sockets and fans each product event out to every matching one exactly once.
//! - `shards`: the instance's shards as one: starts one per worker, routes every product
//!   event to each, and sums their figures.
//! - `session`: one task per connection; reads the client's frames, answers them, and
//!   writes what the hub queues for it (bounded: a client that cannot keep up is closed
//!   with 1013).
//! - `replay`: `since`, the missed events from the Redis history (or `resync`).
//! - `admission`: the caps on open sockets, per client address and in total.
//! - `continuity`: the hub's view of offsets, to notice missed events and mend them.
//! - `shutdown`: closing every socket with 1001 before the server stops.
//! - `visibility`: what a socket that is not an admin's may see of an event (no
//!   inactive product), for the fan-out and the replay alike.

pub mod admission;
pub mod continuity;
pub mod hub;
pub mod protocol;
pub mod replay;
pub mod session;
pub mod shards;
pub mod shutdown;
pub mod visibility;

pub use admission::Admission;
pub use hub::Hub;
pub use shards::{HubShards, WorkerHub};

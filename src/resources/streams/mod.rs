//! Live streams out: a room composited at its vendor and pushed to RTMP(S) ingests. `api`
//! parses and replies; `service` decides (starts, outputs, following the vendor, layouts).

pub mod api;
pub mod service;

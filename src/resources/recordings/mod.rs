//! Recordings: `api` parses and replies; `service` decides; `spec` builds what a vendor is asked to record;
//! `destinations` are a project's own storage (where a recording may be written is
//! `resources::storage`, shared with rooms that record themselves).

pub mod api;
pub mod destinations;
pub mod service;
pub mod spec;

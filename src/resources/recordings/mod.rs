//! Recordings: `api` parses and replies; `spec` builds what a vendor is asked to record;
//! `storage` decides where a recording may be written; `destinations` are a project's own
//! storage.

pub mod api;
pub mod destinations;
pub mod spec;
pub mod storage;

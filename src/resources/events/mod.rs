//! Vendor events: `api` takes a vendor's webhook and lists the normalized events; `ingest`
//! stores each event once and applies its effects; `enforce` removes a banned participant
//! whose join arrives.

pub mod api;
pub mod enforce;
pub mod ingest;

//! Vendor events: `api` takes a vendor's webhook and lists the normalized events; `ingest`
//! stores each event once and applies its effects.

pub mod api;
pub mod ingest;

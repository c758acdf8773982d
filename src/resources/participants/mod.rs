//! Participants of a room: `api` parses and replies; `service` decides.

pub mod api;
pub mod service;

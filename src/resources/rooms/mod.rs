//! Rooms: `api` parses and replies; `service` decides (names, vendor choice, creating with
//! failover); `directory` turns a `{room}` into a usable, settled room for every resource.

pub mod api;
pub mod directory;
pub mod service;

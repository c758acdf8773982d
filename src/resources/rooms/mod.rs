//! Rooms: `api` parses and replies.

pub mod api;

//! Participants of a room: `api` parses and replies.

pub mod api;

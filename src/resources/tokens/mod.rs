//! Join tokens: `api` parses and replies.

pub mod api;

//! Join tokens: `api` parses and replies (asking `rooms::directory` for the room); `service`
//! records the identity in the participant registry.

pub mod api;
pub mod service;

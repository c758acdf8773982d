//! `rtc.participant.ban` and `rtc.ban.*`: identities refused tokens in a room or a project.

pub mod api;
pub mod service;

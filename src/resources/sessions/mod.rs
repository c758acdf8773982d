//! `rtc.session.*` and `rtc.presence`: the participant sessions the vendors' events reported
//! (the rows usage meters), as history and as who is where now. Presence lives here because it
//! is the same rows seen from one identity: its open sessions, in the same shape.

pub mod api;
pub mod service;

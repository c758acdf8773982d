//! Participant moderation: `participant/mute` (soft and hard) and `participant/update`
//! (permissions, name, metadata). `api` parses and replies; `service` decides, stores the
//! state that later tokens fold in, and asks the room's vendor to enforce it now.

pub mod api;
pub mod service;

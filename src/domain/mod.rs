//! The types the rest of rtcgate speaks in, with the rules that are theirs alone: ids, recording
//! and storage destinations, and which hosts a tenant's URL may reach. Plain data and pure
//! functions; nothing here reads the store or calls a vendor.

pub mod events;
pub mod ids;
pub mod limits;
pub mod net_policy;
pub mod recording;
pub mod recording_destination;

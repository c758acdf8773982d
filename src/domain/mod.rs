//! The types the rest of rtcgate speaks in, with the rules that are theirs alone: values parsed
//! once from what a client sends (identities, text), ids, events, recording and storage
//! destinations, quotas, and which hosts a tenant's URL may reach. Plain data and pure functions;
//! nothing here reads the store or calls a vendor, and the code that receives one of these
//! values never checks it again.

pub mod events;
pub mod identity;
pub mod ids;
pub mod limits;
pub mod moderation;
pub mod net_policy;
pub mod recording;
pub mod recording_destination;
pub mod stream;
pub mod text;

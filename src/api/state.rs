//! What every request shares in one isolate: the settings, the vendors, and the isolate's
//! memory (API keys, rooms, the participant registry). Built once per isolate by
//! `App::from_env` (in `app`), handed to each handler through `api::context::Ctx`.
//!
//! Each cache owns its lifetime and budget next to its type (`api::auth::KeyCache`,
//! `store::room_cache::RoomCache`, `store::registry_writer::Registry`). A Workers isolate has
//! 128 MB; together they keep what rtcgate remembers under about 30 MB however large the
//! entries are (bans included).

use std::rc::Rc;

use crate::api::auth::KeyCache;
use crate::api::revocation::Revocation;
use crate::api::settings::Settings;
use crate::store::registry_writer::Registry;
use crate::store::room_cache::RoomCache;
use crate::vendors::routing::VendorRouter;

/// Short-lived isolate memory. Entries may be up to their cache's TTL stale; see `api::auth`
/// for what that means for revoked keys.
#[derive(Default)]
pub struct IsolateCache {
    pub keys: KeyCache,
    pub rooms: RoomCache,
    /// Live bans of the projects served, and the change feed that keeps them and `keys` fresh.
    pub revocation: Revocation,
}

pub struct App {
    pub settings: Settings,
    /// The vendors and the routing between them.
    pub vendors: VendorRouter,
    pub cache: IsolateCache,
    /// The participant registry as this isolate knows it, and its deferred writes.
    pub registry: Rc<Registry>,
}

//! Rooms as this isolate remembers them, for the token hot path: (project, id or name) → room,
//! each entry used for at most `ROOM_CACHE_TTL_MS` and bounded by bytes as well as entries
//! (`byte_cache`), so no burst of rooms with large metadata grows the isolate past its memory
//! limit. Only `resources::rooms::directory` reads and fills it.

use std::cell::RefCell;
use std::rc::Rc;

use super::rooms::Room;
use crate::byte_cache::{ByteCache, HeapSize};
use crate::runtime::Runtime;

/// How long a cached room may be used. A room deleted through another isolate can still get
/// tokens minted here for at most this long (the vendor would then host an empty room).
pub const ROOM_CACHE_TTL_MS: u64 = 60_000;
/// A room entry in use is re-read after the response once it is this old, so a room in steady
/// use never expires into a read the caller waits for.
pub const ROOM_REFRESH_AFTER_MS: u64 = ROOM_CACHE_TTL_MS / 2;

/// The room cache's budget (see `api::state` for the isolate's whole budget). A room without
/// metadata is about 600 bytes (a room is held under its id and under the name it was asked
/// by), one with 16 KiB of metadata about 17 KB.
pub const ROOM_CACHE_BYTES: usize = 8 << 20;
pub const ROOM_CACHE_ENTRIES: usize = 10_000;

type Rooms = ByteCache<(String, String), CachedRoom>;

pub struct RoomCache {
    /// Shared with the refreshes that run after a response.
    rooms: Rc<RefCell<Rooms>>,
}

impl Default for RoomCache {
    fn default() -> Self {
        RoomCache { rooms: Rc::new(RefCell::new(ByteCache::new(ROOM_CACHE_BYTES, ROOM_CACHE_ENTRIES))) }
    }
}

struct CachedRoom {
    room: Room,
    at_ms: u64,
    /// A re-read is under way (after some response), so no other request starts one.
    refreshing: bool,
}

impl HeapSize for Room {
    fn heap_bytes(&self) -> usize {
        self.id.heap_bytes()
            + self.project_id.heap_bytes()
            + self.name.heap_bytes()
            + self.vendor.heap_bytes()
            + self.vendor_sid.heap_bytes()
            + self.metadata.heap_bytes()
            + self.region.heap_bytes()
            + self.moderation.heap_bytes()
    }
}

impl HeapSize for CachedRoom {
    fn heap_bytes(&self) -> usize {
        self.room.heap_bytes()
    }
}

impl RoomCache {
    pub fn get(&self, project_id: &str, id_or_name: &str, now_ms: u64) -> Option<Room> {
        let mut rooms = self.rooms.borrow_mut();
        let cached = rooms.get(&(project_id.to_owned(), id_or_name.to_owned()))?;
        (now_ms.saturating_sub(cached.at_ms) < ROOM_CACHE_TTL_MS).then(|| cached.room.clone())
    }

    pub fn remember(&self, id_or_name: &str, room: &Room, now_ms: u64) {
        remember(&self.rooms, id_or_name, room, now_ms);
    }

    /// How many room entries this isolate holds, and the bytes they are charged.
    pub fn held(&self) -> (usize, usize) {
        let rooms = self.rooms.borrow();
        (rooms.len(), rooms.bytes())
    }

    pub fn forget(&self, room_id: &str) {
        self.rooms.borrow_mut().retain(|_, cached| cached.room.id != room_id);
    }

    /// When the entry for `id_or_name` is past `ROOM_REFRESH_AFTER_MS`, re-reads it after the
    /// response: a room still there is remembered afresh, a room gone (deleted) is forgotten,
    /// and a failed read leaves the entry to expire as usual.
    pub fn refresh_if_due(&self, rt: &Runtime, project_id: &str, id_or_name: &str, now_ms: u64) {
        let key = (project_id.to_owned(), id_or_name.to_owned());
        {
            let mut rooms = self.rooms.borrow_mut();
            let Some(cached) = rooms.get_mut(&key) else { return };
            if cached.refreshing || now_ms.saturating_sub(cached.at_ms) < ROOM_REFRESH_AFTER_MS {
                return;
            }
            cached.refreshing = true;
        }
        let (rooms, rt_bg) = (self.rooms.clone(), rt.clone());
        rt.after_response(async move {
            let found = super::rooms::find(&rt_bg, &key.0, &key.1).await;
            let now_ms = rt_bg.now_ms();
            match found {
                Ok(Some(room)) => remember(&rooms, &key.1, &room, now_ms),
                Ok(None) => {
                    rooms.borrow_mut().remove(&key);
                }
                Err(e) => {
                    crate::log::error(&format!("re-reading cached room {}: {}", key.1, e.log_text()));
                    if let Some(cached) = rooms.borrow_mut().get_mut(&key) {
                        cached.refreshing = false;
                    }
                }
            }
        });
    }
}

fn remember(rooms: &RefCell<Rooms>, id_or_name: &str, room: &Room, now_ms: u64) {
    let mut rooms = rooms.borrow_mut();
    let entry = || CachedRoom { room: room.clone(), at_ms: now_ms, refreshing: false };
    // Under the id too: clients usually name a room once, then use the id it answered with.
    if id_or_name != room.id {
        rooms.insert((room.project_id.clone(), room.id.clone()), entry());
    }
    rooms.insert((room.project_id.clone(), id_or_name.to_owned()), entry());
}

//! Room-stable numeric uids (Agora's tokens and channels speak them) without a central write
//! before the token: an isolate reserves a block of a room's uids in one D1 statement and
//! hands them out from memory.
//!
//! What holds, and why:
//! - A uid is never given to two identities of one room. Each room has one counter row
//!   (`agora_uid_blocks`) that a reservation only advances, so every block is a range no
//!   other block (in any isolate, now or later) overlaps; an isolate gives each uid of its
//!   blocks once; what an evicted isolate (or an evicted block) had not given is burnt, never
//!   handed out again. A room's first reservation starts above every uid its registry already
//!   holds, and a recording's bot takes its uid from the same counter.
//! - An identity keeps its uid within an isolate while `given` remembers it (bounded below;
//!   past that the least recently used are forgotten, and such an identity's next token gets
//!   another uid). Another isolate gives it another uid: the registry records every uid an
//!   identity was given (`participants::RECORD_UIDS_SQL`), and every uid ↔ identity lookup
//!   reads them all.
//! - Uids stay within Agora's range, 1 to 2^32 − 1 (0 is Agora's "any user", which the token
//!   builder refuses); a room whose counter passed that refuses further reservations.
//!
//! Staleness: none. A block is a reservation this isolate owns, not a copy of D1's state, and
//! the identity → uid map is this isolate's own decision; the registry row that lets other
//! isolates map the uid back to the identity lands after the response (`registry_writer`).

use std::cell::RefCell;

use super::int;
use crate::byte_cache::{ByteCache, HeapSize};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::Runtime;

/// A room's first block in an isolate, and the most any one block holds: each reservation in
/// an isolate doubles the last, so a room where this isolate mints often reserves rarely (at
/// most one D1 write per `MAX_BLOCK` new identities), and one where it minted once burns at
/// most `FIRST_BLOCK - 1` uids when the isolate goes. A room's 2^32 − 1 uids last at least
/// four million reservations of the largest block.
pub const FIRST_BLOCK: u32 = 16;
pub const MAX_BLOCK: u32 = 1024;
/// Blocks held (one per room this isolate minted Agora tokens for), bounded by entries and
/// bytes; an evicted block's remaining uids are burnt.
pub const MAX_BLOCKS: usize = 10_000;
pub const BLOCKS_BYTES: usize = 2 << 20;
/// The uids this isolate gave, per (room, identity), bounded likewise: the bound of "an
/// identity keeps its uid within an isolate".
pub const MAX_GIVEN: usize = 50_000;
pub const GIVEN_BYTES: usize = 8 << 20;
/// The highest uid Agora accepts (a 32-bit unsigned integer; 0 means "any user").
pub const MAX_UID: u64 = u32::MAX as u64;

/// Advances the room's counter by ?3 uids and returns where it now stands: the block is the
/// ?3 uids before it. A block also starts above every uid the room's registry holds, so rows
/// written before blocks existed (each room's uids then came from its registry's highest) are
/// never given again (one index step: the highest of `participants_uid`). ?1 project, ?2 room,
/// ?3 block size.
pub const RESERVE_SQL: &str = "INSERT INTO agora_uid_blocks (project_id, room_id, next_uid) \
     VALUES (?1, ?2, (SELECT COALESCE(MAX(uid), 0) + 1 FROM participants WHERE room_id = ?2) + ?3) \
     ON CONFLICT (project_id, room_id) DO UPDATE SET next_uid = \
       MAX(next_uid, (SELECT COALESCE(MAX(uid), 0) + 1 FROM participants WHERE room_id = ?2)) + ?3 \
     RETURNING next_uid";

/// Every statement this module sends.
pub(crate) const STATEMENTS: &[&str] = &[RESERVE_SQL];

/// Reserves `size` uids of the room (one D1 round trip) and returns them as `first..end`,
/// cut to Agora's range; `QUOTA_EXCEEDED` when nothing of the block is in it.
pub async fn reserve(rt: &Runtime, project_id: &str, room_id: &str, size: u32) -> ApiResult<(u64, u64)> {
    let rows = rt.db.query(RESERVE_SQL, &[project_id.into(), room_id.into(), i64::from(size).into()]).await?;
    let next = rows.first().and_then(|r| int(r, "next_uid")).unwrap_or(0);
    let end = u64::try_from(next).map_err(|_| ApiError::internal("uid counter below zero"))?;
    let first = end.saturating_sub(u64::from(size)).max(1);
    let end = end.min(MAX_UID + 1);
    if first >= end {
        return Err(ApiError::new(
            ErrorCode::QuotaExceeded,
            format!("room {room_id} has given every Agora uid (1 to {MAX_UID}); use another room"),
        )
        .with_detail("quota", "agora_uids_per_room")
        .with_detail("limit", MAX_UID));
    }
    Ok((first, end))
}

/// A block of a room's uids this isolate holds.
#[derive(Clone, Copy, Debug)]
struct Block {
    /// The next uid to give.
    next: u64,
    /// One past the block's last uid.
    end: u64,
    /// The size of the last block reserved for the room (the next one doubles it).
    size: u32,
}

impl HeapSize for Block {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for u32 {
    fn heap_bytes(&self) -> usize {
        0
    }
}

pub struct UidBlocks {
    /// Per (project, room): the block uids are given from.
    blocks: RefCell<ByteCache<(String, String), Block>>,
    /// Per (room, identity): the uid this isolate gave.
    given: RefCell<ByteCache<(String, String), u32>>,
}

impl Default for UidBlocks {
    fn default() -> Self {
        UidBlocks {
            blocks: RefCell::new(ByteCache::new(BLOCKS_BYTES, MAX_BLOCKS)),
            given: RefCell::new(ByteCache::new(GIVEN_BYTES, MAX_GIVEN)),
        }
    }
}

impl UidBlocks {
    /// `identity`'s uid in the room: the one this isolate gave it, or the next of this
    /// isolate's block for the room, reserving a block first when it holds none with a uid
    /// left (the only D1 round trip, once per block).
    pub async fn uid_for(&self, rt: &Runtime, project_id: &str, room_id: &str, identity: &str) -> ApiResult<u32> {
        let person = (room_id.to_owned(), identity.to_owned());
        if let Some(uid) = self.given.borrow_mut().get(&person) {
            return Ok(*uid);
        }
        let room = (project_id.to_owned(), room_id.to_owned());
        let uid = match self.take(&room) {
            Some(uid) => uid,
            None => {
                let last = self.blocks.borrow_mut().get(&room).map(|b| b.size);
                let size = last.map_or(FIRST_BLOCK, |s| s.saturating_mul(2).min(MAX_BLOCK));
                let (first, end) = reserve(rt, project_id, room_id, size).await?;
                // Another request of this isolate may have given this identity a uid, or
                // reserved a block, while this one waited: keep the block with more uids left
                // (the other's remaining uids are burnt), and the identity's first uid.
                let mut blocks = self.blocks.borrow_mut();
                let held = blocks.get(&room).copied().filter(|b| b.end - b.next > end - first - 1);
                if held.is_none() {
                    blocks.insert(room, Block { next: first + 1, end, size });
                }
                if let Some(uid) = self.given.borrow_mut().get(&person) {
                    return Ok(*uid);
                }
                first as u32
            }
        };
        self.given.borrow_mut().insert(person, uid);
        Ok(uid)
    }

    /// The next uid of the room's block, if it has one left.
    fn take(&self, room: &(String, String)) -> Option<u32> {
        let mut blocks = self.blocks.borrow_mut();
        let block = blocks.get_mut(room)?;
        (block.next < block.end).then(|| {
            block.next += 1;
            (block.next - 1) as u32
        })
    }

    /// The uid this isolate gave `identity` in the room, if it remembers one.
    pub fn given(&self, room_id: &str, identity: &str) -> Option<u32> {
        self.given.borrow_mut().get(&(room_id.to_owned(), identity.to_owned())).copied()
    }

    /// How many uids this isolate can still give in the room without a reservation.
    pub fn left(&self, project_id: &str, room_id: &str) -> u64 {
        let key = (project_id.to_owned(), room_id.to_owned());
        self.blocks.borrow_mut().get(&key).map_or(0, |b| b.end - b.next)
    }
}

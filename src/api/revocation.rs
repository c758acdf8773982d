//! What an isolate knows of revocations — API keys revoked and bans set or lifted anywhere —
//! and how it keeps that fresh: it follows the change feed (`store::changes`).
//!
//! An isolate holds each project's live bans it serves in memory (byte-bounded), loaded in
//! the same D1 read as the project's API key (`store::keys::find_live_key`) together with
//! the feed's head at that moment, so a ban check costs no round trip. From then on it reads
//! the feed from that seq:
//! - after the response, once its last read is older than `FEED_POLL_AFTER_MS`, so under
//!   steady traffic no caller waits for it;
//! - before answering, once its last read is older than `FEED_STALE_MS`: an isolate that was
//!   idle longer never answers from an older view.
//!
//! So a key revoked, or a ban set or lifted, through any isolate is enforced by every other
//! within `FEED_STALE_MS` (plus a D1 read replica's lag for an isolate that has just loaded
//! the project from one). A read that fails, or a feed too far ahead to follow, makes the
//! isolate forget what it holds and look everything up again.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::api::auth::KeyCache;
use crate::byte_cache::{ByteCache, HeapSize};
use crate::error::ApiResult;
use crate::runtime::Runtime;
use crate::store::bans::{self, ActiveBan};
use crate::store::changes::{self, Change};
use crate::store::room_cache::RoomCache;

/// After a response, the feed is read again once the last read is this old.
pub const FEED_POLL_AFTER_MS: u64 = 1_000;
/// Before answering, the feed is read first once the last read is this old: the longest a
/// revoked key or a ban change goes unseen by an isolate (the staleness window).
pub const FEED_STALE_MS: u64 = 5_000;
/// Changes one read takes; an isolate further behind forgets what it holds instead.
pub const FEED_BATCH: u32 = 500;
/// The ban memory's budget: a ban is about 150 bytes, so a project at the default quota
/// (10 000 bans) takes about 1.5 MB; a project that does not fit is checked in D1 per token.
pub const BAN_CACHE_BYTES: usize = 4 << 20;
pub const BAN_CACHE_PROJECTS: usize = 10_000;

/// A project's live bans as this isolate holds them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectBans(pub Vec<ActiveBan>);

impl HeapSize for ProjectBans {
    fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<ActiveBan>()
            + self.0.iter().map(|b| b.id.capacity() + b.target.capacity() + b.identity.capacity()).sum::<usize>()
    }
}

impl ProjectBans {
    /// Applies a ban's change: the ban (by id) and any other of its subject make way for its
    /// state now.
    fn apply(&mut self, ban_id: &str, live: Option<&ActiveBan>) {
        self.0.retain(|b| b.id != ban_id && live.is_none_or(|l| b.target != l.target || b.identity != l.identity));
        if let Some(l) = live {
            self.0.push(l.clone());
        }
    }
}

#[derive(Default)]
struct Feed {
    /// The last seq applied; `None` until the isolate holds anything the feed could revoke.
    cursor: Option<i64>,
    /// When the last read started.
    read_at_ms: u64,
}

pub struct Revocation {
    feed: RefCell<Feed>,
    /// When the after-response read under way started (one at a time; one the runtime
    /// cancelled counts as over after `FEED_STALE_MS`).
    reading_since_ms: Cell<Option<u64>>,
    bans: RefCell<ByteCache<String, ProjectBans>>,
}

impl Default for Revocation {
    fn default() -> Self {
        Revocation {
            feed: RefCell::default(),
            reading_since_ms: Cell::new(None),
            bans: RefCell::new(ByteCache::new(BAN_CACHE_BYTES, BAN_CACHE_PROJECTS)),
        }
    }
}

impl Revocation {
    /// Before answering an API-key request: reads the feed first when the view is older than
    /// `FEED_STALE_MS`.
    pub async fn before_answering(&self, keys: &KeyCache, rooms: &RoomCache, rt: &Runtime) {
        let due = {
            let feed = self.feed.borrow();
            feed.cursor.is_some() && rt.now_ms().saturating_sub(feed.read_at_ms) >= FEED_STALE_MS
        };
        if due {
            self.read(keys, rooms, rt).await;
        }
    }

    /// After answering: reads the feed in the background when the view is older than
    /// `FEED_POLL_AFTER_MS` (and no read is under way).
    pub fn after_response(app: &Rc<crate::api::state::App>, rt: &Runtime) {
        let this = &app.cache.revocation;
        let now = rt.now_ms();
        let due = {
            let feed = this.feed.borrow();
            feed.cursor.is_some() && now.saturating_sub(feed.read_at_ms) >= FEED_POLL_AFTER_MS
        };
        let busy = this.reading_since_ms.get().is_some_and(|since| now.saturating_sub(since) < FEED_STALE_MS);
        if !due || busy {
            return;
        }
        this.reading_since_ms.set(Some(now));
        let (app, rt2) = (app.clone(), rt.clone());
        rt.after_response(async move {
            let this = &app.cache.revocation;
            this.read(&app.cache.keys, &app.cache.rooms, &rt2).await;
            this.reading_since_ms.set(None);
        });
    }

    /// Reads and applies the changes after the cursor.
    async fn read(&self, keys: &KeyCache, rooms: &RoomCache, rt: &Runtime) {
        let Some(cursor) = self.feed.borrow().cursor else { return };
        let started = rt.now_ms();
        match changes::after(rt, cursor, FEED_BATCH).await {
            Ok((rows, _)) if rows.len() as u32 >= FEED_BATCH => {
                crate::log::warn("the change feed is too far ahead to follow: forgetting keys and bans");
                self.forget_all(keys);
            }
            Ok((rows, next)) => {
                for row in rows {
                    match row.change {
                        Change::KeyRevoked { key_id } => keys.forget_key_id(&key_id),
                        Change::RoomChanged { room_id } => rooms.forget(&room_id),
                        Change::Ban { ban_id, live } => {
                            let mut cache = self.bans.borrow_mut();
                            if let Some(mut held) = cache.remove(&row.project_id) {
                                held.apply(&ban_id, live.as_ref());
                                cache.insert(row.project_id, held);
                            }
                        }
                    }
                }
                let mut feed = self.feed.borrow_mut();
                // Another read may have gone further meanwhile.
                if feed.cursor.is_some_and(|c| c <= next) {
                    feed.cursor = Some(next);
                    feed.read_at_ms = feed.read_at_ms.max(started);
                }
            }
            Err(e) => {
                crate::log::warn(&format!("reading the change feed: {}; forgetting keys and bans", e.log_text()));
                self.forget_all(keys);
            }
        }
    }

    fn forget_all(&self, keys: &KeyCache) {
        crate::api::auth::forget_cached_keys(keys);
        self.bans.borrow_mut().clear();
        *self.feed.borrow_mut() = Feed::default();
    }

    /// Takes a project's live bans as read at feed seq `feed_seq` (with its API key). A view
    /// older than the cursor moves the cursor back to it: the changes in between are read
    /// again (applying one twice is harmless), so nothing the older view missed is lost.
    pub fn hold(&self, project_id: &str, bans: Vec<ActiveBan>, feed_seq: i64, now_ms: u64) {
        self.bans.borrow_mut().insert(project_id.to_owned(), ProjectBans(bans));
        let mut feed = self.feed.borrow_mut();
        match feed.cursor {
            None => *feed = Feed { cursor: Some(feed_seq), read_at_ms: now_ms },
            Some(c) if feed_seq < c => feed.cursor = Some(feed_seq),
            Some(_) => {}
        }
    }

    /// The ban refusing `identity` in `room_id` (or, without a room, anywhere in the project),
    /// from memory; a project not held (evicted, or too large to hold) is read from D1.
    pub async fn ban_for(
        &self,
        rt: &Runtime,
        project_id: &str,
        room_id: Option<&str>,
        identity: &str,
    ) -> ApiResult<Option<ActiveBan>> {
        let now = rt.now_ms();
        let find = |held: &ProjectBans| {
            held.0
                .iter()
                .find(|b| match room_id {
                    Some(room) => b.refuses(room, identity, now),
                    None => b.target == bans::PROJECT_TARGET && b.refuses("", identity, now),
                })
                .cloned()
        };
        if let Some(held) = self.bans.borrow_mut().get(project_id) {
            return Ok(find(held));
        }
        let head = if self.feed.borrow().cursor.is_none() { Some(changes::head(rt).await?) } else { None };
        let live = ProjectBans(bans::live(rt, project_id, now as i64).await?);
        let found = find(&live);
        if let Some(seq) = head {
            self.hold(project_id, live.0, seq, now);
        } else {
            self.bans.borrow_mut().insert(project_id.to_owned(), live);
        }
        Ok(found)
    }

    /// A ban this isolate set or lifted itself, applied at once (other isolates read it
    /// from the feed).
    pub fn apply_own(&self, project_id: &str, ban_id: &str, live: Option<&ActiveBan>) {
        let mut cache = self.bans.borrow_mut();
        if let Some(mut held) = cache.remove(project_id) {
            held.apply(ban_id, live);
            cache.insert(project_id.to_owned(), held);
        }
    }

    /// The last seq applied, for tests and the health of the feed.
    pub fn cursor(&self) -> Option<i64> {
        self.feed.borrow().cursor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(id: &str, target: &str, identity: &str, expires_at_ms: i64) -> ActiveBan {
        ActiveBan { id: id.into(), target: target.into(), identity: identity.into(), expires_at_ms }
    }

    #[test]
    fn the_ban_memory_stays_within_its_budget_and_a_project_too_large_is_not_held() {
        let revocation = Revocation::default();
        let bans = |n: usize| {
            (0..n).map(|i| ban(&format!("ban_{i:022}"), "rm_room", &format!("user-{i:040}"), 9)).collect::<Vec<_>>()
        };
        for p in 0..200 {
            revocation.hold(&format!("prj_{p}"), bans(200), 1, 0);
            assert!(revocation.bans.borrow().bytes() <= BAN_CACHE_BYTES);
        }
        assert!(revocation.bans.borrow().len() < 200, "the oldest projects made room");
        revocation.hold("prj_huge", bans(60_000), 1, 0);
        assert!(!revocation.bans.borrow().contains_key("prj_huge"), "checked in D1 per token instead");
        assert!(revocation.bans.borrow().bytes() <= BAN_CACHE_BYTES);
    }

    #[test]
    fn a_change_replaces_the_ban_of_its_subject_and_an_end_removes_it() {
        let mut held = ProjectBans(vec![ban("ban_a", "rm_1", "eve", 10), ban("ban_b", "", "mallory", 10)]);
        held.apply("ban_c", Some(&ban("ban_c", "rm_1", "eve", 20)));
        assert_eq!(held.0, vec![ban("ban_b", "", "mallory", 10), ban("ban_c", "rm_1", "eve", 20)]);
        held.apply("ban_b", None);
        assert_eq!(held.0, vec![ban("ban_c", "rm_1", "eve", 20)]);
        held.apply("ban_c", Some(&ban("ban_c", "rm_1", "eve", 30)));
        assert_eq!(held.0, vec![ban("ban_c", "rm_1", "eve", 30)], "applied twice: still one ban");
    }
}

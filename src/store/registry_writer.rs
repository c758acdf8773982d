//! The participant registry off the token hot path. The isolate remembers which
//! (room, identity) rows D1 already holds, so a repeat token needs no D1 round trip. A new
//! identity is written after the response (`Runtime::after_response`, `ctx.waitUntil` on
//! Workers). On a vendor that joins by numeric uid (Agora) the token carries the uid, which
//! this isolate gives from a block of the room's uids it reserved (`uid_blocks`: one D1 write
//! per block, none per identity); the row written after the response records it.
//!
//! A lost deferred write (below) never maps a uid to the wrong identity: a uid is given once,
//! and only its own identity's row ever names it. What it costs is that D1 never learns the
//! uid: an Agora event for it cannot be attributed, the participant list shows it unnamed, and
//! a kick, ban or mute of the identity cannot reach that session, until the identity's next
//! token (which another isolate gives another uid, recorded then); the uid itself is burnt.
//!
//! Deferred writes are coalesced: a flush starts `COALESCE_MS` after the first deferral, and
//! takes every row queued by then (bounded per call), one statement per room; rows queued
//! while that write is in flight wait for the next window, so under load an isolate makes
//! about one D1 call per window, not one per D1 round trip.
//!
//! A deferred write that fails is retried with backoff, then kept in this isolate's queue for
//! the next flush (every later deferral starts one) and logged as an error each time; the
//! identity is remembered only once D1 has it, so a later token for it writes again. A flush
//! lives at most `FLUSH_TASK_MAX_MS` before the next deferral starts another, so no write
//! depends on a task the runtime has cancelled.
//! What this cannot survive is the isolate being evicted with writes still queued (after every
//! retry failed, or not yet due) or in flight; failed ones are named in the log's error lines.
//!
//! Both maps are bounded by bytes. What D1 is known to hold is a cache (`byte_cache`): past
//! `KNOWN_BYTES` the least recently used rows are forgotten, and their next token writes once
//! more. The queue cannot forget anything, so past `PENDING_BYTES` a new row is not queued: the
//! request writes it itself before answering (one D1 round trip, only in that overload case),
//! and a write that fails fails the request rather than losing the row.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::mem::size_of;
use std::rc::Rc;

use super::participants::{self, RECORD_UIDS_SQL, UPSERT_GIVEN_SQL, UPSERT_MANY_SQL};
use super::uid_blocks::UidBlocks;
use crate::byte_cache::{ByteCache, HeapSize};
use crate::error::ApiResult;
use crate::runtime::{DbError, Runtime, SqlValue, Statement};

/// Attempts of one flush before its writes wait for the next flush.
pub const FLUSH_ATTEMPTS: u32 = 4;
/// Rows per D1 call, and their size: a room's rows travel as one JSON parameter, which D1
/// caps at 2 MB (a row is at most about 5 KB: 4 KiB of metadata, a name and an identity).
const BATCH_ROWS: usize = 500;
const BATCH_BYTES: usize = 512 * 1024;
/// How long a flush waits before its first batch, so that the new identities of the requests
/// arriving meanwhile share one D1 call instead of one each. Each D1 call has a fixed cost
/// (a round trip to the primary in production, CPU in the isolate everywhere); the row only
/// lands this much later, and nothing on the request path waits for it.
pub const COALESCE_MS: u64 = 50;
/// How old a flush may be before the next deferral starts another. Workers cancel
/// `waitUntil` work some time after the response (30 s), and a cancelled flush never ends;
/// under steady load a flush could otherwise run that long. The old one, should it still run,
/// stops at its next window.
pub const FLUSH_TASK_MAX_MS: u64 = 10_000;
/// What D1 is known to hold, bounded by entries and bytes (a row with 4 KiB of metadata and a
/// 256-character display name is charged about 6 KB, one without about 250 bytes); past either,
/// the least recently used are forgotten (their repeats then write once more).
pub const MAX_KNOWN: usize = 50_000;
pub const KNOWN_BYTES: usize = 8 << 20;
/// The deferred write queue's bound. Past it a new row is written before the response instead
/// of queued. A flush's batch in flight (at most `BATCH_BYTES`) is out of the queue meanwhile,
/// and a batch whose write failed goes back whatever the bound (it must not be lost), so the
/// queue may stand over it by at most one batch until the next flush.
pub const PENDING_BYTES: usize = 4 << 20;

/// A registry row's identity: (room id, participant identity).
type Key = (String, String);

/// One registry row as a token request states it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The room's project (a uid block is reserved in it).
    pub project_id: String,
    pub room_id: String,
    pub identity: String,
    pub display_name: Option<String>,
    pub metadata: Option<String>,
    /// When the token was issued (the row's timestamps).
    pub at_ms: i64,
    /// The uid this isolate gave the identity (`uid_blocks`); 0 on vendors that join by
    /// identity, whose rows take the room's next number when written.
    pub uid: u32,
}

impl HeapSize for Entry {
    fn heap_bytes(&self) -> usize {
        self.project_id.heap_bytes()
            + self.room_id.heap_bytes()
            + self.identity.heap_bytes()
            + self.display_name.heap_bytes()
            + self.metadata.heap_bytes()
    }
}

impl Entry {
    /// What this entry is charged in the queue: its key's copy, its strings and its slot.
    fn queued_bytes(&self) -> usize {
        2 * (self.room_id.heap_bytes() + self.identity.heap_bytes())
            + self.project_id.heap_bytes()
            + self.display_name.heap_bytes()
            + self.metadata.heap_bytes()
            + 2 * size_of::<(Key, Entry)>()
    }

    fn key(&self) -> Key {
        (self.room_id.clone(), self.identity.clone())
    }

    /// About the bytes this entry adds to a batch.
    fn size(&self) -> usize {
        let text = |t: &Option<String>| t.as_ref().map_or(4, String::len);
        self.room_id.len() + self.identity.len() + text(&self.display_name) + text(&self.metadata) + 44
    }

    /// This entry as one element of `UPSERT_MANY_SQL`'s array.
    fn many_element(&self) -> serde_json::Value {
        serde_json::json!([self.identity, self.display_name, self.metadata, self.at_ms, self.uid])
    }

    /// Writes this entry now and returns its uid (one round trip).
    async fn upsert(&self, rt: &Runtime) -> ApiResult<u32> {
        if self.uid != 0 {
            rt.db.batch(&given_statements(&self.room_id, vec![self.many_element()])).await?;
            return Ok(self.uid);
        }
        participants::upsert_at(
            rt,
            &self.room_id,
            &self.identity,
            self.display_name.as_deref(),
            self.metadata.as_deref(),
            self.at_ms,
        )
        .await
    }

    /// `newer` over `self`, field by field, as the upsert's COALESCE would store them. Both
    /// carry the same uid when they carry one (`Registry::register` gives a queued row's uid
    /// again); the newer's is kept, or the older's if the newer has none.
    fn merged(self, newer: Entry) -> Entry {
        let uid = if newer.uid != 0 { newer.uid } else { self.uid };
        Entry {
            display_name: newer.display_name.or(self.display_name),
            metadata: newer.metadata.or(self.metadata),
            uid,
            ..newer
        }
    }
}

/// What D1 is known to hold for one (room, identity).
#[derive(Clone, Debug)]
struct Known {
    /// 0 when the row was written in a batch that did not read the uid back.
    uid: u32,
    display_name: Option<String>,
    metadata: Option<String>,
}

impl Known {
    /// Whether writing `entry` would change nothing a reader sees (fields it leaves out keep
    /// their stored values).
    fn covers(&self, entry: &Entry) -> bool {
        entry.display_name.as_ref().is_none_or(|d| self.display_name.as_ref() == Some(d))
            && entry.metadata.as_ref().is_none_or(|m| self.metadata.as_ref() == Some(m))
    }
}

impl HeapSize for Known {
    fn heap_bytes(&self) -> usize {
        self.display_name.heap_bytes() + self.metadata.heap_bytes()
    }
}

pub struct Registry {
    /// The uids this isolate gives (vendors that join by uid).
    uids: UidBlocks,
    known: RefCell<ByteCache<Key, Known>>,
    /// Writes D1 has not confirmed yet, newest details per (room, identity).
    pending: RefCell<HashMap<Key, Entry>>,
    /// The bytes `pending` is charged (`Entry::queued_bytes`).
    pending_bytes: Cell<usize>,
    /// The flush that is writing `pending`, if one is.
    flush: Cell<Option<FlushTask>>,
    /// Flushes started so far (each one's number tells it whether it is still the current one).
    flushes: Cell<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            uids: UidBlocks::default(),
            known: RefCell::new(ByteCache::new(KNOWN_BYTES, MAX_KNOWN)),
            pending: RefCell::default(),
            pending_bytes: Cell::new(0),
            flush: Cell::default(),
            flushes: Cell::default(),
        }
    }
}

#[derive(Clone, Copy)]
struct FlushTask {
    number: u64,
    started_ms: u64,
}

impl Registry {
    /// Records that `entry`'s identity was issued a token, writing after the response if D1
    /// may not hold the entry yet. With `need_uid` returns the uid this isolate gives the
    /// identity (`UidBlocks::uid_for`: a D1 round trip only to reserve a block); otherwise its
    /// uid as far as this isolate knows it (0 if unknown).
    pub async fn register(self: &Rc<Self>, rt: &Runtime, mut entry: Entry, need_uid: bool) -> ApiResult<u32> {
        if need_uid {
            // The uid this isolate's registry already holds for the identity (queued or
            // written), else the one `uids` gives: so an identity keeps one uid here even
            // should `uids` forget it first, and a queued row is never replaced by another uid
            // before it is written.
            let key = entry.key();
            let queued = self.pending.borrow().get(&key).map(|q| q.uid);
            let held = queued.or_else(|| self.known.borrow_mut().get(&key).map(|k| k.uid)).filter(|&uid| uid != 0);
            entry.uid = match held {
                Some(uid) => uid,
                None => self.uids.uid_for(rt, &entry.project_id, &entry.room_id, &entry.identity).await?,
            };
        }
        let known = self.known.borrow_mut().get(&entry.key()).cloned();
        match known {
            Some(k) if need_uid && k.uid == entry.uid && k.covers(&entry) => Ok(entry.uid),
            _ if need_uid => {
                let uid = entry.uid;
                self.defer(rt, entry).await?;
                Ok(uid)
            }
            Some(k) if k.covers(&entry) => Ok(k.uid),
            Some(k) => {
                let uid = self.defer(rt, entry).await?;
                Ok(if uid != 0 { uid } else { k.uid })
            }
            None => self.defer(rt, entry).await,
        }
    }

    /// The uid this isolate gave `identity` in the room (vendors that join by uid), whether or
    /// not its row has landed: what a kick, ban or mute through this isolate adds to the uids D1
    /// records, so one right after the token reaches it.
    pub fn uid_given(&self, room_id: &str, identity: &str) -> Option<u32> {
        let key = (room_id.to_owned(), identity.to_owned());
        let queued = self.pending.borrow().get(&key).map(|q| q.uid);
        queued
            .or_else(|| self.known.borrow_mut().get(&key).map(|k| k.uid))
            .filter(|&uid| uid != 0)
            .or_else(|| self.uids.given(room_id, identity))
    }

    /// How many uids this isolate can still give in the room without reserving a block.
    pub fn uids_left(&self, project_id: &str, room_id: &str) -> u64 {
        self.uids.left(project_id, room_id)
    }

    /// Writes not yet confirmed by D1 (for tests and logs).
    pub fn pending(&self) -> usize {
        self.pending.borrow().len()
    }

    /// The bytes the queued writes are charged (at most `PENDING_BYTES`, see there).
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes.get()
    }

    /// How many rows this isolate knows D1 holds, and the bytes they are charged.
    pub fn known_held(&self) -> (usize, usize) {
        let known = self.known.borrow();
        (known.len(), known.bytes())
    }

    fn remember(&self, entry: Entry, uid: u32) {
        let mut known = self.known.borrow_mut();
        let key = entry.key();
        let previous = known.remove(&key);
        let uid = if uid != 0 { uid } else { previous.as_ref().map_or(0, |p| p.uid) };
        let (display_name, metadata) = match previous {
            Some(p) => (entry.display_name.or(p.display_name), entry.metadata.or(p.metadata)),
            None => (entry.display_name, entry.metadata),
        };
        known.insert(key, Known { uid, display_name, metadata });
    }

    /// Queues `entry` (merged with what is queued for its key) whatever the bound: for rows
    /// that were queued before (a failed batch going back, or a failed overload write's).
    fn enqueue(&self, entry: Entry) {
        let (merged, _) = self.merge_queued(entry);
        self.queue(merged);
    }

    /// `entry` merged with what is queued for its key, taken off the queue, and that queued
    /// entry as it was.
    fn merge_queued(&self, entry: Entry) -> (Entry, Option<Entry>) {
        let queued = self.pending.borrow_mut().remove(&entry.key());
        let Some(queued) = queued else { return (entry, None) };
        self.pending_bytes.set(self.pending_bytes.get() - queued.queued_bytes());
        let merged =
            if queued.at_ms <= entry.at_ms { queued.clone().merged(entry) } else { entry.merged(queued.clone()) };
        (merged, Some(queued))
    }

    fn queue(&self, entry: Entry) {
        self.pending_bytes.set(self.pending_bytes.get() + entry.queued_bytes());
        self.pending.borrow_mut().insert(entry.key(), entry);
    }

    /// Queues `entry` for a flush after the response, and returns its uid as given (0 if none
    /// was); or, when the queue is over `PENDING_BYTES`, writes it now and returns its uid.
    async fn defer(self: &Rc<Self>, rt: &Runtime, entry: Entry) -> ApiResult<u32> {
        let (merged, queued) = self.merge_queued(entry);
        if self.pending_bytes.get() + merged.queued_bytes() > PENDING_BYTES {
            // Overloaded: this request writes its row (with what was queued for it) itself.
            return match merged.upsert(rt).await {
                Ok(uid) => {
                    self.remember(merged, uid);
                    Ok(uid)
                }
                Err(e) => {
                    // What was queued before stays queued; this request's change fails with it.
                    if let Some(queued) = queued {
                        self.enqueue(queued);
                    }
                    Err(e)
                }
            };
        }
        let uid = merged.uid;
        self.queue(merged);
        self.start_flush(rt);
        Ok(uid)
    }

    fn start_flush(self: &Rc<Self>, rt: &Runtime) {
        let now = rt.now_ms();
        let running = self.flush.get().is_some_and(|f| now.saturating_sub(f.started_ms) < FLUSH_TASK_MAX_MS);
        if !running {
            let number = self.flushes.get() + 1;
            self.flushes.set(number);
            self.flush.set(Some(FlushTask { number, started_ms: now }));
            rt.after_response(self.clone().flush(rt.clone(), number));
        }
    }

    fn is_current(&self, number: u64) -> bool {
        self.flush.get().is_some_and(|f| f.number == number)
    }

    /// Writes every pending entry, a window at a time, until none is left, `FLUSH_ATTEMPTS`
    /// consecutive attempts failed (then they wait for the next flush), or a newer flush has
    /// taken over.
    ///
    /// Each window writes the entries queued when it closed. Entries queued while those
    /// writes are in flight wait for the next window: otherwise, under steady load, each
    /// write would be chased at once by another carrying only what arrived during its round
    /// trip, and the calls would follow D1's latency instead of `COALESCE_MS`.
    async fn flush(self: Rc<Self>, rt: Runtime, number: u64) {
        // Whatever happens to this task, a later deferral can start the next flush.
        struct Done<'a> {
            registry: &'a Registry,
            number: u64,
        }
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                if self.registry.is_current(self.number) {
                    self.registry.flush.set(None);
                }
            }
        }
        let _done = Done { registry: &self, number };
        let mut failures = 0;
        loop {
            rt.clock.sleep_ms(COALESCE_MS).await;
            if !self.is_current(number) {
                return;
            }
            let mut due: Vec<Key> = self.pending.borrow().keys().cloned().collect();
            while !due.is_empty() {
                let batch = self.take_batch(&mut due);
                if batch.is_empty() {
                    // What was left of `due` had been taken by an older flush still running.
                    break;
                }
                match write(&rt, &batch).await {
                    Ok(uids) => {
                        failures = 0;
                        for (entry, uid) in batch.into_iter().zip(uids) {
                            self.remember(entry, uid);
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        let who: Vec<String> = batch.iter().map(|e| format!("{}/{}", e.room_id, e.identity)).collect();
                        crate::log::error(&format!(
                            "participant registry write failed (attempt {failures} of {FLUSH_ATTEMPTS}), {} kept queued: {e:?}; {}",
                            batch.len(),
                            who.join(", ")
                        ));
                        for entry in batch {
                            due.push(entry.key());
                            self.enqueue(entry);
                        }
                        if failures >= FLUSH_ATTEMPTS {
                            return;
                        }
                        rt.clock.sleep_ms(100 << failures).await;
                    }
                }
            }
            if self.pending.borrow().is_empty() {
                return;
            }
        }
    }

    /// Takes the next batch of `due` entries off the queue: at least one, whatever its size,
    /// so that the queue always drains, then as many as fit in one call. Keys no longer
    /// queued (another flush took them) are dropped from `due`.
    fn take_batch(&self, due: &mut Vec<Key>) -> Vec<Entry> {
        let mut pending = self.pending.borrow_mut();
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < BATCH_ROWS {
            let Some(key) = due.last() else { break };
            let Some(size) = pending.get(key).map(Entry::size) else {
                due.pop();
                continue;
            };
            if !batch.is_empty() && bytes + size > BATCH_BYTES {
                break;
            }
            bytes += size;
            if let Some(entry) = due.pop().and_then(|key| pending.remove(&key)) {
                self.pending_bytes.set(self.pending_bytes.get() - entry.queued_bytes());
                batch.push(entry);
            }
        }
        batch
    }
}

/// Writes `batch` and returns the uid of each row (0 where a batch did not read it back):
/// one statement per room (two for rows carrying their uid), all in one D1 call.
async fn write(rt: &Runtime, batch: &[Entry]) -> Result<Vec<u32>, DbError> {
    if batch.len() > 1 {
        // Rows of one room carry uids or none (a room has one vendor); grouped by both anyway.
        let mut by_room: Vec<(&str, bool, Vec<serde_json::Value>)> = Vec::new();
        for e in batch {
            let carries = e.uid != 0;
            match by_room.iter_mut().find(|(room, c, _)| *room == e.room_id && *c == carries) {
                Some((_, _, rows)) => rows.push(e.many_element()),
                None => by_room.push((&e.room_id, carries, vec![e.many_element()])),
            }
        }
        let mut statements: Vec<Statement> = Vec::new();
        for (room, carries, rows) in by_room {
            if carries {
                statements.extend(given_statements(room, rows));
            } else {
                statements.push(Statement {
                    sql: UPSERT_MANY_SQL,
                    params: vec![room.into(), SqlValue::Text(serde_json::Value::Array(rows).to_string())],
                });
            }
        }
        match rt.db.batch(&statements).await {
            Ok(_) => return Ok(batch.iter().map(|e| e.uid).collect()),
            // D1 runs one write at a time and each statement reads the room's next uid itself,
            // so uids cannot collide across isolates (and given uids are disjoint by
            // construction); a constraint failure means D1 refused some row. Writing one by
            // one (each with `allocate`'s own retry) finds it, and the rows before it land.
            Err(DbError::Constraint(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let mut uids = Vec::with_capacity(batch.len());
    for e in batch {
        let uid = e.upsert(rt).await.map_err(|err| DbError::Other(err.log_text().to_owned()))?;
        uids.push(uid);
    }
    Ok(uids)
}

/// The statements that write rows carrying the uid their isolate gave (`Entry::many_element`
/// each): the registry row, and the uid recorded as the identity's.
fn given_statements(room_id: &str, rows: Vec<serde_json::Value>) -> Vec<Statement> {
    let rows = SqlValue::Text(serde_json::Value::Array(rows).to_string());
    vec![
        Statement { sql: UPSERT_GIVEN_SQL, params: vec![room_id.into(), rows.clone()] },
        Statement { sql: RECORD_UIDS_SQL, params: vec![room_id.into(), rows] },
    ]
}

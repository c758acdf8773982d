//! The normalized event log, the replay memory for unsigned-body vendors, and the effects of
//! participant events on the registry and on metered sessions.

use serde_json::{json, Value};

use super::{int, metadata_json, newest_first, page_sqls, text, Cursor};
use crate::error::{ApiError, ApiResult};
use crate::runtime::{DbError, Row, Runtime, SqlValue};
use crate::time::rfc3339;

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: String,
    pub project_id: Option<String>,
    pub room_id: Option<String>,
    pub vendor: String,
    pub vendor_room: String,
    pub kind: String,
    pub identity: Option<String>,
    pub seq: i64,
    pub occurred_at_ms: i64,
    pub received_at_ms: i64,
    /// JSON text.
    pub data: String,
}

const COLUMNS: &str =
    "id, project_id, room_id, vendor, vendor_room, type, identity, seq, occurred_at_ms, received_at_ms, data";

impl Event {
    pub(crate) fn from_row(row: &Row) -> Option<Event> {
        Some(Event {
            id: text(row, "id")?,
            project_id: text(row, "project_id"),
            room_id: text(row, "room_id"),
            vendor: text(row, "vendor")?,
            vendor_room: text(row, "vendor_room")?,
            kind: text(row, "type")?,
            identity: text(row, "identity"),
            seq: int(row, "seq")?,
            occurred_at_ms: int(row, "occurred_at_ms")?,
            received_at_ms: int(row, "received_at_ms")?,
            data: text(row, "data")?,
        })
    }

    /// The public event: `{event, type, room, vendor, identity, occurred_at, received_at, seq, data}`.
    pub fn to_json(&self) -> Value {
        json!({
            "event": self.id,
            "type": self.kind,
            "room": self.room_id,
            "vendor": self.vendor,
            "vendor_room": self.vendor_room,
            "identity": self.identity,
            "seq": self.seq,
            "occurred_at": rfc3339(self.occurred_at_ms.max(0) as u64),
            "received_at": rfc3339(self.received_at_ms.max(0) as u64),
            "data": metadata_json(Some(&self.data)),
        })
    }
}

/// The next `seq` of the vendor room is read in the insert itself (one probe of
/// `events_room_seq`), so numbering costs no extra round trip.
const INSERT_ONCE: &str = "INSERT INTO events (id, project_id, room_id, vendor, vendor_room, dedupe_key, type, identity, seq, \
                           occurred_at_ms, received_at_ms, data, effects, effects_due_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
                           (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE vendor = ?4 AND vendor_room = ?5), ?9, ?10, ?11, ?12, ?13) \
                           ON CONFLICT (vendor, dedupe_key) DO NOTHING RETURNING seq";
/// Events whose effects are due, across projects (the redo sweep is the deployment's, not a
/// project's): a range of the partial `events_effects_due` index, oldest due first.
const EFFECTS_DUE: &str = "SELECT id, project_id, room_id, vendor, vendor_room, type, identity, seq, occurred_at_ms, \
                           received_at_ms, data, effects, effects_due_at_ms FROM events \
                           WHERE effects_due_at_ms <= ?1 ORDER BY effects_due_at_ms LIMIT ?2";
/// Takes a due event for one redo: only if no one else moved its due time meanwhile.
const CLAIM_EFFECTS: &str = "UPDATE events SET effects_due_at_ms = ?3 WHERE id = ?1 AND effects_due_at_ms = ?2";
const EFFECTS_DONE: &str = "UPDATE events SET effects_due_at_ms = NULL WHERE id = ?1";
const CLAIM_NONCE: &str = "INSERT INTO vendor_nonces (vendor, nonce, body_sha256, seen_at_ms) VALUES (?1, ?2, ?3, ?4) \
                           ON CONFLICT (vendor, nonce) DO NOTHING";
const NONCE_BODY: &str = "SELECT body_sha256 FROM vendor_nonces WHERE vendor = ?1 AND nonce = ?2";
/// Nonces belong to a vendor, not a project: the age index serves the sweep.
const FORGET_NONCES: &str = "DELETE FROM vendor_nonces WHERE seen_at_ms < ?1";

fn find_sql() -> String {
    format!("SELECT {COLUMNS} FROM events WHERE id = ?1 AND project_id = ?2")
}

/// The project's events, optionally of one room (`?2`) and/or one type (the next parameter):
/// each combination has its keyset index (`events_page`, `events_room_page`, `events_type_page`).
fn page_select(of_room: bool, of_type: bool) -> String {
    let mut select = format!("SELECT {COLUMNS} FROM events WHERE project_id = ?1");
    let mut n = 1;
    if of_room {
        n += 1;
        select.push_str(&format!(" AND room_id = ?{n}"));
    }
    if of_type {
        n += 1;
        select.push_str(&format!(" AND type = ?{n}"));
    }
    select
}

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    let mut all: Vec<String> =
        [INSERT_ONCE, CLAIM_NONCE, NONCE_BODY, FORGET_NONCES, EFFECTS_DUE, CLAIM_EFFECTS, EFFECTS_DONE]
            .map(str::to_owned)
            .into();
    all.push(find_sql());
    for (of_room, of_type) in [(false, false), (true, false), (false, true), (true, true)] {
        let n_params = 1 + usize::from(of_room) + usize::from(of_type);
        all.extend(page_sqls(&page_select(of_room, of_type), n_params, "received_at_ms"));
    }
    all
}

/// What applying a stored event does, and when a redo may apply it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    /// JSON text (`crate::resources::events::ingest` reads and writes it).
    pub effects: String,
    /// When a redo sweep may apply them if nothing has yet.
    pub due_at_ms: i64,
}

/// A stored event whose effects are due.
#[derive(Clone, Debug, PartialEq)]
pub struct Unfinished {
    pub event: Event,
    pub effects: Option<String>,
    pub due_at_ms: i64,
}

/// Stores `event` unless the vendor event was stored before; `Ok(None)` for a redelivery.
/// The event's `seq` is the next of its vendor room (given here as 0 and filled in). With
/// `pending`, the event is stored with its effects still to apply (`effects_done` ends that).
pub async fn insert_once(
    rt: &Runtime,
    event: &Event,
    dedupe_key: &str,
    pending: Option<&Pending>,
) -> ApiResult<Option<Event>> {
    let params: Vec<SqlValue> = vec![
        event.id.as_str().into(),
        event.project_id.clone().into(),
        event.room_id.clone().into(),
        event.vendor.as_str().into(),
        event.vendor_room.as_str().into(),
        dedupe_key.into(),
        event.kind.as_str().into(),
        event.identity.clone().into(),
        event.occurred_at_ms.into(),
        event.received_at_ms.into(),
        event.data.as_str().into(),
        pending.map(|p| p.effects.clone()).into(),
        pending.map(|p| p.due_at_ms).into(),
    ];
    // Two events of one room racing for the same next seq: the unique index refuses one,
    // and its retry takes the seq after.
    for _ in 0..5 {
        let result = rt.db.query(INSERT_ONCE, &params).await;
        match result {
            Ok(rows) => {
                return Ok(rows.first().and_then(|r| int(r, "seq")).map(|seq| Event { seq, ..event.clone() }));
            }
            Err(DbError::Constraint(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("could not number an event"))
}

/// Up to `limit` events whose effects were due at `now_ms`, oldest due first.
pub async fn effects_due(rt: &Runtime, now_ms: u64, limit: u32) -> ApiResult<Vec<Unfinished>> {
    let rows = rt.db.query(EFFECTS_DUE, &[(now_ms as i64).into(), i64::from(limit).into()]).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Unfinished {
                event: Event::from_row(r)?,
                effects: text(r, "effects"),
                due_at_ms: int(r, "effects_due_at_ms")?,
            })
        })
        .collect())
}

/// Moves a due event's next redo to `next_due_ms`; `false` if another sweep took it first.
pub async fn claim_effects(rt: &Runtime, event_id: &str, due_at_ms: i64, next_due_ms: i64) -> ApiResult<bool> {
    let changed = rt.db.execute(CLAIM_EFFECTS, &[event_id.into(), due_at_ms.into(), next_due_ms.into()]).await?;
    Ok(changed == 1)
}

/// The event's effects are applied: no redo picks it up again.
pub async fn effects_done(rt: &Runtime, event_id: &str) -> ApiResult<()> {
    rt.db.execute(EFFECTS_DONE, &[event_id.into()]).await?;
    Ok(())
}

/// An event of the project.
pub async fn find(rt: &Runtime, project_id: &str, event_id: &str) -> ApiResult<Option<Event>> {
    let rows = rt.db.query(&find_sql(), &[event_id.into(), project_id.into()]).await?;
    Ok(rows.first().and_then(Event::from_row))
}

/// One page of the project's events, newest first, optionally of one room and/or type.
pub async fn page(
    rt: &Runtime,
    project_id: &str,
    room_id: Option<&str>,
    kind: Option<&str>,
    after: Option<&Cursor>,
    limit: u32,
) -> ApiResult<(Vec<Event>, bool)> {
    let select = page_select(room_id.is_some(), kind.is_some());
    let mut params: Vec<SqlValue> = vec![project_id.into()];
    params.extend(room_id.map(SqlValue::from));
    params.extend(kind.map(SqlValue::from));
    newest_first(rt, &select, params, "received_at_ms", after, limit, Event::from_row).await
}

/// Remembers a vendor's signature nonce with the body it signed. `false` when the nonce was
/// seen before with a different body: a captured signature replayed over a forged body.
pub async fn claim_nonce(rt: &Runtime, vendor: &str, nonce: &str, body_sha256: &str) -> ApiResult<bool> {
    let now = rt.now_ms() as i64;
    let inserted = rt.db.execute(CLAIM_NONCE, &[vendor.into(), nonce.into(), body_sha256.into(), now.into()]).await?;
    if inserted == 1 {
        return Ok(true);
    }
    let rows = rt.db.query(NONCE_BODY, &[vendor.into(), nonce.into()]).await?;
    Ok(rows.first().and_then(|r| text(r, "body_sha256")).as_deref() == Some(body_sha256))
}

/// Forgets nonces older than `max_age_ms` (they are refused as stale anyway).
pub async fn forget_nonces(rt: &Runtime, max_age_ms: u64) -> ApiResult<()> {
    let before = rt.now_ms().saturating_sub(max_age_ms) as i64;
    rt.db.execute(FORGET_NONCES, &[before.into()]).await?;
    Ok(())
}

//! Participant moderation rows (`participant_moderation`): hard mutes and permission caps per
//! (project, room, identity), with the vendor rules that enforce them now. A room's rows are
//! also read with the room itself (`ROOM_SET_SQL`, a column of the room lookup), which is how
//! the token hot path learns of them without a read of its own.

use serde_json::Value;

use super::quotas::count_sql;
use super::{int, text};
use crate::domain::limits::{quota_exceeded, Quota};
use crate::domain::moderation::{MediaSet, Moderation};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::{Row, Runtime, SqlValue};

/// Moderated participants one room may hold. The room lookup carries all of them into the
/// isolate's room cache, so this bounds what a room costs there: about 100 bytes each as
/// compact JSON (an identity of up to 64 bytes and five small numbers), about 50 KB a room.
pub const MAX_PER_ROOM: i64 = 500;

/// The room's moderation rows as one JSON array of `[identity, hard_muted, mute_expires_at_ms,
/// can_publish, can_subscribe, can_publish_data]` (see `Moderation::from_compact`): a scalar
/// subquery for the room lookup's column list, correlated on `rooms`.
pub const ROOM_SET_SQL: &str = "(SELECT json_group_array(json_array(m.identity, m.hard_muted, m.mute_expires_at_ms, \
     m.can_publish, m.can_subscribe, m.can_publish_data)) FROM participant_moderation m \
     WHERE m.project_id = rooms.project_id AND m.room_id = rooms.id) AS moderation";

const COLUMNS: &str =
    "identity, hard_muted, mute_expires_at_ms, can_publish, can_subscribe, can_publish_data, vendor_rules";

fn get_sql() -> String {
    format!("SELECT {COLUMNS} FROM participant_moderation WHERE project_id = ?1 AND room_id = ?2 AND identity = ?3")
}

/// Writes the whole row. A new row only while the room has fewer than `MAX_PER_ROOM` rows and
/// the project fewer than its `moderated_participants` quota; a participant already moderated
/// is updated at either bound (only a new row counts). One statement, so two concurrent mutes
/// cannot both take the last place.
/// ?1 project, ?2 room, ?3 identity, ?4 bits, ?5 expiry, ?6–?8 caps, ?9 vendor rules, ?10 their
/// expiry, ?11 now, ?12 the per-room limit, ?13 the project's quota.
fn put_sql() -> String {
    format!(
        "INSERT INTO participant_moderation (project_id, room_id, identity, hard_muted, \
         mute_expires_at_ms, can_publish, can_subscribe, can_publish_data, vendor_rules, rules_expire_at_ms, \
         updated_at_ms) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
         WHERE EXISTS ({EXISTING}) OR (({IN_ROOM}) < ?12 AND ({}) < ?13) \
         ON CONFLICT (project_id, room_id, identity) DO UPDATE SET hard_muted = excluded.hard_muted, \
           mute_expires_at_ms = excluded.mute_expires_at_ms, can_publish = excluded.can_publish, \
           can_subscribe = excluded.can_subscribe, can_publish_data = excluded.can_publish_data, \
           vendor_rules = excluded.vendor_rules, rules_expire_at_ms = excluded.rules_expire_at_ms, \
           updated_at_ms = excluded.updated_at_ms",
        count_sql(Quota::ModeratedParticipants, "?1")
    )
}

/// The participant's own row (?1 project, ?2 room, ?3 identity).
const EXISTING: &str = "SELECT 1 FROM participant_moderation WHERE project_id = ?1 AND room_id = ?2 AND identity = ?3";
/// How many rows the room holds (?1 project, ?2 room): the per-room bound, and after a refusal,
/// which bound it was.
const IN_ROOM: &str = "SELECT COUNT(*) AS n FROM participant_moderation WHERE project_id = ?1 AND room_id = ?2";

/// How long after a room's deletion the scheduled job still looks for its moderation rows: a
/// day of runs (every 5 minutes), each walking the rooms deleted in the window by
/// `rooms_deleted` with one primary-key probe each. Rows only appear for a deleted room when
/// a mute raced its deletion, so the first run after it finds them all.
pub const DELETED_ROOM_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The scheduled job's sweeps, each one bounded batch (?1 a time, ?2 the batch size), in every
/// project (see `sweep`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// Rows of rooms deleted at or after ?1.
    DeletedRooms,
    /// Rows whose hard mute ended at or before ?1 and that impose nothing else.
    EndedMutes,
    /// The ended mute cleared from rows that keep a permission override, so the next runs do
    /// not walk them again.
    EndedMuteOfOverrides,
}

impl Sweep {
    pub const ALL: [Sweep; 3] = [Sweep::DeletedRooms, Sweep::EndedMutes, Sweep::EndedMuteOfOverrides];

    const fn sql(self) -> &'static str {
        match self {
            Sweep::DeletedRooms => {
                "DELETE FROM participant_moderation WHERE rowid IN (SELECT m.rowid FROM rooms AS r \
                 JOIN participant_moderation AS m ON m.project_id = r.project_id AND m.room_id = r.id \
                 WHERE r.deleted_at_ms IS NOT NULL AND r.deleted_at_ms >= ?1 LIMIT ?2)"
            }
            // As `Moderation::is_inert`: no medium muted any more, no permission taken away;
            // rows holding vendor rules are left to the renewal, which removes the rules first.
            Sweep::EndedMutes => {
                "DELETE FROM participant_moderation WHERE rowid IN (SELECT rowid FROM participant_moderation \
                 WHERE mute_expires_at_ms IS NOT NULL AND mute_expires_at_ms <= ?1 AND vendor_rules IS NULL \
                 AND COALESCE(can_publish, 1) <> 0 AND COALESCE(can_subscribe, 1) <> 0 \
                 AND COALESCE(can_publish_data, 1) <> 0 ORDER BY mute_expires_at_ms LIMIT ?2)"
            }
            Sweep::EndedMuteOfOverrides => {
                "UPDATE participant_moderation SET hard_muted = 0, mute_expires_at_ms = NULL \
                 WHERE rowid IN (SELECT rowid FROM participant_moderation WHERE mute_expires_at_ms IS NOT NULL \
                 AND mute_expires_at_ms <= ?1 AND vendor_rules IS NULL ORDER BY mute_expires_at_ms LIMIT ?2)"
            }
        }
    }
}

const SWEEPS: [&str; 3] = [Sweep::DeletedRooms.sql(), Sweep::EndedMutes.sql(), Sweep::EndedMuteOfOverrides.sql()];

/// One batch of `sweep` at `now_ms`, at most `batch` rows; returns how many it changed. Every
/// row it touches imposes nothing any more (an ended mute is ended in memory too), so no
/// isolate needs telling.
pub async fn sweep(rt: &Runtime, sweep: Sweep, now_ms: i64, batch: u32) -> ApiResult<u64> {
    let at = match sweep {
        Sweep::DeletedRooms => now_ms - DELETED_ROOM_WINDOW_MS,
        Sweep::EndedMutes | Sweep::EndedMuteOfOverrides => now_ms,
    };
    Ok(rt.db.execute(sweep.sql(), &[at.into(), i64::from(batch).into()]).await?)
}

const DELETE_SQL: &str = "DELETE FROM participant_moderation WHERE project_id = ?1 AND room_id = ?2 AND identity = ?3";

/// Rows whose vendor rules lapse at or before ?1, soonest first, at most ?2: in every project
/// (the scheduled job's renewal queue, through `participant_moderation_rules_due`).
fn due_sql() -> String {
    format!(
        "SELECT project_id, room_id, {COLUMNS} FROM participant_moderation \
         WHERE rules_expire_at_ms IS NOT NULL AND rules_expire_at_ms <= ?1 ORDER BY rules_expire_at_ms LIMIT ?2"
    )
}

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    let mut all = vec![get_sql(), put_sql(), DELETE_SQL.to_owned(), due_sql(), IN_ROOM.to_owned()];
    all.extend(SWEEPS.iter().map(|s| s.to_string()));
    all
}

/// A row whose vendor rules are due for renewal, with where it belongs.
#[derive(Clone, Debug, PartialEq)]
pub struct Due {
    pub project_id: String,
    pub room_id: String,
    pub stored: Stored,
}

/// Up to `limit` rows whose vendor rules lapse at or before `before_ms`, soonest first.
pub async fn due(rt: &Runtime, before_ms: i64, limit: u32) -> ApiResult<Vec<Due>> {
    let rows = rt.db.query(&due_sql(), &[before_ms.into(), i64::from(limit).into()]).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(Due { project_id: text(row, "project_id")?, room_id: text(row, "room_id")?, stored: from_row(row)? })
        })
        .collect())
}

/// A participant's stored moderation and the vendor rules enforcing it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stored {
    pub moderation: Moderation,
    /// The vendor's rules as that vendor recorded them (`Vendor::enforce`'s answer).
    pub vendor_rules: Option<Value>,
}

fn flag(row: &Row, col: &str) -> Option<bool> {
    int(row, col).map(|n| n != 0)
}

fn from_row(row: &Row) -> Option<Stored> {
    Some(Stored {
        moderation: Moderation {
            identity: text(row, "identity")?,
            hard_muted: MediaSet::from_bits(int(row, "hard_muted").unwrap_or(0)),
            mute_expires_at_ms: int(row, "mute_expires_at_ms"),
            can_publish: flag(row, "can_publish"),
            can_subscribe: flag(row, "can_subscribe"),
            can_publish_data: flag(row, "can_publish_data"),
        },
        vendor_rules: text(row, "vendor_rules").and_then(|t| serde_json::from_str(&t).ok()),
    })
}

pub async fn get(rt: &Runtime, project_id: &str, room_id: &str, identity: &str) -> ApiResult<Option<Stored>> {
    let rows = rt.db.query(&get_sql(), &[project_id.into(), room_id.into(), identity.into()]).await?;
    Ok(rows.first().and_then(from_row))
}

/// Stores `stored` for the participant (`rules_expire_at_ms`: when the vendor rules lapse),
/// or removes the row when it imposes nothing at `now_ms`. A participant not moderated yet is
/// `QUOTA_EXCEEDED` when the room already holds `MAX_PER_ROOM` moderated participants
/// (`moderated_participants_per_room`) or the project `quota_limit` (`moderated_participants`).
#[allow(clippy::too_many_arguments)]
pub async fn put(
    rt: &Runtime,
    project_id: &str,
    room_id: &str,
    stored: &Stored,
    rules_expire_at_ms: Option<i64>,
    now_ms: u64,
    quota_limit: u32,
) -> ApiResult<()> {
    let m = &stored.moderation;
    let key: [SqlValue; 3] = [project_id.into(), room_id.into(), m.identity.as_str().into()];
    if m.is_inert(now_ms) && stored.vendor_rules.is_none() {
        rt.db.execute(DELETE_SQL, &key).await?;
        return room_changed(rt, project_id, room_id, now_ms).await;
    }
    let mut params: Vec<SqlValue> = key.into();
    params.extend([
        m.hard_muted.bits().into(),
        m.mute_expires_at_ms.into(),
        m.can_publish.into(),
        m.can_subscribe.into(),
        m.can_publish_data.into(),
        stored.vendor_rules.as_ref().map(Value::to_string).into(),
        rules_expire_at_ms.into(),
        (now_ms as i64).into(),
        MAX_PER_ROOM.into(),
        i64::from(quota_limit).into(),
    ]);
    if rt.db.execute(&put_sql(), &params).await? == 0 {
        return Err(refused(rt, project_id, room_id, quota_limit).await);
    }
    room_changed(rt, project_id, room_id, now_ms).await
}

/// Which bound refused a new row: the room's, or else the project's quota.
async fn refused(rt: &Runtime, project_id: &str, room_id: &str, quota_limit: u32) -> ApiError {
    let rows = match rt.db.query(IN_ROOM, &[project_id.into(), room_id.into()]).await {
        Ok(rows) => rows,
        Err(e) => return e.into(),
    };
    if rows.first().and_then(|r| int(r, "n")).unwrap_or(0) >= MAX_PER_ROOM {
        return ApiError::new(
            ErrorCode::QuotaExceeded,
            format!("this room already has {MAX_PER_ROOM} moderated participants; lift a mute or permission first"),
        )
        .with_detail("quota", "moderated_participants_per_room")
        .with_detail("limit", MAX_PER_ROOM);
    }
    quota_exceeded(Quota::ModeratedParticipants, quota_limit)
}

/// Tells every isolate, through the change feed, that the room's tokens carry something new:
/// those holding the room read it again within the feed's window (`api::revocation`), rather
/// than when their cached room entry ages out.
async fn room_changed(rt: &Runtime, project_id: &str, room_id: &str, now_ms: u64) -> ApiResult<()> {
    let params = [project_id.into(), room_id.into(), (now_ms as i64).into()];
    rt.db.execute(super::changes::APPEND_ROOM_CHANGED, &params).await?;
    Ok(())
}

//! Participant moderation rows (`participant_moderation`): hard mutes and permission caps per
//! (project, room, identity), with the vendor rules that enforce them now. A room's rows are
//! also read with the room itself (`ROOM_SET_SQL`, a column of the room lookup), which is how
//! the token hot path learns of them without a read of its own.

use serde_json::Value;

use super::{int, text};
use crate::domain::moderation::{MediaSet, Moderation};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::{Row, Runtime, SqlValue};

/// Moderated participants one room may hold. The room lookup carries all of them into the
/// isolate's room cache, so this bounds what a room costs there (about 100 bytes each).
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

/// Writes the whole row, while the room has fewer than `MAX_PER_ROOM` other rows.
/// ?1 project, ?2 room, ?3 identity, ?4 bits, ?5 expiry, ?6–?8 caps, ?9 vendor rules, ?10 their
/// expiry, ?11 now, ?12 the per-room limit.
const PUT_SQL: &str = "INSERT INTO participant_moderation (project_id, room_id, identity, hard_muted, \
     mute_expires_at_ms, can_publish, can_subscribe, can_publish_data, vendor_rules, rules_expire_at_ms, updated_at_ms) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
     WHERE (SELECT COUNT(*) FROM participant_moderation WHERE project_id = ?1 AND room_id = ?2 AND identity <> ?3) < ?12 \
     ON CONFLICT (project_id, room_id, identity) DO UPDATE SET hard_muted = excluded.hard_muted, \
       mute_expires_at_ms = excluded.mute_expires_at_ms, can_publish = excluded.can_publish, \
       can_subscribe = excluded.can_subscribe, can_publish_data = excluded.can_publish_data, \
       vendor_rules = excluded.vendor_rules, rules_expire_at_ms = excluded.rules_expire_at_ms, \
       updated_at_ms = excluded.updated_at_ms";

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
    vec![get_sql(), PUT_SQL.to_owned(), DELETE_SQL.to_owned(), due_sql()]
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
/// or removes the row when it imposes nothing at `now_ms`. `QUOTA_EXCEEDED` when the room
/// already holds `MAX_PER_ROOM` moderated participants.
pub async fn put(
    rt: &Runtime,
    project_id: &str,
    room_id: &str,
    stored: &Stored,
    rules_expire_at_ms: Option<i64>,
    now_ms: u64,
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
    ]);
    if rt.db.execute(PUT_SQL, &params).await? == 0 {
        return Err(ApiError::new(
            ErrorCode::QuotaExceeded,
            format!("this room already has {MAX_PER_ROOM} moderated participants; lift a mute or permission first"),
        )
        .with_detail("quota", "moderated_participants_per_room")
        .with_detail("limit", MAX_PER_ROOM));
    }
    room_changed(rt, project_id, room_id, now_ms).await
}

/// Tells every isolate, through the change feed, that the room's tokens carry something new:
/// those holding the room read it again within the feed's window (`api::revocation`), rather
/// than when their cached room entry ages out.
async fn room_changed(rt: &Runtime, project_id: &str, room_id: &str, now_ms: u64) -> ApiResult<()> {
    let params = [project_id.into(), room_id.into(), (now_ms as i64).into()];
    rt.db.execute(super::changes::APPEND_ROOM_CHANGED, &params).await?;
    Ok(())
}

//! Room records. The record is the source of truth for a room's existence, name and vendor;
//! vendors hold only the live session.

use serde_json::{json, Value};

use super::moderation::ROOM_SET_SQL;
use super::{int, metadata_json, newest_first, page_sqls, quotas, text, Cursor};
use crate::domain::limits::{quota_exceeded, Quota};
use crate::domain::moderation::RoomModeration;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::{DbError, Row, Runtime};
use crate::time::rfc3339;

#[derive(Clone, Debug, PartialEq)]
pub struct Room {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub vendor: String,
    pub vendor_sid: Option<String>,
    pub max_participants: Option<i64>,
    pub empty_timeout_s: Option<i64>,
    /// The metadata object as JSON text.
    pub metadata: Option<String>,
    pub region: Option<String>,
    pub enable_recording: bool,
    pub created_at_ms: i64,
    /// False while the create that wrote the row is still trying vendors: `vendor` is only
    /// the one it is trying, and nothing may be served from the room yet.
    pub vendor_confirmed: bool,
    /// The room's moderated participants (hard mutes, permission caps), read together with the
    /// room by `find` (empty from every other read), so the token path folds them in without a
    /// read of its own.
    pub moderation: RoomModeration,
}

const COLUMNS: &str = "id, project_id, name, vendor, vendor_sid, max_participants, empty_timeout_s, \
                       metadata, region, enable_recording, created_at_ms, vendor_confirmed";

impl Room {
    fn from_row(row: &Row) -> Option<Room> {
        Some(Room {
            id: text(row, "id")?,
            project_id: text(row, "project_id")?,
            name: text(row, "name")?,
            vendor: text(row, "vendor")?,
            vendor_sid: text(row, "vendor_sid"),
            max_participants: int(row, "max_participants"),
            empty_timeout_s: int(row, "empty_timeout_s"),
            metadata: text(row, "metadata"),
            region: text(row, "region"),
            enable_recording: int(row, "enable_recording") == Some(1),
            created_at_ms: int(row, "created_at_ms")?,
            vendor_confirmed: int(row, "vendor_confirmed") != Some(0),
            moderation: RoomModeration::parse(text(row, "moderation").as_deref()),
        })
    }

    /// The contract's `Room { room, name, max_participants, created_at }` plus what we know.
    pub fn to_json(&self) -> Value {
        let metadata = metadata_json(self.metadata.as_deref());
        json!({
            "room": self.id,
            "name": self.name,
            "max_participants": self.max_participants,
            "created_at": rfc3339(self.created_at_ms as u64),
            "vendor": self.vendor,
            "empty_timeout_s": self.empty_timeout_s,
            "metadata": metadata,
            "region": self.region,
            "enable_recording": self.enable_recording,
        })
    }
}

/// Inserts a new room, reserving its name, while the project has fewer than ?13 live rooms.
/// A taken name is `ROOM_NAME_TAKEN` with the existing room's id.
fn insert_sql() -> String {
    quotas::insert_within(
        "INSERT INTO rooms (id, project_id, name, vendor, vendor_sid, max_participants, empty_timeout_s, metadata, \
         region, enable_recording, created_at_ms, vendor_confirmed)",
        "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12",
        Quota::LiveRooms,
        "?2",
        "?13",
    )
}
const CONFIRM_VENDOR: &str = "UPDATE rooms SET vendor = ?2, vendor_sid = ?3, vendor_confirmed = 1 \
                              WHERE id = ?1 AND deleted_at_ms IS NULL";
const REMOVE: &str = "DELETE FROM rooms WHERE id = ?1";
const REMOVE_ABANDONED: &str = "DELETE FROM rooms WHERE project_id = ?1 AND name = ?2 AND deleted_at_ms IS NULL \
                                AND vendor_confirmed = 0 AND created_at_ms <= ?3";
const SOFT_DELETE: &str = "UPDATE rooms SET deleted_at_ms = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL";

/// Each lookup is one primary-key or unique-index probe (`rooms_live_name` is partial, so
/// the query repeats its `deleted_at_ms IS NULL`).
/// Both carry the room's moderation rows as one more column (`moderation::ROOM_SET_SQL`, a
/// primary-key range of `participant_moderation`).
fn find_by_id_sql() -> String {
    format!("SELECT {COLUMNS}, {ROOM_SET_SQL} FROM rooms WHERE id = ?2 AND project_id = ?1 AND deleted_at_ms IS NULL")
}
fn find_by_name_sql() -> String {
    format!("SELECT {COLUMNS}, {ROOM_SET_SQL} FROM rooms WHERE project_id = ?1 AND name = ?2 AND deleted_at_ms IS NULL")
}
/// A room by id and vendor, in any project: vendor events name no project (primary key).
fn by_vendor_name_sql() -> String {
    format!("SELECT {COLUMNS} FROM rooms WHERE id = ?1 AND vendor = ?2")
}
/// Rooms still being created are not listed: their vendor may yet change.
fn page_select() -> String {
    format!("SELECT {COLUMNS} FROM rooms WHERE project_id = ?1 AND deleted_at_ms IS NULL AND vendor_confirmed = 1")
}

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    let mut all: Vec<String> = [CONFIRM_VENDOR, REMOVE, REMOVE_ABANDONED, SOFT_DELETE].map(str::to_owned).into();
    all.extend([insert_sql(), find_by_id_sql(), find_by_name_sql(), by_vendor_name_sql()]);
    all.extend(page_sqls(&page_select(), 1, "created_at_ms"));
    all
}

/// Inserts `room` unless its project already has `live_rooms_limit` live rooms
/// (`QUOTA_EXCEEDED`) or a live room of that name (`ROOM_NAME_TAKEN`).
pub async fn insert(rt: &Runtime, room: &Room, live_rooms_limit: u32) -> ApiResult<()> {
    let result = rt
        .db
        .execute(
            &insert_sql(),
            &[
                room.id.as_str().into(),
                room.project_id.as_str().into(),
                room.name.as_str().into(),
                room.vendor.as_str().into(),
                room.vendor_sid.clone().into(),
                room.max_participants.into(),
                room.empty_timeout_s.into(),
                room.metadata.clone().into(),
                room.region.clone().into(),
                room.enable_recording.into(),
                room.created_at_ms.into(),
                room.vendor_confirmed.into(),
                i64::from(live_rooms_limit).into(),
            ],
        )
        .await;
    match result {
        Ok(1) => Ok(()),
        // At the quota the name is not even tried: a taken one is still reported as taken.
        Ok(_) => match find(rt, &room.project_id, &room.name).await? {
            Some(existing) => Err(name_taken(room).with_detail("room", existing.id)),
            None => Err(quota_exceeded(Quota::LiveRooms, live_rooms_limit)),
        },
        Err(DbError::Constraint(_)) => {
            let existing = find(rt, &room.project_id, &room.name).await?;
            let mut err = name_taken(room);
            if let Some(existing) = existing {
                err = err.with_detail("room", existing.id);
            }
            Err(err)
        }
        Err(e) => Err(e.into()),
    }
}

fn name_taken(room: &Room) -> ApiError {
    ApiError::new(ErrorCode::RoomNameTaken, format!("a room named '{}' already exists in this project", room.name))
        .with_detail("field", "name")
}

/// Records the vendor that finally hosted the room (after any failover) and its vendor id;
/// from now on the room may be used. False if the row is gone (its create was taken for
/// abandoned and removed).
pub async fn confirm_vendor(rt: &Runtime, room_id: &str, vendor: &str, vendor_sid: Option<&str>) -> ApiResult<bool> {
    let params = [room_id.into(), vendor.into(), vendor_sid.map(str::to_owned).into()];
    Ok(rt.db.execute(CONFIRM_VENDOR, &params).await? == 1)
}

/// Removes the live room `name` if its create never confirmed a vendor and began at or
/// before `started_before_ms` (that request died). True if there was one.
pub async fn remove_abandoned(rt: &Runtime, project_id: &str, name: &str, started_before_ms: i64) -> ApiResult<bool> {
    let params = [project_id.into(), name.into(), started_before_ms.into()];
    Ok(rt.db.execute(REMOVE_ABANDONED, &params).await? == 1)
}

/// Removes a room whose vendor call failed, so no record is left behind.
pub async fn remove(rt: &Runtime, room_id: &str) -> ApiResult<()> {
    rt.db.execute(REMOVE, &[room_id.into()]).await?;
    Ok(())
}

/// A live room of `project_id` by id or by name: an id-shaped reference is an id (names
/// never have that shape), anything else a name.
pub async fn find(rt: &Runtime, project_id: &str, id_or_name: &str) -> ApiResult<Option<Room>> {
    let sql = if crate::domain::ids::is_room_id(id_or_name) { find_by_id_sql() } else { find_by_name_sql() };
    let rows = rt.db.query(&sql, &[project_id.into(), id_or_name.into()]).await?;
    Ok(rows.first().and_then(Room::from_row))
}

pub async fn soft_delete(rt: &Runtime, room_id: &str) -> ApiResult<bool> {
    let changed = rt.db.execute(SOFT_DELETE, &[room_id.into(), (rt.now_ms() as i64).into()]).await?;
    Ok(changed == 1)
}

/// One page of the project's live rooms, newest first, strictly after `after`.
pub async fn page(rt: &Runtime, project_id: &str, after: Option<&Cursor>, limit: u32) -> ApiResult<(Vec<Room>, bool)> {
    newest_first(rt, &page_select(), vec![project_id.into()], "created_at_ms", after, limit, Room::from_row).await
}

/// The room a vendor calls `vendor_name` (our room id), deleted or not, in any project: for
/// vendor events, which name no project.
pub async fn by_vendor_name(rt: &Runtime, vendor: &str, vendor_name: &str) -> ApiResult<Option<Room>> {
    let rows = rt.db.query(&by_vendor_name_sql(), &[vendor_name.into(), vendor.into()]).await?;
    Ok(rows.first().and_then(Room::from_row))
}

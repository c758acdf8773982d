//! Recording records: ours (`rec_…`) mapped to the vendor's handle, with the last known state.

use serde_json::{json, Value};

use super::{int, metadata_json, newest_first, page_sqls, quotas, text, Cursor};
use crate::domain::limits::{quota_exceeded, Quota};
use crate::domain::recording::{FileResult, RecordingState, RecordingStatus};
use crate::error::ApiResult;
use crate::runtime::{Row, Runtime};
use crate::time::rfc3339;

#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    pub id: String,
    pub project_id: String,
    pub room_id: String,
    pub vendor: String,
    /// None while a start is unconfirmed (the vendor call timed out).
    pub vendor_recording_id: Option<String>,
    pub status: RecordingStatus,
    pub output_uri: String,
    pub layout: String,
    pub audio_only: bool,
    pub request_hash: String,
    pub metadata: Option<String>,
    pub error: Option<String>,
    pub files: Vec<FileResult>,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
}

const COLUMNS: &str = "id, project_id, room_id, vendor, vendor_recording_id, status, output_uri, layout, audio_only, \
                       request_hash, metadata, error, files, started_at_ms, ended_at_ms";

/// Inserts a recording while the project has fewer than ?17 running (starting or active).
fn insert_sql() -> String {
    quotas::insert_within(
        &format!("INSERT INTO recordings ({COLUMNS}, updated_at_ms, answer_lost)"),
        "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 1",
        Quota::ConcurrentRecordings,
        "?2",
        "?17",
    )
}
const SAVE_STATE: &str = "UPDATE recordings SET vendor_recording_id = ?2, status = ?3, error = ?4, files = ?5, \
                          ended_at_ms = ?6, updated_at_ms = ?7 WHERE id = ?1";
fn find_sql() -> String {
    format!("SELECT {COLUMNS} FROM recordings WHERE project_id = ?1 AND id = ?2")
}
fn unanswered_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM recordings WHERE project_id = ?1 AND request_hash = ?2 AND answer_lost = 1 \
         ORDER BY started_at_ms"
    )
}
const SET_ANSWER_LOST: &str = "UPDATE recordings SET answer_lost = ?2 WHERE id = ?1";
const KNOWN_VENDOR_IDS: &str = "SELECT vendor_recording_id FROM recordings \
                                WHERE project_id = ?1 AND room_id = ?2 AND vendor_recording_id IS NOT NULL";
const REMOVE: &str = "DELETE FROM recordings WHERE id = ?1";
/// Which recording a vendor event names (?3): its handle itself (LiveKit's egress id, ZEGO's
/// task), or, for a handle that is a JSON object (Agora's: resource id, sid, channel, uid…),
/// the handle whose `sid` it is — Agora's notices name a task by its bare sid. An empty sid
/// (a task that could not be addressed) names nothing. Served by `recordings_page` (project,
/// room): only the room's recordings are read.
macro_rules! follow_sql {
    ($set:literal, $extra:literal) => {
        concat!(
            "UPDATE recordings SET ",
            $set,
            " WHERE project_id = ?1 AND room_id = ?2 AND ?3 <> '' AND (vendor_recording_id = ?3 \
             OR CASE WHEN json_valid(vendor_recording_id) THEN json_extract(vendor_recording_id, '$.sid') END = ?3)",
            $extra
        )
    };
}
/// A vendor's recording status, final: it stays final.
const FOLLOW_TO_FINAL: &str =
    follow_sql!("status = ?4, ended_at_ms = COALESCE(ended_at_ms, ?5), updated_at_ms = ?6", "");
/// A vendor's recording status, not final: a late one never replaces a final status.
const FOLLOW_UNLESS_FINAL: &str = follow_sql!(
    "status = ?4, updated_at_ms = ?6",
    " AND status NOT IN ('complete', 'failed', 'aborted', 'limit_reached')"
);
fn page_select() -> String {
    format!("SELECT {COLUMNS} FROM recordings WHERE project_id = ?1")
}
fn page_of_room_select() -> String {
    format!("SELECT {COLUMNS} FROM recordings WHERE project_id = ?1 AND room_id = ?2")
}

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    let mut all = vec![insert_sql(), find_sql(), unanswered_sql()];
    all.extend([SAVE_STATE, SET_ANSWER_LOST, KNOWN_VENDOR_IDS, REMOVE].map(str::to_owned));
    all.extend(page_sqls(&page_select(), 1, "started_at_ms"));
    all.extend(page_sqls(&page_of_room_select(), 2, "started_at_ms"));
    all.extend([FOLLOW_TO_FINAL, FOLLOW_UNLESS_FINAL].map(str::to_owned));
    all
}

fn files_to_json(files: &[FileResult]) -> Value {
    Value::Array(
        files
            .iter()
            .map(|f| json!({ "location": f.location, "size_bytes": f.size_bytes, "duration_ms": f.duration_ms }))
            .collect(),
    )
}

fn files_from_json(text: Option<String>) -> Vec<FileResult> {
    let Some(value) = text.and_then(|t| serde_json::from_str::<Value>(&t).ok()) else { return Vec::new() };
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|f| {
                    Some(FileResult {
                        location: f.get("location")?.as_str()?.to_owned(),
                        size_bytes: f.get("size_bytes").and_then(Value::as_u64),
                        duration_ms: f.get("duration_ms").and_then(Value::as_u64),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Recording {
    fn from_row(row: &Row) -> Option<Recording> {
        Some(Recording {
            id: text(row, "id")?,
            project_id: text(row, "project_id")?,
            room_id: text(row, "room_id")?,
            vendor: text(row, "vendor")?,
            vendor_recording_id: text(row, "vendor_recording_id"),
            status: RecordingStatus::parse(&text(row, "status")?)?,
            output_uri: text(row, "output_uri")?,
            layout: text(row, "layout")?,
            audio_only: int(row, "audio_only") == Some(1),
            request_hash: text(row, "request_hash")?,
            metadata: text(row, "metadata"),
            error: text(row, "error"),
            files: files_from_json(text(row, "files")),
            started_at_ms: int(row, "started_at_ms")?,
            ended_at_ms: int(row, "ended_at_ms"),
        })
    }

    /// The contract's `Recording { recording, room, status, output_uri }` plus details.
    pub fn to_json(&self) -> Value {
        let metadata = metadata_json(self.metadata.as_deref());
        let mut v = json!({
            "recording": self.id,
            "room": self.room_id,
            "status": self.status.as_str(),
            "vendor": self.vendor,
            "output_uri": self.output_uri,
            "layout": self.layout,
            "audio_only": self.audio_only,
            "metadata": metadata,
            "started_at": rfc3339(self.started_at_ms as u64),
            "ended_at": self.ended_at_ms.map(|ms| rfc3339(ms as u64)),
            "files": files_to_json(&self.files),
        });
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        }
        v
    }

    /// Folds in what the vendor reports now.
    pub fn apply(&mut self, state: &RecordingState) {
        self.vendor_recording_id = Some(state.vendor_recording_id.clone());
        self.status = state.status;
        if state.error.is_some() {
            self.error = state.error.clone();
        }
        if !state.files.is_empty() {
            self.files = state.files.clone();
        }
        if let Some(ended) = state.ended_at_ms {
            self.ended_at_ms = Some(ended as i64);
        }
    }
}

/// Inserts `r` unless its project already runs `limit` recordings (`QUOTA_EXCEEDED`).
pub async fn insert(rt: &Runtime, r: &Recording, limit: u32) -> ApiResult<()> {
    let inserted = rt
        .db
        .execute(
            // Unanswered until its answer reaches the client (`set_answer_lost(false)`).
            &insert_sql(),
            &[
                r.id.as_str().into(),
                r.project_id.as_str().into(),
                r.room_id.as_str().into(),
                r.vendor.as_str().into(),
                r.vendor_recording_id.clone().into(),
                r.status.as_str().into(),
                r.output_uri.as_str().into(),
                r.layout.as_str().into(),
                r.audio_only.into(),
                r.request_hash.as_str().into(),
                r.metadata.clone().into(),
                r.error.clone().into(),
                files_to_json(&r.files).to_string().into(),
                r.started_at_ms.into(),
                r.ended_at_ms.into(),
                (rt.now_ms() as i64).into(),
                i64::from(limit).into(),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(quota_exceeded(Quota::ConcurrentRecordings, limit));
    }
    Ok(())
}

pub async fn save_state(rt: &Runtime, r: &Recording) -> ApiResult<()> {
    rt.db
        .execute(
            SAVE_STATE,
            &[
                r.id.as_str().into(),
                r.vendor_recording_id.clone().into(),
                r.status.as_str().into(),
                r.error.clone().into(),
                files_to_json(&r.files).to_string().into(),
                r.ended_at_ms.into(),
                (rt.now_ms() as i64).into(),
            ],
        )
        .await?;
    Ok(())
}

pub async fn find(rt: &Runtime, project_id: &str, id: &str) -> ApiResult<Option<Recording>> {
    let rows = rt.db.query(&find_sql(), &[project_id.into(), id.into()]).await?;
    Ok(rows.first().and_then(Recording::from_row))
}

/// Starts made by the same request (the hash covers project and room) whose answer has not
/// reached a client yet (confirmed at the vendor since, or not), oldest first.
pub async fn unanswered(rt: &Runtime, project_id: &str, request_hash: &str) -> ApiResult<Vec<Recording>> {
    let rows = rt.db.query(&unanswered_sql(), &[project_id.into(), request_hash.into()]).await?;
    Ok(rows.iter().filter_map(Recording::from_row).collect())
}

pub async fn set_answer_lost(rt: &Runtime, id: &str, lost: bool) -> ApiResult<()> {
    rt.db.execute(SET_ANSWER_LOST, &[id.into(), lost.into()]).await?;
    Ok(())
}

/// Vendor ids already attached to a recording of this room.
pub async fn known_vendor_ids(rt: &Runtime, project_id: &str, room_id: &str) -> ApiResult<Vec<String>> {
    let rows = rt.db.query(KNOWN_VENDOR_IDS, &[project_id.into(), room_id.into()]).await?;
    Ok(rows.iter().filter_map(|r| text(r, "vendor_recording_id")).collect())
}

pub async fn remove(rt: &Runtime, id: &str) -> ApiResult<()> {
    rt.db.execute(REMOVE, &[id.into()]).await?;
    Ok(())
}

/// The project's recordings (optionally one room's), newest first, strictly after `after`.
pub async fn page(
    rt: &Runtime,
    project_id: &str,
    room_id: Option<&str>,
    after: Option<&Cursor>,
    limit: u32,
) -> ApiResult<(Vec<Recording>, bool)> {
    // Two statements, so that a room's page is read from the index that starts with its room.
    let (select, params) = match room_id {
        Some(room) => (page_of_room_select(), vec![project_id.into(), room.into()]),
        None => (page_select(), vec![project_id.into()]),
    };
    newest_first(rt, &select, params, "started_at_ms", after, limit, Recording::from_row).await
}

/// A vendor event about recording `vendor_recording_id` of the room: its status follows,
/// except that a final status is never replaced by an earlier, non-final one arriving late.
pub async fn follow_vendor(
    rt: &Runtime,
    project_id: &str,
    room_id: &str,
    vendor_recording_id: &str,
    status: crate::domain::recording::RecordingStatus,
    at_ms: u64,
) -> ApiResult<()> {
    let sql = if status.is_final() { FOLLOW_TO_FINAL } else { FOLLOW_UNLESS_FINAL };
    rt.db
        .execute(
            sql,
            &[
                project_id.into(),
                room_id.into(),
                vendor_recording_id.into(),
                status.as_str().into(),
                (at_ms as i64).into(),
                (rt.now_ms() as i64).into(),
            ],
        )
        .await?;
    Ok(())
}

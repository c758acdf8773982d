//! Live stream records (`str_…`): ours mapped to the vendor's handle, with each output's sealed
//! ingest URL and last known state, the publishers its layout is made for, and how far the
//! vendor has taken that layout.

use serde_json::{json, Value};

use super::{int, newest_first, page_sqls, quotas, text, Cursor};
use crate::domain::limits::{quota_exceeded, Quota};
use crate::domain::stream::{Canvas, OutputStatus, StreamStatus};
use crate::error::ApiResult;
use crate::runtime::{Row, Runtime, SqlValue, Statement};
use crate::time::rfc3339;

/// One output as stored: the URL only sealed, and masked for showing.
#[derive(Clone, PartialEq)]
pub struct StoredOutput {
    pub output: String,
    pub url_sealed: String,
    pub url_masked: String,
    pub status: OutputStatus,
    pub error: Option<String>,
    pub vendor_ref: Option<String>,
    /// When the vendor first answered that it has no such job, while the output was still
    /// taken to run (`domain::stream::MISSING_GRACE_MS`); `None` once it is found again.
    pub missing_since_ms: Option<i64>,
}

impl std::fmt::Debug for StoredOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredOutput")
            .field("output", &self.output)
            .field("url", &self.url_masked)
            .field("status", &self.status)
            .field("vendor_ref", &self.vendor_ref)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    pub id: String,
    pub project_id: String,
    pub room_id: String,
    pub vendor: String,
    /// None while a start is unconfirmed (the vendor call got no answer).
    pub vendor_stream_id: Option<String>,
    pub status: StreamStatus,
    pub layout: String,
    pub audio_only: bool,
    pub video: Canvas,
    pub outputs: Vec<StoredOutput>,
    pub publishers: Vec<String>,
    pub seq: i64,
    /// The highest `seq` whose layout the vendor accepted: below `seq`, the layout of
    /// `publishers` is still to be sent.
    pub layout_sent_seq: i64,
    /// When the scheduled job last checked the layout; `None` for a vendor that lays its
    /// streams out itself.
    pub layout_swept_at_ms: Option<i64>,
    /// Counts the saves of the vendor's word on the stream (`save_state`), so that a notice
    /// folded into what it read is saved only if nothing was saved since.
    pub state_version: i64,
    pub request_hash: String,
    pub error: Option<String>,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
}

const COLUMNS: &str = "id, project_id, room_id, vendor, vendor_stream_id, status, layout, audio_only, video, outputs, \
                       publishers, seq, layout_sent_seq, layout_swept_at_ms, request_hash, error, started_at_ms, \
                       ended_at_ms";

/// Inserts a stream while the project runs fewer than ?20 (starting or active).
fn insert_sql() -> String {
    quotas::insert_within(
        &format!("INSERT INTO streams ({COLUMNS}, updated_at_ms, answer_lost)"),
        "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, 1",
        Quota::Streams,
        "?2",
        "?20",
    )
}
const SAVE_STATE: &str = "UPDATE streams SET vendor_stream_id = ?3, status = ?4, outputs = ?5, error = ?6, \
                          ended_at_ms = ?7, updated_at_ms = ?8, state_version = state_version + 1 \
                          WHERE project_id = ?1 AND id = ?2";
/// As `SAVE_STATE`, only if the stream's state was not saved since it was read at version ?9.
const SAVE_STATE_IF_UNCHANGED: &str = "UPDATE streams SET vendor_stream_id = ?3, status = ?4, outputs = ?5, \
                                       error = ?6, ended_at_ms = ?7, updated_at_ms = ?8, \
                                       state_version = state_version + 1 \
                                       WHERE project_id = ?1 AND id = ?2 AND state_version = ?9";
fn find_sql() -> String {
    format!("SELECT {COLUMNS}, state_version FROM streams WHERE project_id = ?1 AND id = ?2")
}
fn unanswered_sql() -> String {
    format!(
        "SELECT {COLUMNS}, state_version FROM streams WHERE project_id = ?1 AND request_hash = ?2 AND answer_lost = 1 \
         ORDER BY started_at_ms DESC, id DESC LIMIT 5"
    )
}
const SET_ANSWER_LOST: &str = "UPDATE streams SET answer_lost = ?3 WHERE project_id = ?1 AND id = ?2";
const KNOWN_VENDOR_IDS: &str = "SELECT vendor_stream_id FROM streams \
                                WHERE project_id = ?1 AND room_id = ?2 AND vendor_stream_id IS NOT NULL";
const REMOVE: &str = "DELETE FROM streams WHERE project_id = ?1 AND id = ?2";
fn running_in_room_sql() -> String {
    format!(
        "SELECT {COLUMNS}, state_version FROM streams WHERE project_id = ?1 AND room_id = ?2 AND status IN ('starting', 'active') LIMIT 50"
    )
}
fn by_vendor_id_sql() -> String {
    format!(
        "SELECT {COLUMNS}, state_version FROM streams WHERE project_id = ?1 AND room_id = ?2 AND vendor_stream_id = ?3"
    )
}
/// A stream by our id alone, for a vendor notification that names it (an Agora converter).
fn at_vendor_sql() -> String {
    format!("SELECT {COLUMNS}, state_version FROM streams WHERE id = ?1 AND vendor = ?2")
}
const REMEMBER_OUTPUT_REF: &str = "INSERT OR IGNORE INTO stream_output_refs \
                                   (vendor, vendor_ref, project_id, stream_id, output) VALUES (?1, ?2, ?3, ?4, ?5)";
const BY_OUTPUT_REF: &str =
    "SELECT project_id, stream_id, output FROM stream_output_refs WHERE vendor = ?1 AND vendor_ref = ?2";
/// The next sequence number of a stream's vendor calls.
const NEXT_SEQ: &str = "UPDATE streams SET seq = seq + 1 WHERE project_id = ?1 AND id = ?2 RETURNING seq";
/// New publishers and the sequence number to send them with, only if nobody changed them
/// since they were read as ?3: of two isolates handling two events at once, one sends.
const SWAP_PUBLISHERS: &str = "UPDATE streams SET publishers = ?4, seq = seq + 1, updated_at_ms = ?5 \
                               WHERE project_id = ?1 AND id = ?2 AND publishers = ?3 RETURNING seq";
/// That the vendor accepted the layout of ?4 sent with ?3: only while ?4 are still the stored
/// publishers (a later change is still to be sent), only forward (a send that lost the race
/// to a newer one marks nothing), and only from a mark of at least ?5 (a call that carried the
/// stored layout forward says nothing of a layout not sent before it).
const MARK_LAYOUT_SENT: &str = "UPDATE streams SET layout_sent_seq = ?3 WHERE project_id = ?1 AND id = ?2 \
                                AND publishers = ?4 AND layout_sent_seq >= ?5 AND layout_sent_seq < ?3";
/// The running streams whose layout the scheduled job checked longest ago, in every project:
/// a bounded range of the partial `streams_layout_sweep` index.
fn layouts_due_sql() -> String {
    format!(
        "SELECT {COLUMNS}, state_version FROM streams WHERE status IN ('starting', 'active') AND layout_swept_at_ms IS NOT NULL \
         ORDER BY layout_swept_at_ms LIMIT ?1"
    )
}
/// Takes a stream for one check, unless another run took it since it was read as ?3.
const CLAIM_LAYOUT_SWEEP: &str = "UPDATE streams SET layout_swept_at_ms = ?4 \
                                  WHERE project_id = ?1 AND id = ?2 AND layout_swept_at_ms = ?3";
/// The newest presence and publishing events of one vendor room (its `seq` order), which say
/// who publishes there now.
const INPUT_EVENTS: &str = "SELECT type, data FROM events WHERE vendor = ?1 AND vendor_room = ?2 AND project_id = ?3 \
                            AND type IN ('participant.joined', 'participant.left', 'track.published', \
                            'track.unpublished') ORDER BY seq DESC LIMIT ?4";
fn page_select() -> String {
    format!("SELECT {COLUMNS}, state_version FROM streams WHERE project_id = ?1")
}
fn page_of_room_select() -> String {
    format!("SELECT {COLUMNS}, state_version FROM streams WHERE project_id = ?1 AND room_id = ?2")
}
fn page_of_status_select() -> String {
    format!("SELECT {COLUMNS}, state_version FROM streams WHERE project_id = ?1 AND status = ?2")
}
fn page_of_room_status_select() -> String {
    format!("SELECT {COLUMNS}, state_version FROM streams WHERE project_id = ?1 AND room_id = ?2 AND status = ?3")
}

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    let mut all =
        vec![insert_sql(), find_sql(), unanswered_sql(), running_in_room_sql(), by_vendor_id_sql(), at_vendor_sql()];
    all.push(layouts_due_sql());
    all.extend(
        [
            SAVE_STATE,
            SAVE_STATE_IF_UNCHANGED,
            SET_ANSWER_LOST,
            KNOWN_VENDOR_IDS,
            REMOVE,
            NEXT_SEQ,
            SWAP_PUBLISHERS,
            MARK_LAYOUT_SENT,
            CLAIM_LAYOUT_SWEEP,
            INPUT_EVENTS,
            REMEMBER_OUTPUT_REF,
            BY_OUTPUT_REF,
        ]
        .map(str::to_owned),
    );
    all.extend(page_sqls(&page_select(), 1, "started_at_ms"));
    all.extend(page_sqls(&page_of_room_select(), 2, "started_at_ms"));
    all.extend(page_sqls(&page_of_status_select(), 2, "started_at_ms"));
    all.extend(page_sqls(&page_of_room_status_select(), 3, "started_at_ms"));
    all
}

fn outputs_to_json(outputs: &[StoredOutput]) -> String {
    Value::Array(
        outputs
            .iter()
            .map(|o| {
                json!({
                    "output": o.output,
                    "url_sealed": o.url_sealed,
                    "url": o.url_masked,
                    "status": o.status.as_str(),
                    "error": o.error,
                    "vendor_ref": o.vendor_ref,
                    "missing_since_ms": o.missing_since_ms,
                })
            })
            .collect(),
    )
    .to_string()
}

fn outputs_from_json(text: Option<String>) -> Vec<StoredOutput> {
    let Some(Value::Array(items)) = text.and_then(|t| serde_json::from_str::<Value>(&t).ok()) else {
        return Vec::new();
    };
    let s = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
    items
        .iter()
        .filter_map(|o| {
            Some(StoredOutput {
                output: s(o, "output")?,
                url_sealed: s(o, "url_sealed")?,
                url_masked: s(o, "url")?,
                status: OutputStatus::parse(&s(o, "status")?)?,
                error: s(o, "error"),
                vendor_ref: s(o, "vendor_ref"),
                missing_since_ms: o.get("missing_since_ms").and_then(Value::as_i64),
            })
        })
        .collect()
}

impl Stream {
    fn from_row(row: &Row) -> Option<Stream> {
        Some(Stream {
            id: text(row, "id")?,
            project_id: text(row, "project_id")?,
            room_id: text(row, "room_id")?,
            vendor: text(row, "vendor")?,
            vendor_stream_id: text(row, "vendor_stream_id"),
            status: StreamStatus::parse(&text(row, "status")?)?,
            layout: text(row, "layout")?,
            audio_only: int(row, "audio_only") == Some(1),
            video: text(row, "video")
                .and_then(|v| serde_json::from_str(&v).ok())
                .and_then(|v| Canvas::from_json(&v))
                .unwrap_or(Canvas::DEFAULT),
            outputs: outputs_from_json(text(row, "outputs")),
            publishers: text(row, "publishers").and_then(|p| serde_json::from_str(&p).ok()).unwrap_or_default(),
            seq: int(row, "seq")?,
            layout_sent_seq: int(row, "layout_sent_seq")?,
            layout_swept_at_ms: int(row, "layout_swept_at_ms"),
            state_version: int(row, "state_version").unwrap_or(0),
            request_hash: text(row, "request_hash")?,
            error: text(row, "error"),
            started_at_ms: int(row, "started_at_ms")?,
            ended_at_ms: int(row, "ended_at_ms"),
        })
    }

    /// The contract's `Stream`: outputs only with their keys masked.
    pub fn to_json(&self) -> Value {
        let outputs: Vec<Value> = self
            .outputs
            .iter()
            .map(|o| {
                let mut v = json!({"output": o.output, "url": o.url_masked, "status": o.status.as_str()});
                if let Some(e) = &o.error {
                    v["error"] = json!(e);
                }
                v
            })
            .collect();
        let mut v = json!({
            "stream": self.id,
            "room": self.room_id,
            "vendor": self.vendor,
            "status": self.status.as_str(),
            "layout": self.layout,
            "audio_only": self.audio_only,
            "video": self.video.to_json(),
            "outputs": outputs,
            "started_at": rfc3339(self.started_at_ms.max(0) as u64),
            "ended_at": self.ended_at_ms.map(|ms| rfc3339(ms.max(0) as u64)),
        });
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        }
        v
    }

    fn publishers_json(&self) -> String {
        json!(self.publishers).to_string()
    }
}

/// Inserts `s` unless its project already runs `limit` streams (`QUOTA_EXCEEDED`). It is
/// unanswered until its answer reaches the client (`set_answer_lost(false)`).
pub async fn insert(rt: &Runtime, s: &Stream, limit: u32) -> ApiResult<()> {
    let inserted = rt
        .db
        .execute(
            &insert_sql(),
            &[
                s.id.as_str().into(),
                s.project_id.as_str().into(),
                s.room_id.as_str().into(),
                s.vendor.as_str().into(),
                s.vendor_stream_id.clone().into(),
                s.status.as_str().into(),
                s.layout.as_str().into(),
                s.audio_only.into(),
                s.video.to_json().to_string().into(),
                outputs_to_json(&s.outputs).into(),
                s.publishers_json().into(),
                s.seq.into(),
                s.layout_sent_seq.into(),
                s.layout_swept_at_ms.into(),
                s.request_hash.as_str().into(),
                s.error.clone().into(),
                s.started_at_ms.into(),
                s.ended_at_ms.into(),
                (rt.now_ms() as i64).into(),
                i64::from(limit).into(),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(quota_exceeded(Quota::Streams, limit));
    }
    Ok(())
}

/// Saves what the vendor said of the stream, with the handles of outputs new since `before`
/// (one batch), so that a notification naming only such a handle finds the stream.
pub async fn save_state(rt: &Runtime, before: &Stream, s: &Stream) -> ApiResult<()> {
    save(rt, before, s, false).await.map(|_| ())
}

/// As `save_state`, only if nothing saved the stream's state since `before` was read; `false`
/// (and nothing saved) when something did.
pub async fn save_state_if_unchanged(rt: &Runtime, before: &Stream, s: &Stream) -> ApiResult<bool> {
    save(rt, before, s, true).await
}

async fn save(rt: &Runtime, before: &Stream, s: &Stream, if_unchanged: bool) -> ApiResult<bool> {
    let mut params: Vec<SqlValue> = vec![
        s.project_id.as_str().into(),
        s.id.as_str().into(),
        s.vendor_stream_id.clone().into(),
        s.status.as_str().into(),
        outputs_to_json(&s.outputs).into(),
        s.error.clone().into(),
        s.ended_at_ms.into(),
        (rt.now_ms() as i64).into(),
    ];
    let sql = if if_unchanged {
        params.push(before.state_version.into());
        SAVE_STATE_IF_UNCHANGED
    } else {
        SAVE_STATE
    };
    let mut batch = vec![Statement { sql, params }];
    for o in &s.outputs {
        let Some(vendor_ref) = &o.vendor_ref else { continue };
        if before.outputs.iter().any(|b| b.output == o.output && b.vendor_ref.as_ref() == Some(vendor_ref)) {
            continue;
        }
        batch.push(Statement {
            sql: REMEMBER_OUTPUT_REF,
            params: vec![
                s.vendor.as_str().into(),
                vendor_ref.as_str().into(),
                s.project_id.as_str().into(),
                s.id.as_str().into(),
                o.output.as_str().into(),
            ],
        });
    }
    // A handle is a fact whoever saves: remembered even if the state is not saved.
    let saved = if batch.len() == 1 {
        rt.db.execute(sql, &batch[0].params).await?
    } else {
        rt.db.batch(&batch).await?.first().copied().unwrap_or(0)
    };
    Ok(saved == 1)
}

/// The stream (of any project) with our id `id` at `vendor`: for a vendor notification that
/// names our stream. The stream found says which project.
pub async fn at_vendor(rt: &Runtime, vendor: &str, id: &str) -> ApiResult<Option<Stream>> {
    let rows = rt.db.query(&at_vendor_sql(), &[id.into(), vendor.into()]).await?;
    Ok(rows.first().and_then(Stream::from_row))
}

/// The stream and output whose job `vendor` knows as `vendor_ref`, in whichever project.
pub async fn by_output_ref(rt: &Runtime, vendor: &str, vendor_ref: &str) -> ApiResult<Option<(Stream, String)>> {
    let rows = rt.db.query(BY_OUTPUT_REF, &[vendor.into(), vendor_ref.into()]).await?;
    let Some((project_id, stream_id, output)) =
        rows.first().and_then(|r| Some((text(r, "project_id")?, text(r, "stream_id")?, text(r, "output")?)))
    else {
        return Ok(None);
    };
    Ok(find(rt, &project_id, &stream_id).await?.map(|s| (s, output)))
}

pub async fn find(rt: &Runtime, project_id: &str, id: &str) -> ApiResult<Option<Stream>> {
    let rows = rt.db.query(&find_sql(), &[project_id.into(), id.into()]).await?;
    Ok(rows.first().and_then(Stream::from_row))
}

/// Starts made by the same request (the hash covers project and room) whose answer has not
/// reached a client yet, newest first.
pub async fn unanswered(rt: &Runtime, project_id: &str, request_hash: &str) -> ApiResult<Vec<Stream>> {
    let rows = rt.db.query(&unanswered_sql(), &[project_id.into(), request_hash.into()]).await?;
    Ok(rows.iter().filter_map(Stream::from_row).collect())
}

pub async fn set_answer_lost(rt: &Runtime, s: &Stream, lost: bool) -> ApiResult<()> {
    rt.db.execute(SET_ANSWER_LOST, &[s.project_id.as_str().into(), s.id.as_str().into(), lost.into()]).await?;
    Ok(())
}

/// Vendor ids already attached to a stream of this room.
pub async fn known_vendor_ids(rt: &Runtime, project_id: &str, room_id: &str) -> ApiResult<Vec<String>> {
    let rows = rt.db.query(KNOWN_VENDOR_IDS, &[project_id.into(), room_id.into()]).await?;
    Ok(rows.iter().filter_map(|r| text(r, "vendor_stream_id")).collect())
}

pub async fn remove(rt: &Runtime, s: &Stream) -> ApiResult<()> {
    rt.db.execute(REMOVE, &[s.project_id.as_str().into(), s.id.as_str().into()]).await?;
    Ok(())
}

/// The room's streams that run (starting or active), newest first.
pub async fn running_in_room(rt: &Runtime, project_id: &str, room_id: &str) -> ApiResult<Vec<Stream>> {
    let rows = rt.db.query(&running_in_room_sql(), &[project_id.into(), room_id.into()]).await?;
    Ok(rows.iter().filter_map(Stream::from_row).collect())
}

pub async fn by_vendor_id(
    rt: &Runtime,
    project_id: &str,
    room_id: &str,
    vendor_stream_id: &str,
) -> ApiResult<Option<Stream>> {
    let rows = rt.db.query(&by_vendor_id_sql(), &[project_id.into(), room_id.into(), vendor_stream_id.into()]).await?;
    Ok(rows.first().and_then(Stream::from_row))
}

/// The sequence number for the stream's next vendor call.
pub async fn next_seq(rt: &Runtime, s: &Stream) -> ApiResult<i64> {
    let rows = rt.db.query(NEXT_SEQ, &[s.project_id.as_str().into(), s.id.as_str().into()]).await?;
    Ok(rows.first().and_then(|r| int(r, "seq")).unwrap_or(s.seq + 1))
}

/// Stores `publishers` as the stream's layout inputs if they are still what `s` holds, and
/// returns the sequence number to send them with; `None` if another change came first.
pub async fn swap_publishers(rt: &Runtime, s: &Stream, publishers: &[String]) -> ApiResult<Option<i64>> {
    let rows = rt
        .db
        .query(
            SWAP_PUBLISHERS,
            &[
                s.project_id.as_str().into(),
                s.id.as_str().into(),
                s.publishers_json().into(),
                json!(publishers).to_string().into(),
                (rt.now_ms() as i64).into(),
            ],
        )
        .await?;
    Ok(rows.first().and_then(|r| int(r, "seq")))
}

/// Records that the vendor accepted the layout of `s.publishers` sent with `s.seq` (see
/// `MARK_LAYOUT_SENT`; `carried_from`: 0, or the sequence number whose layout a call kept).
/// Whether the mark moved.
pub async fn mark_layout_sent(rt: &Runtime, s: &Stream, carried_from: i64) -> ApiResult<bool> {
    let marked = rt
        .db
        .execute(
            MARK_LAYOUT_SENT,
            &[
                s.project_id.as_str().into(),
                s.id.as_str().into(),
                s.seq.into(),
                s.publishers_json().into(),
                carried_from.into(),
            ],
        )
        .await?;
    Ok(marked == 1)
}

/// Up to `limit` running streams, of every project, whose layout was checked longest ago (for
/// the scheduled job; only streams whose layout rtcgate makes).
pub async fn layouts_due(rt: &Runtime, limit: u32) -> ApiResult<Vec<Stream>> {
    let rows = rt.db.query(&layouts_due_sql(), &[i64::from(limit).into()]).await?;
    Ok(rows.iter().filter_map(Stream::from_row).collect())
}

/// Takes `s` for one layout check at `now_ms`; false when another run took it first.
pub async fn claim_layout_sweep(rt: &Runtime, s: &Stream, now_ms: i64) -> ApiResult<bool> {
    let Some(checked) = s.layout_swept_at_ms else { return Ok(false) };
    let claimed = rt
        .db
        .execute(
            CLAIM_LAYOUT_SWEEP,
            &[s.project_id.as_str().into(), s.id.as_str().into(), checked.into(), now_ms.into()],
        )
        .await?;
    Ok(claimed == 1)
}

/// The newest `limit` presence and publishing events (type, data) of the vendor room, oldest
/// first.
pub async fn input_events(
    rt: &Runtime,
    vendor: &str,
    project_id: &str,
    room_id: &str,
    limit: u32,
) -> ApiResult<Vec<(String, Value)>> {
    let rows =
        rt.db.query(INPUT_EVENTS, &[vendor.into(), room_id.into(), project_id.into(), i64::from(limit).into()]).await?;
    let mut events: Vec<(String, Value)> = rows
        .iter()
        .filter_map(|r| {
            let data = text(r, "data").and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null);
            Some((text(r, "type")?, data))
        })
        .collect();
    events.reverse();
    Ok(events)
}

/// The project's streams (optionally one room's, one status's), newest first, after `after`.
pub async fn page(
    rt: &Runtime,
    project_id: &str,
    room_id: Option<&str>,
    status: Option<StreamStatus>,
    after: Option<&Cursor>,
    limit: u32,
) -> ApiResult<(Vec<Stream>, bool)> {
    let (select, params) = match (room_id, status) {
        (Some(room), Some(st)) => {
            (page_of_room_status_select(), vec![project_id.into(), room.into(), st.as_str().into()])
        }
        (Some(room), None) => (page_of_room_select(), vec![project_id.into(), room.into()]),
        (None, Some(st)) => (page_of_status_select(), vec![project_id.into(), st.as_str().into()]),
        (None, None) => (page_select(), vec![project_id.into()]),
    };
    newest_first(rt, &select, params, "started_at_ms", after, limit, Stream::from_row).await
}

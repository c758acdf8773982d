//! Live streams through ZEGO stream mixing: one mix task per stream, its `TaskId` our stream
//! id (StartMix with the same TaskId changes that task instead of making another, so a start
//! sent twice makes one task), every output a `MixOutput` with its `StreamUrl`. ZEGO does not
//! lay the room out: each publisher's stream is a `MixInput` with its `RectInfo` (edges in
//! pixels from the top left), and every change is StartMix again with a higher `Sequence`.
//! StopMix ends it; GetMixTaskInfo says whether it still runs. Pure functions; `mod.rs` does
//! the I/O.
//!
//! API: ZEGOCLOUD/docs_all `core_products/real-time-voice-video/en/server/api-reference/
//! stream-mixing/{start-mix,stop-mix,get-mix-task-info}.yaml`.

use serde_json::{json, Value};

use super::recording;
use crate::domain::stream::{InputChange, OutputState, OutputStatus, StreamSpec, StreamState, StreamStatus};
use crate::http::percent_encode;
use crate::runtime::OutboundResponse;
use crate::vendors::{VendorError, VendorFailure};

pub const START: &str = "StartMix";
pub const STOP: &str = "StopMix";
pub const DESCRIBE: &str = "GetMixTaskInfo";
/// Seconds without any input before ZEGO ends the task (90–14400): room for everyone to
/// step out briefly.
const MAX_IDLE_S: u32 = 300;
/// The task does not exist (GetMixTaskInfo).
const NO_SUCH_TASK: &str = "110209001";
/// AAC at 48 kbps, ZEGO's default output audio.
const AUDIO_BITRATE_BPS: u32 = 48_000;

/// The StartMix body for `spec` as it is now (also what changes a running task).
pub fn start_body(spec: &StreamSpec) -> Value {
    let inputs: Vec<Value> = spec
        .regions
        .iter()
        .map(|r| {
            json!({
                "StreamId": r.publisher,
                "RectInfo": {"Top": r.y, "Left": r.x, "Bottom": r.y + r.height, "Right": r.x + r.width, "Layer": r.z},
            })
        })
        .collect();
    let c = spec.canvas;
    let outputs: Vec<Value> = spec
        .outputs
        .iter()
        .map(|o| {
            let mut out = json!({"StreamUrl": o.url, "AudioBitrate": AUDIO_BITRATE_BPS});
            if !spec.audio_only {
                out["VideoBitrate"] = json!(c.bitrate_kbps * 1000);
                out["Fps"] = json!(c.fps);
                out["Width"] = json!(c.width & !1);
                out["Height"] = json!(c.height & !1);
            }
            out
        })
        .collect();
    json!({
        "TaskId": spec.stream_id,
        // Constant per task and distinct across tasks: the stream id is both.
        "UserId": spec.stream_id,
        "Sequence": spec.seq,
        "RoomId": spec.room_id,
        "MixInput": inputs,
        "MixOutput": outputs,
        "MaxIdleTime": MAX_IDLE_S,
    })
}

pub fn stop_body(spec: &StreamSpec) -> Value {
    json!({"TaskId": spec.stream_id, "UserId": spec.stream_id, "Sequence": spec.seq})
}

/// GetMixTaskInfo's URL: its parameter goes in the query.
pub fn describe_url(signed: &str, task_id: &str) -> String {
    format!("{signed}&TaskId={}", percent_encode(task_id))
}

/// A stream-mixing answer's `Data`: recording's reading of `Code`, with the mixing codes.
pub fn read(action: &str, response: &OutboundResponse) -> Result<Value, VendorError> {
    recording::read(action, response).map_err(|e| {
        let failure = match e.vendor_code.as_deref() {
            Some(NO_SUCH_TASK) => VendorFailure::NotFound,
            Some("110200003") => VendorFailure::AuthFailed,
            Some("110200151") => VendorFailure::ServerError,
            _ => return e,
        };
        VendorError { failure, ..e }
    })
}

/// The state of a task ZEGO accepted or still runs: every output pushing.
pub fn running(spec: &StreamSpec) -> StreamState {
    with_outputs(spec, StreamStatus::Active, OutputStatus::Active)
}

pub fn ended(spec: &StreamSpec) -> StreamState {
    with_outputs(spec, StreamStatus::Ended, OutputStatus::Ended)
}

fn with_outputs(spec: &StreamSpec, status: StreamStatus, each: OutputStatus) -> StreamState {
    StreamState {
        vendor_stream_id: spec.stream_id.clone(),
        status,
        outputs: spec
            .outputs
            .iter()
            .map(|o| OutputState {
                output: o.output.clone(),
                status: each,
                error: None,
                vendor_ref: None,
                missing: false,
            })
            .collect(),
        error: None,
    }
}

/// A stream published or closed, by its stream id.
pub fn input_change(kind: &str, data: &Value) -> Option<InputChange> {
    let stream = data.get("stream_id").and_then(Value::as_str).filter(|s| !s.is_empty())?.to_owned();
    match kind {
        "track.published" => Some(InputChange::Publishing(stream)),
        "track.unpublished" => Some(InputChange::Stopped(stream)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stream::{example_spec, Layout};
    use crate::native::json_response;

    fn spec() -> StreamSpec {
        example_spec(Layout::Speaker, &["s-a", "s-b"], 4)
    }

    #[test]
    fn a_mix_task_is_the_stream_with_rectangles_by_edges() {
        let body = start_body(&spec());
        assert_eq!((body["TaskId"].as_str(), body["Sequence"].as_u64()), (Some("str_1"), Some(4)));
        assert_eq!(
            body["MixInput"][1],
            json!({"StreamId": "s-b", "RectInfo": {"Top": 0, "Left": 960, "Bottom": 720, "Right": 1280, "Layer": 1}})
        );
        assert_eq!(body["MixOutput"][0]["StreamUrl"], "rtmp://a.example.com/l/k");
        assert_eq!(body["MixOutput"][0]["VideoBitrate"], 3_000_000);
        assert_eq!(stop_body(&spec()), json!({"TaskId": "str_1", "UserId": "str_1", "Sequence": 4}));
    }

    #[test]
    fn mixing_codes_are_read() {
        let gone = json_response(200, &json!({"Code": 110209001, "Message": "no task"})).unwrap();
        assert_eq!(read(DESCRIBE, &gone).unwrap_err().failure, VendorFailure::NotFound);
        let ok = json_response(200, &json!({"Code": 0, "Data": {"Sequence": 4}})).unwrap();
        assert_eq!(read(START, &ok).unwrap()["Sequence"], 4);
        assert_eq!(
            input_change("track.published", &json!({"stream_id": "s-a"})),
            Some(InputChange::Publishing("s-a".into()))
        );
        assert_eq!(input_change("participant.joined", &json!({"stream_id": "s-a"})), None);
    }
}

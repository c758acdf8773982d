//! Live streams through LiveKit Egress: a room composite egress with one stream output
//! holding every RTMP URL (StartRoomCompositeEgress), outputs added and removed with
//! UpdateStream, stopped with StopEgress. LiveKit lays the room out itself (its `grid`,
//! `speaker` and `single-speaker` templates). Pure functions; `mod.rs` does the I/O.
//!
//! Field names are the proto names of livekit/protocol `protobufs/livekit_egress.proto`
//! (`StreamOutput{protocol, urls}`, `UpdateStreamRequest{egress_id, add_output_urls,
//! remove_output_urls}`, `StreamInfo{url, status, error}` in `EgressInfo.stream_results`).

use serde_json::{json, Map, Value};

use super::egress;
use super::twirp::Method;
use crate::domain::stream::{
    reported_output, Layout, OutputState, OutputStatus, OutputTarget, PushResult, StreamSpec, StreamState, StreamStatus,
};
use crate::vendors::VendorError;

/// The egress template for our layout.
pub fn template(layout: Layout) -> &'static str {
    match layout {
        Layout::Grid => "grid",
        Layout::Speaker => "speaker",
        Layout::Single => "single-speaker",
    }
}

/// StartRoomCompositeEgress body: one RTMP stream output with every URL, and the canvas as
/// advanced encoding options (video only).
pub fn start_body(spec: &StreamSpec) -> Value {
    let mut request = Map::new();
    request.insert("room_name".into(), json!(spec.room_id));
    request.insert("layout".into(), json!(template(spec.layout)));
    if spec.audio_only {
        request.insert("audio_only".into(), json!(true));
    } else {
        let c = spec.canvas;
        request.insert(
            "advanced".into(),
            json!({"width": c.width, "height": c.height, "framerate": c.fps, "video_bitrate": c.bitrate_kbps}),
        );
    }
    let urls: Vec<&str> = spec.outputs.iter().map(|o| o.url.as_str()).collect();
    request.insert("stream_outputs".into(), json!([{"protocol": "RTMP", "urls": urls}]));
    Value::Object(request)
}

/// UpdateStream body.
pub fn update_body(egress_id: &str, added: &[OutputTarget], removed: &[OutputTarget]) -> Value {
    let urls = |list: &[OutputTarget]| list.iter().map(|o| o.url.clone()).collect::<Vec<_>>();
    json!({"egress_id": egress_id, "add_output_urls": urls(added), "remove_output_urls": urls(removed)})
}

/// ListEgress body for the room's running egresses.
pub fn active_in_room_body(room_name: &str) -> Value {
    json!({"room_name": room_name, "active": true})
}

/// `StreamInfo.Status` (ACTIVE=0, FINISHED=1, FAILED=2) by name or number; webhook JSON
/// leaves the zero value out, so no status is ACTIVE.
fn output_status(v: Option<&Value>) -> OutputStatus {
    match v {
        Some(Value::String(s)) if s == "FINISHED" => OutputStatus::Ended,
        Some(Value::String(s)) if s == "FAILED" => OutputStatus::Failed,
        Some(Value::Number(n)) if n.as_i64() == Some(1) => OutputStatus::Ended,
        Some(Value::Number(n)) if n.as_i64() == Some(2) => OutputStatus::Failed,
        _ => OutputStatus::Active,
    }
}

/// A `StreamInfo` (a `stream_results` entry of an answer, a `streamResults` one of a webhook)
/// in our words: the ingest's own may echo the URL.
pub fn push_result(info: &Value) -> PushResult {
    let status = output_status(info.get("status"));
    PushResult {
        url: info.get("url").and_then(Value::as_str).unwrap_or("").to_owned(),
        status,
        error: (status == OutputStatus::Failed).then(|| "the ingest refused or dropped the stream".to_owned()),
    }
}

/// An `EgressInfo` as a stream's state; each `stream_results` entry is matched to our output
/// as `reported_output` says (by URL, or by position where the URL is shown redacted).
pub fn stream_state(method: Method, info: &Value, spec: &StreamSpec) -> Result<StreamState, VendorError> {
    let job = egress::recording_state(method, info)?;
    let results = info.get("stream_results").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let pushes: Vec<PushResult> = results.iter().map(push_result).collect();
    let outputs = pushes
        .iter()
        .enumerate()
        .filter_map(|(i, push)| {
            let target = reported_output(&spec.outputs, &pushes, i)?;
            Some(OutputState {
                output: target.output.clone(),
                status: push.status,
                error: push.error.clone(),
                vendor_ref: None,
                missing: false,
            })
        })
        .collect();
    let status = StreamStatus::of_job(job.status);
    Ok(StreamState {
        vendor_stream_id: job.vendor_recording_id,
        status,
        outputs,
        error: job.error.map(|_| "the vendor's compositor failed".to_owned()),
    })
}

/// Whether a listed egress pushes to `url` (its echoed request, or its results).
pub fn pushes_to(info: &Value, url: &str) -> bool {
    let requested = info
        .pointer("/room_composite/stream_outputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("urls").and_then(Value::as_array))
        .flatten()
        .any(|u| u.as_str() == Some(url));
    let reported = info
        .get("stream_results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| r.get("url").and_then(Value::as_str) == Some(url));
    requested || reported
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stream::Canvas;

    fn spec() -> StreamSpec {
        StreamSpec {
            stream_id: "str_1".into(),
            room_id: "rm_1".into(),
            layout: Layout::Single,
            audio_only: false,
            canvas: Canvas::DEFAULT,
            outputs: vec![
                OutputTarget { output: "o1".into(), url: "rtmp://a.example.com/live/k1".into(), vendor_ref: None },
                OutputTarget { output: "o2".into(), url: "rtmp://b.example.com/live/k2".into(), vendor_ref: None },
            ],
            regions: Vec::new(),
            seq: 1,
        }
    }

    #[test]
    fn start_asks_for_one_rtmp_output_with_every_url() {
        let body = start_body(&spec());
        assert_eq!(body["layout"], "single-speaker");
        assert_eq!(
            body["stream_outputs"],
            json!([{"protocol": "RTMP", "urls": ["rtmp://a.example.com/live/k1", "rtmp://b.example.com/live/k2"]}])
        );
        assert_eq!(body["advanced"]["width"], 1280);
        let audio = start_body(&StreamSpec { audio_only: true, ..spec() });
        assert_eq!((audio["audio_only"].clone(), audio.get("advanced")), (json!(true), None));
    }

    #[test]
    fn results_map_to_outputs_by_url_and_failures_get_our_words() {
        let info = json!({"egress_id": "EG_1", "status": "EGRESS_ACTIVE", "stream_results": [
            {"url": "rtmp://b.example.com/live/k2", "status": "FAILED", "error": "rtmp://b.example.com/live/k2 refused"},
            {"url": "rtmp://a.example.com/live/k1"}
        ]});
        let state = stream_state(Method::ListEgress, &info, &spec()).unwrap();
        assert_eq!((state.vendor_stream_id.as_str(), state.status), ("EG_1", StreamStatus::Active));
        let outs: Vec<_> = state.outputs.iter().map(|o| (o.output.as_str(), o.status)).collect();
        assert_eq!(outs, vec![("o2", OutputStatus::Failed), ("o1", OutputStatus::Active)]);
        assert!(!state.outputs[0].error.as_deref().unwrap().contains("k2"));
        assert!(pushes_to(&info, "rtmp://a.example.com/live/k1") && !pushes_to(&info, "rtmp://c.example.com/x/y"));
    }

    #[test]
    fn a_removed_urls_result_is_not_taken_for_the_output_at_its_position() {
        // o2 was removed (its result FINISHED, its URL no longer in the spec) and o3 added.
        let mut spec = spec();
        spec.outputs[1] =
            OutputTarget { output: "o3".into(), url: "rtmp://c.example.com/live/k3".into(), vendor_ref: None };
        let info = json!({"egress_id": "EG_1", "status": "EGRESS_ACTIVE", "stream_results": [
            {"url": "rtmp://a.example.com/live/k1"},
            {"url": "rtmp://b.example.com/live/k2", "status": "FINISHED"},
            {"url": "rtmp://c.example.com/live/k3"}
        ]});
        let state = stream_state(Method::UpdateStream, &info, &spec).unwrap();
        let outs: Vec<_> = state.outputs.iter().map(|o| (o.output.as_str(), o.status)).collect();
        assert_eq!(outs, vec![("o1", OutputStatus::Active), ("o3", OutputStatus::Active)]);
        // Shown redacted, results still match by position when there is one per output.
        let redacted = json!({"egress_id": "EG_1", "status": "EGRESS_ACTIVE", "stream_results": [
            {"url": "rtmp://a.example.com/live/{k1_redacted}"},
            {"url": "rtmp://c.example.com/live/{k3_redacted}", "status": "FAILED"}
        ]});
        let state = stream_state(Method::ListEgress, &redacted, &spec).unwrap();
        let outs: Vec<_> = state.outputs.iter().map(|o| (o.output.as_str(), o.status)).collect();
        assert_eq!(outs, vec![("o1", OutputStatus::Active), ("o3", OutputStatus::Failed)]);
    }
}

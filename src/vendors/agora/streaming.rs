//! Live streams through Agora Media Push: one transcoding "RTMP converter" per output, named
//! `{stream}_{output}` (names are unique per project, so a create sent twice makes one
//! converter: the second is `409`, and the converter of that name is adopted). Agora does not
//! lay the channel out for a transcoded push: each converter gets one rectangle per publisher
//! (`layout[]` of `RtcStreamView`s, pixels from the top left), re-sent with an increasing
//! `sequence` as publishers come and go. Pure functions; `mod.rs` does the I/O.
//!
//! API: AgoraIO/Docs-Source `shared/media-push/develop/_restful-api.mdx` (create, update,
//! delete, get, list) and `shared/media-push/reference/_restful-type-definition.mdx`.

use serde_json::{json, Value};

use super::rest;
use super::NAME;
use crate::domain::stream::{InputChange, OutputState, OutputStatus, OutputTarget, StreamSpec, StreamStatus};
use crate::http::percent_encode;
use crate::runtime::OutboundResponse;
use crate::vendors::transport::{join_url, json_body};
use crate::vendors::{VendorError, VendorFailure};

/// The setting naming the Media Push region (`cn`, `ap`, `na`, `eu`): the area of the ingests.
pub const REGION_SETTING: &str = "AGORA_MEDIA_PUSH_REGION";
pub const REGIONS: [&str; 4] = ["cn", "ap", "na", "eu"];
pub const DEFAULT_REGION: &str = "na";
/// A converter whose users have all left is destroyed after this long (Agora's advice).
pub const IDLE_TIMEOUT_S: u32 = 300;
/// Agora's RTC channel join events of users who publish: 103 broadcaster, 107 communication
/// (105 is an audience member); and their leaves, 104 and 108.
const PUBLISHER_JOINS: [i64; 2] = [103, 107];
const PUBLISHER_LEAVES: [i64; 2] = [104, 108];

pub struct Paths<'a> {
    pub base: &'a str,
    pub app_id: &'a str,
    pub region: &'a str,
}

impl Paths<'_> {
    pub fn create(&self) -> String {
        join_url(self.base, &format!("/{}/v1/projects/{}/rtmp-converters", self.region, percent_encode(self.app_id)))
    }

    pub fn converter(&self, id: &str) -> String {
        format!("{}/{}", self.create(), percent_encode(id))
    }

    pub fn update(&self, id: &str, sequence: u64) -> String {
        format!("{}?sequence={sequence}", self.converter(id))
    }

    /// The channel's converters (the list call has no region).
    pub fn of_channel(&self, channel: &str) -> String {
        join_url(
            self.base,
            &format!(
                "/v1/projects/{}/channels/{}/rtmp-converters",
                percent_encode(self.app_id),
                percent_encode(channel)
            ),
        )
    }
}

pub fn converter_name(stream_id: &str, output: &str) -> String {
    format!("{stream_id}_{output}")
}

fn video_options(spec: &StreamSpec) -> Value {
    let layout: Vec<Value> = spec
        .regions
        .iter()
        .filter_map(|r| {
            let uid: u64 = r.publisher.parse().ok()?;
            Some(json!({
                "rtcStreamUid": uid,
                "region": {"xPos": r.x, "yPos": r.y, "zIndex": r.z, "width": r.width, "height": r.height},
                "fillMode": "fill",
            }))
        })
        .collect();
    let c = spec.canvas;
    json!({
        "canvas": {"width": c.width, "height": c.height},
        "layoutType": 0,
        "layout": layout,
        "bitrate": c.bitrate_kbps,
        "frameRate": c.fps,
    })
}

/// The create body of one output's converter: transcoded, audio always (defaults), video
/// unless audio-only.
pub fn create_body(spec: &StreamSpec, target: &OutputTarget) -> Value {
    let mut transcode = json!({"rtcChannel": spec.room_id, "audioOptions": {}});
    if !spec.audio_only {
        transcode["videoOptions"] = video_options(spec);
    }
    json!({"converter": {
        "name": converter_name(&spec.stream_id, &target.output),
        "transcodeOptions": transcode,
        "rtmpUrl": target.url,
        "idleTimeOut": IDLE_TIMEOUT_S,
    }})
}

/// The update body that re-lays the video out (the rest of a converter stays as created).
pub fn relayout_body(spec: &StreamSpec) -> Value {
    json!({"converter": {"transcodeOptions": {"videoOptions": video_options(spec)}}})
}

pub fn output_status(state: &str) -> OutputStatus {
    match state {
        "running" => OutputStatus::Active,
        "failed" => OutputStatus::Failed,
        _ => OutputStatus::Starting,
    }
}

/// The stream's status from its converters' (`StreamStatus::of_outputs`), starting while
/// some converter still connects and none pushes.
pub fn stream_status(outputs: &[OutputState]) -> StreamStatus {
    let statuses: Vec<OutputStatus> = outputs.iter().map(|o| o.status).collect();
    StreamStatus::of_outputs(&statuses).unwrap_or(StreamStatus::Starting)
}

pub fn output_state(target: &OutputTarget, id: &str, state: &str) -> OutputState {
    let status = output_status(state);
    OutputState {
        output: target.output.clone(),
        status,
        error: (status == OutputStatus::Failed).then(|| "Agora could not push to this ingest".to_owned()),
        vendor_ref: Some(id.to_owned()),
        missing: false,
    }
}

/// A converter call's failure. A 404 here is the converter being gone (or mid-failover), a
/// 409 a name already taken; everything else is classified as any Agora REST failure, but
/// summarized without Agora's message, which may quote the `rtmpUrl` (and its key).
pub fn error_from(response: &OutboundResponse) -> VendorError {
    let status = response.status;
    match status {
        404 => VendorError::new(NAME, VendorFailure::NotFound, "rtmp converter: HTTP 404"),
        409 => VendorError::new(NAME, VendorFailure::Rejected, "rtmp converter: name exists").with_code("409"),
        _ => VendorError { summary: format!("rtmp converter: HTTP {status}"), ..rest::error_from(response) },
    }
}

fn body(response: &OutboundResponse) -> Result<Value, VendorError> {
    if !(200..300).contains(&response.status) {
        return Err(error_from(response));
    }
    json_body(NAME, response)
}

/// `{converter: {id, state}}` of a create or get answer.
pub fn parse_converter(response: &OutboundResponse) -> Result<(String, String), VendorError> {
    let v = body(response)?;
    let id = v.pointer("/converter/id").and_then(Value::as_str).filter(|id| !id.is_empty());
    let id = id.ok_or_else(|| rest::malformed(response, "a converter without id"))?;
    let state = v.pointer("/converter/state").and_then(Value::as_str).unwrap_or("connecting");
    Ok((id.to_owned(), state.to_owned()))
}

/// The converter named `name` in a channel list answer (`data.members[]`), with its state.
pub fn find_in_list(response: &OutboundResponse, name: &str) -> Result<Option<(String, String)>, VendorError> {
    let v = body(response)?;
    let members = v.pointer("/data/members").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(members.iter().find(|m| m.get("converterName").and_then(Value::as_str) == Some(name)).and_then(|m| {
        let id = m.get("converterId").and_then(Value::as_str)?;
        Some((id.to_owned(), m.get("state").and_then(Value::as_str).unwrap_or("connecting").to_owned()))
    }))
}

/// A delete answer: done, or already gone.
pub fn parse_delete(response: &OutboundResponse) -> Result<(), VendorError> {
    match response.status {
        200..=299 | 404 => Ok(()),
        _ => Err(error_from(response)),
    }
}

pub fn is_name_taken(e: &VendorError) -> bool {
    e.vendor_code.as_deref() == Some("409")
}

/// A publisher's join or leave, by its uid (audience members publish nothing).
pub fn input_change(kind: &str, data: &Value) -> Option<InputChange> {
    let vendor_event = data.get("vendor_event").and_then(Value::as_i64)?;
    let uid = data.get("uid").and_then(Value::as_u64)?.to_string();
    match kind {
        "participant.joined" if PUBLISHER_JOINS.contains(&vendor_event) => Some(InputChange::Publishing(uid)),
        "participant.left" if PUBLISHER_LEAVES.contains(&vendor_event) => Some(InputChange::Stopped(uid)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stream::{example_spec, Layout};
    use crate::native::json_response;

    fn spec() -> StreamSpec {
        example_spec(Layout::Grid, &["11", "12"], 3)
    }

    #[test]
    fn a_converter_is_named_by_stream_and_output_and_lays_out_each_uid() {
        let s = spec();
        let body = create_body(&s, &s.outputs[0]);
        assert_eq!(body["converter"]["name"], "str_1_o1");
        assert_eq!(body["converter"]["rtmpUrl"], "rtmp://a.example.com/l/k");
        assert_eq!(body["converter"]["transcodeOptions"]["rtcChannel"], "rm_1");
        let layout = &body["converter"]["transcodeOptions"]["videoOptions"]["layout"];
        assert_eq!(layout[0]["rtcStreamUid"], 11);
        assert_eq!(layout[1]["region"], json!({"xPos": 640, "yPos": 0, "zIndex": 1, "width": 640, "height": 720}));
        let audio = create_body(&StreamSpec { audio_only: true, ..s.clone() }, &s.outputs[0]);
        assert!(audio["converter"]["transcodeOptions"].get("videoOptions").is_none());
        let paths = Paths { base: "https://api.agora.io", app_id: "app", region: "eu" };
        assert_eq!(
            paths.update("cv 1", 3),
            "https://api.agora.io/eu/v1/projects/app/rtmp-converters/cv%201?sequence=3"
        );
        assert_eq!(paths.of_channel("rm_1"), "https://api.agora.io/v1/projects/app/channels/rm_1/rtmp-converters");
        assert!(relayout_body(&s)["converter"]["transcodeOptions"].get("rtcChannel").is_none());
    }

    #[test]
    fn answers_and_states() {
        let ok = json_response(200, &json!({"converter": {"id": "cv1", "state": "running"}})).unwrap();
        assert_eq!(parse_converter(&ok).unwrap(), ("cv1".to_owned(), "running".to_owned()));
        let refused = json_response(400, &json!({"message": "bad rtmpUrl rtmp://a.example.com/l/k"})).unwrap();
        let e = parse_converter(&refused).unwrap_err();
        assert_eq!(e.failure, VendorFailure::Rejected);
        assert!(!e.summary.contains("a.example.com"), "{}", e.summary);
        let taken = json_response(409, &json!({"message": "exists"})).unwrap();
        assert!(is_name_taken(&parse_converter(&taken).unwrap_err()));
        let gone = json_response(404, &json!({})).unwrap();
        assert_eq!(parse_converter(&gone).unwrap_err().failure, VendorFailure::NotFound);
        assert!(parse_delete(&gone).is_ok());
        let list = json_response(
            200,
            &json!({"success": true, "data": {"members": [{"converterId": "cv9", "converterName": "str_1_o1", "state": "connecting"}]}}),
        )
        .unwrap();
        assert_eq!(find_in_list(&list, "str_1_o1").unwrap(), Some(("cv9".to_owned(), "connecting".to_owned())));
        assert_eq!(find_in_list(&list, "str_1_o2").unwrap(), None);
        let t = &spec().outputs[0];
        let states = [output_state(t, "a", "failed"), output_state(t, "b", "running")];
        assert_eq!(stream_status(&states), StreamStatus::Active);
        assert_eq!(stream_status(&states[..1]), StreamStatus::Failed);
    }

    #[test]
    fn only_publishers_change_the_layout() {
        let data = |e: i64| json!({"vendor_event": e, "uid": 42});
        assert_eq!(input_change("participant.joined", &data(103)), Some(InputChange::Publishing("42".into())));
        assert_eq!(input_change("participant.joined", &data(105)), None);
        assert_eq!(input_change("participant.left", &data(108)), Some(InputChange::Stopped("42".into())));
        assert_eq!(input_change("track.published", &data(103)), None);
    }
}

//! Recording through LiveKit Egress: request bodies for StartRoomCompositeEgress, StopEgress
//! and ListEgress, and `EgressInfo` → `RecordingState`. Pure functions.
//!
//! Field names are the proto names of livekit/protocol `protobufs/livekit_egress.proto`
//! (checked against the generated classes of `@livekit/protocol` 1.51.0, whose `fromJson`
//! rejects unknown keys).

use serde_json::{json, Map, Value};

use super::twirp::{malformed, Method};
use super::wire::Fields;
use crate::domain::recording::{Destination, FileResult, RecordingSpec, RecordingState, RecordingStatus};
use crate::vendors::{VendorError, VendorFailure};

/// `EncodedFileOutput` for one file at `destination` (its `path`, already expanded by the
/// caller, is the object's path). MP4 for video, OGG for audio-only.
///
/// S3 `force_path_style` is set when a custom endpoint is given: S3-compatible stores
/// (MinIO, Ceph, most self-hosted ones) need path-style addressing, AWS itself does not.
pub fn file_output(destination: &Destination, audio_only: bool) -> Value {
    let mut output = Map::new();
    output.insert("file_type".into(), json!(if audio_only { "OGG" } else { "MP4" }));
    let (upload_key, upload, path) = match destination {
        Destination::S3 { bucket, path, access_key, secret, region, endpoint } => {
            let mut s3 = Map::new();
            s3.insert("access_key".into(), json!(access_key));
            s3.insert("secret".into(), json!(secret));
            if let Some(region) = region {
                s3.insert("region".into(), json!(region));
            }
            if let Some(endpoint) = endpoint {
                s3.insert("endpoint".into(), json!(endpoint));
                s3.insert("force_path_style".into(), json!(true));
            }
            s3.insert("bucket".into(), json!(bucket));
            ("s3", Value::Object(s3), path)
        }
        Destination::Gcs { bucket, path, credentials } => {
            ("gcp", json!({"credentials": credentials, "bucket": bucket}), path)
        }
        Destination::Azure { container, path, account_name, account_key } => (
            "azure",
            json!({"account_name": account_name, "account_key": account_key, "container_name": container}),
            path,
        ),
    };
    output.insert("filepath".into(), json!(path));
    output.insert(upload_key.into(), upload);
    Value::Object(output)
}

/// `RoomCompositeEgressRequest` recording `room_name` into one file. An empty layout is
/// left out (the egress default applies).
pub fn room_composite(room_name: &str, layout: &str, audio_only: bool, destination: &Destination) -> Value {
    let mut request = Map::new();
    request.insert("room_name".into(), json!(room_name));
    if !layout.is_empty() {
        request.insert("layout".into(), json!(layout));
    }
    if audio_only {
        request.insert("audio_only".into(), json!(true));
    }
    request.insert("file_outputs".into(), json!([file_output(destination, audio_only)]));
    Value::Object(request)
}

/// StartRoomCompositeEgress body.
pub fn start_body(spec: &RecordingSpec) -> Value {
    room_composite(&spec.room_id, &spec.layout, spec.audio_only, &spec.destination)
}

/// StopEgress body.
pub fn stop_body(egress_id: &str) -> Value {
    json!({ "egress_id": egress_id })
}

/// ListEgress body for one egress (the server lets `egress_id` win over other filters).
pub fn by_id_body(egress_id: &str) -> Value {
    json!({ "egress_id": egress_id })
}

/// ListEgress body for every egress of a room, finished or not.
pub fn in_room_body(room_name: &str) -> Value {
    json!({ "room_name": room_name })
}

/// `EgressStatus` names and numbers (livekit_egress.proto) → our statuses.
const STATUSES: [(&str, i64, RecordingStatus); 7] = [
    ("EGRESS_STARTING", 0, RecordingStatus::Starting),
    ("EGRESS_ACTIVE", 1, RecordingStatus::Active),
    ("EGRESS_ENDING", 2, RecordingStatus::Stopping),
    ("EGRESS_COMPLETE", 3, RecordingStatus::Complete),
    ("EGRESS_FAILED", 4, RecordingStatus::Failed),
    ("EGRESS_ABORTED", 5, RecordingStatus::Aborted),
    ("EGRESS_LIMIT_REACHED", 6, RecordingStatus::LimitReached),
];

/// Our status for an `EgressStatus` name (as protojson writes it, e.g. in webhooks).
pub fn status_named(name: &str) -> Option<RecordingStatus> {
    STATUSES.iter().find(|(n, _, _)| *n == name).map(|(_, _, status)| *status)
}

/// Egress timestamps and durations are Unix/elapsed NANOseconds: livekit/egress
/// `pkg/pipeline/controller.go` (`StartedAt`/`EndedAt` from `time.Now().UnixNano()`,
/// `FileInfo.Duration = endedAt - StartedAt`) and `pkg/server/server_rpc.go`.
/// Zero means "not yet" and reads as `None`.
fn nanos_to_ms(ns: i64) -> Option<u64> {
    u64::try_from(ns).ok().filter(|ns| *ns > 0).map(|ns| ns / 1_000_000)
}

/// An `EgressInfo` (the answer of Start…Egress and StopEgress, an item of ListEgress).
pub fn recording_state(method: Method, info: &Value) -> Result<RecordingState, VendorError> {
    let info = Fields::of(method, info)?;
    let egress_id = info.str("egress_id")?;
    if egress_id.is_empty() {
        return Err(malformed(method, "an egress without egress_id"));
    }
    let status_value = info.enumeration("status")?;
    let status = STATUSES
        .iter()
        .find(|(name, number, _)| status_value.is(name, *number))
        .map(|(_, _, status)| *status)
        .ok_or_else(|| malformed(method, "an unknown egress status"))?;
    let mut files = Vec::new();
    for file in info.list("file_results")? {
        files.extend(file_result(Fields::of(method, file)?)?);
    }
    // Older servers report a single file in the deprecated `file` result instead.
    if files.is_empty() {
        if let Some(file) = info.message("file")? {
            files.extend(file_result(file)?);
        }
    }
    let error = client_error(egress_id, status, info.str("error")?);
    let output_uri = match info.message("room_composite")? {
        Some(request) => match request.list("file_outputs")?.first() {
            Some(output) => echoed_uri(Fields::of(method, output)?)?,
            None => None,
        },
        None => None,
    };
    Ok(RecordingState {
        vendor_recording_id: egress_id.to_owned(),
        status,
        error,
        files,
        started_at_ms: nanos_to_ms(info.int64("started_at")?),
        ended_at_ms: nanos_to_ms(info.int64("ended_at")?),
        output_uri,
    })
}

/// What a client is told about a failed egress. LiveKit's `error` is the recorder's own text
/// (pipeline and storage messages that may name buckets or internals); it goes to the log,
/// and the client gets one of a few fixed sentences of ours.
pub(crate) fn client_error(egress_id: &str, status: RecordingStatus, text: &str) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    crate::log::warn(&format!("livekit: egress {egress_id} ended {}: {text}", status.as_str()));
    let lower = text.to_ascii_lowercase();
    let storage = ["upload", "access denied", "accessdenied", "bucket", "credential", "permission", "forbidden"];
    let message = if storage.iter().any(|word| lower.contains(word)) {
        ERROR_DESTINATION
    } else if status == RecordingStatus::Aborted {
        ERROR_ABORTED
    } else {
        ERROR_RECORDER
    };
    Some(message.to_owned())
}

/// The sentences `client_error` chooses from (also in the OpenAPI document).
pub const ERROR_DESTINATION: &str = "the recording could not be written to its destination";
pub const ERROR_ABORTED: &str = "the recording was aborted before it started";
pub const ERROR_RECORDER: &str = "the vendor's recorder failed";

/// The destination of an echoed `EncodedFileOutput` as `scheme://bucket/filepath`, the same
/// form as `Destination::uri`.
fn echoed_uri(output: Fields<'_>) -> Result<Option<String>, VendorError> {
    let path = output.str("filepath")?;
    let store = [("s3", "s3", "bucket"), ("gcp", "gs", "bucket"), ("azure", "azure", "container_name")];
    for (field, scheme, bucket_field) in store {
        if let Some(upload) = output.message(field)? {
            let bucket = upload.str(bucket_field)?;
            return Ok((!bucket.is_empty()).then(|| format!("{scheme}://{bucket}/{path}")));
        }
    }
    Ok(None)
}

/// A `FileInfo`; `location` is only known once uploaded, the `filename` stands in until
/// then, and a file with neither is not reported. Zero size/duration = not known yet.
fn file_result(file: Fields<'_>) -> Result<Option<FileResult>, VendorError> {
    let location = match file.str("location")? {
        "" => file.str("filename")?,
        location => location,
    };
    if location.is_empty() {
        return Ok(None);
    }
    Ok(Some(FileResult {
        location: location.to_owned(),
        size_bytes: u64::try_from(file.int64("size")?).ok().filter(|n| *n > 0),
        duration_ms: nanos_to_ms(file.int64("duration")?),
    }))
}

/// Every item of a ListEgress answer.
pub fn listed(answer: &Value) -> Result<Vec<RecordingState>, VendorError> {
    Fields::of(Method::ListEgress, answer)?
        .list("items")?
        .iter()
        .map(|item| recording_state(Method::ListEgress, item))
        .collect()
}

/// The one egress a ListEgress{egress_id} answer is about.
pub fn listed_one(answer: &Value, egress_id: &str) -> Result<RecordingState, VendorError> {
    listed(answer)?
        .into_iter()
        .find(|r| r.vendor_recording_id == egress_id)
        .ok_or_else(|| VendorError::new(super::NAME, VendorFailure::NotFound, "ListEgress: egress does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(endpoint: Option<&str>, region: Option<&str>) -> Destination {
        Destination::S3 {
            bucket: "recs".into(),
            path: "rooms/rm_1/rm_1-20240101T000000Z.mp4".into(),
            access_key: "AKIA".into(),
            secret: "shh".into(),
            region: region.map(str::to_owned),
            endpoint: endpoint.map(str::to_owned),
        }
    }

    #[test]
    fn s3_output_carries_credentials_and_path() {
        assert_eq!(
            file_output(&s3(None, Some("eu-west-1")), false),
            json!({"file_type": "MP4", "filepath": "rooms/rm_1/rm_1-20240101T000000Z.mp4",
                   "s3": {"access_key": "AKIA", "secret": "shh", "region": "eu-west-1", "bucket": "recs"}})
        );
        assert_eq!(
            file_output(&s3(Some("https://minio.local"), None), true),
            json!({"file_type": "OGG", "filepath": "rooms/rm_1/rm_1-20240101T000000Z.mp4",
                   "s3": {"access_key": "AKIA", "secret": "shh", "endpoint": "https://minio.local",
                          "force_path_style": true, "bucket": "recs"}})
        );
    }

    #[test]
    fn gcs_and_azure_outputs() {
        let gcs =
            Destination::Gcs { bucket: "b".into(), path: "p.mp4".into(), credentials: "{\"type\":\"sa\"}".into() };
        assert_eq!(
            file_output(&gcs, false),
            json!({"file_type": "MP4", "filepath": "p.mp4", "gcp": {"credentials": "{\"type\":\"sa\"}", "bucket": "b"}})
        );
        let azure = Destination::Azure {
            container: "c".into(),
            path: "x/y.ogg".into(),
            account_name: "acct".into(),
            account_key: "k".into(),
        };
        assert_eq!(
            file_output(&azure, true),
            json!({"file_type": "OGG", "filepath": "x/y.ogg",
                   "azure": {"account_name": "acct", "account_key": "k", "container_name": "c"}})
        );
    }

    #[test]
    fn start_body_is_a_room_composite_request() {
        let spec = RecordingSpec {
            room_id: "rm_1".into(),
            layout: "grid".into(),
            audio_only: false,
            destination: s3(None, None),
            recording_id: "rec_1".into(),
            recorder_uid: None,
        };
        assert_eq!(
            start_body(&spec),
            json!({"room_name": "rm_1", "layout": "grid",
                   "file_outputs": [{"file_type": "MP4", "filepath": "rooms/rm_1/rm_1-20240101T000000Z.mp4",
                                     "s3": {"access_key": "AKIA", "secret": "shh", "bucket": "recs"}}]})
        );
        let audio = RecordingSpec { layout: String::new(), audio_only: true, ..spec };
        let body = start_body(&audio);
        assert_eq!(body["audio_only"], json!(true));
        assert!(body.get("layout").is_none());
        assert_eq!(body["file_outputs"][0]["file_type"], "OGG");
    }

    #[test]
    fn list_and_stop_bodies() {
        assert_eq!(stop_body("EG_1"), json!({"egress_id": "EG_1"}));
        assert_eq!(by_id_body("EG_1"), json!({"egress_id": "EG_1"}));
        assert_eq!(in_room_body("rm_1"), json!({"room_name": "rm_1"}));
    }

    /// An EgressInfo as the server writes it (every field, int64 as strings).
    fn info(status: &str) -> Value {
        json!({
            "egress_id": "EG_abc", "room_id": "RM_x", "room_name": "rm_1", "source_type": "EGRESS_SOURCE_TYPE_WEB",
            "status": status, "started_at": "0", "ended_at": "0", "updated_at": "1700000000000000000",
            "room_composite": {"room_name": "rm_1"}, "stream_results": [], "file_results": [], "segment_results": [],
            "image_results": [], "error": "", "error_code": 0, "details": "", "manifest_location": "",
            "backup_storage_used": false, "retry_count": 0
        })
    }

    #[test]
    fn every_status_maps() {
        let expected = [
            ("EGRESS_STARTING", RecordingStatus::Starting),
            ("EGRESS_ACTIVE", RecordingStatus::Active),
            ("EGRESS_ENDING", RecordingStatus::Stopping),
            ("EGRESS_COMPLETE", RecordingStatus::Complete),
            ("EGRESS_FAILED", RecordingStatus::Failed),
            ("EGRESS_ABORTED", RecordingStatus::Aborted),
            ("EGRESS_LIMIT_REACHED", RecordingStatus::LimitReached),
        ];
        for (i, (name, status)) in expected.into_iter().enumerate() {
            assert_eq!(recording_state(Method::ListEgress, &info(name)).unwrap().status, status, "{name}");
            let mut numeric = info(name);
            numeric["status"] = json!(i);
            assert_eq!(recording_state(Method::ListEgress, &numeric).unwrap().status, status, "#{i}");
        }
        let fresh = recording_state(Method::StartRoomCompositeEgress, &info("EGRESS_STARTING")).unwrap();
        assert_eq!(
            fresh,
            RecordingState {
                vendor_recording_id: "EG_abc".into(),
                status: RecordingStatus::Starting,
                error: None,
                files: vec![],
                started_at_ms: None,
                ended_at_ms: None,
                output_uri: None,
            }
        );
    }

    #[test]
    fn the_request_echo_gives_the_destination() {
        let with_output = |output: Value| {
            let mut started = info("EGRESS_ACTIVE");
            started["room_composite"]["file_outputs"] = json!([output]);
            recording_state(Method::ListEgress, &started).unwrap().output_uri
        };
        let s3 = json!({"file_type": "MP4", "filepath": "rec/rm_1.mp4", "s3": {"bucket": "media", "access_key": "a", "secret": "s"}});
        assert_eq!(with_output(s3).as_deref(), Some("s3://media/rec/rm_1.mp4"));
        let gcp = json!({"filepath": "x.mp4", "gcp": {"bucket": "g", "credentials": "{}"}});
        assert_eq!(with_output(gcp).as_deref(), Some("gs://g/x.mp4"));
        let azure =
            json!({"filepath": "x.ogg", "azure": {"container_name": "c", "account_name": "n", "account_key": "k"}});
        assert_eq!(with_output(azure).as_deref(), Some("azure://c/x.ogg"));
        assert_eq!(recording_state(Method::ListEgress, &info("EGRESS_ACTIVE")).unwrap().output_uri, None);
    }

    #[test]
    fn finished_egress_converts_nanoseconds() {
        let mut done = info("EGRESS_COMPLETE");
        done["started_at"] = json!("1700000000123456789");
        done["ended_at"] = json!("1700000060999000000");
        done["file_results"] = json!([
            {"filename": "rm_1.mp4", "started_at": "1700000000123456789", "ended_at": "1700000060999000000",
             "duration": "60875543211", "size": "1048576", "location": "https://recs.s3.amazonaws.com/rm_1.mp4"}
        ]);
        let state = recording_state(Method::ListEgress, &done).unwrap();
        assert_eq!(state.started_at_ms, Some(1_700_000_000_123));
        assert_eq!(state.ended_at_ms, Some(1_700_000_060_999));
        assert_eq!(
            state.files,
            vec![FileResult {
                location: "https://recs.s3.amazonaws.com/rm_1.mp4".into(),
                size_bytes: Some(1_048_576),
                duration_ms: Some(60_875),
            }]
        );
    }

    #[test]
    fn failure_and_partial_files() {
        let mut failed = info("EGRESS_FAILED");
        failed["error"] = json!("could not upload: AccessDenied");
        failed["file_results"] = json!([
            {"filename": "rm_1.mp4", "location": "", "size": "0", "duration": "0"},
            {"filename": "", "location": "", "size": "0", "duration": "0"}
        ]);
        let state = recording_state(Method::StopEgress, &failed).unwrap();
        assert_eq!(state.error.as_deref(), Some(ERROR_DESTINATION), "the vendor's words stay in the log");
        assert_eq!(state.files, vec![FileResult { location: "rm_1.mp4".into(), size_bytes: None, duration_ms: None }]);
    }

    #[test]
    fn egress_errors_are_told_in_our_words() {
        let cases = [
            ("EGRESS_FAILED", "could not upload: AccessDenied: bucket media-private", ERROR_DESTINATION),
            ("EGRESS_FAILED", "pipeline: GstRtpBin internal error at 10.0.3.7", ERROR_RECORDER),
            ("EGRESS_ABORTED", "Start signal not received", ERROR_ABORTED),
            ("EGRESS_ABORTED", "S3 credentials refused", ERROR_DESTINATION),
        ];
        for (status, text, ours) in cases {
            let mut failed = info(status);
            failed["error"] = json!(text);
            let state = recording_state(Method::ListEgress, &failed).unwrap();
            assert_eq!(state.error.as_deref(), Some(ours), "{text}");
        }
        let state = recording_state(Method::ListEgress, &info("EGRESS_LIMIT_REACHED")).unwrap();
        assert_eq!(state.error, None, "no text, no error");
    }

    #[test]
    fn legacy_single_file_result() {
        let mut legacy = info("EGRESS_COMPLETE");
        legacy.as_object_mut().unwrap().remove("file_results");
        legacy["file"] = json!({"filename": "a.mp4", "location": "gs://b/a.mp4", "size": "10", "duration": "2000000"});
        let state = recording_state(Method::ListEgress, &legacy).unwrap();
        assert_eq!(
            state.files,
            vec![FileResult { location: "gs://b/a.mp4".into(), size_bytes: Some(10), duration_ms: Some(2) }]
        );
    }

    #[test]
    fn malformed_egress_info_is_a_server_error() {
        let mut no_id = info("EGRESS_ACTIVE");
        no_id["egress_id"] = json!("");
        let mut unknown_status = info("EGRESS_ACTIVE");
        unknown_status["status"] = json!("EGRESS_EXPLODED");
        let mut bad_time = info("EGRESS_ACTIVE");
        bad_time["started_at"] = json!("soon");
        let mut bad_files = info("EGRESS_ACTIVE");
        bad_files["file_results"] = json!({"oops": 1});
        for bad in [no_id, unknown_status, bad_time, bad_files, json!("EG_1"), json!(null)] {
            let e = recording_state(Method::ListEgress, &bad).unwrap_err();
            assert_eq!(e.failure, VendorFailure::ServerError, "{bad}");
        }
    }

    #[test]
    fn list_answers() {
        let answer = json!({"items": [info("EGRESS_ACTIVE"), {"egress_id": "EG_2", "status": "EGRESS_ENDING"}], "next_page_token": null});
        let all = listed(&answer).unwrap();
        assert_eq!(all.iter().map(|r| r.vendor_recording_id.as_str()).collect::<Vec<_>>(), ["EG_abc", "EG_2"]);
        assert_eq!(listed_one(&answer, "EG_2").unwrap().status, RecordingStatus::Stopping);
        assert_eq!(listed_one(&json!({"items": []}), "EG_2").unwrap_err().failure, VendorFailure::NotFound);
        assert!(listed(&json!({})).unwrap().is_empty());
        assert_eq!(listed(&json!({"items": 3})).unwrap_err().failure, VendorFailure::ServerError);
    }
}

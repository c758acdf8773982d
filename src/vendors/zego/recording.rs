//! ZEGO Cloud Recording as pure functions: StartRecord, StopRecord and DescribeRecordStatus
//! requests, our destinations as `StorageParams`, and the answers as [`RecordingState`].
//!
//! Facts (ZEGOCLOUD/docs_all `extended_services/cloud_recording/en/server/
//! {start-record,stop-record,describe-record-status}.yaml`, `return-codes.mdx`):
//! - `POST {base}/?Action=…&<the signed common parameters of every ZEGO server API>` with the
//!   business parameters as a JSON body; answers `{Code, Message, RequestId, Data}`.
//! - StartRecord: `RoomId`, `RecordInputParams {RecordMode 2 = mixed, StreamType 1 audio /
//!   3 audio+video, ClientTaskId, MaxIdleTime, MixConfig {MixMode, MixOutputStreamId,
//!   MixOutputVideoConfig}}`, `RecordOutputParams {OutputFileFormat, OutputFolder}`,
//!   `StorageParams {Vendor 1 S3 | 8 Google Cloud Storage | 10 S3-protocol (EndPoint), Region,
//!   Bucket, AccessKeyId, AccessKeySecret}` → `Data.TaskId`. A `ClientTaskId` ZEGO already
//!   has returns that task's id: asking again cannot start a second recording.
//! - DescribeRecordStatus → `Data.Status` (1 initialising, 2 recording, 3 ended, 4 ended
//!   abnormally, 5 paused) and `RecordFiles[] {FileId, FileUrl, FileSize, Duration (ms),
//!   Status 1 recording, 2 uploading, 3 uploaded, 4 in ZEGO's backup, 5 upload failed}`.
//! - Codes: 300000003 rate limited, 300000004 invalid parameter, 300001000 no such task,
//!   300001001 already stopped, 300010000 system error, 100000004/5 signature refused.

use serde_json::{json, Map, Value};

use super::signing::{self, Stamp};
use super::NAME;
use crate::domain::recording::{
    destination_unsupported, folder_of, required_gcs_hmac, Destination, FileResult, RecordingSpec, RecordingState,
    RecordingStatus,
};
use crate::error::ApiResult;
use crate::runtime::OutboundResponse;
use crate::vendors::transport::retry_after;
use crate::vendors::{VendorError, VendorFailure};

/// Seconds without streams before ZEGO ends the recording.
const MAX_IDLE_S: u32 = 300;

pub const START: &str = "StartRecord";
pub const STOP: &str = "StopRecord";
pub const DESCRIBE: &str = "DescribeRecordStatus";

/// The signed URL of one action; the body is sent as JSON.
pub fn url(base: &str, action: &str, app_id: u32, server_secret: &str, stamp: &Stamp) -> String {
    let common = signing::common_params(app_id, server_secret, stamp);
    let pairs = std::iter::once(("Action", action)).chain(common.iter().map(|(k, v)| (*k, v.as_str())));
    format!("{}/?{}", base.trim_end_matches('/'), signing::query_string(pairs))
}

/// `StorageParams` for `destination`, or why ZEGO cannot write there.
pub fn storage_params(destination: &Destination) -> ApiResult<Value> {
    let mut params = Map::new();
    match destination {
        Destination::S3 { bucket, access_key, secret, region, endpoint, .. } => {
            match endpoint {
                Some(endpoint) => {
                    params.insert("Vendor".into(), json!(10));
                    params.insert("EndPoint".into(), json!(endpoint));
                }
                None => {
                    if region.is_none() {
                        return Err(destination_unsupported(
                            NAME,
                            "zego writes to Amazon S3 only with the bucket's region set (credentials.region on a \
                             project's destination, RECORDING_S3_REGION for the shared bucket)",
                        ));
                    }
                    params.insert("Vendor".into(), json!(1));
                }
            }
            params.insert("Region".into(), json!(region.clone().unwrap_or_default()));
            params.insert("Bucket".into(), json!(bucket));
            params.insert("AccessKeyId".into(), json!(access_key));
            params.insert("AccessKeySecret".into(), json!(secret));
        }
        Destination::Gcs { bucket, credentials, .. } => {
            let (key, secret) = required_gcs_hmac(NAME, credentials)?;
            params.insert("Vendor".into(), json!(8));
            params.insert("Bucket".into(), json!(bucket));
            params.insert("AccessKeyId".into(), json!(key));
            params.insert("AccessKeySecret".into(), json!(secret));
        }
        Destination::Azure { .. } => {
            return Err(destination_unsupported(NAME, "zego cloud recording cannot write to Azure Blob Storage"));
        }
    }
    Ok(Value::Object(params))
}

/// Our layouts as `MixMode`: grid → 2 equal division, speaker → 4 vertical (one large view
/// beside the others), single-speaker → 5 floating (the first stream fills the canvas; ZEGO
/// has no layout that shows one stream only).
pub fn mix_mode(layout: &str) -> u32 {
    match layout {
        "speaker" => 4,
        "single-speaker" => 5,
        _ => 2,
    }
}

/// The StartRecord body. `storage` comes from [`storage_params`].
pub fn start_body(spec: &RecordingSpec, storage: Value) -> Value {
    let mut mix = json!({ "MixMode": mix_mode(&spec.layout), "MixOutputStreamId": spec.recording_id });
    if !spec.audio_only {
        mix["MixOutputVideoConfig"] = json!({ "Width": 1280, "Height": 720, "Fps": 15, "Bitrate": 1_500_000 });
    }
    json!({
        "RoomId": spec.room_id,
        "RecordInputParams": {
            "RecordMode": 2,
            "StreamType": if spec.audio_only { 1 } else { 3 },
            "ClientTaskId": spec.recording_id,
            "MaxIdleTime": MAX_IDLE_S,
            "MixConfig": mix,
        },
        "RecordOutputParams": {
            "OutputFileFormat": if spec.audio_only { "mp3" } else { "mp4" },
            "OutputFolder": format!("{}/", folder_of(spec.destination.path())),
        },
        "StorageParams": storage,
    })
}

pub fn task_body(task_id: &str) -> Value {
    json!({ "TaskId": task_id })
}

/// A successful answer's `Data`, or what its `Code` (or HTTP status) means.
pub fn read(action: &str, response: &OutboundResponse) -> Result<Value, VendorError> {
    let body: Option<Value> = serde_json::from_slice(&response.body).ok();
    let code = body.as_ref().and_then(|b| b.get("Code")).and_then(Value::as_i64);
    let request_id = body.as_ref().and_then(|b| b.get("RequestId")).and_then(|r| match r {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let status = response.status;
    let fail = |failure: VendorFailure, what: String| {
        let e = VendorError::new(NAME, failure, format!("{action}: {what}")).with_request_id(request_id.clone());
        match code {
            Some(code) => e.with_code(code.to_string()),
            None => e,
        }
    };
    if status >= 500 {
        return Err(fail(VendorFailure::ServerError, format!("HTTP {status}")));
    }
    match (status, code) {
        (401 | 403, _) => Err(fail(VendorFailure::AuthFailed, format!("HTTP {status}"))),
        (429, _) => Err(fail(VendorFailure::RateLimited { retry_after_s: retry_after(response) }, "HTTP 429".into())),
        (200..=299, Some(0)) => Ok(body.and_then(|mut b| b.get_mut("Data").map(Value::take)).unwrap_or(Value::Null)),
        (_, None) => Err(fail(VendorFailure::ServerError, format!("answer has no Code (HTTP {status})"))),
        (_, Some(code)) => {
            let (failure, what) = match code {
                300000003 => (VendorFailure::RateLimited { retry_after_s: retry_after(response) }, "rate limited"),
                300001000 => (VendorFailure::NotFound, "no such task"),
                300001001 => (VendorFailure::Rejected, "task already stopped"),
                300010000 => (VendorFailure::ServerError, "ZEGO system error"),
                300000002 => (VendorFailure::Rejected, "cloud recording is not activated for this AppId"),
                300000004 => (VendorFailure::Rejected, "invalid parameter"),
                100000004 | 100000005 | 100000010 => (VendorFailure::AuthFailed, "signature refused"),
                _ => (VendorFailure::Rejected, "refused"),
            };
            Err(fail(failure, format!("{what} (code {code})")))
        }
    }
}

/// `Data.TaskId` of a StartRecord answer.
pub fn task_id(data: &Value) -> Result<String, VendorError> {
    data.get("TaskId")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| VendorError::new(NAME, VendorFailure::ServerError, "StartRecord answer has no TaskId"))
}

pub fn state(task_id: &str, status: RecordingStatus) -> RecordingState {
    RecordingState {
        vendor_recording_id: task_id.to_owned(),
        status,
        error: None,
        files: Vec::new(),
        started_at_ms: None,
        ended_at_ms: None,
        output_uri: None,
    }
}

/// A DescribeRecordStatus `Data`. An ended task is complete once every file is uploaded (to
/// the bucket, or to ZEGO's backup from which ZEGO re-uploads), stopping while any is still
/// uploading, failed when an upload failed.
pub fn parse_status(task_id: &str, data: &Value) -> Result<RecordingState, VendorError> {
    let malformed = |what: &str| VendorError::new(NAME, VendorFailure::ServerError, format!("{DESCRIBE}: {what}"));
    let task_status = data.get("Status").and_then(Value::as_i64).ok_or_else(|| malformed("no Status"))?;
    let files_json = match data.get("RecordFiles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(files)) => files.clone(),
        Some(_) => return Err(malformed("RecordFiles is not a list")),
    };
    let file_status = |f: &Value| f.get("Status").and_then(Value::as_i64).unwrap_or(0);
    let files = files_json
        .iter()
        .filter_map(|f| {
            let location = f.get("FileUrl").or_else(|| f.get("FileId")).and_then(Value::as_str)?;
            Some(FileResult {
                location: location.to_owned(),
                size_bytes: f.get("FileSize").and_then(Value::as_u64),
                duration_ms: f.get("Duration").and_then(Value::as_u64),
            })
        })
        .collect();
    let any_failed = files_json.iter().any(|f| file_status(f) == 5);
    let all_uploaded = files_json.iter().all(|f| matches!(file_status(f), 3 | 4));
    let (status, error) = match task_status {
        1 => (RecordingStatus::Starting, None),
        2 | 5 => (RecordingStatus::Active, None),
        3 if any_failed => (RecordingStatus::Failed, Some("ZEGO could not upload a recording file".to_owned())),
        3 if all_uploaded => (RecordingStatus::Complete, None),
        3 => (RecordingStatus::Stopping, None),
        4 => (RecordingStatus::Failed, Some("ZEGO ended the recording abnormally".to_owned())),
        other => return Err(malformed(&format!("unknown Status {other}"))),
    };
    let ended_at_ms = data.get("RecordEndTimestamp").and_then(Value::as_u64).filter(|t| *t > 0);
    let started_at_ms = data.get("RecordBeginTimestamp").and_then(Value::as_u64).filter(|t| *t > 0);
    Ok(RecordingState { files, error, ended_at_ms, started_at_ms, ..state(task_id, status) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn answer(status: u16, body: Value) -> OutboundResponse {
        OutboundResponse { status, headers: vec![], body: body.to_string().into_bytes() }
    }

    fn spec(destination: Destination) -> RecordingSpec {
        RecordingSpec {
            room_id: "rm_abc".into(),
            layout: "speaker".into(),
            audio_only: false,
            destination,
            recording_id: "rec_xyz".into(),
            recorder_uid: None,
        }
    }

    fn s3(region: Option<&str>, endpoint: Option<&str>) -> Destination {
        Destination::S3 {
            bucket: "media".into(),
            path: "calls/rm_abc-rec_xyz.mp4".into(),
            access_key: "AK".into(),
            secret: "SK".into(),
            region: region.map(str::to_owned),
            endpoint: endpoint.map(str::to_owned),
        }
    }

    #[test]
    fn start_body_is_a_mixed_recording_keyed_by_our_id() {
        let spec = spec(s3(Some("us-east-1"), None));
        let storage = storage_params(&spec.destination).unwrap();
        let body = start_body(&spec, storage);
        assert_eq!(body["RoomId"], "rm_abc");
        let input = &body["RecordInputParams"];
        assert_eq!((input["RecordMode"].clone(), input["StreamType"].clone()), (json!(2), json!(3)));
        assert_eq!(input["ClientTaskId"], "rec_xyz");
        assert_eq!(input["MixConfig"]["MixMode"], 4);
        assert_eq!(input["MixConfig"]["MixOutputStreamId"], "rec_xyz");
        assert_eq!(input["MixConfig"]["MixOutputVideoConfig"]["Width"], 1280);
        assert_eq!(
            body["RecordOutputParams"],
            json!({"OutputFileFormat": "mp4", "OutputFolder": "calls/rm_abc-rec_xyz/"})
        );
        assert_eq!(
            body["StorageParams"],
            json!({"Vendor": 1, "Region": "us-east-1", "Bucket": "media", "AccessKeyId": "AK", "AccessKeySecret": "SK"})
        );

        let audio = RecordingSpec { audio_only: true, layout: "grid".into(), ..spec.clone() };
        let body = start_body(&audio, json!({}));
        assert_eq!(body["RecordInputParams"]["StreamType"], 1);
        assert!(body["RecordInputParams"]["MixConfig"].get("MixOutputVideoConfig").is_none());
        assert_eq!(body["RecordOutputParams"]["OutputFileFormat"], "mp3");
        assert_eq!((mix_mode("grid"), mix_mode("single-speaker")), (2, 5));
    }

    #[test]
    fn storage_vendors_map_from_our_destinations() {
        let compatible = storage_params(&s3(None, Some("https://minio.local"))).unwrap();
        assert_eq!(
            (compatible["Vendor"].clone(), compatible["EndPoint"].clone()),
            (json!(10), json!("https://minio.local"))
        );
        let no_region = storage_params(&s3(None, None)).unwrap_err();
        assert_eq!(no_region.code, ErrorCode::DestinationUnsupported);
        // A project's own destination takes its region from its credentials, the shared bucket
        // from RECORDING_S3_REGION: the answer names both, not only the setting.
        assert!(
            no_region.message.contains("credentials.region") && no_region.message.contains("RECORDING_S3_REGION"),
            "{}",
            no_region.message
        );
        let gcs = Destination::Gcs {
            bucket: "g".into(),
            path: "p/".into(),
            credentials: r#"{"hmac_access_key":"GOOG1","hmac_secret":"hs"}"#.into(),
        };
        assert_eq!(
            storage_params(&gcs).unwrap(),
            json!({"Vendor": 8, "Bucket": "g", "AccessKeyId": "GOOG1", "AccessKeySecret": "hs"})
        );
        let azure = Destination::Azure {
            container: "c".into(),
            path: "p".into(),
            account_name: "a".into(),
            account_key: "k".into(),
        };
        let e = storage_params(&azure).unwrap_err();
        assert_eq!(
            (e.code, e.status(), e.details["field"].as_str()),
            (ErrorCode::DestinationUnsupported, 422, Some("output_uri"))
        );
        let without_hmac = Destination::Gcs {
            bucket: "g".into(),
            path: "p/".into(),
            credentials: r#"{"type":"service_account"}"#.into(),
        };
        let e = storage_params(&without_hmac).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str(), e.details["vendor"].as_str()),
            (
                ErrorCode::DestinationUnsupported,
                "zego writes to gs:// with an HMAC key: add hmac_access_key and hmac_secret to RECORDING_GCP_CREDENTIALS",
                Some("zego")
            )
        );
    }

    #[test]
    fn answers_map_codes_to_failures() {
        let ok = read(START, &answer(200, json!({"Code": 0, "Data": {"TaskId": "T1"}, "RequestId": "r"}))).unwrap();
        assert_eq!(task_id(&ok).unwrap(), "T1");
        assert_eq!(task_id(&json!({})).unwrap_err().failure, VendorFailure::ServerError);
        let cases = [
            (300001000, VendorFailure::NotFound),
            (300001001, VendorFailure::Rejected),
            (300000003, VendorFailure::RateLimited { retry_after_s: None }),
            (300000004, VendorFailure::Rejected),
            (300010000, VendorFailure::ServerError),
            (100000005, VendorFailure::AuthFailed),
            (42, VendorFailure::Rejected),
        ];
        for (code, failure) in cases {
            let e =
                read(STOP, &answer(200, json!({"Code": code, "Message": "words", "RequestId": "req-9"}))).unwrap_err();
            assert_eq!(e.failure, failure, "{code}");
            assert_eq!(
                (e.vendor_code.clone(), e.vendor_request_id.as_deref()),
                (Some(code.to_string()), Some("req-9"))
            );
        }
        assert_eq!(read(STOP, &answer(502, json!({}))).unwrap_err().failure, VendorFailure::ServerError);
        assert_eq!(read(STOP, &answer(401, json!({"Code": 0}))).unwrap_err().failure, VendorFailure::AuthFailed);
        let garbage = OutboundResponse { status: 200, headers: vec![], body: b"<html>".to_vec() };
        assert!(read(STOP, &garbage).unwrap_err().is_outage());
    }

    #[test]
    fn status_and_files_are_read() {
        let running = parse_status("T1", &json!({"Status": 2})).unwrap();
        assert_eq!((running.status, running.vendor_recording_id.as_str()), (RecordingStatus::Active, "T1"));
        let file = |status: i64| {
            json!({"FileId": "calls/x.mp4", "FileUrl": "https://media.s3.amazonaws.com/calls/x.mp4",
                   "FileSize": 2048, "Duration": 61000, "Status": status})
        };
        let done = parse_status(
            "T1",
            &json!({"Status": 3, "RecordBeginTimestamp": 1000, "RecordEndTimestamp": 62000, "RecordFiles": [file(3)]}),
        )
        .unwrap();
        assert_eq!(done.status, RecordingStatus::Complete);
        assert_eq!(
            done.files,
            vec![FileResult {
                location: "https://media.s3.amazonaws.com/calls/x.mp4".into(),
                size_bytes: Some(2048),
                duration_ms: Some(61000)
            }]
        );
        assert_eq!(done.ended_at_ms, Some(62000));
        let uploading = parse_status("T1", &json!({"Status": 3, "RecordFiles": [file(2)]})).unwrap();
        assert_eq!(uploading.status, RecordingStatus::Stopping);
        let failed = parse_status("T1", &json!({"Status": 3, "RecordFiles": [file(5)]})).unwrap();
        assert_eq!(failed.status, RecordingStatus::Failed);
        assert_eq!(parse_status("T1", &json!({"Status": 4})).unwrap().status, RecordingStatus::Failed);
        assert_eq!(parse_status("T1", &json!({"Status": 3})).unwrap().status, RecordingStatus::Complete);
        assert!(parse_status("T1", &json!({"Status": 9})).is_err());
        assert!(parse_status("T1", &json!({})).is_err());
    }

    #[test]
    fn url_carries_the_action_and_signature_only() {
        let stamp = Stamp { nonce: "abababababababab".into(), timestamp_s: 1_700_000_000 };
        let u = url("https://cloudrecord-api.zego.im/", START, 12345, "9193cc662a4c0ec135ec71fb57194b38", &stamp);
        assert!(u.starts_with("https://cloudrecord-api.zego.im/?Action=StartRecord&AppId=12345&SignatureNonce=abababababababab&Timestamp=1700000000&Signature="));
        assert!(u.ends_with("&SignatureVersion=2.0"));
        assert!(!u.contains("9193cc662a4c0ec135ec71fb57194b38"));
    }
}

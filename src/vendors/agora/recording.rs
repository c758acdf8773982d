//! Agora Cloud Recording as pure functions: the acquire/start/query/stop requests, our
//! destinations as Agora `storageConfig`, and its answers as [`RecordingState`]. `mod.rs`
//! sends what these build.
//!
//! Facts (AgoraIO/Docs-Source `cloud-recording/rest-api/{acquire,start,
//! query,stop,status-codes}.mdx`, `cloud-recording/reference/region-vendor.mdx`):
//! - Basic auth as for the channel API; paths under `/v1/apps/{appid}/cloud_recording/`.
//! - `acquire {cname, uid, clientRequest}` → `resourceId`, single use, valid five minutes:
//!   start right after it. `start` (mode `mix`) → `sid`. The recorder `uid` is a decimal string
//!   that must not collide with anyone in the channel; one task at a time per cname+uid
//!   (a second is refused with code 53).
//! - The bot needs its own RTC token; tokens are not renewed during a recording.
//! - `storageConfig.vendor`: 1 Amazon S3, 5 Microsoft Azure, 6 Google Cloud, 11 S3-compatible
//!   (`extensionParams.endpoint`); `region` is a number per vendor (table below for S3;
//!   Azure and Google ignore it). `fileNamePrefix`: folder names of letters and digits, the
//!   whole prefix at most 128 characters. Agora names the files itself.
//! - query `serverResponse.status`: 0–4 starting, 5 recording, 6 stop requested, 7 stopped,
//!   8 exited, 20 exited abnormally; `fileList` is an array (`fileListMode: "json"`) of
//!   `{fileName, …}` or one m3u8 name (`"string"`). Agora reports no sizes or durations.
//! - Codes: start 201 code 7 "already started", 206 code 65 "request not completed" (may
//!   have acted: retry), 400 code 53 "task conflict", 500 code 62/502; acquire 406
//!   concurrency limit; 429 rate limit; query/stop 404 code 404 "failed to find worker"
//!   (the task ended, or is moving to another server for up to a minute); stop 206 code 435
//!   "no recorded data", 400 code 49 "task already exiting".

use serde_json::{json, Map, Value};

use super::rest::error_from;
use super::NAME;
use crate::domain::recording::{
    destination_unsupported, folder_of, required_gcs_hmac, Destination, FileResult, RecordingSpec, RecordingState,
    RecordingStatus,
};
use crate::error::ApiResult;
use crate::http::percent_encode;
use crate::runtime::OutboundResponse;
use crate::vendors::transport::{join_url, json_body};
use crate::vendors::{VendorError, VendorFailure};

/// How long the bot's token is valid: the longest an AccessToken2 privilege may last, and
/// longer than `RESOURCE_HOURS` lets query/stop reach the task anyway.
pub const RECORDER_TOKEN_TTL_S: u32 = 24 * 3600;
/// `resourceExpiredHour`: how long query/stop remain callable after start.
const RESOURCE_HOURS: u32 = 24;
/// Seconds without anyone in the channel before Agora ends the recording (its recommended value).
const MAX_IDLE_S: u32 = 300;
/// Longest `fileNamePrefix`, slashes included.
const MAX_PREFIX_CHARS: usize = 128;

/// Amazon S3 regions by Agora's region number (`region-vendor.mdx`, vendor 1).
const S3_REGIONS: [(&str, u32); 24] = [
    ("us-east-1", 0),
    ("us-east-2", 1),
    ("us-west-1", 2),
    ("us-west-2", 3),
    ("eu-west-1", 4),
    ("eu-west-2", 5),
    ("eu-west-3", 6),
    ("eu-central-1", 7),
    ("ap-southeast-1", 8),
    ("ap-southeast-2", 9),
    ("ap-northeast-1", 10),
    ("ap-northeast-2", 11),
    ("sa-east-1", 12),
    ("ca-central-1", 13),
    ("ap-south-1", 14),
    ("cn-north-1", 15),
    ("cn-northwest-1", 16),
    ("af-south-1", 18),
    ("ap-east-1", 19),
    ("ap-northeast-3", 20),
    ("eu-north-1", 21),
    ("me-south-1", 22),
    ("ap-southeast-3", 24),
    ("eu-south-1", 25),
];

/// What query/stop need, kept as our `vendor_recording_id` (a JSON object): Agora addresses
/// a task by resource id + sid, and stop repeats the cname and uid.
#[derive(Clone, Debug, PartialEq)]
pub struct Handle {
    pub resource_id: String,
    pub sid: String,
    pub cname: String,
    pub uid: u32,
    /// `scheme://bucket` and the prefix, to turn Agora's file names into locations.
    pub bucket_uri: String,
    pub prefix: String,
}

impl Handle {
    pub fn encode(&self) -> String {
        json!({
            "rid": self.resource_id, "sid": self.sid, "cname": self.cname, "uid": self.uid,
            "bucket": self.bucket_uri, "prefix": self.prefix,
        })
        .to_string()
    }

    pub fn decode(text: &str) -> Option<Handle> {
        let v: Value = serde_json::from_str(text).ok()?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Handle {
            resource_id: s("rid")?,
            sid: s("sid")?,
            cname: s("cname")?,
            uid: u32::try_from(v.get("uid")?.as_u64()?).ok()?,
            bucket_uri: s("bucket")?,
            prefix: s("prefix")?,
        })
    }
}

/// `fileNamePrefix`: the folder of `folder_of(path)` with each name cut to letters and
/// digits (all Agora accepts), empty names dropped.
pub fn file_prefix(path: &str) -> Vec<String> {
    folder_of(path)
        .split('/')
        .map(|seg| seg.chars().filter(char::is_ascii_alphanumeric).collect::<String>())
        .filter(|seg| !seg.is_empty())
        .collect()
}

/// `storageConfig` for `destination`, or why Agora cannot write there.
pub fn storage_config(destination: &Destination) -> ApiResult<Value> {
    let prefix = file_prefix(destination.path());
    if prefix.join("/").len() > MAX_PREFIX_CHARS {
        return Err(destination_unsupported(
            NAME,
            format!("agora allows a folder path of at most {MAX_PREFIX_CHARS} characters"),
        ));
    }
    let mut config = Map::new();
    match destination {
        Destination::S3 { bucket, access_key, secret, region, endpoint, .. } => {
            if let Some(endpoint) = endpoint {
                config.insert("vendor".into(), json!(11));
                config.insert("region".into(), json!(0));
                config.insert("extensionParams".into(), json!({ "endpoint": endpoint }));
            } else {
                let name = region.as_deref().unwrap_or("");
                let code = S3_REGIONS.iter().find(|(r, _)| *r == name).map(|(_, c)| *c).ok_or_else(|| {
                    destination_unsupported(
                        NAME,
                        format!(
                            "agora needs the S3 bucket's region (credentials.region on a project's destination, \
                             RECORDING_S3_REGION for the shared bucket) to be an AWS region it supports (got '{name}')"
                        ),
                    )
                })?;
                config.insert("vendor".into(), json!(1));
                config.insert("region".into(), json!(code));
            }
            config.insert("bucket".into(), json!(bucket));
            config.insert("accessKey".into(), json!(access_key));
            config.insert("secretKey".into(), json!(secret));
        }
        Destination::Azure { container, account_name, account_key, .. } => {
            config.insert("vendor".into(), json!(5));
            config.insert("region".into(), json!(0));
            config.insert("bucket".into(), json!(container));
            config.insert("accessKey".into(), json!(account_name));
            config.insert("secretKey".into(), json!(account_key));
        }
        Destination::Gcs { bucket, credentials, .. } => {
            let (key, secret) = required_gcs_hmac(NAME, credentials)?;
            config.insert("vendor".into(), json!(6));
            config.insert("region".into(), json!(0));
            config.insert("bucket".into(), json!(bucket));
            config.insert("accessKey".into(), json!(key));
            config.insert("secretKey".into(), json!(secret));
        }
    }
    if !prefix.is_empty() {
        config.insert("fileNamePrefix".into(), json!(prefix));
    }
    Ok(Value::Object(config))
}

/// Our layouts as `mixedVideoLayout`: grid → 1 adaptive (equal windows), speaker → 2
/// vertical (one large window, the rest in columns), single-speaker → 0 floating (the first
/// user fills the canvas; Agora has no layout that shows one user only).
pub fn mixed_layout(layout: &str) -> u32 {
    match layout {
        "speaker" => 2,
        "single-speaker" => 0,
        _ => 1,
    }
}

/// The recorder's uid as Agora takes it: a decimal string.
fn uid_text(spec: &RecordingSpec) -> Result<String, VendorError> {
    match spec.recorder_uid {
        Some(uid) if uid != 0 => Ok(uid.to_string()),
        _ => Err(VendorError::new(NAME, VendorFailure::Rejected, "no recorder uid for an agora recording")),
    }
}

pub struct Paths<'a> {
    pub base: &'a str,
    pub app_id: &'a str,
}

impl Paths<'_> {
    fn root(&self) -> String {
        join_url(self.base, &format!("/v1/apps/{}/cloud_recording", percent_encode(self.app_id)))
    }

    pub fn acquire(&self) -> String {
        format!("{}/acquire", self.root())
    }

    pub fn start(&self, resource_id: &str) -> String {
        format!("{}/resourceid/{}/mode/mix/start", self.root(), percent_encode(resource_id))
    }

    pub fn query(&self, h: &Handle) -> String {
        format!(
            "{}/resourceid/{}/sid/{}/mode/mix/query",
            self.root(),
            percent_encode(&h.resource_id),
            percent_encode(&h.sid)
        )
    }

    pub fn stop(&self, h: &Handle) -> String {
        format!(
            "{}/resourceid/{}/sid/{}/mode/mix/stop",
            self.root(),
            percent_encode(&h.resource_id),
            percent_encode(&h.sid)
        )
    }
}

pub fn acquire_body(spec: &RecordingSpec) -> Result<Value, VendorError> {
    Ok(json!({
        "cname": spec.room_id,
        "uid": uid_text(spec)?,
        "clientRequest": { "scene": 0, "resourceExpiredHour": RESOURCE_HOURS },
    }))
}

/// The start body. `storage` comes from [`storage_config`] (checked before anything was
/// written); `token` is the bot's own RTC token for this channel and uid.
pub fn start_body(spec: &RecordingSpec, storage: Value, token: &str) -> Result<Value, VendorError> {
    let mut recording = json!({
        // Communication profile, the Agora SDK default; all users are recorded.
        "channelType": 0,
        "maxIdleTime": MAX_IDLE_S,
        "streamTypes": if spec.audio_only { 0 } else { 2 },
        "subscribeAudioUids": ["#allstream#"],
        "audioProfile": 0,
    });
    if !spec.audio_only {
        recording["subscribeVideoUids"] = json!(["#allstream#"]);
        recording["transcodingConfig"] = json!({
            "width": 1280, "height": 720, "fps": 15, "bitrate": 1130,
            "mixedVideoLayout": mixed_layout(&spec.layout),
        });
    }
    Ok(json!({
        "cname": spec.room_id,
        "uid": uid_text(spec)?,
        "clientRequest": {
            "token": token,
            "storageConfig": storage,
            "recordingConfig": recording,
            // MP4 needs HLS beside it in mix mode (`["mp4"]` alone is refused).
            "recordingFileConfig": { "avFileType": ["hls", "mp4"] },
        },
    }))
}

pub fn stop_body(h: &Handle) -> Value {
    json!({ "cname": h.cname, "uid": h.uid.to_string(), "clientRequest": { "async_stop": false } })
}

fn request_id(response: &OutboundResponse) -> Option<String> {
    response.header("x-request-id").map(|v| v.trim().to_owned())
}

fn code_of(body: &Value) -> Option<i64> {
    body.get("code").and_then(Value::as_i64)
}

fn failure(response: &OutboundResponse, failure: VendorFailure, what: String, code: Option<i64>) -> VendorError {
    let e = VendorError::new(NAME, failure, what).with_request_id(request_id(response));
    match code {
        Some(code) => e.with_code(code.to_string()),
        None => e,
    }
}

/// Maps an answer that is not a plain success, by Agora's `code` where the status alone
/// does not say enough.
pub fn recording_error(call: &str, response: &OutboundResponse) -> VendorError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let code = code_of(&body);
    let fail = |f: VendorFailure, what: &str| failure(response, f, format!("{call}: {what}"), code);
    match (response.status, code) {
        (206, Some(65)) => fail(VendorFailure::ServerError, "request not completed (code 65); it may have acted"),
        (_, Some(62)) => fail(VendorFailure::Timeout, "Agora timed out (code 62)"),
        (400, Some(53)) => {
            fail(VendorFailure::Rejected, "a task with this channel and recorder uid is running (code 53)")
        }
        (400, Some(406)) => {
            fail(VendorFailure::RateLimited { retry_after_s: None }, "concurrent recording limit (code 406)")
        }
        (404, Some(404)) => fail(VendorFailure::NotFound, "Agora has no running task (code 404)"),
        (400, Some(2)) => fail(VendorFailure::Rejected, "parameters refused (code 2)"),
        (400, Some(405)) => fail(VendorFailure::Rejected, "app suspended (code 405)"),
        (201, Some(7)) => fail(VendorFailure::ServerError, "already started, without the running task's sid"),
        (200..=299, _) => fail(VendorFailure::ServerError, &format!("unexpected answer (HTTP {})", response.status)),
        _ => {
            let mut e = error_from(response);
            e.summary = format!("{call}: {}", e.summary);
            if let Some(code) = code {
                e = e.with_code(code.to_string());
            }
            e
        }
    }
}

fn body_of(call: &str, response: &OutboundResponse) -> Result<Value, VendorError> {
    json_body(NAME, response).map_err(|e| VendorError { summary: format!("{call}: {}", e.summary), ..e })
}

fn text_field(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

pub fn parse_acquire(response: &OutboundResponse) -> Result<String, VendorError> {
    if response.status != 200 {
        return Err(recording_error("acquire", response));
    }
    let body = body_of("acquire", response)?;
    text_field(&body, "resourceId")
        .ok_or_else(|| failure(response, VendorFailure::ServerError, "acquire: answer has no resourceId".into(), None))
}

/// The sid of a started task. A start sent again with the same resource id (after a lost
/// answer) is answered 201 code 7 "already started"; that answer's `sid` names the running
/// task, as on a first start (Agora's start answers carry `sid`, empty when it failed).
pub fn parse_start(response: &OutboundResponse) -> Result<String, VendorError> {
    let already = response.status == 201;
    if response.status != 200 && !already {
        return Err(recording_error("start", response));
    }
    let body = body_of("start", response)?;
    if already && code_of(&body) != Some(7) {
        return Err(recording_error("start", response));
    }
    text_field(&body, "sid").ok_or_else(|| recording_error("start", response))
}

/// Agora's task status → ours.
pub fn status_of(code: i64) -> RecordingStatus {
    match code {
        5 => RecordingStatus::Active,
        6 => RecordingStatus::Stopping,
        7 | 8 => RecordingStatus::Complete,
        20 => RecordingStatus::Failed,
        _ => RecordingStatus::Starting,
    }
}

/// The files of a `serverResponse`: `fileList` as an array of `{fileName}` or as one name.
/// Names are object keys inside the bucket (they start with the prefix); a bare name is put
/// under the prefix.
pub fn files_of(server: &Value, h: &Handle) -> Vec<FileResult> {
    let names: Vec<String> = match server.get("fileList") {
        Some(Value::String(name)) if !name.is_empty() => vec![name.clone()],
        Some(Value::Array(items)) => {
            items.iter().filter_map(|f| f.get("fileName").and_then(Value::as_str)).map(str::to_owned).collect()
        }
        _ => Vec::new(),
    };
    names
        .into_iter()
        .map(|name| {
            let key = if h.prefix.is_empty() || name.starts_with(&format!("{}/", h.prefix)) {
                name
            } else {
                format!("{}/{name}", h.prefix)
            };
            FileResult { location: format!("{}/{key}", h.bucket_uri), size_bytes: None, duration_ms: None }
        })
        .collect()
}

pub fn parse_query(response: &OutboundResponse, h: &Handle) -> Result<RecordingState, VendorError> {
    if response.status != 200 {
        return Err(recording_error("query", response));
    }
    let body = body_of("query", response)?;
    let server = body.get("serverResponse").filter(|s| s.is_object()).ok_or_else(|| {
        failure(response, VendorFailure::ServerError, "query: answer has no serverResponse".into(), None)
    })?;
    let status = server.get("status").and_then(Value::as_i64).ok_or_else(|| {
        failure(response, VendorFailure::ServerError, "query: serverResponse has no status".into(), None)
    })?;
    let status = status_of(status);
    let error = (status == RecordingStatus::Failed).then(|| "Agora's recorder exited abnormally".to_owned());
    Ok(RecordingState { files: files_of(server, h), error, ..state(h, status) })
}

/// A stop's answer. `uploadingStatus` "uploaded"/"backuped" means the files are (or will be,
/// from Agora's backup) in the bucket: complete. 435 (nobody published: no file) and 49
/// (the task was already exiting: idle timeout, bot removed, a stop before ours) end it too.
pub fn parse_stop(response: &OutboundResponse, h: &Handle) -> Result<RecordingState, VendorError> {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    match (response.status, code_of(&body)) {
        (206, Some(435)) => {
            return Ok(RecordingState {
                error: Some("nobody published in the room: Agora wrote no file".into()),
                ..state(h, RecordingStatus::Complete)
            })
        }
        (400, Some(49)) => return Ok(state(h, RecordingStatus::Complete)),
        (200, _) => {}
        _ => return Err(recording_error("stop", response)),
    }
    let body = body_of("stop", response)?;
    let server = body.get("serverResponse").cloned().unwrap_or(Value::Null);
    let status = match server.get("uploadingStatus").and_then(Value::as_str) {
        Some("uploaded" | "backuped") => RecordingStatus::Complete,
        _ => RecordingStatus::Stopping,
    };
    Ok(RecordingState { files: files_of(&server, h), ..state(h, status) })
}

pub fn state(h: &Handle, status: RecordingStatus) -> RecordingState {
    RecordingState {
        vendor_recording_id: h.encode(),
        status,
        error: None,
        files: Vec::new(),
        started_at_ms: None,
        ended_at_ms: None,
        output_uri: None,
    }
}

pub fn handle_for(spec: &RecordingSpec, resource_id: String, sid: String) -> Handle {
    Handle {
        resource_id,
        sid,
        cname: spec.room_id.clone(),
        uid: spec.recorder_uid.unwrap_or(0),
        bucket_uri: spec.destination.bucket_uri(),
        prefix: file_prefix(spec.destination.path()).join("/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn response(status: u16, body: Value) -> OutboundResponse {
        OutboundResponse {
            status,
            headers: vec![("X-Request-ID".into(), "agora-req-1".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn s3(region: Option<&str>, endpoint: Option<&str>) -> Destination {
        Destination::S3 {
            bucket: "media".into(),
            path: "calls/2026/rm_abc-rec_xyz.mp4".into(),
            access_key: "AKIA".into(),
            secret: "s3-secret".into(),
            region: region.map(str::to_owned),
            endpoint: endpoint.map(str::to_owned),
        }
    }

    fn spec(destination: Destination) -> RecordingSpec {
        RecordingSpec {
            room_id: "rm_abc".into(),
            layout: "grid".into(),
            audio_only: false,
            destination,
            recording_id: "rec_xyz".into(),
            recorder_uid: Some(7),
        }
    }

    fn handle() -> Handle {
        handle_for(&spec(s3(Some("us-east-1"), None)), "RID-1_x".into(), "sid38f".into())
    }

    #[test]
    fn prefix_keeps_letters_and_digits_of_each_folder() {
        assert_eq!(file_prefix("calls/2026/rm_abc-rec_xyz.mp4"), vec!["calls", "2026", "rmabcrecxyz"]);
        assert_eq!(file_prefix("rm_1-rec_2.ogg"), vec!["rm1rec2"]);
        assert_eq!(file_prefix("a//b-/"), vec!["a", "b"]);
    }

    #[test]
    fn storage_maps_each_destination_kind() {
        let aws = storage_config(&s3(Some("eu-central-1"), None)).unwrap();
        assert_eq!(
            aws,
            json!({"vendor": 1, "region": 7, "bucket": "media", "accessKey": "AKIA", "secretKey": "s3-secret",
                   "fileNamePrefix": ["calls", "2026", "rmabcrecxyz"]})
        );
        assert_eq!(storage_config(&s3(Some("eu-south-1"), None)).unwrap()["region"], 25);
        let compatible = storage_config(&s3(None, Some("https://minio.local:9000"))).unwrap();
        assert_eq!((compatible["vendor"].clone(), compatible["region"].clone()), (json!(11), json!(0)));
        assert_eq!(compatible["extensionParams"], json!({"endpoint": "https://minio.local:9000"}));

        let azure = storage_config(&Destination::Azure {
            container: "box".into(),
            path: "x.mp4".into(),
            account_name: "acct".into(),
            account_key: "k".into(),
        })
        .unwrap();
        assert_eq!(
            azure,
            json!({"vendor": 5, "region": 0, "bucket": "box", "accessKey": "acct", "secretKey": "k", "fileNamePrefix": ["x"]})
        );

        let gcs = |credentials: &str| Destination::Gcs {
            bucket: "g".into(),
            path: "".into(),
            credentials: credentials.into(),
        };
        let ok =
            storage_config(&gcs(r#"{"type":"service_account","hmac_access_key":"GOOG1","hmac_secret":"hs"}"#)).unwrap();
        assert_eq!(ok, json!({"vendor": 6, "region": 0, "bucket": "g", "accessKey": "GOOG1", "secretKey": "hs"}));
        let e = storage_config(&gcs(r#"{"type":"service_account"}"#)).unwrap_err();
        assert_eq!((e.code, e.status()), (ErrorCode::DestinationUnsupported, 422));
        assert!(!e.message.contains("service_account"));
    }

    #[test]
    fn unknown_s3_region_and_long_prefixes_are_refused_before_any_call() {
        for bad in [s3(None, None), s3(Some("mars-north-1"), None)] {
            let e = storage_config(&bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::DestinationUnsupported);
            assert_eq!(e.details["field"], "output_uri");
            // A project's own destination takes its region from its credentials, the shared
            // bucket from RECORDING_S3_REGION: the answer names both, not only the setting.
            assert!(
                e.message.contains("credentials.region") && e.message.contains("RECORDING_S3_REGION"),
                "{}",
                e.message
            );
        }
        let long = Destination::S3 {
            bucket: "b".into(),
            path: format!("{}/f.mp4", "a".repeat(130)),
            access_key: "k".into(),
            secret: "s".into(),
            region: Some("us-east-1".into()),
            endpoint: None,
        };
        assert_eq!(storage_config(&long).unwrap_err().code, ErrorCode::DestinationUnsupported);
    }

    #[test]
    fn start_body_records_the_mix_with_the_bots_uid_and_token() {
        let spec = spec(s3(Some("us-east-1"), None));
        let storage = storage_config(&spec.destination).unwrap();
        let body = start_body(&spec, storage.clone(), "007tok").unwrap();
        assert_eq!(body["cname"], "rm_abc");
        assert_eq!(body["uid"], "7");
        let client = &body["clientRequest"];
        assert_eq!(client["token"], "007tok");
        assert_eq!(client["storageConfig"], storage);
        assert_eq!(client["recordingConfig"]["streamTypes"], 2);
        assert_eq!(client["recordingConfig"]["transcodingConfig"]["mixedVideoLayout"], 1);
        assert_eq!(client["recordingFileConfig"]["avFileType"], json!(["hls", "mp4"]));

        let audio = RecordingSpec { audio_only: true, layout: "speaker".into(), ..spec.clone() };
        let body = start_body(&audio, storage, "t").unwrap();
        let rc = &body["clientRequest"]["recordingConfig"];
        assert_eq!(rc["streamTypes"], 0);
        assert!(rc.get("transcodingConfig").is_none() && rc.get("subscribeVideoUids").is_none());

        assert_eq!((mixed_layout("grid"), mixed_layout("speaker"), mixed_layout("single-speaker")), (1, 2, 0));
        let no_uid = RecordingSpec { recorder_uid: None, ..spec };
        assert_eq!(acquire_body(&no_uid).unwrap_err().failure, VendorFailure::Rejected);
    }

    #[test]
    fn acquire_and_start_answers() {
        assert_eq!(parse_acquire(&response(200, json!({"resourceId": "R1", "cname": "c", "uid": "7"}))).unwrap(), "R1");
        assert_eq!(parse_acquire(&response(200, json!({}))).unwrap_err().failure, VendorFailure::ServerError);
        let limit = parse_acquire(&response(400, json!({"code": 406, "reason": "vendor_over_load"}))).unwrap_err();
        assert_eq!(limit.failure, VendorFailure::RateLimited { retry_after_s: None });

        assert_eq!(parse_start(&response(200, json!({"sid": "S1", "resourceId": "R1"}))).unwrap(), "S1");
        // A start sent again with the same resource id names the running task.
        assert_eq!(parse_start(&response(201, json!({"code": 7, "sid": "S1"}))).unwrap(), "S1");
        assert_eq!(parse_start(&response(201, json!({"code": 7}))).unwrap_err().failure, VendorFailure::ServerError);
        let lost = parse_start(&response(206, json!({"code": 65, "reason": "request not completed"}))).unwrap_err();
        assert!(lost.is_outage());
        let conflict = parse_start(&response(400, json!({"code": 53, "reason": "task conflict"}))).unwrap_err();
        assert_eq!((conflict.failure.clone(), conflict.vendor_code.as_deref()), (VendorFailure::Rejected, Some("53")));
        assert_eq!(conflict.vendor_request_id.as_deref(), Some("agora-req-1"));
        let timeout = parse_start(&response(500, json!({"code": 62}))).unwrap_err();
        assert_eq!(timeout.failure, VendorFailure::Timeout);
        let worker = parse_start(&response(500, json!({"code": 502}))).unwrap_err();
        assert_eq!(worker.failure, VendorFailure::ServerError);
        let auth = parse_start(&response(401, json!({"message": "Invalid authentication credentials"}))).unwrap_err();
        assert_eq!(auth.failure, VendorFailure::AuthFailed);
        let slow = parse_start(&response(429, json!({"message": "API rate limit exceeded"}))).unwrap_err();
        assert_eq!(slow.failure, VendorFailure::RateLimited { retry_after_s: None });
    }

    #[test]
    fn query_maps_status_and_files() {
        let h = handle();
        let running =
            parse_query(&response(200, json!({"serverResponse": {"status": 5, "fileList": []}})), &h).unwrap();
        assert_eq!((running.status, running.vendor_recording_id.clone()), (RecordingStatus::Active, h.encode()));
        let files = parse_query(
            &response(
                200,
                json!({"serverResponse": {"status": 7, "fileListMode": "json", "fileList": [
                    {"fileName": "calls/2026/rmabcrecxyz/sid38f_rm_abc.m3u8", "trackType": "audio_and_video"},
                    {"fileName": "sid38f_rm_abc_0.mp4"}
                ]}}),
            ),
            &h,
        )
        .unwrap();
        assert_eq!(files.status, RecordingStatus::Complete);
        let locations: Vec<&str> = files.files.iter().map(|f| f.location.as_str()).collect();
        assert_eq!(
            locations,
            [
                "s3://media/calls/2026/rmabcrecxyz/sid38f_rm_abc.m3u8",
                "s3://media/calls/2026/rmabcrecxyz/sid38f_rm_abc_0.mp4"
            ]
        );
        let string_mode =
            parse_query(&response(200, json!({"serverResponse": {"status": 5, "fileList": "x.m3u8"}})), &h).unwrap();
        assert_eq!(string_mode.files.len(), 1);
        assert_eq!(status_of(20), RecordingStatus::Failed);
        assert_eq!(status_of(4), RecordingStatus::Starting);
        assert_eq!(status_of(6), RecordingStatus::Stopping);
        let gone =
            parse_query(&response(404, json!({"code": 404, "reason": "failed to find worker"})), &h).unwrap_err();
        assert_eq!(gone.failure, VendorFailure::NotFound);
        let bad = parse_query(&response(200, json!({"nope": 1})), &h).unwrap_err();
        assert_eq!(bad.failure, VendorFailure::ServerError);
    }

    #[test]
    fn stop_answers_end_the_recording() {
        let h = handle();
        let done = parse_stop(
            &response(
                200,
                json!({"serverResponse": {"uploadingStatus": "uploaded", "fileList": [{"fileName": "a.mp4"}]}}),
            ),
            &h,
        )
        .unwrap();
        assert_eq!((done.status, done.files.len()), (RecordingStatus::Complete, 1));
        let unknown =
            parse_stop(&response(200, json!({"serverResponse": {"uploadingStatus": "unknown"}})), &h).unwrap();
        assert_eq!(unknown.status, RecordingStatus::Stopping);
        let empty = parse_stop(&response(206, json!({"code": 435})), &h).unwrap();
        assert_eq!(empty.status, RecordingStatus::Complete);
        assert!(empty.error.is_some() && empty.files.is_empty());
        assert_eq!(parse_stop(&response(400, json!({"code": 49})), &h).unwrap().status, RecordingStatus::Complete);
        assert_eq!(parse_stop(&response(404, json!({"code": 404})), &h).unwrap_err().failure, VendorFailure::NotFound);
        assert!(parse_stop(&response(206, json!({"code": 65})), &h).unwrap_err().is_outage());
    }

    #[test]
    fn handle_round_trips_and_paths_are_agoras() {
        let h = handle();
        assert_eq!(Handle::decode(&h.encode()), Some(h.clone()));
        assert_eq!(Handle::decode("egress-id"), None);
        let paths = Paths { base: "http://a.test", app_id: "APP" };
        assert_eq!(paths.acquire(), "http://a.test/v1/apps/APP/cloud_recording/acquire");
        assert_eq!(paths.start("R 1"), "http://a.test/v1/apps/APP/cloud_recording/resourceid/R%201/mode/mix/start");
        assert_eq!(
            paths.query(&h),
            "http://a.test/v1/apps/APP/cloud_recording/resourceid/RID-1_x/sid/sid38f/mode/mix/query"
        );
        assert_eq!(
            paths.stop(&h),
            "http://a.test/v1/apps/APP/cloud_recording/resourceid/RID-1_x/sid/sid38f/mode/mix/stop"
        );
        assert_eq!(stop_body(&h), json!({"cname": "rm_abc", "uid": "7", "clientRequest": {"async_stop": false}}));
    }
}

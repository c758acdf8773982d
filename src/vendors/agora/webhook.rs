//! Agora Notifications (NCS): verified by `Agora-Signature-V2` (hex HMAC-SHA256 of the raw
//! body with the Notifications secret), or `Agora-Signature` (hex HMAC-SHA1) when V2 is
//! absent; read as `{noticeId, productId, eventType, notifyMs, payload}`.
//!
//! RTC channel events (productId 1): 101/102 channel create/destroy, 103/105/107 join and
//! 104/106/108 leave (broadcaster, audience, communication), whose payload carries the
//! channel, the numeric uid, `clientSeq`, `ts` (s) and on leave `duration` (s). Recorders
//! (platform 6 with clientType 3 or 10) are not participants. Cloud Recording (productId 3):
//! 40 recorder_started, 31 uploaded, 11 session_exit, keyed by the recording `sid`. Media Push
//! (productId 5) is about our live streams' converters (`stream_notice`): 1 created and 4
//! destroyed name the converter (`{stream}_{output}`), 2 configuration changed and 3 state
//! changed give only its id; `payload.lts` is when it happened (ms).

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::Sha256;

use crate::domain::events::{
    file_entry, int_of, same, str_of, EventType, Incoming, RecordingChange, Rejection, Session, Who,
};
use crate::domain::recording::RecordingStatus;
use crate::domain::stream::{OutputStatus, StreamJob, StreamNotice};
use crate::vendors::agora::streaming::output_status;

pub const NAME: &str = "agora";

fn hex_of(mac: impl Mac) -> String {
    crate::crypto::hex::lower(&mac.finalize().into_bytes())
}

/// Checks the V2 signature, or V1 when V2 is absent.
pub fn verify(secret: &str, v2: Option<&str>, v1: Option<&str>, body: &[u8]) -> Result<(), Rejection> {
    let (expected, given) = match (v2.map(str::trim), v1.map(str::trim)) {
        (Some(v2), _) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
            mac.update(body);
            (hex_of(mac), v2)
        }
        (None, Some(v1)) => {
            let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
            mac.update(body);
            (hex_of(mac), v1)
        }
        (None, None) => return Err(Rejection::Unauthenticated("no Agora-Signature-V2 or Agora-Signature header")),
    };
    if same(expected.as_bytes(), given.to_ascii_lowercase().as_bytes()) {
        Ok(())
    } else {
        Err(Rejection::Unauthenticated("Agora signature does not match the body"))
    }
}

/// Recording and other server-side clients that join channels (platform 6 = Linux server).
fn is_bot(payload: &Value) -> bool {
    let platform = payload.get("platform").and_then(int_of);
    let client_type = payload.get("clientType").and_then(int_of);
    platform == Some(6) && matches!(client_type, Some(3 | 10))
}

/// A verified body as a notification, read once for `stream_notice` and `parse_notice`.
pub fn read(body: &[u8]) -> Result<Value, Rejection> {
    serde_json::from_slice(body).map_err(|e| Rejection::Malformed(format!("not an Agora notification: {e}")))
}

pub fn parse_notice(notice: &Value, now_ms: u64) -> Result<Option<Incoming>, Rejection> {
    let notice_id =
        str_of(notice, "noticeId").ok_or_else(|| Rejection::Malformed("Agora notification without noticeId".into()))?;
    let product = notice.get("productId").and_then(int_of);
    let event_type = notice.get("eventType").and_then(int_of);
    let null = Value::Null;
    let payload = notice.get("payload").unwrap_or(&null);
    let (Some(product), Some(event_type)) = (product, event_type) else {
        return Err(Rejection::Malformed("Agora notification without productId or eventType".into()));
    };
    match product {
        1 => channel_event(notice_id, event_type, payload, now_ms),
        3 => recording_event(notice_id, event_type, payload, now_ms),
        _ => Ok(None),
    }
}

/// Media Push's notice that product 5 sends about a converter; `None` for any other product.
pub fn stream_notice(notice: &Value, now_ms: u64) -> Result<Option<StreamNotice>, Rejection> {
    if notice.get("productId").and_then(int_of) != Some(5) {
        return Ok(None);
    }
    let null = Value::Null;
    let payload = notice.get("payload").unwrap_or(&null);
    let converter = payload.get("converter").unwrap_or(&null);
    let id = str_of(converter, "id")
        .ok_or_else(|| Rejection::Malformed("Agora Media Push notification without converter.id".into()))?;
    let occurred_at_ms = payload.get("lts").and_then(int_of).filter(|t| *t > 0).map_or(now_ms, |t| t as u64);
    let (output_status, error) = match notice.get("eventType").and_then(int_of) {
        Some(1..=3) => (str_of(converter, "state").map(output_status), None),
        Some(4) => match str_of(payload, "destroyReason") {
            // Deleted by us, or idle once everyone left: the push is over, not broken.
            Some("Delete Request" | "Idle Timeout") | None => (Some(OutputStatus::Ended), None),
            Some(_) => (Some(OutputStatus::Failed), Some("Agora stopped pushing to this ingest (an internal error)")),
        },
        _ => return Ok(None),
    };
    let error = error
        .or((output_status == Some(OutputStatus::Failed)).then_some("Agora could not push to this ingest"))
        .map(str::to_owned);
    // Our converters are named `{stream}_{output}`; another name is not ours, and without
    // one only the id can tell.
    let job = match str_of(converter, "name").and_then(|name| name.rsplit_once('_')) {
        Some((stream, output)) => {
            StreamJob::Output { stream: stream.to_owned(), output: output.to_owned(), vendor_ref: id.to_owned() }
        }
        None => StreamJob::OutputRef(id.to_owned()),
    };
    Ok(Some(StreamNotice { vendor: NAME, job, occurred_at_ms, status: None, output_status, pushes: Vec::new(), error }))
}

fn channel_event(
    notice_id: &str,
    event_type: i64,
    payload: &Value,
    now_ms: u64,
) -> Result<Option<Incoming>, Rejection> {
    let kind = match event_type {
        101 => EventType::RoomStarted,
        102 => EventType::RoomFinished,
        103 | 105 | 107 => EventType::ParticipantJoined,
        104 | 106 | 108 => EventType::ParticipantLeft,
        _ => return Ok(None),
    };
    let channel = str_of(payload, "channelName")
        .ok_or_else(|| Rejection::Malformed(format!("Agora event {event_type} without channelName")))?;
    let occurred_at_ms = payload.get("ts").and_then(int_of).map_or(now_ms, |s| (s.max(0) as u64) * 1000);
    let mut incoming = incoming(notice_id, channel, kind, occurred_at_ms, json!({ "vendor_event": event_type }));
    if matches!(kind, EventType::ParticipantJoined | EventType::ParticipantLeft) {
        if is_bot(payload) {
            return Ok(None);
        }
        let uid = payload
            .get("uid")
            .and_then(int_of)
            .and_then(|u| u32::try_from(u).ok())
            .ok_or_else(|| Rejection::Malformed(format!("Agora event {event_type} without a uid")))?;
        incoming.who = Some(Who::Uid { uid, account: str_of(payload, "account").map(str::to_owned) });
        incoming.data["uid"] = json!(uid);
        for field in ["platform", "reason", "duration", "clientSeq"] {
            if let Some(v) = payload.get(field).and_then(int_of) {
                incoming.data[field] = json!(v);
            }
        }
        // A join and its leave name the same presence by the uid and the join second
        // (leave `ts` − `duration`).
        let (joined_at_ms, left_at_ms) = if kind == EventType::ParticipantJoined {
            (occurred_at_ms, None)
        } else {
            let duration_ms = payload.get("duration").and_then(int_of).unwrap_or(0).max(0) as u64 * 1000;
            (occurred_at_ms.saturating_sub(duration_ms), Some(occurred_at_ms))
        };
        incoming.session = Some(Session {
            key: format!("{uid}:{}", joined_at_ms / 1000),
            joined_at_ms: Some(joined_at_ms),
            left_at_ms,
        });
    }
    Ok(Some(incoming))
}

fn recording_event(
    notice_id: &str,
    event_type: i64,
    payload: &Value,
    now_ms: u64,
) -> Result<Option<Incoming>, Rejection> {
    let null = Value::Null;
    let details = payload.get("details").unwrap_or(&null);
    let (kind, status) = match event_type {
        40 => (EventType::RecordingStarted, Some(RecordingStatus::Active)),
        31 => (EventType::RecordingUpdated, None),
        11 => {
            let failed = details.get("exitStatus").and_then(int_of).unwrap_or(0) != 0;
            (EventType::RecordingEnded, Some(if failed { RecordingStatus::Failed } else { RecordingStatus::Complete }))
        }
        _ => return Ok(None),
    };
    let channel = str_of(payload, "cname")
        .ok_or_else(|| Rejection::Malformed(format!("Agora recording event {event_type} without cname")))?;
    let sid = str_of(payload, "sid")
        .ok_or_else(|| Rejection::Malformed(format!("Agora recording event {event_type} without sid")))?;
    let occurred_at_ms = payload.get("sendts").and_then(int_of).map_or(now_ms, |ms| ms.max(0) as u64);
    let mut data = json!({ "vendor_event": event_type, "recording_id": sid });
    if let Some(status) = status {
        data["status"] = json!(status.as_str());
    }
    // `fileList`: `[{fileName, …}]` or one m3u8 name; Agora reports no sizes or durations.
    let files: Option<Vec<Value>> = match details.get("fileList") {
        Some(Value::Array(items)) => {
            Some(items.iter().filter_map(|f| file_entry(str_of(f, "fileName"), None, None)).collect())
        }
        Some(Value::String(name)) => Some(file_entry(Some(name), None, None).into_iter().collect()),
        _ => None,
    };
    if let Some(files) = files {
        data["files"] = json!(files);
    }
    let mut incoming = incoming(notice_id, channel, kind, occurred_at_ms, data);
    incoming.recording = Some(RecordingChange { vendor_recording_id: sid.to_owned(), status, pushes: Vec::new() });
    Ok(Some(incoming))
}

/// An Agora notice about `channel`, deduplicated by its `noticeId`; who, session and recording
/// are filled in by the caller where the event has them.
fn incoming(notice_id: &str, channel: &str, kind: EventType, occurred_at_ms: u64, data: Value) -> Incoming {
    Incoming {
        vendor: NAME,
        dedupe_key: notice_id.to_owned(),
        vendor_room: channel.to_owned(),
        kind,
        who: None,
        occurred_at_ms,
        session: None,
        recording: None,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body as the intake reads it when it is no Media Push notice.
    fn parse(body: &[u8], now_ms: u64) -> Result<Option<Incoming>, Rejection> {
        parse_notice(&read(body)?, now_ms)
    }

    /// Agora's documented signature example: secret `secret` and this exact body.
    const DOC_BODY: &[u8] = br#"{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f","notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}"#;
    const DOC_SHA1: &str = "033c62f40f687675f17f0f41f91a40c71c0f134c";
    const DOC_SHA256: &str = "6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99";

    #[test]
    fn documented_example_verifies_with_either_signature() {
        assert_eq!(verify("secret", Some(DOC_SHA256), None, DOC_BODY), Ok(()));
        assert_eq!(verify("secret", None, Some(DOC_SHA1), DOC_BODY), Ok(()));
        assert_eq!(verify("secret", Some(&DOC_SHA256.to_uppercase()), None, DOC_BODY), Ok(()));
        // V2 wins when present: a right V1 does not rescue a wrong V2.
        assert!(verify("secret", Some(DOC_SHA1), Some(DOC_SHA1), DOC_BODY).is_err());
        assert!(verify("secret", None, None, DOC_BODY).is_err());
        assert!(verify("other", Some(DOC_SHA256), None, DOC_BODY).is_err());
        let mut tampered = DOC_BODY.to_vec();
        tampered[20] ^= 1;
        assert!(verify("secret", Some(DOC_SHA256), None, &tampered).is_err());
        // An unknown event type verifies but is not part of the stream.
        assert_eq!(parse(DOC_BODY, 0).unwrap(), None);
    }

    #[test]
    fn join_and_leave_name_the_same_session() {
        let join = br#"{"noticeId":"n1","productId":1,"eventType":103,"notifyMs":1700000000100,
            "payload":{"channelName":"rm_1","uid":7,"platform":7,"clientSeq":1,"ts":1700000000,"account":""}}"#;
        let leave = br#"{"noticeId":"n2","productId":1,"eventType":104,"notifyMs":1700000125100,
            "payload":{"channelName":"rm_1","uid":7,"platform":7,"clientSeq":2,"ts":1700000125,"reason":1,"duration":125}}"#;
        let j = parse(join, 0).unwrap().unwrap();
        let l = parse(leave, 0).unwrap().unwrap();
        assert_eq!(j.who, Some(Who::Uid { uid: 7, account: None }));
        assert_eq!(j.session.as_ref().unwrap().key, l.session.as_ref().unwrap().key);
        assert_eq!(l.session.unwrap().seconds(), Some(125));
        let recorder = br#"{"noticeId":"n3","productId":1,"eventType":103,
            "payload":{"channelName":"rm_1","uid":9,"platform":6,"clientType":10,"ts":1700000000}}"#;
        assert_eq!(parse(recorder, 0).unwrap(), None);
    }

    #[test]
    fn recording_files_keep_only_our_fields() {
        // Agora's fileList entries carry uids, track types and whatever Agora adds later; only
        // the file's name reaches the event, as the recording API's `location`.
        let uploaded = br#"{"noticeId":"n9","productId":3,"eventType":31,"notifyMs":1700000000000,
            "payload":{"cname":"rm_1","sid":"sid1","sendts":1700000000000,"details":{"msgName":"uploaded",
            "status":0,"fileList":[{"fileName":"calls/sid1_rm_1.m3u8","trackType":"audio_and_video","uid":"0",
            "mixedAllUser":true,"isPlayable":true,"sliceStartTime":1700000000000,"note":"free vendor text"}]}}}"#;
        let event = parse(uploaded, 0).unwrap().unwrap();
        assert_eq!(
            event.data["files"],
            json!([{"location": "calls/sid1_rm_1.m3u8", "size_bytes": null, "duration_ms": null}])
        );
        let text = event.data.to_string();
        assert!(!text.contains("free vendor text") && !text.contains("trackType"), "{text}");
        // `fileListMode: "string"`: one m3u8 name.
        let string_mode = br#"{"noticeId":"n10","productId":3,"eventType":31,
            "payload":{"cname":"rm_1","sid":"sid1","details":{"fileList":"sid1_rm_1.m3u8"}}}"#;
        assert_eq!(
            parse(string_mode, 0).unwrap().unwrap().data["files"],
            json!([{"location": "sid1_rm_1.m3u8", "size_bytes": null, "duration_ms": null}])
        );
        let odd = br#"{"noticeId":"n11","productId":3,"eventType":31,
            "payload":{"cname":"rm_1","sid":"sid1","details":{"fileList":{"msg":"free vendor text"}}}}"#;
        assert_eq!(parse(odd, 0).unwrap().unwrap().data.get("files"), None);
    }

    #[test]
    fn media_push_notices_name_the_converter_and_its_state() {
        let notice = |event_type: u32, converter: Value, extra: Value| {
            let mut payload = json!({"converter": converter, "lts": 1_603_456_600_000_u64});
            payload.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let body = json!({"noticeId": "n", "productId": 5, "eventType": event_type, "payload": payload});
            stream_notice(&body, 7).unwrap().unwrap()
        };
        let created = notice(1, json!({"id": "cv1", "name": "str_Ab_c_o2", "state": "connecting"}), json!({}));
        assert_eq!(
            created.job,
            StreamJob::Output { stream: "str_Ab_c".into(), output: "o2".into(), vendor_ref: "cv1".into() }
        );
        assert_eq!((created.output_status, created.occurred_at_ms), (Some(OutputStatus::Starting), 1_603_456_600_000));
        let failed = notice(3, json!({"id": "cv1", "state": "failed"}), json!({}));
        assert_eq!(failed.job, StreamJob::OutputRef("cv1".into()));
        assert_eq!(failed.output_status, Some(OutputStatus::Failed));
        assert_eq!(failed.error.as_deref(), Some("Agora could not push to this ingest"));
        let running = notice(3, json!({"id": "cv1", "state": "running"}), json!({}));
        assert_eq!((running.output_status, running.error), (Some(OutputStatus::Active), None));
        for (reason, status) in [
            ("Delete Request", OutputStatus::Ended),
            ("Idle Timeout", OutputStatus::Ended),
            ("Internal Error", OutputStatus::Failed),
        ] {
            let gone = notice(4, json!({"id": "cv1", "name": "s_o1"}), json!({"destroyReason": reason}));
            assert_eq!(gone.output_status, Some(status), "{reason}");
            assert_eq!(gone.error.is_some(), status == OutputStatus::Failed, "{reason}");
        }
        // Not Media Push, or not a converter event: not a stream notice.
        let channel = br#"{"noticeId":"n","productId":1,"eventType":103,"payload":{}}"#;
        assert_eq!(stream_notice(&read(channel).unwrap(), 0), Ok(None));
        let odd = br#"{"noticeId":"n","productId":5,"eventType":9,"payload":{"converter":{"id":"cv1"}}}"#;
        assert_eq!(stream_notice(&read(odd).unwrap(), 0), Ok(None));
        let no_id = br#"{"noticeId":"n","productId":5,"eventType":3,"payload":{"converter":{}}}"#;
        assert!(matches!(stream_notice(&read(no_id).unwrap(), 0), Err(Rejection::Malformed(_))));
    }
}

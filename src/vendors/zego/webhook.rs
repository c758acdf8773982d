//! ZEGOCLOUD server callbacks: `signature` = hex SHA-1 of the lexicographically sorted
//! concatenation of the callback secret, `timestamp` and `nonce`. The signature does not
//! cover the body, so a callback is also refused when its timestamp is more than five minutes
//! off, and `ingest` refuses a nonce seen before with a different body (a replay).
//!
//! Bodies come as JSON or form-encoded; every field is read as text. Events: `room_create`,
//! `room_close`, `room_login`, `room_logout` (login/logout times in ms, `user_role` 4 is a
//! recording or moderation client, not a participant), `stream_create`/`stream_close`, and
//! cloud recording status callbacks (`task_id`, numeric `event_type`). Stream mixing's
//! `mix_start`/`mix_stop` are about our live streams (`stream_notice`): `task_id` is
//! `{appid}:{TaskId}` (our stream id), `channel_id` the room.

use serde_json::{json, Map, Value};
use sha1::{Digest, Sha1};

use crate::domain::events::{
    file_entry, int_of, same, str_of, EventType, Incoming, RecordingChange, Rejection, Session, Who,
};
use crate::domain::recording::RecordingStatus;
use crate::domain::stream::{StreamJob, StreamNotice, StreamStatus};
use crate::http::percent_decode;

pub const NAME: &str = "zego";

/// How far a callback's `timestamp` may be from our clock.
pub const MAX_SKEW_S: u64 = 300;

/// The callback's fields, from a JSON object or a form-encoded body.
pub fn fields(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let text = std::str::from_utf8(body).map_err(|_| Rejection::Malformed("ZEGO callback is not UTF-8".into()))?;
    if text.trim_start().starts_with('{') {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(Rejection::Malformed("ZEGO callback is not a JSON object".into())),
        }
    } else {
        Ok(text
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(&k.replace('+', " ")), Value::String(percent_decode(&v.replace('+', " "))))
            })
            .collect())
    }
}

/// A field as text, whether it came as a string or a number.
fn text(fields: &Map<String, Value>, key: &str) -> Option<String> {
    match fields.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The SHA-1 signature check and the timestamp window. Returns the nonce for the replay check.
pub fn verify(secret: &str, fields: &Map<String, Value>, now_s: u64) -> Result<String, Rejection> {
    let (Some(signature), Some(timestamp), Some(nonce)) =
        (text(fields, "signature"), text(fields, "timestamp"), text(fields, "nonce"))
    else {
        return Err(Rejection::Unauthenticated("ZEGO callback without signature, timestamp or nonce"));
    };
    let mut parts = [secret, timestamp.as_str(), nonce.as_str()];
    parts.sort_unstable();
    let expected = crate::crypto::hex::lower(&Sha1::digest(parts.concat().as_bytes()));
    if !same(expected.as_bytes(), signature.to_ascii_lowercase().as_bytes()) {
        return Err(Rejection::Unauthenticated("ZEGO signature does not match"));
    }
    let ts: u64 = timestamp.trim().parse().map_err(|_| Rejection::Unauthenticated("ZEGO timestamp is not a number"))?;
    if ts.abs_diff(now_s) > MAX_SKEW_S {
        return Err(Rejection::Unauthenticated("ZEGO timestamp is stale"));
    }
    Ok(nonce)
}

/// A stream mixing callback as a notice about the stream whose task it names; `None` for
/// every other callback.
pub fn stream_notice(fields: &Map<String, Value>, now_ms: u64) -> Result<Option<StreamNotice>, Rejection> {
    let status = match text(fields, "event").as_deref() {
        Some("mix_start") => StreamStatus::Active,
        Some("mix_stop") => StreamStatus::Ended,
        _ => return Ok(None),
    };
    let task =
        text(fields, "task_id").ok_or_else(|| Rejection::Malformed("ZEGO mix callback without task_id".into()))?;
    let room = text(fields, "channel_id")
        .map(|r| if r.contains('%') { percent_decode(&r) } else { r })
        .ok_or_else(|| Rejection::Malformed("ZEGO mix callback without channel_id".into()))?;
    let task = task.split_once(':').map_or(task.as_str(), |(_appid, id)| id).to_owned();
    let occurred_at_ms =
        fields.get("timestamp").and_then(int_of).filter(|t| *t > 0).map_or(now_ms, |t| t as u64 * 1000);
    Ok(Some(StreamNotice {
        vendor: NAME,
        job: StreamJob::Stream { vendor_room: room, vendor_stream_id: task },
        occurred_at_ms,
        status: Some(status),
        output_status: None,
        pushes: Vec::new(),
        error: None,
    }))
}

pub fn parse(fields: &Map<String, Value>, nonce: &str, now_ms: u64) -> Result<Option<Incoming>, Rejection> {
    let get = |k: &str| text(fields, k);
    let ms = |k: &str| fields.get(k).and_then(int_of).filter(|v| *v > 0).map(|v| v as u64);
    let secs = |k: &str| ms(k).map(|s| s * 1000);
    let room = get("room_id").map(|r| if r.contains('%') { percent_decode(&r) } else { r });
    if let Some(task) = get("task_id") {
        return recording_event(fields, &task, room, now_ms);
    }
    let Some(event) = get("event") else {
        return Err(Rejection::Malformed("ZEGO callback without 'event'".into()));
    };
    let kind = match event.as_str() {
        "room_create" => EventType::RoomStarted,
        "room_close" => EventType::RoomFinished,
        "room_login" => EventType::ParticipantJoined,
        "room_logout" => EventType::ParticipantLeft,
        "stream_create" => EventType::TrackPublished,
        "stream_close" => EventType::TrackUnpublished,
        _ => return Ok(None),
    };
    let room = room.ok_or_else(|| Rejection::Malformed(format!("ZEGO {event} without room_id")))?;
    let session_of_room = get("room_session_id").or_else(|| get("room_seq")).unwrap_or_default();
    let fallback_ms = secs("timestamp").unwrap_or(now_ms);
    let mut incoming = Incoming {
        vendor: NAME,
        dedupe_key: String::new(),
        vendor_room: room.clone(),
        kind,
        who: None,
        occurred_at_ms: fallback_ms,
        session: None,
        recording: None,
        data: json!({ "vendor_event": event }),
    };
    match kind {
        EventType::RoomStarted | EventType::RoomFinished => {
            let at = if kind == EventType::RoomStarted { ms("room_create_time") } else { ms("room_close_time") };
            incoming.occurred_at_ms = at.unwrap_or(fallback_ms);
            incoming.dedupe_key = format!("{event}:{room}:{session_of_room}");
            if let Some(reason) = get("close_reason").filter(|r| is_code(r)) {
                incoming.data["reason"] = json!(reason);
            }
        }
        EventType::ParticipantJoined | EventType::ParticipantLeft => {
            if get("user_role").as_deref() == Some("4") {
                return Ok(None);
            }
            let user = get("user_account")
                .map(|u| if u.contains('%') { percent_decode(&u) } else { u })
                .ok_or_else(|| Rejection::Malformed(format!("ZEGO {event} without user_account")))?;
            let session = get("session_id").unwrap_or_else(|| nonce.to_owned());
            let joined_at_ms = ms("login_time");
            let left_at_ms =
                if kind == EventType::ParticipantLeft { ms("logout_time").or(Some(fallback_ms)) } else { None };
            incoming.occurred_at_ms = left_at_ms.or(joined_at_ms).unwrap_or(fallback_ms);
            incoming.dedupe_key = format!("{event}:{room}:{session}");
            if let Some(reason) = get("reason").filter(|r| is_code(r)) {
                incoming.data["reason"] = json!(reason);
            }
            incoming.who = Some(Who::Identity(user));
            incoming.session = Some(Session {
                key: session,
                joined_at_ms: joined_at_ms.or((kind == EventType::ParticipantJoined).then_some(fallback_ms)),
                left_at_ms,
            });
        }
        _ => {
            let user = get("user_id").ok_or_else(|| Rejection::Malformed(format!("ZEGO {event} without user_id")))?;
            let stream = get("stream_id").unwrap_or_default();
            incoming.dedupe_key =
                format!("{event}:{room}:{stream}:{}", get("stream_seq").unwrap_or_else(|| nonce.to_owned()));
            incoming.occurred_at_ms = ms("create_time_ms").or(ms("destroy_timemillis")).unwrap_or(fallback_ms);
            incoming.data["stream_id"] = json!(stream);
            incoming.who = Some(Who::Identity(user));
        }
    }
    Ok(Some(incoming))
}

/// ZEGO's reasons are small numeric codes; anything else is not passed on to tenants (vendor
/// text never reaches event data).
fn is_code(reason: &str) -> bool {
    (1..=4).contains(&reason.len()) && reason.bytes().all(|b| b.is_ascii_digit())
}

fn recording_event(
    fields: &Map<String, Value>,
    task: &str,
    room: Option<String>,
    now_ms: u64,
) -> Result<Option<Incoming>, Rejection> {
    let event_type = fields.get("event_type").and_then(int_of);
    let null = Value::Null;
    let detail = fields.get("detail").unwrap_or(&null);
    let (kind, status) = match event_type {
        Some(5) => (EventType::RecordingUpdated, Some(RecordingStatus::Stopping)),
        Some(1) => {
            let partial = detail.get("upload_status").and_then(int_of) == Some(2);
            (EventType::RecordingEnded, Some(if partial { RecordingStatus::Failed } else { RecordingStatus::Complete }))
        }
        Some(2) => (EventType::RecordingEnded, Some(RecordingStatus::Failed)),
        Some(7) => (EventType::RecordingUpdated, None),
        _ => return Ok(None),
    };
    let room = room.ok_or_else(|| Rejection::Malformed("ZEGO recording callback without room_id".into()))?;
    let sequence = fields.get("sequence").and_then(int_of).unwrap_or(0);
    let mut data = json!({ "vendor_event": event_type, "recording_id": task });
    if let Some(status) = status {
        data["status"] = json!(status.as_str());
    }
    // `file_info[]` has RecordFiles' fields in snake_case; only where, how big and how long.
    if let Some(Value::Array(items)) = detail.get("file_info") {
        let files: Vec<Value> = items
            .iter()
            .filter_map(|f| {
                let location = str_of(f, "file_url").or_else(|| str_of(f, "file_id"));
                file_entry(location, f.get("file_size"), f.get("duration"))
            })
            .collect();
        data["files"] = json!(files);
    }
    Ok(Some(Incoming {
        vendor: NAME,
        dedupe_key: format!("recording:{task}:{}:{sequence}", event_type.unwrap_or(0)),
        vendor_room: room,
        kind,
        who: None,
        occurred_at_ms: fields.get("timestamp").and_then(int_of).map_or(now_ms, |s| s.max(0) as u64 * 1000),
        session: None,
        recording: Some(RecordingChange { vendor_recording_id: task.to_owned(), status, pushes: Vec::new() }),
        data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> Map<String, Value> {
        fields(s.as_bytes()).unwrap()
    }

    #[test]
    fn documented_example_verifies() {
        // ZEGO's signature example: nonce 123412, timestamp 1470820198, secret "secret".
        let f = form("nonce=123412&timestamp=1470820198&signature=5bd59fd62953a8059fb7eaba95720f66d19e4517");
        assert_eq!(verify("secret", &f, 1_470_820_198), Ok("123412".into()));
        assert!(verify("secret2", &f, 1_470_820_198).is_err());
        // Stale: the same signed triple five minutes and one second later.
        assert_eq!(
            verify("secret", &f, 1_470_820_198 + 301),
            Err(Rejection::Unauthenticated("ZEGO timestamp is stale"))
        );
        assert!(verify("secret", &form("nonce=123412&timestamp=1470820198"), 1_470_820_198).is_err());
        // JSON bodies carry the same fields; a numeric timestamp is read as text.
        let j = fields(
            br#"{"nonce":"123412","timestamp":1470820198,"signature":"5bd59fd62953a8059fb7eaba95720f66d19e4517"}"#,
        )
        .unwrap();
        assert!(verify("secret", &j, 1_470_820_198).is_ok());
    }

    #[test]
    fn login_and_logout_share_the_session() {
        let login = form("event=room_login&room_id=rm_1&user_account=alice&session_id=s1&login_time=1700000000000&user_role=1&nonce=a&timestamp=1700000000");
        let logout = form("event=room_logout&room_id=rm_1&user_account=alice&session_id=s1&login_time=1700000000000&logout_time=1700000061000&nonce=b&timestamp=1700000061");
        let j = parse(&login, "a", 0).unwrap().unwrap();
        let l = parse(&logout, "b", 0).unwrap().unwrap();
        assert_eq!(j.kind, EventType::ParticipantJoined);
        assert_eq!(j.session.as_ref().unwrap().key, "s1");
        assert_eq!(l.session.unwrap().seconds(), Some(61));
        assert_ne!(j.dedupe_key, l.dedupe_key);
        let recorder =
            form("event=room_login&room_id=rm_1&user_account=rec&session_id=s2&user_role=4&nonce=c&timestamp=1");
        assert_eq!(parse(&recorder, "c", 0).unwrap(), None);
    }

    #[test]
    fn reasons_are_codes_never_vendor_text() {
        let logout = |reason: &str| {
            form(&format!("event=room_logout&room_id=rm_1&user_account=alice&session_id=s1&logout_time=1700000061000&reason={reason}&nonce=b&timestamp=1700000061"))
        };
        assert_eq!(parse(&logout("3"), "b", 0).unwrap().unwrap().data["reason"], "3");
        for text in ["kicked+by+10.0.3.7", "3+internal", "123456789"] {
            assert!(parse(&logout(text), "b", 0).unwrap().unwrap().data.get("reason").is_none(), "{text}");
        }
        let close =
            form("event=room_close&room_id=rm_1&room_session_id=9&close_reason=node+zg-7+gone&nonce=c&timestamp=1");
        assert!(parse(&close, "c", 0).unwrap().unwrap().data.get("reason").is_none());
    }

    #[test]
    fn recording_files_keep_only_our_fields() {
        // A vendor's file object may grow fields (ZEGO: "parameters may be added") and carries
        // user names; only location, size and duration reach the event.
        let upload = fields(
            br#"{"task_id":"T1","room_id":"rm_1","event_type":1,"sequence":3,"timestamp":1700000000,
                "detail":{"upload_status":1,"file_info":[{"user_id":"u1","user_name":"Alice Secret",
                "file_url":"https://bucket.example/rec/a.mp4","file_id":"rec/a.mp4","file_size":2048,
                "duration":61000,"media_track_type":3,"status":3,"vendor_note":"internal text"}]}}"#,
        )
        .unwrap();
        let event = parse(&upload, "n", 0).unwrap().unwrap();
        assert_eq!(
            event.data["files"],
            json!([{"location": "https://bucket.example/rec/a.mp4", "size_bytes": 2048, "duration_ms": 61000}])
        );
        let text = event.data.to_string();
        assert!(!text.contains("Alice") && !text.contains("internal text") && !text.contains("user_id"), "{text}");
        // Not a list, or an entry without a location: no files rather than the vendor's value.
        let odd =
            fields(br#"{"task_id":"T1","room_id":"rm_1","event_type":1,"detail":{"file_info":"free text"}}"#).unwrap();
        assert_eq!(parse(&odd, "n", 0).unwrap().unwrap().data.get("files"), None);
    }

    #[test]
    fn mix_callbacks_are_stream_notices_by_task_and_room() {
        let mix = |event: &str| {
            let body = json!({"appid": "1234567890", "event": event, "seq": "3", "task_id": "1234567890:str_Ab12",
                              "channel_id": "rm_1", "publish_id": "u1", "timestamp": "1700000000"});
            stream_notice(body.as_object().unwrap(), 5).unwrap().unwrap()
        };
        let started = mix("mix_start");
        assert_eq!(started.job, StreamJob::Stream { vendor_room: "rm_1".into(), vendor_stream_id: "str_Ab12".into() });
        assert_eq!((started.status, started.occurred_at_ms), (Some(StreamStatus::Active), 1_700_000_000_000));
        assert_eq!(mix("mix_stop").status, Some(StreamStatus::Ended));
        let other = json!({"event": "stream_create", "task_id": "x"});
        assert_eq!(stream_notice(other.as_object().unwrap(), 0), Ok(None));
        let roomless = json!({"event": "mix_stop", "task_id": "1:x"});
        assert!(matches!(stream_notice(roomless.as_object().unwrap(), 0), Err(Rejection::Malformed(_))));
    }
}

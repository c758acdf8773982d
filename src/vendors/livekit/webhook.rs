//! LiveKit webhooks: verified as livekit/protocol's `webhook.Receive` does, read as the
//! protojson `WebhookEvent` the server sends.
//!
//! The `Authorization` header carries a raw HS256 JWT (a `Bearer ` prefix is tolerated)
//! signed with the secret of the API key in `iss`; `exp` is required (60 s leeway, as the
//! server's own verifier); the `sha256` claim is the standard, padded base64 of the SHA-256 of
//! the exact body bytes. The body is protojson: lowerCamelCase keys, int64 values as strings,
//! zero values left out (a missing egress `status` is EGRESS_STARTING).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::domain::events::{int_of, same, str_of, EventType, Incoming, RecordingChange, Rejection, Session, Who};
use crate::domain::recording::RecordingStatus;
use crate::vendors::livekit::streaming::push_result;
use crate::vendors::livekit::{egress_client_error, egress_status_named};

pub const NAME: &str = "livekit";

/// Clock leeway on `exp` and `nbf`, as LiveKit's Go verifier (`tokenLeeway`).
pub const LEEWAY_S: i64 = 60;

/// Checks the `Authorization` header against the body with our API key pair.
pub fn verify(key: &str, secret: &str, authorization: Option<&str>, body: &[u8], now_s: u64) -> Result<(), Rejection> {
    let token = authorization
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Rejection::Unauthenticated("no Authorization header"))?;
    let token = match token.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => token[7..].trim_start(),
        _ => token,
    };
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Unauthenticated("not a JWT"));
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| Rejection::Unauthenticated("not a JWT"));
    let header: Value =
        serde_json::from_slice(&decode(header)?).map_err(|_| Rejection::Unauthenticated("unreadable JWT header"))?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(Rejection::Unauthenticated("only HS256 is accepted"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(&token.as_bytes()[..header_len(token)]);
    if !same(&mac.finalize().into_bytes(), &decode(signature)?) {
        return Err(Rejection::Unauthenticated("bad JWT signature"));
    }
    let claims: Value =
        serde_json::from_slice(&decode(payload)?).map_err(|_| Rejection::Unauthenticated("unreadable JWT claims"))?;
    if claims.get("iss").and_then(Value::as_str) != Some(key) {
        return Err(Rejection::Unauthenticated("JWT issuer is not our API key"));
    }
    let now = now_s as i64;
    let exp = claims.get("exp").and_then(int_of).ok_or(Rejection::Unauthenticated("JWT without exp"))?;
    if now > exp + LEEWAY_S {
        return Err(Rejection::Unauthenticated("JWT expired"));
    }
    if let Some(nbf) = claims.get("nbf").and_then(int_of) {
        if now + LEEWAY_S < nbf {
            return Err(Rejection::Unauthenticated("JWT not valid yet"));
        }
    }
    let expected = STANDARD.encode(Sha256::digest(body));
    let claimed = claims.get("sha256").and_then(Value::as_str).unwrap_or("");
    if !same(expected.as_bytes(), claimed.as_bytes()) {
        return Err(Rejection::Unauthenticated("body does not match the sha256 claim"));
    }
    Ok(())
}

/// Length of `header.payload`, the signed part of a JWT.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

/// Participant kinds that are not people (livekit_models.proto `ParticipantInfo.Kind`).
fn is_bot(participant: &Value) -> bool {
    match participant.get("kind") {
        Some(Value::String(k)) => matches!(k.as_str(), "INGRESS" | "EGRESS" | "AGENT"),
        Some(v) => matches!(int_of(v), Some(1 | 2 | 4)),
        None => false,
    }
}

/// When a participant left. The server stamps `createdAt` in whole seconds when it queues the
/// event, after the leave, while the join is in milliseconds (`joinedAtMs`): a leave stamped
/// in the second of the join happened after the join and no later than the end of that second.
/// Read as the start of the second, it would fall before the join and count no time at all.
fn left_at_ms(stamped_ms: u64, joined_at_ms: Option<u64>, stamped_by_server: bool) -> u64 {
    match joined_at_ms {
        Some(joined) if stamped_by_server && stamped_ms < joined => (stamped_ms + 999).max(joined),
        _ => stamped_ms,
    }
}

/// Reads a verified body. `Ok(None)` for events that are not part of the normalized stream
/// (connection aborted before joining, ingress, agent jobs, non-human participants).
pub fn parse(body: &[u8], now_ms: u64) -> Result<Option<Incoming>, Rejection> {
    let event: Value =
        serde_json::from_slice(body).map_err(|e| Rejection::Malformed(format!("not a LiveKit webhook event: {e}")))?;
    let name = str_of(&event, "event").ok_or_else(|| Rejection::Malformed("LiveKit event without 'event'".into()))?;
    let kind = match name {
        "room_started" => EventType::RoomStarted,
        "room_finished" => EventType::RoomFinished,
        "participant_joined" => EventType::ParticipantJoined,
        "participant_left" => EventType::ParticipantLeft,
        "track_published" => EventType::TrackPublished,
        "track_unpublished" => EventType::TrackUnpublished,
        "egress_started" => EventType::RecordingStarted,
        "egress_updated" => EventType::RecordingUpdated,
        "egress_ended" => EventType::RecordingEnded,
        _ => return Ok(None),
    };
    let null = Value::Null;
    let room = event.get("room").unwrap_or(&null);
    let participant = event.get("participant").unwrap_or(&null);
    let egress = event.get("egressInfo").unwrap_or(&null);
    let occurred_at_ms = event.get("createdAt").and_then(int_of).map_or(now_ms, |s| (s.max(0) as u64) * 1000);
    let vendor_room = str_of(room, "name")
        .or_else(|| str_of(egress, "roomName"))
        .ok_or_else(|| Rejection::Malformed(format!("LiveKit {name} without a room name")))?
        .to_owned();
    let dedupe_key = match str_of(&event, "id") {
        Some(id) => id.to_owned(),
        None => crate::crypto::hex::lower(&Sha256::digest(body)),
    };
    let mut incoming = Incoming {
        vendor: NAME,
        dedupe_key,
        vendor_room,
        kind,
        who: None,
        occurred_at_ms,
        session: None,
        recording: None,
        data: json!({ "vendor_event": name }),
    };
    let room_sid = str_of(room, "sid");
    if let Some(sid) = room_sid {
        incoming.data["room_sid"] = json!(sid);
    }
    match kind {
        EventType::ParticipantJoined
        | EventType::ParticipantLeft
        | EventType::TrackPublished
        | EventType::TrackUnpublished => {
            if is_bot(participant) {
                return Ok(None);
            }
            let identity = str_of(participant, "identity")
                .ok_or_else(|| Rejection::Malformed(format!("LiveKit {name} without a participant identity")))?;
            incoming.who = Some(Who::Identity(identity.to_owned()));
            let sid = str_of(participant, "sid").unwrap_or(identity);
            incoming.data["participant_sid"] = json!(sid);
            if matches!(kind, EventType::ParticipantJoined | EventType::ParticipantLeft) {
                let joined_at_ms = participant
                    .get("joinedAtMs")
                    .and_then(int_of)
                    .or_else(|| participant.get("joinedAt").and_then(int_of).map(|s| s * 1000))
                    .filter(|ms| *ms > 0)
                    .map(|ms| ms as u64);
                let left_at_ms = (kind == EventType::ParticipantLeft)
                    .then(|| left_at_ms(occurred_at_ms, joined_at_ms, event.get("createdAt").is_some()));
                incoming.session = Some(Session {
                    key: sid.to_owned(),
                    joined_at_ms: joined_at_ms.or((kind == EventType::ParticipantJoined).then_some(occurred_at_ms)),
                    left_at_ms,
                });
            } else if let Some(track) = event.get("track") {
                incoming.data["track"] = json!({
                    "sid": str_of(track, "sid"),
                    "type": str_of(track, "type").unwrap_or("AUDIO"),
                    "source": str_of(track, "source"),
                });
            }
        }
        EventType::RecordingStarted | EventType::RecordingUpdated | EventType::RecordingEnded => {
            let egress_id = str_of(egress, "egressId")
                .ok_or_else(|| Rejection::Malformed(format!("LiveKit {name} without egressInfo.egressId")))?;
            let status = match egress.get("status") {
                None => Some(RecordingStatus::Starting),
                Some(Value::String(s)) => egress_status_named(s),
                Some(_) => None,
            };
            incoming.data["recording_id"] = json!(egress_id);
            if let Some(status) = status {
                incoming.data["status"] = json!(status.as_str());
            }
            // The recorder's text goes to the log; the event carries our sentence for it.
            let ended_as = status.unwrap_or(RecordingStatus::Failed);
            if let Some(error) = str_of(egress, "error").and_then(|text| egress_client_error(egress_id, ended_as, text))
            {
                incoming.data["error"] = json!(error);
            }
            let results = egress.get("streamResults").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let pushes = results.iter().map(push_result).collect();
            incoming.recording = Some(RecordingChange { vendor_recording_id: egress_id.to_owned(), status, pushes });
        }
        // The gateway's own events: no LiveKit event maps to them.
        EventType::RoomStarted
        | EventType::RoomFinished
        | EventType::ParticipantBanned
        | EventType::ParticipantUnbanned
        | EventType::ParticipantMuted
        | EventType::ParticipantUnmuted
        | EventType::StreamStarted
        | EventType::StreamOutputFailed
        | EventType::StreamEnded
        | EventType::ParticipantEjected => {}
    }
    Ok(Some(incoming))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stream::OutputStatus;

    const KEY: &str = "APIkey";
    const SECRET: &str = "a-secret-of-some-length-0123456789";

    /// A token as the LiveKit server makes one (`auth.AccessToken.ToJWT` with the sha256 claim).
    fn token(claims: Value, secret: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn claims_for(body: &[u8], now: u64) -> Value {
        json!({"iss": KEY, "nbf": now, "iat": now, "exp": now + 300, "sha256": STANDARD.encode(Sha256::digest(body))})
    }

    #[test]
    fn accepts_what_the_server_sends_with_or_without_bearer() {
        let body = br#"{"event":"room_started","room":{"name":"rm_1"},"id":"EV_1","createdAt":"1700000000"}"#;
        let t = token(claims_for(body, 1_700_000_000), SECRET);
        assert_eq!(verify(KEY, SECRET, Some(&t), body, 1_700_000_000), Ok(()));
        assert_eq!(verify(KEY, SECRET, Some(&format!("Bearer {t}")), body, 1_700_000_000), Ok(()));
    }

    #[test]
    fn refuses_tampering_wrong_keys_expiry_and_other_algorithms() {
        let body = br#"{"event":"room_started","room":{"name":"rm_1"}}"#;
        let now = 1_700_000_000;
        let good = claims_for(body, now);
        let reject = |auth: Option<&str>, body: &[u8], at: u64| verify(KEY, SECRET, auth, body, at).is_err();
        assert!(reject(None, body, now));
        assert!(reject(
            Some(&token(good.clone(), SECRET)),
            br#"{"event":"room_finished","room":{"name":"rm_1"}}"#,
            now
        ));
        assert!(reject(Some(&token(good.clone(), "another-secret")), body, now));
        let mut other_iss = good.clone();
        other_iss["iss"] = json!("APIother");
        assert!(reject(Some(&token(other_iss, SECRET)), body, now));
        let mut no_exp = good.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(reject(Some(&token(no_exp, SECRET)), body, now));
        // exp + 60 s leeway is the last accepted second.
        assert!(!reject(Some(&token(good.clone(), SECRET)), body, now + 300 + 60));
        assert!(reject(Some(&token(good.clone(), SECRET)), body, now + 300 + 61));
        let mut no_sha = good.clone();
        no_sha.as_object_mut().unwrap().remove("sha256");
        assert!(reject(Some(&token(no_sha, SECRET)), body, now));
        // alg none, with or without a signature.
        let none =
            format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode(good.to_string()));
        assert!(reject(Some(&none), body, now));
        assert!(reject(Some("garbage"), body, now));
    }

    #[test]
    fn reads_protojson_participant_events() {
        let body = br#"{"event":"participant_left","room":{"sid":"RM_x","name":"rm_1"},
            "participant":{"sid":"PA_1","identity":"alice","state":"DISCONNECTED","joinedAt":"1700000000","joinedAtMs":"1700000000500"},
            "id":"EV_2","createdAt":"1700000090"}"#;
        let e = parse(body, 0).unwrap().unwrap();
        assert_eq!(e.kind, EventType::ParticipantLeft);
        assert_eq!(e.dedupe_key, "EV_2");
        assert_eq!(e.who, Some(Who::Identity("alice".into())));
        let s = e.session.unwrap();
        assert_eq!(
            (s.key.as_str(), s.joined_at_ms, s.left_at_ms),
            ("PA_1", Some(1_700_000_000_500), Some(1_700_000_090_000))
        );
        assert_eq!(s.seconds(), Some(90));
        let egress = br#"{"event":"participant_joined","room":{"name":"rm_1"},"participant":{"identity":"EG_x","kind":"EGRESS"},"id":"EV_3"}"#;
        assert_eq!(parse(egress, 0).unwrap(), None);
        let aborted = br#"{"event":"participant_connection_aborted","room":{"name":"rm_1"},"participant":{"identity":"a"},"id":"EV_4"}"#;
        assert_eq!(parse(aborted, 0).unwrap(), None);
    }

    /// As the server sent it: joined at .167 of a second, left (stamped `createdAt`, whole
    /// seconds) within that same second.
    #[test]
    fn a_leave_stamped_in_the_second_of_the_join_still_counts_a_second() {
        let body = br#"{"event":"participant_left","room":{"sid":"RM_x","name":"rm_1","departureTimeout":1},
            "participant":{"sid":"PA_b","identity":"bob","state":"DISCONNECTED","joinedAt":"1796072921","joinedAtMs":"1796072921167",
            "version":4,"permission":{"canSubscribe":true,"canPublish":true,"canPublishData":true},"disconnectReason":"CLIENT_INITIATED"},
            "id":"EV_XQExHk5Z3drt","createdAt":"1796072921"}"#;
        let e = parse(body, 0).unwrap().unwrap();
        assert_eq!(e.occurred_at_ms, 1_796_072_921_000, "the event keeps the server's stamp");
        let s = e.session.unwrap();
        assert_eq!(s.joined_at_ms, Some(1_796_072_921_167));
        // Left after joining and no later than the end of the stamped second.
        assert_eq!(s.left_at_ms, Some(1_796_072_921_999));
        assert_eq!(s.seconds(), Some(1));
        // A later second is read as its start, as before.
        let later =
            std::str::from_utf8(body).unwrap().replace(r#""createdAt":"1796072921""#, r#""createdAt":"1796072930""#);
        let s = parse(later.as_bytes(), 0).unwrap().unwrap().session.unwrap();
        assert_eq!((s.left_at_ms, s.seconds()), (Some(1_796_072_930_000), Some(9)));
    }

    #[test]
    fn an_egress_reports_each_url_it_pushes_to_and_no_status_is_active() {
        let body = br#"{"event":"egress_updated","id":"EV_8","egressInfo":{"egressId":"EG_1","roomName":"rm_1",
            "status":"EGRESS_ACTIVE","streamResults":[{"url":"rtmp://a/x"},{"url":"rtmp://b/y","status":"FAILED",
            "error":"the key y was refused"},{"url":"rtmp://c/z","status":"FINISHED"}]}}"#;
        let pushes = parse(body, 0).unwrap().unwrap().recording.unwrap().pushes;
        let seen: Vec<_> = pushes.iter().map(|p| (p.url.as_str(), p.status)).collect();
        assert_eq!(
            seen,
            [
                ("rtmp://a/x", OutputStatus::Active),
                ("rtmp://b/y", OutputStatus::Failed),
                ("rtmp://c/z", OutputStatus::Ended)
            ]
        );
        assert_eq!(pushes[1].error.as_deref(), Some("the ingest refused or dropped the stream"));
    }

    #[test]
    fn egress_status_zero_is_omitted_and_means_starting() {
        let body = br#"{"event":"egress_started","egressInfo":{"egressId":"EG_1","roomName":"rm_1"},"id":"EV_5"}"#;
        let e = parse(body, 7).unwrap().unwrap();
        assert_eq!(e.kind, EventType::RecordingStarted);
        assert_eq!(e.vendor_room, "rm_1");
        assert_eq!(e.occurred_at_ms, 7);
        assert_eq!(e.recording.unwrap().status, Some(RecordingStatus::Starting));
        let ended = br#"{"event":"egress_ended","egressInfo":{"egressId":"EG_1","roomName":"rm_1","status":"EGRESS_COMPLETE"},"id":"EV_6"}"#;
        assert_eq!(parse(ended, 0).unwrap().unwrap().recording.unwrap().status, Some(RecordingStatus::Complete));
        assert!(matches!(parse(b"[]", 0), Err(Rejection::Malformed(_))));
    }

    /// The recorder's own error text names buckets, hosts and internals: events carry one of
    /// our sentences instead (the text goes to the log only).
    #[test]
    fn egress_errors_reach_event_data_in_our_words() {
        let ended = |status: &str, error: &str| {
            json!({"event": "egress_ended", "id": "EV_7",
                   "egressInfo": {"egressId": "EG_1", "roomName": "rm_1", "status": status, "error": error}})
            .to_string()
        };
        for (status, text, ours) in [
            (
                "EGRESS_FAILED",
                "could not upload to s3://acme-private/rec: AccessDenied (key AKIA-LEAKED) via 10.0.3.7",
                "the recording could not be written to its destination",
            ),
            ("EGRESS_FAILED", "pipeline: GstRtpBin internal error at 10.0.3.7", "the vendor's recorder failed"),
            ("EGRESS_ABORTED", "Start signal not received", "the recording was aborted before it started"),
        ] {
            let e = parse(ended(status, text).as_bytes(), 0).unwrap().unwrap();
            assert_eq!(e.data["error"], ours, "{text}");
            let shown = e.data.to_string();
            assert!(!shown.contains("AKIA") && !shown.contains("10.0.3.7") && !shown.contains("Gst"), "{shown}");
        }
        let e = parse(ended("EGRESS_COMPLETE", "").as_bytes(), 0).unwrap().unwrap();
        assert!(e.data.get("error").is_none(), "no text, no error");
    }
}

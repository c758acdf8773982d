//! The LiveKit vendor end to end against scripted HTTP: the exact requests each operation
//! sends (URL, headers, server token grant, body) and how answers and failures come back.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::config::{API_KEY, API_SECRET, URL};
use super::*;
use crate::domain::recording::{Destination, FileResult, RecordingStatus};
use crate::native::{block_on, json_response, NativeRuntime, OsEntropy};
use crate::runtime::{HttpError, OutboundRequest, OutboundResponse};

const KEY: &str = "APIlk7";
const SECRET: &str = "lk-secret-0123456789abcdef0123456789";
const NOW_MS: u64 = 1_700_000_000_500;
const NOW_S: u64 = 1_700_000_000;

fn env(name: &str) -> Option<String> {
    match name {
        URL => Some("https://lk.example.com/".into()),
        API_KEY => Some(KEY.into()),
        API_SECRET => Some(SECRET.into()),
        "VENDOR_TIMEOUT_MS" => Some("2500".into()),
        _ => None,
    }
}

fn livekit() -> Box<dyn Vendor> {
    match setup(&env).state {
        VendorState::Ready(v) => v,
        _ => panic!("expected a ready vendor"),
    }
}

fn header<'a>(req: &'a OutboundRequest, name: &str) -> Option<&'a str> {
    crate::http::header_value(&req.headers, name)
}

/// Checks the bearer token's HS256 signature with the secret and returns its claims.
fn verified_claims(req: &OutboundRequest) -> Value {
    let token = header(req, "authorization").and_then(|h| h.strip_prefix("Bearer ")).expect("a bearer token");
    let (signed, signature) = token.rsplit_once('.').expect("a JWT");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).expect("signed with the API secret");
    let payload = signed.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Asserts one Twirp call: path, headers, a 10-minute server token with exactly `grant`,
/// and the body.
fn assert_call(req: &OutboundRequest, path: &str, grant: Value, body: Value) {
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, format!("https://lk.example.com/twirp/{path}"));
    assert_eq!(header(req, "content-type"), Some("application/json"));
    assert_eq!(req.timeout_ms, 2500);
    let claims = verified_claims(req);
    assert_eq!(claims, json!({"iss": KEY, "nbf": NOW_S, "exp": NOW_S + 600, "video": grant}));
    let sent: Value = serde_json::from_slice(req.body.as_deref().expect("a body")).unwrap();
    assert_eq!(sent, body);
}

fn answering(answer: impl Fn(&OutboundRequest) -> Result<OutboundResponse, HttpError> + 'static) -> NativeRuntime {
    let native = NativeRuntime::new(NOW_MS);
    native.http.respond_with(answer);
    native
}

fn twirp_error(status: u16, code: &str, msg: &str) -> Result<OutboundResponse, HttpError> {
    json_response(status, &json!({"code": code, "msg": msg, "meta": {}}))
}

fn sent(native: &NativeRuntime) -> Vec<OutboundRequest> {
    native.http.sent().into_iter().map(|e| e.request).collect()
}

fn egress_info(id: &str, status: &str) -> Value {
    json!({"egress_id": id, "room_id": "RM_x", "room_name": "rm_1", "source_type": "EGRESS_SOURCE_TYPE_WEB",
           "status": status, "started_at": "0", "ended_at": "0", "updated_at": "1700000000000000000",
           "room_composite": {"room_name": "rm_1"}, "stream_results": [], "file_results": [], "segment_results": [],
           "image_results": [], "error": "", "error_code": 0, "details": "", "manifest_location": "",
           "backup_storage_used": false, "retry_count": 0})
}

#[test]
fn setup_states() {
    let unconfigured = setup(&|_| None);
    assert_eq!(unconfigured.name, "livekit");
    assert!(matches!(unconfigured.state, VendorState::Unconfigured));
    let partial = setup(&|n| (n == API_KEY).then(|| "k".to_owned()));
    match partial.state {
        VendorState::Misconfigured(why) => assert_eq!(why, "missing LIVEKIT_URL, LIVEKIT_API_SECRET"),
        _ => panic!("expected misconfigured"),
    }
    let ws = setup(&|n| match n {
        URL => Some("wss://lk.example.com".into()),
        _ => Some("v".into()),
    });
    match ws.state {
        VendorState::Misconfigured(why) => assert!(why.starts_with("LIVEKIT_URL must be") && !why.contains("wss://lk")),
        _ => panic!("expected misconfigured"),
    }
    let ready = livekit();
    assert_eq!(ready.name(), "livekit");
    assert!(Capability::ALL.into_iter().all(|c| ready.supports(c)));
}

#[test]
fn create_room_upserts_and_returns_the_sid() {
    let native = answering(|_| json_response(200, &json!({"sid": "RM_9xk", "name": "rm_1", "num_participants": 0})));
    let spec = RoomSpec {
        room_id: "rm_1".into(),
        max_participants: Some(10),
        empty_timeout_s: Some(60),
        metadata_json: Some(r#"{"a":1}"#.into()),
        auto_record: Some(Destination::S3 {
            bucket: "recs".into(),
            path: "rm_1/rm_1-20231114T221320Z.mp4".into(),
            access_key: "AK".into(),
            secret: "SK".into(),
            region: Some("us-east-1".into()),
            endpoint: None,
        }),
    };
    let created = block_on(livekit().create_room(&native.runtime, &spec)).unwrap();
    assert_eq!(created, CreatedRoom { vendor_sid: Some("RM_9xk".into()) });
    let reqs = sent(&native);
    assert_eq!(reqs.len(), 1);
    assert_call(
        &reqs[0],
        "livekit.RoomService/CreateRoom",
        json!({"roomCreate": true}),
        json!({"name": "rm_1", "empty_timeout": 60, "max_participants": 10, "metadata": "{\"a\":1}",
               "egress": {"room": {"room_name": "rm_1", "file_outputs": [{"file_type": "MP4",
                   "filepath": "rm_1/rm_1-20231114T221320Z.mp4",
                   "s3": {"access_key": "AK", "secret": "SK", "region": "us-east-1", "bucket": "recs"}}]}}}),
    );
}

#[test]
fn occupancy_lists_the_one_room() {
    let native =
        answering(|_| json_response(200, &json!({"rooms": [{"sid": "RM_1", "name": "rm_1", "num_participants": 4}]})));
    assert_eq!(block_on(livekit().occupancy(&native.runtime, "rm_1")).unwrap(), 4);
    assert_call(
        &sent(&native)[0],
        "livekit.RoomService/ListRooms",
        json!({"roomList": true}),
        json!({"names": ["rm_1"]}),
    );

    let empty = answering(|_| json_response(200, &json!({"rooms": []})));
    assert_eq!(block_on(livekit().occupancy(&empty.runtime, "gone")).unwrap(), 0);
}

#[test]
fn delete_room_treats_not_found_as_done() {
    let native = answering(|_| json_response(200, &json!({})));
    block_on(livekit().delete_room(&native.runtime, "rm_1")).unwrap();
    assert_call(
        &sent(&native)[0],
        "livekit.RoomService/DeleteRoom",
        json!({"roomCreate": true}),
        json!({"room": "rm_1"}),
    );

    let gone = answering(|_| twirp_error(404, "not_found", "requested room does not exist"));
    block_on(livekit().delete_room(&gone.runtime, "rm_1")).unwrap();

    let denied = answering(|_| twirp_error(401, "unauthenticated", "permissions denied"));
    let e = block_on(livekit().delete_room(&denied.runtime, "rm_1")).unwrap_err();
    assert_eq!((e.failure, e.vendor_code.as_deref()), (VendorFailure::AuthFailed, Some("unauthenticated")));
}

#[test]
fn list_participants_is_scoped_to_the_room() {
    let native = answering(|_| {
        json_response(
            200,
            &json!({"participants": [
                {"sid": "PA_1", "identity": "alice", "name": "Alice", "state": "ACTIVE", "kind": "STANDARD",
                 "joined_at": "1700000000", "joined_at_ms": "1700000000123"},
                {"sid": "PA_2", "identity": "EG_rec", "name": "", "state": "ACTIVE", "kind": "EGRESS",
                 "joined_at": "1700000000", "joined_at_ms": "1700000000999"}
            ]}),
        )
    });
    let people = block_on(livekit().list_participants(&native.runtime, "rm_1")).unwrap();
    assert_eq!(
        people,
        vec![LiveParticipant {
            identity: Some("alice".into()),
            uid: None,
            display_name: Some("Alice".into()),
            joined_at_ms: Some(1_700_000_000_123),
        }]
    );
    assert_call(
        &sent(&native)[0],
        "livekit.RoomService/ListParticipants",
        json!({"roomAdmin": true, "room": "rm_1"}),
        json!({"room": "rm_1"}),
    );
}

#[test]
fn kick_removes_one_participant() {
    let who = ParticipantRef { identity: "bob".into(), uids: vec![7] };
    let native = answering(|_| json_response(200, &json!({})));
    block_on(livekit().kick(&native.runtime, "rm_1", &who)).unwrap();
    assert_call(
        &sent(&native)[0],
        "livekit.RoomService/RemoveParticipant",
        json!({"roomAdmin": true, "room": "rm_1"}),
        json!({"room": "rm_1", "identity": "bob"}),
    );

    let absent = answering(|_| twirp_error(404, "not_found", "participant does not exist"));
    let e = block_on(livekit().kick(&absent.runtime, "rm_1", &who)).unwrap_err();
    assert_eq!(e.failure, VendorFailure::NotFound);
    assert_eq!(e.vendor_code.as_deref(), Some("not_found"));
}

#[test]
fn join_token_is_signed_locally_with_the_client_url() {
    let native = NativeRuntime::new(NOW_MS);
    let grant = JoinGrant { ttl_s: 600, can_publish: false, ..JoinGrant::publisher("rm_1", "alice", 1) };
    let t = livekit().join_token(&grant, NOW_MS, &OsEntropy).unwrap();
    assert!(sent(&native).is_empty());
    assert_eq!(t.join, json!({"url": "wss://lk.example.com", "room": "rm_1"}));
    assert_eq!(t.expires_at_ms, (NOW_S + 600) * 1000);
    let req = OutboundRequest {
        method: "POST",
        url: String::new(),
        headers: vec![("authorization".into(), format!("Bearer {}", t.token))],
        body: None,
        timeout_ms: 0,
        max_response_bytes: 0,
    };
    let claims = verified_claims(&req);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["video"]["canPublish"], false);
    assert_eq!(claims["video"]["canPublishData"], false);
    assert!(livekit().check_grant(&grant).is_ok());
    let long = JoinGrant { identity: crate::domain::identity::Identity::parse("é".repeat(129)).unwrap(), ..grant };
    assert!(livekit().check_grant(&long).is_err());
}

#[test]
fn start_recording_sends_a_room_composite_egress() {
    let native = answering(|_| json_response(200, &egress_info("EG_new", "EGRESS_STARTING")));
    let spec = RecordingSpec {
        room_id: "rm_1".into(),
        layout: "speaker".into(),
        audio_only: false,
        destination: Destination::Azure {
            container: "recs".into(),
            path: "rm_1/take1.mp4".into(),
            account_name: "acct".into(),
            account_key: "KEY==".into(),
        },
        recording_id: "rec_1".into(),
        recorder_uid: None,
    };
    let state = block_on(livekit().start_recording(&native.runtime, &spec)).unwrap();
    assert_eq!((state.vendor_recording_id.as_str(), state.status), ("EG_new", RecordingStatus::Starting));
    assert_call(
        &sent(&native)[0],
        "livekit.Egress/StartRoomCompositeEgress",
        json!({"roomRecord": true}),
        json!({"room_name": "rm_1", "layout": "speaker", "file_outputs": [{"file_type": "MP4", "filepath": "rm_1/take1.mp4",
               "azure": {"account_name": "acct", "account_key": "KEY==", "container_name": "recs"}}]}),
    );

    let no_room = answering(|_| twirp_error(404, "not_found", "requested room does not exist"));
    let e = block_on(livekit().start_recording(&no_room.runtime, &spec)).unwrap_err();
    assert_eq!(e.failure, VendorFailure::NotFound);
    let invalid = answering(|_| twirp_error(400, "invalid_argument", "unknown layout"));
    let e = block_on(livekit().start_recording(&invalid.runtime, &spec)).unwrap_err();
    assert_eq!((e.failure, e.vendor_code.as_deref()), (VendorFailure::Rejected, Some("invalid_argument")));
    assert!(!e.summary.contains("KEY=="));
}

/// A server without egress (livekit-server without Redis) answers egress queries at once with
/// a refusal that is not an outage, so a lost start can be settled by the usual confirmation.
#[test]
fn a_server_without_egress_refuses_egress_queries() {
    let no_egress =
        answering(|_| twirp_error(500, "internal", "twirp error unknown: egress not connected (redis required)"));
    let e = block_on(livekit().room_recordings(&no_egress.runtime, "rm_1")).unwrap_err();
    assert_eq!((e.failure.clone(), e.vendor_code.as_deref()), (VendorFailure::Rejected, Some("egress_not_connected")));
    assert!(!e.is_outage());
    assert_call(
        &sent(&no_egress)[0],
        "livekit.Egress/ListEgress",
        json!({"roomRecord": true}),
        json!({"room_name": "rm_1"}),
    );
}

#[test]
fn stop_recording_returns_the_ending_egress() {
    let native = answering(|_| json_response(200, &egress_info("EG_1", "EGRESS_ENDING")));
    let state = block_on(livekit().stop_recording(&native.runtime, "EG_1")).unwrap();
    assert_eq!(state.status, RecordingStatus::Stopping);
    let reqs = sent(&native);
    assert_eq!(reqs.len(), 1);
    assert_call(&reqs[0], "livekit.Egress/StopEgress", json!({"roomRecord": true}), json!({"egress_id": "EG_1"}));
}

#[test]
fn stopping_a_finished_egress_reports_its_final_state() {
    let native = answering(|req| {
        if req.url.ends_with("/StopEgress") {
            twirp_error(412, "failed_precondition", "egress with status EGRESS_COMPLETE cannot be stopped")
        } else {
            let mut done = egress_info("EG_1", "EGRESS_COMPLETE");
            done["started_at"] = json!("1700000000000000000");
            done["ended_at"] = json!("1700000090000000000");
            done["file_results"] = json!([{"filename": "a.mp4", "location": "s3://recs/a.mp4", "size": "2048",
                                           "duration": "90000000000", "started_at": "0", "ended_at": "0"}]);
            json_response(200, &json!({"items": [done], "next_page_token": null}))
        }
    });
    let state = block_on(livekit().stop_recording(&native.runtime, "EG_1")).unwrap();
    assert_eq!(state.status, RecordingStatus::Complete);
    assert_eq!((state.started_at_ms, state.ended_at_ms), (Some(1_700_000_000_000), Some(1_700_000_090_000)));
    assert_eq!(
        state.files,
        vec![FileResult { location: "s3://recs/a.mp4".into(), size_bytes: Some(2048), duration_ms: Some(90_000) }]
    );
    let reqs = sent(&native);
    assert_eq!(reqs.len(), 2);
    assert_call(&reqs[1], "livekit.Egress/ListEgress", json!({"roomRecord": true}), json!({"egress_id": "EG_1"}));

    let unknown = answering(|_| twirp_error(404, "not_found", "egress does not exist"));
    let e = block_on(livekit().stop_recording(&unknown.runtime, "EG_x")).unwrap_err();
    assert_eq!(e.failure, VendorFailure::NotFound);
    assert_eq!(sent(&unknown).len(), 1);
}

#[test]
fn recording_state_and_room_recordings_list_egress() {
    let native = answering(|_| json_response(200, &json!({"items": [egress_info("EG_1", "EGRESS_ACTIVE")]})));
    let state = block_on(livekit().recording_state(&native.runtime, "rm_1", "EG_1")).unwrap();
    assert_eq!(state.status, RecordingStatus::Active);
    assert_call(
        &sent(&native)[0],
        "livekit.Egress/ListEgress",
        json!({"roomRecord": true}),
        json!({"egress_id": "EG_1"}),
    );

    native.http.clear();
    let all = block_on(livekit().room_recordings(&native.runtime, "rm_1")).unwrap();
    assert_eq!(all.len(), 1);
    assert_call(
        &sent(&native)[0],
        "livekit.Egress/ListEgress",
        json!({"roomRecord": true}),
        json!({"room_name": "rm_1"}),
    );

    let gone = answering(|_| twirp_error(404, "not_found", "egress does not exist"));
    let e = block_on(livekit().recording_state(&gone.runtime, "rm_1", "EG_x")).unwrap_err();
    assert_eq!(e.failure, VendorFailure::NotFound);
}

#[test]
fn transport_failures_and_broken_answers() {
    let timeout = answering(|_| Err(HttpError::Timeout));
    assert_eq!(block_on(livekit().occupancy(&timeout.runtime, "rm_1")).unwrap_err().failure, VendorFailure::Timeout);

    let down = answering(|_| Err(HttpError::Unreachable("connection refused".into())));
    assert_eq!(block_on(livekit().delete_room(&down.runtime, "rm_1")).unwrap_err().failure, VendorFailure::Unreachable);

    let unavailable = answering(|_| twirp_error(503, "unavailable", "no nodes"));
    let e = block_on(livekit().list_participants(&unavailable.runtime, "rm_1")).unwrap_err();
    assert_eq!(e.failure, VendorFailure::ServerError);
    assert!(e.is_outage());

    let bad_token = answering(|_| {
        Ok(OutboundResponse { status: 401, headers: vec![], body: b"invalid authorization token".to_vec() })
    });
    let e =
        block_on(livekit().create_room(&bad_token.runtime, &RoomSpec { room_id: "r".into(), ..RoomSpec::default() }))
            .unwrap_err();
    assert_eq!(e.failure, VendorFailure::AuthFailed);

    let garbage = answering(|_| Ok(OutboundResponse { status: 200, headers: vec![], body: b"<html>".to_vec() }));
    let e = block_on(livekit().stop_recording(&garbage.runtime, "EG_1")).unwrap_err();
    assert_eq!(e.failure, VendorFailure::ServerError);

    let wrong_shape = answering(|_| json_response(200, &json!({"participants": "alice"})));
    let e = block_on(livekit().list_participants(&wrong_shape.runtime, "rm_1")).unwrap_err();
    assert_eq!(e.failure, VendorFailure::ServerError);

    let limited = answering(|_| {
        let mut r = twirp_error(429, "resource_exhausted", "too many requests")?;
        r.headers.push(("Retry-After".into(), "2".into()));
        Ok(r)
    });
    let e = block_on(livekit().kick(&limited.runtime, "rm_1", &ParticipantRef { identity: "a".into(), uids: vec![] }))
        .unwrap_err();
    assert_eq!(e.failure, VendorFailure::RateLimited { retry_after_s: Some(2) });
}

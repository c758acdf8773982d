//! Recording on a LiveKit server that has no egress service (livekit-server running without
//! Redis, as `make dev` runs it): its start only answers after its own egress request times out,
//! past `VENDOR_TIMEOUT_MS`, but every egress query is refused at once. The lost start must then
//! end as that refusal, with no recording left claiming to start.

mod support;

use rtcgate::native::json_response;
use rtcgate::runtime::HttpError;
use serde_json::{json, Value};
use support::{TestApp, LIVEKIT};

const STORAGE: &[(&str, &str)] = &[
    ("RECORDING_S3_ACCESS_KEY", "AKIA-TEST"),
    ("RECORDING_S3_SECRET", "s3-secret-value"),
    ("RECORDING_DEFAULT_URI", "s3://media/rec/"),
];

/// LiveKit whose start never answers in time; `list_egress` is what ListEgress answers.
fn app(list_egress: fn() -> Result<rtcgate::runtime::OutboundResponse, HttpError>) -> (TestApp, String) {
    let t = TestApp::new(&[LIVEKIT, STORAGE]);
    let key = t.project_key();
    t.native.http.respond_with(move |req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        match req.url.rsplit('/').next().unwrap_or("") {
            "CreateRoom" => json_response(200, &json!({"sid": "RM_1", "name": body["name"]})),
            "StartRoomCompositeEgress" => Err(HttpError::Timeout),
            "ListEgress" => list_egress(),
            _ => json_response(404, &json!({"code": "bad_route", "msg": "no"})),
        }
    });
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "standup", "vendor": "livekit"})), Some(&key));
    assert_eq!(r.status, 201, "{}", r.json);
    (t, key)
}

fn start(t: &TestApp, key: &str) -> (u16, Value) {
    let r = t.call(
        "POST",
        "/v1/rtc/recording/start",
        // No output_uri: the project's folder of the shared storage.
        Some(json!({"room": "standup"})),
        Some(key),
    );
    (r.status, r.json)
}

fn listed(t: &TestApp, key: &str) -> Vec<Value> {
    let r = t.call("GET", "/v1/rtc/recording/list?room=standup", None, Some(key));
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}

#[test]
fn a_lost_start_on_a_server_without_egress_is_its_refusal_and_leaves_no_recording() {
    let (t, key) = app(|| {
        json_response(
            500,
            &json!({"code": "internal", "msg": "twirp error unknown: egress not connected (redis required)"}),
        )
    });
    let (status, body) = start(&t, &key);
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "VENDOR_REJECTED");
    assert_eq!(body["error"]["vendor_code"], "egress_not_connected");
    assert!(body["error"].get("recording").is_none(), "no recording to come back for: {body}");
    assert!(!body.to_string().contains("redis"), "the vendor's words stay out: {body}");
    assert_eq!(listed(&t, &key), Vec::<Value>::new());
}

#[test]
fn a_lost_start_whose_confirmation_fails_for_an_outage_stays_pending() {
    let (t, key) = app(|| json_response(503, &json!({"code": "unavailable", "msg": "no response from servers"})));
    let (status, body) = start(&t, &key);
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "VENDOR_TIMEOUT");
    let rec = body["error"]["recording"].as_str().expect("the pending recording is named").to_owned();
    let items = listed(&t, &key);
    assert_eq!(items.len(), 1);
    assert_eq!((items[0]["recording"].as_str(), items[0]["status"].as_str()), (Some(rec.as_str()), Some("starting")));
}

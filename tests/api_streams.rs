//! Live streams natively: each vendor's streaming API scripted per test (LiveKit Egress,
//! Agora Media Push converters, ZEGO stream mixing), including lost answers, faults, and the
//! layout re-sent as vendor events say publishers come and go.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use hmac::{Hmac, Mac};
use rtcgate::domain::stream::MISSING_GRACE_MS;
use rtcgate::native::json_response;
use rtcgate::runtime::{Clock, HttpError};
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use support::{Reply, TestApp, AGORA, LIVEKIT, NOW_MS, ZEGO};

const ENCRYPTION: &[(&str, &str)] =
    &[("RTCGATE_ENCRYPTION_KEY", "5f0e1d2c3b4a59687786954a3b2c1d0e6a0f3c9e21b84d57a6e0c3f19b2d4e8a")];
const NCS_SECRET: &str = "ncs-secret-for-tests";
const ZEGO_SECRET: &str = "zego-callback-secret";
const EVENTS: &[(&str, &str)] = &[("AGORA_NCS_SECRET", NCS_SECRET), ("ZEGO_CALLBACK_SECRET", ZEGO_SECRET)];

const YOUTUBE: &str = "rtmps://a.rtmp.youtube.com/live2/abcd-efgh-1a2b";
const TWITCH: &str = "rtmp://live.twitch.tv/app/live_99_secretkey9z8y";
const OTHER: &str = "rtmp://ingest.example.com/live/another-key-5678";

fn app(extra: &[(&str, &str)]) -> TestApp {
    TestApp::new(&[LIVEKIT, AGORA, ZEGO, ENCRYPTION, EVENTS, extra])
}

/// Every call the vendors were sent: (url, method, JSON body).
fn sent(t: &TestApp) -> Vec<(String, String, Value)> {
    t.native
        .http
        .sent()
        .into_iter()
        .map(|x| (x.request.url.clone(), x.request.method.to_owned(), x.json.unwrap_or(Value::Null)))
        .collect()
}

fn start(t: &TestApp, key: &str, body: Value) -> Reply {
    t.call("POST", "/v1/rtc/stream/start", Some(body), Some(key))
}

fn events_of(t: &TestApp, key: &str, kind: &str) -> Vec<Value> {
    let r = t.call("GET", &format!("/v1/rtc/event/list?type={kind}"), None, Some(key));
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}

// ----------------------------------------------------------------------------- LiveKit ---

/// A scripted LiveKit Egress: egresses by insertion order, each with its stream results.
#[derive(Default)]
struct FakeEgress {
    egresses: RefCell<Vec<Value>>,
    /// StartRoomCompositeEgress creates the egress but its answer never comes.
    lose_start_answer: RefCell<bool>,
}

fn livekit(t: &TestApp) -> Rc<FakeEgress> {
    let fake = Rc::new(FakeEgress::default());
    let f = fake.clone();
    t.native.http.respond_with(move |req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        let result = |url: &Value| json!({"url": url, "status": "ACTIVE"});
        match req.url.rsplit('/').next().unwrap_or("") {
            "CreateRoom" => json_response(200, &json!({"sid": "RM_1", "name": body["name"]})),
            "StartRoomCompositeEgress" => {
                let id = format!("EG_{}", f.egresses.borrow().len() + 1);
                let urls = body["stream_outputs"][0]["urls"].as_array().unwrap().clone();
                let info = json!({"egress_id": id, "room_name": body["room_name"], "status": "EGRESS_STARTING",
                                  "room_composite": body, "stream_results": urls.iter().map(result).collect::<Vec<_>>()});
                f.egresses.borrow_mut().push(info);
                if *f.lose_start_answer.borrow() {
                    return Err(HttpError::Timeout);
                }
                json_response(200, f.egresses.borrow().last().unwrap())
            }
            "UpdateStream" => {
                let mut all = f.egresses.borrow_mut();
                let e = all.iter_mut().find(|e| e["egress_id"] == body["egress_id"]).unwrap();
                let mut results = e["stream_results"].as_array().unwrap().clone();
                results.retain(|r| !body["remove_output_urls"].as_array().unwrap().contains(&r["url"]));
                results.extend(body["add_output_urls"].as_array().unwrap().iter().map(result));
                e["stream_results"] = json!(results);
                json_response(200, e)
            }
            "ListEgress" => {
                let items: Vec<Value> = f
                    .egresses
                    .borrow()
                    .iter()
                    .filter(|e| body.get("egress_id").is_none_or(|id| id == &e["egress_id"]))
                    .filter(|e| body.get("room_name").is_none_or(|r| r == &e["room_name"]))
                    .cloned()
                    .collect();
                json_response(200, &json!({"items": items}))
            }
            "StopEgress" => {
                let mut all = f.egresses.borrow_mut();
                let e = all.iter_mut().find(|e| e["egress_id"] == body["egress_id"]).unwrap();
                e["status"] = json!("EGRESS_ENDING");
                json_response(200, e)
            }
            _ => json_response(404, &json!({"code": "bad_route", "msg": "no"})),
        }
    });
    fake
}

fn livekit_room(t: &TestApp, key: &str, name: &str) -> String {
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": name, "vendor": "livekit"})), Some(key));
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["room"].as_str().unwrap().to_owned()
}

#[test]
fn a_livekit_stream_starts_changes_outputs_and_stops_with_keys_only_masked() {
    let t = app(&[]);
    let key = t.project_key();
    let fake = livekit(&t);
    let room = livekit_room(&t, &key, "show");
    let s =
        start(&t, &key, json!({"room": "show", "outputs": [{"url": YOUTUBE}, {"url": TWITCH}], "layout": "speaker"}));
    assert_eq!(s.status, 201, "{}", s.json);
    let id = s.json["stream"].as_str().unwrap().to_owned();
    assert!(id.starts_with("str_"));
    assert_eq!((s.json["room"].as_str(), s.json["vendor"].as_str()), (Some(room.as_str()), Some("livekit")));
    assert_eq!(s.json["status"], "starting");
    assert_eq!(
        s.json["outputs"],
        json!([
            {"output": "o1", "url": "rtmps://a.rtmp.youtube.com/live2/••••1a2b", "status": "active"},
            {"output": "o2", "url": "rtmp://live.twitch.tv/app/••••9z8y", "status": "active"}
        ])
    );
    let starts: Vec<_> = sent(&t).into_iter().filter(|(u, _, _)| u.ends_with("StartRoomCompositeEgress")).collect();
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].2["layout"], "speaker");
    assert_eq!(starts[0].2["stream_outputs"], json!([{"protocol": "RTMP", "urls": [YOUTUBE, TWITCH]}]));

    // At rest the keys are sealed: no row holds them.
    let rows = t.native.db.rows("SELECT outputs, layout_swept_at_ms FROM streams");
    let stored = rows[0]["outputs"].as_str().unwrap();
    assert!(!stored.contains("abcd-efgh") && !stored.contains("secretkey"), "{stored}");
    assert!(rows[0]["layout_swept_at_ms"].is_null(), "LiveKit lays its streams out: the job never checks them");

    let u = t.call(
        "POST",
        &format!("/v1/rtc/stream/update/{id}"),
        Some(json!({"add_outputs": [{"url": OTHER}], "remove_outputs": ["o2"]})),
        Some(&key),
    );
    assert_eq!(u.status, 200, "{}", u.json);
    let update = sent(&t).into_iter().rfind(|(u, _, _)| u.ends_with("UpdateStream")).unwrap().2;
    assert_eq!(update, json!({"egress_id": "EG_1", "add_output_urls": [OTHER], "remove_output_urls": [TWITCH]}));
    let outs: Vec<_> =
        u.json["outputs"].as_array().unwrap().iter().map(|o| (o["output"].clone(), o["status"].clone())).collect();
    assert_eq!(
        outs,
        vec![(json!("o1"), json!("active")), (json!("o2"), json!("ended")), (json!("o3"), json!("active"))]
    );
    assert_eq!(u.json["outputs"][2]["url"], "rtmp://ingest.example.com/live/••••5678");

    let g = t.call("GET", &format!("/v1/rtc/stream/get/{id}"), None, Some(&key));
    assert_eq!((g.status, g.json["live"].clone()), (200, json!(true)), "{}", g.json);
    // Well-formed changes the stream cannot take name their field.
    for (change, field) in [
        (json!({"remove_outputs": ["o2"]}), "remove_outputs"),
        (json!({"remove_outputs": ["o1", "o3"]}), "remove_outputs"),
        (json!({"add_outputs": [{"url": OTHER}]}), "add_outputs[0].url"),
        (
            json!({"add_outputs": (0..4).map(|i| json!({"url": format!("rtmp://x.example.com/a/k{i}")})).collect::<Vec<_>>()}),
            "add_outputs",
        ),
    ] {
        let r = t.call("POST", &format!("/v1/rtc/stream/update/{id}"), Some(change.clone()), Some(&key));
        assert_eq!((r.status, r.code()), (422, "STREAM_OUTPUTS_REFUSED"), "{change}: {}", r.json);
        assert_eq!(r.json["error"]["field"], field);
    }

    let stop = t.call("POST", &format!("/v1/rtc/stream/stop/{id}"), Some(json!({})), Some(&key));
    assert_eq!((stop.status, stop.json["status"].as_str()), (200, Some("ending")), "{}", stop.json);
    // The egress webhook ends it.
    let ended = json!({"event": "egress_ended", "id": "WH_1", "createdAt": (NOW_MS / 1000).to_string(),
                       "egressInfo": {"egressId": "EG_1", "roomName": room, "status": "EGRESS_COMPLETE"}});
    assert_eq!(t.send(support::livekit_webhook(&ended.to_string())).status, 200);
    let g = t.call("GET", &format!("/v1/rtc/stream/get/{id}"), None, Some(&key));
    assert_eq!(g.json["status"], "ended", "{}", g.json);
    assert!(g.json["ended_at"].is_string());
    assert_eq!(fake.egresses.borrow().len(), 1);

    let started = events_of(&t, &key, "stream.started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["data"]["stream"], id.as_str());
    assert_eq!(started[0]["data"]["outputs"][0]["url"], "rtmps://a.rtmp.youtube.com/live2/••••1a2b");
    assert_eq!(events_of(&t, &key, "stream.ended").len(), 1);
    // Nothing a tenant can read holds a key.
    let all = t.call("GET", "/v1/rtc/event/list", None, Some(&key));
    assert!(!all.json.to_string().contains("secretkey") && !all.json.to_string().contains("abcd-efgh"));

    let list = t.call("GET", &format!("/v1/rtc/stream/list?room={room}&status=ended"), None, Some(&key));
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1, "{}", list.json);
    let none = t.call("GET", "/v1/rtc/stream/list?status=active", None, Some(&key));
    assert_eq!(none.json["items"], json!([]));
    let bad = t.call("GET", "/v1/rtc/stream/list?status=paused", None, Some(&key));
    assert_eq!((bad.status, bad.json["error"]["field"].as_str()), (400, Some("status")), "{}", bad.json);
    let again = t.call(
        "POST",
        &format!("/v1/rtc/stream/update/{id}"),
        Some(json!({"add_outputs": [{"url": TWITCH}]})),
        Some(&key),
    );
    assert_eq!((again.status, again.code()), (409, "STREAM_ENDED"), "{}", again.json);
}

/// Every event of the project, by type, oldest first.
fn event_types(t: &TestApp, key: &str) -> Vec<String> {
    let r = t.call("GET", "/v1/rtc/event/list?limit=100", None, Some(key));
    assert_eq!(r.status, 200, "{}", r.json);
    let mut types: Vec<String> =
        r.json["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    types.reverse();
    types
}

fn egress_webhook(t: &TestApp, id: &str, event: &str, room: &str, status: &str, results: Value) -> Reply {
    let body = json!({"event": event, "id": id, "createdAt": (NOW_MS / 1000).to_string(),
                      "egressInfo": {"egressId": "EG_1", "roomName": room, "status": status, "streamResults": results}});
    t.send(support::livekit_webhook(&body.to_string()))
}

#[test]
fn a_stream_egress_speaks_through_stream_events_only_and_its_status_never_goes_back() {
    let t = app(&[]);
    let key = t.project_key();
    livekit(&t);
    let room = livekit_room(&t, &key, "show");
    let s = start(&t, &key, json!({"room": "show", "outputs": [{"url": YOUTUBE}, {"url": TWITCH}]}));
    assert_eq!(s.status, 201, "{}", s.json);
    let id = s.json["stream"].as_str().unwrap().to_owned();
    let status = |t: &TestApp| t.call("GET", &format!("/v1/rtc/stream/get/{id}"), None, Some(&key)).json;

    // The egress goes live; Twitch refuses its URL (shown redacted, matched by position, the
    // ingest's words quoting the key kept out); a late `egress_started` takes nothing back.
    let results = json!([{"url": YOUTUBE},
                         {"url": "rtmp://live.twitch.tv/app/{live_...9z8y}", "status": "FAILED",
                          "error": "rtmp: key live_99_secretkey9z8y refused"}]);
    assert_eq!(egress_webhook(&t, "WH_1", "egress_updated", &room, "EGRESS_ACTIVE", results).status, 200);
    assert_eq!(egress_webhook(&t, "WH_2", "egress_started", &room, "EGRESS_STARTING", json!([])).status, 200);
    t.native.http.respond_with(|_| Err(HttpError::Timeout));
    let live = status(&t);
    assert_eq!(live["status"], "active", "{live}");
    let outputs: Vec<_> = live["outputs"].as_array().unwrap().iter().map(|o| o["status"].clone()).collect();
    assert_eq!(outputs, vec![json!("active"), json!("failed")], "{live}");
    assert_eq!(live["outputs"][1]["error"], "the ingest refused or dropped the stream");
    // It fails at LiveKit: the stream fails once, however often LiveKit says so.
    for wh in ["WH_3", "WH_3", "WH_4"] {
        assert_eq!(egress_webhook(&t, wh, "egress_ended", &room, "EGRESS_FAILED", json!([])).status, 200);
    }
    assert_eq!(status(&t)["status"], "failed");
    assert_eq!(events_of(&t, &key, "stream.ended").len(), 1);
    assert_eq!(events_of(&t, &key, "stream.output_failed").len(), 1);
    // The egress behind a stream is not a recording: no recording event, no recording row.
    let types = event_types(&t, &key);
    assert!(types.iter().all(|t| !t.starts_with("recording.")), "{types:?}");
    assert_eq!(types.iter().filter(|t| t.starts_with("stream.")).count(), 3, "{types:?}");
    let all = t.call("GET", "/v1/rtc/event/list", None, Some(&key));
    assert!(!all.json.to_string().contains("secretkey"), "{}", all.json);
    let recordings = t.call("GET", "/v1/rtc/recording/list", None, Some(&key));
    assert_eq!(recordings.json["items"], json!([]), "{}", recordings.json);
}

#[test]
fn bad_inputs_are_refused_naming_their_field_before_any_vendor_call() {
    let t = app(&[]);
    let key = t.project_key();
    livekit(&t);
    livekit_room(&t, &key, "show");
    let before = sent(&t).len();
    let six: Vec<Value> = (0..6).map(|i| json!({"url": format!("rtmp://live.example.com/app/key{i}")})).collect();
    for (body, field) in [
        (json!({"room": "show"}), "outputs"),
        (json!({"room": "show", "outputs": []}), "outputs"),
        (json!({"room": "show", "outputs": six}), "outputs"),
        (
            json!({"room": "show", "outputs": [{"url": YOUTUBE}, {"url": "https://x.example.com/a/b"}]}),
            "outputs[1].url",
        ),
        (json!({"room": "show", "outputs": [{"url": "rtmp://127.0.0.1/app/key"}]}), "outputs[0].url"),
        (json!({"room": "show", "outputs": [{"url": "rtmp://live.example.com/app/"}]}), "outputs[0].url"),
        (json!({"room": "show", "outputs": [{"url": YOUTUBE}, {"url": YOUTUBE}]}), "outputs[1].url"),
        (json!({"room": "show", "outputs": [{"url": YOUTUBE, "x": 1}]}), "outputs[0].url"),
        (json!({"room": "show", "outputs": [{"url": YOUTUBE}], "layout": "mosaic"}), "layout"),
        (json!({"room": "show", "outputs": [{"url": YOUTUBE}], "video": {"width": 4000}}), "video.width"),
        (json!({"room": "show", "outputs": [{"url": YOUTUBE}], "video": {"fps": 0}}), "video.fps"),
        (json!({"room": "show", "outputs": [{"url": YOUTUBE}], "video": {"depth": 8}}), "video.depth"),
    ] {
        let r = start(&t, &key, body.clone());
        assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some(field)), "{body}: {}", r.json);
        assert!(!r.json.to_string().contains("abcd-efgh"), "an error never echoes a key: {}", r.json);
    }
    // Well-formed, but leading somewhere internal: refused for where it leads.
    for url in ["rtmp://localhost/app/key", "rtmp://minio/app/key", "rtmps://ingest.internal/app/key"] {
        let r = start(&t, &key, json!({"room": "show", "outputs": [{"url": YOUTUBE}, {"url": url}]}));
        assert_eq!((r.status, r.code()), (422, "DESTINATION_NOT_ALLOWED"), "{url}: {}", r.json);
        assert_eq!(r.json["error"]["field"], "outputs[1].url");
    }
    assert_eq!(sent(&t).len(), before, "nothing reached the vendor");
    let nowhere = start(&t, &key, json!({"room": "nowhere", "outputs": [{"url": YOUTUBE}]}));
    assert_eq!((nowhere.status, nowhere.code()), (404, "ROOM_NOT_FOUND"));
    let missing = t.call("GET", "/v1/rtc/stream/get/str_nope", None, Some(&key));
    assert_eq!((missing.status, missing.code()), (404, "STREAM_NOT_FOUND"));
}

#[test]
fn streams_need_the_encryption_key_that_seals_their_stream_keys() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    livekit(&t);
    livekit_room(&t, &key, "show");
    let r = start(&t, &key, json!({"room": "show", "outputs": [{"url": YOUTUBE}]}));
    assert_eq!((r.status, r.code()), (422, "ENCRYPTION_NOT_CONFIGURED"), "{}", r.json);
}

#[test]
fn an_idempotent_retry_and_a_lost_answer_each_make_one_egress() {
    let t = app(&[]);
    let key = t.project_key();
    let fake = livekit(&t);
    livekit_room(&t, &key, "show");
    let body = json!({"room": "show", "outputs": [{"url": YOUTUBE}], "idempotency_key": "k-1"});
    let first = start(&t, &key, body.clone());
    let second = start(&t, &key, body);
    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(first.json["stream"], second.json["stream"]);
    assert_eq!(fake.egresses.borrow().len(), 1);

    // LiveKit starts the egress but its answer is lost: 504 naming the stream; the same body
    // again adopts it (found by its URL among the room's egresses) rather than starting one.
    *fake.lose_start_answer.borrow_mut() = true;
    let lost_body = json!({"room": "show", "outputs": [{"url": TWITCH}]});
    let lost = start(&t, &key, lost_body.clone());
    // The start found its egress at once (the listing answers): confirmed, not lost.
    assert_eq!(lost.status, 201, "{}", lost.json);
    assert_eq!(fake.egresses.borrow().len(), 2);
    let adopted = start(&t, &key, lost_body);
    assert_eq!(adopted.status, 201, "{}", adopted.json);
    assert_ne!(adopted.json["stream"], lost.json["stream"], "an answered start is not adopted again");
    assert_eq!(fake.egresses.borrow().len(), 3);
}

#[test]
fn a_start_whose_answer_and_listing_are_lost_is_adopted_by_its_retry() {
    let t = app(&[]);
    let key = t.project_key();
    let egresses: Rc<RefCell<Vec<Value>>> = Rc::default();
    // 0: the listing times out too; 1: it answers without the egress (not there yet); 2: it
    // shows it.
    let down = Rc::new(RefCell::new(0));
    let (e, d) = (egresses.clone(), down.clone());
    t.native.http.respond_with(move |req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        match req.url.rsplit('/').next().unwrap_or("") {
            "CreateRoom" => json_response(200, &json!({"sid": "RM_1", "name": body["name"]})),
            "StartRoomCompositeEgress" => {
                let id = format!("EG_{}", e.borrow().len() + 1);
                e.borrow_mut().push(json!({"egress_id": id,
                    "room_name": body["room_name"], "status": "EGRESS_ACTIVE", "room_composite": body}));
                Err(HttpError::Timeout)
            }
            "ListEgress" if *d.borrow() == 0 => Err(HttpError::Timeout),
            "ListEgress" if *d.borrow() == 1 => json_response(200, &json!({"items": []})),
            "ListEgress" => json_response(200, &json!({"items": *e.borrow()})),
            _ => json_response(404, &json!({"code": "bad_route", "msg": "no"})),
        }
    });
    livekit_room(&t, &key, "show");
    let body = json!({"room": "show", "outputs": [{"url": YOUTUBE}]});
    let lost = start(&t, &key, body.clone());
    assert_eq!((lost.status, lost.code()), (504, "VENDOR_TIMEOUT"), "{}", lost.json);
    let id = lost.json["error"]["stream"].as_str().expect("the unconfirmed stream is named").to_owned();
    // Still down: the retry cannot tell, and says so.
    let down_still = start(&t, &key, body.clone());
    assert_eq!((down_still.status, down_still.code()), (504, "VENDOR_TIMEOUT"), "{}", down_still.json);
    *down.borrow_mut() = 1;
    let soon = start(&t, &key, body.clone());
    assert_eq!((soon.status, soon.code()), (409, "STREAM_UNCONFIRMED"), "{}", soon.json);
    assert_eq!(soon.header("retry-after"), Some("1"));
    assert_eq!(soon.json["error"]["stream"], id.as_str());
    *down.borrow_mut() = 2;
    let adopted = start(&t, &key, body);
    assert_eq!((adopted.status, adopted.json["stream"].as_str()), (201, Some(id.as_str())), "{}", adopted.json);
    assert_eq!(adopted.json["status"], "active");
    assert_eq!(egresses.borrow().len(), 1, "one egress for one start");
    let limits = t.call("GET", "/v1/rtc/limits", None, Some(&key));
    assert_eq!(limits.json["quotas"]["streams"], json!({"limit": 10, "used": 1}), "{}", limits.json);
}

#[test]
fn concurrent_streams_count_against_the_project_quota() {
    let t = app(&[("QUOTA_STREAMS", "1")]);
    let key = t.project_key();
    livekit(&t);
    livekit_room(&t, &key, "show");
    let first = start(&t, &key, json!({"room": "show", "outputs": [{"url": YOUTUBE}]}));
    assert_eq!(first.status, 201);
    let second = start(&t, &key, json!({"room": "show", "outputs": [{"url": TWITCH}]}));
    assert_eq!((second.status, second.code()), (422, "QUOTA_EXCEEDED"), "{}", second.json);
    assert_eq!(second.json["error"]["quota"], "streams");
    let id = first.json["stream"].as_str().unwrap();
    assert_eq!(t.call("POST", &format!("/v1/rtc/stream/stop/{id}"), Some(json!({})), Some(&key)).status, 200);
    let third = start(&t, &key, json!({"room": "show", "outputs": [{"url": TWITCH}]}));
    assert_eq!(third.status, 201, "a stopping stream no longer counts: {}", third.json);
}

#[test]
fn discovery_lists_live_streaming_on_every_vendor() {
    let t = app(&[]);
    let key = t.project_key();
    let r = t.call("GET", "/v1/discovery/rtc.stream.start", None, Some(&key));
    assert_eq!(r.status, 200, "{}", r.json);
    let text = r.json.to_string();
    for vendor in ["livekit", "agora", "zego"] {
        assert!(text.contains(vendor), "{text}");
    }
}

// ------------------------------------------------------------------------------- Agora ---

fn agora_ncs(t: &TestApp, body: &Value) -> Reply {
    let body = body.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(NCS_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sig: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let mut req = rtcgate::http::ApiRequest::new("POST", "/v1/vendor-events/agora")
        .with_header("agora-signature-v2", &sig)
        .with_header("content-type", "application/json");
    req.body = body.into_bytes();
    let r = t.send(req);
    t.native.clock.advance_ms(1000);
    r
}

fn agora_presence(t: &TestApp, notice: &str, event_type: u32, room: &str, uid: u64) {
    let body = json!({"noticeId": notice, "productId": 1, "eventType": event_type, "notifyMs": NOW_MS,
                      "payload": {"channelName": room, "uid": uid, "platform": 7, "clientSeq": 1, "ts": NOW_MS / 1000}});
    assert_eq!(agora_ncs(t, &body).status, 200);
}

/// A scripted Agora Media Push: converters by name; `refuse_second` answers the second
/// create with 403; `lose_first` makes the first create and loses its answer; while
/// `failing_patches` is above zero, each update is answered 503 (and counts it down);
/// `on_missing_get` runs once, as a read of a converter it does not have is answered.
#[derive(Default)]
struct FakePush {
    converters: RefCell<Vec<Value>>,
    lose_first: RefCell<bool>,
    refuse_second: RefCell<bool>,
    failing_patches: RefCell<u32>,
    on_missing_get: RefCell<Option<Box<dyn FnOnce()>>>,
}

fn agora(t: &TestApp) -> Rc<FakePush> {
    let fake = Rc::new(FakePush::default());
    let f = fake.clone();
    t.native.http.respond_with(move |req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        let path = req.url.split('?').next().unwrap().to_owned();
        match req.method {
            "POST" if path.ends_with("/na/v1/projects/970CA35de60c44645bbae8a215061b33/rtmp-converters") => {
                let name = body["converter"]["name"].clone();
                if f.converters.borrow().iter().any(|c| c["name"] == name) {
                    return json_response(409, &json!({"message": "converter name exists"}));
                }
                if *f.refuse_second.borrow() && f.converters.borrow().len() == 1 {
                    return json_response(403, &json!({"message": "media push not enabled"}));
                }
                let id = format!("cv{}", f.converters.borrow().len() + 1);
                f.converters.borrow_mut().push(json!({"id": id, "name": name, "state": "connecting", "body": body}));
                if std::mem::take(&mut *f.lose_first.borrow_mut()) {
                    return Err(HttpError::Timeout);
                }
                json_response(200, &json!({"converter": {"id": id, "state": "connecting"}}))
            }
            "GET" if path.contains("/channels/") => {
                let members: Vec<Value> = f
                    .converters
                    .borrow()
                    .iter()
                    .map(|c| json!({"converterId": c["id"], "converterName": c["name"], "state": c["state"]}))
                    .collect();
                json_response(200, &json!({"success": true, "data": {"members": members, "cursor": 0}}))
            }
            "GET" => {
                let id = path.rsplit('/').next().unwrap();
                match f.converters.borrow().iter().find(|c| c["id"] == id) {
                    Some(c) => {
                        json_response(200, &json!({"converter": {"id": id, "state": "running"}, "c": c["name"]}))
                    }
                    None => {
                        if let Some(hook) = f.on_missing_get.borrow_mut().take() {
                            hook();
                        }
                        json_response(404, &json!({"message": "not found"}))
                    }
                }
            }
            "PATCH" => {
                if *f.failing_patches.borrow() > 0 {
                    *f.failing_patches.borrow_mut() -= 1;
                    return json_response(503, &json!({"message": "service unavailable"}));
                }
                let id = path.rsplit('/').next().unwrap();
                if !f.converters.borrow().iter().any(|c| c["id"] == id) {
                    return json_response(404, &json!({"message": "not found"}));
                }
                json_response(200, &json!({"converter": {"id": id, "state": "running"}}))
            }
            "DELETE" => {
                let id = path.rsplit('/').next().unwrap().to_owned();
                f.converters.borrow_mut().retain(|c| c["id"] != id.as_str());
                json_response(200, &json!({}))
            }
            _ => json_response(404, &json!({"message": "no route"})),
        }
    });
    fake
}

fn agora_member(t: &TestApp, key: &str, room: &str, identity: &str) -> (String, u64) {
    let r = t.call(
        "POST",
        "/v1/rtc/token/issue",
        Some(json!({"room": room, "identity": identity, "vendor": "agora"})),
        Some(key),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    (r.json["room"].as_str().unwrap().to_owned(), r.json["join"]["uid"].as_u64().unwrap())
}

/// An Agora room where alice broadcasts and bob is a member who does not yet, streamed to
/// `outputs` (converters cv1, cv2, … in that order) by the stream `id`.
struct AgoraClass {
    fake: Rc<FakePush>,
    room: String,
    alice: u64,
    bob: u64,
    id: String,
}

fn agora_class_streamed_to(t: &TestApp, key: &str, outputs: Value) -> AgoraClass {
    let fake = agora(t);
    let (room, alice) = agora_member(t, key, "class", "alice");
    let (_, bob) = agora_member(t, key, "class", "bob");
    agora_presence(t, "n1", 103, &room, alice);
    let stream = start(t, key, json!({"room": room, "outputs": outputs}));
    assert_eq!(stream.status, 201, "{}", stream.json);
    let id = stream.json["stream"].as_str().unwrap().to_owned();
    AgoraClass { fake, room, alice, bob, id }
}

/// The stream `id` as `rtc.stream.get` answers (which reads it from the vendor).
fn stream_get(t: &TestApp, key: &str, id: &str) -> Value {
    let g = t.call("GET", &format!("/v1/rtc/stream/get/{id}"), None, Some(key));
    assert_eq!(g.status, 200, "{}", g.json);
    g.json
}

#[test]
fn agora_makes_one_named_converter_per_output_and_relays_out_as_publishers_change() {
    let t = app(&[]);
    let key = t.project_key();
    let fake = agora(&t);
    let (room, alice) = agora_member(&t, &key, "class", "alice");
    let (_, bob) = agora_member(&t, &key, "class", "bob");
    let (_, carol) = agora_member(&t, &key, "class", "carol");
    agora_presence(&t, "n1", 103, &room, alice);
    agora_presence(&t, "n2", 105, &room, carol); // an audience member: not laid out
    let s = start(
        &t,
        &key,
        json!({"room": room, "outputs": [{"url": YOUTUBE}, {"url": TWITCH}], "layout": "grid",
                                   "video": {"width": 1280, "height": 720}}),
    );
    assert_eq!(s.status, 201, "{}", s.json);
    let id = s.json["stream"].as_str().unwrap().to_owned();
    assert_eq!(s.json["vendor"], "agora");
    let made = fake.converters.borrow().clone();
    assert_eq!(made.len(), 2);
    assert_eq!(made[0]["name"], format!("{id}_o1"));
    assert_eq!(made[1]["body"]["converter"]["rtmpUrl"], TWITCH);
    let layout = &made[0]["body"]["converter"]["transcodeOptions"]["videoOptions"]["layout"];
    assert_eq!(layout.as_array().unwrap().len(), 1, "alice alone, on the whole canvas: {layout}");
    assert_eq!(layout[0]["rtcStreamUid"], alice);
    assert_eq!(layout[0]["region"]["width"], 1280);

    // Bob starts broadcasting: every converter gets the two-cell grid, sequence 2.
    agora_presence(&t, "n3", 103, &room, bob);
    let patches: Vec<_> = sent(&t).into_iter().filter(|(_, m, _)| m == "PATCH").collect();
    assert_eq!(patches.len(), 2, "one update per converter");
    assert!(patches.iter().all(|(u, _, _)| u.ends_with("?sequence=2")), "{patches:?}");
    let grid = &patches[0].2["converter"]["transcodeOptions"]["videoOptions"]["layout"];
    let cells: Vec<_> =
        grid.as_array().unwrap().iter().map(|r| (r["rtcStreamUid"].clone(), r["region"]["xPos"].clone())).collect();
    assert_eq!(cells, vec![(json!(alice), json!(0)), (json!(bob), json!(640))]);
    // The same event again (a redelivery) changes nothing; alice leaving re-lays out once more.
    agora_presence(&t, "n3", 103, &room, bob);
    agora_presence(&t, "n4", 104, &room, alice);
    let patches: Vec<_> = sent(&t).into_iter().filter(|(_, m, _)| m == "PATCH").collect();
    assert_eq!(patches.len(), 4);
    assert!(patches[2].0.ends_with("?sequence=3"));
    let solo = &patches[2].2["converter"]["transcodeOptions"]["videoOptions"]["layout"];
    assert_eq!((solo[0]["rtcStreamUid"].clone(), solo.as_array().unwrap().len()), (json!(bob), 1));

    let g = t.call("GET", &format!("/v1/rtc/stream/get/{id}"), None, Some(&key));
    assert_eq!(g.json["status"], "active", "{}", g.json);
    let stop = t.call("POST", &format!("/v1/rtc/stream/stop/{id}"), Some(json!({})), Some(&key));
    assert_eq!((stop.status, stop.json["status"].as_str()), (200, Some("ended")), "{}", stop.json);
    assert!(fake.converters.borrow().is_empty(), "both converters deleted");
}

#[test]
fn agora_adopts_a_converter_whose_create_answer_was_lost_and_translates_a_refusal() {
    let t = app(&[]);
    let key = t.project_key();
    let fake = agora(&t);
    let (room, _) = agora_member(&t, &key, "class", "alice");
    *fake.lose_first.borrow_mut() = true;
    let s = start(&t, &key, json!({"room": room, "outputs": [{"url": YOUTUBE}]}));
    // The create was sent again, refused as a duplicate name, and the converter of that
    // name adopted: one converter.
    assert_eq!(s.status, 201, "{}", s.json);
    assert_eq!(fake.converters.borrow().len(), 1);
    let posts = sent(&t).into_iter().filter(|(_, m, _)| m == "POST").count();
    assert_eq!(posts, 2);

    // Media Push not enabled: the second create is refused; the first is removed again and
    // the client gets rtcgate's own error, not Agora's body.
    *fake.refuse_second.borrow_mut() = true;
    fake.converters.borrow_mut().clear();
    let r = start(&t, &key, json!({"room": room, "outputs": [{"url": TWITCH}, {"url": OTHER}]}));
    assert_eq!((r.status, r.code()), (502, "VENDOR_AUTH_FAILED"), "{}", r.json);
    assert!(!r.json.to_string().contains("media push not enabled"), "{}", r.json);
    assert!(fake.converters.borrow().is_empty(), "the converter made first was deleted");
    let list = t.call("GET", "/v1/rtc/stream/list", None, Some(&key));
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1, "the refused start left no record");
}

fn media_push_notice(t: &TestApp, notice: &str, event_type: u32, payload: Value) -> Reply {
    let body = json!({"noticeId": notice, "productId": 5, "eventType": event_type, "notifyMs": NOW_MS,
                      "payload": payload});
    agora_ncs(t, &body)
}

/// A stream of an Agora room where alice broadcasts, to YouTube and Twitch (converters cv1, cv2).
fn agora_stream_to_two_outputs(t: &TestApp, key: &str) -> Reply {
    agora(t);
    let (room, alice) = agora_member(t, key, "class", "alice");
    agora_presence(t, "n1", 103, &room, alice);
    let s = start(t, key, json!({"room": room, "outputs": [{"url": YOUTUBE}, {"url": TWITCH}]}));
    assert_eq!(s.status, 201, "{}", s.json);
    s
}

#[test]
fn agora_media_push_notices_move_each_output_and_end_the_stream_once() {
    let t = app(&[]);
    let key = t.project_key();
    let s = agora_stream_to_two_outputs(&t, &key);
    let id = s.json["stream"].as_str().unwrap().to_owned();
    assert_eq!(s.json["status"], "starting", "both converters connecting: {}", s.json);
    // From here Agora's REST API is out of reach: only its notifications tell.
    t.native.http.respond_with(|_| Err(HttpError::Timeout));
    let stored = |t: &TestApp| t.call("GET", &format!("/v1/rtc/stream/get/{id}"), None, Some(&key)).json;

    // The first converter's state changes carry only its id (cv1); the second's push runs.
    let failed = json!({"converter": {"id": "cv1", "state": "failed"}, "lts": NOW_MS});
    for _ in 0..2 {
        assert_eq!(media_push_notice(&t, "p1", 3, failed.clone()).status, 200);
    }
    let running = json!({"converter": {"id": "cv2", "state": "running"}, "lts": NOW_MS});
    assert_eq!(media_push_notice(&t, "p2", 3, running).status, 200);
    let live = stored(&t);
    assert_eq!(live["status"], "active", "{live}");
    let outputs: Vec<_> = live["outputs"].as_array().unwrap().iter().map(|o| o["status"].clone()).collect();
    assert_eq!(outputs, vec![json!("failed"), json!("active")]);
    assert_eq!(live["outputs"][0]["error"], "Agora could not push to this ingest");
    let output_failed = events_of(&t, &key, "stream.output_failed");
    assert_eq!(output_failed.len(), 1, "once, however often Agora says it");
    assert_eq!(output_failed[0]["data"]["output"], "o1");

    // A converter that is not ours, by name or by id: acknowledged, nothing changes.
    let foreign = json!({"converter": {"id": "cv9", "name": "show68_vertical"}, "destroyReason": "Idle Timeout"});
    assert_eq!(media_push_notice(&t, "p3", 4, foreign).status, 200);
    let unknown = json!({"converter": {"id": "cv9", "state": "failed"}});
    assert_eq!(media_push_notice(&t, "p4", 3, unknown).status, 200);
    assert_eq!(stored(&t)["status"], "active");

    // Everyone left: Agora destroys the second converter after its idle timeout. Both outputs
    // are over, so the stream is, once.
    let idle = json!({"converter": {"id": "cv2", "name": format!("{id}_o2")}, "destroyReason": "Idle Timeout",
                      "lts": NOW_MS + 300_000});
    for notice in ["p5", "p6"] {
        assert_eq!(media_push_notice(&t, notice, 4, idle.clone()).status, 200);
    }
    let over = stored(&t);
    assert_eq!(over["status"], "ended", "{over}");
    assert_eq!(over["ended_at"], "2023-11-14T22:18:20Z", "when Agora destroyed it: {over}");
    assert_eq!(over["outputs"][1]["status"], "ended");
    assert_eq!(events_of(&t, &key, "stream.ended").len(), 1);
    // Media Push notices are not events of their own: only the stream's events tell of them.
    let types = event_types(&t, &key);
    assert_eq!(types.iter().filter(|t| !t.starts_with("participant.")).count(), 3, "{types:?}");
}

#[test]
fn a_converter_agora_answers_404_for_does_not_keep_the_layout_from_the_others() {
    let t = app(&[]);
    let key = t.project_key();
    let AgoraClass { fake, room, alice, bob, id } =
        agora_class_streamed_to(&t, &key, json!([{"url": YOUTUBE}, {"url": TWITCH}]));
    // The first converter is gone at Agora, and no notice said so (or one is still on its way;
    // a 404 may also be a converter mid-failover).
    fake.converters.borrow_mut().retain(|c| c["id"] != "cv1");

    // Bob starts broadcasting: the second converter gets the new layout all the same.
    agora_presence(&t, "n2", 103, &room, bob);
    let updates = agora_updates(&t);
    assert_eq!(updates_per_converter(&updates), (1, 1), "{updates:?}");
    let taken = updates.iter().find(|(u, _)| u.contains("/cv2?")).unwrap();
    assert_eq!(taken.1, vec![json!(alice), json!(bob)]);

    // The layout is not marked sent (the first converter may come back after a failover), so
    // the scheduled job offers it to both again, and the stream still runs.
    let report = scheduled(&t);
    assert_eq!((report.layouts_sent, report.layouts_failed), (0, 1), "{report:?}");
    let updates = agora_updates(&t);
    assert_eq!(updates_per_converter(&updates), (2, 2), "{updates:?}");
    let outputs = |t: &TestApp| {
        let g = stream_get(t, &key, &id);
        let statuses: Vec<Value> = g["outputs"].as_array().unwrap().iter().map(|o| o["status"].clone()).collect();
        (g["status"].clone(), statuses)
    };
    assert_eq!(outputs(&t), (json!("active"), vec![json!("starting"), json!("active")]));

    // Missing longer than a failover takes: the job ends that output, and from then on sends
    // the layout to the converter that is left, which takes it.
    t.native.clock.advance_ms(MISSING_GRACE_MS as u64 + 1000);
    let report = scheduled(&t);
    assert_eq!((report.layouts_sent, report.layouts_failed), (0, 1), "{report:?}");
    assert_eq!(outputs(&t), (json!("active"), vec![json!("ended"), json!("active")]));
    let report = scheduled(&t);
    assert_eq!((report.layouts_sent, report.layouts_failed), (1, 0), "{report:?}");
    let updates = agora_updates(&t);
    assert_eq!(updates_per_converter(&updates), (3, 4), "{updates:?}");
    scheduled(&t);
    assert_eq!(agora_updates(&t).len(), 7, "up to date: nothing more sent");
    assert!(events_of(&t, &key, "stream.ended").is_empty());
}

#[test]
fn a_converter_agora_answers_404_for_ends_only_once_missing_longer_than_a_failover() {
    let t = app(&[]);
    let key = t.project_key();
    let AgoraClass { fake, id, .. } = agora_class_streamed_to(&t, &key, json!([{"url": YOUTUBE}]));
    let get = |t: &TestApp| {
        let g = stream_get(t, &key, &id);
        (g["status"].as_str().unwrap().to_owned(), g["outputs"][0]["status"].as_str().unwrap().to_owned())
    };
    let live = || ("active".to_owned(), "active".to_owned());
    assert_eq!(get(&t), live());

    // Agora answers 404 while the converter moves servers: still live, for up to the grace.
    let converter = fake.converters.borrow_mut().remove(0);
    assert_eq!(get(&t), live());
    t.native.clock.advance_ms(60_000);
    assert_eq!(get(&t), live());
    // Found again: the clock starts over at the next miss.
    fake.converters.borrow_mut().push(converter);
    t.native.clock.advance_ms(60_000);
    assert_eq!(get(&t), live());
    fake.converters.borrow_mut().clear();
    assert_eq!(get(&t), live());
    t.native.clock.advance_ms(MISSING_GRACE_MS as u64 - 1000);
    assert_eq!(get(&t), live(), "missing 119 s since it was found again");
    assert!(events_of(&t, &key, "stream.ended").is_empty());

    // Missing longer than a failover takes: it is gone, and so is the stream, once.
    t.native.clock.advance_ms(2000);
    assert_eq!(get(&t), ("ended".to_owned(), "ended".to_owned()));
    assert_eq!(get(&t), ("ended".to_owned(), "ended".to_owned()));
    assert_eq!(events_of(&t, &key, "stream.ended").len(), 1);
}

#[test]
fn a_converter_that_took_a_layout_is_there_so_its_next_miss_starts_a_new_grace() {
    let t = app(&[]);
    let key = t.project_key();
    let AgoraClass { fake, room, bob, id, .. } = agora_class_streamed_to(&t, &key, json!([{"url": YOUTUBE}]));
    let get = |t: &TestApp| stream_get(t, &key, &id)["status"].clone();
    assert_eq!(get(&t), "active");
    // A first failover: missed once, then back.
    let converter = fake.converters.borrow_mut().remove(0);
    assert_eq!(get(&t), "active");
    fake.converters.borrow_mut().push(converter);
    // Bob starts broadcasting and the converter takes the new layout: it is there.
    agora_presence(&t, "n2", 103, &room, bob);
    assert_eq!(updates_per_converter(&agora_updates(&t)).0, 1);
    // Long after, a second failover: a new miss, a new grace.
    t.native.clock.advance_ms(MISSING_GRACE_MS as u64 * 10);
    fake.converters.borrow_mut().clear();
    assert_eq!(get(&t), "active");
    t.native.clock.advance_ms(MISSING_GRACE_MS as u64 + 1000);
    assert_eq!(get(&t), "ended");
}

#[test]
fn a_state_notice_newer_than_a_miss_starts_a_new_grace_and_an_older_one_does_not() {
    let t = app(&[]);
    let key = t.project_key();
    let AgoraClass { fake, id, .. } = agora_class_streamed_to(&t, &key, json!([{"url": YOUTUBE}]));
    let get = |t: &TestApp| stream_get(t, &key, &id)["status"].clone();
    assert_eq!(get(&t), "active");
    fake.converters.borrow_mut().clear();
    let first_miss = t.native.clock.now_ms();
    assert_eq!(get(&t), "active");
    let running = |lts: u64| json!({"converter": {"id": "cv1", "state": "running"}, "lts": lts});
    // Agora reports it running after the miss: it was there, so the grace starts over.
    assert_eq!(media_push_notice(&t, "r1", 3, running(first_miss + 1)).status, 200);
    t.native.clock.advance_ms(MISSING_GRACE_MS as u64 + 1000);
    assert_eq!(get(&t), "active", "missed again just now");
    // A notice from before that miss (late, or redelivered) does not.
    assert_eq!(media_push_notice(&t, "r2", 3, running(first_miss)).status, 200);
    t.native.clock.advance_ms(MISSING_GRACE_MS as u64 + 1000);
    assert_eq!(get(&t), "ended");
}

#[test]
fn a_read_that_crossed_a_notice_ending_the_stream_does_not_reopen_it() {
    let t = app(&[]);
    let key = t.project_key();
    let AgoraClass { fake, id, .. } = agora_class_streamed_to(&t, &key, json!([{"url": YOUTUBE}]));
    let get = |t: &TestApp| stream_get(t, &key, &id);
    assert_eq!(get(&t)["status"], "active");
    // The converter is destroyed, and another isolate saves its destroyed notice (as
    // `follow_notice` does: a new state version) while this read of it is under way.
    fake.converters.borrow_mut().clear();
    let db = t.native.db.clone();
    *fake.on_missing_get.borrow_mut() = Some(Box::new(move || {
        db.exec_raw(
            "UPDATE streams SET status = 'ended', ended_at_ms = 1700000000000, state_version = state_version + 1 \
             WHERE status = 'active'",
        );
    }));
    let crossed = get(&t);
    assert!(fake.on_missing_get.borrow().is_none(), "the notice was saved during the read");
    assert_eq!(crossed["status"], "ended", "the record as the notice saved it: {crossed}");
    assert_eq!(get(&t)["status"], "ended", "not reopened by the read's older view");
}

#[test]
fn an_output_that_failed_is_not_laid_out_again() {
    let t = app(&[]);
    let key = t.project_key();
    let AgoraClass { fake, room, bob, .. } =
        agora_class_streamed_to(&t, &key, json!([{"url": YOUTUBE}, {"url": TWITCH}]));
    // The second converter failed and Agora destroyed it.
    let failed = json!({"converter": {"id": "cv2", "state": "failed"}, "lts": NOW_MS});
    assert_eq!(media_push_notice(&t, "f1", 3, failed).status, 200);
    fake.converters.borrow_mut().retain(|c| c["id"] != "cv2");
    agora_presence(&t, "n2", 103, &room, bob);
    assert_eq!(updates_per_converter(&agora_updates(&t)), (1, 0));
    let report = scheduled(&t);
    assert_eq!((report.layouts_sent, report.layouts_failed), (0, 0), "the layout was taken: {report:?}");
    assert_eq!(agora_updates(&t).len(), 1);
    let list = t.call("GET", "/v1/rtc/stream/list", None, Some(&key));
    let s = &list.json["items"][0];
    let outputs: Vec<_> = s["outputs"].as_array().unwrap().iter().map(|o| o["status"].clone()).collect();
    assert_eq!((s["status"].clone(), outputs), (json!("starting"), vec![json!("starting"), json!("failed")]), "{s}");
}

#[test]
fn an_output_that_failed_stays_failed_when_its_stream_stops_or_agora_is_asked() {
    let t = app(&[]);
    let key = t.project_key();
    let fake = agora(&t);
    let (room, _) = agora_member(&t, &key, "class", "alice");
    let s = start(&t, &key, json!({"room": room, "outputs": [{"url": YOUTUBE}, {"url": TWITCH}]}));
    assert_eq!(s.status, 201, "{}", s.json);
    let id = s.json["stream"].as_str().unwrap().to_owned();
    let failed = json!({"converter": {"id": "cv2", "state": "failed"}, "lts": NOW_MS});
    assert_eq!(media_push_notice(&t, "f1", 3, failed).status, 200);

    // Agora's answer about the converter (running, from a read that crossed the notice) does
    // not make the failed output push again.
    let g = t.call("GET", &format!("/v1/rtc/stream/get/{id}"), None, Some(&key));
    let outputs: Vec<_> = g.json["outputs"].as_array().unwrap().iter().map(|o| o["status"].clone()).collect();
    assert_eq!(outputs, vec![json!("active"), json!("failed")], "{}", g.json);

    // The stop deletes both converters; the one that had failed is still reported failed.
    let stop = t.call("POST", &format!("/v1/rtc/stream/stop/{id}"), Some(json!({})), Some(&key));
    assert_eq!((stop.status, stop.json["status"].as_str()), (200, Some("ended")), "{}", stop.json);
    let outputs: Vec<_> = stop.json["outputs"].as_array().unwrap().iter().map(|o| o["status"].clone()).collect();
    assert_eq!(outputs, vec![json!("ended"), json!("failed")], "{}", stop.json);
    assert_eq!(stop.json["outputs"][1]["error"], "Agora could not push to this ingest");
    assert!(fake.converters.borrow().is_empty(), "both converters deleted");
    assert_eq!(events_of(&t, &key, "stream.output_failed").len(), 1);
    assert_eq!(events_of(&t, &key, "stream.ended").len(), 1);
}

// -------------------------------------------------------------------------------- ZEGO ---

fn zego_callback(t: &TestApp, fields: Value, nonce: &str) -> Reply {
    let r = t.send(zego_request(fields, nonce));
    t.native.clock.advance_ms(1000);
    r
}

/// A ZEGO callback as ZEGO signs it, at `NOW_MS`.
fn zego_request(fields: Value, nonce: &str) -> rtcgate::http::ApiRequest {
    let ts = (NOW_MS / 1000).to_string();
    let mut parts = [ZEGO_SECRET.to_owned(), ts.clone(), nonce.to_owned()];
    parts.sort();
    let signature: String = Sha1::digest(parts.concat().as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let mut body = fields;
    body["nonce"] = json!(nonce);
    body["timestamp"] = json!(ts);
    body["signature"] = json!(signature);
    let mut req = rtcgate::http::ApiRequest::new("POST", "/v1/vendor-events/zego")
        .with_header("content-type", "application/json");
    req.body = body.to_string().into_bytes();
    req
}

/// A scripted ZEGO that accepts every mixing call; the calls made, by action, with their bodies.
fn zego_mixing(t: &TestApp) -> Rc<RefCell<Vec<(String, Value)>>> {
    let calls: Rc<RefCell<Vec<(String, Value)>>> = Rc::default();
    let c = calls.clone();
    t.native.http.respond_with(move |req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        let action = req.url.split("Action=").nth(1).unwrap_or("").split('&').next().unwrap_or("").to_owned();
        c.borrow_mut().push((action.clone(), body));
        let data = if action == "GetMixTaskInfo" { json!({"TaskInfo": {"TaskId": "x"}}) } else { json!({}) };
        json_response(200, &json!({"Code": 0, "Message": "ok", "RequestId": "r", "Data": data}))
    });
    calls
}

fn zego_room(t: &TestApp, key: &str) -> String {
    t.room_on(key, "stage", "zego")
}

#[test]
fn zego_mixes_one_task_per_stream_and_resends_it_with_a_higher_sequence() {
    let t = app(&[]);
    let key = t.project_key();
    let calls = zego_mixing(&t);
    let room = zego_room(&t, &key);
    let publish = |nonce: &str, event: &str, stream: &str, seq: u32| {
        let fields = json!({"event": event, "room_id": room, "user_id": "alice", "stream_id": stream,
                            "stream_seq": seq.to_string(), "appid": "1234567890"});
        assert_eq!(zego_callback(&t, fields, nonce).status, 200);
    };
    publish("n1", "stream_create", "alice-cam", 1);
    let s = start(&t, &key, json!({"room": room, "outputs": [{"url": YOUTUBE}], "layout": "single"}));
    assert_eq!(s.status, 201, "{}", s.json);
    let id = s.json["stream"].as_str().unwrap().to_owned();
    assert_eq!(s.json["status"], "active");
    let first = calls.borrow().last().unwrap().clone();
    assert_eq!(first.0, "StartMix");
    assert_eq!((first.1["TaskId"].as_str(), first.1["Sequence"].as_u64()), (Some(id.as_str()), Some(1)));
    assert_eq!(first.1["MixInput"][0]["StreamId"], "alice-cam");
    assert_eq!(first.1["MixOutput"][0]["StreamUrl"], YOUTUBE);

    // "single" shows the first publisher only: a second publisher changes nothing to send…
    publish("n2", "stream_create", "bob-cam", 1);
    let mixes = || calls.borrow().iter().filter(|(a, _)| a == "StartMix").cloned().collect::<Vec<_>>();
    // …but the publishers did change, so the task is re-sent (same single input).
    assert_eq!(mixes().len(), 2);
    assert_eq!(mixes()[1].1["Sequence"], 2);
    // Alice stops: bob takes the canvas, sequence 3.
    publish("n3", "stream_close", "alice-cam", 2);
    let last = mixes().last().unwrap().clone();
    assert_eq!((last.1["Sequence"].as_u64(), last.1["MixInput"][0]["StreamId"].as_str()), (Some(3), Some("bob-cam")));
    assert_eq!(last.1["TaskId"], id.as_str(), "the same task, changed");

    let u = t.call(
        "POST",
        &format!("/v1/rtc/stream/update/{id}"),
        Some(json!({"add_outputs": [{"url": TWITCH}]})),
        Some(&key),
    );
    assert_eq!(u.status, 200, "{}", u.json);
    let last = mixes().last().unwrap().clone();
    assert_eq!(last.1["Sequence"], 4);
    assert_eq!(last.1["MixOutput"].as_array().unwrap().len(), 2);

    let stop = t.call("POST", &format!("/v1/rtc/stream/stop/{id}"), Some(json!({})), Some(&key));
    assert_eq!((stop.status, stop.json["status"].as_str()), (200, Some("ended")), "{}", stop.json);
    let stopmix = calls.borrow().iter().rfind(|(a, _)| a == "StopMix").cloned().unwrap();
    assert_eq!(stopmix.1["TaskId"], id.as_str());
    assert_eq!(events_of(&t, &key, "stream.ended").len(), 1);
}

#[test]
fn zego_mix_callbacks_move_the_stream_and_a_mix_stop_ends_it_once() {
    let t = app(&[]);
    let key = t.project_key();
    t.native
        .http
        .respond_with(|_| json_response(200, &json!({"Code": 0, "Message": "ok", "RequestId": "r", "Data": {}})));
    let room = zego_room(&t, &key);
    let s = start(&t, &key, json!({"room": room, "outputs": [{"url": YOUTUBE}]}));
    assert_eq!(s.status, 201, "{}", s.json);
    let id = s.json["stream"].as_str().unwrap().to_owned();
    let mix = |nonce: &str, event: &str, task: &str| {
        let fields = json!({"appid": "1234567890", "event": event, "seq": "1", "task_id": format!("1234567890:{task}"),
                            "channel_id": room, "publish_id": "alice"});
        assert_eq!(zego_callback(&t, fields, nonce).status, 200);
    };
    mix("m1", "mix_start", &id);
    // The task dies at ZEGO (its stop notice is the only word of it), then a late start
    // notice and a redelivered stop change nothing; another task's stop is not ours.
    mix("m2", "mix_stop", "str_someone_else");
    mix("m3", "mix_stop", &id);
    mix("m4", "mix_start", &id);
    mix("m3", "mix_stop", &id);
    let g = t.call("GET", &format!("/v1/rtc/stream/get/{id}"), None, Some(&key));
    assert_eq!(g.json["status"], "ended", "{}", g.json);
    assert_eq!(events_of(&t, &key, "stream.ended").len(), 1);
    let types = event_types(&t, &key);
    assert_eq!(types, vec!["stream.started".to_owned(), "stream.ended".to_owned()], "{types:?}");
}

// ------------------------------------------------- layouts the vendor never got ---

/// One run of the scheduled job.
fn scheduled(t: &TestApp) -> rtcgate::app::maintenance::Report {
    rtcgate::native::block_on(rtcgate::app::maintenance::run(&t.app, &t.native.runtime))
}

/// How many of `updates` went to converter cv1 and to cv2.
fn updates_per_converter(updates: &[(String, Vec<Value>)]) -> (usize, usize) {
    let to = |cv: &str| updates.iter().filter(|(u, _)| u.contains(&format!("/rtmp-converters/{cv}?"))).count();
    (to("cv1"), to("cv2"))
}

/// Every converter update sent so far (answered or not): its URL and the uids it lays out.
fn agora_updates(t: &TestApp) -> Vec<(String, Vec<Value>)> {
    sent(t)
        .into_iter()
        .filter(|(_, m, _)| m == "PATCH")
        .map(|(u, _, body)| {
            let layout = body["converter"]["transcodeOptions"]["videoOptions"]["layout"].as_array().cloned();
            (u, layout.unwrap_or_default().iter().map(|r| r["rtcStreamUid"].clone()).collect())
        })
        .collect()
}

#[test]
fn an_agora_layout_the_vendor_did_not_take_is_sent_again_by_the_scheduled_job() {
    let t = app(&[]);
    let key = t.project_key();
    let AgoraClass { fake, room, alice, bob, .. } = agora_class_streamed_to(&t, &key, json!([{"url": YOUTUBE}]));
    assert!(agora_updates(&t).is_empty());
    // Nothing to send for a stream whose layout Agora has.
    let report = scheduled(&t);
    assert_eq!((report.layouts_checked, report.layouts_sent, report.layouts_failed), (1, 0, 0), "{report:?}");
    assert!(agora_updates(&t).is_empty(), "the start's layout is Agora's already");

    // Bob starts broadcasting while Agora fails: the new layout is refused, and still refused
    // on the scheduled job's first try.
    *fake.failing_patches.borrow_mut() = 2;
    agora_presence(&t, "n2", 103, &room, bob);
    let updates = agora_updates(&t);
    assert_eq!(updates.len(), 1);
    assert!(updates[0].0.ends_with("?sequence=2"), "{updates:?}");
    let report = scheduled(&t);
    assert_eq!((report.layouts_sent, report.layouts_failed), (0, 1), "{report:?}");
    let updates = agora_updates(&t);
    assert_eq!(updates.len(), 2, "the job sends the layout Agora did not take: {updates:?}");
    assert!(updates[1].0.ends_with("?sequence=3"), "with the next sequence number: {updates:?}");
    assert_eq!(updates[1].1, vec![json!(alice), json!(bob)]);

    // Agora is back: the next run sends it once more, and Agora has it.
    let report = scheduled(&t);
    assert_eq!((report.layouts_sent, report.layouts_failed), (1, 0), "{report:?}");
    let updates = agora_updates(&t);
    assert_eq!(updates.len(), 3, "{updates:?}");
    assert!(updates[2].0.ends_with("?sequence=4"), "{updates:?}");
    assert_eq!(updates[2].1, vec![json!(alice), json!(bob)]);
    assert_eq!(*fake.failing_patches.borrow(), 0);

    // Up to date: later runs ask Agora nothing about the layout.
    scheduled(&t);
    scheduled(&t);
    assert_eq!(agora_updates(&t).len(), 3);
    // The next change is sent by its event as before, with the sequence after the job's.
    agora_presence(&t, "n3", 104, &room, alice);
    let updates = agora_updates(&t);
    assert_eq!(updates.len(), 4, "{updates:?}");
    assert!(updates[3].0.ends_with("?sequence=5"), "{updates:?}");
    assert_eq!(updates[3].1, vec![json!(bob)]);
    scheduled(&t);
    assert_eq!(agora_updates(&t).len(), 4);

    // An older send accepted late marks nothing over the newer one, nor does one of other
    // publishers than the stored ones.
    let row = &t.native.db.rows("SELECT project_id, id FROM streams")[0];
    let rt = &t.native.runtime;
    let find = || {
        let (project, id) = (row["project_id"].as_str().unwrap(), row["id"].as_str().unwrap());
        rtcgate::native::block_on(rtcgate::store::streams::find(rt, project, id)).unwrap().unwrap()
    };
    let stored = find();
    assert_eq!((stored.seq, stored.layout_sent_seq), (5, 5));
    let older = rtcgate::store::streams::Stream { seq: 4, layout_sent_seq: 0, ..stored.clone() };
    assert!(!rtcgate::native::block_on(rtcgate::store::streams::mark_layout_sent(rt, &older, 0)).unwrap());
    let mut newer = rtcgate::store::streams::Stream { seq: 6, ..stored.clone() };
    newer.publishers.push("elsewhere".to_owned());
    assert!(!rtcgate::native::block_on(rtcgate::store::streams::mark_layout_sent(rt, &newer, 0)).unwrap());
    assert_eq!(find().layout_sent_seq, 5);
}

#[test]
fn a_zego_publisher_change_whose_work_after_the_answer_never_ran_is_laid_out_by_the_scheduled_job() {
    let t = app(&[]);
    let key = t.project_key();
    let calls = zego_mixing(&t);
    let mixes = || calls.borrow().iter().filter(|(a, _)| a == "StartMix").map(|(_, b)| b.clone()).collect::<Vec<_>>();
    let room = zego_room(&t, &key);
    let created = |user: &str, stream: &str| {
        json!({"event": "stream_create", "room_id": room, "user_id": user, "stream_id": stream,
               "stream_seq": "1", "appid": "1234567890"})
    };
    assert_eq!(zego_callback(&t, created("alice", "alice-cam"), "n1").status, 200);
    let s = start(&t, &key, json!({"room": room, "outputs": [{"url": YOUTUBE}], "layout": "grid"}));
    assert_eq!(s.status, 201, "{}", s.json);
    assert_eq!(mixes().len(), 1);

    // Bob's stream is stored and answered, then the isolate stops before its work after the
    // answer (laying the stream out again) runs.
    let r = t.send_respond_only(zego_request(created("bob", "bob-cam"), "n2"));
    assert_eq!(r.status, 200, "{}", r.json);
    rtcgate::native::drop_background();
    t.native.clock.advance_ms(1000);
    assert_eq!(mixes().len(), 1, "nothing was laid out");

    // A stream whose start is unconfirmed (no vendor handle) waits for its confirmation.
    t.native.db.exec_raw("UPDATE streams SET vendor_stream_id = NULL");
    scheduled(&t);
    assert_eq!(mixes().len(), 1, "an unconfirmed stream is not laid out");
    t.native.db.exec_raw("UPDATE streams SET vendor_stream_id = id");

    scheduled(&t);
    let all = mixes();
    assert_eq!(all.len(), 2, "the job laid the stream out");
    let inputs: Vec<_> = all[1]["MixInput"].as_array().unwrap().iter().map(|i| i["StreamId"].clone()).collect();
    assert_eq!(inputs, vec![json!("alice-cam"), json!("bob-cam")]);
    assert_eq!(all[1]["Sequence"], 2);
    // Up to date: the next run sends nothing.
    scheduled(&t);
    assert_eq!(mixes().len(), 2);
}

#[test]
fn a_notice_folded_into_state_read_before_another_save_is_not_saved_over_it() {
    let t = app(&[]);
    let key = t.project_key();
    let s = agora_stream_to_two_outputs(&t, &key);
    let (rt, id) = (&t.native.runtime, s.json["stream"].as_str().unwrap().to_owned());
    let project = t.native.db.rows("SELECT project_id FROM streams")[0]["project_id"].as_str().unwrap().to_owned();
    let read = || rtcgate::native::block_on(rtcgate::store::streams::find(rt, &project, &id)).unwrap().unwrap();
    // Two isolates read the stream, each to fold in a notice about its own output.
    let (first, second) = (read(), read());
    let mut o1_failed = first.clone();
    o1_failed.outputs[0].status = rtcgate::domain::stream::OutputStatus::Failed;
    let mut o2_active = second.clone();
    o2_active.outputs[1].status = rtcgate::domain::stream::OutputStatus::Active;
    let save = |before, after| {
        rtcgate::native::block_on(rtcgate::store::streams::save_state_if_unchanged(rt, before, after)).unwrap()
    };
    assert!(save(&first, &o1_failed));
    assert!(!save(&second, &o2_active), "the second read is stale: saving it would lose o1's failure");
    assert_eq!(read().outputs[0].status, rtcgate::domain::stream::OutputStatus::Failed);
    // Read again, folded again: both outputs' news are kept.
    let mut again = read();
    again.outputs[1].status = rtcgate::domain::stream::OutputStatus::Active;
    assert!(save(&read(), &again));
    let stored: Vec<_> = read().outputs.iter().map(|o| o.status.as_str()).collect();
    assert_eq!(stored, ["failed", "active"]);
}

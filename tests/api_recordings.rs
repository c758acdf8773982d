//! Recordings natively: LiveKit Egress answers scripted per test, including a start whose
//! answer is lost.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use rtcgate::native::json_response;
use rtcgate::runtime::HttpError;
use serde_json::{json, Value};
use support::{TestApp, AGORA, LIVEKIT};

/// The deployment's shared storage: projects record under `s3://media/rtc/<project>/`.
const STORAGE: &[(&str, &str)] = &[
    ("RECORDING_S3_ACCESS_KEY", "AKIA-TEST"),
    ("RECORDING_S3_SECRET", "s3-secret-value"),
    ("RECORDING_S3_REGION", "eu-west-1"),
    ("RECORDING_DEFAULT_URI", "s3://media/rtc/"),
];

/// `path` inside `project`'s folder of the shared storage.
fn shared(project: &str, path: &str) -> String {
    format!("s3://media/rtc/{project}/{path}")
}

fn egress(id: &str, room: &str, status: &str) -> Value {
    json!({"egress_id": id, "room_name": room, "status": status, "started_at": "1700000000000000000", "ended_at": "0", "error": "", "file_results": []})
}

/// A scripted LiveKit: rooms are created, egress answers come from `state`.
struct FakeLiveKit {
    /// Egress infos the server knows, by insertion order.
    egresses: RefCell<Vec<Value>>,
    /// When set, StartRoomCompositeEgress creates the egress but the answer never comes.
    lose_start_answer: RefCell<bool>,
    /// When set, ListEgress times out too.
    silent_list: RefCell<bool>,
}

fn livekit(t: &TestApp) -> Rc<FakeLiveKit> {
    let fake = Rc::new(FakeLiveKit {
        egresses: RefCell::default(),
        lose_start_answer: RefCell::new(false),
        silent_list: RefCell::new(false),
    });
    let f = fake.clone();
    t.native.http.respond_with(move |req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        let method = req.url.rsplit('/').next().unwrap_or("");
        match method {
            "CreateRoom" => json_response(200, &json!({"sid": "RM_1", "name": body["name"]})),
            "StartRoomCompositeEgress" => {
                let id = format!("EG_{}", f.egresses.borrow().len() + 1);
                let mut info = egress(&id, body["room_name"].as_str().unwrap_or(""), "EGRESS_STARTING");
                // Like LiveKit, the answer echoes the request (with its file output path).
                info["room_composite"] = body.clone();
                f.egresses.borrow_mut().push(info);
                if *f.lose_start_answer.borrow() {
                    return Err(HttpError::Timeout);
                }
                json_response(200, f.egresses.borrow().last().unwrap())
            }
            "ListEgress" => {
                if *f.silent_list.borrow() {
                    return Err(HttpError::Timeout);
                }
                let items: Vec<Value> = f
                    .egresses
                    .borrow()
                    .iter()
                    .filter(|e| body.get("egress_id").is_none_or(|id| id == &e["egress_id"]))
                    .filter(|e| body.get("room_name").is_none_or(|r| r == &e["room_name"]))
                    .filter(|e| {
                        body.get("active") != Some(&json!(true))
                            || ["EGRESS_STARTING", "EGRESS_ACTIVE", "EGRESS_ENDING"]
                                .contains(&e["status"].as_str().unwrap())
                    })
                    .cloned()
                    .collect();
                json_response(200, &json!({"items": items}))
            }
            "StopEgress" => {
                let mut all = f.egresses.borrow_mut();
                let e = all.iter_mut().find(|e| e["egress_id"] == body["egress_id"]).unwrap();
                if e["status"] == "EGRESS_COMPLETE" {
                    return json_response(
                        412,
                        &json!({"code": "failed_precondition", "msg": "egress already complete"}),
                    );
                }
                e["status"] = json!("EGRESS_ENDING");
                json_response(200, e)
            }
            _ => json_response(404, &json!({"code": "bad_route", "msg": "no"})),
        }
    });
    fake
}

fn create_room(t: &TestApp, key: &str, name: &str) -> String {
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": name, "vendor": "livekit"})), Some(key));
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["room"].as_str().unwrap().to_owned()
}

fn calls_to(t: &TestApp, method: &str) -> Vec<Value> {
    t.native.http.sent().into_iter().filter(|x| x.request.url.ends_with(method)).filter_map(|x| x.json).collect()
}

#[test]
fn start_stop_get_with_an_s3_destination() {
    let t = TestApp::new(&[LIVEKIT, STORAGE]);
    let (prj, key) = t.project_and_key();
    let fake = livekit(&t);
    let room = create_room(&t, &key, "standup");
    let s = t.call(
        "POST",
        "/v1/rtc/recording/start",
        Some(json!({"room": "standup", "output_uri": shared(&prj, "rec/{room}.mp4"), "layout": "speaker"})),
        Some(&key),
    );
    assert_eq!(s.status, 201, "{}", s.json);
    let rec = s.json["recording"].as_str().unwrap().to_owned();
    assert!(rec.starts_with("rec_"));
    assert_eq!(
        (s.json["room"].as_str(), s.json["status"].as_str(), s.json["vendor"].as_str()),
        (Some(room.as_str()), Some("starting"), Some("livekit"))
    );
    assert_eq!(
        s.json["output_uri"],
        shared(&prj, &format!("rec/{room}-{rec}.mp4")),
        "where the file goes, placeholders expanded, and unique to this recording"
    );
    assert!(!s.json.to_string().contains("s3-secret-value") && !s.json.to_string().contains("AKIA"));

    let start = &calls_to(&t, "StartRoomCompositeEgress")[0];
    assert_eq!(start["room_name"], room.as_str());
    assert_eq!(start["layout"], "speaker");
    let file = &start["file_outputs"][0];
    assert_eq!(file["file_type"], "MP4");
    assert_eq!(file["filepath"], format!("rtc/{prj}/rec/{room}-{rec}.mp4"));
    assert_eq!(
        file["s3"],
        json!({"access_key": "AKIA-TEST", "secret": "s3-secret-value", "region": "eu-west-1", "bucket": "media"})
    );

    let stop = t.call("POST", &format!("/v1/rtc/recording/stop/{rec}"), Some(json!({})), Some(&key));
    assert_eq!((stop.status, stop.json["status"].as_str()), (200, Some("stopping")), "{}", stop.json);

    // The vendor finishes; get refreshes the state and shows the file.
    {
        let mut all = fake.egresses.borrow_mut();
        all[0]["status"] = json!("EGRESS_COMPLETE");
        all[0]["ended_at"] = json!("1700000060000000000");
        all[0]["file_results"] = json!([{"filename": "rec.mp4", "location": "s3://media/rec.mp4", "size": "1048576", "duration": "60000000000"}]);
    }
    let g = t.call("GET", &format!("/v1/rtc/recording/get/{rec}"), None, Some(&key));
    assert_eq!(g.json["status"], "complete", "{}", g.json);
    assert_eq!(
        g.json["files"],
        json!([{"location": "s3://media/rec.mp4", "size_bytes": 1048576, "duration_ms": 60000}])
    );
    assert_eq!(g.json["ended_at"], "2023-11-14T22:14:20Z");

    // Stopping what already ended returns its final state without asking the vendor.
    let before = t.native.http.sent().len();
    let again = t.call("POST", &format!("/v1/rtc/recording/stop/{rec}"), None, Some(&key));
    assert_eq!((again.status, again.json["status"].as_str()), (200, Some("complete")));
    assert_eq!(t.native.http.sent().len(), before);

    // The same template again: a path of its own, so the two recordings never share a file.
    t.native.clock.advance_ms(1000);
    let second = t.call(
        "POST",
        "/v1/rtc/recording/start",
        Some(json!({"room": "standup", "output_uri": shared(&prj, "rec/{room}.mp4")})),
        Some(&key),
    );
    let rec2 = second.json["recording"].as_str().unwrap().to_owned();
    assert_eq!(second.json["output_uri"], shared(&prj, &format!("rec/{room}-{rec2}.mp4")));
    assert_eq!(
        calls_to(&t, "StartRoomCompositeEgress")[1]["file_outputs"][0]["filepath"],
        format!("rtc/{prj}/rec/{room}-{rec2}.mp4")
    );

    let list = t.call("GET", &format!("/v1/rtc/recording/list?room={room}&limit=5"), None, Some(&key));
    assert_eq!(list.json["items"][1]["recording"], rec.as_str());
    let missing = t.call("GET", "/v1/rtc/recording/get/rec_nope", None, Some(&key));
    assert_eq!((missing.status, missing.code()), (404, "RECORDING_NOT_FOUND"));
}

#[test]
fn a_lost_start_answer_is_adopted_not_repeated() {
    let t = TestApp::new(&[LIVEKIT, STORAGE]);
    let (prj, key) = t.project_and_key();
    let fake = livekit(&t);
    create_room(&t, &key, "r");
    *fake.lose_start_answer.borrow_mut() = true;
    *fake.silent_list.borrow_mut() = true;
    let body = json!({"room": "r", "output_uri": shared(&prj, "x/"), "idempotency_key": "start-1"});
    let first = t.call("POST", "/v1/rtc/recording/start", Some(body.clone()), Some(&key));
    assert_eq!((first.status, first.code()), (504, "VENDOR_TIMEOUT"), "{}", first.json);
    let pending = first.json["error"]["recording"].as_str().unwrap().to_owned();

    *fake.lose_start_answer.borrow_mut() = false;
    *fake.silent_list.borrow_mut() = false;
    let retry = t.call("POST", "/v1/rtc/recording/start", Some(body), Some(&key));
    assert_eq!(retry.status, 201, "{}", retry.json);
    assert_eq!(retry.json["recording"], pending.as_str(), "the retry adopts the first start");
    assert_eq!(calls_to(&t, "StartRoomCompositeEgress").len(), 1, "exactly one egress");
    assert_eq!(fake.egresses.borrow().len(), 1);
}

#[test]
fn a_lost_start_is_confirmed_by_get_and_a_different_request_does_not_adopt_it() {
    let t = TestApp::new(&[LIVEKIT, STORAGE]);
    let (prj, key) = t.project_and_key();
    let fake = livekit(&t);
    let room = create_room(&t, &key, "r");
    *fake.lose_start_answer.borrow_mut() = true;
    *fake.silent_list.borrow_mut() = true;
    let lost = t.call(
        "POST",
        "/v1/rtc/recording/start",
        Some(json!({"room": "r", "output_uri": shared(&prj, "a.mp4")})),
        Some(&key),
    );
    assert_eq!(lost.status, 504);
    let lost_id = lost.json["error"]["recording"].as_str().unwrap().to_owned();
    *fake.lose_start_answer.borrow_mut() = false;
    *fake.silent_list.borrow_mut() = false;

    // Another request in the room starts its own egress instead of taking the lost one.
    let other = t.call(
        "POST",
        "/v1/rtc/recording/start",
        Some(json!({"room": room, "output_uri": shared(&prj, "b.ogg"), "audio_only": true})),
        Some(&key),
    );
    assert_eq!(other.status, 201, "{}", other.json);
    assert_ne!(other.json["recording"], lost_id.as_str());
    let other_id = other.json["recording"].as_str().unwrap();
    assert_eq!(other.json["output_uri"], shared(&prj, &format!("b-{other_id}.ogg")));
    assert_eq!(fake.egresses.borrow().len(), 2);

    // get confirms the lost one by its output path; stop then reaches the right egress.
    let g = t.call("GET", &format!("/v1/rtc/recording/get/{lost_id}"), None, Some(&key));
    assert_eq!((g.json["status"].as_str(), g.json["live"].as_bool()), (Some("starting"), Some(true)), "{}", g.json);
    let stop = t.call("POST", &format!("/v1/rtc/recording/stop/{lost_id}"), None, Some(&key));
    assert_eq!((stop.status, stop.json["status"].as_str()), (200, Some("stopping")), "{}", stop.json);
    assert_eq!(calls_to(&t, "StopEgress")[0]["egress_id"], "EG_1");
}

#[test]
fn a_start_the_vendor_never_got_fails_after_the_grace_and_is_started_afresh() {
    let t = TestApp::new(&[LIVEKIT, STORAGE]);
    let (prj, key) = t.project_and_key();
    livekit(&t);
    create_room(&t, &key, "r");
    // Nothing reaches the vendor: the start call itself times out before any egress exists.
    t.native.http.respond_with(|_| Err(HttpError::Timeout));
    let body = json!({"room": "r", "output_uri": shared(&prj, "a.mp4")});
    let lost = t.call("POST", "/v1/rtc/recording/start", Some(body.clone()), Some(&key));
    assert_eq!(lost.status, 504);
    let lost_id = lost.json["error"]["recording"].as_str().unwrap().to_owned();
    let fake = livekit(&t);

    // Too soon to tell: the vendor may still act on the lost call.
    let soon = t.call("POST", "/v1/rtc/recording/start", Some(body.clone()), Some(&key));
    assert_eq!((soon.status, soon.code()), (409, "RECORDING_UNCONFIRMED"), "{}", soon.json);
    assert!(fake.egresses.borrow().is_empty());

    t.native.clock.advance_ms(2 * rtcgate::vendors::transport::DEFAULT_TIMEOUT_MS);
    let retry = t.call("POST", "/v1/rtc/recording/start", Some(body), Some(&key));
    assert_eq!(retry.status, 201, "{}", retry.json);
    assert_ne!(retry.json["recording"], lost_id.as_str());
    assert_eq!(fake.egresses.borrow().len(), 1);
    let old = t.call("GET", &format!("/v1/rtc/recording/get/{lost_id}"), None, Some(&key));
    assert_eq!(old.json["status"], "failed");
    assert!(old.json["error"].as_str().unwrap().contains("never started"));
}

#[test]
fn idempotent_start_replays() {
    let t = TestApp::new(&[LIVEKIT, STORAGE]);
    let (prj, key) = t.project_and_key();
    livekit(&t);
    create_room(&t, &key, "r");
    let body = json!({"room": "r", "output_uri": shared(&prj, "a.ogg"), "audio_only": true, "idempotency_key": "k"});
    let a = t.call("POST", "/v1/rtc/recording/start", Some(body.clone()), Some(&key));
    let b = t.call("POST", "/v1/rtc/recording/start", Some(body), Some(&key));
    assert_eq!((a.status, b.status, b.header("idempotent-replayed")), (201, 201, Some("true")));
    assert_eq!(a.json, b.json);
    assert_eq!(calls_to(&t, "StartRoomCompositeEgress").len(), 1);
    assert_eq!(calls_to(&t, "StartRoomCompositeEgress")[0]["file_outputs"][0]["file_type"], "OGG");
}

#[test]
fn destinations_are_checked() {
    let shared_gs = [("RECORDING_SHARED_BUCKETS", "gs://bucket, azure://c")];
    let t = TestApp::new(&[LIVEKIT, &STORAGE[..3], &shared_gs]);
    let (prj, key) = t.project_and_key();
    livekit(&t);
    create_room(&t, &key, "r");
    for (uri, status, code) in [
        (Some(format!("gs://bucket/{prj}/x")), 422, "DESTINATION_NOT_CONFIGURED"),
        (Some(format!("azure://c/{prj}/x")), 422, "DESTINATION_NOT_CONFIGURED"),
        (Some("ftp://host/x".to_owned()), 400, "INVALID_REQUEST"),
        (None, 400, "INVALID_REQUEST"),
    ] {
        let mut body = json!({"room": "r"});
        if let Some(u) = &uri {
            body["output_uri"] = json!(u);
        }
        let r = t.call("POST", "/v1/rtc/recording/start", Some(body), Some(&key));
        assert_eq!(
            (r.status, r.code(), r.json["error"]["field"].as_str()),
            (status, code, Some("output_uri")),
            "{uri:?}"
        );
    }
    let bad_layout = t.call(
        "POST",
        "/v1/rtc/recording/start",
        Some(json!({"room": "r", "output_uri": format!("s3://m/{prj}/x"), "layout": "mosaic"})),
        Some(&key),
    );
    assert_eq!((bad_layout.status, bad_layout.json["error"]["field"].as_str()), (400, Some("layout")));
    assert!(calls_to(&t, "StartRoomCompositeEgress").is_empty());
}

#[test]
fn only_livekit_records_a_room_from_its_creation() {
    let t = TestApp::new(&[LIVEKIT, AGORA, STORAGE, &[("RECORDING_DEFAULT_URI", "s3://media/auto/")]]);
    let key = t.project_key();
    let r = t.call(
        "POST",
        "/v1/rtc/room/create",
        Some(json!({"name": "a", "vendor": "agora", "enable_recording": true})),
        Some(&key),
    );
    assert_eq!((r.status, r.code()), (422, "UNSUPPORTED_BY_VENDOR"), "{}", r.json);
    assert_eq!(r.json["error"]["supported_by"], json!(["livekit"]));
    assert_eq!(r.json["error"]["field"], "enable_recording");
    assert!(t.native.http.sent().is_empty());
    let listed = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!(listed.json["items"], json!([]), "the refused room is not kept");
}

#[test]
fn enable_recording_makes_livekit_record_the_room() {
    let t = TestApp::new(&[LIVEKIT, &STORAGE[..3], &[("RECORDING_DEFAULT_URI", "s3://media/auto/")]]);
    let (prj, key) = t.project_and_key();
    livekit(&t);
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "auto", "enable_recording": true})), Some(&key));
    assert_eq!((r.status, r.json["enable_recording"].as_bool()), (201, Some(true)), "{}", r.json);
    let create = &calls_to(&t, "CreateRoom")[0];
    let file = &create["egress"]["room"]["file_outputs"][0];
    assert_eq!(file["s3"]["bucket"], "media");
    // In the project's own folder of the shared storage.
    let expected = format!("auto/{prj}/{}-", r.json["room"].as_str().unwrap());
    assert!(file["filepath"].as_str().unwrap().starts_with(&expected), "{file}");

    let without_default = TestApp::new(&[LIVEKIT, &STORAGE[..3]]);
    let key = without_default.project_key();
    let r = without_default.call(
        "POST",
        "/v1/rtc/room/create",
        Some(json!({"name": "auto", "enable_recording": true})),
        Some(&key),
    );
    assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some("enable_recording")));
}

#[test]
fn get_falls_back_to_the_stored_state_and_replay_survives_the_room() {
    let t = TestApp::new(&[LIVEKIT, STORAGE]);
    let (prj, key) = t.project_and_key();
    livekit(&t);
    let room = create_room(&t, &key, "r");
    let body = json!({"room": "r", "output_uri": shared(&prj, "x.mp4"), "idempotency_key": "once"});
    let started = t.call("POST", "/v1/rtc/recording/start", Some(body.clone()), Some(&key));
    assert_eq!(started.status, 201);
    let rec = started.json["recording"].as_str().unwrap().to_owned();

    t.native.http.respond_with(|_| Err(HttpError::Unreachable("down".into())));
    let g = t.call("GET", &format!("/v1/rtc/recording/get/{rec}"), None, Some(&key));
    assert_eq!((g.status, g.json["status"].as_str(), g.json["live"].as_bool()), (200, Some("starting"), Some(false)));

    // The room goes away; the retried start still gets its first answer.
    t.native.http.respond_with(|_| json_response(200, &json!({})));
    assert_eq!(t.call("DELETE", &format!("/v1/rtc/room/delete/{room}"), None, Some(&key)).status, 200);
    let replay = t.call("POST", "/v1/rtc/recording/start", Some(body), Some(&key));
    assert_eq!((replay.status, replay.header("idempotent-replayed")), (201, Some("true")));
    assert_eq!(replay.json["recording"], rec.as_str());
    // The deleted room's recordings can still be listed by its id.
    let listed = t.call("GET", &format!("/v1/rtc/recording/list?room={room}"), None, Some(&key));
    assert_eq!(listed.json["items"][0]["recording"], rec.as_str());
}

#[test]
fn shared_credentials_write_only_inside_the_projects_folder() {
    let t = TestApp::new(&[LIVEKIT, STORAGE, &[("RECORDING_SHARED_BUCKETS", "archive")]]);
    let (prj, key) = t.project_and_key();
    let (other_prj, _) = t.project_and_key();
    livekit(&t);
    create_room(&t, &key, "r");
    for uri in [
        "s3://operator-backups/prod/db.dump".to_owned(),
        "s3://media/prod/db.dump".to_owned(),
        "s3://media/rtc/x.mp4".to_owned(),
        shared(&other_prj, "x.mp4"),
        format!("s3://media/rtc/{prj}x/a.mp4"),
        format!("gs://media/rtc/{prj}/a.mp4"),
    ] {
        let r = t.call("POST", "/v1/rtc/recording/start", Some(json!({"room": "r", "output_uri": uri})), Some(&key));
        assert_eq!(
            (r.status, r.code(), r.json["error"]["field"].as_str()),
            (422, "DESTINATION_NOT_ALLOWED", Some("output_uri")),
            "{uri}: {}",
            r.json
        );
    }
    let escape = t.call(
        "POST",
        "/v1/rtc/recording/start",
        Some(json!({"room": "r", "output_uri": shared(&prj, "../../prod/db.dump")})),
        Some(&key),
    );
    assert_eq!((escape.status, escape.json["error"]["field"].as_str()), (400, Some("output_uri")));
    assert!(calls_to(&t, "StartRoomCompositeEgress").is_empty(), "nothing refused reaches the vendor");

    // The default and a listed shared bucket both land in the project's folder.
    let default = t.call("POST", "/v1/rtc/recording/start", Some(json!({"room": "r"})), Some(&key));
    assert_eq!(default.status, 201, "{}", default.json);
    assert!(default.json["output_uri"].as_str().unwrap().starts_with(&shared(&prj, "")), "{}", default.json);
    let listed = t.call(
        "POST",
        "/v1/rtc/recording/start",
        Some(json!({"room": "r", "output_uri": format!("s3://archive/rtc/{prj}/{{room}}/")})),
        Some(&key),
    );
    assert_eq!(listed.status, 201, "{}", listed.json);
    let paths: Vec<String> = calls_to(&t, "StartRoomCompositeEgress")
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["file_outputs"][0]["s3"]["bucket"].as_str().unwrap(),
                c["file_outputs"][0]["filepath"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(paths.len(), 2);
    assert!(
        paths[0].starts_with(&format!("media/rtc/{prj}/")) && paths[1].starts_with(&format!("archive/rtc/{prj}/")),
        "{paths:?}"
    );
}

#[test]
fn a_lost_start_is_adopted_only_within_its_window() {
    let t = TestApp::new(&[LIVEKIT, STORAGE]);
    let (prj, key) = t.project_and_key();
    let fake = livekit(&t);
    create_room(&t, &key, "r");
    let body = json!({"room": "r", "output_uri": shared(&prj, "daily/")});
    *fake.lose_start_answer.borrow_mut() = true;
    *fake.silent_list.borrow_mut() = true;
    let lost = t.call("POST", "/v1/rtc/recording/start", Some(body.clone()), Some(&key));
    assert_eq!(lost.status, 504);
    let lost_id = lost.json["error"]["recording"].as_str().unwrap().to_owned();
    *fake.lose_start_answer.borrow_mut() = false;
    *fake.silent_list.borrow_mut() = false;

    // A day later the same body is a new recording, not the answer to yesterday's start.
    t.native.clock.advance_ms(24 * 3600 * 1000);
    let next_day = t.call("POST", "/v1/rtc/recording/start", Some(body), Some(&key));
    assert_eq!(next_day.status, 201, "{}", next_day.json);
    assert_ne!(next_day.json["recording"], lost_id.as_str());
    assert_eq!(fake.egresses.borrow().len(), 2);
    // Yesterday's is still found by its destination.
    let old = t.call("GET", &format!("/v1/rtc/recording/get/{lost_id}"), None, Some(&key));
    assert_eq!(
        (old.json["status"].as_str(), old.json["live"].as_bool()),
        (Some("starting"), Some(true)),
        "{}",
        old.json
    );
    t.call("POST", &format!("/v1/rtc/recording/stop/{lost_id}"), None, Some(&key));
    assert_eq!(calls_to(&t, "StopEgress")[0]["egress_id"], "EG_1");
}

#[test]
fn a_lost_start_too_old_to_adopt_is_reconciled_by_the_next_start() {
    let t = TestApp::new(&[LIVEKIT, STORAGE]);
    let (prj, key) = t.project_and_key();
    livekit(&t);
    create_room(&t, &key, "r");
    // The start never reaches the vendor, and nobody asks about it again.
    t.native.http.respond_with(|_| Err(HttpError::Timeout));
    let body = json!({"room": "r", "output_uri": shared(&prj, "daily/")});
    let lost = t.call("POST", "/v1/rtc/recording/start", Some(body.clone()), Some(&key));
    assert_eq!(lost.status, 504);
    let lost_id = lost.json["error"]["recording"].as_str().unwrap().to_owned();
    let fake = livekit(&t);

    t.native.clock.advance_ms(24 * 3600 * 1000);
    let next_day = t.call("POST", "/v1/rtc/recording/start", Some(body), Some(&key));
    assert_eq!(next_day.status, 201, "{}", next_day.json);
    assert_eq!(fake.egresses.borrow().len(), 1);
    // The stored state (list asks no vendor): yesterday's is closed, not `starting` for good.
    let listed = t.call("GET", "/v1/rtc/recording/list", None, Some(&key));
    let old = listed.json["items"].as_array().unwrap().iter().find(|r| r["recording"] == lost_id.as_str()).unwrap();
    assert_eq!(old["status"], "failed", "{old}");
}

#[test]
fn a_start_whose_client_goes_away_still_records_exactly_once() {
    use std::future::Future;
    use std::task::Poll;

    use rtcgate::http::ApiRequest;
    use rtcgate::native::{respond_only, run_background};

    let t = TestApp::new(&[LIVEKIT, STORAGE]);
    let (prj, key) = t.project_and_key();
    let fake = livekit(&t);
    create_room(&t, &key, "r");
    let body = json!({"room": "r", "output_uri": shared(&prj, "talk.mp4")});

    // The vendor takes the start but answers only after the client has disconnected: the
    // request future is dropped while the call is in flight.
    t.native.http.wait_before_answering(1);
    let request = ApiRequest::new("POST", "/v1/rtc/recording/start")
        .with_json(&body)
        .with_header("authorization", &format!("Bearer {key}"));
    let mut request = Box::pin(t.app.handle(&t.native.runtime, request));
    respond_only(std::future::poll_fn(|cx| {
        if !calls_to(&t, "StartRoomCompositeEgress").is_empty() {
            return Poll::Ready(());
        }
        match request.as_mut().poll(cx) {
            Poll::Ready(r) => panic!("answered before the vendor did: {}", r.json_body()),
            Poll::Pending => Poll::Pending,
        }
    }));
    drop(request);
    run_background();
    t.native.http.wait_before_answering(0);

    // The vendor's answer was recorded anyway.
    let listed = t.call("GET", "/v1/rtc/recording/list", None, Some(&key));
    let items = listed.json["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{}", listed.json);
    let rec = items[0]["recording"].as_str().unwrap().to_owned();
    let g = t.call("GET", &format!("/v1/rtc/recording/get/{rec}"), None, Some(&key));
    assert_eq!((g.json["status"].as_str(), g.json["live"].as_bool()), (Some("starting"), Some(true)), "{}", g.json);

    // The client never saw that answer; its retry gets the same recording, not a second one.
    let retry = t.call("POST", "/v1/rtc/recording/start", Some(body.clone()), Some(&key));
    assert_eq!((retry.status, retry.json["recording"].as_str()), (201, Some(rec.as_str())), "{}", retry.json);
    assert_eq!(calls_to(&t, "StartRoomCompositeEgress").len(), 1, "exactly one egress");
    assert_eq!(fake.egresses.borrow().len(), 1);
    // Answered now: the same body once more is a new recording.
    let again = t.call("POST", "/v1/rtc/recording/start", Some(body), Some(&key));
    assert_eq!(again.status, 201);
    assert_ne!(again.json["recording"], rec.as_str());
}

//! Recordings on Agora and ZEGO rooms natively, against scripted Cloud Recording services
//! that keep tasks the way the vendors document (Agora: one task per channel and recorder
//! uid, "already started" for a resource id used twice; ZEGO: one task per ClientTaskId).

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use rtcgate::native::json_response;
use rtcgate::runtime::{HttpError, OutboundRequest, OutboundResponse};
use serde_json::{json, Value};
use support::{TestApp, AGORA, ZEGO};

const STORAGE: &[(&str, &str)] = &[
    ("RECORDING_S3_ACCESS_KEY", "AKIA-TEST"),
    ("RECORDING_S3_SECRET", "s3-secret-value"),
    ("RECORDING_S3_REGION", "eu-west-1"),
    ("RECORDING_AZURE_ACCOUNT_NAME", "acct"),
    ("RECORDING_AZURE_ACCOUNT_KEY", "azure-key"),
];

type Answer = Result<OutboundResponse, HttpError>;

#[derive(Default)]
struct Tasks {
    /// (resource id, sid, uid, status)
    agora: Vec<(String, String, String, i64)>,
    /// (client task id, task id, status)
    zego: Vec<(String, String, i64)>,
    acquires: usize,
    /// Starts whose answer is lost (the task is made all the same).
    lose_starts: usize,
    /// Channel members for Agora's user list.
    members: Vec<u32>,
    /// ZEGO answers StartRecord with "rate limited" (or, with `refuse_starts`, "invalid parameter").
    throttle_starts: bool,
    refuse_starts: bool,
}

fn body_of(req: &OutboundRequest) -> Value {
    serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default()
}

fn lost(tasks: &RefCell<Tasks>) -> bool {
    let mut t = tasks.borrow_mut();
    if t.lose_starts > 0 {
        t.lose_starts -= 1;
        return true;
    }
    false
}

fn agora(tasks: &RefCell<Tasks>, req: &OutboundRequest) -> Answer {
    let body = body_of(req);
    let url = req.url.as_str();
    if url.ends_with("/acquire") {
        let mut t = tasks.borrow_mut();
        t.acquires += 1;
        return json_response(
            200,
            &json!({"resourceId": format!("RID{}", t.acquires), "cname": body["cname"], "uid": body["uid"]}),
        );
    }
    if url.ends_with("/start") {
        let rid = url.split("/resourceid/").nth(1).unwrap().split('/').next().unwrap().to_owned();
        let uid = body["uid"].as_str().unwrap().to_owned();
        let existing = tasks.borrow().agora.iter().find(|(_, _, u, s)| *u == uid && *s < 7).cloned();
        let answer = match existing {
            Some((r, sid, _, _)) if r == rid => {
                json_response(201, &json!({"code": 7, "reason": "already started", "sid": sid, "resourceId": r}))
            }
            Some(_) => json_response(400, &json!({"code": 53, "reason": "task conflict"})),
            None => {
                let sid = format!("SID{}", tasks.borrow().agora.len() + 1);
                tasks.borrow_mut().agora.push((rid.clone(), sid.clone(), uid, 5));
                json_response(200, &json!({"sid": sid, "resourceId": rid, "cname": body["cname"], "uid": body["uid"]}))
            }
        };
        return if lost(tasks) { Err(HttpError::Timeout) } else { answer };
    }
    if url.contains("/channel/user/") {
        let members = tasks.borrow().members.clone();
        return json_response(
            200,
            &json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": members.len(), "users": members}}),
        );
    }
    if url.contains("kicking-rule") {
        let uid = body["uid"].as_u64().map(|u| u.to_string());
        for task in tasks.borrow_mut().agora.iter_mut().filter(|t| Some(&t.2) == uid.as_ref()) {
            task.3 = 8;
        }
        return json_response(200, &json!({"status": "success", "id": 1}));
    }
    let sid = url.split("/sid/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let mut t = tasks.borrow_mut();
    let Some(task) = t.agora.iter_mut().find(|x| x.1 == sid && x.3 < 7) else {
        return json_response(404, &json!({"code": 404, "reason": "failed to find worker"}));
    };
    if url.ends_with("/query") {
        return json_response(
            200,
            &json!({"sid": sid, "serverResponse": {"status": task.3, "fileListMode": "json", "fileList": []}}),
        );
    }
    task.3 = 7;
    json_response(
        200,
        &json!({"sid": sid, "serverResponse": {"uploadingStatus": "uploaded", "fileListMode": "json",
        "fileList": [{"fileName": format!("{sid}_0.mp4"), "trackType": "audio_and_video"}]}}),
    )
}

fn zego(tasks: &RefCell<Tasks>, req: &OutboundRequest) -> Answer {
    let body = body_of(req);
    let ok =
        |data: Value| json_response(200, &json!({"Code": 0, "Message": "succeed", "RequestId": "r1", "Data": data}));
    if req.url.contains("Action=StartRecord") && (tasks.borrow().throttle_starts || tasks.borrow().refuse_starts) {
        let code = if tasks.borrow().throttle_starts { 300000003 } else { 300000004 };
        return json_response(200, &json!({"Code": code, "Message": "no", "RequestId": "r3"}));
    }
    if req.url.contains("Action=StartRecord") {
        let client = body["RecordInputParams"]["ClientTaskId"].as_str().unwrap().to_owned();
        let existing = tasks.borrow().zego.iter().find(|(c, _, _)| *c == client).map(|(_, id, _)| id.clone());
        let id = existing.unwrap_or_else(|| {
            let id = format!("TASK{}", tasks.borrow().zego.len() + 1);
            tasks.borrow_mut().zego.push((client, id.clone(), 2));
            id
        });
        return if lost(tasks) { Err(HttpError::Timeout) } else { ok(json!({"TaskId": id})) };
    }
    let id = body["TaskId"].as_str().unwrap_or("").to_owned();
    let mut t = tasks.borrow_mut();
    let Some(task) = t.zego.iter_mut().find(|x| x.1 == id) else {
        return json_response(200, &json!({"Code": 300001000, "Message": "task not exist", "RequestId": "r2"}));
    };
    if req.url.contains("Action=StopRecord") {
        task.2 = 3;
        return ok(Value::Null);
    }
    let files = if task.2 == 3 {
        json!([{"FileUrl": format!("s3://media/{id}.mp4"), "FileSize": 4096, "Duration": 61000, "Status": 3}])
    } else {
        json!([])
    };
    ok(json!({"Status": task.2, "RecordFiles": files}))
}

fn vendors(t: &TestApp) -> Rc<RefCell<Tasks>> {
    let tasks = Rc::new(RefCell::new(Tasks::default()));
    let tk = tasks.clone();
    t.native.http.respond_with(move |req| {
        if req.url.starts_with("https://agora.test") {
            agora(&tk, req)
        } else {
            zego(&tk, req)
        }
    });
    tasks
}

/// The app, a project and its key. The shared buckets are `media` (s3) and `box` (azure);
/// the project writes only inside its own folder there.
fn app() -> (TestApp, String, String) {
    let t = TestApp::new(&[
        AGORA,
        ZEGO,
        STORAGE,
        &[("ZEGO_RECORDING_API_BASE", "https://zego-rec.test"), ("RECORDING_SHARED_BUCKETS", "media, azure://box")],
    ]);
    let (prj, key) = t.project_and_key();
    (t, prj, key)
}

fn room(t: &TestApp, key: &str, vendor: &str) -> String {
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": vendor, "vendor": vendor})), Some(key));
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["room"].as_str().unwrap().to_owned()
}

fn start(t: &TestApp, prj: &str, key: &str, room: &str, extra: Value) -> support::Reply {
    let mut body = json!({"room": room, "output_uri": format!("s3://media/{prj}/calls/")});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    t.call("POST", "/v1/rtc/recording/start", Some(body), Some(key))
}

#[test]
fn agora_records_with_a_bot_that_is_no_participant() {
    let (t, prj, key) = app();
    let tasks = vendors(&t);
    let room = room(&t, &key, "agora");
    let alice = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": room, "identity": "alice"})), Some(&key));
    assert_eq!(alice.json["join"]["uid"], 1, "{}", alice.json);

    let s = start(&t, &prj, &key, &room, json!({"layout": "speaker", "idempotency_key": "k1"}));
    assert_eq!(
        (s.status, s.json["vendor"].as_str(), s.json["status"].as_str()),
        (201, Some("agora"), Some("starting")),
        "{}",
        s.json
    );
    let rec = s.json["recording"].as_str().unwrap().to_owned();
    let starts: Vec<Value> =
        t.native.http.sent().into_iter().filter(|x| x.request.url.ends_with("/start")).filter_map(|x| x.json).collect();
    assert_eq!(starts.len(), 1);
    // The bot's uid comes from the room's uid counter, past every block an isolate holds.
    let bot: u32 = starts[0]["uid"].as_str().unwrap().parse().unwrap();
    assert!(bot > 1, "the bot never takes a person's uid: {bot}");
    assert_eq!(starts[0]["clientRequest"]["recordingConfig"]["transcodingConfig"]["mixedVideoLayout"], 2);
    assert_eq!(starts[0]["clientRequest"]["storageConfig"]["region"], 4, "eu-west-1");
    assert!(!s.json.to_string().contains("s3-secret-value"));

    // A person issued a token after the bot gets the next uid of the isolate's block, which
    // the bot's is not.
    let bob = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": room, "identity": "bob"})), Some(&key));
    let bob = bob.json["join"]["uid"].as_u64().unwrap() as u32;
    assert_eq!(bob, 2);
    assert_ne!(bob, bot);
    tasks.borrow_mut().members = vec![1, bot, bob];
    let people = t.call("GET", &format!("/v1/rtc/participant/list/{room}"), None, Some(&key));
    let names: Vec<&str> =
        people.json["items"].as_array().unwrap().iter().map(|p| p["identity"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob"], "{}", people.json);

    let replay = start(&t, &prj, &key, &room, json!({"layout": "speaker", "idempotency_key": "k1"}));
    assert_eq!((replay.status, replay.json["recording"].as_str()), (201, Some(rec.as_str())));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(tasks.borrow().agora.len(), 1);

    let got = t.call("GET", &format!("/v1/rtc/recording/get/{rec}"), None, Some(&key));
    assert_eq!((got.json["status"].as_str(), got.json["live"].as_bool()), (Some("active"), Some(true)), "{}", got.json);
    let listed = t.call("GET", &format!("/v1/rtc/recording/list?room={room}"), None, Some(&key));
    assert_eq!(listed.json["items"][0]["recording"], rec.as_str());

    let stopped = t.call("POST", &format!("/v1/rtc/recording/stop/{rec}"), None, Some(&key));
    assert_eq!(stopped.json["status"], "complete", "{}", stopped.json);
    // Agora folder names are letters and digits: the project's folder loses its underscore,
    // and stays the project's own (no other project's folder maps to it).
    let folder =
        format!("s3://media/{}/calls/{}", prj.replace('_', ""), format!("{room}-{rec}").replace(['_', '-'], ""));
    assert_eq!(stopped.json["files"][0]["location"], format!("{folder}/SID1_0.mp4"));
    let again = t.call("POST", &format!("/v1/rtc/recording/stop/{rec}"), None, Some(&key));
    assert_eq!((again.status, again.json["status"].as_str()), (200, Some("complete")));
}

#[test]
fn agora_start_with_a_lost_answer_is_one_recording() {
    let (t, prj, key) = app();
    let tasks = vendors(&t);
    let room = room(&t, &key, "agora");
    // The first answer is lost; the start is sent again with the same resource id.
    tasks.borrow_mut().lose_starts = 1;
    let s = start(&t, &prj, &key, &room, json!({}));
    assert_eq!(s.status, 201, "{}", s.json);
    assert_eq!((tasks.borrow().agora.len(), tasks.borrow().acquires), (1, 1));

    // Every answer lost (both sends of the start, and both of the handler's immediate second
    // ask): unconfirmed; a retry of the same request asks again and finds the
    // running task cannot be addressed (Agora refuses a second task for the bot's uid), so it
    // is ended rather than left running unseen, and no second recording exists.
    tasks.borrow_mut().lose_starts = 4;
    let lost = start(&t, &prj, &key, &room, json!({"layout": "grid", "audio_only": true}));
    assert_eq!((lost.status, lost.code()), (504, "VENDOR_TIMEOUT"), "{}", lost.json);
    let rec = lost.json["error"]["recording"].as_str().unwrap().to_owned();
    assert_eq!(tasks.borrow().agora.len(), 2);
    let retry = start(&t, &prj, &key, &room, json!({"layout": "grid", "audio_only": true}));
    assert_eq!((retry.status, retry.json["recording"].as_str()), (201, Some(rec.as_str())), "{}", retry.json);
    assert_eq!(retry.json["status"], "aborted");
    assert_eq!(tasks.borrow().agora.len(), 2, "no second task");
    assert_eq!(tasks.borrow().agora[1].3, 8, "the unaddressable task was ended");
}

#[test]
fn zego_records_keyed_by_our_recording_id_even_when_answers_are_lost() {
    let (t, prj, key) = app();
    let tasks = vendors(&t);
    let room = room(&t, &key, "zego");
    // Both sends of the start and both of the handler's immediate second ask lose their answer.
    tasks.borrow_mut().lose_starts = 4;
    let lost = start(&t, &prj, &key, &room, json!({"layout": "grid"}));
    assert_eq!((lost.status, lost.code()), (504, "VENDOR_TIMEOUT"), "{}", lost.json);
    let rec = lost.json["error"]["recording"].as_str().unwrap().to_owned();
    let got = t.call("GET", &format!("/v1/rtc/recording/get/{rec}"), None, Some(&key));
    assert_eq!((got.status, got.json["status"].as_str()), (200, Some("active")), "{}", got.json);
    let retry = start(&t, &prj, &key, &room, json!({"layout": "grid"}));
    assert_eq!((retry.status, retry.json["recording"].as_str()), (201, Some(rec.as_str())), "{}", retry.json);
    assert_eq!(tasks.borrow().zego.len(), 1, "one task for one start");
    assert_eq!(tasks.borrow().zego[0].0, rec, "ClientTaskId is the recording id");
    for x in t.native.http.sent().iter().filter(|x| x.request.url.contains("Action=StartRecord")) {
        assert!(x.request.url.starts_with("https://zego-rec.test/?Action=StartRecord&AppId=1234567890&"));
    }

    let stopped = t.call("POST", &format!("/v1/rtc/recording/stop/{rec}"), None, Some(&key));
    assert_eq!(stopped.json["status"], "complete", "{}", stopped.json);
    assert_eq!(
        stopped.json["files"],
        json!([{"location": "s3://media/TASK1.mp4", "size_bytes": 4096, "duration_ms": 61000}])
    );
}

#[test]
fn destinations_a_vendor_cannot_write_are_refused_before_any_call() {
    let (t, prj, key) = app();
    vendors(&t);
    let zego_room = room(&t, &key, "zego");
    let r = t.call(
        "POST",
        "/v1/rtc/recording/start",
        Some(json!({"room": zego_room, "output_uri": format!("azure://box/{prj}/x/")})),
        Some(&key),
    );
    assert_eq!(
        (r.status, r.code(), r.json["error"]["field"].as_str()),
        (422, "DESTINATION_UNSUPPORTED", Some("output_uri")),
        "{}",
        r.json
    );
    let agora_room = room(&t, &key, "agora");
    let long = format!("s3://media/{prj}/{}/", "a".repeat(140));
    let r =
        t.call("POST", "/v1/rtc/recording/start", Some(json!({"room": agora_room, "output_uri": long})), Some(&key));
    assert_eq!((r.status, r.code()), (422, "DESTINATION_UNSUPPORTED"), "{}", r.json);
    assert!(t.native.http.sent().is_empty());
    let listed = t.call("GET", "/v1/rtc/recording/list", None, Some(&key));
    assert_eq!(listed.json["items"], json!([]));
}

#[test]
fn discovery_lists_recording_live_on_each_configured_vendor() {
    let (t, _, key) = app();
    for capability in ["rtc.recording.start", "rtc.recording.stop"] {
        let d = t.call("GET", &format!("/v1/discovery/{capability}"), None, Some(&key));
        let statuses: Vec<(&str, &str)> = d.json["vendors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["vendor"].as_str().unwrap(), v["status"].as_str().unwrap()))
            .collect();
        assert_eq!(statuses, [("livekit", "unconfigured"), ("agora", "live"), ("zego", "live")]);
    }
}

#[test]
fn zego_recovery_that_is_throttled_keeps_the_record_unconfirmed_and_one_refused_closes_it() {
    let (t, prj, key) = app();
    let tasks = vendors(&t);
    let room = room(&t, &key, "zego");
    // The lost start never reached ZEGO here: no task exists.
    t.native.http.respond_with(|_| Err(HttpError::Timeout));
    let lost = start(&t, &prj, &key, &room, json!({}));
    assert_eq!(lost.code(), "VENDOR_TIMEOUT");
    let rec = lost.json["error"]["recording"].as_str().unwrap().to_owned();
    let tk = tasks.clone();
    t.native.http.respond_with(move |req| zego(&tk, req));

    tasks.borrow_mut().throttle_starts = true;
    let got = t.call("GET", &format!("/v1/rtc/recording/get/{rec}"), None, Some(&key));
    assert_eq!(
        (got.json["status"].as_str(), got.json["live"].as_bool()),
        (Some("starting"), Some(false)),
        "{}",
        got.json
    );
    let stop = t.call("POST", &format!("/v1/rtc/recording/stop/{rec}"), None, Some(&key));
    assert_eq!(stop.code(), "VENDOR_RATE_LIMITED", "{}", stop.json);

    tasks.borrow_mut().throttle_starts = false;
    tasks.borrow_mut().refuse_starts = true;
    let got = t.call("GET", &format!("/v1/rtc/recording/get/{rec}"), None, Some(&key));
    assert_eq!(got.json["status"], "failed", "refused as a request: the lost one cannot have started: {}", got.json);
    assert!(tasks.borrow().zego.is_empty());
}

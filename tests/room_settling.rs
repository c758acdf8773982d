//! A room's vendor is settled before anyone uses the room: while a create is still trying
//! vendors (and may fail over to another), other requests — other isolates — wait for it
//! instead of minting tokens for the vendor it tried first.

mod support;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use futures_util::FutureExt;
use rtcgate::http::ApiRequest;
use rtcgate::native::json_response;
use rtcgate::runtime::HttpError;
use serde_json::{json, Value};
use support::*;

/// A request made from inside another one's vendor call: what a second isolate would answer
/// at that moment (it shares D1 with the first but not its memory).
fn meanwhile(t: &TestApp, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = ApiRequest::new(method, path).with_header("authorization", &format!("Bearer {key}"));
    if let Some(b) = body {
        req = req.with_json(&b);
    }
    let other_isolate = Rc::new(rtcgate::app::App::from_env(&|name: &str| {
        [LIVEKIT, AGORA].concat().iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }));
    // Storage and the manual clock never make it wait, so it finishes in one poll (it runs
    // inside the first request's vendor call, where the test's executor is busy).
    let response = other_isolate.handle(&t.native.runtime, req).now_or_never().expect("it never waits");
    (response.status, response.json_body())
}

#[test]
fn a_token_is_never_minted_for_the_vendor_a_failing_over_create_tried_first() {
    let t = Rc::new(TestApp::new(&[LIVEKIT, AGORA]));
    let key = t.project_key();
    let seen: Rc<RefCell<Vec<(u16, Value)>>> = Rc::default();
    let (weak, seen_in, key_in): (Weak<TestApp>, _, _) = (Rc::downgrade(&t), seen.clone(), key.clone());
    t.native.http.respond_with(move |req| {
        if req.url.contains("livekit") {
            // While LiveKit fails to answer, another isolate is asked for a token and the room.
            let t = weak.upgrade().unwrap();
            let body = json!({"room": "standup", "identity": "bob"});
            seen_in.borrow_mut().push(meanwhile(&t, &key_in, "POST", "/v1/rtc/token/issue", Some(body)));
            seen_in.borrow_mut().push(meanwhile(&t, &key_in, "GET", "/v1/rtc/room/get/standup", None));
            return Err(HttpError::Unreachable("connection refused".into()));
        }
        json_response(200, &json!({"code": 0, "success": true, "data": {"channel_exist": false}}))
    });
    let created = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "standup"})), Some(&key));
    assert_eq!((created.status, created.json["vendor"].as_str()), (201, Some("agora")), "{}", created.json);

    let seen = seen.borrow();
    assert_eq!(seen.len(), 2);
    for (status, body) in seen.iter() {
        assert_eq!(
            (*status, body["error"]["code"].as_str()),
            (409, Some("ROOM_NOT_READY")),
            "nothing is served from a room whose vendor is not settled: {body}"
        );
        assert_eq!(body["error"]["room"], created.json["room"]);
    }
    // Once settled, everyone gets the vendor that hosts it.
    let token = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": "standup", "identity": "bob"})), Some(&key));
    assert_eq!((token.status, token.json["vendor"].as_str()), (200, Some("agora")), "{}", token.json);
    let listed = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!(listed.json["items"][0]["vendor"], "agora");
}

#[test]
fn a_room_whose_create_died_is_replaced_once_abandoned() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let project = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!(project.status, 200);
    // Find the project id through a room made for the purpose.
    let probe = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "probe"})), Some(&key));
    let rows = t
        .native
        .db
        .rows(&format!("SELECT project_id FROM rooms WHERE id = '{}'", probe.json["room"].as_str().unwrap()));
    let project_id = rows[0]["project_id"].as_str().unwrap().to_owned();
    let insert_dead = |name: &str, age_ms: u64| {
        let at = NOW_MS - age_ms;
        let id = format!("rm_{:0>22}", name.len() * 1000 + age_ms as usize % 1000);
        t.native.db.exec_raw(&format!(
            "INSERT INTO rooms (id, project_id, name, vendor, created_at_ms, vendor_confirmed) \
             VALUES ('{id}', '{project_id}', '{name}', 'livekit', {at}, 0)"
        ));
    };

    // A create that started 5 s ago may still finish: the name is taken and the room not ready.
    insert_dead("recent", 5_000);
    let busy = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": "recent", "identity": "a"})), Some(&key));
    assert_eq!((busy.status, busy.code(), busy.header("retry-after")), (409, "ROOM_NOT_READY", Some("1")));
    let taken = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "recent"})), Some(&key));
    assert_eq!((taken.status, taken.code()), (409, "ROOM_NAME_TAKEN"));

    // One that started past the abandonment window died with its request: the name is free.
    insert_dead("died", 130_000);
    let token = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": "died", "identity": "a"})), Some(&key));
    assert_eq!((token.status, token.json["vendor"].as_str()), (200, Some("agora")), "{}", token.json);
    assert_eq!(token.json["room_created"], true);
    insert_dead("died-too", 130_000);
    let created = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "died-too"})), Some(&key));
    assert_eq!((created.status, created.json["vendor"].as_str()), (201, Some("agora")), "{}", created.json);
    let gone = t.call("GET", "/v1/rtc/room/get/rm_0000000000000000008000", None, Some(&key));
    assert_eq!((gone.status, gone.code()), (404, "ROOM_NOT_FOUND"));
}

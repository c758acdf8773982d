//! Rooms, routing, discovery, idempotency and project isolation, through `App::handle`
//! natively, with vendor answers scripted per test.

mod support;

use std::collections::HashSet;

use futures_util::future::{join3, join_all};
use rtcgate::http::ApiRequest;
use rtcgate::native::{block_on, json_response};
use rtcgate::runtime::HttpError;
use serde_json::json;
use support::{TestApp, AGORA, LIVEKIT, ZEGO};

fn agora_users(total: u32) -> serde_json::Value {
    let users: Vec<u32> = (1..=total).collect();
    json!({"success": true, "data": {"channel_exist": total > 0, "mode": 1, "total": total, "users": users}})
}

#[test]
fn agora_room_lifecycle_without_a_vendor_create_call() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    t.native.http.respond_with(|req| {
        if req.url.contains("/dev/v1/channel/user/") {
            json_response(200, &agora_users(3))
        } else if req.url.ends_with("/dev/v1/kicking-rule") {
            json_response(200, &json!({"status": "success", "id": 7}))
        } else {
            Err(HttpError::Unreachable(req.url.clone()))
        }
    });
    let c = t.call(
        "POST",
        "/v1/rtc/room/create",
        Some(json!({"name": "standup", "max_participants": 8, "metadata": {"team": "blue"}, "region": "eu"})),
        Some(&key),
    );
    assert_eq!(c.status, 201, "{}", c.json);
    assert!(t.native.http.sent().is_empty(), "Agora has no room object: no vendor call");
    let room = c.json["room"].as_str().unwrap().to_owned();
    assert!(room.starts_with("rm_") && room.len() == 25, "{room}");
    assert_eq!(c.json["name"], "standup");
    assert_eq!(c.json["vendor"], "agora");
    assert_eq!(c.json["max_participants"], 8);
    assert_eq!(c.json["metadata"], json!({"team": "blue"}));
    assert_eq!(c.json["created_at"], "2023-11-14T22:13:20Z");

    for reference in [room.as_str(), "standup"] {
        let g = t.call("GET", &format!("/v1/rtc/room/get/{reference}"), None, Some(&key));
        assert_eq!(g.status, 200, "{}", g.json);
        assert_eq!(
            (g.json["room"].as_str(), g.json["num_participants"].as_u64(), g.json["live"].as_bool()),
            (Some(room.as_str()), Some(3), Some(true))
        );
    }
    // The channel name the vendor saw is the room id, never the user's name.
    assert!(t.native.http.sent()[0].request.url.ends_with(&format!("/{room}")));

    let d = t.call("DELETE", &format!("/v1/rtc/room/delete/{room}"), None, Some(&key));
    assert_eq!((d.status, d.json.clone()), (200, json!({"ok": true})));
    let g = t.call("GET", &format!("/v1/rtc/room/get/{room}"), None, Some(&key));
    assert_eq!((g.status, g.code()), (404, "ROOM_NOT_FOUND"));
    let again = t.call("DELETE", &format!("/v1/rtc/room/delete/{room}"), None, Some(&key));
    assert_eq!(again.status, 404);
    // The name is free again.
    let c2 = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "standup"})), Some(&key));
    assert_eq!(c2.status, 201);
    assert_ne!(c2.json["room"], room.as_str());
}

#[test]
fn get_reports_a_silent_vendor_instead_of_failing() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    t.native.http.respond_with(|_| Err(HttpError::Timeout));
    let c = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "a"})), Some(&key));
    let g = t.call("GET", &format!("/v1/rtc/room/get/{}", c.json["room"].as_str().unwrap()), None, Some(&key));
    assert_eq!(g.status, 200);
    assert_eq!((g.json["num_participants"].clone(), g.json["live"].clone()), (json!(null), json!(false)));
}

#[test]
fn failed_vendor_delete_keeps_the_room() {
    let t = TestApp::new(&[ZEGO]);
    let key = t.project_key();
    let c = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "a"})), Some(&key));
    let room = c.json["room"].as_str().unwrap().to_owned();
    t.native.http.respond_with(|_| json_response(503, &json!({})));
    let d = t.call("DELETE", &format!("/v1/rtc/room/delete/{room}"), None, Some(&key));
    assert_eq!((d.status, d.code()), (502, "VENDOR_UNAVAILABLE"));
    assert_eq!(d.json["error"]["vendor"], "zego");
    assert!(!d.json.to_string().contains("fa94dd0f"), "no secret in errors");
    assert_eq!(t.call("GET", &format!("/v1/rtc/room/get/{room}"), None, Some(&key)).status, 200);
}

#[test]
fn names_are_unique_per_project_and_projects_are_isolated() {
    let t = TestApp::new(&[AGORA]);
    let (a, b) = (t.project_key(), t.project_key());
    let first = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "standup"})), Some(&a));
    let taken = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "standup"})), Some(&a));
    assert_eq!((taken.status, taken.code()), (409, "ROOM_NAME_TAKEN"));
    assert_eq!(taken.json["error"]["room"], first.json["room"]);
    // Another project may use the name; it gets its own room.
    let other = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "standup"})), Some(&b));
    assert_eq!(other.status, 201);
    let room_a = first.json["room"].as_str().unwrap();
    for (m, path) in [
        ("GET", format!("/v1/rtc/room/get/{room_a}")),
        ("DELETE", format!("/v1/rtc/room/delete/{room_a}")),
        ("GET", format!("/v1/rtc/participant/list/{room_a}")),
    ] {
        let r = t.call(m, &path, None, Some(&b));
        assert_eq!((r.status, r.code()), (404, "ROOM_NOT_FOUND"), "{m} {path}");
    }
    let listed = t.call("GET", "/v1/rtc/room/list", None, Some(&b));
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.json["items"][0]["room"], other.json["room"]);
}

#[test]
fn id_shaped_names_and_bad_fields_are_refused() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let cases = [
        (json!({"name": "rm_0123456789abcdefABCDEF"}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "max_participants": 0}), "max_participants"),
        (json!({"name": "x", "empty_timeout_s": -5}), "empty_timeout_s"),
        (json!({"name": "x", "metadata": "flat"}), "metadata"),
        (json!({"name": "x", "enable_recording": "yes"}), "enable_recording"),
    ];
    for (body, field) in cases {
        let r = t.call("POST", "/v1/rtc/room/create", Some(body.clone()), Some(&key));
        assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some(field)), "{body}");
    }
}

/// A request as `TestApp::call` builds it, for sending several at once.
fn request(method: &str, path: &str, body: Option<serde_json::Value>, key: &str) -> ApiRequest {
    let req = ApiRequest::new(method, path).with_header("authorization", &format!("Bearer {key}"));
    match body {
        Some(b) => req.with_json(&b),
        None => req,
    }
}

#[test]
fn paging_is_keyset_stable_under_concurrent_changes() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    t.native.http.respond_with(|_| json_response(200, &json!({"status": "success", "id": 1})));
    let mut before = Vec::new();
    for i in 0..40 {
        // Several rooms share a millisecond: the id breaks the tie.
        if i % 3 == 0 {
            t.native.clock.advance_ms(1);
        }
        let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": format!("r{i}")})), Some(&key));
        assert_eq!(r.status, 201, "{}", r.json);
        before.push(r.json["room"].as_str().unwrap().to_owned());
    }
    // The order the walk meets them in: newest first, ties broken by id.
    let listed = t.call("GET", "/v1/rtc/room/list?limit=100", None, Some(&key));
    let mut unseen: Vec<String> =
        listed.json["items"].as_array().unwrap().iter().map(|i| i["room"].as_str().unwrap().to_owned()).collect();
    assert_eq!(unseen.len(), before.len());
    let mut seen: Vec<String> = Vec::new();
    let mut deleted: HashSet<String> = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut round = 0;
    loop {
        round += 1;
        let path = match &cursor {
            Some(c) => format!("/v1/rtc/room/list?limit=7&cursor={c}"),
            None => "/v1/rtc/room/list?limit=7".to_owned(),
        };
        // In flight at once with the page read: the delete of a room already seen (offset
        // paging would then skip one), the delete of the very room the page starts with, and a
        // create (offset paging would then show one twice). On odd rounds the vendor answers
        // the deletes only after the page is read, on even rounds before it.
        let deletes_land_first = round % 2 == 0;
        t.native.http.wait_before_answering(if deletes_land_first { 0 } else { 2 });
        let behind = seen.iter().find(|r| !deleted.contains(*r)).cloned();
        let ahead = if unseen.is_empty() { None } else { Some(unseen.remove(0)) };
        let mut deletes = Vec::new();
        for victim in behind.iter().chain(ahead.iter()) {
            deleted.insert(victim.clone());
            deletes.push(
                t.app
                    .handle(&t.native.runtime, request("DELETE", &format!("/v1/rtc/room/delete/{victim}"), None, &key)),
            );
        }
        t.native.clock.advance_ms(1);
        let create = t.app.handle(
            &t.native.runtime,
            request("POST", "/v1/rtc/room/create", Some(json!({"name": format!("new{round}")})), &key),
        );
        let page = t.app.handle(&t.native.runtime, request("GET", &path, None, &key));
        let (deleted_now, created, page) = block_on(join3(join_all(deletes), create, page));
        t.native.http.wait_before_answering(0);
        for d in deleted_now {
            assert_eq!((d.status, d.json_body()), (200, json!({"ok": true})), "every delete succeeds");
        }
        assert_eq!(created.status, 201, "every create succeeds: {}", created.json_body());
        let page = page.json_body();
        let items: Vec<String> =
            page["items"].as_array().unwrap().iter().map(|i| i["room"].as_str().unwrap().to_owned()).collect();
        if let Some(ahead) = &ahead {
            // The page read saw the database as it was at that moment: the proof the requests
            // really were in flight together, in the order this round chose.
            assert_eq!(items.contains(ahead), !deletes_land_first, "round {round}: {ahead} in {items:?}");
        }
        unseen.retain(|r| !items.contains(r));
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert!(round >= 4 && deleted.len() >= 2 * round - 1, "the walk ran with changes in every round");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no room twice: {seen:?}");
    for room in before.iter().filter(|r| !deleted.contains(*r)) {
        assert!(unique.contains(room), "{room} existed throughout and was skipped");
    }
    // What the walk deleted is gone, and what it created is listed.
    let everything = t.call("GET", "/v1/rtc/room/list?limit=100", None, Some(&key));
    let listed: HashSet<&str> =
        everything.json["items"].as_array().unwrap().iter().map(|i| i["room"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), before.len() - deleted.len() + round, "{}", everything.json);
    assert!(deleted.iter().all(|d| !listed.contains(d.as_str())));
    for bad in ["limit=0", "limit=101", "cursor=garbage!", "limit=abc"] {
        let r = t.call("GET", &format!("/v1/rtc/room/list?{bad}"), None, Some(&key));
        assert_eq!(r.status, 400, "{bad}");
    }
}

#[test]
fn idempotency_replays_and_refuses_a_changed_body() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let body = json!({"name": "once", "idempotency_key": "k-1"});
    let first = t.call("POST", "/v1/rtc/room/create", Some(body.clone()), Some(&key));
    let again = t.call("POST", "/v1/rtc/room/create", Some(body), Some(&key));
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(first.json, again.json);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.header("idempotent-replayed"), None);
    let changed =
        t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "other", "idempotency_key": "k-1"})), Some(&key));
    assert_eq!((changed.status, changed.code()), (422, "IDEMPOTENCY_KEY_REUSED"));

    // The header works the same way, and the same key in another project is independent.
    let req = rtcgate::http::ApiRequest::new("POST", "/v1/rtc/room/create")
        .with_json(&json!({"name": "via-header"}))
        .with_header("authorization", &format!("Bearer {key}"))
        .with_header("idempotency-key", "k-2");
    let h1 = t.send(req.clone());
    let h2 = t.send(req);
    assert_eq!((h1.status, h2.json.clone()), (201, h1.json.clone()));
    // Both, equal, are one key; both, different, contradict each other (each is well formed).
    let both = |body_key: &str| {
        t.send(
            rtcgate::http::ApiRequest::new("POST", "/v1/rtc/room/create")
                .with_json(&json!({"name": "via-header", "idempotency_key": body_key}))
                .with_header("authorization", &format!("Bearer {key}"))
                .with_header("idempotency-key", "k-2"),
        )
    };
    assert_eq!(both("k-2").json, h1.json);
    let r = both("k-3");
    assert_eq!(
        (r.status, r.code(), r.json["error"]["field"].as_str()),
        (422, "CONFLICTING_FIELDS", Some("idempotency_key"))
    );
    let other_project = t.project_key();
    let o = t.call(
        "POST",
        "/v1/rtc/room/create",
        Some(json!({"name": "once", "idempotency_key": "k-1"})),
        Some(&other_project),
    );
    assert_eq!(o.status, 201);
    assert_ne!(o.json["room"], first.json["room"]);
}

#[test]
fn unpinned_create_fails_over_past_a_down_vendor() {
    let t = TestApp::new(&[LIVEKIT, AGORA]);
    let key = t.project_key();
    livekit_down_agora_up(&t);
    let c = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "a"})), Some(&key));
    assert_eq!((c.status, c.json["vendor"].as_str()), (201, Some("agora")), "{}", c.json);

    // A pin is honoured even when the vendor is down, and the failure leaves no record.
    let pinned = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "b", "vendor": "livekit"})), Some(&key));
    assert_eq!((pinned.status, pinned.code()), (502, "VENDOR_UNAVAILABLE"));
    let listed = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 1);

    // After repeated outages LiveKit is skipped (and reported down) for the cool-down.
    t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "c"})), Some(&key));
    let calls_before = t.native.http.sent().len();
    let d = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "d"})), Some(&key));
    assert_eq!(d.json["vendor"], "agora");
    assert!(t.native.http.sent()[calls_before..].iter().all(|x| !x.request.url.contains("livekit")));
    let disc = t.call("GET", "/v1/discovery/rtc.room.create", None, Some(&key));
    let statuses: Vec<(String, String, bool)> = disc.json["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["vendor"].as_str().unwrap().into(),
                v["status"].as_str().unwrap().into(),
                v["default"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("livekit".into(), "down".into(), false),
            ("agora".into(), "live".into(), true),
            ("zego".into(), "unconfigured".into(), false)
        ]
    );
    t.native.clock.advance_ms(rtcgate::vendors::routing::DEFAULT_COOLDOWN_MS + 1);
    let disc = t.call("GET", "/v1/discovery/rtc.room.create", None, Some(&key));
    assert_eq!(disc.json["vendors"][0]["status"], "live");
}

/// A breaker opening is published to KV: another isolate (another `App` over the same KV and
/// D1), which has seen no failure itself, skips the vendor and reports it down until the
/// cool-down ends, then tries it again.
#[test]
fn a_breaker_opening_is_shared_with_other_isolates() {
    let t = TestApp::new(&[LIVEKIT, AGORA]);
    let key = t.project_key();
    livekit_down_agora_up(&t);
    for i in 0..rtcgate::vendors::routing::BREAKER_THRESHOLD {
        let c = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": format!("a{i}")})), Some(&key));
        assert_eq!((c.status, c.json["vendor"].as_str()), (201, Some("agora")), "{}", c.json);
    }
    let livekit_calls = || t.native.http.sent().iter().filter(|x| x.request.url.contains("livekit")).count();
    assert_eq!(
        livekit_calls(),
        rtcgate::vendors::routing::BREAKER_THRESHOLD as usize,
        "each create tried LiveKit first"
    );

    let other = support::app_with(&[LIVEKIT, AGORA]);
    let on_other = |method: &str, path: &str, body: Option<serde_json::Value>| {
        let req = request(method, path, body, &key);
        let response = block_on(other.handle(&t.native.runtime, req));
        (response.status, response.json_body())
    };
    let (status, created) = on_other("POST", "/v1/rtc/room/create", Some(json!({"name": "elsewhere"})));
    assert_eq!((status, created["vendor"].as_str()), (201, Some("agora")), "{created}");
    assert_eq!(livekit_calls(), 3, "the other isolate skipped LiveKit without trying it");
    let (_, disc) = on_other("GET", "/v1/discovery/rtc.room.create", None);
    assert_eq!(
        (disc["vendors"][0]["vendor"].as_str(), disc["vendors"][0]["status"].as_str()),
        (Some("livekit"), Some("down"))
    );

    t.native.clock.advance_ms(rtcgate::vendors::routing::DEFAULT_COOLDOWN_MS + 1);
    let (_, disc) = on_other("GET", "/v1/discovery/rtc.room.create", None);
    assert_eq!(disc["vendors"][0]["status"], "live", "{disc}");
    let (status, _) = on_other("POST", "/v1/rtc/room/create", Some(json!({"name": "after"})));
    assert_eq!(status, 201);
    assert_eq!(livekit_calls(), 4, "after the cool-down the other isolate tries LiveKit again");
}

#[test]
fn pins_are_checked() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let unknown = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "a", "vendor": "twilio"})), Some(&key));
    assert_eq!(
        (unknown.status, unknown.code(), unknown.json["error"]["field"].as_str()),
        (400, "UNKNOWN_VENDOR", Some("vendor"))
    );
    let unconfigured = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "a", "vendor": "zego"})), Some(&key));
    assert_eq!((unconfigured.status, unconfigured.code()), (422, "VENDOR_UNAVAILABLE"));
    let c = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "a", "vendor": "agora"})), Some(&key));
    let room = c.json["room"].as_str().unwrap();
    let mismatch = t.call(
        "POST",
        &format!("/v1/rtc/participant/kick/{room}"),
        Some(json!({"identity": "x", "vendor": "zego"})),
        Some(&key),
    );
    assert_eq!((mismatch.status, mismatch.code()), (409, "VENDOR_MISMATCH"));
}

#[test]
fn discovery_reflects_configuration_and_capabilities() {
    let bad_agora: &[(&str, &str)] = &[
        ("AGORA_APP_ID", "970CA35de60c44645bbae8a215061b33"),
        ("AGORA_APP_CERTIFICATE", "not-hex"),
        ("AGORA_CUSTOMER_ID", "c"),
        ("AGORA_CUSTOMER_SECRET", "s"),
    ];
    let t = TestApp::new(&[LIVEKIT, bad_agora, ZEGO]);
    let key = t.project_key();
    let d = t.call("GET", "/v1/discovery/rtc.recording.start", None, Some(&key));
    assert_eq!(d.status, 200);
    let v = &d.json["vendors"];
    assert_eq!((v[0]["status"].as_str(), v[0]["default"].as_bool()), (Some("live"), Some(true)));
    assert_eq!(v[1]["status"], "misconfigured");
    assert!(v[1]["reason"].as_str().unwrap().contains("AGORA_APP_CERTIFICATE"));
    assert!(!d.json.to_string().contains("not-hex"), "the bad value is not echoed");
    // ZEGO records through Cloud Recording, so it is live for recording like LiveKit.
    assert_eq!((v[2]["status"].as_str(), v[2]["default"].as_bool()), (Some("live"), Some(false)));
    let stop = t.call("GET", "/v1/discovery/rtc.recording.stop", None, Some(&key));
    assert_eq!(stop.json["vendors"][2]["status"], "live");
    let unknown = t.call("GET", "/v1/discovery/rtc.nope", None, Some(&key));
    assert_eq!((unknown.status, unknown.code()), (404, "CAPABILITY_NOT_FOUND"));
}

/// Creating a room on Agora or ZEGO calls nobody, so it must not count as proof that the
/// vendor is healthy: outages around it still add up to an open breaker.
#[test]
fn a_room_create_without_a_vendor_call_does_not_reset_the_breaker() {
    for (vars, vendor) in [(AGORA, "agora"), (ZEGO, "zego")] {
        let t = TestApp::new(&[vars]);
        let key = t.project_key();
        let c = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "a"})), Some(&key));
        let room = c.json["room"].as_str().unwrap().to_owned();
        t.native.http.respond_with(|_| json_response(503, &json!({})));
        let delete = |t: &TestApp| t.call("DELETE", &format!("/v1/rtc/room/delete/{room}"), None, Some(&key));
        for i in 0..rtcgate::vendors::routing::BREAKER_THRESHOLD {
            assert_eq!(delete(&t).status, 502, "{vendor}");
            if i == 0 {
                let other = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "b"})), Some(&key));
                assert_eq!(other.status, 201, "{vendor}: {}", other.json);
            }
        }
        let disc = t.call("GET", "/v1/discovery/rtc.room.create", None, Some(&key));
        let status =
            disc.json["vendors"].as_array().unwrap().iter().find(|v| v["vendor"] == vendor).unwrap()["status"].clone();
        assert_eq!(status, "down", "{vendor}: three outages in a row open the breaker");
    }
}

/// LiveKit refuses every connection; Agora answers with an empty channel.
fn livekit_down_agora_up(t: &TestApp) {
    t.native.http.respond_with(|req| {
        if req.url.contains("livekit") {
            Err(HttpError::Unreachable("connection refused".into()))
        } else {
            json_response(200, &agora_users(0))
        }
    });
}

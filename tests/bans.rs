//! Bans: create, extend, list, lift; `token.issue` refused for a banned identity on every
//! vendor; the quota; the events; and revocations (bans and API keys) reaching another isolate
//! (a second `App` on the same database) through the change feed within the staleness window.

mod support;

use std::rc::Rc;

use rtcgate::api::revocation::{FEED_POLL_AFTER_MS, FEED_STALE_MS};
use rtcgate::app::App;
use rtcgate::http::ApiRequest;
use rtcgate::native::{block_on, json_response, run_background, RoundTrips};
use serde_json::{json, Value};
use support::{app_with, Reply, TestApp, ADMIN, AGORA, LIVEKIT, ZEGO};

const NONE: RoundTrips = RoundTrips { d1: 0, d1_replica: 0, kv: 0, http: 0 };

/// Every vendor configured; LiveKit's server answers every call with an empty success.
fn app(extra: &[(&str, &str)]) -> TestApp {
    let t = TestApp::new(&[LIVEKIT, AGORA, ZEGO, extra]);
    t.native.http.respond_with(|req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        json_response(200, &json!({"sid": "RM_1", "name": body["name"]}))
    });
    t
}

fn token(t: &TestApp, key: &str, room: &str, identity: &str) -> Reply {
    t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": room, "identity": identity})), Some(key))
}

fn room_of(t: &TestApp, key: &str, vendor: &str) -> String {
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": vendor, "vendor": vendor})), Some(key));
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["room"].as_str().unwrap().to_owned()
}

fn ban(t: &TestApp, key: &str, room: &str, body: Value) -> Reply {
    t.call("POST", &format!("/v1/rtc/participant/ban/{room}"), Some(body), Some(key))
}

/// A request through another isolate: its own `App` (memory), the same database and clock.
fn call_on(other: &Rc<App>, t: &TestApp, method: &str, path: &str, body: Option<Value>, key: &str) -> Reply {
    let mut req = ApiRequest::new(method, path).with_header("authorization", &format!("Bearer {key}"));
    if let Some(b) = body {
        req = req.with_json(&b);
    }
    let response = block_on(other.handle(&t.native.runtime, req));
    let json = response.json_body();
    Reply { status: response.status, json, response }
}

#[test]
fn a_ban_is_created_extended_listed_and_lifted() {
    let t = app(&[]);
    let key = t.project_key();
    let room = room_of(&t, &key, "livekit");

    let first = ban(&t, &key, &room, json!({"identity": "eve", "duration_s": 60, "kick": false, "reason": "spam"}));
    assert_eq!(first.status, 201, "{}", first.json);
    let id = first.json["ban"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ban_"), "{id}");
    assert_eq!(
        (first.json["room"].as_str(), first.json["scope"].as_str(), first.json["reason"].as_str()),
        (Some(room.as_str()), Some("room"), Some("spam"))
    );
    assert_eq!(first.json["expires_at"], "2023-11-14T22:14:20Z");

    t.native.clock.advance_ms(1000);
    let again = ban(&t, &key, &room, json!({"identity": "eve", "duration_s": 3600, "kick": false}));
    assert_eq!(again.status, 200, "an extension creates nothing: {}", again.json);
    assert_eq!(again.json["ban"].as_str(), Some(id.as_str()), "the same ban");
    assert_eq!(again.json["expires_at"], "2023-11-14T23:13:21Z", "the later end");
    assert_eq!(again.json["reason"], "spam", "kept when none is given");
    let shorter = ban(&t, &key, &room, json!({"identity": "eve", "duration_s": 5, "kick": false}));
    assert_eq!((shorter.status, &shorter.json["expires_at"]), (200, &again.json["expires_at"]), "never shortened");

    let other = ban(&t, &key, &room, json!({"identity": "mallory", "scope": "project", "kick": false}));
    assert_eq!((other.status, other.json["scope"].as_str(), &other.json["room"]), (201, Some("project"), &Value::Null));

    let listed = t.call("GET", "/v1/rtc/ban/list?limit=1", None, Some(&key));
    assert_eq!(listed.status, 200, "{}", listed.json);
    assert_eq!(listed.json["items"][0]["identity"], "mallory", "newest first");
    let cursor = listed.json["next_cursor"].as_str().unwrap().to_owned();
    let page2 = t.call("GET", &format!("/v1/rtc/ban/list?limit=1&cursor={cursor}"), None, Some(&key));
    assert_eq!((page2.json["items"][0]["ban"].as_str(), &page2.json["next_cursor"]), (Some(id.as_str()), &Value::Null));
    let by_identity = t.call("GET", "/v1/rtc/ban/list?identity=eve", None, Some(&key));
    assert_eq!(by_identity.json["items"].as_array().map(Vec::len), Some(1), "{}", by_identity.json);
    let by_room = t.call("GET", &format!("/v1/rtc/ban/list?room={room}"), None, Some(&key));
    assert_eq!(by_room.json["items"].as_array().map(Vec::len), Some(1), "project bans have no room: {}", by_room.json);

    let lifted = t.call("DELETE", &format!("/v1/rtc/ban/delete/{id}"), None, Some(&key));
    assert_eq!((lifted.status, lifted.json["ban"].as_str()), (200, Some(id.as_str())), "{}", lifted.json);
    let again = t.call("DELETE", &format!("/v1/rtc/ban/delete/{id}"), None, Some(&key));
    assert_eq!((again.status, again.code()), (404, "BAN_NOT_FOUND"));
    let listed = t.call("GET", "/v1/rtc/ban/list", None, Some(&key));
    assert_eq!(listed.json["items"].as_array().map(Vec::len), Some(1));

    // Banned again after the lift: a new ban.
    let renewed = ban(&t, &key, &room, json!({"identity": "eve", "kick": false}));
    assert_eq!(renewed.status, 201, "{}", renewed.json);
    assert_ne!(renewed.json["ban"].as_str(), Some(id.as_str()));

    // Another project sees none of it.
    let stranger = t.project_key();
    assert_eq!(t.call("GET", "/v1/rtc/ban/list", None, Some(&stranger)).json["items"], json!([]));
    let theirs = t.call(
        "DELETE",
        &format!("/v1/rtc/ban/delete/{}", renewed.json["ban"].as_str().unwrap()),
        None,
        Some(&stranger),
    );
    assert_eq!(theirs.status, 404);
}

#[test]
fn bad_ban_requests_are_refused_with_the_field() {
    let t = app(&[]);
    let key = t.project_key();
    let room = room_of(&t, &key, "agora");
    for (body, field) in [
        (json!({}), "identity"),
        (json!({"identity": "eve", "duration_s": 0}), "duration_s"),
        (json!({"identity": "eve", "duration_s": 30 * 24 * 3600 + 1}), "duration_s"),
        (json!({"identity": "eve", "scope": "world"}), "scope"),
        (json!({"identity": "eve", "reason": "x".repeat(257)}), "reason"),
        (json!({"identity": "eve", "kick": "yes"}), "kick"),
    ] {
        let r = ban(&t, &key, &room, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.json);
        assert_eq!(r.json["error"]["field"], field, "{body}: {}", r.json);
    }
    let r = ban(&t, &key, "no-such-room", json!({"identity": "eve"}));
    assert_eq!((r.status, r.code()), (404, "ROOM_NOT_FOUND"));
    assert!(
        ban(&t, &key, &room, json!({"identity": "eve", "duration_s": 30 * 24 * 3600, "kick": false})).status == 201
    );
}

#[test]
fn a_banned_identity_gets_no_token_on_any_vendor() {
    let t = app(&[]);
    let key = t.project_key();
    for vendor in ["livekit", "agora", "zego"] {
        let room = room_of(&t, &key, vendor);
        assert_eq!(token(&t, &key, &room, "eve").status, 200, "{vendor}: before the ban");
        let b = ban(&t, &key, &room, json!({"identity": "eve", "duration_s": 60, "kick": false}));
        assert_eq!(b.status, 201, "{vendor}: {}", b.json);
        let r = token(&t, &key, &room, "eve");
        assert_eq!((r.status, r.code()), (403, "PARTICIPANT_BANNED"), "{vendor}: {}", r.json);
        assert_eq!(r.json["error"]["ban"], b.json["ban"], "{vendor}");
        assert_eq!(r.json["error"]["expires_at"], b.json["expires_at"], "{vendor}");
        assert_eq!(token(&t, &key, &room, "bob").status, 200, "{vendor}: others still join");
    }
    // A room ban is of that room only; it ends at its expiry.
    assert_eq!(token(&t, &key, "elsewhere", "eve").status, 200);
    t.native.clock.advance_ms(60_000);
    assert_eq!(token(&t, &key, "livekit", "eve").status, 200, "expired");
}

#[test]
fn a_project_ban_refuses_every_room_even_one_not_created_yet() {
    let t = app(&[]);
    let key = t.project_key();
    let room = room_of(&t, &key, "zego");
    assert_eq!(ban(&t, &key, &room, json!({"identity": "eve", "scope": "project", "kick": false})).status, 201);
    for room in [room.as_str(), "brand-new-room"] {
        let r = token(&t, &key, room, "eve");
        assert_eq!((r.status, r.code()), (403, "PARTICIPANT_BANNED"), "{room}: {}", r.json);
    }
    let rooms = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!(rooms.json["items"].as_array().map(Vec::len), Some(1), "no room was made for a banned identity");
}

#[test]
fn a_lifted_ban_lets_the_identity_back_at_once_in_this_isolate() {
    let t = app(&[]);
    let key = t.project_key();
    let room = room_of(&t, &key, "agora");
    let b = ban(&t, &key, &room, json!({"identity": "eve", "kick": false}));
    assert_eq!(token(&t, &key, &room, "eve").status, 403);
    let id = b.json["ban"].as_str().unwrap();
    assert_eq!(t.call("DELETE", &format!("/v1/rtc/ban/delete/{id}"), None, Some(&key)).status, 200);
    assert_eq!(token(&t, &key, &room, "eve").status, 200);
}

#[test]
fn the_bans_quota_is_enforced_and_shown() {
    let t = app(&[("QUOTA_BANS", "2")]);
    let key = t.project_key();
    let room = room_of(&t, &key, "zego");
    for who in ["a", "b"] {
        assert_eq!(ban(&t, &key, &room, json!({"identity": who, "kick": false})).status, 201);
    }
    let r = ban(&t, &key, &room, json!({"identity": "c", "kick": false}));
    assert_eq!((r.status, r.code()), (422, "QUOTA_EXCEEDED"), "{}", r.json);
    assert_eq!((r.json["error"]["quota"].as_str(), r.json["error"]["limit"].as_u64()), (Some("bans"), Some(2)));
    // Extending a live ban takes no more of the quota.
    assert_eq!(ban(&t, &key, &room, json!({"identity": "a", "kick": false})).status, 200);
    let limits = t.call("GET", "/v1/rtc/limits", None, Some(&key));
    assert_eq!(limits.status, 200, "{}", limits.json);
    assert!(limits.json.to_string().contains("\"bans\""), "{}", limits.json);
    // An expired ban leaves the quota once the scheduled job ends it.
    t.native.clock.advance_ms(3600 * 1000);
    assert_eq!(ban(&t, &key, &room, json!({"identity": "c", "kick": false})).status, 422, "not ended yet");
    let report = block_on(rtcgate::app::maintenance::run(&t.app, &t.native.runtime));
    assert_eq!(report.bans_ended, 2);
    assert_eq!(ban(&t, &key, &room, json!({"identity": "c", "kick": false})).status, 201);
}

#[test]
fn banning_and_lifting_emit_events() {
    let t = app(&[]);
    let key = t.project_key();
    let room = room_of(&t, &key, "agora");
    let b = ban(&t, &key, &room, json!({"identity": "eve", "kick": false, "reason": "spam"}));
    let id = b.json["ban"].as_str().unwrap();
    t.native.clock.advance_ms(1);
    t.call("DELETE", &format!("/v1/rtc/ban/delete/{id}"), None, Some(&key));
    let events = t.call("GET", &format!("/v1/rtc/event/list?room={room}"), None, Some(&key));
    assert_eq!(events.status, 200, "{}", events.json);
    let items = events.json["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["participant.unbanned", "participant.banned"], "{}", events.json);
    assert_eq!((items[1]["identity"].as_str(), items[1]["data"]["ban"].as_str()), (Some("eve"), Some(id)));
    assert_eq!(items[1]["data"]["reason"], "spam");
    let typed = t.call("GET", "/v1/rtc/event/list?type=participant.banned", None, Some(&key));
    assert_eq!(typed.json["items"].as_array().map(Vec::len), Some(1), "{}", typed.json);
}

#[test]
fn a_ban_kicks_the_identity_from_the_room_now_unless_told_not_to() {
    let t = app(&[]);
    let key = t.project_key();
    let room = room_of(&t, &key, "livekit");
    t.native.http.clear();
    assert_eq!(ban(&t, &key, &room, json!({"identity": "eve"})).status, 201);
    let sent = t.native.http.sent();
    let kicks: Vec<_> = sent.iter().filter(|e| e.request.url.ends_with("/RemoveParticipant")).collect();
    assert_eq!(kicks.len(), 1, "{:?}", sent.iter().map(|e| &e.request.url).collect::<Vec<_>>());
    assert_eq!(kicks[0].json.as_ref().unwrap()["identity"], "eve");
    assert_eq!(
        kicks[0].json.as_ref().unwrap()["revoke_token_ts"].as_u64(),
        Some(support::NOW_MS / 1000),
        "tokens minted before the ban are revoked where the server honours it"
    );

    t.native.http.clear();
    assert_eq!(ban(&t, &key, &room, json!({"identity": "bob", "kick": false})).status, 201);
    assert!(t.native.http.sent().iter().all(|e| !e.request.url.ends_with("/RemoveParticipant")));

    // Someone not in the room: the vendor says so, and the ban stands.
    t.native.http.respond_with(|_| json_response(404, &json!({"code": "not_found", "msg": "participant not found"})));
    let r = ban(&t, &key, &room, json!({"identity": "carol"}));
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(token(&t, &key, &room, "carol").status, 403);
}

#[test]
fn a_ban_through_one_isolate_is_enforced_by_another_within_the_window_not_before() {
    let t = app(&[]);
    let key = t.project_key();
    let room = room_of(&t, &key, "zego");
    let other = app_with(&[LIVEKIT, AGORA, ZEGO]);
    let issue = |identity: &str| {
        call_on(&other, &t, "POST", "/v1/rtc/token/issue", Some(json!({"room": room, "identity": identity})), &key)
    };
    assert_eq!(issue("eve").status, 200, "the other isolate is warm: key, bans and room in memory");

    assert_eq!(ban(&t, &key, &room, json!({"identity": "eve", "kick": false})).status, 201);
    assert_eq!(token(&t, &key, &room, "eve").status, 403, "this isolate at once");
    assert_eq!(issue("eve").status, 200, "the other, before any read of the feed, still answers from memory");

    t.native.clock.advance_ms(FEED_STALE_MS);
    let r = issue("eve");
    assert_eq!((r.status, r.code()), (403, "PARTICIPANT_BANNED"), "within the window: {}", r.json);

    // Lifted through this isolate: the other lets the identity back at its next read.
    let id = t.call("GET", "/v1/rtc/ban/list", None, Some(&key)).json["items"][0]["ban"].as_str().unwrap().to_owned();
    assert_eq!(t.call("DELETE", &format!("/v1/rtc/ban/delete/{id}"), None, Some(&key)).status, 200);
    t.native.clock.advance_ms(FEED_STALE_MS);
    assert_eq!(issue("eve").status, 200);
}

#[test]
fn under_steady_traffic_the_feed_is_read_after_responses_and_no_caller_waits() {
    let t = app(&[]);
    let key = t.project_key();
    let room = room_of(&t, &key, "livekit");
    let other = app_with(&[LIVEKIT, AGORA, ZEGO]);
    let issue = |identity: &str| {
        let mut req = ApiRequest::new("POST", "/v1/rtc/token/issue")
            .with_header("authorization", &format!("Bearer {key}"))
            .with_json(&json!({"room": room, "identity": identity}));
        req = req.with_header("x-request-id", "steady");
        let start = t.native.round_trips();
        let response = rtcgate::native::respond_only(other.handle(&t.native.runtime, req));
        let answered = t.native.round_trips();
        run_background();
        let done = t.native.round_trips();
        (response.status, diff(answered, start), diff(done, answered))
    };
    let (status, _, _) = issue("eve");
    assert_eq!(status, 200);
    assert_eq!(issue("eve"), (200, NONE, NONE), "warm and fresh: no round trip at all");

    assert_eq!(ban(&t, &key, &room, json!({"identity": "eve", "kick": false})).status, 201);
    t.native.clock.advance_ms(FEED_POLL_AFTER_MS);
    assert_eq!(
        issue("eve"),
        (200, NONE, RoundTrips { d1: 1, ..NONE }),
        "answered from memory; one read of the feed after the response"
    );
    assert_eq!(issue("eve").0, 403, "the next request sees the ban");
    assert_eq!(issue("bob").1, NONE, "and still waits for nothing");

    t.native.clock.advance_ms(FEED_STALE_MS);
    let (status, before, _) = issue("bob");
    assert_eq!(
        (status, before),
        (200, RoundTrips { d1: 1, ..NONE }),
        "idle past the window: one read before answering"
    );
}

#[test]
fn a_key_revoked_through_one_isolate_is_refused_by_another_within_the_window() {
    let t = app(&[]);
    let (project, key) = t.project_and_key();
    let other = app_with(&[LIVEKIT, AGORA, ZEGO]);
    let list = || call_on(&other, &t, "GET", "/v1/rtc/room/list", None, &key);
    assert_eq!(list().status, 200, "the other isolate caches the key");

    let keys = t.call("GET", &format!("/v1/admin/projects/{project}/keys"), None, Some(ADMIN));
    let key_id = keys.json["items"][0]["id"].as_str().unwrap().to_owned();
    let revoked = t.call("POST", &format!("/v1/admin/keys/{key_id}/revoke"), None, Some(ADMIN));
    assert_eq!(revoked.status, 200, "{}", revoked.json);

    assert_eq!(list().status, 200, "before any read of the feed: the cached key");
    t.native.clock.advance_ms(FEED_STALE_MS);
    let r = list();
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "within the window: {}", r.json);
}

fn diff(a: RoundTrips, b: RoundTrips) -> RoundTrips {
    RoundTrips { d1: a.d1 - b.d1, d1_replica: a.d1_replica - b.d1_replica, kv: a.kv - b.kv, http: a.http - b.http }
}

#[test]
fn a_banned_identity_that_joins_with_an_old_token_is_kicked_when_its_join_arrives() {
    let t = app(&[]);
    let key = t.project_key();
    let room = room_of(&t, &key, "livekit");
    // The token was minted before the ban.
    assert_eq!(token(&t, &key, &room, "eve").status, 200);
    assert_eq!(ban(&t, &key, &room, json!({"identity": "eve", "kick": false})).status, 201);
    t.native.http.clear();
    let join = |identity: &str, id: &str| {
        let body = json!({"event": "participant_joined", "room": {"sid": "RM_1", "name": room},
                          "participant": {"sid": format!("PA_{identity}"), "identity": identity},
                          "id": id, "createdAt": (support::NOW_MS / 1000).to_string()});
        let r = t.send(support::livekit_webhook(&body.to_string()));
        assert_eq!(r.status, 200, "{}", r.json);
        let sent = t.native.http.sent();
        t.native.http.clear();
        sent.into_iter().filter(|e| e.request.url.ends_with("/RemoveParticipant")).collect::<Vec<_>>()
    };
    let kicks = join("eve", "EV_1");
    assert_eq!(kicks.len(), 1, "the join is answered, then the banned identity removed");
    assert_eq!(kicks[0].json.as_ref().unwrap()["identity"], "eve");
    assert!(join("bob", "EV_2").is_empty(), "anyone else stays");
}

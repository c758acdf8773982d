//! Limits a tenant can see: the per-key rate limit (429 RATE_LIMITED), the per-project quotas
//! (422 QUOTA_EXCEEDED) and `GET /v1/rtc/limits`, natively. The native rate limiter is a fixed
//! window on the manual clock, configured from the same vars the Worker reads (as the e2e
//! harness writes the `[[ratelimits]]` block and the vars together).

mod support;

use std::future::Future;
use std::task::{Context, Poll, Waker};

use rtcgate::http::ApiRequest;
use rtcgate::native::{block_on, json_response};
use serde_json::{json, Value};
use support::{Reply, TestApp, ADMIN, LIVEKIT, ZEGO};

const ENCRYPTION: &[(&str, &str)] =
    &[("RTCGATE_ENCRYPTION_KEY", "5f1d8a0c2b3e4f60718293a4b5c6d7e8f90112233445566778899aabbccddeef")];
const STORAGE: &[(&str, &str)] = &[
    ("RECORDING_S3_ACCESS_KEY", "AKIA-TEST"),
    ("RECORDING_S3_SECRET", "s3-secret-value"),
    ("RECORDING_S3_REGION", "eu-west-1"),
    ("RECORDING_DEFAULT_URI", "s3://media/rtc/"),
];

/// A second key of the project `project_id`.
fn another_key(t: &TestApp, project_id: &str) -> String {
    let k = t.call("POST", &format!("/v1/admin/projects/{project_id}/keys"), Some(json!({})), Some(ADMIN));
    assert_eq!(k.status, 201, "{}", k.json);
    k.json["secret"].as_str().unwrap().to_owned()
}

fn list_rooms(t: &TestApp, key: &str) -> Reply {
    t.call("GET", "/v1/rtc/room/list", None, Some(key))
}

fn limits(t: &TestApp, key: &str) -> Value {
    let r = t.call("GET", "/v1/rtc/limits", None, Some(key));
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

fn quota(t: &TestApp, key: &str, name: &str) -> (u64, u64) {
    let l = limits(t, key);
    let q = &l["quotas"][name];
    (q["limit"].as_u64().unwrap_or(u64::MAX), q["used"].as_u64().unwrap_or(u64::MAX))
}

fn assert_quota_exceeded(r: &Reply, name: &str, limit: u64) {
    assert_eq!(
        (r.status, r.code(), r.json["error"]["quota"].as_str(), r.json["error"]["limit"].as_u64()),
        (422, "QUOTA_EXCEEDED", Some(name), Some(limit)),
        "{}",
        r.json
    );
}

fn create_room(t: &TestApp, key: &str, name: &str) -> Reply {
    t.call("POST", "/v1/rtc/room/create", Some(json!({"name": name})), Some(key))
}

// ---------------------------------------------------------------------------------------------
// rate limit

const RATE_3_PER_10S: &[(&str, &str)] = &[("RATE_LIMIT_REQUESTS", "3"), ("RATE_LIMIT_PERIOD_S", "10")];

#[test]
fn a_key_over_its_rate_limit_gets_429_from_its_next_request_while_other_keys_and_projects_are_served() {
    let t = TestApp::new(&[ZEGO, RATE_3_PER_10S]);
    let (prj, key) = t.project_and_key();
    let sibling = another_key(&t, &prj);
    let other_project = t.project_key();

    for i in 0..3 {
        assert_eq!(list_rooms(&t, &key).status, 200, "request {i} is within the limit");
        if i < 2 {
            assert_eq!(list_rooms(&t, &sibling).status, 200, "request {i} of another key");
            assert_eq!(list_rooms(&t, &other_project).status, 200, "request {i} of another project");
        }
    }
    // The limiter decides the next request, not this one: the fourth is answered before the
    // limiter's verdict on it arrives, the fifth is refused.
    let calls = t.native.limiter.calls();
    assert_eq!(list_rooms(&t, &key).status, 200, "the request over the limit is served; its answer does not wait");
    assert_eq!(t.native.limiter.calls(), calls + 1, "and counted once");
    t.native.clock.advance_ms(1_500);
    let limited = list_rooms(&t, &key);
    assert_eq!((limited.status, limited.code()), (429, "RATE_LIMITED"), "{}", limited.json);
    assert_eq!(limited.header("retry-after"), Some("10"), "the verdict it brought back blocks the key for one period");
    assert_eq!(
        (limited.json["error"]["requests"].as_u64(), limited.json["error"]["period_s"].as_u64()),
        (Some(3), Some(10))
    );
    assert!(limited.json["error"]["request_id"].is_string());
    assert_eq!(t.native.limiter.calls(), calls + 2, "the refused request's own count brought the verdict back");
    let again = list_rooms(&t, &key);
    assert_eq!((again.status, again.header("retry-after")), (429, Some("10")));
    assert_eq!(t.native.limiter.calls(), calls + 2, "a request refused by a block is not counted");
    // Every API-key route is limited, the token hot path too.
    let token = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": "r", "identity": "a"})), Some(&key));
    assert_eq!(token.status, 429, "{}", token.json);

    // Another key of the same project, and another project, are not affected (their third
    // request each, within the limit).
    assert_eq!(list_rooms(&t, &sibling).status, 200, "another key");
    assert_eq!(list_rooms(&t, &other_project).status, 200, "another project");
    // Neither are the routes no API key calls.
    for _ in 0..5 {
        assert_eq!(t.call("GET", "/v1/health", None, None).status, 200);
        let keys = t.call("GET", &format!("/v1/admin/projects/{prj}/keys"), None, Some(ADMIN));
        assert_eq!(keys.status, 200, "{}", keys.json);
    }

    // The block lasts one period: just before its end the key is still refused, then served.
    t.native.clock.advance_ms(9_999);
    let last = list_rooms(&t, &key);
    assert_eq!((last.status, last.header("retry-after")), (429, Some("1")), "at least 1 s");
    t.native.clock.advance_ms(1);
    assert_eq!(list_rooms(&t, &key).status, 200, "served again once the period has passed");
}

#[test]
fn the_limits_route_reports_the_rate_limit_and_is_itself_limited() {
    let t = TestApp::new(&[ZEGO, RATE_3_PER_10S]);
    let key = t.project_key();
    let l = limits(&t, &key);
    assert_eq!(l["rate_limit"], json!({"requests": 3, "period_s": 10}));
    limits(&t, &key);
    limits(&t, &key);
    limits(&t, &key);
    assert_eq!(t.call("GET", "/v1/rtc/limits", None, Some(&key)).status, 429);
}

#[test]
fn a_failing_rate_limiter_lets_requests_through() {
    let t = TestApp::new(&[ZEGO, RATE_3_PER_10S]);
    let key = t.project_key();
    t.native.limiter.fail(true);
    for i in 0..10 {
        assert_eq!(list_rooms(&t, &key).status, 200, "request {i}: the limiter fails open");
    }
    t.native.limiter.fail(false);
    for _ in 0..4 {
        assert_eq!(list_rooms(&t, &key).status, 200);
    }
    assert_eq!(list_rooms(&t, &key).status, 429, "counting again once it answers");
}

// ---------------------------------------------------------------------------------------------
// quotas

#[test]
fn defaults_are_reported_when_no_var_is_set() {
    let t = TestApp::new(&[ZEGO]);
    let key = t.project_key();
    assert_eq!(
        limits(&t, &key),
        json!({
            "rate_limit": {"requests": 3000, "period_s": 10},
            "quotas": {
                "live_rooms": {"limit": 1000, "used": 0},
                "webhooks": {"limit": 20, "used": 0},
                "recording_destinations": {"limit": 20, "used": 0},
                "concurrent_recordings": {"limit": 50, "used": 0},
                "bans": {"limit": 10000, "used": 0},
                "moderated_participants": {"limit": 10000, "used": 0},
                "streams": {"limit": 10, "used": 0},
            }
        })
    );
}

#[test]
fn live_rooms_quota_applies_to_room_create_and_to_tokens_for_new_rooms() {
    let t = TestApp::new(&[ZEGO, &[("QUOTA_LIVE_ROOMS", "2")]]);
    let key = t.project_key();
    let other = t.project_key();
    // ZEGO's CloseRoom, for the delete.
    t.native.http.respond_with(|_| json_response(200, &json!({"Code": 0, "Message": "success", "RequestId": "r1"})));
    assert_eq!(create_room(&t, &key, "one").status, 201);
    let two =
        t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "two", "idempotency_key": "k-two"})), Some(&key));
    assert_eq!(two.status, 201, "{}", two.json);
    assert_eq!(quota(&t, &key, "live_rooms"), (2, 2));

    assert_quota_exceeded(&create_room(&t, &key, "three"), "live_rooms", 2);
    let token = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": "three", "identity": "a"})), Some(&key));
    assert_quota_exceeded(&token, "live_rooms", 2);
    // A name in use is still that, not a quota.
    let taken = create_room(&t, &key, "one");
    assert_eq!((taken.status, taken.code()), (409, "ROOM_NAME_TAKEN"), "{}", taken.json);
    // A token for a room that exists costs no quota; a replay is not a second room.
    let token = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": "one", "identity": "a"})), Some(&key));
    assert_eq!(token.status, 200, "{}", token.json);
    let replay =
        t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "two", "idempotency_key": "k-two"})), Some(&key));
    assert_eq!((replay.status, replay.header("idempotent-replayed")), (201, Some("true")), "{}", replay.json);
    assert_eq!(quota(&t, &key, "live_rooms"), (2, 2));
    assert_eq!(t.native.db.rows("SELECT id FROM rooms").len(), 2, "nothing left behind by the refusals");

    // Another project has its own quota.
    assert_eq!(create_room(&t, &other, "three").status, 201);
    assert_eq!(quota(&t, &other, "live_rooms"), (2, 1));

    // Deleting a room frees its place.
    let del = t.call("DELETE", "/v1/rtc/room/delete/one", None, Some(&key));
    assert_eq!(del.status, 200, "{}", del.json);
    assert_eq!(quota(&t, &key, "live_rooms"), (2, 1));
    let token = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": "three", "identity": "a"})), Some(&key));
    assert_eq!((token.status, token.json["room_created"].as_bool()), (200, Some(true)), "{}", token.json);
    assert_eq!(quota(&t, &key, "live_rooms"), (2, 2));
}

/// Polls `f` once (it is expected to stop at a held D1 write).
fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

fn create_request(key: &str, name: &str) -> ApiRequest {
    ApiRequest::new("POST", "/v1/rtc/room/create")
        .with_json(&json!({"name": name}))
        .with_header("authorization", &format!("Bearer {key}"))
}

#[test]
fn concurrent_creates_never_exceed_the_live_rooms_quota() {
    let t = TestApp::new(&[ZEGO, &[("QUOTA_LIVE_ROOMS", "1")]]);
    let key = t.project_key();
    assert_eq!(list_rooms(&t, &key).status, 200, "the key is cached: the next write is the room's");
    // The first create's insert is held in flight (its count is not taken yet), the second
    // runs to the end meanwhile, then the first goes on.
    let gate = t.native.counters.hold_next_write();
    let mut first = Box::pin(t.app.handle(&t.native.runtime, create_request(&key, "first")));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(gate.reached(), "the first create is at its insert");
    let second = block_on(t.app.handle(&t.native.runtime, create_request(&key, "second")));
    gate.release();
    let first = block_on(first);
    let statuses = [first.status, second.status];
    assert!(statuses.contains(&201), "one of them is created: {statuses:?}");
    assert!(statuses.contains(&422), "the other is over the quota: {statuses:?}");
    assert_eq!(t.native.db.rows("SELECT id FROM rooms WHERE deleted_at_ms IS NULL").len(), 1);
    assert_eq!(quota(&t, &key, "live_rooms"), (1, 1));
}

#[test]
fn webhooks_quota() {
    let t = TestApp::new(&[ZEGO, ENCRYPTION, &[("QUOTA_WEBHOOKS", "2")]]);
    let key = t.project_key();
    let create = |n: u32| {
        t.call(
            "POST",
            "/v1/rtc/webhook/create",
            Some(json!({"url": format!("https://hooks.example.com/{n}")})),
            Some(&key),
        )
    };
    let first = create(1);
    assert_eq!(first.status, 201, "{}", first.json);
    assert_eq!(create(2).status, 201);
    assert_quota_exceeded(&create(3), "webhooks", 2);
    assert_eq!(quota(&t, &key, "webhooks"), (2, 2));
    let id = first.json["webhook"].as_str().unwrap().to_owned();
    let del = t.call("DELETE", &format!("/v1/rtc/webhook/delete/{id}"), None, Some(&key));
    assert_eq!(del.status, 200, "{}", del.json);
    assert_eq!(quota(&t, &key, "webhooks"), (2, 1));
    assert_eq!(create(3).status, 201);
    assert_eq!(quota(&t, &key, "webhooks"), (2, 2));
}

fn s3_body(bucket: &str) -> Value {
    json!({"uri": format!("s3://{bucket}/calls"), "credentials": {"access_key": "AKIA-PROJECT", "secret": "project-top-secret", "region": "us-east-2"}})
}

#[test]
fn recording_destinations_quota() {
    let t = TestApp::new(&[LIVEKIT, ENCRYPTION, &[("QUOTA_RECORDING_DESTINATIONS", "2")]]);
    let key = t.project_key();
    let create =
        |bucket: &str| t.call("POST", "/v1/rtc/recording/destination/create", Some(s3_body(bucket)), Some(&key));
    let first = create("bucket-one");
    assert_eq!(first.status, 201, "{}", first.json);
    assert_eq!(create("bucket-two").status, 201);
    assert_quota_exceeded(&create("bucket-three"), "recording_destinations", 2);
    // The same place again is still DESTINATION_EXISTS.
    assert_eq!(create("bucket-one").status, 409);
    assert_eq!(quota(&t, &key, "recording_destinations"), (2, 2));
    let id = first.json["destination"].as_str().unwrap();
    let del = t.call("DELETE", &format!("/v1/rtc/recording/destination/delete/{id}"), None, Some(&key));
    assert_eq!(del.status, 200, "{}", del.json);
    assert_eq!(quota(&t, &key, "recording_destinations"), (2, 1));
    assert_eq!(create("bucket-three").status, 201);
}

/// LiveKit creating rooms and egresses; StopEgress answers "ending".
fn livekit(t: &TestApp) {
    t.native.http.respond_with(|req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        let egress = |id: &str, status: &str| {
            json!({"egress_id": id, "room_name": body["room_name"], "status": status, "started_at": "1700000000000000000",
                   "ended_at": "0", "error": "", "file_results": [], "room_composite": body})
        };
        match req.url.rsplit('/').next().unwrap_or("") {
            "CreateRoom" => json_response(200, &json!({"sid": "RM_1", "name": body["name"]})),
            "StartRoomCompositeEgress" => json_response(200, &egress("EG_1", "EGRESS_STARTING")),
            "StopEgress" => {
                json_response(200, &egress(body["egress_id"].as_str().unwrap_or("EG_1"), "EGRESS_ENDING"))
            }
            _ => json_response(404, &json!({"code": "bad_route", "msg": "no"})),
        }
    });
}

#[test]
fn concurrent_recordings_quota_counts_starting_and_active_recordings() {
    let t = TestApp::new(&[LIVEKIT, STORAGE, &[("QUOTA_CONCURRENT_RECORDINGS", "1")]]);
    let key = t.project_key();
    livekit(&t);
    for name in ["a", "b"] {
        let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": name, "vendor": "livekit"})), Some(&key));
        assert_eq!(r.status, 201, "{}", r.json);
    }
    let start = |room: &str| t.call("POST", "/v1/rtc/recording/start", Some(json!({"room": room})), Some(&key));
    let first = start("a");
    assert_eq!((first.status, first.json["status"].as_str()), (201, Some("starting")), "{}", first.json);
    assert_eq!(quota(&t, &key, "concurrent_recordings"), (1, 1));
    let before = t.native.http.sent().len();
    assert_quota_exceeded(&start("b"), "concurrent_recordings", 1);
    assert_eq!(t.native.http.sent().len(), before, "refused before any vendor call");
    assert_eq!(t.native.db.rows("SELECT id FROM recordings").len(), 1);

    let rec = first.json["recording"].as_str().unwrap();
    let stop = t.call("POST", &format!("/v1/rtc/recording/stop/{rec}"), None, Some(&key));
    assert_eq!(stop.status, 200, "{}", stop.json);
    assert_eq!(quota(&t, &key, "concurrent_recordings"), (1, 0), "a stopping recording no longer counts");
    let second = start("b");
    assert_eq!(second.status, 201, "{}", second.json);
}

#[test]
fn quota_vars_that_are_not_numbers_fall_back_to_the_defaults() {
    let t = TestApp::new(&[ZEGO, &[("QUOTA_LIVE_ROOMS", "many"), ("QUOTA_WEBHOOKS", "-1")]]);
    let key = t.project_key();
    assert_eq!(quota(&t, &key, "live_rooms").0, 1000);
    assert_eq!(quota(&t, &key, "webhooks").0, 20);
}

// ---------------------------------------------------------------------------------------------
// configuration

/// `(section, key) → value` of `wrangler.toml`'s plain `key = value` lines, for the
/// `[[ratelimits]]` block named `RATE_LIMITER` (and its `[ratelimits.simple]`) and `[vars]`.
fn wrangler_settings() -> std::collections::HashMap<(String, String), String> {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml")).unwrap();
    let mut out = std::collections::HashMap::new();
    let (mut section, mut ours) = (String::new(), false);
    for line in toml.lines() {
        let line = line.split(" #").next().unwrap().trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
            if section == "ratelimits" {
                ours = false;
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let (k, v) = (k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
        if section == "ratelimits" && k == "name" {
            ours = v == rtcgate::api::limits::RATE_LIMITER_BINDING;
        }
        if section == "vars" || (section.starts_with("ratelimits") && ours) {
            out.insert((section.clone(), k), v);
        }
    }
    out
}

#[test]
fn wrangler_toml_rate_limit_binding_vars_and_defaults_agree() {
    let s = wrangler_settings();
    let get = |section: &str, key: &str| {
        s.get(&(section.to_owned(), key.to_owned()))
            .unwrap_or_else(|| panic!("wrangler.toml has no {key} in [{section}] (of the RATE_LIMITER block)"))
            .parse::<u32>()
            .unwrap_or_else(|e| panic!("{section}.{key}: {e}"))
    };
    let binding = (get("ratelimits.simple", "limit"), get("ratelimits.simple", "period"));
    let vars = (get("vars", "RATE_LIMIT_REQUESTS"), get("vars", "RATE_LIMIT_PERIOD_S"));
    assert_eq!(binding, vars, "[ratelimits.simple] limit/period and the RATE_LIMIT_* vars must agree");
    assert_eq!(
        binding,
        (rtcgate::api::limits::DEFAULT_RATE_REQUESTS, rtcgate::api::limits::DEFAULT_RATE_PERIOD_S),
        "a deployment without the vars reports the binding's own numbers"
    );
    assert!(rtcgate::api::limits::RATE_PERIODS_S.contains(&binding.1), "the binding takes a period of 10 or 60 s");
}

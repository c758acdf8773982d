//! Idempotency claims are fenced: only the claim's owner completes or releases it, an
//! abandoned claim is taken over only after max(120 s, 3 × VENDOR_TIMEOUT_MS), waiters back
//! off without writing, and a result that could not be stored never lets the work run twice.

mod support;

use rtcgate::native::json_response;
use rtcgate::runtime::Clock;
use rtcgate::store::idempotency::{self, ClaimKey};
use serde_json::json;
use support::*;

const SLOW_VENDOR: &[(&str, &str)] = &[("VENDOR_TIMEOUT_MS", "60000")];

fn livekit_creates_rooms(t: &TestApp) {
    t.native.http.respond_with(|req| {
        let body: serde_json::Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap();
        json_response(200, &json!({"sid": "RM_1", "name": body["name"]}))
    });
}

fn create_room_calls(t: &TestApp) -> usize {
    t.native.http.sent().iter().filter(|x| x.request.url.ends_with("/CreateRoom")).count()
}

/// The project id behind an API key, through the admin listing.
fn project_of(t: &TestApp) -> (String, String) {
    let p = t.call("POST", "/v1/admin/projects", Some(json!({"name": "p"})), Some(ADMIN));
    let id = p.json["project"]["id"].as_str().unwrap().to_owned();
    let k = t.call("POST", &format!("/v1/admin/projects/{id}/keys"), Some(json!({})), Some(ADMIN));
    (id, k.json["secret"].as_str().unwrap().to_owned())
}

/// A claim left behind by a request that died mid-flight, `age_ms` ago.
fn dead_claim(t: &TestApp, project: &str, key: &str, body: &serde_json::Value, age_ms: u64) {
    let hash = idempotency::fingerprint("rtc.room.create", body);
    let at = NOW_MS - age_ms;
    t.native.db.exec_raw(&format!(
        "INSERT INTO idempotency (project_id, scope, key, request_hash, state, created_at_ms, owner) \
         VALUES ('{project}', 'rtc.room.create', '{key}', '{hash}', 'pending', {at}, 'clm_dead')"
    ));
}

fn writes(statements: &[String]) -> usize {
    statements
        .iter()
        .filter(|s| {
            let s = s.trim_start().to_ascii_uppercase();
            s.starts_with("INSERT") || s.starts_with("UPDATE") || s.starts_with("DELETE")
        })
        .count()
}

#[test]
fn an_abandoned_claim_is_taken_over_only_after_three_vendor_timeouts() {
    let t = TestApp::new(&[LIVEKIT, SLOW_VENDOR]);
    livekit_creates_rooms(&t);
    let (project, key) = project_of(&t);
    let body = json!({"name": "late"});
    // 130 s is past the 120 s floor but inside 3 × 60 s: the owner may still be waiting on
    // its vendor, so the claim is still its own.
    dead_claim(&t, &project, "k", &body, 130_000);
    let req = json!({"name": "late", "idempotency_key": "k"});
    let busy = t.call("POST", "/v1/rtc/room/create", Some(req.clone()), Some(&key));
    assert_eq!((busy.status, busy.code()), (409, "IDEMPOTENCY_IN_PROGRESS"), "{}", busy.json);
    assert_eq!(create_room_calls(&t), 0);

    t.native.clock.advance_ms(60_000);
    let taken = t.call("POST", "/v1/rtc/room/create", Some(req.clone()), Some(&key));
    assert_eq!(taken.status, 201, "{}", taken.json);
    assert_eq!(create_room_calls(&t), 1);
    let again = t.call("POST", "/v1/rtc/room/create", Some(req), Some(&key));
    assert_eq!((again.status, again.header("idempotent-replayed")), (201, Some("true")));
    assert_eq!(again.json, taken.json);
}

#[test]
fn only_the_owner_completes_or_releases_a_claim() {
    let t = TestApp::new(&[AGORA]);
    let rt = &t.native.runtime;
    let k = ClaimKey { project_id: "prj_a", scope: "rtc.room.create", key: "k" };
    let hash = idempotency::fingerprint("rtc.room.create", &json!({}));
    let window = idempotency::abandoned_after_ms(8_000);
    assert_eq!(window, 120_000);
    assert_eq!(idempotency::abandoned_after_ms(60_000), 180_000);

    assert!(rtcgate::native::block_on(idempotency::try_claim(rt, &k, &hash, "clm_first")).unwrap());
    assert!(!rtcgate::native::block_on(idempotency::try_claim(rt, &k, &hash, "clm_second")).unwrap());
    // Nobody but the owner may take over a claim that is not abandoned…
    assert!(!rtcgate::native::block_on(idempotency::take_over(rt, &k, "clm_first", "clm_second", window)).unwrap());
    t.native.clock.advance_ms(window);
    // …and once it is, the new owner fences the old one out.
    assert!(rtcgate::native::block_on(idempotency::take_over(rt, &k, "clm_first", "clm_second", window)).unwrap());
    assert!(!rtcgate::native::block_on(idempotency::take_over(rt, &k, "clm_first", "clm_third", window)).unwrap());
    let stale = rtcgate::native::block_on(idempotency::complete(rt, &k, "clm_first", 201, &json!({"from": "first"})));
    assert!(!stale.unwrap(), "the old owner's result is refused");
    assert!(!rtcgate::native::block_on(idempotency::release(rt, &k, "clm_first")).unwrap());
    assert_eq!(
        rtcgate::native::block_on(idempotency::peek(rt, &k, &hash)).unwrap(),
        idempotency::Seen::Pending { owner: "clm_second".into(), claimed_at_ms: (NOW_MS + window) as i64 }
    );
    assert!(rtcgate::native::block_on(idempotency::complete(rt, &k, "clm_second", 201, &json!({"from": "second"})))
        .unwrap());
    assert_eq!(
        rtcgate::native::block_on(idempotency::peek(rt, &k, &hash)).unwrap(),
        idempotency::Seen::Done { status: 201, body: json!({"from": "second"}) }
    );
    // A finished key cannot be released any more.
    assert!(!rtcgate::native::block_on(idempotency::release(rt, &k, "clm_second")).unwrap());
}

#[test]
fn a_waiting_request_backs_off_and_only_reads() {
    let t = TestApp::new(&[AGORA]);
    let (project, key) = project_of(&t);
    let body = json!({"name": "busy"});
    dead_claim(&t, &project, "k", &body, 0);
    let before = t.native.db.sent().len();
    let started = t.native.clock.now_ms();
    let busy = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "busy", "idempotency_key": "k"})), Some(&key));
    assert_eq!((busy.status, busy.code()), (409, "IDEMPOTENCY_IN_PROGRESS"));
    let waited = t.native.clock.now_ms() - started;
    assert!(waited >= 10_000, "it waited the full 10 s for the owner ({waited} ms)");
    let statements = t.native.db.sent()[before..].to_vec();
    // One claim attempt; everything after it is a read, and the polls thin out over time
    // (at 50 ms intervals it would be 200 reads).
    assert_eq!(writes(&statements), 1, "{statements:#?}");
    assert!(!statements.iter().any(|s| s.contains("created_at_ms <")), "no purge while waiting: {statements:#?}");
    let polls = statements.iter().filter(|s| s.contains("FROM idempotency")).count();
    assert!((2..=20).contains(&polls), "{polls} polls in 10 s");
}

#[test]
fn a_result_that_cannot_be_stored_is_still_the_answer_and_the_work_never_runs_twice() {
    let t = TestApp::new(&[LIVEKIT]);
    livekit_creates_rooms(&t);
    let key = t.project_key();
    let req = json!({"name": "stored-later", "idempotency_key": "k"});
    t.native.db.fail_statements_containing(Some("SET state = 'done'"));
    let first = t.call("POST", "/v1/rtc/room/create", Some(req.clone()), Some(&key));
    assert_eq!(first.status, 201, "the room was created: {}", first.json);
    assert_eq!(create_room_calls(&t), 1);

    // Long after the claim would count as abandoned, a retry replays the first answer.
    t.native.clock.advance_ms(idempotency::abandoned_after_ms(8_000) + 1);
    let retry = t.call("POST", "/v1/rtc/room/create", Some(req.clone()), Some(&key));
    assert_eq!((retry.status, retry.header("idempotent-replayed")), (201, Some("true")), "{}", retry.json);
    assert_eq!(retry.json, first.json);
    assert_eq!(create_room_calls(&t), 1, "the vendor was not asked twice");

    // Once storage works again the result lands where it belongs.
    t.native.db.fail_statements_containing(None);
    let again = t.call("POST", "/v1/rtc/room/create", Some(req), Some(&key));
    assert_eq!((again.status, again.json.clone()), (201, first.json.clone()));
    let rows = t.native.db.rows("SELECT state FROM idempotency WHERE key = 'k'");
    assert_eq!(rows[0]["state"], "done", "the replay stored the result once storage recovered");
    assert_eq!(create_room_calls(&t), 1);
}

#[test]
fn a_failed_work_releases_the_claim_for_an_immediate_retry() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    t.native.http.respond_with(|_| json_response(503, &json!({"msg": "down"})));
    let req = json!({"name": "retry-me", "idempotency_key": "k"});
    let failed = t.call("POST", "/v1/rtc/room/create", Some(req.clone()), Some(&key));
    assert_eq!(failed.status, 502, "{}", failed.json);
    livekit_creates_rooms(&t);
    let ok = t.call("POST", "/v1/rtc/room/create", Some(req), Some(&key));
    assert_eq!((ok.status, ok.header("idempotent-replayed")), (201, None), "{}", ok.json);
}

//! Timed sessions through `App::handle` and the queue consumer: `token.issue` with
//! `max_session_s` or `eject_at` schedules an ejection after its response (a delayed queue
//! message, or the scheduled job for deadlines past a queue delay's 12 h), the consumer kicks
//! at the deadline on the room's vendor and records `participant.ejected`, which reaches the
//! project's webhooks; the latest token's deadline is the one kept.

mod support;

use rtcgate::app::{maintenance, queue};
use rtcgate::native::{block_on, json_response, run_background};
use rtcgate::runtime::{Clock, HttpError};
use rtcgate::time::rfc3339;
use serde_json::{json, Value};
use support::{TestApp, AGORA, LIVEKIT, NOW_MS, ZEGO};

const HOOKS: &[(&str, &str)] = &[
    ("WEBHOOK_ALLOW_HTTP_LOOPBACK", "1"),
    ("WEBHOOK_MAX_ATTEMPTS", "1"),
    ("RTCGATE_ENCRYPTION_KEY", "5f0e1d2c3b4a59687786954a3b2c1d0e6a0f3c9e21b84d57a6e0c3f19b2d4e8a"),
];
const HOUR_MS: u64 = 3600 * 1000;

/// LiveKit answers every RoomService call with `{}` and the webhook receiver with 200.
fn livekit_answers(t: &TestApp) {
    t.native.http.respond_with(|_| json_response(200, &json!({})));
}

fn issue(t: &TestApp, key: &str, body: Value) -> Value {
    let r = t.call("POST", "/v1/rtc/token/issue", Some(body), Some(key));
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

/// Hands every due message to the consumer as one batch; every one must be handled.
fn consume_due(t: &TestApp) -> usize {
    let due = t.native.queue.take_due();
    for result in block_on(queue::consume_batch(&t.app, &t.native.runtime, &due)) {
        result.expect("the consumer handles the message");
    }
    due.len()
}

/// The vendor calls made since the last `clear`, as (path or action, body).
fn calls(t: &TestApp) -> Vec<(String, Value)> {
    t.native
        .http
        .sent()
        .iter()
        .map(|x| {
            let url = &x.request.url;
            let what = match url.split_once("?Action=") {
                Some((_, rest)) => rest.split('&').next().unwrap().to_owned(),
                None => url.split_once("://").unwrap().1.split_once('/').unwrap().1.to_owned(),
            };
            (what, serde_json::from_slice(x.request.body.as_deref().unwrap_or(b"null")).unwrap_or(Value::Null))
        })
        .collect()
}

fn events(t: &TestApp, key: &str) -> Vec<(String, String)> {
    let r = t.call("GET", "/v1/rtc/event/list", None, Some(key));
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e["identity"].as_str().unwrap_or("").to_owned()))
        .collect()
}

/// The first message on the queue is due at `at_ms`, or within the second after it (delays are
/// whole seconds, rounded up, so a message is never handed over early).
fn assert_due_at(t: &TestApp, at_ms: u64) {
    let due = t.native.queue.next_due_ms().expect("a message is queued");
    assert!((at_ms..at_ms + 1_000).contains(&due), "due at {due}, deadline {at_ms}");
}

fn advance_to(t: &TestApp, at_ms: u64) {
    let now = t.native.clock.now_ms();
    t.native.clock.advance_ms(at_ms - now);
}

#[test]
fn a_timed_token_schedules_its_ejection_after_the_answer_and_the_kick_runs_at_the_deadline() {
    let t = TestApp::new(&[LIVEKIT, HOOKS]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    let hook = t.call("POST", "/v1/rtc/webhook/create", Some(json!({"url": "http://127.0.0.1:9/hook"})), Some(&key));
    assert_eq!(hook.status, 201, "{}", hook.json);
    // Warm: this isolate has the key, the room and alice's registry row.
    issue(&t, &key, json!({"room": room, "identity": "alice"}));
    run_background();
    assert!(t.native.queue.is_empty());

    let before = t.native.round_trips();
    let tasks_before = rtcgate::native::tasks_spawned();
    let r = t.call_respond_only(
        "POST",
        "/v1/rtc/token/issue",
        Some(json!({"room": room, "identity": "alice", "max_session_s": 600})),
        Some(&key),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    // The token lives no longer than the session (the default ttl is an hour).
    assert_eq!(r.json["expires_at"], rfc3339(NOW_MS + 600_000));
    let answered = t.native.round_trips();
    assert_eq!((answered.d1_total(), answered.kv, answered.http), (before.d1_total(), before.kv, before.http));
    assert!(t.native.queue.is_empty(), "nothing is queued before the answer");
    assert_eq!(rtcgate::native::tasks_spawned() - tasks_before, 1, "one task after the answer: store, then queue");
    run_background();
    let after = t.native.round_trips();
    assert_eq!((after.d1 - answered.d1, after.http - answered.http), (1, 0), "one D1 write, after the answer");
    assert_eq!(t.native.queue.len(), 1);
    assert_due_at(&t, NOW_MS + 600_000);

    // At the deadline the consumer kicks through RemoveParticipant and records the event.
    livekit_answers(&t);
    t.native.http.clear();
    advance_to(&t, NOW_MS + 599_000);
    assert_eq!(consume_due(&t), 0, "not before its deadline");
    advance_to(&t, NOW_MS + 601_000);
    assert_eq!(consume_due(&t), 1);
    let sent = calls(&t);
    assert_eq!(
        sent[0],
        ("twirp/livekit.RoomService/RemoveParticipant".to_owned(), json!({"room": room, "identity": "alice"}))
    );
    assert_eq!(events(&t, &key).first(), Some(&("participant.ejected".to_owned(), "alice".to_owned())));
    let listed = t.call("GET", "/v1/rtc/event/list?type=participant.ejected", None, Some(&key));
    let event = &listed.json["items"][0];
    assert_eq!((event["room"].as_str(), event["vendor"].as_str()), (Some(room.as_str()), Some("livekit")), "{event}");
    assert_eq!(event["data"], json!({"reason": "session_ended", "eject_at": rfc3339(NOW_MS + 600_000)}));

    // The event goes to the project's webhook like a vendor's.
    run_background();
    t.native.http.clear();
    consume_due(&t);
    let delivered = calls(&t);
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!((delivered[0].0.as_str(), delivered[0].1["type"].as_str()), ("hook", Some("participant.ejected")));

    // The deadline is spent: a redelivered message does nothing.
    t.native.http.clear();
    let stale = rtcgate::resources::timed_sessions::message(&rtcgate::store::timed_sessions::Deadline {
        project_id: event["project"].as_str().unwrap_or_default().to_owned(),
        room_id: room.clone(),
        identity: "alice".into(),
        eject_at_ms: (NOW_MS + 600_000) as i64,
    });
    block_on(queue::consume(&t.app, &t.native.runtime, &stale)).unwrap();
    assert!(t.native.http.sent().is_empty());
}

#[test]
fn the_latest_token_sets_the_deadline_earlier_or_later_and_a_plain_token_keeps_it() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    livekit_answers(&t);
    issue(&t, &key, json!({"room": room, "identity": "alice", "max_session_s": 1200}));
    t.native.clock.advance_ms(1_000);
    issue(&t, &key, json!({"room": room, "identity": "alice", "eject_at": rfc3339(NOW_MS + 301_000)}));
    issue(&t, &key, json!({"room": room, "identity": "alice"}));
    // bob's later token moves his own deadline later.
    issue(&t, &key, json!({"room": room, "identity": "bob", "max_session_s": 300}));
    t.native.clock.advance_ms(1_000);
    issue(&t, &key, json!({"room": room, "identity": "bob", "max_session_s": 900}));
    run_background();
    t.native.http.clear();

    advance_to(&t, NOW_MS + 302_000);
    consume_due(&t);
    let kicked: Vec<Value> = calls(&t).into_iter().map(|(_, body)| body["identity"].clone()).collect();
    assert_eq!(kicked, vec![json!("alice")], "alice at the latest token's earlier deadline; bob's 300 s is replaced");

    t.native.http.clear();
    advance_to(&t, NOW_MS + 1_201_000);
    consume_due(&t);
    let kicked: Vec<Value> = calls(&t).into_iter().map(|(_, body)| body["identity"].clone()).collect();
    assert_eq!(kicked, vec![json!("bob")], "bob at 902 s; alice's replaced 1200 s deadline does nothing");
    let ejected: Vec<String> =
        events(&t, &key).into_iter().filter(|(kind, _)| kind == "participant.ejected").map(|(_, who)| who).collect();
    assert_eq!(ejected, vec!["bob".to_owned(), "alice".to_owned()]);
}

#[test]
fn a_deadline_past_a_queue_delay_is_queued_by_the_scheduled_job() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    let deadline = NOW_MS + 48 * HOUR_MS;
    let r = issue(&t, &key, json!({"room": room, "identity": "alice", "eject_at": rfc3339(deadline)}));
    assert_eq!(r["expires_at"], rfc3339(NOW_MS + HOUR_MS), "the token's own ttl is shorter than the session");
    run_background();
    assert!(t.native.queue.is_empty(), "48 h is past the 12 h a queue message can wait");

    // A run 24 h before the deadline leaves it; the run that finds it within 12 h queues it.
    advance_to(&t, deadline - 24 * HOUR_MS);
    assert_eq!(block_on(maintenance::run(&t.app, &t.native.runtime)).ejections_queued, 0);
    advance_to(&t, deadline - 12 * HOUR_MS + 5 * 60_000);
    let report = block_on(maintenance::run(&t.app, &t.native.runtime));
    assert_eq!(report.ejections_queued, 1);
    assert!(report.summary().contains("1 ejections queued"), "{}", report.summary());
    assert_due_at(&t, deadline);
    assert_eq!(block_on(maintenance::run(&t.app, &t.native.runtime)).ejections_queued, 0, "queued once");

    livekit_answers(&t);
    t.native.http.clear();
    advance_to(&t, deadline + 1_000);
    assert_eq!(consume_due(&t), 1);
    assert_eq!(calls(&t)[0].0, "twirp/livekit.RoomService/RemoveParticipant");
}

#[test]
fn a_message_the_queue_could_not_take_is_queued_by_the_next_run() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    t.native.queue.fail_next_sends(1);
    issue(&t, &key, json!({"room": room, "identity": "alice", "max_session_s": 60}));
    run_background();
    assert!(t.native.queue.is_empty());
    assert_eq!(block_on(maintenance::run(&t.app, &t.native.runtime)).ejections_queued, 1);
    assert_due_at(&t, NOW_MS + 60_000);
}

#[test]
fn someone_already_gone_is_not_ejected_and_a_failing_vendor_is_tried_again() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    issue(&t, &key, json!({"room": room, "identity": "alice", "max_session_s": 60}));
    issue(&t, &key, json!({"room": room, "identity": "bob", "max_session_s": 60}));
    run_background();
    t.native.http.respond_with(|req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
        if body["identity"] == "alice" {
            json_response(404, &json!({"code": "not_found", "msg": "participant not found", "meta": {}}))
        } else {
            Err(HttpError::Timeout)
        }
    });
    advance_to(&t, NOW_MS + 61_000);
    let due = t.native.queue.take_due();
    let results = block_on(queue::consume_batch(&t.app, &t.native.runtime, &due));
    let by_identity = |who: &str| {
        let i = due.iter().position(|m| m.contains(&format!("\"identity\":\"{who}\""))).unwrap();
        results[i].clone()
    };
    assert!(by_identity("alice").is_ok(), "absent: nothing to do");
    assert!(by_identity("bob").is_err(), "a timeout leaves the message to the queue's retries");
    assert!(events(&t, &key).iter().all(|(kind, _)| kind != "participant.ejected"));
}

#[test]
fn agora_and_zego_eject_through_their_own_kick() {
    for (vars, vendor) in [(AGORA, "agora"), (ZEGO, "zego")] {
        let t = TestApp::new(&[vars]);
        let key = t.project_key();
        let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "standup", "vendor": vendor})), Some(&key));
        let room = r.json["room"].as_str().unwrap().to_owned();
        issue(&t, &key, json!({"room": room, "identity": "alice", "max_session_s": 30}));
        run_background();
        t.native.http.respond_with(|req| {
            if req.url.contains("Action=DescribeUsers") {
                json_response(200, &json!({"Code": 0, "RequestId": "r", "Data": {"UserStatusList": [{"UserId": "alice", "Status": 1}]}}))
            } else if req.url.contains("Action=") {
                json_response(200, &json!({"Code": 0, "RequestId": "r"}))
            } else if req.url.contains("/dev/v1/channel/user/") {
                json_response(200, &json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": 1, "users": [1]}}))
            } else {
                json_response(200, &json!({"status": "success", "id": 7}))
            }
        });
        t.native.http.clear();
        advance_to(&t, NOW_MS + 31_000);
        assert_eq!(consume_due(&t), 1, "{vendor}");
        let sent: Vec<String> = calls(&t).into_iter().map(|(what, _)| what).collect();
        let expected: Vec<String> = match vendor {
            "agora" => vec![
                format!("dev/v1/channel/user/970CA35de60c44645bbae8a215061b33/{room}"),
                "dev/v1/kicking-rule".into(),
            ],
            _ => vec!["DescribeUsers".into(), "KickoutUser".into()],
        };
        assert_eq!(sent, expected, "{vendor}");
        assert_eq!(events(&t, &key).first(), Some(&("participant.ejected".to_owned(), "alice".to_owned())), "{vendor}");
    }
}

#[test]
fn session_fields_are_checked_before_anything_is_scheduled() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    let cases = [
        (json!({"max_session_s": 60, "eject_at": rfc3339(NOW_MS + 60_000)}), 422, "CONFLICTING_FIELDS", "eject_at"),
        (json!({"max_session_s": 0}), 400, "INVALID_REQUEST", "max_session_s"),
        (json!({"max_session_s": 7 * 86_400 + 1}), 400, "INVALID_REQUEST", "max_session_s"),
        (json!({"eject_at": rfc3339(NOW_MS)}), 422, "DEADLINE_OUT_OF_RANGE", "eject_at"),
        (json!({"eject_at": rfc3339(NOW_MS + 7 * 86_400_000 + 1000)}), 422, "DEADLINE_OUT_OF_RANGE", "eject_at"),
        (json!({"eject_at": "tomorrow"}), 400, "INVALID_REQUEST", "eject_at"),
    ];
    for (fields, status, code, field) in cases {
        let mut body = json!({"room": room, "identity": "alice"});
        body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        let r = t.call("POST", "/v1/rtc/token/issue", Some(body.clone()), Some(&key));
        assert_eq!((r.status, r.code(), r.json["error"]["field"].as_str()), (status, code, Some(field)), "{body}");
    }
    run_background();
    assert!(t.native.queue.is_empty());
    // The longest session is accepted.
    issue(&t, &key, json!({"room": room, "identity": "alice", "max_session_s": 7 * 86_400}));
}

#[test]
fn a_dead_lettered_ejection_is_logged_and_leaves_deliveries_alone() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    issue(&t, &key, json!({"room": room, "identity": "alice", "max_session_s": 60}));
    run_background();
    advance_to(&t, NOW_MS + 61_000);
    let message = t.native.queue.take_due();
    assert_eq!(message.len(), 1);
    assert!(block_on(queue::dead_lettered(&t.native.runtime, &message[0])).is_ok());
    // The deadline stays stored, so a later token for alice still replaces it, and nothing was
    // asked of the vendor.
    let left = t.native.db.rows("SELECT COUNT(*) AS n FROM timed_sessions WHERE identity = 'alice'");
    assert_eq!(left[0]["n"], 1);
    assert!(t.native.http.sent().iter().all(|x| !x.request.url.contains("RemoveParticipant")));
    // A delivery's dead letter still goes to the delivery path (an unknown delivery is dropped).
    let delivery = rtcgate::resources::webhooks::message("dlv_missing", 0);
    assert!(block_on(queue::dead_lettered(&t.native.runtime, &delivery)).is_ok());
}

/// The deadlines stored, as (identity, queued, attempts).
fn stored_deadlines(t: &TestApp) -> Vec<(String, i64, i64)> {
    t.native
        .db
        .rows("SELECT identity, queued, attempts FROM timed_sessions ORDER BY identity")
        .iter()
        .map(|r| {
            (r["identity"].as_str().unwrap().to_owned(), r["queued"].as_i64().unwrap(), r["attempts"].as_i64().unwrap())
        })
        .collect()
}

#[test]
fn a_dead_lettered_ejection_is_retried_by_the_scheduled_job_a_bounded_number_of_times_then_ended() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    issue(&t, &key, json!({"room": room, "identity": "alice", "max_session_s": 60}));
    run_background();
    advance_to(&t, NOW_MS + 61_000);
    let run = |t: &TestApp| block_on(maintenance::run(&t.app, &t.native.runtime));
    let attempts = rtcgate::resources::timed_sessions::service::MAX_DEAD_LETTERS;
    for attempt in 1..=attempts {
        // The queue gave up on the message (its retries all failed).
        let message = t.native.queue.take_due();
        assert_eq!(message.len(), 1, "attempt {attempt}");
        assert!(block_on(queue::dead_lettered(&t.native.runtime, &message[0])).is_ok());
        assert_eq!(stored_deadlines(&t), [("alice".to_owned(), 0, i64::from(attempt))]);
        let report = run(&t);
        if attempt < attempts {
            // The next run queues it again, due at once (its deadline is past).
            assert_eq!(report.ejections_queued, 1, "attempt {attempt}: {}", report.summary());
            assert_due_at(&t, t.native.clock.now_ms());
            assert_eq!(stored_deadlines(&t), [("alice".to_owned(), 1, i64::from(attempt))]);
        } else {
            assert_eq!((report.ejections_queued, report.ejections_abandoned), (0, 1), "{}", report.summary());
        }
        advance_to(&t, t.native.clock.now_ms() + 5 * 60_000);
    }
    // The last dead letter ends it, logged: nothing stays stored, nothing is queued again.
    assert_eq!(stored_deadlines(&t), []);
    assert!(t.native.queue.is_empty());
    assert_eq!(run(&t).ejections_queued, 0);
}

#[test]
fn a_queued_ejection_never_handed_over_is_queued_again_once_it_is_overdue() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    issue(&t, &key, json!({"room": room, "identity": "alice", "max_session_s": 60}));
    run_background();
    // The message is lost: neither handed to the consumer nor dead-lettered.
    advance_to(&t, NOW_MS + 61_000);
    assert_eq!(t.native.queue.take_due().len(), 1);
    let run = |t: &TestApp| block_on(maintenance::run(&t.app, &t.native.runtime));
    assert_eq!(run(&t).ejections_queued, 0, "a message still within the queue's retries is left to them");
    advance_to(&t, NOW_MS + 60_000 + rtcgate::resources::timed_sessions::service::OVERDUE_AFTER_MS);
    let report = run(&t);
    assert_eq!(report.ejections_queued, 1, "{}", report.summary());
    assert_eq!(stored_deadlines(&t), [("alice".to_owned(), 1, 1)]);
    livekit_answers(&t);
    assert_eq!(consume_due(&t), 1);
    assert_eq!(stored_deadlines(&t), [], "ejected at last");
}

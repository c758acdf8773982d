//! Tenant boundaries of event intake and webhook fan-out, natively: a vendor event is stored
//! before its 2xx (a store failure is a 5xx with nothing half-done), its effects are redone
//! until done and never counted twice; fan-out is one queue message per endpoint sent in one
//! batch, handled concurrently; an endless or missing answer fails only its own delivery; a
//! poison message is dropped and a dead-lettered one shows on its endpoint; vendor answers
//! are capped too. `tests/e2e/tenant_fanout.test.mjs` repeats the hostile receivers on the
//! real Worker.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::FutureExt;
use rtcgate::api::settings::RetentionSettings;
use rtcgate::app::maintenance;
use rtcgate::http::ApiRequest;
use rtcgate::native::{block_on, json_response, run_background};
use rtcgate::resources::events::ingest;
use rtcgate::resources::webhooks::{delivery, message};
use rtcgate::runtime::{Clock, HttpError, OutboundResponse};
use rtcgate::store::retention::Kind;
use serde_json::{json, Value};
use support::{TestApp, LIVEKIT, NOW_MS};

const NOW_S: u64 = NOW_MS / 1000;
const HOOKS: &[(&str, &str)] = &[
    ("WEBHOOK_ALLOW_HTTP_LOOPBACK", "1"),
    ("WEBHOOK_MAX_ATTEMPTS", "1"),
    ("RTCGATE_ENCRYPTION_KEY", "5f0e1d2c3b4a59687786954a3b2c1d0e6a0f3c9e21b84d57a6e0c3f19b2d4e8a"),
];

fn app() -> TestApp {
    TestApp::new(&[LIVEKIT, HOOKS])
}

fn livekit_room(t: &TestApp, key: &str, name: &str) -> String {
    let room = t.livekit_room(key, name);
    // Only webhook deliveries are in `sent()` from here on.
    t.native.http.clear();
    room
}

/// A LiveKit webhook request as the server sends it.
fn livekit_request(body: &str) -> ApiRequest {
    support::livekit_webhook(body)
}

fn presence(event: &str, room: &str, id: &str, created_s: u64) -> String {
    json!({"event": event, "room": {"sid": "RM_1", "name": room},
           "participant": {"sid": "PA_alice", "identity": "alice", "joinedAt": NOW_S.to_string(),
                           "joinedAtMs": NOW_MS.to_string()},
           "id": id, "createdAt": created_s.to_string()})
    .to_string()
}

fn count(t: &TestApp, sql: &str) -> i64 {
    t.native.db.rows(sql)[0]["n"].as_i64().unwrap()
}

fn webhook(t: &TestApp, key: &str, url: &str) -> String {
    let r = t.call("POST", "/v1/rtc/webhook/create", Some(json!({"url": url})), Some(key));
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["webhook"].as_str().unwrap().to_owned()
}

fn health(t: &TestApp, key: &str, id: &str) -> Value {
    let r = t.call("GET", &format!("/v1/rtc/webhook/get/{id}"), None, Some(key));
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["delivery"].clone()
}

fn usage(t: &TestApp, key: &str) -> Value {
    let r = t.call("GET", "/v1/rtc/usage", None, Some(key));
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["totals"].clone()
}

/// Every message now on the queue, handled as one batch by the consumer.
fn consume_all(t: &TestApp) -> Vec<Result<(), String>> {
    let due = t.native.queue.take_due();
    block_on(delivery::consume_batch(&t.app.settings, &t.native.runtime, &due))
}

#[test]
fn a_vendor_event_is_stored_before_its_answer_and_its_effects_follow() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    webhook(&t, &key, "http://127.0.0.1:9/ok");
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 204, headers: vec![], body: vec![] }));

    // The answer only: nothing after it has run yet, and the event is stored all the same.
    let r = t.send_respond_only(livekit_request(&presence("participant_joined", &room, "EV_1", NOW_S)));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM events"), 1, "stored before the 2xx");
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM events WHERE effects_due_at_ms IS NOT NULL"), 1);
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM participant_sessions"), 0, "effects come after");
    run_background();
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM participant_sessions"), 1);
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM events WHERE effects_due_at_ms IS NOT NULL"), 0, "done");
    assert_eq!(t.native.queue.len(), 1, "one delivery queued");
}

#[test]
fn a_store_failure_is_a_5xx_with_nothing_half_done_and_the_retry_is_stored_once() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    webhook(&t, &key, "http://127.0.0.1:9/ok");
    let join = presence("participant_joined", &room, "EV_1", NOW_S);

    t.native.counters.fail_next_writes(1);
    let r = t.send(livekit_request(&join));
    assert_eq!((r.status, r.code()), (500, "INTERNAL"), "{}", r.json);
    assert!(!r.json.to_string().contains("database"), "no storage detail in the answer: {}", r.json);
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM events"), 0);
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM participant_sessions"), 0);
    assert!(t.native.queue.is_empty(), "no delivery for an event that was not stored");

    // The vendor delivers it again, and again (its own retries): stored and applied once.
    assert_eq!(t.send(livekit_request(&join)).status, 200);
    assert_eq!(t.send(livekit_request(&join)).status, 200);
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM events"), 1);
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM participant_sessions"), 1);
    assert_eq!(t.native.queue.len(), 1);
}

#[test]
fn an_effect_that_fails_is_redone_by_the_sweep_and_counts_once() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let hook = webhook(&t, &key, "http://127.0.0.1:9/ok");
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 204, headers: vec![], body: vec![] }));

    // The join is stored; its first effect (the session write) fails after the answer.
    let r = t.send_respond_only(livekit_request(&presence("participant_joined", &room, "EV_1", NOW_S)));
    assert_eq!(r.status, 200);
    t.native.counters.fail_next_writes(1);
    run_background();
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM participant_sessions"), 0);
    assert!(t.native.queue.is_empty());
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM events WHERE effects_due_at_ms IS NOT NULL"), 1);
    // The leave arrives and is applied at once.
    let leave = presence("participant_left", &room, "EV_2", NOW_S + 70);
    assert_eq!(t.send(livekit_request(&leave)).status, 200);

    // Not due yet: the sweep leaves it alone.
    let rt = &t.native.runtime;
    assert_eq!(block_on(ingest::redo_unfinished(rt, 10)).unwrap(), ingest::Redone::default());
    t.native.clock.advance_ms(ingest::REDO_AFTER_MS);
    // Its redo fails once more (the write after the redo took the event): it waits its
    // backoff, nothing half-done.
    t.native.counters.fail_writes_after(1, 1);
    assert_eq!(block_on(ingest::redo_unfinished(rt, 10)).unwrap(), ingest::Redone { applied: 0, failed: 1 });
    assert_eq!(block_on(ingest::redo_unfinished(rt, 10)).unwrap(), ingest::Redone::default(), "backing off");
    t.native.clock.advance_ms(ingest::REDO_BACKOFF_MS);
    assert_eq!(block_on(ingest::redo_unfinished(rt, 10)).unwrap(), ingest::Redone { applied: 1, failed: 0 });
    assert_eq!(block_on(ingest::redo_unfinished(rt, 10)).unwrap(), ingest::Redone::default(), "done is done");

    // One session of 70 s, both events delivered once each.
    assert_eq!(usage(&t, &key), json!({"sessions": 1, "participant_seconds": 70, "participant_minutes": 2}));
    assert!(consume_all(&t).iter().all(Result::is_ok));
    assert_eq!(health(&t, &key, &hook)["delivered"], 2);
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM webhook_deliveries"), 2);
}

#[test]
fn applying_an_event_twice_counts_it_once() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let hook = webhook(&t, &key, "http://127.0.0.1:9/ok");
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 204, headers: vec![], body: vec![] }));
    let rt = &t.native.runtime;
    let now = t.native.clock.now_ms();
    let stored = |body: &str| {
        let incoming = rtcgate::vendors::livekit::webhook::parse(body.as_bytes(), now).unwrap().unwrap();
        block_on(ingest::store(rt, &incoming, now)).unwrap().expect("a new event")
    };
    let join = stored(&presence("participant_joined", &room, "EV_1", NOW_S));
    let leave = stored(&presence("participant_left", &room, "EV_2", NOW_S + 70));
    // Each applied twice (the response's run and a redo that overlapped it).
    for s in [&join, &leave, &join, &leave] {
        block_on(ingest::apply(rt, s)).unwrap();
    }
    assert_eq!(usage(&t, &key), json!({"sessions": 1, "participant_seconds": 70, "participant_minutes": 2}));
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM webhook_deliveries"), 2, "one delivery per event and endpoint");
    // Re-sent messages of a delivery already made are dropped by the consumer.
    assert_eq!(t.native.queue.len(), 4);
    assert!(consume_all(&t).iter().all(Result::is_ok));
    assert_eq!(t.native.http.sent().iter().filter(|e| e.request.url.ends_with("/ok")).count(), 2);
    assert_eq!(health(&t, &key, &hook)["delivered"], 2);
}

#[test]
fn fan_out_is_one_message_per_endpoint_in_one_batch_handled_concurrently() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let ok = webhook(&t, &key, "http://127.0.0.1:9/ok");
    let stream = webhook(&t, &key, "http://127.0.0.1:9/stream");
    let hang = webhook(&t, &key, "http://127.0.0.1:9/hang");
    // `/stream` answers 200 with a body far past the cap, `/hang` never answers in time.
    t.native.http.respond_with(|req| match req.url.rsplit('/').next() {
        Some("stream") => Ok(OutboundResponse { status: 200, headers: vec![], body: vec![b'x'; 1 << 20] }),
        Some("hang") => Err(HttpError::Timeout),
        _ => Ok(OutboundResponse { status: 204, headers: vec![], body: vec![] }),
    });
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room, "EV_1", NOW_S))).status, 200);
    assert_eq!((t.native.queue.len(), t.native.queue.batches_sent()), (3, 1), "three messages, one sendBatch");

    // Every request of the batch is out before any is answered: no delivery waits on another.
    t.native.http.wait_before_answering(2);
    let due = t.native.queue.take_due();
    let mut batch = Box::pin(delivery::consume_batch(&t.app.settings, &t.native.runtime, &due));
    assert!(batch.as_mut().now_or_never().is_none());
    assert_eq!(t.native.http.sent().len(), 3, "all three sent concurrently");
    let results = block_on(batch);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    for sent in t.native.http.sent() {
        assert_eq!(sent.request.max_response_bytes, rtcgate::resources::webhooks::MAX_RESPONSE_BYTES);
        assert_eq!(sent.request.timeout_ms, t.app.settings.webhooks.timeout_ms);
    }

    assert_eq!(health(&t, &key, &ok)["delivered"], 1);
    let s = health(&t, &key, &stream);
    assert_eq!((s["delivered"].as_i64(), s["last_status"].as_i64()), (Some(0), Some(200)));
    assert_eq!(
        s["last_error"],
        format!("answer longer than {} bytes", rtcgate::resources::webhooks::MAX_RESPONSE_BYTES)
    );
    let h = health(&t, &key, &hang);
    assert_eq!(h["last_error"], "no answer within 10000 ms");
    assert_eq!(h["dead_lettered"], 1, "one attempt allowed here: dead after it");
}

#[test]
fn poison_messages_are_dropped_without_holding_back_the_batch() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let ok = webhook(&t, &key, "http://127.0.0.1:9/ok");
    let gone = webhook(&t, &key, "http://127.0.0.1:9/gone");
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 204, headers: vec![], body: vec![] }));
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room, "EV_1", NOW_S))).status, 200);
    assert_eq!(t.call("DELETE", &format!("/v1/rtc/webhook/delete/{gone}"), None, Some(&key)).status, 200);

    let mut due = t.native.queue.take_due();
    due.insert(0, "not json".to_owned());
    due.insert(1, message("dlv_unknown", 0));
    let results = block_on(delivery::consume_batch(&t.app.settings, &t.native.runtime, &due));
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(Result::is_ok), "each is acked: {results:?}");
    assert_eq!(t.native.http.sent().len(), 1, "only the live endpoint is called");
    assert_eq!(health(&t, &key, &ok)["delivered"], 1);
}

#[test]
fn a_dead_lettered_message_shows_on_its_endpoint() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let hook = webhook(&t, &key, "http://127.0.0.1:9/ok");
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room, "EV_1", NOW_S))).status, 200);
    // The consumer could not record anything (storage down) on every queue retry.
    let due = t.native.queue.take_due();
    t.native.counters.fail_next_writes(1);
    let failed = block_on(delivery::consume_batch(&t.app.settings, &t.native.runtime, &due));
    assert!(failed[0].is_err(), "left to the queue's retries: {failed:?}");

    // The dead-letter queue's consumer marks it.
    block_on(delivery::dead_lettered(&t.native.runtime, &due[0])).unwrap();
    let h = health(&t, &key, &hook);
    assert_eq!(h["dead_lettered"], 1, "{h}");
    assert_eq!(h["last_error"], delivery::GAVE_UP);
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE state = 'dead'"), 1);
    // Again (a redelivery of the dead letter): nothing more.
    block_on(delivery::dead_lettered(&t.native.runtime, &due[0])).unwrap();
    block_on(delivery::dead_lettered(&t.native.runtime, "not json")).unwrap();
    assert_eq!(health(&t, &key, &hook)["dead_lettered"], 1);
}

#[test]
fn a_vendor_answer_past_the_cap_is_a_vendor_failure() {
    let t = app();
    let key = t.project_key();
    let sizes = Rc::new(RefCell::new(Vec::new()));
    let seen = sizes.clone();
    t.native.http.respond_with(move |req| {
        seen.borrow_mut().push(req.max_response_bytes);
        let name = "x".repeat(rtcgate::vendors::transport::MAX_RESPONSE_BYTES);
        json_response(200, &json!({"sid": "RM_1", "name": name}))
    });
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "big", "vendor": "livekit"})), Some(&key));
    assert_eq!((r.status, r.code()), (502, "VENDOR_UNAVAILABLE"), "{}", r.json);
    assert!(sizes.borrow().iter().all(|&n| n == rtcgate::vendors::transport::MAX_RESPONSE_BYTES));
}

#[test]
fn a_message_handed_over_twice_makes_one_attempt_and_counts_once() {
    // Three attempts here (the first group of settings wins), so a failure schedules a retry.
    let t = TestApp::new(&[&[("WEBHOOK_MAX_ATTEMPTS", "3")], LIVEKIT, HOOKS]);
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let hook = webhook(&t, &key, "http://127.0.0.1:9/down");
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 500, headers: vec![], body: vec![] }));
    let settings = &t.app.settings;
    assert_eq!(settings.webhooks.max_attempts, 3);
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room, "EV_1", NOW_S))).status, 200);
    // The queue hands the same message over twice (Queues deliver at least once).
    let due = t.native.queue.take_due();
    assert_eq!(due.len(), 1);
    let twice = vec![due[0].clone(), due[0].clone()];
    let results = block_on(delivery::consume_batch(settings, &t.native.runtime, &twice));
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(t.native.http.sent().len(), 1, "one attempt");
    assert_eq!(t.native.queue.len(), 1, "one retry scheduled, not two");
    let h = health(&t, &key, &hook);
    assert_eq!(h["consecutive_failures"], 1, "{h}");
    assert_eq!(count(&t, "SELECT attempts AS n FROM webhook_deliveries"), 1);
}

/// Hands every due message to the consumer, moving the clock to each retry, until none is
/// left (at most `rounds` batches): the results of every batch.
fn drain(t: &TestApp, rounds: usize) -> Vec<Result<(), String>> {
    let mut results = Vec::new();
    for _ in 0..rounds {
        let Some(due) = t.native.queue.next_due_ms() else { break };
        let now = t.native.clock.now_ms();
        t.native.clock.advance_ms(due.saturating_sub(now));
        results.extend(consume_all(t));
    }
    assert!(t.native.queue.is_empty(), "drained within {rounds} batches");
    results
}

#[test]
fn a_retry_that_could_not_be_queued_is_not_lost() {
    let t = TestApp::new(&[&[("WEBHOOK_MAX_ATTEMPTS", "3")], LIVEKIT, HOOKS]);
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let hook = webhook(&t, &key, "http://127.0.0.1:9/down");
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 500, headers: vec![], body: vec![] }));
    let settings = &t.app.settings;
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room, "EV_1", NOW_S))).status, 200);
    let first = t.native.queue.take_due();
    assert_eq!(first.len(), 1);

    // The first attempt fails, and the queue is down when its retry is to be sent: the
    // handling fails, so the queue hands the message over again.
    t.native.queue.fail_next_sends(1);
    let failed = block_on(delivery::consume_batch(settings, &t.native.runtime, &first));
    assert!(failed[0].is_err(), "left to the queue's retries: {failed:?}");
    let again = block_on(delivery::consume_batch(settings, &t.native.runtime, &first));
    assert!(again[0].is_ok(), "{again:?}");
    assert_eq!(t.native.queue.len(), 1, "the next attempt is queued: the delivery is not stranded");
    assert_eq!(count(&t, "SELECT attempts AS n FROM webhook_deliveries"), 1, "the attempt is counted once");

    // Every later attempt fails too: the delivery ends dead after its third, not pending.
    assert!(drain(&t, 10).iter().all(Result::is_ok));
    let rows = t.native.db.rows("SELECT state, attempts FROM webhook_deliveries");
    assert_eq!((rows.len(), &rows[0]["state"], &rows[0]["attempts"]), (1, &json!("dead"), &json!(3)), "{rows:?}");
    let h = health(&t, &key, &hook);
    assert_eq!((h["dead_lettered"].as_i64(), h["consecutive_failures"].as_i64()), (Some(1), Some(3)), "{h}");
}

#[test]
fn one_tenants_failing_deliveries_do_not_hold_back_anothers_in_the_same_batch() {
    // Two attempts here, so project A's failures are retried once before they are dead.
    let t = TestApp::new(&[&[("WEBHOOK_MAX_ATTEMPTS", "2")], LIVEKIT, HOOKS]);
    let (key_a, key_b) = (t.project_key(), t.project_key());
    let room_a = livekit_room(&t, &key_a, "ra");
    let room_b = livekit_room(&t, &key_b, "rb");
    let hook_a = webhook(&t, &key_a, "http://127.0.0.1:9/a-down");
    let hook_b = webhook(&t, &key_b, "http://127.0.0.1:9/b-ok");
    t.native.http.respond_with(|req| {
        let status = if req.url.ends_with("/a-down") { 500 } else { 204 };
        Ok(OutboundResponse { status, headers: vec![], body: vec![] })
    });
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room_a, "EV_A", NOW_S))).status, 200);
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room_b, "EV_B", NOW_S))).status, 200);
    let mut batch = t.native.queue.take_due();
    assert_eq!(batch.len(), 2, "one delivery per project");
    // One batch: A's message, an unreadable one, B's. Storage fails when A's attempt is
    // recorded (the batch's first write: the native runtime finishes A's handling first).
    batch.insert(1, "not json".to_owned());
    t.native.counters.fail_next_writes(1);
    let results = block_on(delivery::consume_batch(&t.app.settings, &t.native.runtime, &batch));
    assert!(results[0].is_err(), "A's is left to the queue's retries: {results:?}");
    assert!(results[1].is_ok() && results[2].is_ok(), "the unreadable one is acked, B's made: {results:?}");
    let state = |key: &str, hook: &str| {
        let h = health(&t, key, hook);
        (
            h["delivered"].as_i64().unwrap(),
            h["consecutive_failures"].as_i64().unwrap(),
            h["dead_lettered"].as_i64().unwrap(),
        )
    };
    assert_eq!(state(&key_b, &hook_b), (1, 0, 0), "B's delivery made and recorded");
    assert_eq!(state(&key_a, &hook_a), (0, 0, 0), "A's attempt not recorded");

    // A's message alone, handed over again: its receiver's 500 is retried, then dead.
    let results = block_on(delivery::consume_batch(&t.app.settings, &t.native.runtime, &batch[..1]));
    assert!(results[0].is_ok(), "{results:?}");
    assert!(drain(&t, 5).iter().all(Result::is_ok));
    assert_eq!(state(&key_a, &hook_a), (0, 2, 1), "A retried and dead-lettered on its own");
    assert_eq!(state(&key_b, &hook_b), (1, 0, 0), "B untouched by A's failures");
    assert_eq!(t.native.http.sent().iter().filter(|e| e.request.url.ends_with("/b-ok")).count(), 1);
}

#[test]
fn a_message_that_fails_on_every_queue_retry_is_dead_lettered_on_its_own_endpoint() {
    let t = app();
    let (key_a, key_b) = (t.project_key(), t.project_key());
    let room_a = livekit_room(&t, &key_a, "ra");
    let room_b = livekit_room(&t, &key_b, "rb");
    let hook_a = webhook(&t, &key_a, "http://127.0.0.1:9/a");
    let hook_b = webhook(&t, &key_b, "http://127.0.0.1:9/b");
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 204, headers: vec![], body: vec![] }));
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room_a, "EV_A", NOW_S))).status, 200);
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room_b, "EV_B", NOW_S))).status, 200);
    let batch = t.native.queue.take_due();
    assert_eq!(batch.len(), 2);
    let consume = |bodies: &[String]| block_on(delivery::consume_batch(&t.app.settings, &t.native.runtime, bodies));

    // Storage fails whenever A's attempt is recorded: in the shared batch, and on each of the
    // queue's retries of A's message (`max_retries = 5` in wrangler.toml).
    t.native.counters.fail_next_writes(1);
    let results = consume(&batch);
    assert!(results[0].is_err() && results[1].is_ok(), "{results:?}");
    for _ in 0..5 {
        t.native.counters.fail_next_writes(1);
        assert!(consume(&batch[..1])[0].is_err());
    }
    // The queue gives up and hands A's message to the dead-letter queue's consumer.
    block_on(delivery::dead_lettered(&t.native.runtime, &batch[0])).unwrap();

    let (a, b) = (health(&t, &key_a, &hook_a), health(&t, &key_b, &hook_b));
    assert_eq!((a["delivered"].as_i64(), a["dead_lettered"].as_i64()), (Some(0), Some(1)), "{a}");
    assert_eq!(a["last_error"], delivery::GAVE_UP);
    assert_eq!((b["delivered"].as_i64(), b["dead_lettered"].as_i64()), (Some(1), Some(0)), "{b}");
    assert!(b["last_error"].is_null(), "{b}");
    let states = t.native.db.rows("SELECT state FROM webhook_deliveries ORDER BY state");
    assert_eq!(states.iter().map(|r| r["state"].as_str().unwrap()).collect::<Vec<_>>(), ["dead", "delivered"]);
    assert!(t.native.queue.is_empty(), "nothing left to retry");
}

#[test]
fn the_scheduled_job_redoes_unfinished_effects_and_retention_keeps_their_events() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let hook = webhook(&t, &key, "http://127.0.0.1:9/ok");
    // The join is stored and answered; its effects fail after the answer.
    let r = t.send_respond_only(livekit_request(&presence("participant_joined", &room, "EV_1", NOW_S)));
    assert_eq!(r.status, 200);
    t.native.counters.fail_next_writes(1);
    run_background();
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM participant_sessions"), 0);
    assert!(t.native.queue.is_empty(), "no delivery yet");

    // Long past the events' retention window, the unfinished event is kept, not deleted...
    t.native.clock.advance_ms(31 * 24 * 3600 * 1000);
    let mut report = maintenance::Report::default();
    block_on(maintenance::retain(&RetentionSettings::default(), &t.native.runtime, &mut report));
    assert_eq!(report.deleted(Kind::Events), 0);
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM events WHERE effects_due_at_ms IS NOT NULL"), 1);

    // ...one scheduled run applies it first (its delivery is queued), and its retention keeps
    // the event while that delivery is pending: the consumer needs the event to send it...
    let report = block_on(maintenance::run(&t.app, &t.native.runtime));
    assert_eq!((report.effects_applied, report.effects_failed), (1, 0), "{report:?}");
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM participant_sessions"), 1);
    assert_eq!(report.deleted(Kind::Events), 0, "{report:?}");
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 204, headers: vec![], body: vec![] }));
    assert!(consume_all(&t).iter().all(Result::is_ok));
    assert_eq!(health(&t, &key, &hook)["delivered"], 1, "delivered, not stranded");

    // ...and once it is delivered, the next run's retention takes the event.
    let mut report = maintenance::Report::default();
    block_on(maintenance::retain(&RetentionSettings::default(), &t.native.runtime, &mut report));
    assert_eq!(report.deleted(Kind::Events), 1, "{report:?}");
}

#[test]
fn a_delivery_whose_event_is_gone_is_marked_dead_with_the_reason() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let hook = webhook(&t, &key, "http://127.0.0.1:9/ok");
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 204, headers: vec![], body: vec![] }));
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room, "EV_1", NOW_S))).status, 200);
    // The event goes before its delivery is made (deleted by hand: retention keeps it now).
    t.native.db.exec_raw("DELETE FROM events");

    assert!(consume_all(&t).iter().all(Result::is_ok), "acked: nothing to retry");
    assert!(t.native.http.sent().is_empty(), "nothing sent");
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE state = 'dead'"), 1, "not left pending");
    let h = health(&t, &key, &hook);
    assert_eq!((h["dead_lettered"].as_i64(), h["last_error"].as_str()), (Some(1), Some(delivery::EVENT_GONE)), "{h}");
}

/// An endpoint deleted while a delivery to it waits for its retry: the delete is answered, the
/// retry's message is acked without a request (also should the dead-letter queue hand it
/// over), nothing more is queued, and the project's endpoints and events answer as before.
#[test]
fn an_endpoint_deleted_mid_retry_gets_no_further_attempt() {
    let t = TestApp::new(&[
        LIVEKIT,
        &[("WEBHOOK_MAX_ATTEMPTS", "3"), ("WEBHOOK_RETRY_BASE_S", "10")],
        &HOOKS[..1],
        &HOOKS[2..],
    ]);
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let down = webhook(&t, &key, "http://127.0.0.1:9/down");
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 500, headers: vec![], body: vec![] }));
    assert_eq!(t.send(livekit_request(&presence("participant_joined", &room, "EV_1", NOW_S))).status, 200);
    let first = t.native.queue.take_due();
    assert_eq!(first.len(), 1);
    let results = block_on(delivery::consume_batch(&t.app.settings, &t.native.runtime, &first));
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(t.native.http.sent().len(), 1, "the first attempt");
    assert_eq!(t.native.queue.len(), 1, "its retry waits in the queue");
    assert_eq!(health(&t, &key, &down)["consecutive_failures"], 1);

    let deleted = t.call("DELETE", &format!("/v1/rtc/webhook/delete/{down}"), None, Some(&key));
    assert_eq!((deleted.status, deleted.json.clone()), (200, json!({"ok": true})));

    let at = t.native.queue.next_due_ms().unwrap();
    t.native.clock.advance_ms(at - t.native.clock.now_ms());
    let retry = t.native.queue.take_due();
    assert_eq!(retry.len(), 1);
    let results = block_on(delivery::consume_batch(&t.app.settings, &t.native.runtime, &retry));
    assert!(results.iter().all(Result::is_ok), "acked, not left to the queue's retries: {results:?}");
    assert_eq!(t.native.http.sent().len(), 1, "no attempt after the delete");
    assert!(t.native.queue.is_empty(), "and none queued");
    block_on(delivery::dead_lettered(&t.native.runtime, &retry[0])).unwrap();
    assert_eq!(t.native.http.sent().len(), 1);

    let gone = t.call("GET", &format!("/v1/rtc/webhook/get/{down}"), None, Some(&key));
    assert_eq!((gone.status, gone.code()), (404, "WEBHOOK_NOT_FOUND"));
    let listed = t.call("GET", "/v1/rtc/webhook/list", None, Some(&key));
    assert_eq!((listed.status, listed.json["items"].clone()), (200, json!([])));
    let events = t.call("GET", "/v1/rtc/event/list", None, Some(&key));
    assert_eq!((events.status, events.json["items"].as_array().map(Vec::len)), (200, Some(1)));
}

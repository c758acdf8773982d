//! The scheduled job natively, on a simulated clock: retention deletes what is past its window
//! in bounded batches and keeps the rest; reconciliation closes the open sessions of people
//! their vendor no longer lists, at the last time they were seen, and closes nothing when the
//! vendor cannot be asked.

mod support;

use rtcgate::api::settings::RetentionSettings as Settings;
use rtcgate::app::maintenance::{self, Report};
use rtcgate::domain::events::Session;
use rtcgate::native::{block_on, json_response, NativeRuntime};
use rtcgate::runtime::{Clock, HttpError, OutboundResponse};
use rtcgate::store::retention::Kind;
use rtcgate::store::{participants, sessions};
use serde_json::json;
use support::{TestApp, AGORA, NOW_MS};

const DAY_MS: u64 = 24 * 3600 * 1000;
const MINUTE_MS: u64 = 60_000;

fn count(native: &NativeRuntime, sql: &str) -> i64 {
    native.db.rows(sql)[0]["n"].as_i64().unwrap()
}

/// One row of each kind `age_ms` old (by the column retention reads), tagged `tag`.
fn seed(native: &NativeRuntime, tag: &str, age_ms: u64) {
    let at = (NOW_MS - age_ms) as i64;
    native.db.exec_raw(&format!(
        "INSERT INTO events (id, project_id, room_id, vendor, vendor_room, dedupe_key, type, seq, occurred_at_ms, \
                             received_at_ms, data) \
         VALUES ('evt_{tag}', 'prj_a', 'rm_a', 'livekit', 'rm_a', 'd_{tag}', 'room.started', {at}, {at}, {at}, '{{}}');
         INSERT INTO webhook_deliveries (id, webhook_id, event_id, attempts, state, created_at_ms, updated_at_ms) \
         VALUES ('dlv_{tag}', 'wh_a', 'evt_{tag}', 1, 'delivered', {at}, {at});
         INSERT INTO participant_sessions (room_id, session_key, project_id, identity, joined_at_ms, left_at_ms, seconds) \
         VALUES ('rm_a', 'closed_{tag}', 'prj_a', 'alice', {at} - 60000, {at}, 60);
         INSERT INTO idempotency (project_id, scope, key, request_hash, state, created_at_ms) \
         VALUES ('prj_a', 'room.create', 'k_{tag}', 'h', 'done', {at});
         INSERT INTO vendor_nonces (vendor, nonce, body_sha256, seen_at_ms) VALUES ('zego', 'n_{tag}', 'x', {at});"
    ));
}

fn rows_left(native: &NativeRuntime, tag: &str) -> Vec<i64> {
    [
        format!("SELECT COUNT(*) AS n FROM events WHERE id = 'evt_{tag}'"),
        format!("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE id = 'dlv_{tag}'"),
        format!("SELECT COUNT(*) AS n FROM participant_sessions WHERE session_key = 'closed_{tag}'"),
        format!("SELECT COUNT(*) AS n FROM idempotency WHERE key = 'k_{tag}'"),
        format!("SELECT COUNT(*) AS n FROM vendor_nonces WHERE nonce = 'n_{tag}'"),
    ]
    .iter()
    .map(|sql| count(native, sql))
    .collect()
}

fn retain(native: &NativeRuntime, settings: &Settings) -> Report {
    let mut report = Report::default();
    block_on(maintenance::retain(settings, &native.runtime, &mut report));
    report
}

#[test]
fn retention_deletes_each_kind_past_its_window_and_keeps_the_rest() {
    let native = NativeRuntime::new(NOW_MS);
    // Kinds: events, deliveries, sessions, idempotency, nonces.
    seed(&native, "fresh", 5 * MINUTE_MS); // inside every window
    seed(&native, "days", 3 * DAY_MS); // past idempotency (48 h) and nonces (10 min) only
    seed(&native, "month", 31 * DAY_MS); // past events and deliveries (30 days) too
    seed(&native, "year", 401 * DAY_MS); // past finished sessions (400 days) too
                                         // An open session, however old, is reconciliation's business, not retention's.
    native.db.exec_raw(&format!(
        "INSERT INTO participant_sessions (room_id, session_key, project_id, identity, joined_at_ms) \
         VALUES ('rm_a', 'open_old', 'prj_a', 'bob', {})",
        NOW_MS - 500 * DAY_MS
    ));

    let report = retain(&native, &Settings::default());
    assert_eq!(rows_left(&native, "fresh"), [1, 1, 1, 1, 1]);
    assert_eq!(rows_left(&native, "days"), [1, 1, 1, 0, 0]);
    assert_eq!(rows_left(&native, "month"), [0, 0, 1, 0, 0]);
    assert_eq!(rows_left(&native, "year"), [0, 0, 0, 0, 0]);
    assert_eq!(count(&native, "SELECT COUNT(*) AS n FROM participant_sessions WHERE session_key = 'open_old'"), 1);
    assert_eq!(
        report.deleted,
        vec![
            (Kind::Deliveries, 2),
            (Kind::Events, 2),
            (Kind::Sessions, 1),
            (Kind::Idempotency, 3),
            (Kind::Nonces, 3),
            (Kind::Changes, 0)
        ]
    );
    assert!(report.more_to_delete.is_empty());

    // 0 keeps a kind forever; the windows are settings.
    let native = NativeRuntime::new(NOW_MS);
    seed(&native, "year", 401 * DAY_MS);
    let vars = [("RETENTION_DAYS", "0"), ("SESSION_RETENTION_DAYS", "0")];
    let keep = Settings::from_env(&|name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()));
    assert_eq!(keep, Settings { retention_days: 0, session_retention_days: 0 });
    retain(&native, &keep);
    assert_eq!(rows_left(&native, "year"), [1, 1, 1, 0, 0]);
    let vars = [("RETENTION_DAYS", "2"), ("SESSION_RETENTION_DAYS", "not a number")];
    let short = Settings::from_env(&|name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()));
    assert_eq!(short, Settings { retention_days: 2, session_retention_days: 400 });
    seed(&native, "week", 7 * DAY_MS);
    retain(&native, &short);
    assert_eq!(rows_left(&native, "year"), [0, 0, 0, 0, 0]);
    assert_eq!(rows_left(&native, "week"), [0, 0, 1, 0, 0]);
}

#[test]
fn change_feed_rows_older_than_a_day_are_deleted() {
    let native = NativeRuntime::new(NOW_MS);
    for (subject, age_ms) in [("fresh", 5 * MINUTE_MS), ("old", DAY_MS + 1)] {
        native.db.exec_raw(&format!(
            "INSERT INTO changes (project_id, kind, subject, created_at_ms) VALUES ('prj_a', 'key', '{subject}', {})",
            NOW_MS - age_ms
        ));
    }
    let report = retain(&native, &Settings::default());
    assert_eq!(report.deleted(Kind::Changes), 1);
    assert_eq!(count(&native, "SELECT COUNT(*) AS n FROM changes WHERE subject = 'fresh'"), 1);
}

#[test]
fn one_run_deletes_a_bounded_number_of_rows_and_the_next_continues() {
    let native = NativeRuntime::new(NOW_MS);
    let old = (NOW_MS - 40 * DAY_MS) as i64;
    let per_run = maintenance::BATCH_ROWS * maintenance::MAX_BATCHES_PER_KIND;
    let n = per_run + 700;
    native.db.exec_raw(&format!(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < {n}) \
         INSERT INTO events (id, project_id, room_id, vendor, vendor_room, dedupe_key, type, seq, occurred_at_ms, \
                             received_at_ms, data) \
         SELECT 'evt_' || n, 'prj_a', 'rm_a', 'livekit', 'rm_a', 'd' || n, 'room.started', n, {old} + n, {old} + n, '{{}}' \
         FROM i"
    ));
    seed(&native, "fresh", MINUTE_MS);
    let first = retain(&native, &Settings::default());
    assert_eq!(first.deleted(Kind::Events), u64::from(per_run));
    assert_eq!(first.more_to_delete, vec![Kind::Events]);
    // Oldest first: what is left is the newest of the old.
    assert_eq!(count(&native, "SELECT MIN(seq) AS n FROM events WHERE id <> 'evt_fresh'"), i64::from(per_run) + 1);
    let second = retain(&native, &Settings::default());
    assert_eq!(second.deleted(Kind::Events), 700);
    assert!(second.more_to_delete.is_empty());
    assert_eq!(count(&native, "SELECT COUNT(*) AS n FROM events"), 1, "the fresh event is kept");
}

/// An Agora room of the project with `who` registered (tokens issued); their uids.
fn agora_room(t: &TestApp, key: &str, who: &[&str]) -> (String, Vec<u64>) {
    let mut room = String::new();
    let mut uids = Vec::new();
    for identity in who {
        let r = t.call(
            "POST",
            "/v1/rtc/token/issue",
            Some(json!({"room": "class", "identity": identity, "vendor": "agora"})),
            Some(key),
        );
        assert_eq!(r.status, 200, "{}", r.json);
        room = r.json["room"].as_str().unwrap().to_owned();
        uids.push(r.json["join"]["uid"].as_u64().unwrap());
    }
    (room, uids)
}

/// Agora's channel user list answers with `uids` (mode 1).
fn agora_lists(t: &TestApp, uids: &[u64]) {
    let users = uids.to_vec();
    t.native.http.respond_with(move |_| {
        json_response(
            200,
            &json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": users.len(), "users": users}}),
        )
    });
}

fn agora_answers(t: &TestApp, answer: fn() -> Result<OutboundResponse, HttpError>) {
    t.native.http.respond_with(move |_| answer());
}

fn run(t: &TestApp) -> Report {
    block_on(maintenance::run(&t.app, &t.native.runtime))
}

fn join(t: &TestApp, project: &str, room: &str, identity: &str, key: &str, at_ms: u64) {
    let s = Session { key: key.to_owned(), joined_at_ms: Some(at_ms), left_at_ms: None };
    block_on(sessions::record(&t.native.runtime, project, room, identity, &s)).unwrap();
}

/// (left_at_ms, seconds) of a session.
fn ended(t: &TestApp, key: &str) -> (Option<i64>, Option<i64>) {
    let rows =
        t.native.db.rows(&format!("SELECT left_at_ms, seconds FROM participant_sessions WHERE session_key = '{key}'"));
    (rows[0]["left_at_ms"].as_i64(), rows[0]["seconds"].as_i64())
}

#[test]
fn reconciliation_closes_sessions_the_vendor_no_longer_lists_at_the_last_time_they_were_seen() {
    let t = TestApp::new(&[AGORA]);
    let (project, key) = t.project_and_key();
    let (room, uids) = agora_room(&t, &key, &["alice", "bob", "carol"]);
    let t0 = t.native.clock.now_ms();
    join(&t, &project, &room, "alice", "s-alice", t0);
    join(&t, &project, &room, "bob", "s-bob", t0);
    // carol's leave event will be lost before any run saw her.
    join(&t, &project, &room, "carol", "s-carol", t0);

    // Run 1, five minutes on: alice and bob are listed, carol is gone.
    t.native.clock.advance_ms(5 * MINUTE_MS);
    let seen_at = t.native.clock.now_ms() as i64;
    agora_lists(&t, &uids[..2]);
    let r = run(&t);
    assert_eq!((r.rooms_checked, r.rooms_skipped, r.sessions_closed), (1, 0, 1), "{r:?}");
    assert_eq!(ended(&t, "s-alice"), (None, None));
    assert_eq!(ended(&t, "s-carol"), (Some(t0 as i64), Some(0)), "never seen: closed at her join");

    // Run 2: the vendor cannot be asked — nothing is closed, whatever the list would say.
    t.native.clock.advance_ms(5 * MINUTE_MS);
    agora_answers(&t, || json_response(500, &json!({"message": "internal error"})));
    let r = run(&t);
    assert_eq!((r.rooms_checked, r.rooms_skipped, r.sessions_closed), (0, 1, 0), "{r:?}");
    // A bare 404 (no Agora answer about the channel) is an error too, not an empty room.
    t.native.clock.advance_ms(5 * MINUTE_MS);
    agora_answers(&t, || Ok(OutboundResponse { status: 404, headers: vec![], body: b"Not Found".to_vec() }));
    let r = run(&t);
    assert_eq!((r.rooms_checked, r.rooms_skipped, r.sessions_closed), (0, 1, 0), "{r:?}");
    assert_eq!(ended(&t, "s-bob"), (None, None));

    // Run 4: bob is no longer listed — closed when run 1 last saw him.
    t.native.clock.advance_ms(5 * MINUTE_MS);
    agora_lists(&t, &uids[..1]);
    let r = run(&t);
    assert_eq!((r.rooms_checked, r.sessions_closed), (1, 1), "{r:?}");
    assert_eq!(ended(&t, "s-bob"), (Some(seen_at), Some(300)));
    assert_eq!(ended(&t, "s-alice"), (None, None));

    // Usage counts bob's reconciled session (carol's lasted 0 s); alice's is still open.
    let u = t.call("GET", &format!("/v1/rtc/usage?room={room}"), None, Some(&key));
    assert_eq!(u.json["totals"], json!({"sessions": 2, "participant_seconds": 300, "participant_minutes": 5}));

    // A leave event that arrives after all replaces the reconciled end.
    let late = Session { key: "s-bob".into(), joined_at_ms: Some(t0), left_at_ms: Some(t0 + 420_000) };
    block_on(sessions::record(&t.native.runtime, &project, &room, "bob", &late)).unwrap();
    assert_eq!(ended(&t, "s-bob"), (Some((t0 + 420_000) as i64), Some(420)));

    // The channel ends (Agora: channel_exist false): alice is closed at her last sighting.
    t.native.clock.advance_ms(5 * MINUTE_MS);
    let last_seen = t.native.clock.now_ms() as i64 - 5 * MINUTE_MS as i64;
    agora_answers(&t, || json_response(200, &json!({"success": true, "data": {"channel_exist": false}})));
    let r = run(&t);
    assert_eq!(r.sessions_closed, 1, "{r:?}");
    assert_eq!(ended(&t, "s-alice").0, Some(last_seen));
    // Nothing open is left: the next run asks no vendor.
    let calls = t.native.round_trips().http;
    let r = run(&t);
    assert_eq!((r.rooms_checked, r.rooms_skipped, t.native.round_trips().http), (0, 0, calls));
}

#[test]
fn a_session_that_has_just_begun_is_not_closed_for_being_unlisted() {
    let t = TestApp::new(&[AGORA]);
    let (project, key) = t.project_and_key();
    let (room, _) = agora_room(&t, &key, &["dave"]);
    join(&t, &project, &room, "dave", "s-dave", t.native.clock.now_ms() - 10_000);
    agora_lists(&t, &[]);
    let r = run(&t);
    assert_eq!((r.rooms_checked, r.sessions_closed), (1, 0));
    assert_eq!(ended(&t, "s-dave"), (None, None));
    t.native.clock.advance_ms(maintenance::JOIN_GRACE_MS as u64);
    let r = run(&t);
    assert_eq!(r.sessions_closed, 1);
}

#[test]
fn each_run_asks_a_bounded_number_of_rooms_and_the_next_run_takes_the_others() {
    let t = TestApp::new(&[AGORA]);
    let (project, key) = t.project_and_key();
    let rooms = maintenance::ROOMS_PER_RUN + 5;
    for i in 0..rooms {
        let r = t.call(
            "POST",
            "/v1/rtc/token/issue",
            Some(json!({"room": format!("r{i}"), "identity": "erin", "vendor": "agora"})),
            Some(&key),
        );
        let room = r.json["room"].as_str().unwrap().to_owned();
        join(&t, &project, &room, "erin", &format!("s{i}"), NOW_MS);
    }
    t.native.clock.advance_ms(5 * MINUTE_MS);
    agora_lists(&t, &[1]);
    let before = t.native.round_trips().http;
    let first = run(&t);
    assert_eq!(first.rooms_checked as usize, maintenance::ROOMS_PER_RUN);
    assert_eq!((t.native.round_trips().http - before) as usize, maintenance::ROOMS_PER_RUN, "one list call per room");
    t.native.clock.advance_ms(5 * MINUTE_MS);
    let second = run(&t);
    // The 5 rooms not yet checked come first, then those checked longest ago.
    assert_eq!(second.rooms_checked as usize, maintenance::ROOMS_PER_RUN);
    let never = count(&t.native, "SELECT COUNT(*) AS n FROM participant_sessions WHERE checked_at_ms = 0");
    assert_eq!(never, 0, "every room was checked within two runs");
}

#[test]
fn agora_participant_lists_map_uids_to_identities_in_chunks() {
    let t = TestApp::new(&[AGORA]);
    let (project, key) = t.project_and_key();
    let (room, _) = agora_room(&t, &key, &["p0"]);
    // 2 600 more registered identities (uids 2…2601) and a recording bot: three chunks of uids.
    t.native.db.exec_raw(&format!(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < 2600) \
         INSERT INTO participants (room_id, identity, uid, created_at_ms, updated_at_ms) \
         SELECT '{room}', 'p' || n, n + 1, 0, 0 FROM i"
    ));
    let bot = block_on(participants::register_bot(&t.native.runtime, &project, &room, "rec_1")).unwrap();
    let listed: Vec<u64> = (1..=2501).chain([u64::from(bot), 99_999]).collect();
    agora_lists(&t, &listed);
    let before = t.native.round_trips().d1_total();
    let r = t.call("GET", &format!("/v1/rtc/participant/list/{room}"), None, Some(&key));
    assert_eq!(r.status, 200, "{}", r.json);
    let items = r.json["items"].as_array().unwrap();
    // Everyone listed but the bot; an unregistered uid is shown as itself.
    assert_eq!(items.len(), 2502);
    assert_eq!(items[0]["identity"], "p0");
    assert_eq!(items[2500]["identity"], "p2500");
    assert_eq!(items[2501]["identity"], "99999");
    assert!(items.iter().all(|p| p["identity"] != "p2600"), "an identity the vendor did not list");
    // Reads: the room, three chunks of uids, three chunks of identities for join times.
    let reads = t.native.round_trips().d1_total() - before;
    assert!(reads <= 8, "{reads} D1 round trips");
}

/// D1 work (SQLite VM steps) to list an Agora room where the vendor lists 5 uids, with
/// `registered` identities in the room's registry (each with a join time).
fn list_steps(registered: u32) -> u64 {
    let t = TestApp::new(&[AGORA]);
    let (_, key) = t.project_and_key();
    let (room, _) = agora_room(&t, &key, &["p0"]);
    t.native.db.exec_raw(&format!(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < {registered}) \
         INSERT INTO participants (room_id, identity, uid, created_at_ms, updated_at_ms, joined_at_ms) \
         SELECT '{room}', 'p' || n, n + 1, 0, 0, n FROM i"
    ));
    agora_lists(&t, &[1, 2, 3, 4, 5]);
    let before = t.native.db.vm_steps();
    let r = t.call("GET", &format!("/v1/rtc/participant/list/{room}"), None, Some(&key));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["items"].as_array().unwrap().len(), 5);
    assert_eq!(r.json["items"][4]["identity"], "p4");
    t.native.db.vm_steps() - before
}

#[test]
fn listing_an_agora_room_reads_the_listed_uids_not_the_whole_registry() {
    assert_eq!(list_steps(10), list_steps(3_000), "D1 work with 10 vs 3 000 registered identities");
}

#[test]
fn livekit_sessions_are_reconciled_by_identity_and_an_ended_room_lists_nobody() {
    let t = TestApp::new(&[support::LIVEKIT]);
    let (project, key) = t.project_and_key();
    t.native.http.respond_with(|req| {
        let body: serde_json::Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        json_response(200, &json!({"sid": "RM_1", "name": body["name"], "creation_time": "1700000000"}))
    });
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "lk", "vendor": "livekit"})), Some(&key));
    assert_eq!(r.status, 201, "{}", r.json);
    let room = r.json["room"].as_str().unwrap().to_owned();
    join(&t, &project, &room, "alice", "PA_alice", NOW_MS);
    join(&t, &project, &room, "bob", "PA_bob", NOW_MS);
    let lists = |who: &'static [&'static str]| {
        t.native.http.respond_with(move |req| {
            assert!(req.url.ends_with("/twirp/livekit.RoomService/ListParticipants"), "{}", req.url);
            let people: Vec<_> = who
                .iter()
                .map(|id| json!({"identity": id, "name": "", "kind": "STANDARD", "joined_at": "1700000000"}))
                .collect();
            json_response(200, &json!({ "participants": people }))
        });
    };
    t.native.clock.advance_ms(5 * MINUTE_MS);
    let seen_at = t.native.clock.now_ms() as i64;
    lists(&["alice", "bob"]);
    assert_eq!(run(&t).sessions_closed, 0);
    t.native.clock.advance_ms(5 * MINUTE_MS);
    lists(&["alice"]);
    assert_eq!(run(&t).sessions_closed, 1);
    assert_eq!(ended(&t, "PA_bob"), (Some(seen_at), Some(300)));
    // LiveKit answers an empty list for a room that has ended: alice is closed too.
    t.native.clock.advance_ms(5 * MINUTE_MS);
    lists(&[]);
    assert_eq!(run(&t).sessions_closed, 1);
    assert_eq!(ended(&t, "PA_alice"), (Some(seen_at + 5 * MINUTE_MS as i64), Some(600)));
}

//! Round-trip budgets per route, held by counting every D1, KV and vendor round trip the
//! native runtime makes — before the response (what the caller waits for) and after it
//! (work the isolate finishes through `ctx.waitUntil`).

mod support;

use futures_util::FutureExt;
use rtcgate::native::{block_on, json_response, run_background, tasks_spawned, RoundTrips};
use rtcgate::runtime::{Clock, Runtime};
use rtcgate::store::registry_writer::{COALESCE_MS, FLUSH_ATTEMPTS, FLUSH_TASK_MAX_MS};
use rtcgate::store::room_cache::{ROOM_CACHE_TTL_MS as CACHE_TTL_MS, ROOM_REFRESH_AFTER_MS};
use rtcgate::store::uid_blocks::FIRST_BLOCK;
use rtcgate::store::{participants, sessions};
use serde_json::{json, Value};
use support::{Reply, TestApp, AGORA, LIVEKIT, ZEGO};

const NONE: RoundTrips = RoundTrips { d1: 0, d1_replica: 0, kv: 0, http: 0 };
/// One read of the change feed (`api::revocation`): what an isolate pays once per
/// `FEED_POLL_AFTER_MS` after a response, or before one after `FEED_STALE_MS` idle.
const FEED_READ: RoundTrips = RoundTrips { d1: 1, ..NONE };

fn d1(n: u32) -> RoundTrips {
    RoundTrips { d1: n, ..NONE }
}

/// The round trips `f` makes, before its response and after it.
fn measured(t: &TestApp, f: impl FnOnce() -> Reply) -> (Reply, RoundTrips, RoundTrips) {
    let start = t.native.round_trips();
    let reply = f();
    let answered = t.native.round_trips();
    run_background();
    let done = t.native.round_trips();
    (reply, diff(answered, start), diff(done, answered))
}

fn diff(a: RoundTrips, b: RoundTrips) -> RoundTrips {
    RoundTrips { d1: a.d1 - b.d1, d1_replica: a.d1_replica - b.d1_replica, kv: a.kv - b.kv, http: a.http - b.http }
}

fn issue(t: &TestApp, key: &str, body: Value) -> Reply {
    t.call_respond_only("POST", "/v1/rtc/token/issue", Some(body), Some(key))
}

/// An app with every vendor, a key, and one warm room per vendor (LiveKit's created through
/// its scripted server).
fn warm_app() -> (TestApp, String, Vec<(&'static str, String)>) {
    let (t, _, key, rooms) = warm_app_in_project();
    (t, key, rooms)
}

/// `warm_app`, with the project's id.
fn warm_app_in_project() -> (TestApp, String, String, Vec<(&'static str, String)>) {
    let t = TestApp::new(&[LIVEKIT, AGORA, ZEGO]);
    let (project, key) = t.project_and_key();
    t.native.http.respond_with(|req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        json_response(200, &json!({"sid": "RM_1", "name": body["name"], "empty_timeout": 300}))
    });
    let mut rooms = Vec::new();
    for vendor in ["livekit", "agora", "zego"] {
        let r = t.call(
            "POST",
            "/v1/rtc/token/issue",
            Some(json!({"room": vendor, "identity": "first", "vendor": vendor})),
            Some(&key),
        );
        assert_eq!((r.status, r.json["vendor"].as_str()), (200, Some(vendor)), "{}", r.json);
        rooms.push((vendor, r.json["room"].as_str().unwrap().to_owned()));
    }
    (t, project, key, rooms)
}

/// The registry row as D1 holds it, read around the counters and without driving any
/// background work (SQLite answers at once).
fn registered(t: &TestApp, room: &str, identity: &str) -> Option<participants::Registered> {
    let uncounted = Runtime { db: t.native.db.clone(), ..t.native.runtime.clone() };
    participants::find(&uncounted, room, identity).now_or_never().expect("SQLite answers at once").unwrap()
}

#[test]
fn a_repeat_token_makes_no_round_trip_at_all() {
    let (t, key, rooms) = warm_app();
    for (vendor, room) in &rooms {
        let (r, before, after) = measured(&t, || issue(&t, &key, json!({"room": room, "identity": "first"})));
        assert_eq!(r.status, 200, "{vendor}: {}", r.json);
        assert_eq!((before, after), (NONE, NONE), "{vendor}: a repeat identity is served from isolate memory");
        // By name too: the name resolves from the same isolate cache.
        let (r, before, after) = measured(&t, || issue(&t, &key, json!({"room": vendor, "identity": "first"})));
        assert_eq!((r.status, before, after), (200, NONE, NONE), "{vendor} by name: {}", r.json);
    }
    // Agora's repeat keeps its uid.
    let agora = &rooms[1].1;
    let r = issue(&t, &key, json!({"room": agora, "identity": "first"}));
    assert_eq!(r.json["join"]["uid"].as_u64(), registered(&t, agora, "first").map(|p| u64::from(p.uid)));
}

#[test]
fn the_rate_limiter_is_asked_once_per_api_key_request_and_is_no_round_trip_and_no_task() {
    let (t, key, rooms) = warm_app();
    for (vendor, room) in &rooms {
        let calls = t.native.limiter.calls();
        let tasks = tasks_spawned();
        let (r, before, after) = measured(&t, || issue(&t, &key, json!({"room": room, "identity": "first"})));
        assert_eq!((r.status, before, after), (200, NONE, NONE), "{vendor}: {}", r.json);
        assert_eq!(t.native.limiter.calls() - calls, 1, "{vendor}: exactly one limiter call");
        // The count's verdict is not awaited and nothing is scheduled for it: a warm token
        // leaves no work after its response.
        assert_eq!(tasks_spawned() - tasks, 0, "{vendor}: no background task");
    }
    let calls = t.native.limiter.calls();
    assert_eq!(t.call("GET", "/v1/rtc/room/list", None, Some(&key)).status, 200);
    assert_eq!(t.native.limiter.calls() - calls, 1, "one per request on any API-key route");
    // Routes no API key calls, and a key that is refused, never ask it.
    let calls = t.native.limiter.calls();
    assert_eq!(t.call("GET", "/v1/health", None, None).status, 200);
    assert_eq!(t.call("GET", "/v1/openapi.json", None, None).status, 200);
    t.call("POST", "/v1/vendor-events/livekit", Some(json!({})), None);
    t.call("GET", "/v1/admin/projects/prj_x/keys", None, Some(support::ADMIN));
    assert_eq!(t.call("GET", "/v1/rtc/room/list", None, Some("rtc_not_a_key")).status, 401);
    assert_eq!(t.native.limiter.calls(), calls);
}

#[test]
fn a_new_identity_on_livekit_or_zego_waits_for_no_round_trip_and_is_written_after_the_response() {
    let (t, key, rooms) = warm_app();
    for (vendor, room) in rooms.iter().filter(|(v, _)| *v != "agora") {
        let body = json!({"room": room, "identity": "newcomer", "display_name": "New"});
        let (r, before, after) = measured(&t, || {
            let r = issue(&t, &key, body.clone());
            assert!(registered(&t, room, "newcomer").is_none(), "{vendor}: nothing written before the response");
            r
        });
        assert_eq!(r.status, 200, "{vendor}: {}", r.json);
        assert_eq!(before, NONE, "{vendor}: the caller waits for no round trip");
        assert_eq!(after, d1(1), "{vendor}: one registry write after the response");
        let row = registered(&t, room, "newcomer").expect("written after the response");
        assert_eq!(row.display_name.as_deref(), Some("New"));
        assert!(row.uid > 0);
        // Now it is a repeat.
        let (_, before, after) = measured(&t, || issue(&t, &key, body.clone()));
        assert_eq!((before, after), (NONE, NONE), "{vendor}");
    }
}

#[test]
fn a_new_identity_on_agora_waits_for_no_round_trip_while_its_isolate_holds_a_block() {
    let (t, project, key, rooms) = warm_app_in_project();
    let room = &rooms[1].1;
    assert!(t.app.registry.uids_left(&project, room) > 0, "the room's first token reserved a block");
    let (r, before, after) = measured(&t, || {
        let r = issue(&t, &key, json!({"room": room, "identity": "bob"}));
        assert!(registered(&t, room, "bob").is_none(), "nothing written before the response");
        r
    });
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!((before, after), (NONE, d1(1)), "the uid from the block; the row after the response");
    let uid = r.json["join"]["uid"].as_u64().unwrap();
    assert_eq!(registered(&t, room, "bob").map(|p| u64::from(p.uid)), Some(uid));
    assert_ne!(uid, 0);
    // Now it is a repeat.
    let (_, before, after) = measured(&t, || issue(&t, &key, json!({"room": room, "identity": "bob"})));
    assert_eq!((before, after), (NONE, NONE));
}

#[test]
fn new_agora_identities_reserve_at_most_one_block_per_block_of_uids() {
    let (t, project, key, rooms) = warm_app_in_project();
    let room = &rooms[1].1;
    let mut reservations = 0;
    let mut uids = std::collections::HashSet::new();
    let n = 2 * (FIRST_BLOCK + 2 * FIRST_BLOCK + 4 * FIRST_BLOCK);
    for i in 0..n {
        let left = t.app.registry.uids_left(&project, room);
        let (r, before, _) = measured(&t, || issue(&t, &key, json!({"room": room, "identity": format!("n{i}")})));
        assert_eq!(r.status, 200, "{}", r.json);
        assert!(uids.insert(r.json["join"]["uid"].as_u64().unwrap()), "a uid given twice");
        if left == 0 {
            // The one round trip before the answer: this block's reservation.
            assert_eq!(before, d1(1), "n{i}: the block's reservation");
            reservations += 1;
        } else {
            assert_eq!(before, NONE, "n{i}: from the block held");
        }
    }
    // Blocks double (16, 32, 64, …): the first came with the room's first token.
    assert!(reservations <= 4, "{reservations} reservations for {n} identities");
    assert!(reservations >= 2, "{n} identities need more than the first blocks: {reservations}");
}

#[test]
fn a_changed_display_name_is_written_after_the_response_and_keeps_the_uid() {
    let (t, key, rooms) = warm_app();
    for (vendor, room) in &rooms {
        let uid = registered(&t, room, "first").unwrap().uid;
        let body = json!({"room": room, "identity": "first", "display_name": "Renamed", "metadata": {"a": 1}});
        let (r, before, after) = measured(&t, || issue(&t, &key, body.clone()));
        assert_eq!((r.status, before, after), (200, NONE, d1(1)), "{vendor}: {}", r.json);
        let row = registered(&t, room, "first").unwrap();
        assert_eq!((row.uid, row.display_name.as_deref()), (uid, Some("Renamed")), "{vendor}");
        // Leaving the name out keeps the stored one: nothing to write.
        let (_, before, after) = measured(&t, || issue(&t, &key, json!({"room": room, "identity": "first"})));
        assert_eq!((before, after), (NONE, NONE), "{vendor}");
    }
}

#[test]
fn a_deferred_write_that_fails_is_retried_and_never_lost() {
    let (t, key, rooms) = warm_app();
    let room = &rooms[0].1;

    // D1 refuses the first two attempts: the same flush retries and succeeds.
    t.native.counters.fail_next_writes(2);
    let (r, before, after) = measured(&t, || issue(&t, &key, json!({"room": room, "identity": "carol"})));
    assert_eq!((r.status, before), (200, NONE), "{}", r.json);
    assert_eq!(after, d1(3), "two failed attempts, then the write");
    assert!(registered(&t, room, "carol").is_some());
    assert_eq!(t.app.registry.pending(), 0);

    // D1 is down for a whole flush: the write stays queued, nothing is remembered as written…
    t.native.counters.fail_next_writes(FLUSH_ATTEMPTS);
    let (r, _, after) =
        measured(&t, || issue(&t, &key, json!({"room": room, "identity": "dave", "display_name": "D"})));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(after, d1(FLUSH_ATTEMPTS));
    assert!(registered(&t, room, "dave").is_none());
    assert_eq!(t.app.registry.pending(), 1, "kept for the next flush");

    // …and the next deferral (anyone's) flushes it along, once D1 is back.
    let (_, before, after) = measured(&t, || issue(&t, &key, json!({"room": room, "identity": "erin"})));
    assert_eq!(before, NONE);
    // The failed flushes' backoff moved the clock past FEED_POLL_AFTER_MS: the isolate also
    // reads the change feed after this response.
    assert_eq!(after, d1(1 + FEED_READ.d1), "both queued rows in one batch");
    assert_eq!(registered(&t, room, "dave").unwrap().display_name.as_deref(), Some("D"));
    assert!(registered(&t, room, "erin").is_some());
    assert_eq!(t.app.registry.pending(), 0);

    // A repeat of an identity whose write failed writes again (it was never marked written).
    t.native.counters.fail_next_writes(FLUSH_ATTEMPTS);
    issue(&t, &key, json!({"room": room, "identity": "frank"}));
    run_background();
    assert!(registered(&t, room, "frank").is_none());
    let (_, before, after) = measured(&t, || issue(&t, &key, json!({"room": room, "identity": "frank"})));
    assert_eq!((before, after), (NONE, d1(1 + FEED_READ.d1)), "the write, and the feed read the backoff made due");
    assert!(registered(&t, room, "frank").is_some());
}

#[test]
fn a_cold_token_reads_the_key_from_a_replica_and_the_room_once() {
    let (t, key, rooms) = warm_app();
    // A fresh isolate: same database, empty memory.
    let cold = TestApp { app: support::app_with(&[LIVEKIT, AGORA, ZEGO]), native: t.native };
    let (r, before, after) = measured(&cold, || issue(&cold, &key, json!({"room": rooms[2].1, "identity": "first"})));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(before, RoundTrips { d1_replica: 1, d1: 1, ..NONE }, "key from a replica, room from the primary");
    assert_eq!(after, d1(1), "this isolate has not written the row yet: it writes it once");
}

#[test]
fn room_get_reads_the_room_once_and_asks_its_vendor_once() {
    let (t, key, rooms) = warm_app();
    let room = rooms[1].1.clone();
    t.native.http.respond_with(|_| {
        json_response(
            200,
            &json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": 1, "users": [1]}}),
        )
    });
    let (r, before, after) =
        measured(&t, || t.call_respond_only("GET", &format!("/v1/rtc/room/get/{room}"), None, Some(&key)));
    assert_eq!((r.status, r.json["num_participants"].as_u64()), (200, Some(1)), "{}", r.json);
    assert_eq!((before, after), (RoundTrips { d1: 1, http: 1, ..NONE }, NONE));
}

#[test]
fn a_room_in_steady_use_is_re_read_after_the_response_never_before_it() {
    let (t, key, rooms) = warm_app();
    let room = &rooms[2].1;
    let body = json!({"room": room, "identity": "first"});
    // Past half the cache's life: served from memory, re-read once after the response. (The
    // isolate was idle past the change feed's staleness window, so it reads the feed first:
    // that is the one read before the response, `api::revocation`.)
    t.native.clock.advance_ms(ROOM_REFRESH_AFTER_MS);
    let (r, before, after) = measured(&t, || issue(&t, &key, body.clone()));
    assert_eq!((r.status, before, after), (200, FEED_READ, d1(1)), "{}", r.json);
    let (_, before, after) = measured(&t, || issue(&t, &key, body.clone()));
    assert_eq!((before, after), (NONE, NONE), "the re-read renewed the entry");
    // Renewed: another half life later, the same again — never a read before the response
    // while the room is in use (the key has its own, separate 60 s cache).
    t.native.clock.advance_ms(ROOM_REFRESH_AFTER_MS);
    let (_, before, after) = measured(&t, || issue(&t, &key, body.clone()));
    assert_eq!(before.d1, FEED_READ.d1, "the feed only, as above (the key's own cache lapsed: a replica read)");
    assert_eq!(after, d1(1));
    // Unused for the whole cache life: the next token reads the room first.
    t.native.clock.advance_ms(CACHE_TTL_MS);
    let (_, before, _) = measured(&t, || issue(&t, &key, body.clone()));
    assert_eq!(before.d1, 2, "the feed, and an expired entry is read before minting");
}

#[test]
fn a_room_deleted_elsewhere_stops_getting_tokens_after_the_next_re_read() {
    let (t, key, rooms) = warm_app();
    let room = rooms[2].1.clone();
    // Another isolate (same database, its own memory) deletes the room.
    let other = support::app_with(&[LIVEKIT, AGORA, ZEGO]);
    t.native.http.respond_with(|_| json_response(200, &json!({"Code": 0, "Message": "success", "RequestId": "r"})));
    let deleted = rtcgate::native::block_on(
        other.handle(
            &t.native.runtime,
            rtcgate::http::ApiRequest::new("DELETE", &format!("/v1/rtc/room/delete/{room}"))
                .with_header("authorization", &format!("Bearer {key}")),
        ),
    );
    assert_eq!(deleted.status, 200, "{}", String::from_utf8_lossy(&deleted.body));
    // Within the window this isolate still mints for it (the documented staleness)…
    t.native.clock.advance_ms(ROOM_REFRESH_AFTER_MS);
    let stale = issue(&t, &key, json!({"room": room, "identity": "first"}));
    assert_eq!(stale.status, 200, "{}", stale.json);
    run_background();
    // …and once the re-read after that response saw it gone, it is a 404.
    let gone = issue(&t, &key, json!({"room": room, "identity": "first"}));
    assert_eq!((gone.status, gone.code()), (404, "ROOM_NOT_FOUND"), "{}", gone.json);
}

#[test]
fn new_identities_arriving_together_share_one_write_and_get_distinct_uids() {
    let (t, key, rooms) = warm_app();
    let (livekit, zego) = (&rooms[0].1, &rooms[2].1);
    let first_uid = registered(&t, livekit, "first").unwrap().uid;
    let start = t.native.round_trips();
    for (room, identity) in [(livekit, "a"), (livekit, "b"), (zego, "a"), (livekit, "c"), (zego, "b")] {
        let r = issue(&t, &key, json!({"room": room, "identity": identity}));
        assert_eq!(r.status, 200, "{}", r.json);
    }
    // A known identity changing its name joins the same write.
    let r = issue(&t, &key, json!({"room": livekit, "identity": "first", "display_name": "Again"}));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(diff(t.native.round_trips(), start), NONE, "nothing before the responses");
    run_background();
    assert_eq!(diff(t.native.round_trips(), start), d1(1), "six rows in two rooms, one D1 call");
    assert_eq!(t.app.registry.pending(), 0);

    let uids = |room: &str, identities: &[&str]| -> Vec<u32> {
        identities.iter().map(|i| registered(&t, room, i).unwrap_or_else(|| panic!("{room}/{i} written")).uid).collect()
    };
    let in_livekit = uids(livekit, &["first", "a", "b", "c"]);
    let in_zego = uids(zego, &["first", "a", "b"]);
    for room_uids in [&in_livekit, &in_zego] {
        let mut distinct = room_uids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), room_uids.len(), "uids are distinct within a room: {room_uids:?}");
        assert!(room_uids.iter().all(|&u| u > 0));
    }
    let renamed = registered(&t, livekit, "first").unwrap();
    assert_eq!(
        (renamed.uid, renamed.display_name.as_deref()),
        (first_uid, Some("Again")),
        "a known identity keeps its uid"
    );
}

#[test]
fn a_large_burst_of_new_identities_is_written_in_calls_bounded_by_size() {
    let (t, key, rooms) = warm_app();
    let room = &rooms[0].1;
    // 150 identities with nearly 4 KiB of metadata each: about 600 KiB of rows, more than
    // one call carries, so exactly two calls.
    let metadata = json!({"notes": "n".repeat(4000)});
    let start = t.native.round_trips();
    for i in 0..150 {
        let r = issue(&t, &key, json!({"room": room, "identity": format!("burst-{i}"), "metadata": metadata}));
        assert_eq!(r.status, 200, "{}", r.json);
    }
    run_background();
    assert_eq!(diff(t.native.round_trips(), start), d1(2));
    assert_eq!(t.app.registry.pending(), 0);
    for i in [0, 75, 149] {
        assert!(registered(&t, room, &format!("burst-{i}")).is_some(), "burst-{i} written");
    }
}

#[test]
fn identities_arriving_while_a_write_is_in_flight_wait_for_the_next_window() {
    let (t, key, rooms) = warm_app();
    let room = &rooms[0].1;
    let start = t.native.round_trips();
    // A window with more rows than one call carries (about 600 KiB of metadata: two calls),
    // whose first call is held in flight (a D1 round trip takes a while)…
    let metadata = json!({"notes": "n".repeat(4000)});
    let gate = t.native.counters.hold_next_write();
    for i in 0..150 {
        let r = issue(&t, &key, json!({"room": room, "identity": format!("burst-{i}"), "metadata": metadata}));
        assert_eq!(r.status, 200, "{}", r.json);
    }
    run_background();
    assert!(gate.reached(), "the first window's first call has started");
    // …while more new identities arrive.
    for identity in ["late-1", "late-2", "late-3"] {
        assert_eq!(issue(&t, &key, json!({"room": room, "identity": identity})).status, 200);
    }
    assert_eq!(diff(t.native.round_trips(), start), d1(1));
    let released_at = t.native.clock.now_ms();
    gate.release();
    run_background();
    // The window's second call carried only its own rows; the late ones went together in
    // one call of the next window, after waiting for it, rather than at once in a call of
    // their own: under steady load, one call per window instead of one per round trip.
    assert_eq!(diff(t.native.round_trips(), start), d1(3));
    assert_eq!(t.native.clock.now_ms() - released_at, COALESCE_MS, "the late rows waited one window");
    assert_eq!(t.app.registry.pending(), 0);
    for identity in ["burst-0", "burst-149", "late-1", "late-2", "late-3"] {
        assert!(registered(&t, room, identity).is_some(), "{identity} written");
    }
}

#[test]
fn a_flush_the_runtime_stopped_is_replaced_by_a_deferral_after_its_time() {
    let (t, key, rooms) = warm_app();
    let room = &rooms[0].1;
    // The runtime stops running a flush in the middle of its write (here the write never
    // returns; on Workers, `waitUntil` work is cancelled some time after the response)…
    let gate = t.native.counters.hold_next_write();
    assert_eq!(issue(&t, &key, json!({"room": room, "identity": "a"})).status, 200);
    run_background();
    assert!(gate.reached());
    let start = t.native.round_trips();
    // …a deferral soon after leaves its row to that flush…
    assert_eq!(issue(&t, &key, json!({"room": room, "identity": "b"})).status, 200);
    run_background();
    assert_eq!(diff(t.native.round_trips(), start), NONE);
    assert_eq!(t.app.registry.pending(), 1);
    // …but once that flush is older than FLUSH_TASK_MAX_MS, the next deferral starts another,
    // which writes every queued row.
    t.native.clock.advance_ms(FLUSH_TASK_MAX_MS);
    assert_eq!(issue(&t, &key, json!({"room": room, "identity": "c"})).status, 200);
    run_background();
    // (And the isolate, idle that long, read the change feed before answering.)
    assert_eq!(diff(t.native.round_trips(), start), d1(1 + FEED_READ.d1));
    assert_eq!(t.app.registry.pending(), 0);
    assert!(registered(&t, room, "b").is_some() && registered(&t, room, "c").is_some());
    // Should the stopped flush ever go on, its row lands too and nothing is written twice.
    gate.release();
    run_background();
    assert!(registered(&t, room, "a").is_some());
    assert_eq!(diff(t.native.round_trips(), start), d1(1 + FEED_READ.d1));
}

/// Agora lists a channel's members by uid only (up to 10 000 audience plus hosts): the list maps
/// each back to the identity registered with it by reading the registry for the listed uids
/// `UIDS_PER_LOOKUP` at a time, and their join times `IDENTITIES_PER_LOOKUP` at a time — never
/// one unbounded statement, and never the room's whole registry.
#[test]
fn an_agora_list_of_many_uids_maps_every_one_reading_the_registry_in_bounded_chunks() {
    let (t, key, rooms) = warm_app();
    let room = rooms[1].1.clone();
    // Registered straight into D1 (outside the counters): 2 500 listed members and 300
    // identities that once had a token but are not in the channel.
    let uncounted = Runtime { db: t.native.db.clone(), ..t.native.runtime.clone() };
    let listed: usize = 2_500;
    let mut uids = Vec::new();
    for i in 0..listed + 300 {
        let uid = block_on(participants::upsert(&uncounted, &room, &format!("user{i}"), None, None)).unwrap();
        if i < listed {
            uids.push(uid);
        }
    }
    let users = uids.clone();
    t.native.http.respond_with(move |_| {
        json_response(
            200,
            &json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": users.len(), "users": users}}),
        )
    });
    let (r, before, after) =
        measured(&t, || t.call_respond_only("GET", &format!("/v1/rtc/participant/list/{room}"), None, Some(&key)));
    assert_eq!(r.status, 200, "{}", r.json);
    let mut named: Vec<String> =
        r.json["items"].as_array().unwrap().iter().map(|p| p["identity"].as_str().unwrap().to_owned()).collect();
    named.sort();
    let mut expected: Vec<String> = (0..listed).map(|i| format!("user{i}")).collect();
    expected.sort();
    assert_eq!(named, expected, "every listed uid is mapped to its identity, nobody unlisted appears");
    // One read of the room, ⌈2 500 / 1 000⌉ = 3 registry reads by uid, and as many join-time
    // reads (Agora's list carries no join times); one call to Agora.
    let by_uid = listed.div_ceil(participants::UIDS_PER_LOOKUP) as u32;
    let join_times = listed.div_ceil(sessions::IDENTITIES_PER_LOOKUP) as u32;
    assert_eq!(by_uid, 3);
    assert_eq!((before.d1_total(), before.kv, before.http), (1 + by_uid + join_times, 0, 1), "{before:?}");
    assert_eq!(after, NONE);
}

#[test]
fn a_ban_check_costs_the_warm_token_no_round_trip() {
    let (t, key, rooms) = warm_app();
    for (vendor, room) in &rooms {
        let b = t.call(
            "POST",
            &format!("/v1/rtc/participant/ban/{room}"),
            Some(json!({"identity": "banned", "kick": false})),
            Some(&key),
        );
        assert_eq!(b.status, 201, "{vendor}: {}", b.json);
        let (r, before, after) = measured(&t, || issue(&t, &key, json!({"room": room, "identity": "banned"})));
        assert_eq!((r.status, before, after), (403, NONE, NONE), "{vendor}: refused from memory: {}", r.json);
        let (r, before, after) = measured(&t, || issue(&t, &key, json!({"room": room, "identity": "first"})));
        assert_eq!((r.status, before, after), (200, NONE, NONE), "{vendor}: the project has bans, the token none");
    }
}

#[test]
fn the_change_feed_is_read_once_per_interval_after_responses_and_before_one_only_when_idle() {
    use rtcgate::api::revocation::{FEED_POLL_AFTER_MS, FEED_STALE_MS};
    let (t, key, rooms) = warm_app();
    let body = json!({"room": rooms[0].1, "identity": "first"});
    t.native.clock.advance_ms(FEED_POLL_AFTER_MS);
    let (_, before, after) = measured(&t, || issue(&t, &key, body.clone()));
    assert_eq!((before, after), (NONE, FEED_READ), "one read, after the response");
    let (_, before, after) = measured(&t, || issue(&t, &key, body.clone()));
    assert_eq!((before, after), (NONE, NONE), "not again within the interval");
    t.native.clock.advance_ms(FEED_STALE_MS);
    let (_, before, after) = measured(&t, || issue(&t, &key, body.clone()));
    assert_eq!((before, after), (FEED_READ, NONE), "idle past the window: one read before answering");
}

#[test]
fn session_history_and_presence_read_d1_once_and_ask_no_vendor() {
    let (t, key, rooms) = warm_app();
    let room = rooms[0].1.clone();
    let join = json!({"event": "participant_joined", "room": {"sid": "RM_1", "name": room},
                      "participant": {"sid": "PA_1", "identity": "alice", "joinedAtMs": support::NOW_MS.to_string()},
                      "id": "EV_rt_1", "createdAt": (support::NOW_MS / 1000).to_string()})
    .to_string();
    assert_eq!(t.send(support::livekit_webhook(&join)).status, 200);
    let listed = t.call("GET", "/v1/rtc/session/list", None, Some(&key));
    let session = listed.json["items"][0]["session"].as_str().unwrap_or_else(|| panic!("{}", listed.json)).to_owned();
    // One read each, with no vendor call: a room filter by id needs no room lookup.
    for path in [
        "/v1/rtc/session/list".to_owned(),
        format!("/v1/rtc/session/list?room={room}&identity=alice&from=2023-11-14"),
        format!("/v1/rtc/session/get/{session}"),
        "/v1/rtc/presence?identity=alice".to_owned(),
    ] {
        let (r, before, after) = measured(&t, || t.call_respond_only("GET", &path, None, Some(&key)));
        assert_eq!(r.status, 200, "{path}: {}", r.json);
        assert_eq!((before, after), (d1(1), NONE), "{path}");
    }
}

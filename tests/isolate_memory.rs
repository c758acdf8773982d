//! What an isolate remembers is bounded by bytes: a burst of rooms and registry rows as large as
//! the API allows stays within each cache's budget, eviction keeps what is in use and what is
//! newest, and the deferred registry queue, once full, writes before answering and loses nothing.

mod support;

use rtcgate::native::{json_response, run_background, RoundTrips};
use rtcgate::runtime::Runtime;
use rtcgate::store::participants;
use rtcgate::store::registry_writer::{KNOWN_BYTES, PENDING_BYTES};
use rtcgate::store::room_cache::{ROOM_CACHE_BYTES, ROOM_CACHE_ENTRIES};
use serde_json::{json, Value};
use support::{Reply, TestApp, AGORA, LIVEKIT};

const NONE: RoundTrips = RoundTrips { d1: 0, d1_replica: 0, kv: 0, http: 0 };

fn diff(a: RoundTrips, b: RoundTrips) -> RoundTrips {
    RoundTrips { d1: a.d1 - b.d1, d1_replica: a.d1_replica - b.d1_replica, kv: a.kv - b.kv, http: a.http - b.http }
}

/// The round trips `f` makes before its response (work after it is left pending).
fn before_response(t: &TestApp, f: impl FnOnce() -> Reply) -> (Reply, RoundTrips) {
    let start = t.native.round_trips();
    let reply = f();
    (reply, diff(t.native.round_trips(), start))
}

/// The largest metadata object the API takes: `limit` bytes serialized compactly.
fn metadata_of(limit: usize) -> Value {
    json!({ "m": "m".repeat(limit - r#"{"m":""}"#.len()) })
}

fn issue(t: &TestApp, key: &str, body: Value) -> Reply {
    t.call_respond_only("POST", "/v1/rtc/token/issue", Some(body), Some(key))
}

fn registered(t: &TestApp, room: &str, identity: &str) -> Option<participants::Registered> {
    use futures_util::FutureExt;
    let uncounted = Runtime { db: t.native.db.clone(), ..t.native.runtime.clone() };
    participants::find(&uncounted, room, identity).now_or_never().expect("SQLite answers at once").unwrap()
}

#[test]
fn a_burst_of_rooms_with_maximal_metadata_stays_within_the_room_budget() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let metadata = metadata_of(16 * 1024);
    let name = |i: usize| format!("{i:0>128}");
    let mut seen_full = false;
    let rooms = 800;
    for i in 0..rooms {
        let created = t.call(
            "POST",
            "/v1/rtc/room/create",
            Some(json!({"name": name(i), "metadata": metadata, "vendor": "agora"})),
            Some(&key),
        );
        assert_eq!(created.status, 201, "{}", created.json);
        // The token caches the room under its name and its id.
        let r = issue(&t, &key, json!({"room": name(i), "identity": "u"}));
        assert_eq!(r.status, 200, "{}", r.json);
        // Room 0 is in use all along.
        let (r, trips) = before_response(&t, || issue(&t, &key, json!({"room": name(0), "identity": "u"})));
        assert_eq!((r.status, trips), (200, NONE), "room 0, in use, was evicted at room {i}: {}", r.json);
        let (held, bytes) = t.app.cache.rooms.held();
        assert!(bytes <= ROOM_CACHE_BYTES, "{bytes} bytes > {ROOM_CACHE_BYTES} at room {i}");
        assert!(held <= ROOM_CACHE_ENTRIES);
        seen_full |= bytes + 2 * 17_000 > ROOM_CACHE_BYTES;
    }
    run_background();
    assert!(seen_full, "the burst never filled the budget: {:?}", t.app.cache.rooms.held());
    let (held, _) = t.app.cache.rooms.held();
    assert!(held < 2 * rooms, "nothing was evicted: {held}");
    // The newest room is still served from memory; the oldest unused one is read again.
    let (r, trips) = before_response(&t, || issue(&t, &key, json!({"room": name(rooms - 1), "identity": "u"})));
    assert_eq!((r.status, trips), (200, NONE), "{}", r.json);
    let (r, trips) = before_response(&t, || issue(&t, &key, json!({"room": name(1), "identity": "u"})));
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(trips.d1 >= 1, "room 1 should have been evicted: {trips:?}");
}

/// An app with LiveKit (its scripted server creates rooms), a key and one room.
fn livekit_room() -> (TestApp, String, String) {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    t.native.http.respond_with(|req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        json_response(200, &json!({"sid": "RM_1", "name": body["name"], "empty_timeout": 300}))
    });
    let r = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": "big", "identity": "first"})), Some(&key));
    assert_eq!(r.status, 200, "{}", r.json);
    let room = r.json["room"].as_str().unwrap().to_owned();
    (t, key, room)
}

/// A token request for `identity` with every registry field at its largest.
fn maximal(room: &str, identity: &str) -> Value {
    json!({
        "room": room,
        "identity": format!("{identity:x<256}"),
        "display_name": "d".repeat(256),
        "metadata": metadata_of(4096),
    })
}

#[test]
fn registry_rows_with_maximal_details_stay_within_the_known_budget() {
    let (t, key, room) = livekit_room();
    let steady = maximal(&room, "steady");
    let mut seen_full = false;
    for i in 0..2_000 {
        let r = issue(&t, &key, maximal(&room, &format!("p{i}-")));
        assert_eq!(r.status, 200, "{}", r.json);
        if i % 50 == 0 {
            run_background();
            // An identity in use is remembered however many others arrive.
            let (r, trips) = before_response(&t, || issue(&t, &key, steady.clone()));
            assert_eq!(r.status, 200, "{}", r.json);
            assert!(i < 100 || trips == NONE, "the identity in use was forgotten at {i}: {trips:?}");
        }
        let (held, bytes) = t.app.registry.known_held();
        assert!(bytes <= KNOWN_BYTES, "{bytes} > {KNOWN_BYTES} with {held} rows at {i}");
        assert!(t.app.registry.pending_bytes() <= PENDING_BYTES);
        seen_full |= bytes + 7_000 > KNOWN_BYTES;
    }
    run_background();
    assert!(seen_full, "the burst never filled the budget: {:?}", t.app.registry.known_held());
    assert_eq!(t.app.registry.pending(), 0);
    // The newest row is known (a repeat writes nothing); the oldest was forgotten and its
    // repeat writes again (after the response).
    let (_, trips) = before_response(&t, || issue(&t, &key, maximal(&room, "p1999-")));
    assert_eq!(trips, NONE);
    let r = issue(&t, &key, maximal(&room, "p0-"));
    assert_eq!(r.status, 200);
    assert_eq!(t.app.registry.pending(), 1, "a forgotten row is written once more");
    run_background();
}

#[test]
fn a_full_queue_writes_before_answering_and_loses_nothing() {
    let (t, key, room) = livekit_room();
    run_background();
    let identity = |i: usize| format!("{:x<256}", format!("q{i}-"));
    // Nothing flushes meanwhile (work after the response is left pending): the queue fills.
    let mut queued = 0;
    loop {
        let (r, trips) = before_response(&t, || issue(&t, &key, maximal(&room, &format!("q{queued}-"))));
        assert_eq!(r.status, 200, "{}", r.json);
        if trips != NONE {
            // Over the bound: this row was written before the answer, in one round trip.
            assert_eq!(trips, RoundTrips { d1: 1, ..NONE }, "at {queued}");
            break;
        }
        queued += 1;
        assert!(t.app.registry.pending_bytes() <= PENDING_BYTES);
        assert!(queued < 10_000, "the queue never filled");
    }
    assert_eq!(t.app.registry.pending(), queued, "the overflowing row was not queued");
    assert!(registered(&t, &room, &identity(queued)).is_some(), "written before the answer");
    assert!(registered(&t, &room, &identity(0)).is_none(), "the queued rows wait for their flush");

    // While it stays full every new row is written at once; a write that fails fails its
    // request (the client retries) and drops nothing queued.
    t.native.counters.fail_next_writes(1);
    let (r, _) = before_response(&t, || issue(&t, &key, maximal(&room, "failing-")));
    assert!(r.status >= 500, "{} {}", r.status, r.json);
    assert_eq!(t.app.registry.pending(), queued);
    let (r, trips) = before_response(&t, || issue(&t, &key, maximal(&room, "failing-")));
    assert_eq!((r.status, trips), (200, RoundTrips { d1: 1, ..NONE }), "{}", r.json);

    // The flush writes everything that was queued.
    run_background();
    assert_eq!(t.app.registry.pending(), 0);
    assert_eq!(t.app.registry.pending_bytes(), 0);
    for i in 0..=queued {
        assert!(registered(&t, &room, &identity(i)).is_some(), "row {i} was lost");
    }
    assert!(registered(&t, &room, &format!("{:x<256}", "failing-")).is_some());
}

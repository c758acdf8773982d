//! Agora uids from blocks: isolates (each its own `App` on one database) give uids from blocks
//! of a room's uids they reserved, so a uid is never given to two identities of a room, not
//! across isolates and not after an isolate is gone; an identity two isolates gave two uids is
//! that identity under both, for kick, ban, mute, the participant list and events.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use rtcgate::app::App;
use rtcgate::http::ApiRequest;
use rtcgate::native::{block_on, json_response, run_background};
use rtcgate::store::participants;
use rtcgate::store::uid_blocks::{FIRST_BLOCK, MAX_UID};
use serde_json::{json, Value};
use support::{app_with, Reply, TestApp, AGORA};

/// A request through `isolate`: its own memory, the test's database and clock.
fn call_on(isolate: &Rc<App>, t: &TestApp, path: &str, body: Value, key: &str) -> Reply {
    let req = ApiRequest::new("POST", path).with_header("authorization", &format!("Bearer {key}")).with_json(&body);
    let response = block_on(isolate.handle(&t.native.runtime, req));
    let json = response.json_body();
    Reply { status: response.status, json, response }
}

/// The uid a token for `identity` minted through `isolate` carries.
fn uid_from(isolate: &Rc<App>, t: &TestApp, key: &str, room: &str, identity: &str) -> u32 {
    let r = call_on(isolate, t, "/v1/rtc/token/issue", json!({"room": room, "identity": identity}), key);
    assert_eq!(r.status, 200, "{}", r.json);
    let uid = r.json["join"]["uid"].as_u64().expect("an Agora join carries a uid");
    assert!((1..=MAX_UID).contains(&uid), "{uid} is within Agora's range");
    uid as u32
}

fn agora_room(t: &TestApp, key: &str) -> String {
    t.room_on(key, "class", "agora")
}

#[test]
fn isolates_minting_for_overlapping_identities_never_give_one_uid_to_two_identities() {
    let t = TestApp::new(&[AGORA]);
    let (project, key) = t.project_and_key();
    let room = agora_room(&t, &key);
    let isolates = [t.app.clone(), app_with(&[AGORA]), app_with(&[AGORA])];
    // Each isolate mints for the same 40 identities, interleaved: several blocks each.
    let mut given: HashMap<u32, String> = HashMap::new();
    let mut per_isolate: Vec<HashMap<String, u32>> = vec![HashMap::new(); isolates.len()];
    for n in 0..40 {
        let identity = format!("p{n}");
        for (i, isolate) in isolates.iter().enumerate() {
            let uid = uid_from(isolate, &t, &key, &room, &identity);
            if let Some(other) = given.insert(uid, identity.clone()) {
                assert_eq!(other, identity, "uid {uid} given to two identities");
            }
            per_isolate[i].insert(identity.clone(), uid);
        }
    }
    assert_eq!(given.len(), 3 * 40, "each isolate gave each identity its own uid");
    // Within an isolate an identity keeps its uid.
    for (i, isolate) in isolates.iter().enumerate() {
        for identity in ["p0", "p17", "p39"] {
            assert_eq!(uid_from(isolate, &t, &key, &room, identity), per_isolate[i][identity], "isolate {i}");
        }
    }
    run_background();
    // The registry records every uid an identity was given, and maps each back to it.
    for n in 0..40 {
        let identity = format!("p{n}");
        let uids = block_on(participants::uids_of(&t.native.runtime, &room, &identity)).unwrap();
        let expected: BTreeSet<u32> = per_isolate.iter().map(|m| m[&identity]).collect();
        assert_eq!(uids.into_iter().collect::<BTreeSet<u32>>(), expected, "{identity}");
    }
    let all: Vec<u32> = given.keys().copied().collect();
    let registered = block_on(participants::by_uids(&t.native.runtime, &room, &all)).unwrap();
    for (uid, identity) in &given {
        assert_eq!(registered.get(uid).map(|r| r.identity.as_str()), Some(identity.as_str()), "uid {uid}");
        let one = block_on(participants::by_uid_one(&t.native.runtime, &room, *uid)).unwrap();
        assert_eq!(one.as_deref(), Some(identity.as_str()));
    }
    // The isolates go (evicted): their blocks' unused uids are burnt. A fresh isolate and a
    // recording's bot get uids no block ever held.
    let highest = *given.keys().max().unwrap();
    let fresh = app_with(&[AGORA]);
    let again = uid_from(&fresh, &t, &key, &room, "p0");
    let newcomer = uid_from(&fresh, &t, &key, &room, "newcomer");
    let bot = block_on(participants::register_bot(&t.native.runtime, &project, &room, "rec_1")).unwrap();
    for uid in [again, newcomer, bot] {
        assert!(!given.contains_key(&uid), "{uid} was given before");
    }
    // Each of the three gone isolates held at least one block past `highest`'s, unused.
    assert!(again > highest, "a fresh block starts past every block reserved before: {again}");
    assert!(bot >= newcomer + FIRST_BLOCK - 1, "the bot's uid follows the fresh isolate's block: {bot}");
    run_background();
    let p0 = block_on(participants::uids_of(&t.native.runtime, &room, "p0")).unwrap();
    assert_eq!(p0.len(), 4, "three isolates and the fresh one: {p0:?}");
    assert!(!p0.contains(&bot));
}

/// Agora answering: the user list holds `present`; kicking rules get increasing ids. Every
/// call is recorded as (path, body).
fn agora_with(t: &TestApp, present: Rc<RefCell<Vec<u32>>>) -> Rc<RefCell<Vec<(String, Value)>>> {
    let calls = Rc::new(RefCell::new(Vec::new()));
    let seen = calls.clone();
    let next_id = Rc::new(Cell::new(500u64));
    t.native.http.respond_with(move |req| {
        let body = req.body.as_deref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
        let path = req.url.split("/dev/v1/").nth(1).unwrap_or_default().split('/').next().unwrap_or_default();
        seen.borrow_mut().push((path.to_owned(), body));
        if req.url.contains("/dev/v1/channel/user/") {
            let users = present.borrow().clone();
            return json_response(
                200,
                &json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": users.len(), "users": users}}),
            );
        }
        if req.url.contains("/dev/v1/kicking-rule") {
            next_id.set(next_id.get() + 1);
            return json_response(200, &json!({"status": "success", "id": next_id.get()}));
        }
        json_response(200, &json!({"success": true}))
    });
    calls
}

/// The uids of the kicking rules created since the last look, in order.
fn rules_for(calls: &Rc<RefCell<Vec<(String, Value)>>>) -> Vec<u64> {
    let out = calls
        .borrow()
        .iter()
        .filter(|(path, body)| path == "kicking-rule" && body.get("uid").is_some())
        .map(|(_, body)| body["uid"].as_u64().unwrap())
        .collect();
    calls.borrow_mut().clear();
    out
}

#[test]
fn an_identity_holding_two_uids_is_kicked_banned_muted_listed_and_named_under_both() {
    let t = TestApp::new(&[AGORA]);
    let (_, key) = t.project_and_key();
    let present = Rc::new(RefCell::new(Vec::new()));
    let calls = agora_with(&t, present.clone());
    let room = agora_room(&t, &key);
    let other = app_with(&[AGORA]);
    let here = uid_from(&t.app, &t, &key, &room, "alice");
    let there = uid_from(&other, &t, &key, &room, "alice");
    let bob = uid_from(&other, &t, &key, &room, "bob");
    assert_ne!(here, there, "two isolates, two uids");
    run_background();
    *present.borrow_mut() = vec![here, bob, there];

    // The list shows alice once, and bob.
    let list = t.call("GET", &format!("/v1/rtc/participant/list/{room}"), None, Some(&key));
    assert_eq!(list.status, 200, "{}", list.json);
    let names: Vec<&str> =
        list.json["items"].as_array().unwrap().iter().map(|p| p["identity"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob"]);

    // Kick reaches both of alice's sessions, and only hers.
    calls.borrow_mut().clear();
    let kick =
        t.call("POST", &format!("/v1/rtc/participant/kick/{room}"), Some(json!({"identity": "alice"})), Some(&key));
    assert_eq!(kick.status, 200, "{}", kick.json);
    let mut kicked = rules_for(&calls);
    kicked.sort_unstable();
    let mut both = vec![u64::from(here), u64::from(there)];
    both.sort_unstable();
    assert_eq!(kicked, both);
    // Only the uid still in the channel is kicked; with neither there, alice is not found.
    *present.borrow_mut() = vec![there, bob];
    let kick =
        t.call("POST", &format!("/v1/rtc/participant/kick/{room}"), Some(json!({"identity": "alice"})), Some(&key));
    assert_eq!(kick.status, 200, "{}", kick.json);
    assert_eq!(rules_for(&calls), [u64::from(there)]);
    *present.borrow_mut() = vec![bob];
    let kick =
        t.call("POST", &format!("/v1/rtc/participant/kick/{room}"), Some(json!({"identity": "alice"})), Some(&key));
    assert_eq!((kick.status, kick.code()), (404, "PARTICIPANT_NOT_FOUND"), "{}", kick.json);

    // A hard mute rules on both uids.
    let mute = t.call(
        "POST",
        &format!("/v1/rtc/participant/mute/{room}"),
        Some(json!({"identity": "alice", "media": ["audio"], "muted": true})),
        Some(&key),
    );
    assert_eq!(mute.status, 200, "{}", mute.json);
    let mut muted = rules_for(&calls);
    muted.sort_unstable();
    assert_eq!(muted, both);

    // A ban rules on both uids (Agora's join_channel rule per uid).
    let ban = t.call(
        "POST",
        &format!("/v1/rtc/participant/ban/{room}"),
        Some(json!({"identity": "alice", "duration_s": 600, "kick": false})),
        Some(&key),
    );
    assert_eq!(ban.status, 201, "{}", ban.json);
    let mut banned = rules_for(&calls);
    banned.sort_unstable();
    assert_eq!(banned, both);
    // Lifting it removes every rule it set.
    let ban_id = ban.json["ban"].as_str().unwrap();
    let lift = t.call("DELETE", &format!("/v1/rtc/ban/delete/{ban_id}"), None, Some(&key));
    assert_eq!(lift.status, 200, "{}", lift.json);
    let deleted = calls.borrow().iter().filter(|(path, _)| path == "kicking-rule").count();
    assert_eq!(deleted, 2, "{:?}", calls.borrow());

    // Events for either uid are alice's.
    for uid in [here, there] {
        let who = block_on(participants::by_uid_one(&t.native.runtime, &room, uid)).unwrap();
        assert_eq!(who.as_deref(), Some("alice"));
    }
}

#[test]
fn a_lost_deferred_write_leaves_its_uid_unnamed_and_never_anyone_elses() {
    let t = TestApp::new(&[AGORA]);
    let (_, key) = t.project_and_key();
    let room = agora_room(&t, &key);
    // An isolate gives alice a uid, then every write of its registry rows fails until it is
    // evicted: the row is lost.
    let doomed = app_with(&[AGORA]);
    t.native.db.fail_statements_containing(Some("FROM json_each(?2) AS e"));
    let lost = uid_from(&doomed, &t, &key, &room, "alice");
    run_background();
    assert_eq!(doomed.registry.pending(), 1, "still queued in the isolate, after every retry failed");
    drop(doomed);
    t.native.db.fail_statements_containing(None);

    // Another isolate serves alice and bob: neither gets the lost uid, nor does any later one.
    let fresh = app_with(&[AGORA]);
    let alice = uid_from(&fresh, &t, &key, &room, "alice");
    let bob = uid_from(&fresh, &t, &key, &room, "bob");
    let others: Vec<u32> = (0..40).map(|n| uid_from(&fresh, &t, &key, &room, &format!("q{n}"))).collect();
    run_background();
    assert!(alice != lost && bob != lost && !others.contains(&lost));
    // The cost: D1 never learned the lost uid, so it maps to nobody (an event for it carries the
    // bare uid) and alice's kick reaches only the uid recorded since.
    assert_eq!(block_on(participants::by_uid_one(&t.native.runtime, &room, lost)).unwrap(), None);
    assert_eq!(block_on(participants::uids_of(&t.native.runtime, &room, "alice")).unwrap(), [alice]);
    assert_eq!(block_on(participants::by_uid_one(&t.native.runtime, &room, bob)).unwrap().as_deref(), Some("bob"));
}

#[test]
fn uids_stay_within_agoras_range_and_a_room_past_it_refuses_new_identities() {
    let t = TestApp::new(&[AGORA]);
    let (project, key) = t.project_and_key();
    let room = agora_room(&t, &key);
    // A room whose counter is 6 uids short of Agora's highest.
    t.native.db.exec_raw(&format!(
        "INSERT INTO agora_uid_blocks (project_id, room_id, next_uid) VALUES ('{project}', '{room}', {})",
        MAX_UID - 5
    ));
    let mut given = Vec::new();
    for n in 0..6 {
        given.push(u64::from(uid_from(&t.app, &t, &key, &room, &format!("late{n}"))));
    }
    assert_eq!(given, ((MAX_UID - 5)..=MAX_UID).collect::<Vec<u64>>(), "the block is cut at Agora's highest uid");
    let refused =
        t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": room, "identity": "one-too-many"})), Some(&key));
    assert_eq!((refused.status, refused.code()), (422, "QUOTA_EXCEEDED"), "{}", refused.json);
    assert_eq!(refused.json["error"]["quota"], "agora_uids_per_room");
    // Those who have a uid keep it.
    assert_eq!(u64::from(uid_from(&t.app, &t, &key, &room, "late0")), MAX_UID - 5);
    // A recording's bot cannot take a uid past the range either.
    let bot = block_on(participants::register_bot(&t.native.runtime, &project, &room, "rec_1"));
    assert_eq!(bot.unwrap_err().code, rtcgate::error::ErrorCode::QuotaExceeded);
}

#[test]
fn a_kick_right_after_the_token_reaches_the_uid_its_isolate_gave_before_the_row_lands() {
    let t = TestApp::new(&[AGORA]);
    let (_, key) = t.project_and_key();
    let present = Rc::new(RefCell::new(Vec::new()));
    let calls = agora_with(&t, present.clone());
    let room = agora_room(&t, &key);
    // The row does not land meanwhile (its writes fail, and stay queued).
    t.native.db.fail_statements_containing(Some("FROM json_each(?2) AS e"));
    let body = json!({"room": room, "identity": "alice"});
    let r = t.call_respond_only("POST", "/v1/rtc/token/issue", Some(body), Some(&key));
    assert_eq!(r.status, 200, "{}", r.json);
    let uid = r.json["join"]["uid"].as_u64().unwrap();
    *present.borrow_mut() = vec![uid as u32];
    calls.borrow_mut().clear();
    let path = format!("/v1/rtc/participant/kick/{room}");
    let kick = t.call_respond_only("POST", &path, Some(json!({"identity": "alice"})), Some(&key));
    assert_eq!(kick.status, 200, "{}", kick.json);
    assert_eq!(rules_for(&calls), [uid]);
    let recorded = block_on(participants::uids_of(&t.native.runtime, &room, "alice")).unwrap();
    assert!(recorded.is_empty(), "D1 had no row for the uid: {recorded:?}");
}

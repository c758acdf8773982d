//! Session history and presence, natively: vendor events in (LiveKit and Agora, signed as the
//! vendors sign them), `GET /v1/rtc/session/list|get/{session}` and `GET /v1/rtc/presence`
//! out. Filters, keyset paging across pages, open sessions lasting until now, rooms that end
//! or are deleted, another project's sessions, and bad parameters.

mod support;

use hmac::{Hmac, Mac};
use rtcgate::http::ApiRequest;
use rtcgate::native::json_response;
use serde_json::{json, Value};
use sha2::Sha256;
use support::{livekit_webhook, Reply, TestApp, AGORA, LIVEKIT, NOW_MS};

const NCS_SECRET: &str = "ncs-secret-for-tests";
const EVENTS: &[(&str, &str)] = &[("AGORA_NCS_SECRET", NCS_SECRET)];
const NOW_S: u64 = NOW_MS / 1000;

fn app() -> TestApp {
    TestApp::new(&[LIVEKIT, AGORA, EVENTS])
}

/// A LiveKit participant event: `identity` (participant `sid`) joined at `joined_ms`, the
/// server stamping the event at `created_s`.
fn lk_participant(t: &TestApp, event: &str, room: &str, identity: &str, sid: &str, joined_ms: u64, created_s: u64) {
    let body = json!({"event": event, "room": {"sid": "RM_1", "name": room},
                      "participant": {"sid": sid, "identity": identity,
                                      "joinedAt": (joined_ms / 1000).to_string(), "joinedAtMs": joined_ms.to_string()},
                      "id": format!("EV_{event}_{sid}"), "createdAt": created_s.to_string()})
    .to_string();
    let r = t.send(livekit_webhook(&body));
    assert_eq!(r.status, 200, "{}", r.json);
}

fn lk_room_finished(t: &TestApp, room: &str, created_s: u64) {
    let body = json!({"event": "room_finished", "room": {"sid": "RM_1", "name": room},
                      "id": format!("EV_finished_{room}"), "createdAt": created_s.to_string()})
    .to_string();
    assert_eq!(t.send(livekit_webhook(&body)).status, 200);
}

fn get(t: &TestApp, key: &str, path: &str) -> Reply {
    t.call("GET", path, None, Some(key))
}

fn list(t: &TestApp, key: &str, query: &str) -> Value {
    let r = get(t, key, &format!("/v1/rtc/session/list{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.json);
    r.json
}

/// `(identity, room)` of each item.
fn who_where(page: &Value) -> Vec<(String, String)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["identity"].as_str().unwrap().to_owned(), s["room"].as_str().unwrap().to_owned()))
        .collect()
}

fn presence(t: &TestApp, key: &str, identity: &str) -> Value {
    let r = get(t, key, &format!("/v1/rtc/presence?identity={identity}"));
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

fn presence_rooms(t: &TestApp, key: &str, identity: &str) -> Vec<String> {
    presence(t, key, identity)["rooms"].as_array().unwrap().iter().map(|r| r["room"].as_str().unwrap().into()).collect()
}

/// Two LiveKit rooms: alice joins `a` at +1 s, bob `a` at +2 s, alice `b` at +3 s, carol `b`
/// at +4 s; the clock stands at +10 s.
fn four_sessions(t: &TestApp, key: &str) -> (String, String) {
    let (a, b) = (t.livekit_room(key, "a"), t.livekit_room(key, "b"));
    for (i, (identity, room)) in [("alice", &a), ("bob", &a), ("alice", &b), ("carol", &b)].iter().enumerate() {
        let at = NOW_MS + 1_000 * (i as u64 + 1);
        lk_participant(t, "participant_joined", room, identity, &format!("PA_{i}"), at, at / 1000);
    }
    t.native.clock.advance_ms(10_000);
    (a, b)
}

#[test]
fn sessions_are_listed_newest_join_first_filtered_and_paged() {
    let t = app();
    let key = t.project_key();
    let (a, b) = four_sessions(&t, &key);

    let all = list(&t, &key, "");
    let pairs = |v: &[(&str, &String)]| v.iter().map(|(i, r)| (i.to_string(), r.to_string())).collect::<Vec<_>>();
    assert_eq!(who_where(&all), pairs(&[("carol", &b), ("alice", &b), ("bob", &a), ("alice", &a)]));
    assert!(all["next_cursor"].is_null());
    let first = &all["items"][3];
    assert_eq!(first["vendor"], "livekit");
    assert_eq!(first["joined_at"], "2023-11-14T22:13:21Z");
    assert!(first["left_at"].is_null());
    // Open: in the room from +1 s until now (+10 s).
    assert_eq!(first["duration_s"], 9);
    let id = first["session"].as_str().unwrap();
    assert!(id.starts_with("ses_") && id.len() == 26, "{id}");

    // Paging: two pages of two, then a last one; every session once, in the same order.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = list(&t, &key, &format!("?limit=2&cursor={cursor}"));
        seen.extend(who_where(&page));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!((pages, seen), (2, who_where(&all)));
    let page = list(&t, &key, "?limit=3");
    let cursor = page["next_cursor"].as_str().unwrap();
    assert_eq!(who_where(&list(&t, &key, &format!("?limit=3&cursor={cursor}"))), pairs(&[("alice", &a)]));

    // Filters: a room (by id or by name), an identity, both, and the join time.
    assert_eq!(who_where(&list(&t, &key, &format!("?room={a}"))), pairs(&[("bob", &a), ("alice", &a)]));
    assert_eq!(who_where(&list(&t, &key, "?room=b")), pairs(&[("carol", &b), ("alice", &b)]));
    assert_eq!(who_where(&list(&t, &key, "?identity=alice")), pairs(&[("alice", &b), ("alice", &a)]));
    assert_eq!(who_where(&list(&t, &key, &format!("?room={a}&identity=alice"))), pairs(&[("alice", &a)]));
    let identity_page = list(&t, &key, "?identity=alice&limit=1");
    let cursor = identity_page["next_cursor"].as_str().unwrap();
    assert_eq!(
        who_where(&list(&t, &key, &format!("?identity=alice&limit=1&cursor={cursor}"))),
        pairs(&[("alice", &a)])
    );
    // Joins at +2 s and +3 s: `from` is included, `to` is not.
    let window = "?from=2023-11-14T22:13:22Z&to=2023-11-14T22:13:24Z";
    assert_eq!(who_where(&list(&t, &key, window)), pairs(&[("alice", &b), ("bob", &a)]));
    assert_eq!(who_where(&list(&t, &key, &format!("{window}&room={a}"))), pairs(&[("bob", &a)]));
    assert_eq!(who_where(&list(&t, &key, "?from=2023-11-15")), Vec::<(String, String)>::new());
    // A deleted room's id still filters; an id no room ever had is an empty page.
    assert!(list(&t, &key, "?room=rm_0000000000000000000000")["items"].as_array().unwrap().is_empty());
}

#[test]
fn a_session_is_got_by_id_and_closes_with_its_leave() {
    let t = app();
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    lk_participant(&t, "participant_joined", &room, "alice", "PA_1", NOW_MS, NOW_S);
    t.native.clock.advance_ms(30_000);
    let listed = list(&t, &key, "")["items"][0].clone();
    let id = listed["session"].as_str().unwrap().to_owned();
    let got = get(&t, &key, &format!("/v1/rtc/session/get/{id}"));
    assert_eq!(got.status, 200, "{}", got.json);
    assert_eq!(got.json, listed);
    assert_eq!(got.json["duration_s"], 30);

    // 70 s after the join the leave arrives: closed, and its duration stops growing.
    lk_participant(&t, "participant_left", &room, "alice", "PA_1", NOW_MS, NOW_S + 70);
    t.native.clock.advance_ms(100_000);
    let got = get(&t, &key, &format!("/v1/rtc/session/get/{id}"));
    assert_eq!(got.json["session"], id.as_str(), "the id stays when the row is written again");
    assert_eq!(
        (got.json["left_at"].as_str(), got.json["duration_s"].as_i64()),
        (Some("2023-11-14T22:14:30Z"), Some(70))
    );

    for missing in ["ses_0000000000000000000000", "nope"] {
        let r = get(&t, &key, &format!("/v1/rtc/session/get/{missing}"));
        assert_eq!((r.status, r.code()), (404, "SESSION_NOT_FOUND"), "{}", r.json);
        assert_eq!(r.json["error"]["session"], missing);
    }
}

#[test]
fn presence_follows_joins_leaves_finished_and_deleted_rooms() {
    let t = app();
    let key = t.project_key();
    let (a, b) = four_sessions(&t, &key);
    let now = presence(&t, &key, "alice");
    assert_eq!(now["identity"], "alice");
    assert_eq!(now["truncated"], false);
    assert_eq!(presence_rooms(&t, &key, "alice"), [b.clone(), a.clone()]);
    let in_b = &now["rooms"][0];
    assert_eq!((in_b["vendor"].as_str(), in_b["joined_at"].as_str()), (Some("livekit"), Some("2023-11-14T22:13:23Z")));
    let session = get(&t, &key, &format!("/v1/rtc/session/get/{}", in_b["session"].as_str().unwrap()));
    assert_eq!((session.json["room"].as_str(), session.json["identity"].as_str()), (Some(b.as_str()), Some("alice")));
    assert!(presence_rooms(&t, &key, "dave").is_empty());

    // alice leaves b; room a finishes (everyone in it is out); carol is in b until it is deleted.
    lk_participant(&t, "participant_left", &b, "alice", "PA_2", NOW_MS + 3_000, NOW_S + 5);
    assert_eq!(presence_rooms(&t, &key, "alice"), vec![a.clone()]);
    lk_room_finished(&t, &a, NOW_S + 6);
    assert!(presence_rooms(&t, &key, "alice").is_empty());
    assert!(presence_rooms(&t, &key, "bob").is_empty());
    let bob = list(&t, &key, "?identity=bob")["items"][0].clone();
    assert_eq!((bob["left_at"].as_str(), bob["duration_s"].as_i64()), (Some("2023-11-14T22:13:26Z"), Some(4)));

    assert_eq!(presence_rooms(&t, &key, "carol"), vec![b.clone()]);
    t.native.http.respond_with(|_| json_response(200, &json!({})));
    let r = t.call("DELETE", &format!("/v1/rtc/room/delete/{b}"), None, Some(&key));
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(presence_rooms(&t, &key, "carol").is_empty(), "a deleted room has no one in it");
    // Its history stays, by the room's id.
    assert_eq!(who_where(&list(&t, &key, &format!("?room={b}"))).len(), 2);
}

#[test]
fn another_projects_sessions_are_invisible() {
    let t = app();
    let key = t.project_key();
    four_sessions(&t, &key);
    let id = list(&t, &key, "")["items"][0]["session"].as_str().unwrap().to_owned();

    let other = t.project_key();
    assert!(list(&t, &other, "")["items"].as_array().unwrap().is_empty());
    assert!(list(&t, &other, "?identity=alice")["items"].as_array().unwrap().is_empty());
    assert!(presence_rooms(&t, &other, "alice").is_empty());
    // Not found, not forbidden: another project's ids are not confirmed to exist.
    let r = get(&t, &other, &format!("/v1/rtc/session/get/{id}"));
    assert_eq!((r.status, r.code()), (404, "SESSION_NOT_FOUND"));
    // Its room, by name, is no room of this project.
    let r = get(&t, &other, "/v1/rtc/session/list?room=a");
    assert_eq!((r.status, r.code()), (404, "ROOM_NOT_FOUND"));
    assert_eq!(get(&t, &key, &format!("/v1/rtc/session/get/{id}")).status, 200);
}

/// An Agora participant is reported by uid; its session is its identity's.
#[test]
fn an_agora_session_is_its_identitys() {
    let t = app();
    let key = t.project_key();
    let r = t.call(
        "POST",
        "/v1/rtc/token/issue",
        Some(json!({"room": "class", "identity": "alice", "vendor": "agora"})),
        Some(&key),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let (room, uid) = (r.json["room"].as_str().unwrap().to_owned(), r.json["join"]["uid"].as_u64().unwrap());
    let join = json!({"noticeId": "n-1", "productId": 1, "eventType": 103, "notifyMs": NOW_MS,
                      "payload": {"channelName": room, "uid": uid, "platform": 7, "clientSeq": 1, "ts": NOW_S}})
    .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(NCS_SECRET.as_bytes()).unwrap();
    mac.update(join.as_bytes());
    let sig: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let mut req = ApiRequest::new("POST", "/v1/vendor-events/agora")
        .with_header("agora-signature-v2", &sig)
        .with_header("content-type", "application/json");
    req.body = join.into_bytes();
    assert_eq!(t.send(req).status, 200);

    let items = list(&t, &key, "?identity=alice")["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    assert_eq!((items[0]["vendor"].as_str(), items[0]["room"].as_str()), (Some("agora"), Some(room.as_str())));
    assert_eq!(presence_rooms(&t, &key, "alice"), [room]);
}

#[test]
fn bad_parameters_are_envelopes_naming_the_field() {
    let t = app();
    let key = t.project_key();
    let cases: &[(&str, u16, &str, &str)] = &[
        ("/v1/rtc/session/list?limit=0", 400, "INVALID_REQUEST", "limit"),
        ("/v1/rtc/session/list?limit=101", 400, "INVALID_REQUEST", "limit"),
        ("/v1/rtc/session/list?cursor=01.x", 400, "INVALID_REQUEST", "cursor"),
        ("/v1/rtc/session/list?from=yesterday", 400, "INVALID_REQUEST", "from"),
        ("/v1/rtc/session/list?to=2023-13-01", 400, "INVALID_REQUEST", "to"),
        ("/v1/rtc/session/list?from=2023-11-15&to=2023-11-14", 422, "CONFLICTING_FIELDS", "from"),
        ("/v1/rtc/session/list?from=2023-11-14&to=2023-11-14", 422, "CONFLICTING_FIELDS", "from"),
        ("/v1/rtc/session/list?identity=", 400, "INVALID_REQUEST", "identity"),
        ("/v1/rtc/session/list?status=open", 400, "UNKNOWN_FIELD", "status"),
        ("/v1/rtc/presence", 400, "INVALID_REQUEST", "identity"),
        ("/v1/rtc/presence?identity=a%09b", 400, "INVALID_REQUEST", "identity"),
        ("/v1/rtc/presence?identity=alice&room=a", 400, "UNKNOWN_FIELD", "room"),
        ("/v1/rtc/session/get/ses_x?identity=alice", 400, "UNKNOWN_FIELD", "identity"),
    ];
    for (path, status, code, field) in cases {
        let r = get(&t, &key, path);
        assert_eq!((r.status, r.code()), (*status, *code), "{path}: {}", r.json);
        assert_eq!(r.json["error"]["field"], *field, "{path}: {}", r.json);
    }
    let long = "u".repeat(300);
    let r = get(&t, &key, &format!("/v1/rtc/presence?identity={long}"));
    assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some("identity")));
    let r = get(&t, &key, "/v1/rtc/session/list?room=nowhere");
    assert_eq!((r.status, r.code()), (404, "ROOM_NOT_FOUND"));
    for path in ["/v1/rtc/session/list", "/v1/rtc/presence?identity=alice", "/v1/rtc/session/get/ses_x"] {
        assert_eq!(t.call("GET", path, None, None).status, 401, "{path}");
        assert_eq!(t.call("POST", path, None, Some(&key)).status, 405, "{path}");
    }
}

/// Sessions recorded before migration 0021 get a public id of the same form when it runs, each
/// its own; rows written after it get theirs from the store.
#[test]
fn the_migration_gives_earlier_sessions_their_ids() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "sql"));
    files.sort();
    let (before, from): (Vec<_>, Vec<_>) =
        files.into_iter().partition(|p| p.file_name().unwrap().to_str().unwrap() < "0021");
    assert!(from.first().is_some_and(|p| p.ends_with("0021_sessions.sql")), "{from:?}");
    let db = rusqlite::Connection::open_in_memory().unwrap();
    for file in &before {
        db.execute_batch(&std::fs::read_to_string(file).unwrap()).unwrap();
    }
    db.execute_batch(
        "INSERT INTO participant_sessions (room_id, session_key, project_id, identity, joined_at_ms) VALUES \
         ('rm_1', 'PA_1', 'prj_a', 'alice', 1), ('rm_1', 'PA_2', 'prj_a', 'bob', 2)",
    )
    .unwrap();
    for file in &from {
        db.execute_batch(&std::fs::read_to_string(file).unwrap()).unwrap();
    }
    let mut read = db.prepare("SELECT id FROM participant_sessions ORDER BY session_key").unwrap();
    let ids: Vec<String> = read.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        let rest = id.strip_prefix("ses_").unwrap_or_else(|| panic!("{id}"));
        assert!(rest.len() == 22 && rest.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    }
    assert_ne!(ids[0], ids[1]);
}

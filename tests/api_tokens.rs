//! `rtc.token.issue` and the participant registry, natively. The tokens' formats are proven in
//! the end-to-end suite (`tests/e2e/tokens.test.mjs`): LiveKit's and Agora's by the vendors' own
//! libraries, ZEGO's token04 (for which ZEGO publishes no verifier) by opening it with the
//! server secret twice, independently; here: routing, grants, limits, registry uids, implicit
//! rooms.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rtcgate::native::json_response;
use serde_json::{json, Value};
use support::{TestApp, AGORA, LIVEKIT, ZEGO};

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn issue(t: &TestApp, key: &str, body: Value) -> support::Reply {
    t.call("POST", "/v1/rtc/token/issue", Some(body), Some(key))
}

#[test]
fn livekit_token_carries_the_grant_and_creates_the_room_implicitly() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    t.native.http.respond_with(|req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        json_response(
            200,
            &json!({"sid": "RM_1", "name": body["name"], "empty_timeout": 300, "creation_time": "1700000000"}),
        )
    });
    let r = issue(
        &t,
        &key,
        json!({"room": "standup", "identity": "alice", "display_name": "Alice", "ttl_s": 600, "is_admin": true, "metadata": {"team": "blue"}}),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let room = r.json["room"].as_str().unwrap().to_owned();
    assert!(room.starts_with("rm_"));
    assert_eq!((r.json["vendor"].as_str(), r.json["room_created"].as_bool()), (Some("livekit"), Some(true)));
    assert_eq!(r.json["join"], json!({"url": "wss://livekit.test", "room": room}));
    assert_eq!(r.json["expires_at"], "2023-11-14T22:23:20Z");
    let c = jwt_claims(r.json["token"].as_str().unwrap());
    assert_eq!(
        (c["iss"].as_str(), c["sub"].as_str(), c["name"].as_str()),
        (Some("APItestkey"), Some("alice"), Some("Alice"))
    );
    assert_eq!((c["nbf"].as_u64(), c["exp"].as_u64()), (Some(1_700_000_000), Some(1_700_000_600)));
    assert_eq!(c["video"]["room"], room.as_str());
    assert_eq!(c["video"]["roomJoin"], true);
    assert_eq!(c["video"]["roomAdmin"], true);
    assert_eq!(serde_json::from_str::<Value>(c["metadata"].as_str().unwrap()).unwrap(), json!({"team": "blue"}));
    assert!(!r.json.to_string().contains("livekit-secret"));

    // Same name again: same room, no second create.
    let sent = t.native.http.sent().len();
    let again = issue(&t, &key, json!({"room": "standup", "identity": "bob", "can_publish": false}));
    assert_eq!((again.json["room"].as_str(), again.json["room_created"].as_bool()), (Some(room.as_str()), Some(false)));
    assert_eq!(t.native.http.sent().len(), sent, "tokens need no vendor call");
    let c = jwt_claims(again.json["token"].as_str().unwrap());
    assert_eq!(
        (c["video"]["canPublish"].as_bool(), c["video"]["canPublishData"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(c["video"]["canSubscribe"], true);
    assert!(c["video"].get("roomAdmin").is_none());
}

#[test]
fn agora_uids_are_room_stable_and_map_back_to_identities() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let a1 = issue(&t, &key, json!({"room": "r", "identity": "alice", "display_name": "Alice"}));
    assert_eq!(a1.status, 200, "{}", a1.json);
    let b = issue(&t, &key, json!({"room": "r", "identity": "bob"}));
    let a2 = issue(&t, &key, json!({"room": "r", "identity": "alice"}));
    let (ua, ub, ua2) = (
        a1.json["join"]["uid"].as_u64().unwrap(),
        b.json["join"]["uid"].as_u64().unwrap(),
        a2.json["join"]["uid"].as_u64().unwrap(),
    );
    assert_eq!(ua, ua2);
    assert_ne!(ua, ub);
    assert_eq!(a1.json["join"]["channel"], a1.json["room"]);
    assert_eq!(a1.json["join"]["app_id"], "970CA35de60c44645bbae8a215061b33");
    assert!(a1.json["token"].as_str().unwrap().starts_with("007"));
    let room = a1.json["room"].as_str().unwrap().to_owned();

    // The vendor lists uids; the API answers with identities (and the raw uid when unknown).
    t.native.http.respond_with(move |_| {
        json_response(
            200,
            &json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": 3, "users": [ua, ub, 999]}}),
        )
    });
    let list = t.call("GET", &format!("/v1/rtc/participant/list/{room}"), None, Some(&key));
    assert_eq!(list.status, 200, "{}", list.json);
    let ids: Vec<&str> =
        list.json["items"].as_array().unwrap().iter().map(|p| p["identity"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["alice", "bob", "999"]);
    assert_eq!(list.json["items"][0]["display_name"], "Alice");
}

#[test]
fn grants_a_vendor_cannot_enforce_are_refused() {
    let t = TestApp::new(&[AGORA, ZEGO]);
    let key = t.project_key();
    for (vendor, body, field) in [
        ("agora", json!({"can_subscribe": false}), "can_subscribe"),
        ("agora", json!({"is_admin": true}), "is_admin"),
        ("zego", json!({"can_subscribe": false}), "can_subscribe"),
        ("zego", json!({"is_admin": true}), "is_admin"),
        ("zego", json!({"can_publish_data": false}), "can_publish_data"),
    ] {
        let mut b = json!({"room": format!("{vendor}-room"), "identity": "u1", "vendor": vendor});
        b.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        let r = issue(&t, &key, b);
        assert_eq!(
            (r.status, r.code(), r.json["error"]["field"].as_str()),
            (422, "GRANT_NOT_SUPPORTED", Some(field)),
            "{vendor} {body}"
        );
        assert_eq!(r.json["error"]["vendor"], vendor);
    }
    // A subscriber on ZEGO: can_publish false (data follows it by default) is fine.
    let ok =
        issue(&t, &key, json!({"room": "zego-room", "identity": "viewer", "vendor": "zego", "can_publish": false}));
    assert_eq!(ok.status, 200, "{}", ok.json);
    assert!(ok.json["token"].as_str().unwrap().starts_with("04"));
    assert_eq!(ok.json["join"]["user_id"], "viewer");
}

#[test]
fn ttl_and_identity_limits() {
    let t = TestApp::new(&[ZEGO]);
    let key = t.project_key();
    for (ttl, ok) in [(59, false), (60, true), (86_400, true), (86_401, false)] {
        let r = issue(&t, &key, json!({"room": "r", "identity": "u", "ttl_s": ttl}));
        assert_eq!(r.status == 200, ok, "ttl {ttl}: {}", r.json);
        if !ok {
            assert_eq!(r.json["error"]["field"], "ttl_s");
        }
    }
    let long = "u".repeat(65);
    let r = issue(&t, &key, json!({"room": "r", "identity": long}));
    assert_eq!(
        (r.status, r.code(), r.json["error"]["field"].as_str()),
        (422, "IDENTITY_NOT_SUPPORTED", Some("identity")),
        "well formed, over ZEGO's own limit: {}",
        r.json
    );
    let r = issue(&t, &key, json!({"room": "r", "identity": "u".repeat(257)}));
    assert_eq!((r.status, r.code()), (400, "INVALID_REQUEST"), "over the general limit: {}", r.json);
    let r = issue(&t, &key, json!({"room": "rm_0123456789abcdefABCDEF", "identity": "u"}));
    assert_eq!((r.status, r.code()), (404, "ROOM_NOT_FOUND"));
    let r = issue(&t, &key, json!({"identity": "u"}));
    assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some("room")));
}

/// The ZEGO calls sent so far, as (Action, RoomId, UserId[]) read from their query strings.
fn zego_calls(t: &TestApp) -> Vec<(String, String, String)> {
    t.native
        .http
        .sent()
        .iter()
        .map(|e| {
            let url = url::Url::parse(&e.request.url).unwrap();
            let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
            (
                param("Action").unwrap_or_default(),
                param("RoomId").unwrap_or_default(),
                param("UserId[]").unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn kick_maps_identities_and_reports_absence() {
    let t = TestApp::new(&[ZEGO]);
    let key = t.project_key();
    let issued = issue(&t, &key, json!({"room": "r", "identity": "alice"}));
    let room = issued.json["room"].as_str().unwrap().to_owned();
    t.native.http.respond_with(|req| {
        let alice = req.url.contains("UserId%5B%5D=alice") || req.url.contains("UserId[]=alice");
        if alice && req.url.contains("Action=DescribeUsers&") {
            let status = json!([{"UserId": "alice", "Status": 1, "LoginTime": 1, "UserRole": 1}]);
            json_response(200, &json!({"Code": 0, "RequestId": "r0", "Data": {"UserStatusList": status}}))
        } else if alice {
            json_response(200, &json!({"Code": 0, "Message": "success", "RequestId": "r1"}))
        } else {
            json_response(200, &json!({"Code": 105, "Message": "user not online", "RequestId": "r2"}))
        }
    });
    t.native.http.clear();
    let ok =
        t.call("POST", &format!("/v1/rtc/participant/kick/{room}"), Some(json!({"identity": "alice"})), Some(&key));
    assert_eq!((ok.status, ok.json.clone()), (200, json!({"ok": true})), "{}", ok.json);
    // The presence check, then the kick itself, both about alice in this room.
    assert_eq!(
        zego_calls(&t),
        [
            ("DescribeUsers".to_owned(), room.clone(), "alice".to_owned()),
            ("KickoutUser".to_owned(), room.clone(), "alice".to_owned())
        ]
    );
    t.native.http.clear();
    let gone =
        t.call("POST", &format!("/v1/rtc/participant/kick/{room}"), Some(json!({"identity": "carol"})), Some(&key));
    assert_eq!((gone.status, gone.code()), (404, "PARTICIPANT_NOT_FOUND"));
    assert_eq!(
        zego_calls(&t),
        [("DescribeUsers".to_owned(), room.clone(), "carol".to_owned())],
        "someone absent is not kicked"
    );
    let other = t.call(
        "POST",
        &format!("/v1/rtc/participant/kick/{room}"),
        Some(json!({"identity": "alice", "room": "elsewhere"})),
        Some(&key),
    );
    assert_eq!(
        (other.status, other.code(), other.json["error"]["field"].as_str()),
        (422, "CONFLICTING_FIELDS", Some("room"))
    );
}

#[test]
fn a_refused_token_leaves_no_room_and_no_registry_entry() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let r = issue(&t, &key, json!({"room": "fresh", "identity": "u1", "can_subscribe": false}));
    assert_eq!((r.status, r.code()), (422, "GRANT_NOT_SUPPORTED"));
    let long = issue(&t, &key, json!({"room": "fresh", "identity": "x".repeat(256)}));
    assert_eq!(
        (long.status, long.code(), long.json["error"]["field"].as_str()),
        (422, "IDENTITY_NOT_SUPPORTED", Some("identity"))
    );
    let rooms = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!(rooms.json["items"], json!([]), "no room was created for refused tokens");
    let id_shaped = issue(&t, &key, json!({"room": "x".repeat(129), "identity": "u1"}));
    assert_eq!((id_shaped.status, id_shaped.json["error"]["field"].as_str()), (400, Some("room")));

    // Then a good token for the same name creates it, and the registry starts at uid 1.
    let ok = issue(&t, &key, json!({"room": "fresh", "identity": "u1"}));
    assert_eq!((ok.status, ok.json["join"]["uid"].as_u64()), (200, Some(1)), "{}", ok.json);
}

#[test]
fn a_grant_refused_by_the_failover_vendor_leaves_no_room() {
    let t = TestApp::new(&[LIVEKIT, AGORA]);
    let key = t.project_key();
    t.native.http.respond_with(|_| Err(rtcgate::runtime::HttpError::Unreachable("refused".into())));
    // LiveKit (first in order) would take the grant but is down; Agora cannot enforce it.
    let r = issue(&t, &key, json!({"room": "new", "identity": "u", "can_subscribe": false}));
    assert_eq!(
        (r.status, r.code(), r.json["error"]["vendor"].as_str()),
        (422, "GRANT_NOT_SUPPORTED", Some("agora")),
        "{}",
        r.json
    );
    let rooms = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!(rooms.json["items"], json!([]));
}

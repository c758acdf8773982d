//! Participant moderation through the API: `participant/mute` (soft and hard) and
//! `participant/update`, the exact vendor calls each makes, the stored state folded into the
//! tokens issued afterwards (decoded per vendor), and the refusals.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rtcgate::native::json_response;
use serde_json::{json, Value};
use support::{Reply, TestApp, AGORA, LIVEKIT, ZEGO};

fn jwt_claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn issue(t: &TestApp, key: &str, body: Value) -> Reply {
    t.call("POST", "/v1/rtc/token/issue", Some(body), Some(key))
}

fn mute(t: &TestApp, key: &str, room: &str, body: Value) -> Reply {
    t.call("POST", &format!("/v1/rtc/participant/mute/{room}"), Some(body), Some(key))
}

fn update(t: &TestApp, key: &str, room: &str, body: Value) -> Reply {
    t.call("POST", &format!("/v1/rtc/participant/update/{room}"), Some(body), Some(key))
}

/// What a LiveKit server holds of one participant, answering GetParticipant, UpdateParticipant
/// (which replaces the whole permission, as the server does) and MutePublishedTrack.
struct FakeLiveKit {
    permission: Rc<RefCell<Value>>,
}

impl FakeLiveKit {
    fn install(t: &TestApp, present: bool) -> FakeLiveKit {
        let permission = Rc::new(RefCell::new(json!({
            "can_subscribe": true, "can_publish": true, "can_publish_data": true, "hidden": false,
            "can_update_metadata": false,
        })));
        let held = permission.clone();
        t.native.http.respond_with(move |req| {
            let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
            if !present && !req.url.ends_with("/CreateRoom") {
                return json_response(404, &json!({"code": "not_found", "msg": "participant not found"}));
            }
            if req.url.ends_with("/GetParticipant") {
                json_response(
                    200,
                    &json!({"identity": body["identity"], "permission": held.borrow().clone(), "tracks": [
                        {"sid": "TR_mic", "type": "AUDIO", "source": "MICROPHONE"},
                        {"sid": "TR_cam", "type": "VIDEO", "source": "CAMERA"},
                    ]}),
                )
            } else if req.url.ends_with("/UpdateParticipant") {
                *held.borrow_mut() = body["permission"].clone();
                json_response(200, &json!({"identity": body["identity"], "permission": body["permission"]}))
            } else if req.url.ends_with("/MutePublishedTrack") {
                if body["muted"] == false {
                    return json_response(
                        412,
                        &json!({"code": "failed_precondition", "msg": "remote unmute not enabled"}),
                    );
                }
                json_response(200, &json!({"track": {"sid": body["track_sid"], "muted": true}}))
            } else {
                json_response(200, &json!({"sid": "RM_1", "name": body["name"], "creation_time": "1700000000"}))
            }
        });
        FakeLiveKit { permission }
    }
}

/// The (method, body) of every vendor call since the last `clear`.
fn livekit_calls(t: &TestApp) -> Vec<(String, Value)> {
    t.native
        .http
        .sent()
        .into_iter()
        .map(|e| (e.request.url.rsplit('/').next().unwrap().to_owned(), e.json.unwrap_or(Value::Null)))
        .collect()
}

#[test]
fn a_livekit_hard_mute_rewrites_the_whole_permission_and_keeps_subscribing() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    let fake = FakeLiveKit::install(&t, true);
    t.native.http.clear();
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true}));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["muted"], json!({"audio": "hard", "video": null, "screen": null}));
    assert_eq!((r.json["applied"].as_bool(), r.json["expires_at"].clone()), (Some(true), Value::Null));
    let calls = livekit_calls(&t);
    assert_eq!(calls[0], ("GetParticipant".to_owned(), json!({"room": room, "identity": "alice"})));
    assert_eq!(
        calls[1],
        (
            "UpdateParticipant".to_owned(),
            json!({"room": room, "identity": "alice", "permission": {
                "can_subscribe": true, "can_publish": true, "can_publish_data": true, "hidden": false,
                "can_update_metadata": false,
                "can_publish_sources": ["CAMERA", "SCREEN_SHARE", "SCREEN_SHARE_AUDIO"]}})
        )
    );
    assert_eq!(calls.len(), 2);

    // Every medium: publishing off, subscribing untouched.
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["video", "screen"], "muted": true}));
    assert_eq!(r.status, 200, "{}", r.json);
    let p = fake.permission.borrow().clone();
    assert_eq!((p["can_publish"].clone(), p["can_subscribe"].clone()), (json!(false), json!(true)));

    // Lifting audio gives publishing back, microphone only.
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": false}));
    assert_eq!(r.json["muted"], json!({"audio": null, "video": "hard", "screen": "hard"}), "{}", r.json);
    let p = fake.permission.borrow().clone();
    assert_eq!((p["can_publish"].clone(), p["can_publish_sources"].clone()), (json!(true), json!(["MICROPHONE"])));
}

#[test]
fn a_hard_mute_is_folded_into_every_later_token_and_survives_a_rejoin() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    let before = issue(&t, &key, json!({"room": room, "identity": "alice"}));
    assert!(jwt_claims(before.json["token"].as_str().unwrap())["video"].get("canPublishSources").is_none());
    FakeLiveKit::install(&t, false);
    // Not in the room: nothing to change at LiveKit now, the state is stored all the same.
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true, "duration_s": 600}));
    assert_eq!((r.status, r.json["applied"].as_bool()), (200, Some(false)), "{}", r.json);
    assert_eq!(r.json["expires_at"], "2023-11-14T22:23:20Z");
    let v = &jwt_claims(issue(&t, &key, json!({"room": room, "identity": "alice"})).json["token"].as_str().unwrap())
        ["video"];
    assert_eq!(v["canPublishSources"], json!(["camera", "screen_share", "screen_share_audio"]));
    assert_eq!((v["canPublish"].as_bool(), v["canSubscribe"].as_bool()), (Some(true), Some(true)));
    // Someone else is not muted.
    let bob = jwt_claims(issue(&t, &key, json!({"room": room, "identity": "bob"})).json["token"].as_str().unwrap());
    assert!(bob["video"].get("canPublishSources").is_none());

    // Everything muted: no publishing at all, data still as asked.
    mute(&t, &key, &room, json!({"identity": "alice", "media": ["video", "screen"], "muted": true}));
    let v = &jwt_claims(issue(&t, &key, json!({"room": room, "identity": "alice"})).json["token"].as_str().unwrap())
        ["video"];
    assert_eq!((v["canPublish"].as_bool(), v["canPublishData"].as_bool()), (Some(false), Some(true)));
    assert!(v.get("canPublishSources").is_none());

    // The audio mute's duration was replaced by the later mute's (until lifted).
    t.native.clock.advance_ms(601_000);
    let v = &jwt_claims(issue(&t, &key, json!({"room": room, "identity": "alice"})).json["token"].as_str().unwrap())
        ["video"];
    assert_eq!(v["canPublish"].as_bool(), Some(false));
}

#[test]
fn a_timed_mute_ends_by_itself() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    FakeLiveKit::install(&t, false);
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true, "duration_s": 60}));
    assert_eq!(r.status, 200, "{}", r.json);
    let token = |t: &TestApp| {
        jwt_claims(issue(t, &key, json!({"room": room, "identity": "alice"})).json["token"].as_str().unwrap())
    };
    assert_eq!(token(&t)["video"]["canPublishSources"], json!(["camera", "screen_share", "screen_share_audio"]));
    t.native.clock.advance_ms(60_000);
    assert!(token(&t)["video"].get("canPublishSources").is_none(), "expired at its end");
}

#[test]
fn another_isolate_folds_a_mute_in_within_the_change_feeds_window() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    // A second isolate of the same Worker: its own memory, the same database.
    let other = support::app_with(&[LIVEKIT]);
    let token_from = |app: &Rc<rtcgate::app::App>| {
        let req = rtcgate::http::ApiRequest::new("POST", "/v1/rtc/token/issue")
            .with_json(&json!({"room": room, "identity": "alice"}))
            .with_header("authorization", &format!("Bearer {key}"));
        let response = rtcgate::native::block_on(app.handle(&t.native.runtime, req));
        jwt_claims(response.json_body()["token"].as_str().unwrap())["video"]["canPublishSources"].clone()
    };
    assert_eq!(token_from(&other), Value::Null, "the other isolate now holds the room");
    FakeLiveKit::install(&t, false);
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["video"], "muted": true}));
    assert_eq!(r.status, 200, "{}", r.json);
    let muted = json!(["microphone", "screen_share", "screen_share_audio"]);
    // The isolate that muted forgot its room entry: its next token folds the mute in.
    assert_eq!(token_from(&t.app), muted);
    // The other one serves from its entry until the change feed tells it the room changed.
    assert_eq!(token_from(&other), Value::Null, "within the window the old entry still serves");
    // Once its view is FEED_STALE_MS old it reads the feed before answering: the room's entry
    // is dropped and read again, so this very token has the mute (not a minute later, when
    // the entry would have aged out).
    t.native.clock.advance_ms(rtcgate::api::revocation::FEED_STALE_MS);
    assert_eq!(token_from(&other), muted);
}

#[test]
fn a_warm_token_still_makes_no_round_trip_with_moderation_stored() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    FakeLiveKit::install(&t, false);
    mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true}));
    let first = issue(&t, &key, json!({"room": room, "identity": "alice"}));
    assert_eq!(first.status, 200);
    let start = t.native.round_trips();
    let again = issue(&t, &key, json!({"room": room, "identity": "alice"}));
    let end = t.native.round_trips();
    assert_eq!((end.d1_total() - start.d1_total(), end.kv - start.kv, end.http - start.http), (0, 0, 0));
    let v = &jwt_claims(again.json["token"].as_str().unwrap())["video"];
    assert_eq!(v["canPublishSources"], json!(["camera", "screen_share", "screen_share_audio"]));
}

#[test]
fn a_livekit_soft_mute_mutes_each_matching_track() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    FakeLiveKit::install(&t, true);
    t.native.http.clear();
    let r = mute(
        &t,
        &key,
        &room,
        json!({"identity": "alice", "media": ["audio", "screen"], "muted": true, "mode": "soft"}),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["muted"], json!({"audio": "soft", "video": null, "screen": "soft"}));
    assert_eq!(
        livekit_calls(&t),
        [
            ("GetParticipant".to_owned(), json!({"room": room, "identity": "alice"})),
            (
                "MutePublishedTrack".to_owned(),
                json!({"room": room, "identity": "alice", "track_sid": "TR_mic", "muted": true})
            ),
        ]
    );
    // A soft mute is not stored: the next token is unchanged.
    let c = jwt_claims(issue(&t, &key, json!({"room": room, "identity": "alice"})).json["token"].as_str().unwrap());
    assert!(c["video"].get("canPublishSources").is_none());
    // The server refuses remote unmutes unless configured to allow them.
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": false, "mode": "soft"}));
    assert_eq!(
        (r.status, r.code(), r.json["error"]["field"].as_str()),
        (422, "UNSUPPORTED_BY_VENDOR", Some("muted")),
        "{}",
        r.json
    );
    assert!(r.json["error"]["message"].as_str().unwrap().contains("enable_remote_unmute"));
}

#[test]
fn a_soft_mute_of_someone_absent_is_not_found() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    FakeLiveKit::install(&t, false);
    let r = mute(&t, &key, &room, json!({"identity": "ghost", "media": ["audio"], "muted": true, "mode": "soft"}));
    assert_eq!((r.status, r.code()), (404, "PARTICIPANT_NOT_FOUND"), "{}", r.json);
}

#[test]
fn mute_requests_are_checked_field_by_field() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    let cases = [
        (json!({"identity": "a", "muted": true}), "media"),
        (json!({"identity": "a", "media": [], "muted": true}), "media"),
        (json!({"identity": "a", "media": ["audio", "audio"], "muted": true}), "media"),
        (json!({"identity": "a", "media": ["mic"], "muted": true}), "media"),
        (json!({"identity": "a", "media": ["audio"]}), "muted"),
        (json!({"identity": "a", "media": ["audio"], "muted": true, "mode": "loud"}), "mode"),
        (json!({"identity": "a", "media": ["audio"], "muted": true, "mode": "soft", "duration_s": 5}), "duration_s"),
        (json!({"identity": "a", "media": ["audio"], "muted": false, "duration_s": 5}), "duration_s"),
        (json!({"identity": "a", "media": ["audio"], "muted": true, "duration_s": 30 * 86_400 + 1}), "duration_s"),
    ];
    for (body, field) in cases {
        let r = mute(&t, &key, &room, body.clone());
        assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some(field)), "{body}: {}", r.json);
    }
    let r = update(&t, &key, &room, json!({"identity": "a"}));
    assert_eq!(r.status, 400, "{}", r.json);
}

#[test]
fn a_livekit_update_changes_permissions_and_later_tokens() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    FakeLiveKit::install(&t, true);
    t.native.http.clear();
    let r = update(
        &t,
        &key,
        &room,
        json!({"identity": "alice", "can_subscribe": false, "display_name": "Al", "metadata": {"role": "guest"}}),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["permissions"], json!({"can_publish": null, "can_subscribe": false, "can_publish_data": null}));
    let calls = livekit_calls(&t);
    assert_eq!(
        calls[1],
        (
            "UpdateParticipant".to_owned(),
            json!({"room": room, "identity": "alice", "name": "Al", "metadata": "{\"role\":\"guest\"}",
                   "permission": {"can_subscribe": false, "can_publish": true, "can_publish_data": true,
                                  "hidden": false, "can_update_metadata": false}})
        )
    );
    let v = &jwt_claims(issue(&t, &key, json!({"room": room, "identity": "alice"})).json["token"].as_str().unwrap())
        ["video"];
    assert_eq!((v["canSubscribe"].as_bool(), v["canPublish"].as_bool()), (Some(false), Some(true)));
    // Lifted: later tokens grant what they ask again.
    update(&t, &key, &room, json!({"identity": "alice", "can_subscribe": true}));
    let v = &jwt_claims(issue(&t, &key, json!({"room": room, "identity": "alice"})).json["token"].as_str().unwrap())
        ["video"];
    assert_eq!(v["canSubscribe"].as_bool(), Some(true));
}

#[test]
fn mutes_reach_the_event_stream() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    FakeLiveKit::install(&t, false);
    mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio", "video"], "muted": true}));
    mute(&t, &key, &room, json!({"identity": "alice", "media": ["video"], "muted": false}));
    let list = t.call("GET", &format!("/v1/rtc/event/list?room={room}"), None, Some(&key));
    assert_eq!(list.status, 200, "{}", list.json);
    let items = list.json["items"].as_array().unwrap();
    let seen: Vec<(&str, &str, Value)> = items
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["identity"].as_str().unwrap_or(""), e["data"]["media"].clone()))
        .collect();
    assert!(seen.contains(&("participant.muted", "alice", json!(["audio", "video"]))), "{seen:?}");
    assert!(seen.contains(&("participant.unmuted", "alice", json!(["video"]))), "{seen:?}");
}

#[test]
fn vendors_without_a_soft_mute_refuse_it() {
    for vendor in [AGORA, ZEGO] {
        let t = TestApp::new(&[vendor]);
        let key = t.project_key();
        let issued = issue(&t, &key, json!({"room": "r", "identity": "alice"}));
        let room = issued.json["room"].as_str().unwrap().to_owned();
        t.native.http.clear();
        let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true, "mode": "soft"}));
        assert_eq!((r.status, r.code()), (422, "UNSUPPORTED_BY_VENDOR"), "{}", r.json);
        assert!(t.native.http.sent().is_empty(), "never upgraded to a hard mute");
        let d = t.call("GET", "/v1/discovery/rtc.participant.mute.soft", None, Some(&key));
        let status = d.json["vendors"].as_array().unwrap().iter().find(|v| v["status"] != "unconfigured").unwrap()
            ["status"]
            .clone();
        assert_eq!(status, "unsupported");
        for capability in ["rtc.participant.mute.hard", "rtc.participant.update"] {
            let d = t.call("GET", &format!("/v1/discovery/{capability}"), None, Some(&key));
            let live: Vec<&str> = d.json["vendors"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["status"] == "live")
                .map(|v| v["vendor"].as_str().unwrap())
                .collect();
            assert_eq!(live.len(), 1, "{capability}: {}", d.json);
        }
    }
    // LiveKit has every moderation capability.
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    for capability in ["rtc.participant.mute.soft", "rtc.participant.mute.hard", "rtc.participant.update"] {
        let d = t.call("GET", &format!("/v1/discovery/{capability}"), None, Some(&key));
        assert_eq!(
            (d.json["vendors"][0]["vendor"].as_str(), d.json["vendors"][0]["status"].as_str()),
            (Some("livekit"), Some("live"))
        );
    }
}

/// An Agora room with alice's token issued; the rules script answers each create with the
/// next rule id. Returns the room and alice's uid.
fn agora_room_with_rules(t: &TestApp, key: &str) -> (String, u64) {
    let issued = issue(t, key, json!({"room": "r", "identity": "alice"}));
    assert_eq!(issued.status, 200, "{}", issued.json);
    let next_id = Rc::new(RefCell::new(0));
    t.native.http.respond_with(move |req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        if req.method == "POST" {
            *next_id.borrow_mut() += 1;
            json_response(200, &json!({"status": "success", "id": *next_id.borrow()}))
        } else {
            json_response(200, &json!({"status": "success", "id": body["id"]}))
        }
    });
    t.native.http.clear();
    (issued.json["room"].as_str().unwrap().to_owned(), issued.json["join"]["uid"].as_u64().unwrap())
}

/// The (method, body) of every Agora call since the last `clear`, all on the kicking-rule path.
fn agora_calls(t: &TestApp) -> Vec<(String, Value)> {
    t.native
        .http
        .sent()
        .into_iter()
        .map(|e| {
            assert!(e.request.url.ends_with("/dev/v1/kicking-rule"), "{}", e.request.url);
            (e.request.method.to_string(), e.json.unwrap_or(Value::Null))
        })
        .collect()
}

#[test]
fn agora_hard_mutes_are_publish_rules_replaced_on_each_change() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let (room, uid) = agora_room_with_rules(&t, &key);
    let app_id = AGORA[0].1;
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true}));
    assert_eq!((r.status, r.json["applied"].as_bool()), (200, Some(true)), "{}", r.json);
    assert_eq!(
        agora_calls(&t),
        [(
            "POST".to_owned(),
            json!({"appid": app_id, "cname": room, "uid": uid, "time_in_seconds": 86_400,
                   "privileges": ["publish_audio"]})
        )]
    );
    t.native.http.clear();
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["video"], "muted": true, "duration_s": 600}));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        agora_calls(&t),
        [
            ("DELETE".to_owned(), json!({"appid": app_id, "id": 1})),
            (
                "POST".to_owned(),
                json!({"appid": app_id, "cname": room, "uid": uid, "time_in_seconds": 600,
                       "privileges": ["publish_audio", "publish_video"]})
            ),
        ]
    );
    t.native.http.clear();
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio", "video"], "muted": false}));
    assert_eq!(r.json["muted"], json!({"audio": null, "video": null, "screen": null}), "{}", r.json);
    assert_eq!(agora_calls(&t), [("DELETE".to_owned(), json!({"appid": app_id, "id": 2}))]);

    // Taking publishing away is the same rule, until lifted.
    t.native.http.clear();
    let r = update(&t, &key, &room, json!({"identity": "alice", "can_publish": false}));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(agora_calls(&t)[0].1["privileges"], json!(["publish_audio", "publish_video"]));
}

#[test]
fn agora_and_zego_refuse_what_their_rules_cannot_enforce_naming_the_field() {
    for vendor in [AGORA, ZEGO] {
        let t = TestApp::new(&[vendor]);
        let key = t.project_key();
        let issued = issue(&t, &key, json!({"room": "r", "identity": "alice"}));
        let room = issued.json["room"].as_str().unwrap().to_owned();
        t.native.http.clear();
        let cases = [
            ("mute", json!({"identity": "alice", "media": ["audio", "screen"], "muted": true}), "media"),
            ("update", json!({"identity": "alice", "can_subscribe": false}), "can_subscribe"),
            ("update", json!({"identity": "alice", "can_publish_data": false}), "can_publish_data"),
            ("update", json!({"identity": "alice", "display_name": "Al"}), "display_name"),
            ("update", json!({"identity": "alice", "metadata": {"a": 1}}), "metadata"),
        ];
        for (route, body, field) in cases {
            let r = if route == "mute" { mute(&t, &key, &room, body) } else { update(&t, &key, &room, body) };
            assert_eq!(
                (r.status, r.code(), r.json["error"]["field"].as_str()),
                (422, "UNSUPPORTED_BY_VENDOR", Some(field)),
                "{}",
                r.json
            );
        }
        assert!(t.native.http.sent().is_empty(), "nothing was sent");
    }
}

/// The ZEGO calls sent so far: each one's Action and its other parameters (signature and
/// common parameters left out).
fn zego_calls(t: &TestApp) -> Vec<(String, Vec<(String, String)>)> {
    const COMMON: [&str; 6] = ["AppId", "SignatureNonce", "Timestamp", "Signature", "SignatureVersion", "IsTest"];
    t.native
        .http
        .sent()
        .iter()
        .map(|e| {
            let url = url::Url::parse(&e.request.url).unwrap();
            let mut action = String::new();
            let mut params = Vec::new();
            for (k, v) in url.query_pairs() {
                if k == "Action" {
                    action = v.into_owned();
                } else if !COMMON.contains(&k.as_ref()) {
                    params.push((k.into_owned(), v.into_owned()));
                }
            }
            (action, params)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn zego_hard_mutes_forbid_each_of_the_participants_streams() {
    let t = TestApp::new(&[ZEGO]);
    let key = t.project_key();
    let issued = issue(&t, &key, json!({"room": "r", "identity": "alice"}));
    let room = issued.json["room"].as_str().unwrap().to_owned();
    let rules_enabled = Rc::new(RefCell::new(true));
    let enabled = rules_enabled.clone();
    t.native.http.respond_with(move |req| {
        if req.url.contains("Action=DescribeSimpleStreamList") {
            let list = json!([{"StreamId": "alice-cam", "UserId": "alice"}, {"StreamId": "bob-cam", "UserId": "bob"}]);
            json_response(200, &json!({"Code": 0, "RequestId": "r1", "Data": {"StreamList": list}}))
        } else if *enabled.borrow() {
            json_response(200, &json!({"Code": 0, "Message": "success", "RequestId": "r2"}))
        } else {
            json_response(200, &json!({"Code": 9, "Message": "no permission", "RequestId": "r3"}))
        }
    });
    t.native.http.clear();
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true, "duration_s": 90}));
    assert_eq!((r.status, r.json["applied"].as_bool()), (200, Some(true)), "{}", r.json);
    assert_eq!(
        zego_calls(&t),
        [
            ("DescribeSimpleStreamList".to_owned(), pairs(&[("RoomId", &room)])),
            (
                "SetForbidStreamRule".to_owned(),
                pairs(&[
                    ("RoomId", &room),
                    ("StreamId", "alice-cam"),
                    ("DisableAudio", "1"),
                    ("DisableVideo", "0"),
                    ("EffectiveTime", "90")
                ])
            ),
        ]
    );
    t.native.http.clear();
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": false}));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        zego_calls(&t),
        [("DelForbidStreamRule".to_owned(), pairs(&[("RoomId", &room), ("StreamId", "alice-cam")]))]
    );

    // An app without forbid rules enabled: said so, and nothing stays stored.
    *rules_enabled.borrow_mut() = false;
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio", "video"], "muted": true}));
    assert_eq!(
        (r.status, r.code(), r.json["error"]["field"].as_str()),
        (422, "UNSUPPORTED_BY_VENDOR", Some("media")),
        "{}",
        r.json
    );
    assert!(r.json["error"]["message"].as_str().unwrap().contains("not enabled"), "{}", r.json);
    let stored = t.native.db.rows("SELECT identity, hard_muted FROM participant_moderation");
    assert!(stored.is_empty(), "the failed mute was put back: {stored:?}");
}

#[test]
fn the_renewal_keeps_agora_rules_alive_across_their_24_hour_cap() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let (room, uid) = agora_room_with_rules(&t, &key);
    let app_id = AGORA[0].1;
    // Until lifted: the rule lasts its 24 h and is renewed before it lapses, again and again.
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true}));
    assert_eq!(r.status, 200, "{}", r.json);
    let renew = |t: &TestApp| {
        rtcgate::native::block_on(rtcgate::resources::moderation::service::renew_due_rules(
            &t.native.runtime,
            &t.app,
            10,
        ))
        .unwrap()
    };
    t.native.http.clear();
    assert_eq!(renew(&t), 0, "nothing is due a day ahead");
    assert!(t.native.http.sent().is_empty());
    for (day, old_id) in [(1, 1), (2, 2), (3, 3)] {
        t.native.clock.advance_ms(23 * 3_600_000 + 30 * 60_000);
        t.native.http.clear();
        assert_eq!(renew(&t), 1, "day {day}");
        assert_eq!(
            agora_calls(&t),
            [
                ("DELETE".to_owned(), json!({"appid": app_id, "id": old_id})),
                (
                    "POST".to_owned(),
                    json!({"appid": app_id, "cname": room, "uid": uid, "time_in_seconds": 86_400,
                           "privileges": ["publish_audio"]})
                ),
            ],
            "day {day}"
        );
        // Back to the day's rhythm: the new rule is not due at once.
        t.native.clock.advance_ms(30 * 60_000);
        t.native.http.clear();
        assert_eq!(renew(&t), 0);
    }

    // A timed mute: its last rule lasts only what is left of it, and is not renewed after.
    let r =
        mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true, "duration_s": 90_000}));
    assert_eq!(r.status, 200, "{}", r.json);
    t.native.clock.advance_ms(23 * 3_600_000 + 30 * 60_000);
    t.native.http.clear();
    assert_eq!(renew(&t), 1);
    assert_eq!(agora_calls(&t)[1].1["time_in_seconds"], 90_000 - (23 * 3_600 + 30 * 60));
    t.native.clock.advance_ms(24 * 3_600_000);
    t.native.http.clear();
    assert_eq!(renew(&t), 0, "the mute ended with its last rule");
}

#[test]
fn the_scheduled_job_renews_rules_due_within_the_hour() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let (room, _) = agora_room_with_rules(&t, &key);
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["video"], "muted": true}));
    assert_eq!(r.status, 200, "{}", r.json);
    let run = |t: &TestApp| rtcgate::native::block_on(rtcgate::app::maintenance::run(&t.app, &t.native.runtime));
    assert_eq!(run(&t).rules_renewed, 0);
    t.native.clock.advance_ms(23 * 3_600_000 + 1);
    t.native.http.clear();
    let report = run(&t);
    assert_eq!(report.rules_renewed, 1, "{}", report.summary());
    let calls: Vec<String> = agora_calls(&t).into_iter().map(|(method, _)| method).collect();
    assert_eq!(calls, ["DELETE", "POST"]);
}

#[test]
fn an_agora_rule_that_already_lapsed_does_not_stop_its_replacement() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let (room, _) = agora_room_with_rules(&t, &key);
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true}));
    assert_eq!(r.status, 200, "{}", r.json);
    // The rule is gone at Agora (say the job could not run before it lapsed).
    t.native.http.respond_with(|req| {
        if req.method == "DELETE" {
            json_response(404, &json!({"message": "rule not found"}))
        } else {
            json_response(200, &json!({"status": "success", "id": 77}))
        }
    });
    t.native.http.clear();
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["video"], "muted": true}));
    assert_eq!(r.status, 200, "{}", r.json);
    let calls = agora_calls(&t);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].1["privileges"], json!(["publish_audio", "publish_video"]));
    let stored = t.native.db.rows("SELECT vendor_rules FROM participant_moderation");
    assert_eq!(stored[0]["vendor_rules"], json!(r#"{"agora_rule_ids":[77]}"#));
}

// ---------------------------------------------------------------------------------------------
// bounds: the project's quota, the per-room cap, and the scheduled job's sweep

fn quota_of(t: &TestApp, key: &str) -> Value {
    let r = t.call("GET", "/v1/rtc/limits", None, Some(key));
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["quotas"]["moderated_participants"].clone()
}

fn assert_quota_exceeded(r: &Reply, quota: &str, limit: u64) {
    assert_eq!(
        (r.status, r.code(), r.json["error"]["quota"].as_str(), r.json["error"]["limit"].as_u64()),
        (422, "QUOTA_EXCEEDED", Some(quota), Some(limit)),
        "{}",
        r.json
    );
}

#[test]
fn the_moderated_participants_quota_counts_new_identities_only() {
    let t = TestApp::new(&[LIVEKIT, &[("QUOTA_MODERATED_PARTICIPANTS", "2")]]);
    let key = t.project_key();
    let other = t.project_key();
    let room = t.livekit_room(&key, "standup");
    let second = t.livekit_room(&key, "retro");
    let elsewhere = t.livekit_room(&other, "standup");
    FakeLiveKit::install(&t, false);
    let hard = |who: &str, muted: bool| json!({"identity": who, "media": ["audio"], "muted": muted});
    assert_eq!(mute(&t, &key, &room, hard("alice", true)).status, 200);
    assert_eq!(update(&t, &key, &second, json!({"identity": "bob", "can_subscribe": false})).status, 200);
    assert_eq!(quota_of(&t, &key), json!({"limit": 2, "used": 2}));

    // A new identity, in either room, is over the quota; nothing was stored for it.
    assert_quota_exceeded(&mute(&t, &key, &room, hard("carol", true)), "moderated_participants", 2);
    assert_quota_exceeded(
        &update(&t, &key, &second, json!({"identity": "carol", "can_publish": false})),
        "moderated_participants",
        2,
    );
    assert_eq!(quota_of(&t, &key), json!({"limit": 2, "used": 2}));
    // Those already moderated are still updated at the quota.
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["video"], "muted": true}));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["muted"], json!({"audio": "hard", "video": "hard", "screen": null}));
    assert_eq!(update(&t, &key, &second, json!({"identity": "bob", "can_publish": false})).status, 200);
    // Another project has its own.
    assert_eq!(mute(&t, &other, &elsewhere, hard("carol", true)).status, 200);
    assert_eq!(quota_of(&t, &other), json!({"limit": 2, "used": 1}));
    // Lifting a mute frees its place.
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio", "video"], "muted": false}));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(quota_of(&t, &key), json!({"limit": 2, "used": 1}));
    assert_eq!(mute(&t, &key, &room, hard("carol", true)).status, 200);
}

#[test]
fn one_room_holds_a_bounded_number_of_moderated_participants() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    FakeLiveKit::install(&t, false);
    let project = t.native.db.rows(&format!("SELECT project_id FROM rooms WHERE id = '{room}'"))[0]["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cap = rtcgate::store::moderation::MAX_PER_ROOM;
    let rows: Vec<String> =
        (0..cap).map(|i| format!("('{project}', '{room}', 'user-{i}', 1, NULL, NULL, NULL, NULL, 0)")).collect();
    t.native.db.exec_raw(&format!(
        "INSERT INTO participant_moderation (project_id, room_id, identity, hard_muted, mute_expires_at_ms, \
         can_publish, can_subscribe, can_publish_data, updated_at_ms) VALUES {}",
        rows.join(", ")
    ));
    let r = mute(&t, &key, &room, json!({"identity": "alice", "media": ["audio"], "muted": true}));
    assert_quota_exceeded(&r, "moderated_participants_per_room", cap as u64);
    let r = update(&t, &key, &room, json!({"identity": "user-7", "can_subscribe": false}));
    assert_eq!(r.status, 200, "one already there is still updated: {}", r.json);
}

fn moderation_rows(t: &TestApp) -> Vec<(String, i64)> {
    t.native
        .db
        .rows("SELECT identity, hard_muted FROM participant_moderation ORDER BY identity")
        .iter()
        .map(|r| (r["identity"].as_str().unwrap().to_owned(), r["hard_muted"].as_i64().unwrap()))
        .collect()
}

#[test]
fn the_scheduled_job_sweeps_ended_mutes_and_deleted_rooms() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = t.livekit_room(&key, "standup");
    let gone = t.livekit_room(&key, "retro");
    FakeLiveKit::install(&t, false);
    let timed = |who: &str| json!({"identity": who, "media": ["audio"], "muted": true, "duration_s": 60});
    assert_eq!(mute(&t, &key, &room, timed("alice")).status, 200);
    assert_eq!(mute(&t, &key, &room, timed("bob")).status, 200);
    assert_eq!(update(&t, &key, &room, json!({"identity": "bob", "can_subscribe": false})).status, 200);
    assert_eq!(mute(&t, &key, &room, json!({"identity": "carol", "media": ["audio"], "muted": true})).status, 200);
    assert_eq!(mute(&t, &key, &gone, json!({"identity": "dave", "media": ["audio"], "muted": true})).status, 200);
    assert_eq!(t.call("DELETE", &format!("/v1/rtc/room/delete/{gone}"), None, Some(&key)).status, 200);
    let run = |t: &TestApp| rtcgate::native::block_on(rtcgate::app::maintenance::run(&t.app, &t.native.runtime));

    // Before the mutes end, only the deleted room's row goes.
    let report = run(&t);
    assert_eq!(report.moderation_swept, 1, "{}", report.summary());
    assert_eq!(moderation_rows(&t), [("alice".to_owned(), 1), ("bob".to_owned(), 1), ("carol".to_owned(), 1)]);

    // Once they end: alice's row had nothing else and goes; bob keeps his override, without
    // the ended mute; carol's mute has no end.
    t.native.clock.advance_ms(60_000);
    let report = run(&t);
    assert_eq!(report.moderation_swept, 2, "{}", report.summary());
    assert!(report.summary().contains("2 moderation rows swept"), "{}", report.summary());
    assert_eq!(moderation_rows(&t), [("bob".to_owned(), 0), ("carol".to_owned(), 1)]);
    assert_eq!(quota_of(&t, &key)["used"], 2);
    assert_eq!(run(&t).moderation_swept, 0, "nothing left to sweep");
}

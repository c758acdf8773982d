//! Vendor webhooks in, normalized events out, natively: signatures, dedupe, effects, the
//! event list, webhook delivery through the queue (retries, dead letter), isolation, usage.
//! The end-to-end suite repeats the main paths on the real Worker with the official
//! `standardwebhooks` verifier.

mod support;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rtcgate::http::ApiRequest;
use rtcgate::native::{block_on, json_response};
use rtcgate::runtime::{Clock, OutboundResponse};
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use support::{Reply, TestApp, AGORA, LIVEKIT, NOW_MS, ZEGO};

const NCS_SECRET: &str = "ncs-secret-for-tests";
const ZEGO_SECRET: &str = "zego-callback-secret";
const EVENTS: &[(&str, &str)] = &[
    ("AGORA_NCS_SECRET", NCS_SECRET),
    ("ZEGO_CALLBACK_SECRET", ZEGO_SECRET),
    ("WEBHOOK_MAX_ATTEMPTS", "3"),
    ("WEBHOOK_RETRY_BASE_S", "10"),
];
const LOCAL_DEV: &[(&str, &str)] = &[("WEBHOOK_ALLOW_HTTP_LOOPBACK", "1")];
/// Webhook signing secrets are sealed under it.
const ENCRYPTION: &[(&str, &str)] =
    &[("RTCGATE_ENCRYPTION_KEY", "5f0e1d2c3b4a59687786954a3b2c1d0e6a0f3c9e21b84d57a6e0c3f19b2d4e8a")];
const NOW_S: u64 = NOW_MS / 1000;

fn app() -> TestApp {
    TestApp::new(&[LIVEKIT, AGORA, ZEGO, EVENTS, LOCAL_DEV, ENCRYPTION])
}

fn livekit_room(t: &TestApp, key: &str, name: &str) -> String {
    t.livekit_room(key, name)
}

/// A token for `identity` in an Agora room (created implicitly, no vendor call); the room
/// and the identity's uid.
fn agora_member(t: &TestApp, key: &str, room: &str, identity: &str) -> (String, u64) {
    let r = t.call(
        "POST",
        "/v1/rtc/token/issue",
        Some(json!({"room": room, "identity": identity, "vendor": "agora"})),
        Some(key),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    (r.json["room"].as_str().unwrap().to_owned(), r.json["join"]["uid"].as_u64().unwrap())
}

/// What the LiveKit server sends: the raw JWT over the body's SHA-256.
fn livekit_auth(body: &str, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({"iss": "APItestkey", "nbf": NOW_S, "iat": NOW_S, "exp": NOW_S + 300,
                        "sha256": STANDARD.encode(Sha256::digest(body.as_bytes()))});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Posts a vendor delivery; the clock then moves on a second, so events arrive in order.
fn post_vendor(t: &TestApp, vendor: &str, body: &str, headers: &[(&str, &str)]) -> support::Reply {
    let _later = Later(t);
    let mut req = ApiRequest::new("POST", &format!("/v1/vendor-events/{vendor}"));
    req.body = body.as_bytes().to_vec();
    for (k, v) in headers {
        req = req.with_header(k, v);
    }
    t.send(req)
}

struct Later<'a>(&'a TestApp);

impl Drop for Later<'_> {
    fn drop(&mut self) {
        self.0.native.clock.advance_ms(1000);
    }
}

fn livekit(t: &TestApp, body: &str) -> support::Reply {
    let auth = livekit_auth(body, "livekit-secret-livekit-secret-0123456789");
    post_vendor(t, "livekit", body, &[("authorization", &auth), ("content-type", "application/webhook+json")])
}

fn agora(t: &TestApp, body: &str) -> support::Reply {
    let mut mac = Hmac::<Sha256>::new_from_slice(NCS_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sig = hex(&mac.finalize().into_bytes());
    post_vendor(t, "agora", body, &[("agora-signature-v2", &sig), ("content-type", "application/json")])
}

fn zego_form(fields: &str, nonce: &str, timestamp: u64) -> String {
    let mut parts = [ZEGO_SECRET.to_owned(), timestamp.to_string(), nonce.to_owned()];
    parts.sort();
    let signature = hex(&Sha1::digest(parts.concat().as_bytes()));
    format!("{fields}&nonce={nonce}&timestamp={timestamp}&signature={signature}")
}

fn zego(t: &TestApp, body: &str) -> support::Reply {
    post_vendor(t, "zego", body, &[("content-type", "application/x-www-form-urlencoded")])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn events(t: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let r = t.call("GET", &format!("/v1/rtc/event/list{query}"), None, Some(key));
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}

fn count_rows(t: &TestApp, sql: &str) -> i64 {
    let rows = t.native.db.rows(sql);
    rows[0]["n"].as_i64().unwrap()
}

fn lk_participant(event: &str, room: &str, id: &str, created_s: u64, joined_ms: u64) -> String {
    json!({"event": event, "room": {"sid": "RM_1", "name": room},
           "participant": {"sid": "PA_alice", "identity": "alice", "joinedAt": (joined_ms / 1000).to_string(),
                           "joinedAtMs": joined_ms.to_string()},
           "id": id, "createdAt": created_s.to_string()})
    .to_string()
}

/// The shared recording bucket (S3 in eu-west-1) the recording tests write to.
const SHARED_BUCKET: &[(&str, &str)] = &[
    ("RECORDING_S3_ACCESS_KEY", "AKIA-TEST"),
    ("RECORDING_S3_SECRET", "s3-secret"),
    ("RECORDING_S3_REGION", "eu-west-1"),
    ("RECORDING_DEFAULT_URI", "s3://b/rtc/"),
];

#[test]
fn livekit_events_are_verified_stored_once_listed_and_metered() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "standup");
    let join = lk_participant("participant_joined", &room, "EV_1", NOW_S, NOW_MS);
    let leave = lk_participant("participant_left", &room, "EV_2", NOW_S + 70, NOW_MS);

    // Bad signatures: 401 and nothing stored.
    let tampered_auth = livekit_auth(&join, "livekit-secret-livekit-secret-0123456789");
    let tampered = join.replace("alice", "mallory");
    let r = post_vendor(&t, "livekit", &tampered, &[("authorization", &tampered_auth)]);
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let wrong = livekit_auth(&join, "not-the-secret");
    assert_eq!(post_vendor(&t, "livekit", &join, &[("authorization", &wrong)]).status, 401);
    assert_eq!(post_vendor(&t, "livekit", &join, &[]).status, 401);
    assert_eq!(count_rows(&t, "SELECT COUNT(*) AS n FROM events"), 0);

    // Delivered twice (a vendor retry): stored once. A Bearer prefix is tolerated.
    assert_eq!(livekit(&t, &join).status, 200);
    let bearer = format!("Bearer {}", livekit_auth(&join, "livekit-secret-livekit-secret-0123456789"));
    assert_eq!(post_vendor(&t, "livekit", &join, &[("authorization", &bearer)]).status, 200);
    assert_eq!(livekit(&t, &leave).status, 200);

    let items = events(&t, &key, "");
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0]["type"], "participant.left");
    assert_eq!(items[1]["type"], "participant.joined");
    assert_eq!((items[1]["seq"].as_i64(), items[0]["seq"].as_i64()), (Some(1), Some(2)));
    assert_eq!((items[0]["room"].as_str(), items[0]["identity"].as_str()), (Some(room.as_str()), Some("alice")));
    assert_eq!(items[0]["vendor"], "livekit");
    assert_eq!(items[0]["occurred_at"], "2023-11-14T22:14:30Z");
    assert_eq!(events(&t, &key, "?type=participant.joined").len(), 1);
    assert_eq!(events(&t, &key, "?room=standup&limit=1").len(), 1);
    let r = t.call("GET", "/v1/rtc/event/list?type=room.exploded", None, Some(&key));
    assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some("type")));

    // Paging: newest first, no repeats.
    let first = t.call("GET", "/v1/rtc/event/list?limit=1", None, Some(&key));
    let cursor = first.json["next_cursor"].as_str().unwrap().to_owned();
    let second = t.call("GET", &format!("/v1/rtc/event/list?limit=1&cursor={cursor}"), None, Some(&key));
    assert_ne!(first.json["items"][0]["event"], second.json["items"][0]["event"]);
    assert!(second.json["next_cursor"].is_null());

    // 70 s in the room: 70 participant-seconds, 2 participant-minutes.
    let u = t.call("GET", "/v1/rtc/usage", None, Some(&key));
    assert_eq!(u.status, 200, "{}", u.json);
    assert_eq!(u.json["totals"], json!({"sessions": 1, "participant_seconds": 70, "participant_minutes": 2}));
    assert_eq!(u.json["rooms"][0]["room"], room.as_str());
}

#[test]
fn bots_and_aborted_connections_are_not_participant_events() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let egress = json!({"event": "participant_joined", "room": {"name": room},
                        "participant": {"identity": "EG_1", "kind": "EGRESS"}, "id": "EV_b1"})
    .to_string();
    let aborted = json!({"event": "participant_connection_aborted", "room": {"name": room},
                         "participant": {"identity": "bob"}, "id": "EV_b2"})
    .to_string();
    assert_eq!(livekit(&t, &egress).status, 200);
    assert_eq!(livekit(&t, &aborted).status, 200);
    assert!(events(&t, &key, "").is_empty());
}

#[test]
fn agora_uids_map_to_identities_and_leave_duration_is_metered() {
    let t = app();
    let key = t.project_key();
    let (room, uid) = agora_member(&t, &key, "class", "alice");
    let join = json!({"noticeId": "n-1", "productId": 1, "eventType": 103, "notifyMs": NOW_MS,
                      "payload": {"channelName": room, "uid": uid, "platform": 7, "clientSeq": 1, "ts": NOW_S}})
    .to_string();
    let leave = json!({"noticeId": "n-2", "productId": 1, "eventType": 104, "notifyMs": NOW_MS + 125_000,
                       "payload": {"channelName": room, "uid": uid, "platform": 7, "clientSeq": 2,
                                   "ts": NOW_S + 125, "reason": 1, "duration": 125}})
    .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"wrong").unwrap();
    mac.update(join.as_bytes());
    let bad = hex(&mac.finalize().into_bytes());
    assert_eq!(post_vendor(&t, "agora", &join, &[("agora-signature-v2", &bad)]).status, 401);
    assert_eq!(post_vendor(&t, "agora", &join, &[]).status, 401);
    assert_eq!(agora(&t, &join).status, 200);
    assert_eq!(agora(&t, &join).status, 200, "a resend is accepted and ignored");
    assert_eq!(agora(&t, &leave).status, 200);
    let items = events(&t, &key, "");
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["identity"], "alice");
    assert_eq!(items[1]["data"]["uid"], uid);
    let u = t.call("GET", &format!("/v1/rtc/usage?room={room}&from=2023-11-14"), None, Some(&key));
    assert_eq!(u.json["totals"], json!({"sessions": 1, "participant_seconds": 125, "participant_minutes": 3}));
    // Any RFC 3339 date-time is a bound: an offset is converted to UTC, and an instant before
    // 1970 means "from the beginning".
    let u = t.call(
        "GET",
        &format!("/v1/rtc/usage?room={room}&from=0001-01-01T00:00:00Z&to=2099-12-31T23:59:59%2B01:00"),
        None,
        Some(&key),
    );
    assert_eq!(u.status, 200, "{}", u.json);
    assert_eq!(
        (u.json["from"].as_str(), u.json["to"].as_str()),
        (Some("1970-01-01T00:00:00Z"), Some("2099-12-31T22:59:59Z"))
    );
    assert_eq!(u.json["totals"]["participant_seconds"], 125);
    // Well-formed bounds that contradict each other (also a `from` after the default `to`,
    // now) are a 422 naming `from`, not a malformed request.
    for query in ["from=2023-11-15&to=2023-11-14", "from=2099-01-01"] {
        let u = t.call("GET", &format!("/v1/rtc/usage?{query}"), None, Some(&key));
        assert_eq!(
            (u.status, u.code(), u.json["error"]["field"].as_str()),
            (422, "CONFLICTING_FIELDS", Some("from")),
            "{query}"
        );
    }
}

#[test]
fn an_agora_recording_bot_known_by_its_registry_uid_is_no_participant_event() {
    let t = app();
    let (project, key) = t.project_and_key();
    let (room, alice) = agora_member(&t, &key, "rec", "alice");
    // The bot a recording registered: it joins with its registry uid, and its notice need not
    // say it is a server-side recorder.
    let bot =
        block_on(rtcgate::store::participants::register_bot(&t.native.runtime, &project, &room, "rec_1")).unwrap();
    assert_ne!(u64::from(bot), alice);
    for (n, uid) in [("n-bot", u64::from(bot)), ("n-alice", alice)] {
        let join = json!({"noticeId": n, "productId": 1, "eventType": 103, "notifyMs": NOW_MS,
                          "payload": {"channelName": room, "uid": uid, "platform": 7, "clientSeq": 1, "ts": NOW_S}})
        .to_string();
        assert_eq!(agora(&t, &join).status, 200);
    }
    let items = events(&t, &key, "");
    let who: Vec<&str> = items.iter().map(|e| e["identity"].as_str().unwrap()).collect();
    assert_eq!(who, ["alice"], "{items:?}");
}

#[test]
fn zego_form_callbacks_refuse_replays_and_stale_timestamps() {
    let t = app();
    let key = t.project_key();
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "z", "vendor": "zego"})), Some(&key));
    assert_eq!(r.status, 201, "{}", r.json);
    let room = r.json["room"].as_str().unwrap().to_owned();
    let login = format!(
        "event=room_login&room_id={room}&user_account=alice&session_id=s1&login_time={NOW_MS}&user_role=1&room_seq=9"
    );
    let body = zego_form(&login, "n1", NOW_S);
    assert_eq!(zego(&t, &body).status, 200);
    assert_eq!(zego(&t, &body).status, 200, "a retry of the same callback is not a replay");
    // The same signed nonce over another body: a replay.
    let forged = body.replace("alice", "mallory");
    assert_eq!(zego(&t, &forged).status, 401);
    // Stale: signed correctly, but six minutes old.
    let stale = zego_form(&login.replace("s1", "s2"), "n2", NOW_S - 360);
    assert_eq!(zego(&t, &stale).status, 401);
    let unsigned = format!("{login}&nonce=n3&timestamp={NOW_S}&signature=00");
    assert_eq!(zego(&t, &unsigned).status, 401);
    // JSON bodies are read the same way.
    let logout = zego_form(
        &format!(
            "event=room_logout&room_id={room}&user_account=alice&session_id=s1&login_time={NOW_MS}&logout_time={}",
            NOW_MS + 30_000
        ),
        "n4",
        NOW_S,
    );
    let as_json: serde_json::Map<String, Value> = logout
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_owned(), Value::String(v.to_owned()))
        })
        .collect();
    let r = post_vendor(&t, "zego", &Value::Object(as_json).to_string(), &[("content-type", "application/json")]);
    assert_eq!(r.status, 200);
    let items = events(&t, &key, "");
    let kinds: Vec<&str> = items.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["participant.left", "participant.joined"]);
    assert_eq!(items[1]["identity"], "alice");
    let u = t.call("GET", "/v1/rtc/usage", None, Some(&key));
    assert_eq!(u.json["totals"]["participant_seconds"], 30);
    assert_eq!(u.json["totals"]["participant_minutes"], 1);
}

#[test]
fn a_finished_room_closes_open_sessions_and_unknown_rooms_belong_to_no_project() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    assert_eq!(livekit(&t, &lk_participant("participant_joined", &room, "EV_j", NOW_S, NOW_MS)).status, 200);
    let finished = json!({"event": "room_finished", "room": {"name": room}, "id": "EV_f",
                          "createdAt": (NOW_S + 200).to_string()})
    .to_string();
    assert_eq!(livekit(&t, &finished).status, 200);
    let u = t.call("GET", "/v1/rtc/usage", None, Some(&key));
    assert_eq!(u.json["totals"], json!({"sessions": 1, "participant_seconds": 200, "participant_minutes": 4}));

    let stranger = json!({"event": "room_started", "room": {"name": "someone-elses"}, "id": "EV_s"}).to_string();
    assert_eq!(livekit(&t, &stranger).status, 200);
    assert_eq!(count_rows(&t, "SELECT COUNT(*) AS n FROM events WHERE project_id IS NULL"), 1);
    assert_eq!(events(&t, &key, "").len(), 2);
}

/// Runs the delivery queue until it is empty, moving the clock to each retry.
fn drain(t: &TestApp) {
    drain_with(t, &t.app.settings);
}

/// `drain` with a consumer of other settings (another deployment of the same database).
fn drain_with(t: &TestApp, settings: &rtcgate::api::Settings) {
    for _ in 0..20 {
        let due = t.native.queue.take_due();
        if due.is_empty() {
            match t.native.queue.next_due_ms() {
                Some(at) => t.native.clock.advance_ms(at.saturating_sub(t.native.clock.now_ms())),
                None => return,
            }
            continue;
        }
        for message in due {
            block_on(rtcgate::resources::webhooks::delivery::consume(settings, &t.native.runtime, &message)).unwrap();
        }
    }
    panic!("the queue did not drain");
}

#[test]
fn webhooks_are_signed_retried_with_backoff_and_dead_lettered() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let ok = t.call("POST", "/v1/rtc/webhook/create", Some(json!({"url": "http://127.0.0.1:9/ok"})), Some(&key));
    assert_eq!(ok.status, 201, "{}", ok.json);
    let secret = ok.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let dead = t.call(
        "POST",
        "/v1/rtc/webhook/create",
        Some(json!({"url": "http://127.0.0.1:9/down", "types": ["participant.joined"]})),
        Some(&key),
    );
    let dead_id = dead.json["webhook"].as_str().unwrap().to_owned();
    let listed = t.call("GET", "/v1/rtc/webhook/list", None, Some(&key));
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 2);
    assert!(!listed.json.to_string().contains("whsec_"), "the list never shows a secret");

    // The first endpoint fails twice, then takes it; the second always fails.
    let calls = std::rc::Rc::new(std::cell::RefCell::new(Vec::<(String, u64)>::new()));
    let seen = calls.clone();
    let clock = t.native.clock.clone();
    t.native.http.respond_with(move |req| {
        let id = req.headers.iter().find(|(k, _)| k == "webhook-id").map(|(_, v)| v.clone()).unwrap_or_default();
        let url = req.url.clone();
        seen.borrow_mut().push((format!("{url} {id}"), clock.now_ms()));
        let tries = seen.borrow().iter().filter(|(u, _)| *u == format!("{url} {id}")).count();
        let status = if url.ends_with("/ok") && tries > 2 { 204 } else { 500 };
        Ok(OutboundResponse { status, headers: vec![], body: vec![] })
    });
    assert_eq!(livekit(&t, &lk_participant("participant_joined", &room, "EV_1", NOW_S, NOW_MS)).status, 200);
    let finished = json!({"event": "room_finished", "room": {"name": room}, "id": "EV_2"}).to_string();
    assert_eq!(livekit(&t, &finished).status, 200);
    drain(&t);

    let calls = calls.borrow();
    let ok_calls: Vec<u64> = calls.iter().filter(|(u, _)| u.contains("/ok ")).map(|(_, at)| *at).collect();
    // Two events × (two failures + one success); retries wait 10 s, then 20 s.
    assert_eq!(ok_calls.len(), 6, "{calls:?}");
    let first = ok_calls[0];
    assert_eq!(ok_calls.iter().map(|at| at - first).collect::<Vec<_>>(), vec![0, 0, 10_000, 10_000, 30_000, 30_000]);
    let down_calls = calls.iter().filter(|(u, _)| u.contains("/down ")).count();
    assert_eq!(down_calls, 3, "only participant.joined, three attempts, then the dead letter");
    drop(calls);

    let sent = t.native.http.sent();
    let delivered = sent.iter().find(|e| e.request.url.ends_with("/ok")).unwrap();
    let header =
        |name: &str| delivered.request.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
    let body = delivered.request.body.clone().unwrap();
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(header("webhook-id"), payload["event"].as_str().unwrap());
    let signed =
        format!("{}.{}.{}", header("webhook-id"), header("webhook-timestamp"), String::from_utf8(body).unwrap());
    let mut mac = Hmac::<Sha256>::new_from_slice(&STANDARD.decode(&secret["whsec_".len()..]).unwrap()).unwrap();
    mac.update(signed.as_bytes());
    assert_eq!(header("webhook-signature"), format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())));
    for field in ["event", "type", "room", "vendor", "identity", "occurred_at", "received_at", "data", "seq"] {
        assert!(payload.get(field).is_some(), "{field} in {payload}");
    }

    let ok_health =
        t.call("GET", &format!("/v1/rtc/webhook/get/{}", ok.json["webhook"].as_str().unwrap()), None, Some(&key));
    assert_eq!(ok_health.json["delivery"]["delivered"], 2);
    assert_eq!(ok_health.json["delivery"]["consecutive_failures"], 0);
    assert!(ok_health.json.get("secret").is_none());
    let dead_health = t.call("GET", &format!("/v1/rtc/webhook/get/{dead_id}"), None, Some(&key));
    assert_eq!(dead_health.json["delivery"]["dead_lettered"], 1, "{}", dead_health.json);
    assert_eq!(dead_health.json["delivery"]["last_status"], 500);
    assert_eq!(dead_health.json["delivery"]["last_error"], "HTTP 500");

    assert_eq!(t.call("DELETE", &format!("/v1/rtc/webhook/delete/{dead_id}"), None, Some(&key)).status, 200);
    let gone = t.call("GET", &format!("/v1/rtc/webhook/get/{dead_id}"), None, Some(&key));
    assert_eq!((gone.status, gone.code()), (404, "WEBHOOK_NOT_FOUND"));
}

/// The delivery that reached `url`, checked against the Standard Webhooks signature keyed
/// with `secret`: whether it verifies.
fn signed_with(t: &TestApp, url: &str, secret: &str) -> bool {
    let sent = t.native.http.sent();
    let delivery = sent.iter().find(|e| e.request.url == url).expect("a delivery to the endpoint");
    let header = |name: &str| delivery.request.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let body = String::from_utf8(delivery.request.body.clone().unwrap()).unwrap();
    let signed = format!("{}.{}.{body}", header("webhook-id").unwrap(), header("webhook-timestamp").unwrap());
    let mut mac = Hmac::<Sha256>::new_from_slice(&STANDARD.decode(&secret["whsec_".len()..]).unwrap()).unwrap();
    mac.update(signed.as_bytes());
    header("webhook-signature") == Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

#[test]
fn webhook_secrets_are_sealed_at_rest_bound_to_their_project_and_still_sign() {
    let t = app();
    let (project_a, a) = t.project_and_key();
    let b = t.project_key();
    let room_a = livekit_room(&t, &a, "ra");
    let room_b = livekit_room(&t, &b, "rb");
    let create = |key: &str, url: &str| {
        let r = t.call("POST", "/v1/rtc/webhook/create", Some(json!({"url": url})), Some(key));
        assert_eq!(r.status, 201, "{}", r.json);
        (r.json["webhook"].as_str().unwrap().to_owned(), r.json["secret"].as_str().unwrap().to_owned())
    };
    let (hook_a, secret_a) = create(&a, "http://127.0.0.1:9/a");
    let (hook_b, secret_b) = create(&b, "http://127.0.0.1:9/b");

    // At rest: neither the secret nor its key bytes, only the sealed form.
    let raw = t.native.db.rows("SELECT * FROM webhooks");
    assert_eq!(raw.len(), 2);
    for row in &raw {
        let text = serde_json::to_string(row).unwrap();
        for secret in [&secret_a, &secret_b] {
            assert!(!text.contains(secret.as_str()) && !text.contains(&secret["whsec_".len()..]), "{text}");
        }
        assert!(row["sealed_secret"].as_str().unwrap().starts_with("v1."), "{text}");
    }
    // What the store holds never shows in Debug.
    let stored = block_on(rtcgate::store::webhooks::find(&t.native.runtime, &project_a, &hook_a)).unwrap().unwrap();
    let shown = format!("{stored:?}");
    assert!(!shown.contains(&secret_a["whsec_".len()..]) && !shown.contains("v1."), "{shown}");

    // B's row gets A's sealed secret: under B's project it does not open.
    t.native.db.exec_raw(&format!(
        "UPDATE webhooks SET sealed_secret = (SELECT sealed_secret FROM webhooks WHERE id = '{hook_a}') \
         WHERE id = '{hook_b}'"
    ));
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 204, headers: vec![], body: vec![] }));
    t.native.http.clear();
    assert_eq!(livekit(&t, &lk_participant("participant_joined", &room_a, "EV_A", NOW_S, NOW_MS)).status, 200);
    assert_eq!(livekit(&t, &lk_participant("participant_joined", &room_b, "EV_B", NOW_S, NOW_MS)).status, 200);
    drain(&t);

    // A's delivery verifies with the secret A's create response returned.
    assert!(signed_with(&t, "http://127.0.0.1:9/a", &secret_a));
    // B's endpoint got nothing (signed with no secret, or another project's), and says why.
    assert!(t.native.http.sent().iter().all(|e| e.request.url != "http://127.0.0.1:9/b"), "nothing went to B");
    let health = t.call("GET", &format!("/v1/rtc/webhook/get/{hook_b}"), None, Some(&b));
    let delivery = &health.json["delivery"];
    assert_eq!(delivery["dead_lettered"], 1, "{}", health.json);
    assert_eq!(delivery["consecutive_failures"], 3, "{}", health.json);
    assert_eq!(delivery["last_status"], Value::Null);
    assert!(delivery["last_error"].as_str().unwrap().contains("signing secret"), "{}", health.json);
    assert!(!health.json.to_string().contains("v1."), "{}", health.json);
}

#[test]
fn a_deployment_that_lost_its_key_sends_nothing_and_says_why() {
    let t = app();
    let key = t.project_key();
    let room = livekit_room(&t, &key, "r");
    let hook = t.call("POST", "/v1/rtc/webhook/create", Some(json!({"url": "http://127.0.0.1:9/k"})), Some(&key));
    let hook = hook.json["webhook"].as_str().unwrap().to_owned();
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 204, headers: vec![], body: vec![] }));
    t.native.http.clear();
    assert_eq!(livekit(&t, &lk_participant("participant_joined", &room, "EV_K", NOW_S, NOW_MS)).status, 200);
    let keyless = support::app_with(&[LIVEKIT, EVENTS, LOCAL_DEV]);
    drain_with(&t, &keyless.settings);
    assert!(t.native.http.sent().is_empty(), "nothing is sent unsigned");
    let health = t.call("GET", &format!("/v1/rtc/webhook/get/{hook}"), None, Some(&key));
    assert_eq!(health.json["delivery"]["dead_lettered"], 1, "{}", health.json);
    assert!(health.json["delivery"]["last_error"].as_str().unwrap().contains("RTCGATE_ENCRYPTION_KEY is not set"));
}

#[test]
fn without_the_encryption_key_webhook_create_is_refused_and_the_rest_works() {
    for key_setting in [&[][..], &[("RTCGATE_ENCRYPTION_KEY", "not-hex")][..]] {
        let t = TestApp::new(&[LIVEKIT, EVENTS, LOCAL_DEV, key_setting]);
        let key = t.project_key();
        let r = t.call("POST", "/v1/rtc/webhook/create", Some(json!({"url": "http://127.0.0.1:9/x"})), Some(&key));
        assert_eq!((r.status, r.code()), (422, "ENCRYPTION_NOT_CONFIGURED"), "{}", r.json);
        assert!(r.json["error"]["message"].as_str().unwrap().contains("RTCGATE_ENCRYPTION_KEY"));
        assert_eq!(count_rows(&t, "SELECT count(*) AS n FROM webhooks"), 0);
        let listed = t.call("GET", "/v1/rtc/webhook/list", None, Some(&key));
        assert_eq!((listed.status, listed.json["items"].clone()), (200, json!([])));
        assert_eq!(t.call("GET", "/v1/rtc/event/list", None, Some(&key)).status, 200);
    }
}

#[test]
fn one_project_never_sees_another_projects_events_or_webhooks() {
    let t = app();
    let a = t.project_key();
    let b = t.project_key();
    let room_a = livekit_room(&t, &a, "shared-name");
    let _room_b = livekit_room(&t, &b, "shared-name");
    let hook_b = t.call("POST", "/v1/rtc/webhook/create", Some(json!({"url": "http://127.0.0.1:9/b"})), Some(&b));
    t.native.http.respond_with(|_| Ok(OutboundResponse { status: 200, headers: vec![], body: vec![] }));
    t.native.http.clear();
    assert_eq!(livekit(&t, &lk_participant("participant_joined", &room_a, "EV_a", NOW_S, NOW_MS)).status, 200);
    drain(&t);
    assert_eq!(events(&t, &a, "").len(), 1);
    assert!(events(&t, &b, "").is_empty());
    assert!(t.native.http.sent().is_empty(), "B's webhook got nothing of A's");
    let r = t.call("GET", &format!("/v1/rtc/event/list?room={room_a}"), None, Some(&b));
    assert_eq!(r.json["items"], json!([]));
    let hook = hook_b.json["webhook"].as_str().unwrap();
    assert_eq!(t.call("GET", &format!("/v1/rtc/webhook/get/{hook}"), None, Some(&a)).status, 404);
    assert_eq!(t.call("DELETE", &format!("/v1/rtc/webhook/delete/{hook}"), None, Some(&a)).status, 404);
    assert_eq!(t.call("GET", "/v1/rtc/usage", None, Some(&b)).json["totals"]["sessions"], 0);
}

/// The host is judged as `fetch` will parse it: every spelling of an internal address gets
/// the answer `https://127.0.0.1/` gets, and nothing is stored.
#[test]
fn webhook_hosts_are_judged_after_parsing() {
    for dev in [false, true] {
        let env: &[(&str, &str)] = if dev { &[("WEBHOOK_ALLOW_HTTP_LOOPBACK", "1")] } else { &[] };
        let t = TestApp::new(&[LIVEKIT, EVENTS, ENCRYPTION, env]);
        let key = t.project_key();
        let create = |url: &str| t.call("POST", "/v1/rtc/webhook/create", Some(json!({"url": url})), Some(&key));
        let answer = |r: &support::Reply| {
            (r.status, r.code().to_owned(), r.json["error"]["field"].clone(), r.json["error"]["message"].clone())
        };
        let internal = answer(&create("https://169.254.169.254/"));
        assert_eq!((internal.0, internal.2.as_str()), (400, Some("url")));
        let mut same_as_metadata = vec![
            "https://2852039166/",
            "https://0xa9.0xfe.0xa9.0xfe/",
            "https://0251.0376.0251.0376/",
            "https://169.254.43518/",
            "https://%31%36%39.254.169.254/",
            "https://\u{ff11}\u{ff16}\u{ff19}.\u{ff12}\u{ff15}\u{ff14}.\u{ff11}\u{ff16}\u{ff19}.\u{ff12}\u{ff15}\u{ff14}/",
            "https://169.254.169.254./",
            "https://[::ffff:169.254.169.254]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[64:ff9b::169.254.169.254]/",
            "https://[2002:a9fe:a9fe::]/",
            "https://[fd00:ec2::254]/",
            "https://10.1/",
            "https://[::10.0.0.1]/",
            "http://0xa000001/",
        ];
        if !dev {
            same_as_metadata.extend([
                "https://127.0.0.1/",
                "http://2130706433/",
                "https://2130706433/",
                "https://0177.0.0.1/",
                "https://0x7f.1/",
                "https://127.1/",
                "https://%31%32%37.0.0.1/",
                "https://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}/",
                "https://[::ffff:127.0.0.1]/",
                "https://[::127.0.0.1]/",
            ]);
        }
        // A well-formed host name (the documented pattern) that is internal is refused as a
        // business rule, 422, never 400: the document cannot list every internal name.
        let mut internal_names = vec!["https://metadata.google.internal/", "https://printer.local/h"];
        if !dev {
            internal_names.extend(["https://localhost./", "https://api.localhost/"]);
        }
        for url in internal_names {
            let r = create(url);
            assert_eq!(
                (r.status, r.json["error"]["code"].as_str(), r.json["error"]["field"].as_str()),
                (422, Some("DESTINATION_NOT_ALLOWED"), Some("url")),
                "{url}: {}",
                r.json
            );
        }
        for url in same_as_metadata {
            let r = create(url);
            assert_eq!(answer(&r), internal, "{url}: {}", r.json);
        }
        for junk in ["https://127.0.0.1:443junk/", "https://127.0.0.1%00/", "https://1.2.3.4.5/", "https://[::1/"] {
            let r = create(junk);
            assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some("url")), "{junk}");
        }
        assert_eq!(t.call("GET", "/v1/rtc/webhook/list", None, Some(&key)).json["items"], json!([]));
        // Public URLs are taken, stored as parsed.
        let ok = create("https://Hooks.Example.com/rtc?x=1");
        assert_eq!(
            (ok.status, ok.json["url"].as_str()),
            (201, Some("https://hooks.example.com/rtc?x=1")),
            "{}",
            ok.json
        );
        if dev {
            let local = create("http://127.0.0.1:9/ok");
            assert_eq!((local.status, local.json["url"].as_str()), (201, Some("http://127.0.0.1:9/ok")));
        }
    }
}

#[test]
fn webhook_urls_and_types_are_checked() {
    let prod = TestApp::new(&[LIVEKIT, EVENTS, ENCRYPTION]);
    let key = prod.project_key();
    let create = |t: &TestApp, key: &str, body: Value| t.call("POST", "/v1/rtc/webhook/create", Some(body), Some(key));
    // Not of the documented form (an IP literal, another scheme, nothing at all): 400.
    for url in [
        "http://127.0.0.1:9/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/",
        "ftp://x",
        "",
        "0",
        "https://93.184.216.34/",
        "https://a:69*",
    ] {
        let r = create(&prod, &key, json!({"url": url}));
        assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some("url")), "{url}: {}", r.json);
    }
    // Of the documented form but not a URL the WHATWG parser takes (a port past 65535, a
    // punycode label that does not decode): 400 INVALID_REQUEST on `url`, never 422, which is
    // only for a host deliveries may not go to.
    for url in ["https://hooks.example.com:99999/x", "https://xn--a/", "https://hooks.xn--a.example/"] {
        let r = create(&prod, &key, json!({"url": url}));
        assert_eq!(
            (r.status, r.code(), r.json["error"]["field"].as_str()),
            (400, "INVALID_REQUEST", Some("url")),
            "{url}: {}",
            r.json
        );
    }
    // Well-formed, but a host deliveries may not go to: 422.
    for url in
        ["https://localhost/x", "https://api.localhost/", "https://printer.local/", "https://metadata.google.internal/"]
    {
        let r = create(&prod, &key, json!({"url": url}));
        assert_eq!((r.status, r.code()), (422, "DESTINATION_NOT_ALLOWED"), "{url}: {}", r.json);
        assert_eq!(r.json["error"]["field"], "url");
    }
    let r =
        create(&prod, &key, json!({"url": "https://hooks.example.com/rtc", "types": ["room.started", "room.started"]}));
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["types"], json!(["room.started"]));
    // `null` is the same as leaving it out (as the document says).
    let r = create(&prod, &key, json!({"url": "https://hooks.example.com/null", "types": null}));
    assert_eq!((r.status, &r.json["types"]), (201, &Value::Null), "{}", r.json);
    for types in [json!([]), json!(["room.exploded"]), json!("room.started"), json!([1])] {
        let r = create(&prod, &key, json!({"url": "https://hooks.example.com/rtc", "types": types}));
        assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some("types")), "{types}");
    }
    let r = create(&prod, &key, json!({"url": "https://hooks.example.com/rtc", "typo": 1}));
    assert_eq!(r.code(), "UNKNOWN_FIELD");
    let r = prod.call("GET", "/v1/rtc/usage?from=yesterday", None, Some(&key));
    assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some("from")));
    // Vendor routes without the vendor's secret configured refuse everything.
    let r = post_vendor(&prod, "agora", "{}", &[("agora-signature-v2", "00")]);
    assert_eq!(r.status, 401);
    assert_eq!(post_vendor(&prod, "nobody", "{}", &[]).status, 404);
}

#[test]
fn recording_status_follows_egress_events() {
    let t = TestApp::new(&[LIVEKIT, EVENTS, SHARED_BUCKET]);
    let (project, key) = t.project_and_key();
    t.native.http.respond_with(|req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        if req.url.ends_with("/CreateRoom") {
            return json_response(200, &json!({"sid": "RM_1", "name": body["name"]}));
        }
        json_response(200, &json!({"egress_id": "EG_1", "room_name": body["room_name"], "status": "EGRESS_STARTING"}))
    });
    let room = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "rec", "vendor": "livekit"})), Some(&key));
    let room = room.json["room"].as_str().unwrap().to_owned();
    let s = start_recording(&t, &key, &room, &format!("s3://b/rtc/{project}/p/"));
    assert_eq!(s.status, 201, "{}", s.json);
    let status = || {
        let l = t.call("GET", "/v1/rtc/recording/list", None, Some(&key));
        l.json["items"][0]["status"].as_str().unwrap().to_owned()
    };
    let egress = |event: &str, id: &str, status: Option<&str>| {
        let mut info = json!({"egressId": "EG_1", "roomName": room});
        if let Some(s) = status {
            info["status"] = json!(s);
        }
        json!({"event": event, "egressInfo": info, "id": id}).to_string()
    };
    assert_eq!(livekit(&t, &egress("egress_updated", "EV_r1", Some("EGRESS_ACTIVE"))).status, 200);
    assert_eq!(status(), "active");
    assert_eq!(livekit(&t, &egress("egress_ended", "EV_r2", Some("EGRESS_COMPLETE"))).status, 200);
    assert_eq!(status(), "complete");
    // A late "active" does not reopen a finished recording.
    assert_eq!(livekit(&t, &egress("egress_updated", "EV_r0", Some("EGRESS_ACTIVE"))).status, 200);
    assert_eq!(status(), "complete");
    let kinds: Vec<String> = events(&t, &key, "").iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, vec!["recording.updated", "recording.ended", "recording.updated"]);
    assert_eq!(events(&t, &key, "?type=recording.ended")[0]["data"]["recording_id"], "EG_1");
}

/// An egress's own error text (buckets, keys, hosts) never reaches events: the event says
/// one of our sentences.
#[test]
fn egress_failures_reach_events_in_our_words() {
    let t = TestApp::new(&[LIVEKIT, EVENTS]);
    let key = t.project_key();
    t.native.http.respond_with(|req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        json_response(200, &json!({"sid": "RM_1", "name": body["name"]}))
    });
    let room = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "rec", "vendor": "livekit"})), Some(&key));
    let room = room.json["room"].as_str().unwrap().to_owned();
    let raw = "could not upload to s3://acme-private/rec (key AKIA-LEAKED): AccessDenied from 10.0.3.7";
    let body = json!({"event": "egress_ended", "id": "EV_f1",
                      "egressInfo": {"egressId": "EG_9", "roomName": room, "status": "EGRESS_FAILED", "error": raw}});
    assert_eq!(livekit(&t, &body.to_string()).status, 200);
    let ended = events(&t, &key, "?type=recording.ended");
    assert_eq!(ended[0]["data"]["error"], "the recording could not be written to its destination", "{ended:?}");
    let shown = serde_json::to_string(&ended).unwrap();
    assert!(!shown.contains("AKIA") && !shown.contains("acme-private") && !shown.contains("10.0.3.7"), "{shown}");
}

#[test]
fn zego_participant_lists_get_join_times_from_events() {
    let t = app();
    let key = t.project_key();
    let r = t.call(
        "POST",
        "/v1/rtc/token/issue",
        Some(json!({"room": "z", "identity": "alice", "vendor": "zego"})),
        Some(&key),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let room = r.json["room"].as_str().unwrap().to_owned();
    t.native.http.respond_with(|_| {
        json_response(
            200,
            &json!({"Code": 0, "Message": "ok", "RequestId": "rq", "Data": {"Marker": "", "UserList": [
            {"UserId": "alice", "UserName": "Alice", "UserRole": 1}]}}),
        )
    });
    let list = || t.call("GET", &format!("/v1/rtc/participant/list/{room}"), None, Some(&key)).json["items"][0].clone();
    assert_eq!(list()["joined_at"], Value::Null, "no join time before the vendor reported one");
    let login =
        format!("event=room_login&room_id={room}&user_account=alice&session_id=s9&login_time={NOW_MS}&user_role=1");
    assert_eq!(zego(&t, &zego_form(&login, "nz", NOW_S)).status, 200);
    assert_eq!(list()["joined_at"], "2023-11-14T22:13:20Z");
}

/// Agora Cloud Recording notices name a task by its bare `sid`, while the recording keeps
/// Agora's whole handle (resource id, sid, channel, uid…): the notices must still move it.
#[test]
fn agora_recording_status_follows_cloud_recording_notices() {
    let t = TestApp::new(&[AGORA, EVENTS, SHARED_BUCKET]);
    let (project, key) = t.project_and_key();
    t.native.http.respond_with(|req| {
        if req.url.ends_with("/acquire") {
            json_response(200, &json!({"resourceId": "RID-1"}))
        } else if req.url.ends_with("/start") {
            json_response(200, &json!({"resourceId": "RID-1", "sid": "SID-1"}))
        } else {
            json_response(200, &json!({"resourceId": "RID-1", "sid": "SID-1", "serverResponse": {"status": 5}}))
        }
    });
    let room = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "rec", "vendor": "agora"})), Some(&key));
    assert_eq!(room.status, 201, "{}", room.json);
    let room = room.json["room"].as_str().unwrap().to_owned();
    let s = start_recording(&t, &key, &room, &format!("s3://b/rtc/{project}/p/"));
    assert_eq!((s.status, s.json["status"].as_str()), (201, Some("starting")), "{}", s.json);
    let status = || {
        let l = t.call("GET", "/v1/rtc/recording/list", None, Some(&key));
        l.json["items"][0]["status"].as_str().unwrap().to_owned()
    };
    let notice = |id: &str, event_type: u32, sid: &str, details: Value| {
        json!({"noticeId": id, "productId": 3, "eventType": event_type, "notifyMs": NOW_MS, "sid": sid,
               "payload": {"cname": room, "uid": "9", "sid": sid, "sequence": 1, "sendts": NOW_MS,
                           "serviceType": 0, "details": details}})
        .to_string()
    };
    // Another task's notice (a sid this room never had) moves nothing.
    assert_eq!(agora(&t, &notice("n-other", 40, "SID-9", json!({"msgName": "recorder_started"}))).status, 200);
    assert_eq!(status(), "starting");
    assert_eq!(agora(&t, &notice("n-started", 40, "SID-1", json!({"msgName": "recorder_started"}))).status, 200);
    assert_eq!(status(), "active");
    let exit = json!({"msgName": "session_exit", "exitStatus": 0});
    assert_eq!(agora(&t, &notice("n-exit", 11, "SID-1", exit)).status, 200);
    assert_eq!(status(), "complete");
    // A late "started" does not reopen it.
    assert_eq!(agora(&t, &notice("n-late", 40, "SID-1", json!({"msgName": "recorder_started"}))).status, 200);
    assert_eq!(status(), "complete");
}

/// A ZEGO callback posted as JSON: `fields` plus the signature over (secret, timestamp, nonce).
fn zego_json(t: &TestApp, fields: Value, nonce: &str) -> support::Reply {
    let form = zego_form("", nonce, NOW_S);
    let mut body = fields;
    for (k, v) in url::form_urlencoded::parse(form.trim_start_matches('&').as_bytes()) {
        body[k.as_ref()] = json!(v);
    }
    post_vendor(t, "zego", &body.to_string(), &[("content-type", "application/json")])
}

/// ZEGO's cloud recording callbacks name a task by the `task_id` ZEGO gave at StartRecord: a
/// stop under way, the upload finished (whole or partly), a failure move the recording; another
/// task's callback and a late one move nothing.
#[test]
fn zego_recording_status_follows_cloud_recording_callbacks() {
    let t = TestApp::new(&[
        ZEGO,
        EVENTS,
        &[
            ("ZEGO_RECORDING_API_BASE", "https://zego-rec.test"),
            ("RECORDING_S3_ACCESS_KEY", "AKIA-TEST"),
            ("RECORDING_S3_SECRET", "s3-secret"),
            ("RECORDING_S3_REGION", "eu-west-1"),
            ("RECORDING_DEFAULT_URI", "s3://b/rtc/"),
        ],
    ]);
    let (project, key) = t.project_and_key();
    let tasks = std::rc::Rc::new(std::cell::Cell::new(0));
    let started = tasks.clone();
    t.native.http.respond_with(move |req| {
        let data = if req.url.contains("Action=StartRecord") {
            started.set(started.get() + 1);
            json!({"TaskId": format!("TASK-{}", started.get())})
        } else {
            json!({"Status": 2, "RecordFiles": []})
        };
        json_response(200, &json!({"Code": 0, "Message": "succeed", "RequestId": "r1", "Data": data}))
    });
    let mut rooms = Vec::new();
    for name in ["whole", "partial", "failing"] {
        let room = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": name, "vendor": "zego"})), Some(&key));
        assert_eq!(room.status, 201, "{}", room.json);
        let room = room.json["room"].as_str().unwrap().to_owned();
        let s = start_recording(&t, &key, &room, &format!("s3://b/rtc/{project}/{name}/"));
        assert_eq!(s.status, 201, "{}", s.json);
        rooms.push((
            room,
            s.json["recording"].as_str().unwrap().to_owned(),
            s.json["status"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(tasks.get(), 3, "one ZEGO task per recording: TASK-1, TASK-2, TASK-3");
    // As stored (`get` would ask ZEGO; the list shows what the callbacks made of it).
    let status = |recording: &str| {
        let r = t.call("GET", "/v1/rtc/recording/list", None, Some(&key));
        assert_eq!(r.status, 200, "{}", r.json);
        let items = r.json["items"].as_array().unwrap();
        let item = items.iter().find(|i| i["recording"] == recording).unwrap_or_else(|| panic!("{}", r.json));
        item["status"].as_str().unwrap().to_owned()
    };
    let callback = |room: &str, task: &str, event_type: u32, sequence: u32, detail: Value| {
        let fields = json!({"app_id": 1234567890, "task_id": task, "room_id": room, "event_type": event_type,
                            "sequence": sequence, "message": "", "detail": detail});
        let r = zego_json(&t, fields, &format!("n-{task}-{event_type}-{sequence}"));
        assert_eq!(r.status, 200, "{}", r.json);
    };
    let (whole, whole_rec, before) = &rooms[0];
    // Another task's callback (a task id this room never had) moves nothing.
    callback(whole, "TASK-9", 5, 1, json!({}));
    assert_eq!(&status(whole_rec), before);
    callback(whole, "TASK-1", 5, 2, json!({}));
    assert_eq!(status(whole_rec), "stopping");
    let files = json!({"upload_status": 1, "file_info": [{"file_url": "https://b.s3/rtc/x.mp4", "file_size": 4096, "duration": 61000}]});
    callback(whole, "TASK-1", 1, 3, files);
    assert_eq!(status(whole_rec), "complete");
    // A late "stopping" does not reopen it.
    callback(whole, "TASK-1", 5, 4, json!({}));
    assert_eq!(status(whole_rec), "complete");

    let (partial, partial_rec, _) = &rooms[1];
    callback(partial, "TASK-2", 1, 1, json!({"upload_status": 2}));
    assert_eq!(status(partial_rec), "failed", "a partial upload is a failure");
    let (failing, failing_rec, _) = &rooms[2];
    callback(failing, "TASK-3", 2, 1, json!({}));
    assert_eq!(status(failing_rec), "failed");
    let types: Vec<Value> = events(&t, &key, &format!("?room={whole}")).iter().map(|e| e["type"].clone()).collect();
    assert!(types.contains(&json!("recording.ended")), "{types:?}");
}

/// Another project asking for a room of A's, by its id or its name, in `usage?room=` and
/// `recording/list?room=`, sees nothing of A's: by id an empty answer, by a name it does not
/// have a 404, by a name it has too only its own room.
#[test]
fn usage_and_recordings_by_room_show_another_project_nothing() {
    let t = TestApp::new(&[AGORA, EVENTS, SHARED_BUCKET]);
    let (project_a, a) = t.project_and_key();
    let b = t.project_key();
    // A's rooms: one with a session and a recording, one whose name only A has.
    let (room, uid) = agora_member(&t, &a, "standup", "alice");
    agora_member(&t, &a, "a-only", "alice");
    let join = json!({"noticeId": "n-1", "productId": 1, "eventType": 103, "notifyMs": NOW_MS,
                      "payload": {"channelName": room, "uid": uid, "platform": 7, "clientSeq": 1, "ts": NOW_S}});
    let leave = json!({"noticeId": "n-2", "productId": 1, "eventType": 104, "notifyMs": NOW_MS + 60_000,
                       "payload": {"channelName": room, "uid": uid, "platform": 7, "clientSeq": 2,
                                   "ts": NOW_S + 60, "reason": 1, "duration": 60}});
    assert_eq!(agora(&t, &join.to_string()).status, 200);
    assert_eq!(agora(&t, &leave.to_string()).status, 200);
    t.native.http.respond_with(|req| {
        if req.url.ends_with("/acquire") {
            json_response(200, &json!({"resourceId": "RID-1"}))
        } else {
            json_response(200, &json!({"resourceId": "RID-1", "sid": "SID-1"}))
        }
    });
    let started = start_recording(&t, &a, &room, &format!("s3://b/rtc/{project_a}/p/"));
    assert_eq!(started.status, 201, "{}", started.json);
    // B has a room of the same name, with nothing in it.
    let (room_b, _) = agora_member(&t, &b, "standup", "bob");
    assert_ne!(room_b, room);

    let usage =
        |key: &str, query: &str| t.call("GET", &format!("/v1/rtc/usage?from=2023-11-14&{query}"), None, Some(key));
    let recordings =
        |key: &str, query: &str| t.call("GET", &format!("/v1/rtc/recording/list?{query}"), None, Some(key));
    // What A sees: its session and its recording, by id and by name.
    for query in [format!("room={room}"), "room=standup".to_owned()] {
        let u = usage(&a, &query);
        assert_eq!((u.status, u.json["totals"]["sessions"].as_i64()), (200, Some(1)), "{query}: {}", u.json);
        let r = recordings(&a, &query);
        assert_eq!((r.status, r.json["items"].as_array().map(Vec::len)), (200, Some(1)), "{query}: {}", r.json);
    }
    // B, by A's room id: nothing.
    let u = usage(&b, &format!("room={room}"));
    assert_eq!(u.status, 200, "{}", u.json);
    assert_eq!(u.json["totals"], json!({"sessions": 0, "participant_seconds": 0, "participant_minutes": 0}));
    assert_eq!(u.json["rooms"], json!([]));
    let r = recordings(&b, &format!("room={room}"));
    assert_eq!((r.status, r.json["items"].clone()), (200, json!([])), "{}", r.json);
    // B, by the name both have: its own room, which has nothing.
    let u = usage(&b, "room=standup");
    assert_eq!((u.status, u.json["room"].as_str()), (200, Some(room_b.as_str())), "{}", u.json);
    assert_eq!(u.json["totals"]["sessions"], 0);
    let r = recordings(&b, "room=standup");
    assert_eq!((r.status, r.json["items"].clone()), (200, json!([])), "{}", r.json);
    // B, by a name only A has: no such room.
    for reply in [usage(&b, "room=a-only"), recordings(&b, "room=a-only")] {
        assert_eq!((reply.status, reply.code()), (404, "ROOM_NOT_FOUND"), "{}", reply.json);
    }
    assert!(!t.call("GET", "/v1/rtc/recording/list", None, Some(&b)).json.to_string().contains(&room));
}

/// `POST /v1/rtc/recording/start` for `room` into `output_uri`.
fn start_recording(t: &TestApp, key: &str, room: &str, output_uri: &str) -> Reply {
    t.call("POST", "/v1/rtc/recording/start", Some(json!({"room": room, "output_uri": output_uri})), Some(key))
}

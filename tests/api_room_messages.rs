//! `POST /v1/rtc/room/message/{room}` through `App::handle`: the exact vendor call on each
//! vendor (LiveKit `SendData`, ZEGO `SendCustomCommand`), the portable limits checked before
//! any call, and each vendor failure translated.

mod support;

use rtcgate::native::json_response;
use serde_json::{json, Value};
use support::{TestApp, AGORA, LIVEKIT, ZEGO};

fn room_on(t: &TestApp, key: &str, vendor: &str) -> String {
    if vendor == "livekit" {
        return t.livekit_room(key, "standup");
    }
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "standup", "vendor": vendor})), Some(key));
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["room"].as_str().unwrap().to_owned()
}

fn zego_query(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.to_owned(), percent_decode(v))
        })
        .filter(|(k, _)| {
            !["AppId", "SignatureNonce", "Timestamp", "Signature", "SignatureVersion"].contains(&k.as_str())
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    rtcgate::http::percent_decode(s)
}

#[test]
fn livekit_sends_data_reliably_with_recipients_and_topic() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = room_on(&t, &key, "livekit");
    t.native.http.clear();
    t.native.http.respond_with(|_| json_response(200, &json!({})));
    let r = t.call(
        "POST",
        &format!("/v1/rtc/room/message/{room}"),
        Some(json!({"data": "aGk=", "encoding": "base64", "to": ["alice", "bob"], "topic": "chat"})),
        Some(&key),
    );
    assert_eq!((r.status, r.json.clone()), (202, json!({"ok": true})));
    let sent = t.native.http.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].request.url, "https://livekit.test/twirp/livekit.RoomService/SendData");
    let body: Value = serde_json::from_slice(sent[0].request.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"room": room, "data": "aGk=", "kind": "RELIABLE", "destination_identities": ["alice", "bob"],
               "topic": "chat"})
    );

    // By name, utf8 (the default), to everyone.
    t.native.http.clear();
    let r = t.call("POST", "/v1/rtc/room/message/standup", Some(json!({"data": "hé"})), Some(&key));
    assert_eq!(r.status, 202, "{}", r.json);
    let body: Value = serde_json::from_slice(t.native.http.sent()[0].request.body.as_deref().unwrap()).unwrap();
    assert_eq!(body, json!({"room": room, "data": "aMOp", "kind": "RELIABLE"}));
}

#[test]
fn livekit_not_found_is_a_room_that_is_not_live() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = room_on(&t, &key, "livekit");
    t.native
        .http
        .respond_with(|_| json_response(404, &json!({"code": "not_found", "msg": "room not found", "meta": {}})));
    let r = t.call("POST", &format!("/v1/rtc/room/message/{room}"), Some(json!({"data": "x"})), Some(&key));
    assert_eq!((r.status, r.code()), (409, "ROOM_NOT_LIVE"), "{}", r.json);
    assert_eq!(r.json["error"]["vendor"], "livekit");
    assert!(!r.json.to_string().contains("room not found"), "the vendor's words are not passed on: {}", r.json);
}

#[test]
fn zego_sends_a_custom_command_as_the_reserved_sender() {
    let t = TestApp::new(&[ZEGO]);
    let key = t.project_key();
    let room = room_on(&t, &key, "zego");
    t.native.http.respond_with(|_| json_response(200, &json!({"Code": 0, "Message": "success", "RequestId": "r1"})));
    let r = t.call(
        "POST",
        &format!("/v1/rtc/room/message/{room}"),
        Some(json!({"data": "quiz starts & ends", "to": ["alice"]})),
        Some(&key),
    );
    assert_eq!(r.status, 202, "{}", r.json);
    let sent = t.native.http.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].request.url.starts_with("https://zego.test/?Action=SendCustomCommand&"), "{}", sent[0].request.url);
    assert_eq!(
        zego_query(&sent[0].request.url),
        vec![
            ("Action".to_owned(), "SendCustomCommand".to_owned()),
            ("RoomId".to_owned(), room.clone()),
            ("FromUserId".to_owned(), "rtcgate.server".to_owned()),
            ("ToUserId[]".to_owned(), "alice".to_owned()),
            ("MessageContent".to_owned(), "quiz starts & ends".to_owned()),
        ]
    );
    // No token is minted for the sender's id, so no participant shares it.
    let tok =
        t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": room, "identity": "rtcgate.server"})), Some(&key));
    assert_eq!((tok.status, tok.code()), (422, "IDENTITY_NOT_SUPPORTED"), "{}", tok.json);
}

#[test]
fn zego_codes_translate_and_fields_it_cannot_carry_are_refused_before_a_call() {
    let t = TestApp::new(&[ZEGO]);
    let key = t.project_key();
    let room = room_on(&t, &key, "zego");
    let path = format!("/v1/rtc/room/message/{room}");
    for (code, status, ours) in [
        (50003, 404, "PARTICIPANT_NOT_FOUND"),
        (50001, 409, "ROOM_NOT_LIVE"),
        (50012, 413, "MESSAGE_TOO_LARGE"),
        (50013, 502, "VENDOR_UNAVAILABLE"),
    ] {
        t.native.http.respond_with(move |_| {
            json_response(200, &json!({"Code": code, "Message": "vendor words", "RequestId": "r2"}))
        });
        let r = t.call("POST", &path, Some(json!({"data": "x", "to": ["bob"]})), Some(&key));
        assert_eq!((r.status, r.code()), (status, ours), "code {code}: {}", r.json);
        assert!(!r.json.to_string().contains("vendor words"), "{}", r.json);
    }
    t.native.http.clear();
    for (body, field) in
        [(json!({"data": "x", "topic": "chat"}), "topic"), (json!({"data": "/w==", "encoding": "base64"}), "data")]
    {
        let r = t.call("POST", &path, Some(body), Some(&key));
        assert_eq!((r.status, r.code()), (422, "UNSUPPORTED_BY_VENDOR"), "{}", r.json);
        assert_eq!(
            (r.json["error"]["field"].as_str(), r.json["error"]["vendor"].as_str()),
            (Some(field), Some("zego"))
        );
    }
    assert!(t.native.http.sent().is_empty(), "refused before any call");
}

#[test]
fn agora_rtc_clients_cannot_receive_server_messages() {
    let t = TestApp::new(&[AGORA]);
    let key = t.project_key();
    let room = room_on(&t, &key, "agora");
    let r = t.call("POST", &format!("/v1/rtc/room/message/{room}"), Some(json!({"data": "x"})), Some(&key));
    assert_eq!((r.status, r.code()), (422, "UNSUPPORTED_BY_VENDOR"), "{}", r.json);
    assert!(t.native.http.sent().is_empty());
    let d = t.call("GET", "/v1/discovery/rtc.room.message", None, Some(&key));
    assert_eq!(d.status, 200, "{}", d.json);
    let agora = d.json["vendors"].as_array().unwrap().iter().find(|v| v["vendor"] == "agora").unwrap().clone();
    assert_eq!(agora["status"], "unsupported", "{}", d.json);
}

#[test]
fn portable_limits_are_checked_before_any_vendor_call() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let room = room_on(&t, &key, "livekit");
    t.native.http.clear();
    let path = format!("/v1/rtc/room/message/{room}");
    let eleven: Vec<String> = (0..11).map(|i| format!("u{i}")).collect();
    let cases = [
        (json!({"data": "x".repeat(1025)}), 413, "MESSAGE_TOO_LARGE", "data"),
        (json!({"data": base64_of(&[7u8; 1025]), "encoding": "base64"}), 413, "MESSAGE_TOO_LARGE", "data"),
        (json!({}), 400, "INVALID_REQUEST", "data"),
        (json!({"data": ""}), 400, "INVALID_REQUEST", "data"),
        (json!({"data": 5}), 400, "INVALID_REQUEST", "data"),
        (json!({"data": "!!", "encoding": "base64"}), 400, "INVALID_REQUEST", "data"),
        (json!({"data": "x", "encoding": "hex"}), 400, "INVALID_REQUEST", "encoding"),
        (json!({"data": "x", "to": eleven}), 400, "INVALID_REQUEST", "to"),
        (json!({"data": "x", "to": []}), 400, "INVALID_REQUEST", "to"),
        (json!({"data": "x", "to": ["a", "a"]}), 400, "INVALID_REQUEST", "to"),
        (json!({"data": "x", "to": "a"}), 400, "INVALID_REQUEST", "to"),
        (json!({"data": "x", "topic": "t".repeat(65)}), 400, "INVALID_REQUEST", "topic"),
        (json!({"data": "x", "kind": "lossy"}), 400, "UNKNOWN_FIELD", "kind"),
    ];
    for (body, status, code, field) in cases {
        let r = t.call("POST", &path, Some(body.clone()), Some(&key));
        assert_eq!(
            (r.status, r.code(), r.json["error"]["field"].as_str()),
            (status, code, Some(field)),
            "{body}: {}",
            r.json
        );
    }
    // Exactly the limit passes.
    t.native.http.respond_with(|_| json_response(200, &json!({})));
    let r = t.call("POST", &path, Some(json!({"data": "x".repeat(1024), "to": (0..10).map(|i| format!("u{i}")).collect::<Vec<_>>(), "topic": "t".repeat(64)})), Some(&key));
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(t.native.http.sent().len(), 1, "only the last request reached the vendor");
    let missing = t.call("POST", "/v1/rtc/room/message/nope", Some(json!({"data": "x"})), Some(&key));
    assert_eq!((missing.status, missing.code()), (404, "ROOM_NOT_FOUND"));
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

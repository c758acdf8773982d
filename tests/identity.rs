//! A participant's identity: the exact answer to every kind of refused identity, per vendor
//! and per route, and the OpenAPI document's identity rules held to the code's.

mod support;

use rtcgate::http::ApiRequest;
use serde_json::{json, Value};
use support::{TestApp, AGORA, LIVEKIT, ZEGO};

const REQUEST_ID: &str = "req-identity";

fn post(t: &TestApp, path: &str, body: Value, key: &str) -> support::Reply {
    let req = ApiRequest::new("POST", path)
        .with_json(&body)
        .with_header("authorization", &format!("Bearer {key}"))
        .with_header("x-request-id", REQUEST_ID);
    t.send(req)
}

/// The body as sent, byte for byte.
fn body_text(r: &support::Reply) -> String {
    String::from_utf8(r.response.body.clone()).unwrap()
}

/// An expected answer: its status and its body.
type Answer = (u16, Value);

fn invalid(message: &str) -> Answer {
    (
        400,
        json!({"error": {"code": "INVALID_REQUEST", "message": message, "request_id": REQUEST_ID, "field": "identity"}}),
    )
}

fn not_supported(vendor: &str, why: &str) -> Answer {
    let message = format!("{vendor} cannot take this identity: {why}");
    let error = json!({"code": "IDENTITY_NOT_SUPPORTED", "message": message, "request_id": REQUEST_ID,
        "field": "identity", "vendor": vendor});
    (422, json!({ "error": error }))
}

/// Identities every vendor refuses the same way (the common rule), as the `identity` field
/// of a body, with their answers.
fn common_refusals() -> Vec<(Option<Value>, Answer)> {
    vec![
        (None, invalid("'identity' is required")),
        (Some(Value::Null), invalid("'identity' is required")),
        (Some(json!("")), invalid("'identity' must not be empty")),
        (Some(json!(42)), invalid("'identity' must be a string")),
        (Some(json!(["alice"])), invalid("'identity' must be a string")),
        (Some(json!("u".repeat(257))), invalid("'identity' must be at most 256 characters")),
        (Some(json!("é".repeat(257))), invalid("'identity' must be at most 256 characters")),
        (Some(json!("a\nb")), invalid("'identity' must not contain control characters")),
        (Some(json!("nul\0")), invalid("'identity' must not contain control characters")),
        (Some(json!("del\u{7f}")), invalid("'identity' must not contain control characters")),
        (Some(json!("c1\u{85}")), invalid("'identity' must not contain control characters")),
    ]
}

const ZEGO_CHARSET: &str = "ZEGO user ids may contain only ASCII letters, digits and ~!@#$^&*()_+=-`;,.<>/\\";

/// Per vendor: identities within the common rule that the vendor refuses, with their
/// answers, and the longest or oddest ones it takes.
fn vendor_cases(vendor: &str) -> (Vec<(String, Answer)>, Vec<String>) {
    match vendor {
        "livekit" => (
            vec![
                ("é".repeat(129), not_supported("livekit", "at most 256 bytes of UTF-8")),
                (format!("{}é", "a".repeat(255)), not_supported("livekit", "at most 256 bytes of UTF-8")),
            ],
            vec!["é".repeat(128), "u".repeat(256), "user@example.com with spaces & ünïcödé".into()],
        ),
        "agora" => (
            vec![
                ("a".repeat(256), not_supported("agora", "at most 255 bytes of UTF-8")),
                ("é".repeat(128), not_supported("agora", "at most 255 bytes of UTF-8")),
            ],
            vec!["a".repeat(255), "é".repeat(127), "user@example.com with spaces & ünïcödé".into()],
        ),
        "zego" => (
            vec![
                ("z".repeat(64), not_supported("zego", "ZEGO user ids are at most 63 bytes (this one is 64)")),
                ("é".repeat(32), not_supported("zego", "ZEGO user ids are at most 63 bytes (this one is 64)")),
                ("u".repeat(256), not_supported("zego", "ZEGO user ids are at most 63 bytes (this one is 256)")),
                ("a b".into(), not_supported("zego", ZEGO_CHARSET)),
                ("50%".into(), not_supported("zego", ZEGO_CHARSET)),
                ("o'neil".into(), not_supported("zego", ZEGO_CHARSET)),
                ("o’neil".into(), not_supported("zego", ZEGO_CHARSET)),
                ("é".into(), not_supported("zego", ZEGO_CHARSET)),
                ("a:b".into(), not_supported("zego", ZEGO_CHARSET)),
            ],
            vec!["z".repeat(63), "~!@#$^&*()_+=-`;,.<>/\\".into(), "Alice.Smith-2".into()],
        ),
        _ => unreachable!(),
    }
}

fn app_for(vendor: &str) -> (TestApp, String) {
    let vars = match vendor {
        "livekit" => LIVEKIT,
        "agora" => AGORA,
        _ => ZEGO,
    };
    let t = TestApp::new(&[vars]);
    // LiveKit creates rooms with a call; the others open a room on first join.
    t.native.http.respond_with(|req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        rtcgate::native::json_response(
            200,
            &json!({"sid": "RM_1", "name": body["name"], "creation_time": "1700000000"}),
        )
    });
    let key = t.project_key();
    (t, key)
}

fn assert_answer(r: &support::Reply, expected: &Answer, what: &str) {
    assert_eq!((r.status, &r.json), (expected.0, &expected.1), "{what}");
    // Byte for byte, not only as a value: the envelope's keys in their order.
    assert_eq!(body_text(r), expected.1.to_string(), "{what}");
}

#[test]
fn refused_identities_get_the_same_answer_on_every_route_and_vendor() {
    for vendor in ["livekit", "agora", "zego"] {
        let (t, key) = app_for(vendor);
        let existing = post(&t, "/v1/rtc/token/issue", json!({"room": "existing", "identity": "u1"}), &key);
        assert_eq!(existing.status, 200, "{vendor}: {}", existing.json);
        let room_id = existing.json["room"].as_str().unwrap().to_owned();
        for (identity, expected) in common_refusals() {
            // A new room's name, an existing room, and a kick (which takes any well-formed identity).
            for (path, room) in [
                ("/v1/rtc/token/issue", Some("fresh")),
                ("/v1/rtc/token/issue", Some("existing")),
                (&*format!("/v1/rtc/participant/kick/{room_id}"), None),
            ] {
                let mut body = json!({});
                if let Some(room) = room {
                    body["room"] = json!(room);
                }
                if let Some(identity) = &identity {
                    body["identity"] = identity.clone();
                }
                let r = post(&t, path, body, &key);
                assert_answer(&r, &expected, &format!("{vendor} {path} {room:?} {identity:?}"));
            }
        }
        let (refused, accepted) = vendor_cases(vendor);
        for (identity, expected) in &refused {
            for room in ["fresh", "existing"] {
                let r = post(&t, "/v1/rtc/token/issue", json!({"room": room, "identity": identity}), &key);
                assert_answer(&r, expected, &format!("{vendor} {room} {identity:?}"));
            }
        }
        // Nothing refused left a room behind.
        let rooms = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
        let names: Vec<&str> =
            rooms.json["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["existing"], "{vendor}");
        for identity in &accepted {
            let r = post(&t, "/v1/rtc/token/issue", json!({"room": "existing", "identity": identity}), &key);
            assert_eq!(
                (r.status, r.json["identity"].as_str()),
                (200, Some(identity.as_str())),
                "{vendor} {identity:?}"
            );
        }
    }
}

fn openapi() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api/openapi.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every string of the document, with where it is.
fn strings(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((at.to_owned(), s.clone())),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, x)| strings(x, &format!("{at}/{i}"), out)),
        Value::Object(map) => map.iter().for_each(|(k, x)| strings(x, &format!("{at}/{k}"), out)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_states_the_identity_rules_the_code_applies() {
    use rtcgate::domain::identity::{IdentityRule, MAX_IDENTITY_CHARS};
    use rtcgate::domain::text::CONTROL_FREE_PATTERN;
    use rtcgate::vendors::{agora, livekit, zego};

    let doc = openapi();
    let common = format!("1 to {MAX_IDENTITY_CHARS} characters, no control characters.");
    for schema in ["IssueTokenRequest", "KickRequest"] {
        let identity = &doc["components"]["schemas"][schema]["properties"]["identity"];
        assert_eq!(identity["type"], "string", "{schema}");
        assert_eq!(identity["minLength"], 1, "{schema}");
        assert_eq!(identity["maxLength"], MAX_IDENTITY_CHARS, "{schema}");
        assert_eq!(identity["pattern"], CONTROL_FREE_PATTERN, "{schema}");
        assert!(identity["description"].as_str().unwrap().contains(&common), "{schema}: {}", identity["description"]);
    }

    // Each vendor's rule, in the words the document uses for it.
    assert!(matches!(livekit::IDENTITY_RULE, IdentityRule::Utf8 { .. }));
    assert!(matches!(agora::IDENTITY_RULE, IdentityRule::Utf8 { .. }));
    let IdentityRule::AsciiUserId { punctuation, .. } = zego::IDENTITY_RULE else {
        panic!("ZEGO takes ASCII user ids")
    };
    let (lk, ag, zg) =
        (livekit::IDENTITY_RULE.max_bytes(), agora::IDENTITY_RULE.max_bytes(), zego::IDENTITY_RULE.max_bytes());
    let in_the_request = format!(
        "LiveKit at most {lk} bytes of UTF-8, Agora {ag} bytes, ZEGO {zg} bytes of ASCII letters, digits and ``{punctuation}``"
    );
    let in_the_refusal = format!(
        "LiveKit at most {lk} bytes of UTF-8, Agora at most {ag} bytes, ZEGO at most {zg} bytes of ASCII letters, digits and ``{punctuation}``"
    );
    let request = doc["components"]["schemas"]["IssueTokenRequest"]["properties"]["identity"]["description"].as_str();
    assert!(request.unwrap().contains(&in_the_request), "{request:?}\nshould say: {in_the_request}");
    let refusal = doc["paths"]["/v1/rtc/token/issue"]["post"]["responses"]["422"]["description"].as_str();
    assert!(refusal.unwrap().contains(&in_the_refusal), "{refusal:?}\nshould say: {in_the_refusal}");

    // And no other copy of the vendor limits hides elsewhere in the document.
    let mut all = Vec::new();
    strings(&doc, "", &mut all);
    let copies: Vec<&str> =
        all.iter().filter(|(_, s)| s.contains("bytes of ASCII letters")).map(|(at, _)| at.as_str()).collect();
    assert_eq!(
        copies,
        [
            "/components/schemas/IssueTokenRequest/properties/identity/description",
            "/paths//v1/rtc/token/issue/post/responses/422/description",
        ],
        "every statement of the vendors' identity limits is one this test checks"
    );
}

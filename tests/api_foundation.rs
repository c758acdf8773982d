//! The HTTP surface every route shares: health, auth, admin keys, the error envelope,
//! request ids, limits. Driven natively through `App::handle`.

mod support;

use rtcgate::http::ApiRequest;
use serde_json::json;
use support::{TestApp, ADMIN};

#[test]
fn health_needs_no_auth_and_reports_version() {
    let t = TestApp::new(&[]);
    let r = t.call("GET", "/v1/health", None, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}));
}

#[test]
fn api_routes_refuse_missing_malformed_and_unknown_keys() {
    let t = TestApp::new(&[]);
    let cases = [None, Some("Basic abc"), Some("Bearer"), Some("Bearer rtc_sk_doesnotexist"), Some("Bearer has space")];
    for auth in cases {
        let mut req = ApiRequest::new("GET", "/v1/rtc/room/list");
        if let Some(a) = auth {
            req = req.with_header("authorization", a);
        }
        let r = t.send(req);
        assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "{auth:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
}

#[test]
fn admin_creates_lists_and_revokes_keys() {
    let t = TestApp::new(&[]);
    let p = t.call("POST", "/v1/admin/projects", Some(json!({"name": "acme"})), Some(ADMIN));
    assert_eq!(p.status, 201);
    let project = p.json["project"]["id"].as_str().unwrap().to_owned();
    assert!(p.json["project"]["created_at"].as_str().unwrap().ends_with('Z'));

    let k = t.call("POST", &format!("/v1/admin/projects/{project}/keys"), Some(json!({"label": "ci"})), Some(ADMIN));
    assert_eq!(k.status, 201);
    let secret = k.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("rtc_sk_") && secret.len() == 7 + 32, "{secret}");
    let key_id = k.json["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(k.json["key"]["last4"], secret[secret.len() - 4..]);

    let ok = t.call("GET", "/v1/rtc/room/list", None, Some(&secret));
    assert_eq!(ok.status, 200, "{}", ok.json);

    let list = t.call("GET", &format!("/v1/admin/projects/{project}/keys"), None, Some(ADMIN));
    assert_eq!(list.status, 200);
    let text = list.json.to_string();
    assert!(!text.contains(&secret) && !text.contains("hash"), "{text}");
    assert_eq!(list.json["items"][0]["label"], "ci");

    let rev = t.call("POST", &format!("/v1/admin/keys/{key_id}/revoke"), None, Some(ADMIN));
    assert_eq!(rev.status, 200);
    assert!(rev.json["key"]["revoked_at"].is_string());
    let refused = t.call("GET", "/v1/rtc/room/list", None, Some(&secret));
    assert_eq!((refused.status, refused.code()), (401, "UNAUTHENTICATED"));

    let missing = t.call("POST", "/v1/admin/keys/key_nope/revoke", None, Some(ADMIN));
    assert_eq!((missing.status, missing.code()), (404, "KEY_NOT_FOUND"));
    let no_project = t.call("POST", "/v1/admin/projects/prj_nope/keys", None, Some(ADMIN));
    assert_eq!((no_project.status, no_project.code()), (404, "PROJECT_NOT_FOUND"));
}

#[test]
fn admin_token_is_required_and_admin_is_off_without_one() {
    let t = TestApp::new(&[]);
    let wrong = t.call("POST", "/v1/admin/projects", Some(json!({"name": "x"})), Some("nope"));
    assert_eq!((wrong.status, wrong.code()), (401, "UNAUTHENTICATED"));
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));

    let off = std::rc::Rc::new(rtcgate::app::App::from_env(&|_| None));
    let native = rtcgate::native::NativeRuntime::new(support::NOW_MS);
    let r = rtcgate::native::block_on(off.handle(
        &native.runtime,
        ApiRequest::new("POST", "/v1/admin/projects").with_header("authorization", "Bearer x"),
    ));
    assert_eq!(r.status, 403);
}

#[test]
fn body_errors_name_their_field() {
    let t = TestApp::new(&[]);
    let raw = |body: &str, ct: &str| {
        let mut req =
            ApiRequest::new("POST", "/v1/admin/projects").with_header("authorization", &format!("Bearer {ADMIN}"));
        req.body = body.as_bytes().to_vec();
        t.send(req.with_header("content-type", ct))
    };
    let r = raw("{", "application/json");
    assert_eq!((r.status, r.code()), (400, "INVALID_JSON"));
    let r = raw("{}", "application/json");
    assert_eq!((r.status, r.code(), r.json["error"]["field"].as_str()), (400, "INVALID_REQUEST", Some("name")));
    let r = raw(r#"{"name": 5}"#, "application/json");
    assert_eq!((r.status, r.json["error"]["field"].as_str()), (400, Some("name")));
    let r = raw(r#"{"name": "x", "nmae": "y"}"#, "application/json");
    assert_eq!((r.status, r.code(), r.json["error"]["field"].as_str()), (400, "UNKNOWN_FIELD", Some("nmae")));
    let r = raw(r#"{"name": "x"}"#, "text/plain");
    assert_eq!((r.status, r.code()), (415, "UNSUPPORTED_MEDIA_TYPE"));
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(70_000));
    let r = raw(&big, "application/json");
    assert_eq!((r.status, r.code()), (413, "PAYLOAD_TOO_LARGE"));
}

#[test]
fn unknown_routes_and_wrong_methods() {
    let t = TestApp::new(&[]);
    let r = t.call("GET", "/v1/nothing", None, None);
    assert_eq!((r.status, r.code()), (404, "ROUTE_NOT_FOUND"));
    let r = t.call("DELETE", "/v1/health", None, None);
    assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"));
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[test]
fn request_ids_are_echoed_when_sane_and_match_the_envelope() {
    let t = TestApp::new(&[]);
    let r = t.send(ApiRequest::new("GET", "/v1/nothing").with_header("x-request-id", "client-123.abc"));
    assert_eq!(r.header("x-request-id"), Some("client-123.abc"));
    assert_eq!(r.json["error"]["request_id"], "client-123.abc");
    for insane in ["has space", "x".repeat(129).as_str(), "semi;colon", ""] {
        let r = t.send(ApiRequest::new("GET", "/v1/nothing").with_header("x-request-id", insane));
        let id = r.header("x-request-id").unwrap().to_owned();
        assert!(id.starts_with("req_") && id != insane, "{insane:?} -> {id}");
        assert_eq!(r.json["error"]["request_id"], id.as_str());
    }
    let a = t.call("GET", "/v1/health", None, None);
    let b = t.call("GET", "/v1/health", None, None);
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
}

/// What a garbage request must get, from the first rule it breaks: the route's method, then
/// its credential (a project key for `/v1/rtc` and discovery, the admin token for `/v1/admin`),
/// then the body (anything but a JSON object, or blank, is not JSON the API reads), then the
/// route's own fields and query (every route here requires something the garbage lacks).
fn garbage_verdict(method: &str, path: &str, admin: bool, body: &str) -> (u16, &'static str) {
    let (route_method, admin_route) = match path {
        "/v1/admin/projects" => ("POST", true),
        p if p.starts_with("/v1/rtc/room/list") || p.starts_with("/v1/discovery/") => ("GET", false),
        _ => ("POST", false),
    };
    let blank = body.bytes().all(|b| b.is_ascii_whitespace());
    let object = serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v.is_object());
    if method != route_method {
        (405, "METHOD_NOT_ALLOWED")
    } else if admin != admin_route {
        (401, "UNAUTHENTICATED")
    } else if !(blank || object) {
        (400, "INVALID_JSON")
    } else if path.starts_with("/v1/discovery/") {
        (404, "CAPABILITY_NOT_FOUND")
    } else {
        (400, "INVALID_REQUEST")
    }
}

/// Arbitrary bytes, methods and paths never produce a 5xx or a panic: each gets the 4xx
/// envelope of the first rule it breaks.
#[test]
fn garbage_input_gets_4xx_envelopes() {
    let t = TestApp::new(&[support::AGORA]);
    let key = t.project_key();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let paths = [
        "/v1/rtc/room/create",
        "/v1/rtc/token/issue",
        "/v1/rtc/recording/start",
        "/v1/rtc/participant/kick/x",
        "/v1/admin/projects",
        "/v1/rtc/room/list?limit=%ff&cursor=%00",
        "/v1/discovery/%2e%2e",
    ];
    let fragments =
        ["{", "}", "\"name\"", ":", "1e999", "null", "[", "\"\\u0000\"", ",", "\"room\"", "-1", "true", "\"identity\""];
    let mut verdicts = std::collections::BTreeMap::new();
    for i in 0..600 {
        let path = paths[(next() % paths.len() as u64) as usize];
        let mut body = String::new();
        for _ in 0..(next() % 12) {
            body.push_str(fragments[(next() % fragments.len() as u64) as usize]);
        }
        let (method, admin) = (if i % 5 == 0 { "GET" } else { "POST" }, i % 2 == 1);
        let mut req = ApiRequest::new(method, path)
            .with_header("authorization", &format!("Bearer {}", if admin { ADMIN } else { key.as_str() }))
            .with_header("content-type", "application/json");
        req.body = body.clone().into_bytes();
        let r = t.send(req);
        let expected = garbage_verdict(method, path, admin, &body);
        assert_eq!((r.status, r.code()), expected, "{method} {path} {body:?} -> {}", r.json);
        assert!(r.json["error"]["message"].is_string() && r.json["error"]["request_id"].is_string(), "{}", r.json);
        *verdicts.entry(expected).or_insert(0) += 1;
    }
    // The garbage reaches every rule (a change to the generator cannot leave one untried).
    assert_eq!(verdicts.len(), 4, "{verdicts:?}");
    // One of each, stated by hand rather than by the rules above.
    // (method, path, with the admin token, body, expected status and code)
    let cases = [
        ("GET", "/v1/rtc/room/create", false, "{", (405, "METHOD_NOT_ALLOWED")),
        ("POST", "/v1/rtc/room/list", true, "", (405, "METHOD_NOT_ALLOWED")),
        ("POST", "/v1/rtc/token/issue", true, "{\"room\":\"r\"}", (401, "UNAUTHENTICATED")),
        ("POST", "/v1/admin/projects", false, "{\"name\":\"p\"}", (401, "UNAUTHENTICATED")),
        ("POST", "/v1/rtc/room/create", false, "[1e999", (400, "INVALID_JSON")),
        ("POST", "/v1/rtc/token/issue", false, "\"\\u0000\"", (400, "INVALID_JSON")),
        ("POST", "/v1/rtc/token/issue", false, "{}", (400, "INVALID_REQUEST")),
        ("GET", "/v1/rtc/room/list?limit=%ff&cursor=%00", false, "", (400, "INVALID_REQUEST")),
        ("GET", "/v1/discovery/%2e%2e", false, "", (404, "CAPABILITY_NOT_FOUND")),
    ];
    for (method, path, admin, body, expected) in cases {
        let mut req = ApiRequest::new(method, path)
            .with_header("authorization", &format!("Bearer {}", if admin { ADMIN } else { key.as_str() }));
        req.body = body.as_bytes().to_vec();
        let r = t.send(req);
        assert_eq!((r.status, r.code()), expected, "{method} {path} {body:?} -> {}", r.json);
        assert_eq!(garbage_verdict(method, path, admin, body), expected, "the rules agree: {method} {path} {body:?}");
    }
}

#[test]
fn routes_without_a_body_or_query_refuse_stray_fields() {
    let t = TestApp::new(&[support::AGORA]);
    let key = t.project_key();
    let room = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "a"})), Some(&key));
    let id = room.json["room"].as_str().unwrap();
    let r = t.call("DELETE", &format!("/v1/rtc/room/delete/{id}"), Some(json!({"force": true})), Some(&key));
    assert_eq!((r.status, r.code(), r.json["error"]["field"].as_str()), (400, "UNKNOWN_FIELD", Some("force")));
    let r = t.call("GET", &format!("/v1/rtc/room/get/{id}?verbose=1"), None, Some(&key));
    assert_eq!((r.status, r.code(), r.json["error"]["field"].as_str()), (400, "UNKNOWN_FIELD", Some("verbose")));
    // An empty object is no field at all.
    t.native.http.respond_with(|_| {
        rtcgate::native::json_response(200, &json!({"success": true, "data": {"channel_exist": false}}))
    });
    let r = t.call("GET", &format!("/v1/rtc/room/get/{id}"), Some(json!({})), Some(&key));
    assert_eq!(r.status, 200, "{}", r.json);
}

/// A key that matched nothing is answered from memory for a short window: a client retrying
/// with a wrong key is not one D1 read per request. The window is bounded; a key this isolate
/// creates is never held as unknown.
#[test]
fn unknown_keys_are_remembered_briefly() {
    use rtcgate::api::auth::UNKNOWN_KEY_TTL_MS;
    use rtcgate::native::block_on;
    use rtcgate::store::keys;

    let t = TestApp::new(&[]);
    let p = t.call("POST", "/v1/admin/projects", Some(json!({"name": "p"})), Some(ADMIN));
    let project = p.json["project"]["id"].as_str().unwrap().to_owned();
    let installed = "rtc_sk_installedStraightIntoTheDatabase0";
    assert_eq!(t.call("GET", "/v1/rtc/room/list", None, Some(installed)).code(), "UNAUTHENTICATED");

    // The key appears in storage behind this isolate's back (as `make dev` installs one).
    block_on(keys::insert_key(&t.native.runtime, &project, "dev", installed)).unwrap();
    let r = t.call("GET", "/v1/rtc/room/list", None, Some(installed));
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "the miss is remembered, storage not asked again");
    t.native.clock.advance_ms(UNKNOWN_KEY_TTL_MS);
    let r = t.call("GET", "/v1/rtc/room/list", None, Some(installed));
    assert_eq!(r.status, 200, "after the window the key is looked up again: {}", r.json);

    // Creating a key through this isolate forgets the misses at once.
    let other = "rtc_sk_installedStraightIntoTheDatabase1";
    assert_eq!(t.call("GET", "/v1/rtc/room/list", None, Some(other)).status, 401);
    block_on(keys::insert_key(&t.native.runtime, &project, "dev", other)).unwrap();
    let k = t.call("POST", &format!("/v1/admin/projects/{project}/keys"), Some(json!({})), Some(ADMIN));
    assert_eq!(k.status, 201);
    assert_eq!(t.call("GET", "/v1/rtc/room/list", None, Some(other)).status, 200);
}

#[test]
fn an_unknown_method_is_405_with_allow_never_served_as_get() {
    let t = TestApp::new(&[]);
    for method in ["QUERY", "PROPFIND", "get"] {
        let r = t.call(method, "/v1/health", None, None);
        assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"), "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method}");
    }
}

#[test]
fn a_body_cut_off_before_its_declared_length_is_refused_before_any_handler_runs() {
    let t = TestApp::new(&[support::AGORA]);
    let key = t.project_key();
    let create = |incomplete: bool| {
        let mut req = ApiRequest::new("POST", "/v1/rtc/room/create")
            .with_header("authorization", &format!("Bearer {key}"))
            .with_header("content-type", "application/json");
        // What arrived before the client went away (the declared body went on with
        // whitespace): as a whole body it would be a valid request.
        req.body = br#"{"name": "cut-off"}"#.to_vec();
        req.body_incomplete = incomplete;
        t.send(req)
    };
    let r = create(true);
    assert_eq!((r.status, r.code()), (400, "INVALID_REQUEST"), "{}", r.json);
    let listed = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!(listed.json["items"].as_array().map(Vec::len), Some(0), "nothing was created: {}", listed.json);
    // The same bytes as a complete body are a create.
    let r = create(false);
    assert_eq!(r.status, 201, "{}", r.json);
}

//! Projects' own recording storage: destinations with sealed credentials, used by the
//! project that made them and invisible to every other.

mod support;

use rtcgate::native::json_response;
use serde_json::{json, Value};
use support::{TestApp, LIVEKIT};

const KEY: &str = "5f1d8a0c2b3e4f60718293a4b5c6d7e8f90112233445566778899aabbccddeef";
const ENCRYPTION: &[(&str, &str)] = &[("RTCGATE_ENCRYPTION_KEY", KEY)];
const SHARED: &[(&str, &str)] = &[
    ("RECORDING_S3_ACCESS_KEY", "AKIA-SHARED"),
    ("RECORDING_S3_SECRET", "shared-secret"),
    ("RECORDING_DEFAULT_URI", "s3://media/rtc/"),
];

fn s3_body(uri: &str) -> Value {
    json!({"uri": uri, "credentials": {"access_key": "AKIA-PROJECT", "secret": "project-top-secret", "region": "us-east-2", "endpoint": "https://minio.example.com"}})
}

/// LiveKit that creates rooms and starts egresses (answers echo the request).
fn livekit(t: &TestApp) {
    t.native.http.respond_with(|req| {
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
        match req.url.rsplit('/').next().unwrap_or("") {
            "CreateRoom" => json_response(200, &json!({"sid": "RM_1", "name": body["name"]})),
            "StartRoomCompositeEgress" => json_response(
                200,
                &json!({"egress_id": "EG_1", "room_name": body["room_name"], "status": "EGRESS_STARTING", "room_composite": body}),
            ),
            _ => json_response(404, &json!({"code": "bad_route", "msg": "no"})),
        }
    });
}

fn starts(t: &TestApp) -> Vec<Value> {
    t.native
        .http
        .sent()
        .into_iter()
        .filter(|x| x.request.url.ends_with("StartRoomCompositeEgress"))
        .filter_map(|x| x.json)
        .collect()
}

fn start(t: &TestApp, key: &str, uri: &str) -> support::Reply {
    t.call("POST", "/v1/rtc/recording/start", Some(json!({"room": "r", "output_uri": uri})), Some(key))
}

#[test]
fn a_project_records_to_its_own_bucket_with_its_own_credentials() {
    let t = TestApp::new(&[LIVEKIT, SHARED, ENCRYPTION]);
    let (_, key) = t.project_and_key();
    livekit(&t);
    assert_eq!(t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "r"})), Some(&key)).status, 201);

    let created =
        t.call("POST", "/v1/rtc/recording/destination/create", Some(s3_body("s3://acme-media/calls")), Some(&key));
    assert_eq!(created.status, 201, "{}", created.json);
    let id = created.json["destination"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dst_"));
    assert_eq!(
        (created.json["uri"].as_str(), created.json["kind"].as_str()),
        (Some("s3://acme-media/calls/"), Some("s3"))
    );
    assert_eq!(created.json["created_at"], "2023-11-14T22:13:20Z");
    assert_eq!(created.json.as_object().unwrap().len(), 4, "{}", created.json);

    let listed = t.call("GET", "/v1/rtc/recording/destination/list", None, Some(&key));
    assert_eq!(listed.json, json!({"items": [created.json.clone()], "next_cursor": null}));
    for shown in [&created.json, &listed.json] {
        assert!(!shown.to_string().contains("project-top-secret") && !shown.to_string().contains("AKIA"));
    }

    // Inside the destination: the project's credentials, no shared-folder rule.
    let r = start(&t, &key, "s3://acme-media/calls/{room}.mp4");
    assert_eq!(r.status, 201, "{}", r.json);
    let s3 = &starts(&t)[0]["file_outputs"][0]["s3"];
    assert_eq!(
        *s3,
        json!({"access_key": "AKIA-PROJECT", "secret": "project-top-secret", "region": "us-east-2", "endpoint": "https://minio.example.com", "force_path_style": true, "bucket": "acme-media"})
    );
    assert!(!r.json.to_string().contains("project-top-secret"));
    // Beside it (`calls` is a folder, not a name prefix): not this destination.
    let beside = start(&t, &key, "s3://acme-media/callsign.mp4");
    assert_eq!((beside.status, beside.code()), (422, "DESTINATION_NOT_ALLOWED"));

    // The same place twice is a conflict naming the existing destination.
    let again =
        t.call("POST", "/v1/rtc/recording/destination/create", Some(s3_body("s3://acme-media/calls/")), Some(&key));
    assert_eq!(
        (again.status, again.code(), again.json["error"]["destination"].as_str()),
        (409, "DESTINATION_EXISTS", Some(id.as_str()))
    );

    // Deleted, it is gone and its bucket is off limits again.
    let del = t.call("DELETE", &format!("/v1/rtc/recording/destination/delete/{id}"), None, Some(&key));
    assert_eq!((del.status, del.json.clone()), (200, json!({"ok": true})));
    let del = t.call("DELETE", &format!("/v1/rtc/recording/destination/delete/{id}"), None, Some(&key));
    assert_eq!((del.status, del.code()), (404, "DESTINATION_NOT_FOUND"));
    let after = start(&t, &key, "s3://acme-media/calls/x.mp4");
    assert_eq!((after.status, after.code()), (422, "DESTINATION_NOT_ALLOWED"));
    assert_eq!(starts(&t).len(), 1);
}

#[test]
fn other_projects_destinations_are_invisible() {
    let t = TestApp::new(&[LIVEKIT, SHARED, ENCRYPTION]);
    let (_, owner) = t.project_and_key();
    let (_, other) = t.project_and_key();
    livekit(&t);
    assert_eq!(t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "r"})), Some(&other)).status, 201);
    let created =
        t.call("POST", "/v1/rtc/recording/destination/create", Some(s3_body("s3://acme-media/")), Some(&owner));
    let id = created.json["destination"].as_str().unwrap().to_owned();

    let listed = t.call("GET", "/v1/rtc/recording/destination/list", None, Some(&other));
    assert_eq!(listed.json["items"], json!([]));
    let del = t.call("DELETE", &format!("/v1/rtc/recording/destination/delete/{id}"), None, Some(&other));
    assert_eq!((del.status, del.code()), (404, "DESTINATION_NOT_FOUND"));
    let r = start(&t, &other, "s3://acme-media/x.mp4");
    assert_eq!((r.status, r.code()), (422, "DESTINATION_NOT_ALLOWED"), "{}", r.json);
    assert!(starts(&t).is_empty());
    // The owner still has it.
    let mine = t.call("GET", "/v1/rtc/recording/destination/list", None, Some(&owner));
    assert_eq!(mine.json["items"][0]["destination"], id.as_str());
}

#[test]
fn credentials_are_sealed_at_rest_and_bound_to_their_project() {
    let t = TestApp::new(&[LIVEKIT, SHARED, ENCRYPTION]);
    let (owner_prj, owner) = t.project_and_key();
    let (other_prj, other) = t.project_and_key();
    livekit(&t);
    assert_eq!(t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "r"})), Some(&other)).status, 201);
    let created =
        t.call("POST", "/v1/rtc/recording/destination/create", Some(s3_body("s3://acme-media/")), Some(&owner));
    assert_eq!(created.status, 201);

    let rows = t.native.db.rows("SELECT * FROM recording_destinations");
    let stored = serde_json::to_string(&rows).unwrap();
    assert!(!stored.contains("project-top-secret") && !stored.contains("AKIA-PROJECT"), "{stored}");
    assert!(rows[0]["sealed_credentials"].as_str().unwrap().starts_with("v1."));

    // A row moved into another project does not open there.
    t.native.db.exec_raw(&format!(
        "UPDATE recording_destinations SET project_id = '{other_prj}' WHERE project_id = '{owner_prj}'"
    ));
    let r = start(&t, &other, "s3://acme-media/x.mp4");
    assert_eq!((r.status, r.code()), (422, "DESTINATION_NOT_CONFIGURED"), "{}", r.json);
    assert!(starts(&t).is_empty());
}

#[test]
fn without_the_encryption_key_destinations_say_so_and_the_rest_works() {
    for env in [&[][..], &[("RTCGATE_ENCRYPTION_KEY", "not-hex")][..], &[("RTCGATE_ENCRYPTION_KEY", &KEY[..62])][..]] {
        let t = TestApp::new(&[LIVEKIT, SHARED, env]);
        let (prj, key) = t.project_and_key();
        livekit(&t);
        for (method, path, body) in [
            ("POST", "/v1/rtc/recording/destination/create", Some(s3_body("s3://acme/"))),
            ("GET", "/v1/rtc/recording/destination/list", None),
            ("DELETE", "/v1/rtc/recording/destination/delete/dst_x", None),
        ] {
            let r = t.call(method, path, body, Some(&key));
            assert_eq!((r.status, r.code()), (422, "ENCRYPTION_NOT_CONFIGURED"), "{path}: {}", r.json);
            assert!(r.json["error"]["message"].as_str().unwrap().contains("RTCGATE_ENCRYPTION_KEY"));
        }
        assert_eq!(t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "r"})), Some(&key)).status, 201);
        let r = start(&t, &key, &format!("s3://media/rtc/{prj}/x.mp4"));
        assert_eq!(r.status, 201, "{}", r.json);
    }
}

#[test]
fn destination_bodies_are_checked_field_by_field() {
    let t = TestApp::new(&[LIVEKIT, SHARED, ENCRYPTION]);
    let (_, key) = t.project_and_key();
    let create = |body: Value| t.call("POST", "/v1/rtc/recording/destination/create", Some(body), Some(&key));
    for (body, status, code, field) in [
        (json!({}), 400, "INVALID_REQUEST", "uri"),
        (json!({"uri": "s3://b/"}), 400, "INVALID_REQUEST", "credentials"),
        (json!({"uri": "ftp://b/", "credentials": {}}), 400, "INVALID_REQUEST", "uri"),
        (json!({"uri": "s3://b/../x/", "credentials": {}}), 400, "INVALID_REQUEST", "uri"),
        (json!({"uri": "s3://b/{room}/", "credentials": {}}), 400, "INVALID_REQUEST", "uri"),
        (json!({"uri": "s3://b/", "credentials": {"secret": "s"}}), 400, "INVALID_REQUEST", "credentials.access_key"),
        (
            json!({"uri": "s3://b/", "credentials": {"access_key": "a", "secret": 5}}),
            400,
            "INVALID_REQUEST",
            "credentials.secret",
        ),
        (
            json!({"uri": "s3://b/", "credentials": {"access_key": "a", "secret": "s", "endpoint": "ftp://x"}}),
            400,
            "INVALID_REQUEST",
            "credentials.endpoint",
        ),
        (
            json!({"uri": "s3://b/", "credentials": {"access_key": "a", "secret": "s", "account_key": "k"}}),
            400,
            "UNKNOWN_FIELD",
            "credentials.account_key",
        ),
        (
            json!({"uri": "gs://b/", "credentials": {"credentials": "not json"}}),
            400,
            "INVALID_REQUEST",
            "credentials.credentials",
        ),
        (
            json!({"uri": "gs://b/", "credentials": {"credentials": {"type": "service_account"}, "x": 1}}),
            400,
            "UNKNOWN_FIELD",
            "credentials.x",
        ),
        (
            json!({"uri": "azure://c/", "credentials": {"account_name": "n"}}),
            400,
            "INVALID_REQUEST",
            "credentials.account_key",
        ),
        (
            json!({"uri": "s3://b/", "credentials": {"access_key": "a", "secret": "s"}, "name": "x"}),
            400,
            "UNKNOWN_FIELD",
            "name",
        ),
    ] {
        let r = create(body.clone());
        assert_eq!(
            (r.status, r.code(), r.json["error"]["field"].as_str()),
            (status, code, Some(field)),
            "{body}: {}",
            r.json
        );
    }
    let gs = create(json!({"uri": "gs://gb", "credentials": {"credentials": "{\"type\":\"service_account\"}"}}));
    assert_eq!(
        (gs.status, gs.json["uri"].as_str(), gs.json["kind"].as_str()),
        (201, Some("gs://gb/"), Some("gs")),
        "{}",
        gs.json
    );
    let az = create(json!({"uri": "azure://box/rec/", "credentials": {"account_name": "n", "account_key": "k"}}));
    assert_eq!((az.status, az.json["kind"].as_str()), (201, Some("azure")));
    let page = t.call("GET", "/v1/rtc/recording/destination/list?limit=1", None, Some(&key));
    assert_eq!(page.json["items"].as_array().unwrap().len(), 1);
    let cursor = page.json["next_cursor"].as_str().unwrap();
    let rest = t.call("GET", &format!("/v1/rtc/recording/destination/list?limit=5&cursor={cursor}"), None, Some(&key));
    assert_eq!((rest.json["items"].as_array().unwrap().len(), rest.json["next_cursor"].is_null()), (1, true));
    assert_eq!(t.call("GET", "/v1/rtc/recording/destination/list?room=x", None, Some(&key)).code(), "UNKNOWN_FIELD");
}

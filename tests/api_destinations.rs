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
            json!({"uri": "s3://b/", "credentials": {"access_key": "a", "secret": "s", "endpoint": "https://u:p@x.example"}}),
            400,
            "INVALID_REQUEST",
            "credentials.endpoint",
        ),
        (
            json!({"uri": "s3://b/", "credentials": {"access_key": "a", "secret": "s", "endpoint": "https://x.example/?q"}}),
            400,
            "INVALID_REQUEST",
            "credentials.endpoint",
        ),
        (
            json!({"uri": "s3://b/", "credentials": {"access_key": "a", "secret": "s", "endpoint": "ftp://x"}}),
            422,
            "DESTINATION_UNSUPPORTED",
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
    let gs = create(json!({"uri": "gs://gb", "credentials": {"credentials": service_account().to_string()}}));
    assert_eq!(
        (gs.status, gs.json["uri"].as_str(), gs.json["kind"].as_str()),
        (201, Some("gs://gb/"), Some("gs")),
        "{}",
        gs.json
    );
    let az = create(json!({"uri": "azure://box/rec/", "credentials": {"account_name": "acct1", "account_key": "k"}}));
    assert_eq!((az.status, az.json["kind"].as_str()), (201, Some("azure")));
    let page = t.call("GET", "/v1/rtc/recording/destination/list?limit=1", None, Some(&key));
    assert_eq!(page.json["items"].as_array().unwrap().len(), 1);
    let cursor = page.json["next_cursor"].as_str().unwrap();
    let rest = t.call("GET", &format!("/v1/rtc/recording/destination/list?limit=5&cursor={cursor}"), None, Some(&key));
    assert_eq!((rest.json["items"].as_array().unwrap().len(), rest.json["next_cursor"].is_null()), (1, true));
    assert_eq!(t.call("GET", "/v1/rtc/recording/destination/list?room=x", None, Some(&key)).code(), "UNKNOWN_FIELD");
}

/// A service-account key as Google's console writes one (the key itself shortened).
fn service_account() -> Value {
    json!({
        "type": "service_account",
        "project_id": "acme-media",
        "private_key_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
        "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
        "client_email": "recorder@acme-media.iam.gserviceaccount.com",
        "client_id": "104573428843930516717",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/recorder%40acme-media.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com"
    })
}

fn with(mut doc: Value, field: &str, value: Value) -> Value {
    if value.is_null() {
        doc.as_object_mut().unwrap().remove(field);
    } else {
        doc[field] = value;
    }
    doc
}

/// A Google credential of another type, or a key naming other endpoints, would make the
/// vendor's recorder read its own host's files or metadata and send them where the tenant
/// says; an S3 endpoint or Azure account becomes a host the recorder calls. Each is refused
/// with `422 DESTINATION_UNSUPPORTED` naming the field, and nothing is stored.
#[test]
fn credentials_that_would_aim_the_recorder_elsewhere_are_refused_before_anything_is_stored() {
    let t = TestApp::new(&[LIVEKIT, SHARED, ENCRYPTION]);
    let (_, key) = t.project_and_key();
    let create = |body: Value| t.call("POST", "/v1/rtc/recording/destination/create", Some(body), Some(&key));
    let external_account = json!({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://attacker.example/token",
        "credential_source": {"file": "/proc/self/environ"}
    });
    let sa = service_account;
    let gcs_docs = [
        external_account.clone(),
        json!({"type": "external_account", "credential_source": {"url": "http://169.254.169.254/computeMetadata/v1/"}, "token_url": "https://attacker.example/"}),
        json!({"type": "authorized_user", "client_id": "x", "client_secret": "y", "refresh_token": "z"}),
        json!({"type": "impersonated_service_account", "service_account_impersonation_url": "https://attacker.example/", "source_credentials": {}}),
        json!({"type": "external_account_authorized_user", "token_url": "https://attacker.example/"}),
        json!({"type": "gdch_service_account", "token_uri": "https://attacker.example/"}),
        json!({"hmac_access_key": "GOOG1", "hmac_secret": "hs"}),
        json!({}),
        with(sa(), "type", json!("SERVICE_ACCOUNT")),
        with(sa(), "type", json!(null)),
        with(sa(), "token_uri", json!("https://attacker.example/token")),
        with(sa(), "token_uri", json!("http://169.254.169.254/token")),
        with(sa(), "token_uri", json!("https://oauth2.googleapis.com/token/../x")),
        with(sa(), "token_uri", json!("https://oauth2.googleapis.com.attacker.example/token")),
        with(sa(), "token_uri", json!(null)),
        with(sa(), "auth_uri", json!("https://attacker.example/auth")),
        with(sa(), "auth_provider_x509_cert_url", json!("http://10.0.0.1/certs")),
        with(sa(), "client_x509_cert_url", json!("https://attacker.example/x509/recorder")),
        with(sa(), "universe_domain", json!("attacker.example")),
        with(sa(), "credential_source", json!({"file": "/etc/passwd"})),
        with(sa(), "token_url", json!("https://attacker.example/")),
        with(sa(), "service_account_impersonation_url", json!("https://attacker.example/")),
        with(sa(), "private_key", json!({"file": "/etc/passwd"})),
        with(sa(), "client_email", json!(null)),
        with(sa(), "private_key", json!(null)),
    ];
    let mut refused: Vec<(Value, &str)> = Vec::new();
    for doc in gcs_docs {
        refused.push((
            json!({"uri": "gs://acme/rec/", "credentials": {"credentials": doc.clone()}}),
            "credentials.credentials",
        ));
        // The same document as JSON text.
        refused.push((
            json!({"uri": "gs://acme/rec/", "credentials": {"credentials": doc.to_string()}}),
            "credentials.credentials",
        ));
    }
    // As text, a later "type" is the one that counts (as in every body here): never another kind.
    let sa_text = sa().to_string();
    let last_type_external = format!("{},\"type\":\"external_account\"}}", &sa_text[..sa_text.len() - 1]);
    refused.push((
        json!({"uri": "gs://acme/rec/", "credentials": {"credentials": last_type_external}}),
        "credentials.credentials",
    ));
    for endpoint in [
        "http://s3.example.com",
        "ftp://s3.example.com",
        "https://127.0.0.1",
        "https://127.1:9000",
        "https://2130706433/",
        "https://0x7f000001/",
        "https://localhost:9000",
        "https://minio.localhost",
        "https://10.0.0.5:9000",
        "https://172.16.0.1",
        "https://192.168.1.10",
        "https://169.254.169.254",
        "https://100.64.1.1",
        "https://0.0.0.0",
        "https://224.0.0.1",
        "https://255.255.255.255",
        "https://[::1]:9000",
        "https://[::]",
        "https://[::ffff:169.254.169.254]",
        "https://[::ffff:a9fe:a9fe]",
        "https://[::127.0.0.1]",
        "https://[64:ff9b::10.0.0.1]",
        "https://[2002:a9fe:a9fe::1]",
        "https://[fd00:ec2::254]",
        "https://[fe80::1]",
        "https://[ff02::1]",
        "https://metadata.google.internal",
        "https://１６９.２５４.１６９.２５４",
    ] {
        refused.push((
            json!({"uri": "s3://acme/rec/", "credentials": {"access_key": "a", "secret": "s", "endpoint": endpoint}}),
            "credentials.endpoint",
        ));
    }
    for region in ["us-east-1.attacker.example", "x@169.254.169.254", "eu west", "us-east-1/"] {
        refused.push((
            json!({"uri": "s3://acme/rec/", "credentials": {"access_key": "a", "secret": "s", "region": region}}),
            "credentials.region",
        ));
    }
    for account in
        ["ab", "a".repeat(25).as_str(), "Acme", "acme-media", "acme.evil.example", "acme/x", "169.254.169.254"]
    {
        refused.push((
            json!({"uri": "azure://box/rec/", "credentials": {"account_name": account, "account_key": "k"}}),
            "credentials.account_name",
        ));
    }
    for (body, field) in &refused {
        let r = create(body.clone());
        assert_eq!(
            (r.status, r.code(), r.json["error"]["field"].as_str()),
            (422, "DESTINATION_UNSUPPORTED", Some(*field)),
            "{body}: {}",
            r.json
        );
    }
    let listed = t.call("GET", "/v1/rtc/recording/destination/list", None, Some(&key));
    assert_eq!(listed.json, json!({"items": [], "next_cursor": null}));
    assert!(t.native.db.rows("SELECT id FROM recording_destinations").is_empty());
}

#[test]
fn genuine_credentials_are_still_taken_and_the_checked_form_is_what_the_recorder_gets() {
    let t = TestApp::new(&[LIVEKIT, SHARED, ENCRYPTION]);
    let (_, key) = t.project_and_key();
    livekit(&t);
    assert_eq!(t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "r"})), Some(&key)).status, 201);
    let create = |body: Value| t.call("POST", "/v1/rtc/recording/destination/create", Some(body), Some(&key));
    let mut with_hmac = service_account();
    with_hmac["hmac_access_key"] = json!("GOOG1EXAMPLE");
    with_hmac["hmac_secret"] = json!("hmac-top-secret");
    let minimal = json!({
        "type": "service_account",
        "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        "client_email": "r@p.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token"
    });
    for body in [
        json!({"uri": "gs://acme/full/", "credentials": {"credentials": service_account()}}),
        // A first "type" of another kind, then the real one: what is checked is what is sent.
        json!({"uri": "gs://acme/text/", "credentials": {"credentials": format!("{{\"type\":\"external_account\",{}", &service_account().to_string()[1..])}}),
        json!({"uri": "gs://acme/hmac/", "credentials": {"credentials": with_hmac}}),
        json!({"uri": "gs://acme/minimal/", "credentials": {"credentials": minimal}}),
        json!({"uri": "s3://acme/aws/", "credentials": {"access_key": "a", "secret": "s", "region": "eu-west-1"}}),
        json!({"uri": "s3://acme/s3/", "credentials": {"access_key": "a", "secret": "s", "endpoint": "https://s3.example.com"}}),
        json!({"uri": "s3://acme/minio/", "credentials": {"access_key": "a", "secret": "s", "endpoint": "https://minio.example.com:9000"}}),
        json!({"uri": "s3://acme/ip/", "credentials": {"access_key": "a", "secret": "s", "endpoint": "https://93.184.216.34/"}}),
        json!({"uri": "azure://box/a/", "credentials": {"account_name": "acme", "account_key": "k"}}),
        json!({"uri": "azure://box/b/", "credentials": {"account_name": "acmemedia2024storage01", "account_key": "k"}}),
    ] {
        let r = create(body.clone());
        assert_eq!(r.status, 201, "{body}: {}", r.json);
    }
    // The recorder gets the document that was checked: one `type`, re-serialized.
    let r = start(&t, &key, "gs://acme/text/{room}.mp4");
    assert_eq!(r.status, 201, "{}", r.json);
    let sent = starts(&t)[0]["file_outputs"][0]["gcp"]["credentials"].as_str().unwrap().to_owned();
    assert_eq!(serde_json::from_str::<Value>(&sent).unwrap(), service_account());
    assert_eq!(sent.matches("\"type\"").count(), 1, "{sent}");
    let r = start(&t, &key, "s3://acme/minio/{room}.mp4");
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(starts(&t)[1]["file_outputs"][0]["s3"]["endpoint"], "https://minio.example.com:9000");
}

/// Fixed bytes for sealing a row by hand (as an older release would have stored it).
struct FixedEntropy;

impl rtcgate::runtime::Entropy for FixedEntropy {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
}

/// A destination stored before its credentials were checked (or written to the database by
/// other means) is checked again when a recording would use it: nothing reaches the vendor.
#[test]
fn stored_credentials_are_checked_again_before_a_recorder_gets_them() {
    let t = TestApp::new(&[LIVEKIT, SHARED, ENCRYPTION]);
    let (prj, key) = t.project_and_key();
    livekit(&t);
    assert_eq!(t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "r"})), Some(&key)).status, 201);
    let sealing = rtcgate::crypto::sealed::EncryptionKey::from_setting(Some(KEY));
    let sealing = sealing.require("tests").unwrap();
    for (uri, stored) in [
        (
            "gs://acme/old/",
            json!({"kind": "gs", "credentials": json!({"type": "external_account", "token_url": "https://attacker.example/",
                                                       "credential_source": {"file": "/proc/self/environ"}}).to_string()}),
        ),
        (
            "s3://acme/old/",
            json!({"kind": "s3", "access_key": "a", "secret": "s", "region": null, "endpoint": "https://169.254.169.254"}),
        ),
        ("azure://box/old/", json!({"kind": "azure", "account_name": "evil.example/x", "account_key": "k"})),
    ] {
        let created = match uri.split_once("://").unwrap().0 {
            "gs" => json!({"uri": uri, "credentials": {"credentials": service_account()}}),
            "s3" => json!({"uri": uri, "credentials": {"access_key": "a", "secret": "s"}}),
            _ => json!({"uri": uri, "credentials": {"account_name": "acme", "account_key": "k"}}),
        };
        let r = t.call("POST", "/v1/rtc/recording/destination/create", Some(created), Some(&key));
        assert_eq!(r.status, 201, "{}", r.json);
        let id = r.json["destination"].as_str().unwrap();
        let sealed = sealing.seal(&FixedEntropy, &prj, stored.to_string().as_bytes());
        t.native
            .db
            .exec_raw(&format!("UPDATE recording_destinations SET sealed_credentials = '{sealed}' WHERE id = '{id}'"));
        let r = start(&t, &key, &format!("{uri}x.mp4"));
        assert_eq!(
            (r.status, r.code(), r.json["error"]["destination"].as_str()),
            (422, "DESTINATION_UNSUPPORTED", Some(id)),
            "{uri}: {}",
            r.json
        );
        assert!(!r.json.to_string().contains("attacker") && !r.json.to_string().contains("169.254"), "{}", r.json);
    }
    assert!(starts(&t).is_empty(), "a recorder got refused credentials");
}

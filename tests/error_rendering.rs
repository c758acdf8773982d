//! Errors are values: building one writes nothing; the cause it keeps (an internal failure, a
//! vendor's own text) is logged once, where the response is rendered, with the request id the
//! client is told to report, and never reaches the response.

mod support;

use rtcgate::error::{ApiError, ErrorCode};
use rtcgate::http::ApiRequest;
use rtcgate::log::Level;
use rtcgate::native::{json_response, LogCapture};
use rtcgate::runtime::{DbError, HttpError};
use rtcgate::vendors::error::{VendorError, VendorFailure};
use serde_json::{json, Value};
use support::{TestApp, LIVEKIT};

fn send(t: &TestApp, method: &str, path: &str, body: Option<Value>, key: &str, request_id: &str) -> support::Reply {
    let mut req = ApiRequest::new(method, path)
        .with_header("authorization", &format!("Bearer {key}"))
        .with_header("x-request-id", request_id);
    if let Some(body) = body {
        req = req.with_json(&body);
    }
    t.send(req)
}

fn body_text(r: &support::Reply) -> String {
    String::from_utf8(r.response.body.clone()).unwrap()
}

#[test]
fn building_an_error_logs_nothing() {
    let capture = LogCapture::start();
    let internal = ApiError::internal("the disk is on fire");
    let from_db: ApiError = DbError::Other("injected failure".into()).into();
    let vendor = VendorError::new("livekit", VendorFailure::ServerError, "unavailable: pod 7 crashed").to_api_error();
    let timeout = VendorError::from_http("zego", HttpError::Timeout).to_api_error();
    assert_eq!(capture.lines(), [], "building errors wrote log lines");
    // The causes are kept in the values, for the one line written when they are answered.
    assert_eq!(internal.log_text(), "the disk is on fire");
    assert_eq!(from_db.log_text(), "database: Other(\"injected failure\")");
    assert_eq!(vendor.log_text(), "livekit: ServerError: unavailable: pod 7 crashed");
    assert_eq!(timeout.log_text(), "zego: Timeout: no answer in time");
    // Without a cause, what the client is told is all there is to log.
    assert_eq!(ApiError::room_not_found("r").log_text(), "no room 'r' in this project");
    assert_eq!(capture.lines(), []);
}

#[test]
fn an_internal_error_is_logged_once_with_its_request_id_and_cause() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    t.native.db.fail_statements_containing(Some("FROM rooms"));
    let capture = LogCapture::start();
    let r = send(&t, "GET", "/v1/rtc/room/list", None, &key, "req-internal-1");
    assert_eq!((r.status, r.code()), (500, "INTERNAL"), "{}", r.json);
    assert_eq!(r.json["error"]["request_id"], "req-internal-1");
    assert!(!body_text(&r).contains("injected"), "the cause reached the client: {}", r.json);
    let lines = capture.containing("injected failure");
    assert_eq!(lines.len(), 1, "the cause is logged exactly once: {:?}", capture.lines());
    let (level, line) = &lines[0];
    assert_eq!(*level, Level::Error);
    assert_eq!(line, "request req-internal-1: 500 INTERNAL: database: Other(\"injected failure\")");
    assert_eq!(capture.lines().len(), 1, "nothing else was logged: {:?}", capture.lines());
}

#[test]
fn a_vendor_failure_is_logged_once_with_its_request_id_and_the_vendor_text_stays_in_the_log() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    t.native.http.respond_with(|_| json_response(503, &json!({"code": "unavailable", "msg": "pod 7 crashed"})));
    let capture = LogCapture::start();
    let r =
        send(&t, "POST", "/v1/rtc/room/create", Some(json!({"name": "n", "vendor": "livekit"})), &key, "req-vendor-1");
    assert_eq!((r.status, r.code()), (502, "VENDOR_UNAVAILABLE"), "{}", r.json);
    assert!(!body_text(&r).contains("pod 7"), "vendor text reached the client: {}", r.json);
    let lines = capture.containing("req-vendor-1");
    assert_eq!(lines.len(), 1, "{:?}", capture.lines());
    let (level, line) = &lines[0];
    assert_eq!(*level, Level::Warn);
    assert!(line.starts_with("request req-vendor-1: 502 VENDOR_UNAVAILABLE: livekit: ServerError: "), "{line}");
    assert!(line.contains("pod 7 crashed"), "the vendor's text is kept for the log: {line}");
    assert_eq!(capture.containing("pod 7 crashed").len(), 1, "logged once: {:?}", capture.lines());
}

#[test]
fn a_refused_vendor_webhook_is_logged_once_with_its_request_id() {
    let t = TestApp::new(&[LIVEKIT]);
    let capture = LogCapture::start();
    let mut req = ApiRequest::new("POST", "/v1/vendor-events/livekit")
        .with_header("content-type", "application/webhook+json")
        .with_header("x-request-id", "req-webhook-1");
    req.body = b"{}".to_vec();
    let r = t.send(req);
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "{}", r.json);
    let lines = capture.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (level, line) = &lines[0];
    assert_eq!(*level, Level::Warn);
    assert!(line.starts_with("request req-webhook-1: 401 UNAUTHENTICATED: livekit webhook refused: "), "{line}");
}

#[test]
fn an_error_without_a_cause_logs_nothing() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    let capture = LogCapture::start();
    let r = send(&t, "GET", "/v1/rtc/room/get/missing", None, &key, "req-404");
    assert_eq!((r.status, r.code()), (404, "ROOM_NOT_FOUND"), "{}", r.json);
    let r = send(&t, "GET", "/v1/nowhere", None, &key, "req-route");
    assert_eq!((r.status, r.code()), (404, "ROUTE_NOT_FOUND"), "{}", r.json);
    assert_eq!(capture.lines(), [], "a client's mistake is no log line");
}

#[test]
fn every_code_renders_its_envelope_unchanged_by_a_cause() {
    // The cause never changes what the client gets: same status, headers and body.
    let plain = ApiError::new(ErrorCode::VendorTimeout, "zego did not answer in time").with_detail("vendor", "zego");
    let caused = plain.clone().with_cause("zego: Timeout: no answer in time");
    assert_eq!(plain.envelope("r"), caused.envelope("r"));
    assert_eq!((plain.status(), &plain.headers), (caused.status(), &caused.headers));
}

#[test]
fn work_after_the_response_logs_the_cause_of_what_it_could_not_do() {
    // Nobody answers this failure, so it is logged where it happens, cause included.
    let t = TestApp::new(&[support::ZEGO]);
    let key = t.project_key();
    let body = json!({"room": "standup", "identity": "u1"});
    assert_eq!(send(&t, "POST", "/v1/rtc/token/issue", Some(body.clone()), &key, "req-1").status, 200);
    t.native.clock.advance_ms(rtcgate::store::room_cache::ROOM_REFRESH_AFTER_MS);
    t.native.db.fail_statements_containing(Some("FROM rooms"));
    let capture = LogCapture::start();
    let r = send(&t, "POST", "/v1/rtc/token/issue", Some(body), &key, "req-2");
    assert_eq!(r.status, 200, "served from the isolate's cache: {}", r.json);
    assert_eq!(
        capture.lines(),
        [(Level::Error, "re-reading cached room standup: database: Other(\"injected failure\")".to_owned())]
    );
}

#[test]
fn a_transient_storage_failure_is_503_with_retry_after_logged_once_without_parameters() {
    let t = TestApp::new(&[LIVEKIT]);
    let key = t.project_key();
    // What the local workerd answers while another writer holds the database's lock.
    t.native.db.fail_statements_with(Some("FROM rooms"), "D1_ERROR: database is locked: SQLITE_BUSY");
    let capture = LogCapture::start();
    let r = send(&t, "GET", "/v1/rtc/room/get/secret-room-name", None, &key, "req-busy-1");
    assert_eq!((r.status, r.code()), (503, "STORAGE_UNAVAILABLE"), "{}", r.json);
    assert_eq!(r.response.header("retry-after"), Some("1"));
    assert_eq!(r.json["error"]["request_id"], "req-busy-1");
    assert!(!body_text(&r).contains("SQLITE"), "the cause reached the client: {}", r.json);
    let lines = capture.containing("req-busy-1");
    assert_eq!(lines.len(), 1, "logged exactly once: {:?}", capture.lines());
    let (level, line) = &lines[0];
    assert_eq!(*level, Level::Error);
    assert!(line.starts_with("request req-busy-1: 503 STORAGE_UNAVAILABLE: database: "), "{line}");
    assert!(line.contains("SQLITE_BUSY") && !line.contains("secret-room-name"), "no SQL parameters: {line}");
    assert_eq!(capture.lines().len(), 1, "nothing else was logged: {:?}", capture.lines());
}

#[test]
fn storage_failures_are_classified_by_what_d1_reports() {
    use rtcgate::runtime::DbError as E;
    let transient = [
        "D1_ERROR: database is locked: SQLITE_BUSY",
        "D1_ERROR: Network connection lost.",
        "D1 DB is overloaded. Requests queued for too long.",
        "D1_ERROR: D1 DB is overloaded. Too many requests queued.",
        "D1_ERROR: Internal error while starting up D1 DB storage caused object to be reset.",
        "D1_ERROR: D1 DB reset because its code was updated.",
        "D1_ERROR: Cannot resolve D1 DB due to transient issue on remote node.",
    ];
    for text in transient {
        assert!(matches!(E::from_message(text), E::Unavailable(_)), "{text}");
    }
    assert!(matches!(E::from_message("D1_ERROR: UNIQUE constraint failed: rooms.name"), E::Constraint(_)));
    for text in ["D1_ERROR: no such table: rooms: SQLITE_ERROR", "D1_ERROR: too many SQL variables"] {
        assert!(matches!(E::from_message(text), E::Other(_)), "{text}");
    }
    // Only the transient ones are 503; anything else from storage stays a 500.
    let api = |e: E| -> ApiError { e.into() };
    assert_eq!(api(E::from_message(transient[0])).status(), 503);
    assert_eq!(api(E::Other("no such table".into())).status(), 500);
    assert_eq!(api(E::Other("no such table".into())).code, ErrorCode::Internal);
}

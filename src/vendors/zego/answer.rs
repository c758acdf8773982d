//! Reading a ZEGO answer: `{Code, Message, RequestId, Data}` (ZEGOCLOUD/docs_all
//! `core_products/real-time-voice-video/en/server/api-reference/**`), where `Code`
//! decides the outcome even on HTTP 200. "Room does not exist" and "user not online" are
//! outcomes rather than errors here, because what they mean depends on the call (a delete
//! of a missing room succeeded, a kick of a missing user did not).

use serde_json::Value;

use super::NAME;
use crate::runtime::OutboundResponse;
use crate::vendors::transport;
use crate::vendors::{VendorError, VendorFailure};

/// Room does not exist: 104, 5018 (destroyed), 5024, 50001 (docs_all
/// `core_products/real-time-voice-video/en/server/api-reference/return-codes.mdx`, `room/close.yaml`).
pub const ROOM_ABSENT_CODES: [i64; 4] = [104, 5018, 5024, 50001];
/// User does not exist / is not online: 105, 50003 (return-codes.mdx).
pub const USER_ABSENT_CODES: [i64; 2] = [105, 50003];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    RoomAbsent,
    UserAbsent,
}

/// An answer whose `Code` is success or one of the absence codes.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub outcome: Outcome,
    pub code: i64,
    pub request_id: Option<String>,
    /// `Data`, `Null` when absent.
    pub data: Value,
}

impl Answer {
    /// The absence outcome as a `NotFound` failure, keeping ZEGO's request id and code.
    pub fn not_found(&self, action: &str, what: &str) -> VendorError {
        VendorError::new(NAME, VendorFailure::NotFound, format!("{action}: {what} (code {})", self.code))
            .with_request_id(self.request_id.clone())
            .with_code(self.code.to_string())
    }

    /// An absence code where the call cannot have one (e.g. "user not online" on CloseRoom).
    pub fn unexpected(&self, action: &str) -> VendorError {
        VendorError::new(NAME, VendorFailure::Rejected, format!("{action} failed with unexpected code {}", self.code))
            .with_request_id(self.request_id.clone())
            .with_code(self.code.to_string())
    }

    /// A `Data` that is not what ZEGO documents: the vendor is broken, not the request.
    pub fn malformed(&self, action: &str, what: &str) -> VendorError {
        VendorError::new(NAME, VendorFailure::ServerError, format!("{action} answer is malformed: {what}"))
            .with_request_id(self.request_id.clone())
    }
}

/// Classifies one HTTP answer to `action`.
pub fn read(action: &str, response: &OutboundResponse) -> Result<Answer, VendorError> {
    let status = response.status;
    let envelope = serde_json::from_slice::<Value>(&response.body).ok().and_then(|body| Envelope::parse(&body));
    // Statuses that say what is wrong by themselves win over whatever code the body holds:
    // an outage, refused credentials, throttling.
    if status >= 500 || matches!(status, 401 | 403 | 429) {
        let request_id = envelope.as_ref().and_then(|e| e.request_id.clone());
        let mut error = VendorError::from_status(NAME, status).with_request_id(request_id);
        if status == 429 {
            error.failure = VendorFailure::RateLimited { retry_after_s: transport::retry_after(response) };
        }
        return Err(error);
    }
    let Some(envelope) = envelope else {
        if (200..300).contains(&status) {
            return Err(transport::json_body(NAME, response)
                .err()
                .unwrap_or_else(|| malformed_envelope(action, status)));
        }
        return Err(status_failure(status, response));
    };
    let failure = |failure: VendorFailure, what: String| {
        Err(VendorError::new(NAME, failure, format!("{action} failed: {what}"))
            .with_request_id(envelope.request_id.clone())
            .with_code(envelope.code.to_string()))
    };
    let outcome = match classify(envelope.code) {
        Class::Success => Outcome::Success,
        Class::RoomAbsent => Outcome::RoomAbsent,
        Class::UserAbsent => Outcome::UserAbsent,
        Class::RateLimited(what) => {
            return failure(VendorFailure::RateLimited { retry_after_s: transport::retry_after(response) }, what.into())
        }
        Class::Failure(kind, what) => return failure(kind, what),
    };
    if !(200..300).contains(&status) {
        // A success code on an HTTP error status: trust the status, keep what we learned.
        return Err(status_failure(status, response).with_request_id(envelope.request_id));
    }
    Ok(Answer { outcome, code: envelope.code, request_id: envelope.request_id, data: envelope.data })
}

struct Envelope {
    code: i64,
    request_id: Option<String>,
    data: Value,
}

impl Envelope {
    /// `None` unless the body is an object with an integer `Code`.
    fn parse(body: &Value) -> Option<Envelope> {
        let code = body.get("Code")?.as_i64()?;
        // Documented as a string, but ZEGO's own examples also show it as a bare number.
        let request_id = match body.get("RequestId") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Some(Envelope { code, request_id, data: body.get("Data").cloned().unwrap_or(Value::Null) })
    }
}

enum Class {
    Success,
    RoomAbsent,
    UserAbsent,
    RateLimited(&'static str),
    Failure(VendorFailure, String),
}

/// `Code` → what it means for us (docs_all `…/en/server/api-reference/return-codes.mdx`).
fn classify(code: i64) -> Class {
    match code {
        0 => Class::Success,
        c if ROOM_ABSENT_CODES.contains(&c) => Class::RoomAbsent,
        c if USER_ABSENT_CODES.contains(&c) => Class::UserAbsent,
        206 => Class::RateLimited("too many requests for this AppID (code 206)"),
        207 => Class::RateLimited("too many requests for this room (code 207)"),
        100000004 => {
            Class::Failure(VendorFailure::AuthFailed, "signature expired; check the clock (code 100000004)".into())
        }
        100000005 => Class::Failure(VendorFailure::AuthFailed, "signature refused (code 100000005)".into()),
        // "Failed to get ServerSecret: confirm the AppId": an AppId ZEGO does not know.
        100000010 => Class::Failure(VendorFailure::AuthFailed, "AppId unknown to ZEGO (code 100000010)".into()),
        // "Gateway internal error": ZEGO's side, not the request.
        100000015 => Class::Failure(VendorFailure::ServerError, "ZEGO gateway internal error (code 100000015)".into()),
        100000001..=100000009 => {
            Class::Failure(VendorFailure::Rejected, format!("request parameters refused (code {code})"))
        }
        _ => Class::Failure(VendorFailure::Rejected, format!("code {code}")),
    }
}

fn status_failure(status: u16, response: &OutboundResponse) -> VendorError {
    let error = VendorError::from_status(NAME, status);
    match error.failure {
        VendorFailure::RateLimited { .. } => VendorError {
            failure: VendorFailure::RateLimited { retry_after_s: transport::retry_after(response) },
            ..error
        },
        _ => error,
    }
}

fn malformed_envelope(action: &str, status: u16) -> VendorError {
    VendorError::new(NAME, VendorFailure::ServerError, format!("{action} answer has no Code (HTTP {status})"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn response(status: u16, body: &str) -> OutboundResponse {
        OutboundResponse { status, headers: vec![], body: body.as_bytes().to_vec() }
    }

    fn answer_with(code: i64) -> Result<Answer, VendorError> {
        let body = json!({"Code": code, "Message": "vendor words", "RequestId": "req-1", "Data": {"x": 1}});
        read("CloseRoom", &response(200, &body.to_string()))
    }

    #[test]
    fn auth_and_throttling_statuses_win_over_the_body_code() {
        let body = json!({"Code": 1, "Message": "vendor words", "RequestId": "req-2"}).to_string();
        let denied = read("DescribeUserList", &response(401, &body)).unwrap_err();
        assert_eq!((denied.failure, denied.vendor_request_id.as_deref()), (VendorFailure::AuthFailed, Some("req-2")));
        let mut slow = response(429, &body);
        slow.headers.push(("Retry-After".into(), "7".into()));
        let slow = read("DescribeUserList", &slow).unwrap_err();
        assert_eq!(slow.failure, VendorFailure::RateLimited { retry_after_s: Some(7) });
    }

    #[test]
    fn success_keeps_request_id_and_data() {
        let answer = answer_with(0).unwrap();
        assert_eq!(answer.outcome, Outcome::Success);
        assert_eq!(answer.request_id.as_deref(), Some("req-1"));
        assert_eq!(answer.data, json!({"x": 1}));
        let no_data = read("CloseRoom", &response(200, r#"{"Code":0,"Message":"success","RequestId":"r"}"#)).unwrap();
        assert_eq!(no_data.data, Value::Null);
    }

    #[test]
    fn numeric_request_ids_are_kept_as_text() {
        let answer = read("X", &response(200, r#"{"Code":0,"RequestId":7840039829955402142}"#)).unwrap();
        assert_eq!(answer.request_id.as_deref(), Some("7840039829955402142"));
    }

    #[test]
    fn absence_codes_are_outcomes() {
        for code in ROOM_ABSENT_CODES {
            assert_eq!(answer_with(code).unwrap().outcome, Outcome::RoomAbsent, "{code}");
        }
        for code in USER_ABSENT_CODES {
            assert_eq!(answer_with(code).unwrap().outcome, Outcome::UserAbsent, "{code}");
        }
        let absent = answer_with(50003).unwrap();
        let e = absent.not_found("KickoutUser", "user not in the room");
        assert_eq!(e.failure, VendorFailure::NotFound);
        assert_eq!((e.vendor_request_id.as_deref(), e.vendor_code.as_deref()), (Some("req-1"), Some("50003")));
        let e = absent.unexpected("CloseRoom");
        assert_eq!((e.failure, e.vendor_code.as_deref()), (VendorFailure::Rejected, Some("50003")));
    }

    #[test]
    fn error_codes_map_to_failures_even_on_http_200() {
        let cases = [
            (100000004, VendorFailure::AuthFailed),
            (100000005, VendorFailure::AuthFailed),
            (100000010, VendorFailure::AuthFailed),
            (100000001, VendorFailure::Rejected),
            (100000006, VendorFailure::Rejected),
            (100000009, VendorFailure::Rejected),
            (100000015, VendorFailure::ServerError),
            (206, VendorFailure::RateLimited { retry_after_s: None }),
            (207, VendorFailure::RateLimited { retry_after_s: None }),
            (1, VendorFailure::Rejected),
            (2, VendorFailure::Rejected),
            (50011, VendorFailure::Rejected),
            (-7, VendorFailure::Rejected),
        ];
        for (code, failure) in cases {
            let e = answer_with(code).unwrap_err();
            assert_eq!(e.failure, failure, "{code}");
            assert_eq!(e.vendor_code, Some(code.to_string()), "{code}");
            assert_eq!(e.vendor_request_id.as_deref(), Some("req-1"), "{code}");
            assert!(
                e.summary.starts_with("CloseRoom failed: ") && e.summary.contains(&code.to_string()),
                "{}",
                e.summary
            );
            assert!(!e.summary.contains("vendor words"), "the vendor's message is not forwarded");
        }
    }

    #[test]
    fn rate_limits_carry_retry_after_when_sent() {
        let mut r = response(200, r#"{"Code":207,"RequestId":"q"}"#);
        r.headers.push(("Retry-After".into(), "3".into()));
        assert_eq!(read("X", &r).unwrap_err().failure, VendorFailure::RateLimited { retry_after_s: Some(3) });
        let mut plain = response(429, "slow down");
        plain.headers.push(("retry-after".into(), "2".into()));
        assert_eq!(read("X", &plain).unwrap_err().failure, VendorFailure::RateLimited { retry_after_s: Some(2) });
    }

    #[test]
    fn server_errors_and_broken_bodies() {
        let e = read("X", &response(502, "<html>bad gateway</html>")).unwrap_err();
        assert_eq!((e.failure, e.summary.as_str()), (VendorFailure::ServerError, "HTTP 502"));
        let e = read("X", &response(503, r#"{"Code":1,"RequestId":"r5"}"#)).unwrap_err();
        assert_eq!((e.failure, e.vendor_request_id.as_deref()), (VendorFailure::ServerError, Some("r5")));

        let e = read("X", &response(200, "not json")).unwrap_err();
        assert_eq!(e.failure, VendorFailure::ServerError);
        assert!(e.summary.contains("unreadable"), "{}", e.summary);
        for body in [r#"[1,2]"#, r#"{"Message":"no code"}"#, r#"{"Code":"0"}"#, r#"{"Code":0.5}"#, "null"] {
            assert_eq!(read("X", &response(200, body)).unwrap_err().failure, VendorFailure::ServerError, "{body}");
        }
    }

    #[test]
    fn http_errors_without_a_zego_body_use_the_status() {
        assert_eq!(read("X", &response(401, "")).unwrap_err().failure, VendorFailure::AuthFailed);
        assert_eq!(read("X", &response(403, "forbidden")).unwrap_err().failure, VendorFailure::AuthFailed);
        assert_eq!(read("X", &response(404, "")).unwrap_err().failure, VendorFailure::NotFound);
        assert_eq!(read("X", &response(400, "{}")).unwrap_err().failure, VendorFailure::Rejected);
        // A success code cannot turn an HTTP error into a success.
        let e = read("X", &response(400, r#"{"Code":0,"RequestId":"r4"}"#)).unwrap_err();
        assert_eq!((e.failure, e.vendor_request_id.as_deref()), (VendorFailure::Rejected, Some("r4")));
        // But a ZEGO code on an HTTP error status is the more precise answer.
        let e = read("X", &response(400, r#"{"Code":100000005,"RequestId":"r6"}"#)).unwrap_err();
        assert_eq!(e.failure, VendorFailure::AuthFailed);
    }
}

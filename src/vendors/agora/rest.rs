//! Agora's Channel Management RESTful API as pure functions: the requests we send and what
//! its answers mean. No I/O here; `mod.rs` sends what these build.
//!
//! Facts (AgoraIO/Docs-Source
//! `shared/common/channel-management-api/**`):
//! - `Authorization: Basic base64(customer_id:customer_secret)` on every call.
//! - User list: `GET /dev/v1/channel/user/{appid}/{channel}` → `{success, data:{channel_exist,
//!   mode, …}}`; mode 1 (communication) has `total` and `users`, mode 2 (live broadcasting)
//!   has `broadcasters`, `audience` (the FIRST 10,000 only) and `audience_total`
//!   (`endpoints/query-channel-information/query-user-list.mdx`). `channel_exist:false` (HTTP
//!   200) comes without other fields: the channel is empty/absent. `success:false` is
//!   "reserved for future use".
//! - Kicking rule: `POST /dev/v1/kicking-rule {appid, cname, uid?, time, privileges}` →
//!   `{status:"success", id}` (`endpoints/ban-user-privileges/create-rules.mdx`). `time` is in
//!   minutes and `0` means "set matching users offline, no lasting ban"; `time_in_seconds`
//!   is the newer alternative (it wins when both are sent). We send `time: 0` only, the field
//!   Agora's own request examples use. `cname` without `uid` removes everyone.
//! - Errors: non-200 with `{"message"}` (sometimes `reason`); 401 covers a wrong customer
//!   pair AND an App ID that does not exist; the `X-Request-ID` response header identifies
//!   the call for Agora support (`response-status-code.mdx`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::http::percent_encode;
use crate::runtime::{OutboundRequest, OutboundResponse};
use crate::vendors::transport::{join_url, json_body, json_request, retry_after};
use crate::vendors::{VendorError, VendorFailure};

use super::NAME;

/// Longest vendor message we repeat in a summary.
const MAX_MESSAGE_CHARS: usize = 120;

/// Where and how to call Agora. Holds the Basic credentials, so no `Debug`.
pub struct AgoraApi {
    base: String,
    app_id: String,
    /// The whole `Authorization` header value (contains the customer secret).
    authorization: String,
    timeout_ms: u64,
}

/// Who is in a channel, as far as Agora says.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelUsers {
    /// `channel_exist: false`: nobody is in it (Agora channels end when the last user leaves).
    Absent,
    Present {
        /// Every uid Agora listed (mode 1 `users`; mode 2 `broadcasters` then `audience`).
        uids: Vec<u32>,
        /// How many users are in the channel, including audience Agora did not list.
        total: u32,
        /// Whether `uids` is everyone (false when mode 2 truncated the audience list).
        complete: bool,
    },
}

impl ChannelUsers {
    pub fn total(&self) -> u32 {
        match self {
            ChannelUsers::Absent => 0,
            ChannelUsers::Present { total, .. } => *total,
        }
    }

    pub fn uids(&self) -> &[u32] {
        match self {
            ChannelUsers::Absent => &[],
            ChannelUsers::Present { uids, .. } => uids,
        }
    }

    /// Whether `uid` may be in the channel: listed, or possibly among unlisted audience.
    pub fn may_contain(&self, uid: u32) -> bool {
        match self {
            ChannelUsers::Absent => false,
            ChannelUsers::Present { uids, complete, .. } => !complete || uids.contains(&uid),
        }
    }
}

impl AgoraApi {
    pub fn new(base: &str, app_id: &str, customer_id: &str, customer_secret: &str, timeout_ms: u64) -> Self {
        let credentials = STANDARD.encode(format!("{customer_id}:{customer_secret}"));
        AgoraApi {
            base: base.to_owned(),
            app_id: app_id.to_owned(),
            authorization: format!("Basic {credentials}"),
            timeout_ms,
        }
    }

    pub fn headers(&self) -> Vec<(String, String)> {
        vec![("authorization".into(), self.authorization.clone()), ("accept".into(), "application/json".into())]
    }

    /// The channel's user list. No body, so no Content-Type (Agora's own examples send none).
    pub fn user_list_request(&self, channel: &str) -> OutboundRequest {
        let path = format!("/dev/v1/channel/user/{}/{}", percent_encode(&self.app_id), percent_encode(channel));
        json_request("GET", join_url(&self.base, &path), self.headers(), None, self.timeout_ms)
    }

    /// A kicking rule with `time: 0`: sets `uid` (or, without a uid, everyone) offline in
    /// `channel` without banning them from rejoining. Without `uid` this ends the channel.
    pub fn kick_request(&self, channel: &str, uid: Option<u32>) -> OutboundRequest {
        let mut body = json!({
            "appid": self.app_id,
            "cname": channel,
            "time": 0,
            "privileges": ["join_channel"],
        });
        if let Some(uid) = uid {
            body["uid"] = json!(uid);
        }
        json_request("POST", join_url(&self.base, "/dev/v1/kicking-rule"), self.headers(), Some(&body), self.timeout_ms)
    }
}

fn request_id(response: &OutboundResponse) -> Option<String> {
    response.header("x-request-id").map(|v| v.trim().to_owned())
}

/// A 200 answer whose body is not what Agora documents.
fn malformed(response: &OutboundResponse, what: &str) -> VendorError {
    VendorError::new(NAME, VendorFailure::ServerError, format!("unexpected answer: {what}"))
        .with_request_id(request_id(response))
}

/// The JSON body of a 200 answer, or the error that any other status means.
pub(super) fn success_body(response: &OutboundResponse) -> Result<Value, VendorError> {
    if response.status != 200 {
        return Err(error_from(response));
    }
    json_body(NAME, response).map_err(|e| e.with_request_id(request_id(response)))
}

/// Maps a non-200 answer. A 404 is NOT "room not found": Agora reports a missing channel as
/// 200 + `channel_exist:false`, so a 404 means the path is wrong (a bad `AGORA_API_BASE`);
/// reporting it as a missing room would let `delete_room` "succeed" without closing
/// anything. It is a rejected request instead.
pub fn error_from(response: &OutboundResponse) -> VendorError {
    let status = response.status;
    let failure = match status {
        401 | 403 => VendorFailure::AuthFailed,
        429 => VendorFailure::RateLimited { retry_after_s: retry_after(response) },
        500..=599 => VendorFailure::ServerError,
        _ => VendorFailure::Rejected,
    };
    let mut summary = format!("HTTP {status}");
    if status == 404 {
        summary.push_str(" (endpoint not found; check AGORA_API_BASE)");
    }
    if let Some(message) = vendor_message(&response.body) {
        summary.push_str(": ");
        summary.push_str(&message);
    }
    VendorError::new(NAME, failure, summary).with_request_id(request_id(response))
}

/// Agora's `message` (or `reason`) from an error body, shortened and stripped of control
/// characters so it is safe to log and show.
fn vendor_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let text = ["message", "reason"].iter().find_map(|k| value.get(*k).and_then(Value::as_str))?;
    let clean: String = text.chars().filter(|c| !c.is_control()).take(MAX_MESSAGE_CHARS).collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// Reads a user-list answer.
pub fn parse_user_list(response: &OutboundResponse) -> Result<ChannelUsers, VendorError> {
    let body = success_body(response)?;
    match body.get("success") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Err(malformed(response, "success is false")),
        _ => return Err(malformed(response, "no success flag")),
    }
    let data = body.get("data").filter(|d| d.is_object()).ok_or_else(|| malformed(response, "no data object"))?;
    match data.get("channel_exist").and_then(Value::as_bool) {
        Some(false) => return Ok(ChannelUsers::Absent),
        Some(true) => {}
        None => return Err(malformed(response, "no channel_exist flag")),
    }
    let uid_list = |key: &str| -> Result<Option<Vec<u32>>, VendorError> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect::<Option<Vec<u32>>>()
                .map(Some)
                .ok_or_else(|| malformed(response, &format!("{key} holds a value that is not a uid"))),
            Some(_) => Err(malformed(response, &format!("{key} is not a list"))),
        }
    };
    let count = |key: &str| -> Result<Option<u32>, VendorError> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| malformed(response, &format!("{key} is not a count"))),
        }
    };
    let listed = |uids: &[u32]| u32::try_from(uids.len()).unwrap_or(u32::MAX);

    match data.get("mode").and_then(Value::as_u64) {
        Some(1) => {
            let uids = uid_list("users")?.unwrap_or_default();
            let total = count("total")?.unwrap_or_else(|| listed(&uids));
            Ok(ChannelUsers::Present { complete: listed(&uids) >= total, uids, total })
        }
        Some(2) => {
            let mut uids = uid_list("broadcasters")?.unwrap_or_default();
            let audience = uid_list("audience")?.unwrap_or_default();
            let audience_total = count("audience_total")?.unwrap_or_else(|| listed(&audience));
            let complete = listed(&audience) >= audience_total;
            let total = listed(&uids).saturating_add(audience_total);
            uids.extend(audience);
            Ok(ChannelUsers::Present { uids, total, complete })
        }
        Some(other) => Err(malformed(response, &format!("unknown channel mode {other}"))),
        None => Err(malformed(response, "no channel mode")),
    }
}

/// Reads a kicking-rule answer: `{status:"success", id}`.
pub fn parse_kick(response: &OutboundResponse) -> Result<(), VendorError> {
    let body = success_body(response)?;
    match body.get("status").and_then(Value::as_str) {
        Some("success") => Ok(()),
        Some(_) => Err(malformed(response, "kicking rule status is not success")),
        None => Err(malformed(response, "no kicking rule status")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
    const SECRET: &str = "s3cr3t-customer-value";

    fn api() -> AgoraApi {
        AgoraApi::new("https://api.sd-rtn.com", APP_ID, "cust-7d1e", SECRET, 2_500)
    }

    fn answer(status: u16, body: &Value, headers: &[(&str, &str)]) -> OutboundResponse {
        let mut h: Vec<(String, String)> = vec![("content-type".into(), "application/json".into())];
        h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        OutboundResponse { status, headers: h, body: serde_json::to_vec(body).unwrap() }
    }

    fn ok(body: Value) -> OutboundResponse {
        answer(200, &body, &[])
    }

    fn header<'a>(req: &'a OutboundRequest, name: &str) -> Option<&'a str> {
        crate::http::header_value(&req.headers, name)
    }

    #[test]
    fn basic_credentials_are_id_colon_secret() {
        let req = api().user_list_request("rm_1");
        // base64("cust-7d1e:s3cr3t-customer-value")
        assert_eq!(header(&req, "authorization"), Some("Basic Y3VzdC03ZDFlOnMzY3IzdC1jdXN0b21lci12YWx1ZQ=="));
    }

    #[test]
    fn user_list_request_is_a_bare_get() {
        let req = api().user_list_request("rm_7Hq2");
        assert_eq!(req.method, "GET");
        assert_eq!(req.url, format!("https://api.sd-rtn.com/dev/v1/channel/user/{APP_ID}/rm_7Hq2"));
        assert_eq!(header(&req, "accept"), Some("application/json"));
        assert_eq!(header(&req, "content-type"), None);
        assert_eq!(req.body, None);
        assert_eq!(req.timeout_ms, 2_500);
    }

    #[test]
    fn channel_names_are_percent_encoded_in_paths() {
        let req = api().user_list_request("a b#c?d%e/f~g.h-i_j");
        assert!(req.url.ends_with("/a%20b%23c%3Fd%25e%2Ff~g.h-i_j"), "{}", req.url);
        let req = AgoraApi::new("http://h:1/", APP_ID, "c", "s", 1).user_list_request("é");
        assert_eq!(req.url, format!("http://h:1/dev/v1/channel/user/{APP_ID}/%C3%A9"));
    }

    #[test]
    fn kick_requests_carry_time_zero_and_only_join_channel() {
        let req = api().kick_request("rm_7Hq2", Some(4_000_000_000));
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "https://api.sd-rtn.com/dev/v1/kicking-rule");
        assert_eq!(header(&req, "content-type"), Some("application/json"));
        assert!(header(&req, "authorization").unwrap().starts_with("Basic "));
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["appid"], APP_ID);
        assert_eq!(body["cname"], "rm_7Hq2");
        assert_eq!(body["uid"], 4_000_000_000u64);
        assert_eq!(body["time"], 0);
        assert_eq!(body["privileges"], json!(["join_channel"]));
        assert_eq!(body.as_object().unwrap().len(), 5, "no other keys: {body}");

        let close = api().kick_request("rm_7Hq2", None);
        let body: Value = serde_json::from_slice(close.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({"appid": APP_ID, "cname": "rm_7Hq2", "time": 0, "privileges": ["join_channel"]}));
    }

    #[test]
    fn user_list_modes() {
        let absent = parse_user_list(&ok(json!({"success": true, "data": {"channel_exist": false}}))).unwrap();
        assert_eq!(absent, ChannelUsers::Absent);
        assert_eq!((absent.total(), absent.uids().len(), absent.may_contain(1)), (0, 0, false));

        let mode1 = parse_user_list(&ok(
            json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": 2, "users": [906218805, 7]}}),
        ))
        .unwrap();
        assert_eq!(mode1, ChannelUsers::Present { uids: vec![906218805, 7], total: 2, complete: true });
        assert!(mode1.may_contain(7) && !mode1.may_contain(8));

        let mode2 = parse_user_list(&ok(json!({"success": true, "data": {
            "channel_exist": true, "mode": 2,
            "broadcasters": [2206227541u64, 2845863044u64], "audience": [906219905], "audience_total": 1
        }})))
        .unwrap();
        assert_eq!(
            mode2,
            ChannelUsers::Present { uids: vec![2206227541, 2845863044, 906219905], total: 3, complete: true }
        );

        // hosts only (no audience fields) still counts the hosts
        let hosts = parse_user_list(&ok(
            json!({"success": true, "data": {"channel_exist": true, "mode": 2, "broadcasters": [1]}}),
        ))
        .unwrap();
        assert_eq!(hosts, ChannelUsers::Present { uids: vec![1], total: 1, complete: true });
    }

    #[test]
    fn truncated_audience_counts_everyone_and_admits_it_is_incomplete() {
        let users = parse_user_list(&ok(json!({"success": true, "data": {
            "channel_exist": true, "mode": 2, "broadcasters": [1], "audience": [2, 3], "audience_total": 12_000
        }})))
        .unwrap();
        assert_eq!(users.total(), 12_001);
        assert_eq!(users.uids(), &[1, 2, 3]);
        assert!(users.may_contain(99), "an unlisted uid may be in the unlisted audience");
    }

    #[test]
    fn unexpected_user_lists_are_server_errors() {
        let bodies = [
            json!({"success": false, "data": {"channel_exist": false}}),
            json!({"data": {"channel_exist": false}}),
            json!({"success": true}),
            json!({"success": true, "data": []}),
            json!({"success": true, "data": {"mode": 1}}),
            json!({"success": true, "data": {"channel_exist": true}}),
            json!({"success": true, "data": {"channel_exist": true, "mode": 3}}),
            json!({"success": true, "data": {"channel_exist": true, "mode": 1, "users": ["a"]}}),
            json!({"success": true, "data": {"channel_exist": true, "mode": 1, "users": [-1]}}),
            json!({"success": true, "data": {"channel_exist": true, "mode": 1, "users": [4294967296u64]}}),
            json!({"success": true, "data": {"channel_exist": true, "mode": 1, "users": 5}}),
            json!({"success": true, "data": {"channel_exist": true, "mode": 2, "audience_total": "many"}}),
            json!([1, 2]),
        ];
        for body in bodies {
            let e = parse_user_list(&answer(200, &body, &[("X-Request-ID", "req-9")])).unwrap_err();
            assert_eq!(e.failure, VendorFailure::ServerError, "{body}");
            assert_eq!(e.vendor_request_id.as_deref(), Some("req-9"));
        }
        let garbage = OutboundResponse { status: 200, headers: vec![], body: b"<html>oops</html>".to_vec() };
        assert_eq!(parse_user_list(&garbage).unwrap_err().failure, VendorFailure::ServerError);
        assert_eq!(parse_kick(&garbage).unwrap_err().failure, VendorFailure::ServerError);
    }

    #[test]
    fn kick_answers() {
        assert_eq!(parse_kick(&ok(json!({"status": "success", "id": 1953}))), Ok(()));
        for body in [json!({"status": "failed"}), json!({"id": 1}), json!("success")] {
            assert_eq!(parse_kick(&ok(body.clone())).unwrap_err().failure, VendorFailure::ServerError, "{body}");
        }
    }

    #[test]
    fn error_statuses_map_to_failures() {
        let cases = [
            (400, json!({"message": "invalid appid"}), VendorFailure::Rejected),
            (401, json!({"message": "Invalid authentication credentials"}), VendorFailure::AuthFailed),
            (403, json!({"message": "Forbidden"}), VendorFailure::AuthFailed),
            (404, json!({"message": "Not Found"}), VendorFailure::Rejected),
            (415, json!({"message": "Unsupported Media Type"}), VendorFailure::Rejected),
            (429, json!({"message": "Too Many Requests"}), VendorFailure::RateLimited { retry_after_s: None }),
            (500, json!({"message": "internal error"}), VendorFailure::ServerError),
            (502, json!({}), VendorFailure::ServerError),
            (504, json!({"reason": "gateway timeout"}), VendorFailure::ServerError),
        ];
        for (status, body, failure) in cases {
            let resp = answer(status, &body, &[("x-request-id", "8d1f-0042")]);
            for e in [error_from(&resp), parse_user_list(&resp).unwrap_err(), parse_kick(&resp).unwrap_err()] {
                assert_eq!(e.failure, failure, "{status}");
                assert_eq!(e.vendor, "agora");
                assert_eq!(e.vendor_request_id.as_deref(), Some("8d1f-0042"));
                assert!(e.summary.starts_with(&format!("HTTP {status}")), "{}", e.summary);
                assert!(!e.summary.contains(SECRET));
            }
        }
        let e = error_from(&answer(400, &json!({"message": "invalid appid"}), &[]));
        assert_eq!(e.summary, "HTTP 400: invalid appid");
        assert_eq!(e.vendor_request_id, None);
        let e = error_from(&answer(404, &json!({"message": "Not Found"}), &[]));
        assert_eq!(e.summary, "HTTP 404 (endpoint not found; check AGORA_API_BASE): Not Found");
        let e = error_from(&answer(504, &json!({"reason": "gateway timeout"}), &[]));
        assert_eq!(e.summary, "HTTP 504: gateway timeout");
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let e = error_from(&answer(429, &json!({"message": "Too Many Requests"}), &[("Retry-After", "3")]));
        assert_eq!(e.failure, VendorFailure::RateLimited { retry_after_s: Some(3) });
    }

    #[test]
    fn vendor_messages_are_bounded_and_cleaned() {
        let long = "x".repeat(500);
        let e = error_from(&answer(400, &json!({"message": format!("bad\n\u{7}{long}")}), &[]));
        assert_eq!(e.summary, format!("HTTP 400: bad{}", "x".repeat(MAX_MESSAGE_CHARS - 3)));
        let plain = OutboundResponse { status: 401, headers: vec![], body: b"Unauthorized".to_vec() };
        assert_eq!(error_from(&plain).summary, "HTTP 401");
        let odd = answer(400, &json!({"message": 12}), &[]);
        assert_eq!(error_from(&odd).summary, "HTTP 400");
    }
}

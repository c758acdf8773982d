//! LiveKit's server API is Twirp: `POST {url}/twirp/livekit.<Service>/<Method>` with a JSON
//! body and a short-lived server JWT. This file builds and sends those requests and
//! classifies Twirp errors.

use serde_json::Value;

use super::token::{LiveKitSigner, ServerGrant};
use super::NAME;
use crate::runtime::{OutboundRequest, OutboundResponse, Runtime};
use crate::vendors::{transport, VendorError, VendorFailure};

/// Lifetime of the per-call server token (what the official SDKs mint: 10 minutes).
pub const SERVER_TOKEN_TTL_S: u64 = 600;

/// The Twirp methods rtcgate calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    CreateRoom,
    ListRooms,
    DeleteRoom,
    ListParticipants,
    RemoveParticipant,
    GetParticipant,
    MutePublishedTrack,
    UpdateParticipant,
    SendData,
    StartRoomCompositeEgress,
    StopEgress,
    ListEgress,
    UpdateStream,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::CreateRoom => "CreateRoom",
            Method::ListRooms => "ListRooms",
            Method::DeleteRoom => "DeleteRoom",
            Method::ListParticipants => "ListParticipants",
            Method::RemoveParticipant => "RemoveParticipant",
            Method::GetParticipant => "GetParticipant",
            Method::MutePublishedTrack => "MutePublishedTrack",
            Method::UpdateParticipant => "UpdateParticipant",
            Method::SendData => "SendData",
            Method::StartRoomCompositeEgress => "StartRoomCompositeEgress",
            Method::StopEgress => "StopEgress",
            Method::ListEgress => "ListEgress",
            Method::UpdateStream => "UpdateStream",
        }
    }

    fn service(self) -> &'static str {
        match self {
            Method::StartRoomCompositeEgress | Method::StopEgress | Method::ListEgress | Method::UpdateStream => {
                "livekit.Egress"
            }
            _ => "livekit.RoomService",
        }
    }

    pub fn path(self) -> String {
        format!("twirp/{}/{}", self.service(), self.name())
    }

    /// Exactly the grant the server checks for this method (livekit/livekit
    /// pkg/service/auth.go `Ensure{Create,List,Record,Admin}Permission`); `room` is written
    /// only for the participant methods, whose admin grant must name the request's room.
    pub fn grant(self, room: &str) -> ServerGrant<'_> {
        match self {
            Method::CreateRoom | Method::DeleteRoom => ServerGrant { room_create: true, ..ServerGrant::default() },
            Method::ListRooms => ServerGrant { room_list: true, ..ServerGrant::default() },
            Method::ListParticipants
            | Method::RemoveParticipant
            | Method::GetParticipant
            | Method::MutePublishedTrack
            | Method::UpdateParticipant
            | Method::SendData => ServerGrant { room_admin: true, room: Some(room), ..ServerGrant::default() },
            Method::StartRoomCompositeEgress | Method::StopEgress | Method::ListEgress | Method::UpdateStream => {
                ServerGrant { room_record: true, ..ServerGrant::default() }
            }
        }
    }
}

/// Where calls go and how they are signed.
pub struct Client {
    pub api_url: String,
    pub signer: LiveKitSigner,
    pub timeout_ms: u64,
}

impl Client {
    /// The request for `method` with a fresh server token minted at `now_s`. `room` scopes
    /// the grant of participant methods and is ignored by the others.
    pub fn request(&self, method: Method, room: &str, body: &Value, now_s: u64) -> OutboundRequest {
        let token = self.signer.server_token(&method.grant(room), now_s, SERVER_TOKEN_TTL_S);
        transport::json_request(
            "POST",
            transport::join_url(&self.api_url, &method.path()),
            vec![("authorization".into(), format!("Bearer {token}"))],
            Some(body),
            self.timeout_ms,
        )
    }

    /// Sends one call and returns the answer's JSON object, or the classified failure.
    pub async fn call(&self, rt: &Runtime, method: Method, room: &str, body: &Value) -> Result<Value, VendorError> {
        let response = transport::send(rt, NAME, self.request(method, room, body, rt.now_s())).await?;
        read_answer(method, &response)
    }
}

/// A 2xx answer that is not what the proto says.
pub fn malformed(method: Method, what: &str) -> VendorError {
    VendorError::new(NAME, VendorFailure::ServerError, format!("{}: unexpected answer: {what}", method.name()))
}

/// A 2xx answer's JSON object, or the failure the answer describes.
pub fn read_answer(method: Method, response: &OutboundResponse) -> Result<Value, VendorError> {
    if !(200..300).contains(&response.status) {
        return Err(error_from(method, response));
    }
    match transport::json_body(NAME, response)? {
        v @ Value::Object(_) => Ok(v),
        _ => Err(malformed(method, "the answer is not a JSON object")),
    }
}

/// Classifies a non-2xx answer. Twirp errors carry `{"code","msg","meta"}`; the auth
/// middleware answers a bad or unknown token with a plain-text 401 before Twirp runs
/// (livekit/livekit pkg/service/auth.go), and anything else that is not a Twirp body came
/// from something in front of LiveKit.
pub fn error_from(method: Method, response: &OutboundResponse) -> VendorError {
    let status = response.status;
    let twirp = serde_json::from_slice::<Value>(&response.body).ok().and_then(|body| {
        let code = body.get("code")?.as_str()?.to_owned();
        let msg = body.get("msg").and_then(Value::as_str).unwrap_or("").to_owned();
        Some((code, msg))
    });
    let Some((code, msg)) = twirp else {
        let (failure, what) = match status {
            401 | 403 => (VendorFailure::AuthFailed, "token refused"),
            429 => (VendorFailure::RateLimited { retry_after_s: transport::retry_after(response) }, "rate limited"),
            _ => (VendorFailure::ServerError, "not a Twirp error"),
        };
        return VendorError::new(NAME, failure, format!("{}: HTTP {status}, {what}", method.name()));
    };
    if no_egress_service(method, &code, &msg) {
        return VendorError::new(
            NAME,
            VendorFailure::Rejected,
            format!("{}: the server has no egress service", method.name()),
        )
        .with_code(NO_EGRESS_SERVICE);
    }
    let failure = match code.as_str() {
        "unauthenticated" | "permission_denied" => VendorFailure::AuthFailed,
        "not_found" => VendorFailure::NotFound,
        "resource_exhausted" => VendorFailure::RateLimited { retry_after_s: transport::retry_after(response) },
        "unavailable" | "internal" | "unknown" | "data_loss" => VendorFailure::ServerError,
        "deadline_exceeded" => VendorFailure::Timeout,
        _ => VendorFailure::Rejected,
    };
    let summary = if msg.is_empty() {
        format!("{}: {code}", method.name())
    } else {
        format!("{}: {code} ({})", method.name(), short(&msg))
    };
    VendorError::new(NAME, failure, summary).with_code(short(&code))
}

/// `vendor_code` of a server that cannot record at all: one running without Redis has no
/// egress client, and its Egress methods answer Twirp `internal` with LiveKit's
/// `ErrEgressNotConnected` ("egress not connected (redis required)", livekit/livekit
/// pkg/service/errors.go) at once, whatever is asked. Not an outage: asking again cannot
/// help, and no egress exists or can start there.
pub const NO_EGRESS_SERVICE: &str = "egress_not_connected";

fn no_egress_service(method: Method, code: &str, msg: &str) -> bool {
    method.service() == "livekit.Egress" && code == "internal" && msg.contains("egress not connected")
}

/// A vendor message made safe for a log line: one line, bounded.
pub fn short(text: &str) -> String {
    const MAX_CHARS: usize = 160;
    let mut out: String = text.chars().take(MAX_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().count() > MAX_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::native::json_response;

    fn text(status: u16, body: &str) -> OutboundResponse {
        OutboundResponse {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn twirp(status: u16, code: &str, msg: &str) -> OutboundResponse {
        json_response(status, &json!({"code": code, "msg": msg, "meta": {}})).unwrap()
    }

    #[test]
    fn paths_name_service_and_method() {
        assert_eq!(Method::CreateRoom.path(), "twirp/livekit.RoomService/CreateRoom");
        assert_eq!(Method::RemoveParticipant.path(), "twirp/livekit.RoomService/RemoveParticipant");
        assert_eq!(Method::StartRoomCompositeEgress.path(), "twirp/livekit.Egress/StartRoomCompositeEgress");
        assert_eq!(Method::ListEgress.path(), "twirp/livekit.Egress/ListEgress");
    }

    #[test]
    fn each_method_gets_only_its_grant() {
        let g = |m: Method| m.grant("rm");
        let create = ServerGrant { room_create: true, ..ServerGrant::default() };
        assert_eq!(g(Method::CreateRoom), create);
        assert_eq!(g(Method::DeleteRoom), create);
        assert_eq!(g(Method::ListRooms), ServerGrant { room_list: true, ..ServerGrant::default() });
        let admin = ServerGrant { room_admin: true, room: Some("rm"), ..ServerGrant::default() };
        assert_eq!(g(Method::ListParticipants), admin);
        assert_eq!(g(Method::RemoveParticipant), admin);
        assert_eq!(g(Method::SendData), admin);
        let record = ServerGrant { room_record: true, ..ServerGrant::default() };
        for m in [Method::StartRoomCompositeEgress, Method::StopEgress, Method::ListEgress] {
            assert_eq!(g(m), record);
        }
    }

    #[test]
    fn twirp_codes_map_to_failures() {
        let cases = [
            (401, "unauthenticated", VendorFailure::AuthFailed),
            (403, "permission_denied", VendorFailure::AuthFailed),
            (404, "not_found", VendorFailure::NotFound),
            (429, "resource_exhausted", VendorFailure::RateLimited { retry_after_s: None }),
            (503, "unavailable", VendorFailure::ServerError),
            (500, "internal", VendorFailure::ServerError),
            (500, "unknown", VendorFailure::ServerError),
            (500, "data_loss", VendorFailure::ServerError),
            (408, "deadline_exceeded", VendorFailure::Timeout),
            (400, "invalid_argument", VendorFailure::Rejected),
            (400, "malformed", VendorFailure::Rejected),
            (400, "out_of_range", VendorFailure::Rejected),
            (404, "bad_route", VendorFailure::Rejected),
            (409, "already_exists", VendorFailure::Rejected),
            (409, "aborted", VendorFailure::Rejected),
            (412, "failed_precondition", VendorFailure::Rejected),
            (501, "unimplemented", VendorFailure::Rejected),
            (408, "canceled", VendorFailure::Rejected),
        ];
        for (status, code, failure) in cases {
            let e = read_answer(Method::DeleteRoom, &twirp(status, code, "requested room does not exist")).unwrap_err();
            assert_eq!(e.failure, failure, "{code}");
            assert_eq!(e.vendor_code.as_deref(), Some(code));
            assert_eq!(e.vendor, "livekit");
            assert_eq!(e.summary, format!("DeleteRoom: {code} (requested room does not exist)"));
        }
    }

    #[test]
    fn a_server_without_egress_is_not_an_outage() {
        // What livekit-server 1.13.5 without Redis answers to every Egress method.
        let answer = twirp(500, "internal", "twirp error unknown: egress not connected (redis required)");
        for method in [Method::ListEgress, Method::StopEgress, Method::StartRoomCompositeEgress] {
            let e = read_answer(method, &answer).unwrap_err();
            assert_eq!(e.failure, VendorFailure::Rejected, "{method:?}");
            assert!(!e.is_outage());
            assert_eq!(e.vendor_code.as_deref(), Some(NO_EGRESS_SERVICE));
            assert_eq!(e.summary, format!("{}: the server has no egress service", method.name()));
        }
        // The same words from a room method, or another internal error, stay a server error.
        let e = read_answer(Method::ListRooms, &answer).unwrap_err();
        assert_eq!((e.failure, e.vendor_code.as_deref()), (VendorFailure::ServerError, Some("internal")));
        let e = read_answer(Method::ListEgress, &twirp(500, "internal", "boom")).unwrap_err();
        assert_eq!(e.failure, VendorFailure::ServerError);
    }

    #[test]
    fn resource_exhausted_keeps_retry_after() {
        let mut r = twirp(429, "resource_exhausted", "");
        r.headers.push(("Retry-After".into(), "7".into()));
        let e = read_answer(Method::ListRooms, &r).unwrap_err();
        assert_eq!(e.failure, VendorFailure::RateLimited { retry_after_s: Some(7) });
        assert_eq!(e.summary, "ListRooms: resource_exhausted");
    }

    #[test]
    fn non_twirp_answers_classify_by_status() {
        let e = read_answer(Method::ListRooms, &text(401, "invalid authorization token: signature is invalid"))
            .unwrap_err();
        assert_eq!(e.failure, VendorFailure::AuthFailed);
        assert_eq!(e.vendor_code, None);
        assert_eq!(e.summary, "ListRooms: HTTP 401, token refused");
        assert_eq!(read_answer(Method::ListRooms, &text(403, "no")).unwrap_err().failure, VendorFailure::AuthFailed);
        let limited = OutboundResponse { headers: vec![("retry-after".into(), "3".into())], ..text(429, "slow down") };
        assert_eq!(
            read_answer(Method::ListRooms, &limited).unwrap_err().failure,
            VendorFailure::RateLimited { retry_after_s: Some(3) }
        );
        for status in [502, 504, 404, 400] {
            let e = read_answer(Method::ListRooms, &text(status, "<html>gateway</html>")).unwrap_err();
            assert_eq!(e.failure, VendorFailure::ServerError, "{status}");
            assert!(!e.summary.contains("gateway"));
        }
        // JSON, but not a Twirp error
        let e = read_answer(Method::ListRooms, &json_response(500, &json!({"error": "x"})).unwrap()).unwrap_err();
        assert_eq!(e.failure, VendorFailure::ServerError);
    }

    #[test]
    fn success_must_be_a_json_object() {
        assert_eq!(read_answer(Method::DeleteRoom, &json_response(200, &json!({})).unwrap()).unwrap(), json!({}));
        let e = read_answer(Method::DeleteRoom, &text(200, "ok")).unwrap_err();
        assert_eq!(e.failure, VendorFailure::ServerError);
        let e = read_answer(Method::DeleteRoom, &json_response(200, &json!([1])).unwrap()).unwrap_err();
        assert_eq!(e.failure, VendorFailure::ServerError);
    }

    #[test]
    fn vendor_messages_are_bounded_single_lines() {
        let long = format!("line1\nline2 {}", "x".repeat(500));
        let s = short(&long);
        assert!(!s.contains('\n') && s.chars().count() == 161 && s.ends_with('…'));
        assert_eq!(short("fine"), "fine");
    }
}

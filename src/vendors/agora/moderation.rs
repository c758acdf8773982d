//! Agora's kicking rules ("Ban user privileges", Channel Management REST API): a rule keeps a
//! uid from a privilege in a channel for a time. Sources: AgoraIO/Docs-Source
//! `shared/common/channel-management-api/endpoints/ban-user-privileges/{create-rules,
//! delete-rules}.mdx`.
//!
//! - `POST /dev/v1/kicking-rule {appid, cname, uid (number), time_in_seconds, privileges}` →
//!   `{status: "success", id}`; `time_in_seconds` is clamped by Agora to 10–86430.
//! - `DELETE /dev/v1/kicking-rule {appid, id}` → `{status: "success", id}`.
//! - 10 requests/s per Agora account for these APIs.
//!
//! The client takes the privileges, so bans (`join_channel`) and publishing rules
//! (`publish_audio`, `publish_video`) share it. Pure functions; `mod.rs` does the I/O.

use serde_json::{json, Value};

use super::rest::{malformed, success_body, AgoraApi};
use crate::runtime::{OutboundRequest, OutboundResponse};
use crate::vendors::VendorError;

/// What a rule takes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    JoinChannel,
    PublishAudio,
    PublishVideo,
}

impl Privilege {
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::JoinChannel => "join_channel",
            Privilege::PublishAudio => "publish_audio",
            Privilege::PublishVideo => "publish_video",
        }
    }
}

/// The shortest and longest rule Agora keeps (`time_in_seconds`, clamped by Agora).
pub const MIN_RULE_S: u64 = 10;
pub const MAX_RULE_S: u64 = 86_430;

const PATH: &str = "/dev/v1/kicking-rule";

/// `seconds` as Agora will apply it.
pub fn clamp_seconds(seconds: u64) -> u64 {
    seconds.clamp(MIN_RULE_S, MAX_RULE_S)
}

/// A rule taking `privileges` from `uid` in `channel` for `seconds` (clamped).
pub fn create_rule_request(
    api: &AgoraApi,
    channel: &str,
    uid: u32,
    privileges: &[Privilege],
    seconds: u64,
) -> OutboundRequest {
    let body = json!({
        "appid": api.app_id(),
        "cname": channel,
        "uid": uid,
        "time_in_seconds": clamp_seconds(seconds),
        "privileges": privileges.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
    });
    api.request("POST", PATH, Some(&body))
}

pub fn delete_rule_request(api: &AgoraApi, rule_id: u64) -> OutboundRequest {
    api.request("DELETE", PATH, Some(&json!({ "appid": api.app_id(), "id": rule_id })))
}

/// `{status: "success", id}` → the rule id.
pub fn parse_rule_id(response: &OutboundResponse) -> Result<u64, VendorError> {
    let body = success_body(response)?;
    if body.get("status").and_then(Value::as_str) != Some("success") {
        return Err(malformed(response, "kicking rule status is not success"));
    }
    body.get("id").and_then(Value::as_u64).ok_or_else(|| malformed(response, "kicking rule without an id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> AgoraApi {
        AgoraApi::new("https://api.sd-rtn.com", "970CA35de60c44645bbae8a215061b33", "id", "secret", 10_000)
    }

    fn body(req: &OutboundRequest) -> Value {
        serde_json::from_slice(req.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn a_rule_names_channel_uid_privileges_and_a_clamped_time() {
        let req = create_rule_request(&api(), "rm_1", 7, &[Privilege::JoinChannel], 3 * 86_400);
        assert_eq!((req.method, req.url.as_str()), ("POST", "https://api.sd-rtn.com/dev/v1/kicking-rule"));
        assert_eq!(
            body(&req),
            json!({"appid": "970CA35de60c44645bbae8a215061b33", "cname": "rm_1", "uid": 7,
                   "time_in_seconds": 86_430, "privileges": ["join_channel"]})
        );
        let short = create_rule_request(&api(), "rm_1", 7, &[Privilege::PublishAudio, Privilege::PublishVideo], 1);
        assert_eq!(body(&short)["time_in_seconds"], 10);
        assert_eq!(body(&short)["privileges"], json!(["publish_audio", "publish_video"]));
        let delete = delete_rule_request(&api(), 1953);
        assert_eq!(delete.method, "DELETE");
        assert_eq!(body(&delete), json!({"appid": "970CA35de60c44645bbae8a215061b33", "id": 1953}));
    }

    #[test]
    fn the_answer_gives_the_rule_id() {
        let answer = |status: u16, body: Value| OutboundResponse {
            status,
            headers: vec![],
            body: body.to_string().into_bytes(),
        };
        assert_eq!(parse_rule_id(&answer(200, json!({"status": "success", "id": 1953}))).unwrap(), 1953);
        assert!(parse_rule_id(&answer(200, json!({"status": "success"}))).is_err());
        assert!(parse_rule_id(&answer(200, json!({"status": "failed", "id": 1}))).is_err());
        assert!(parse_rule_id(&answer(400, json!({"message": "invalid appid"}))).is_err());
    }
}

//! Hard mutes on ZEGO: forbid-stream rules on each stream the participant publishes. ZEGO
//! moderates streams, not users, so the participant's stream ids are looked up when the mute
//! is applied. Pure request building and answer reading; `mod.rs` does the I/O.
//!
//! Facts (ZEGOCLOUD/docs_all `core_products/real-time-voice-video/en/server/api-reference/room/`):
//! - `DescribeSimpleStreamList {RoomId}` → `Data.StreamList[{StreamId, UserId, UserName,
//!   CreateTime}]`, at most one call per 10 s per room (`describe-simple-streamlist.yaml`).
//!   Chosen over following `stream_create` callbacks: it needs no stored stream table and sees
//!   streams whose callbacks were lost or not configured, at one call per change.
//! - `SetForbidStreamRule {RoomId, StreamId, DisableAudio 0|1, DisableVideo 0|1, EffectiveTime
//!   1–86400 s}`: the last call per stream wins, at least one of the two must be 1; it cuts a
//!   running publish. `DelForbidStreamRule {RoomId, StreamId}` lifts it. 10 calls/s per AppID
//!   (`forbid-stream-rule/*.yaml`).
//! - Forbid rules are enabled per app by ZEGO support; otherwise every rule call answers
//!   `Code 9` (no permission).
//!
//! A stream published after the mute is not covered until the next change or re-apply; with
//! audio and video both muted, later tokens carry no publish privilege, so a rejoin cannot
//! publish at all.

use serde_json::{json, Value};

use super::actions::Call;
use crate::domain::moderation::{Media, MediaSet};

/// `Code` of a rule call on an app without forbid rules enabled.
pub const NOT_ENABLED_CODE: &str = "9";
/// The longest `EffectiveTime`.
pub const MAX_RULE_S: i64 = 86_400;

pub fn describe_streams(room_id: &str) -> Call {
    Call { action: "DescribeSimpleStreamList", params: vec![("RoomId", room_id.to_owned())] }
}

pub fn set_rule(room_id: &str, stream_id: &str, blocked: MediaSet, seconds: i64) -> Call {
    let flag = |m: Media| if blocked.contains(m) { "1" } else { "0" }.to_owned();
    Call {
        action: "SetForbidStreamRule",
        params: vec![
            ("RoomId", room_id.to_owned()),
            ("StreamId", stream_id.to_owned()),
            ("DisableAudio", flag(Media::Audio)),
            ("DisableVideo", flag(Media::Video)),
            ("EffectiveTime", seconds.to_string()),
        ],
    }
}

pub fn delete_rule(room_id: &str, stream_id: &str) -> Call {
    Call {
        action: "DelForbidStreamRule",
        params: vec![("RoomId", room_id.to_owned()), ("StreamId", stream_id.to_owned())],
    }
}

/// The ids of `user_id`'s streams in a `DescribeSimpleStreamList` answer's `Data`.
pub fn streams_of(data: &Value, user_id: &str) -> Result<Vec<String>, &'static str> {
    let Some(list) = data.get("StreamList") else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or("StreamList is not a list")?;
    let mut ids = Vec::new();
    for stream in list {
        if stream.get("UserId").and_then(Value::as_str) == Some(user_id) {
            ids.push(stream.get("StreamId").and_then(Value::as_str).ok_or("a stream without StreamId")?.to_owned());
        }
    }
    Ok(ids)
}

/// How long a rule for a mute ending at `until_ms` should last from `now_ms`.
pub fn rule_seconds(now_ms: u64, until_ms: Option<i64>) -> i64 {
    let rest = until_ms.map_or(MAX_RULE_S, |until| (until - now_ms as i64 + 999) / 1000);
    rest.clamp(1, MAX_RULE_S)
}

/// The stream ids stored for a participant (`{"zego_stream_ids":[…]}`).
pub fn stored_ids(rules: Option<&Value>) -> Vec<String> {
    rules
        .and_then(|r| r.get("zego_stream_ids"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

pub fn stored(ids: &[String]) -> Option<Value> {
    (!ids.is_empty()).then(|| json!({ "zego_stream_ids": ids }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_names_what_it_disables() {
        let call = set_rule("rm_1", "s1", MediaSet::of(&[Media::Video]), 600);
        assert_eq!(call.action, "SetForbidStreamRule");
        assert_eq!(
            call.params,
            vec![
                ("RoomId", "rm_1".to_owned()),
                ("StreamId", "s1".to_owned()),
                ("DisableAudio", "0".to_owned()),
                ("DisableVideo", "1".to_owned()),
                ("EffectiveTime", "600".to_owned()),
            ]
        );
    }

    #[test]
    fn streams_are_picked_by_user() {
        let data = json!({"StreamList": [
            {"StreamId": "a-cam", "UserId": "alice"}, {"StreamId": "b-cam", "UserId": "bob"},
            {"StreamId": "a-screen", "UserId": "alice"}]});
        assert_eq!(streams_of(&data, "alice").unwrap(), vec!["a-cam", "a-screen"]);
        assert!(streams_of(&json!({}), "alice").unwrap().is_empty());
        assert!(streams_of(&json!({"StreamList": [{"UserId": "alice"}]}), "alice").is_err());
    }

    #[test]
    fn rules_last_the_rest_of_the_mute_up_to_a_day() {
        assert_eq!(rule_seconds(0, None), 86_400);
        assert_eq!(rule_seconds(0, Some(1_500)), 2);
        assert_eq!(rule_seconds(0, Some(40 * 86_400_000)), 86_400);
        assert_eq!(stored_ids(stored(&["x".to_owned()]).as_ref()), vec!["x"]);
    }
}

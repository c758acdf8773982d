//! Hard mutes on Agora: kicking rules with the `publish_audio` / `publish_video` privileges for
//! one uid in one channel. Pure request building and answer reading; `mod.rs` sends them.
//!
//! Facts (AgoraIO/Docs-Source `shared/common/channel-management-api/endpoints/ban-user-privileges/`):
//! - Create: `POST /dev/v1/kicking-rule {appid, cname, uid, time_in_seconds, privileges}` →
//!   `{status:"success", id}` (`create-rules.mdx`). `time_in_seconds` is 10 to 86430 (Agora
//!   clamps values outside it); `uid` a number, never 0 (without it the rule would hit every
//!   user of the channel).
//! - Delete: `DELETE /dev/v1/kicking-rule {appid, id}` → `{status, id}` (`delete-rules.mdx`).
//! - Agora calls these rules a fallback, not routine microphone control: a rule that is not
//!   removed keeps the user unable to publish until it lapses (`best-practices/ban-user-privileges.mdx`).
//!   So every rule lasts at most 24 h and the stored mute is re-applied before it lapses.
//! - Publish privileges in tokens are enforced only where the project has co-host
//!   authentication on (`shared/video-sdk/token-authentication/deploy-token-server/index.mdx`);
//!   these rules are enforced regardless.
//!
//! The generic kicking-rule client (bans) lives in another file; this one carries its own
//! copy of the two endpoints so that mute rules stand alone.

use serde_json::{json, Value};

use crate::domain::moderation::{Media, MediaSet};

pub const RULE_PATH: &str = "/dev/v1/kicking-rule";
/// `time_in_seconds` bounds (Agora clamps outside them).
pub const MIN_RULE_S: i64 = 10;
pub const MAX_RULE_S: i64 = 86_400;

/// The privileges a rule withholds for `blocked` (screen shares are video on Agora, but a rule
/// cannot tell them apart, so a screen mute is refused before it gets here).
pub fn privileges(blocked: MediaSet) -> Vec<&'static str> {
    let mut out = Vec::new();
    if blocked.contains(Media::Audio) {
        out.push("publish_audio");
    }
    if blocked.contains(Media::Video) {
        out.push("publish_video");
    }
    out
}

/// How long the rule for a mute ending at `until_ms` (`None` = until lifted) should last from
/// `now_ms`: the rest of the mute, within Agora's bounds.
pub fn rule_seconds(now_ms: u64, until_ms: Option<i64>) -> i64 {
    let rest = until_ms.map_or(MAX_RULE_S, |until| (until - now_ms as i64 + 999) / 1000);
    rest.clamp(MIN_RULE_S, MAX_RULE_S)
}

pub fn create_body(app_id: &str, channel: &str, uid: u32, privileges: &[&str], seconds: i64) -> Value {
    json!({ "appid": app_id, "cname": channel, "uid": uid, "time_in_seconds": seconds, "privileges": privileges })
}

pub fn delete_body(app_id: &str, rule_id: i64) -> Value {
    json!({ "appid": app_id, "id": rule_id })
}

/// The rule id of a create answer (`{status:"success", id}`).
pub fn created_id(body: &Value) -> Option<i64> {
    (body.get("status").and_then(Value::as_str) == Some("success")).then(|| body.get("id")?.as_i64()).flatten()
}

/// The rule ids stored for a participant (`{"agora_rule_ids":[…]}`).
pub fn stored_ids(rules: Option<&Value>) -> Vec<i64> {
    rules
        .and_then(|r| r.get("agora_rule_ids"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

pub fn stored(ids: &[i64]) -> Option<Value> {
    (!ids.is_empty()).then(|| json!({ "agora_rule_ids": ids }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_follow_the_muted_media() {
        assert_eq!(privileges(MediaSet::of(&[Media::Audio])), ["publish_audio"]);
        assert_eq!(privileges(MediaSet::of(&[Media::Video, Media::Audio])), ["publish_audio", "publish_video"]);
        assert!(privileges(MediaSet::EMPTY).is_empty());
    }

    #[test]
    fn rules_last_the_rest_of_the_mute_within_agoras_bounds() {
        assert_eq!(rule_seconds(0, None), 86_400);
        assert_eq!(rule_seconds(0, Some(3_000)), 10);
        assert_eq!(rule_seconds(1_000, Some(601_500)), 601);
        assert_eq!(rule_seconds(0, Some(30 * 86_400_000)), 86_400);
    }

    #[test]
    fn ids_round_trip_through_the_stored_rules() {
        let s = stored(&[7, 9]);
        assert_eq!(stored_ids(s.as_ref()), vec![7, 9]);
        assert_eq!(stored(&[]), None);
        assert_eq!(created_id(&json!({"status": "success", "id": 12})), Some(12));
        assert_eq!(created_id(&json!({"status": "failed", "id": 12})), None);
    }
}

//! Hard mutes on Agora: kicking rules (`moderation.rs`, the one client of that API) with the
//! `publish_audio` / `publish_video` privileges for one uid in one channel, and the rule ids a
//! participant's stored moderation state keeps.
//!
//! Agora calls these rules a fallback, not routine microphone control: a rule that is not
//! removed keeps the user unable to publish until it lapses (AgoraIO/Docs-Source
//! `shared/common/channel-management-api/best-practices/ban-user-privileges.mdx`). So every rule
//! lasts at most 24 h and the stored mute is re-applied before it lapses. Publish privileges in
//! tokens are enforced only where the project has co-host authentication on
//! (`shared/video-sdk/token-authentication/deploy-token-server/index.mdx`); these rules are
//! enforced regardless.

use serde_json::{json, Value};

use super::moderation::{Privilege, MIN_RULE_S};
use crate::domain::moderation::{Media, MediaSet};

/// The longest mute rule: a day (within Agora's own cap), renewed before it lapses.
pub const MAX_MUTE_RULE_S: u64 = 86_400;

/// The privileges a rule withholds for `blocked` (screen shares are video on Agora, but a rule
/// cannot tell them apart, so a screen mute is refused before it gets here).
pub fn privileges(blocked: MediaSet) -> Vec<Privilege> {
    let mut out = Vec::new();
    if blocked.contains(Media::Audio) {
        out.push(Privilege::PublishAudio);
    }
    if blocked.contains(Media::Video) {
        out.push(Privilege::PublishVideo);
    }
    out
}

/// How long the rule for a mute ending at `until_ms` (`None` = until lifted) should last from
/// `now_ms`: the rest of the mute, within Agora's bounds and a day.
pub fn rule_seconds(now_ms: u64, until_ms: Option<i64>) -> u64 {
    let rest = until_ms.map_or(MAX_MUTE_RULE_S as i64, |until| (until - now_ms as i64 + 999) / 1000);
    rest.clamp(MIN_RULE_S as i64, MAX_MUTE_RULE_S as i64) as u64
}

/// The rule ids stored for a participant (`{"agora_rule_ids":[…]}`).
pub fn stored_ids(rules: Option<&Value>) -> Vec<u64> {
    rules
        .and_then(|r| r.get("agora_rule_ids"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

pub fn stored(ids: &[u64]) -> Option<Value> {
    (!ids.is_empty()).then(|| json!({ "agora_rule_ids": ids }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_follow_the_muted_media() {
        assert_eq!(privileges(MediaSet::of(&[Media::Audio])), [Privilege::PublishAudio]);
        assert_eq!(
            privileges(MediaSet::of(&[Media::Video, Media::Audio])),
            [Privilege::PublishAudio, Privilege::PublishVideo]
        );
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
    }
}

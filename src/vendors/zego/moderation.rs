//! ZEGO's forbid-user rules: a rule keeps a user from logging in to a room (privilege 1) for
//! up to 86400 s. Sources: ZEGOCLOUD/docs_all `core_products/real-time-voice-video/en/server/
//! api-reference/room/forbid-user-rule/{set-forbid-user-rule,del-forbid-user-rule}.yaml`.
//!
//! - `SetForbidUserRule {RuleType, RoomId, UserId, DisabledPrivilege[], EffectiveTime}`;
//!   `RuleType` 4 = this user in this room; `EffectiveTime` 1–86400 s; 10 requests/s.
//! - `DelForbidUserRule {RuleType, RoomId, UserId}`.
//! - The rules must be enabled for the app by ZEGO support: otherwise `Code 9`. A rule does
//!   not remove a user already in the room: the kick does that.
//!
//! Only `RuleType` 4 is used: rtcgate's projects share one ZEGO app, so a rule by user id
//! alone (type 3) would also bar another project's user of the same id.

use super::actions::Call;

/// A user in one room.
pub const RULE_ROOM_USER: &str = "4";
/// `DisabledPrivilege` 1: logging in to the room.
pub const PRIVILEGE_LOGIN: &str = "1";
/// The longest rule ZEGO keeps.
pub const MAX_RULE_S: u64 = 86_400;
/// ZEGO's answer when the app does not have the rules enabled.
pub const CODE_NOT_ENABLED: &str = "9";

/// `seconds` as ZEGO takes it.
pub fn clamp_seconds(seconds: u64) -> u64 {
    seconds.clamp(1, MAX_RULE_S)
}

pub fn set_forbid_user_rule(room_id: &str, user_id: &str, seconds: u64) -> Call {
    Call {
        action: "SetForbidUserRule",
        params: vec![
            ("RuleType", RULE_ROOM_USER.to_owned()),
            ("RoomId", room_id.to_owned()),
            ("UserId", user_id.to_owned()),
            ("DisabledPrivilege[]", PRIVILEGE_LOGIN.to_owned()),
            ("EffectiveTime", clamp_seconds(seconds).to_string()),
        ],
    }
}

pub fn del_forbid_user_rule(room_id: &str, user_id: &str) -> Call {
    Call {
        action: "DelForbidUserRule",
        params: vec![
            ("RuleType", RULE_ROOM_USER.to_owned()),
            ("RoomId", room_id.to_owned()),
            ("UserId", user_id.to_owned()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_name_the_room_and_user_and_a_capped_time() {
        let set = set_forbid_user_rule("rm_1", "eve", 30 * 86_400);
        assert_eq!(set.action, "SetForbidUserRule");
        assert_eq!(
            set.params,
            vec![
                ("RuleType", "4".to_owned()),
                ("RoomId", "rm_1".to_owned()),
                ("UserId", "eve".to_owned()),
                ("DisabledPrivilege[]", "1".to_owned()),
                ("EffectiveTime", "86400".to_owned()),
            ]
        );
        let del = del_forbid_user_rule("rm_1", "eve");
        assert_eq!(
            (del.action, del.params.len(), &del.params[0]),
            ("DelForbidUserRule", 3, &("RuleType", "4".to_owned()))
        );
    }
}

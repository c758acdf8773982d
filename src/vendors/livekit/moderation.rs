//! LiveKit participant moderation: soft mutes (`MutePublishedTrack`, per published track) and
//! hard mutes, permission caps, name and metadata (`UpdateParticipant`). Pure request building
//! and answer reading; field names are the proto names of livekit/protocol
//! `protobufs/livekit_room.proto` and `livekit_models.proto`.
//!
//! `UpdateParticipant` replaces the participant's whole permission (livekit/protocol
//! `auth/grants.go` `UpdateFromPermission`), so the permission is read first (`GetParticipant`),
//! edited, and sent back whole: a hard mute keeps `can_subscribe` and every field rtcgate does
//! not know. An empty `can_publish_sources` means every source, so blocking every medium is
//! `can_publish: false`.

use serde_json::{json, Map, Value};

use super::twirp::{malformed, Method};
use super::wire::{EnumValue, Fields};
use crate::domain::moderation::{Media, MediaSet};
use crate::vendors::{ModerationChange, VendorError};

/// `TrackSource` values (livekit_models.proto): name, number, and the medium it carries.
const SOURCES: [(&str, i64, Media); 4] = [
    ("CAMERA", 1, Media::Video),
    ("MICROPHONE", 2, Media::Audio),
    ("SCREEN_SHARE", 3, Media::Screen),
    ("SCREEN_SHARE_AUDIO", 4, Media::Screen),
];

fn medium_of(source: EnumValue<'_>) -> Option<Media> {
    SOURCES.iter().find(|(name, number, _)| source.is(name, *number)).map(|(_, _, m)| *m)
}

pub fn get_participant_body(room_id: &str, identity: &str) -> Value {
    json!({ "room": room_id, "identity": identity })
}

/// The sids of the participant's published tracks whose source carries one of `media`, from a
/// `GetParticipant` answer (`ParticipantInfo.tracks[]`).
pub fn track_sids(info: &Value, media: MediaSet) -> Result<Vec<String>, VendorError> {
    let mut sids = Vec::new();
    for track in Fields::of(Method::GetParticipant, info)?.list("tracks")? {
        let track = Fields::of(Method::GetParticipant, track)?;
        if medium_of(track.enumeration("source")?).is_some_and(|m| media.contains(m)) {
            let sid = track.str("sid")?;
            if sid.is_empty() {
                return Err(malformed(Method::GetParticipant, "a track without sid"));
            }
            sids.push(sid.to_owned());
        }
    }
    Ok(sids)
}

pub fn mute_track_body(room_id: &str, identity: &str, track_sid: &str, muted: bool) -> Value {
    json!({ "room": room_id, "identity": identity, "track_sid": track_sid, "muted": muted })
}

/// The `can_publish_sources` (Twirp enum names) that `blocked` leaves; empty = every source.
fn sources_left(blocked: MediaSet) -> Vec<&'static str> {
    if blocked.is_empty() {
        return Vec::new();
    }
    SOURCES.iter().filter(|(_, _, m)| !blocked.contains(*m)).map(|(name, _, _)| *name).collect()
}

/// The participant's permission edited to `change.after`, from a `GetParticipant` answer.
/// Only what moderation governs changes: the sources a hard mute blocks, `can_publish` when
/// every medium is blocked or publishing is taken (and back when that ends), and the caps
/// that are set. Everything else is sent back as it was read.
pub fn permission_after(info: &Value, change: &ModerationChange<'_>) -> Result<Value, VendorError> {
    let fields = Fields::of(Method::GetParticipant, info)?;
    let mut permission = match fields.message("permission")? {
        Some(p) => p.message.as_object().cloned().unwrap_or_default(),
        None => Map::new(),
    };
    let (before, after, now) = (change.before, change.after, change.now_ms);
    let (muted_before, muted_after) = (before.muted_at(now), after.muted_at(now));
    if muted_after != muted_before || !muted_after.is_empty() {
        permission.insert("can_publish_sources".into(), json!(sources_left(muted_after)));
    }
    if after.blocks_all_publishing(now) {
        permission.insert("can_publish".into(), json!(false));
    } else if before.blocks_all_publishing(now) || after.can_publish == Some(true) {
        // Publishing was off because of moderation, which no longer holds.
        permission.insert("can_publish".into(), json!(true));
    }
    for (field, cap) in [("can_subscribe", after.can_subscribe), ("can_publish_data", after.can_publish_data)] {
        if let Some(allowed) = cap {
            permission.insert(field.into(), json!(allowed));
        }
    }
    Ok(Value::Object(permission))
}

/// `UpdateParticipant` with the whole `permission`, and a new name / metadata where given
/// (LiveKit skips empty ones).
pub fn update_body(room_id: &str, identity: &str, permission: Value, change: &ModerationChange<'_>) -> Value {
    let mut body = json!({ "room": room_id, "identity": identity, "permission": permission });
    if let Some(name) = change.display_name {
        body["name"] = json!(name);
    }
    if let Some(metadata) = change.metadata {
        body["metadata"] = json!(metadata);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::moderation::Moderation;
    use crate::vendors::ParticipantRef;

    fn info() -> Value {
        json!({
            "identity": "alice",
            "permission": {"can_subscribe": true, "can_publish": true, "can_publish_data": true,
                           "hidden": false, "can_update_metadata": true},
            "tracks": [
                {"sid": "TR_mic", "type": "AUDIO", "source": "MICROPHONE"},
                {"sid": "TR_cam", "type": "VIDEO", "source": 1},
                {"sid": "TR_scr", "type": "VIDEO", "source": "SCREEN_SHARE"},
                {"sid": "TR_sca", "type": "AUDIO", "source": "SCREEN_SHARE_AUDIO"},
            ],
        })
    }

    fn change<'a>(who: &'a ParticipantRef, before: &'a Moderation, after: &'a Moderation) -> ModerationChange<'a> {
        ModerationChange {
            room_id: "rm_1",
            who,
            before,
            after,
            rules: None,
            display_name: None,
            metadata: None,
            now_ms: 0,
        }
    }

    #[test]
    fn tracks_are_found_by_source_name_or_number() {
        assert_eq!(track_sids(&info(), MediaSet::of(&[Media::Audio])).unwrap(), vec!["TR_mic"]);
        assert_eq!(track_sids(&info(), MediaSet::of(&[Media::Video])).unwrap(), vec!["TR_cam"]);
        assert_eq!(track_sids(&info(), MediaSet::of(&[Media::Screen])).unwrap(), vec!["TR_scr", "TR_sca"]);
        assert!(track_sids(&json!({"identity": "a"}), MediaSet::ALL).unwrap().is_empty());
    }

    #[test]
    fn a_hard_mute_keeps_the_rest_of_the_permission() {
        let who = ParticipantRef { identity: "alice".into(), uids: vec![] };
        let before = Moderation::new("alice");
        let audio = Moderation { hard_muted: MediaSet::of(&[Media::Audio]), ..Moderation::new("alice") };
        let p = permission_after(&info(), &change(&who, &before, &audio)).unwrap();
        assert_eq!(
            p,
            json!({"can_subscribe": true, "can_publish": true, "can_publish_data": true, "hidden": false,
                   "can_update_metadata": true,
                   "can_publish_sources": ["CAMERA", "SCREEN_SHARE", "SCREEN_SHARE_AUDIO"]})
        );
        let all = Moderation { hard_muted: MediaSet::ALL, ..Moderation::new("alice") };
        let p = permission_after(&info(), &change(&who, &audio, &all)).unwrap();
        assert_eq!((p["can_publish"].clone(), p["can_subscribe"].clone()), (json!(false), json!(true)));
        // Lifting every mute gives every source back and publishing with it.
        let p = permission_after(&info(), &change(&who, &all, &before)).unwrap();
        assert_eq!((p["can_publish"].clone(), p["can_publish_sources"].clone()), (json!(true), json!([])));
    }

    #[test]
    fn caps_are_written_only_when_set() {
        let who = ParticipantRef { identity: "alice".into(), uids: vec![] };
        let before = Moderation::new("alice");
        let no_sub = Moderation { can_subscribe: Some(false), ..Moderation::new("alice") };
        let p = permission_after(&info(), &change(&who, &before, &no_sub)).unwrap();
        assert_eq!(p["can_subscribe"], json!(false));
        assert_eq!(p["can_publish"], json!(true));
        assert!(p.get("can_publish_sources").is_none());
        let c = ModerationChange { display_name: Some("Al"), ..change(&who, &before, &no_sub) };
        let body = update_body("rm_1", "alice", p, &c);
        assert_eq!((body["name"].as_str(), body.get("metadata")), (Some("Al"), None));
    }
}

//! LiveKit RoomService: request bodies and answer mapping for rooms and participants.
//! Pure functions. Field names are the proto names of livekit/protocol
//! `protobufs/livekit_room.proto` / `livekit_models.proto`.

use serde_json::{json, Map, Value};

use super::egress;
use super::twirp::{malformed, Method};
use super::wire::{EnumValue, Fields};
use crate::vendors::{CreatedRoom, LiveParticipant, RoomSpec, VendorError};

/// CreateRoom body: the room id is the LiveKit room name. Unset options are left out so the
/// server's defaults apply. `auto_record` becomes a room egress (`RoomEgress.room`, a
/// RoomCompositeEgressRequest) that the server starts when it creates the room.
pub fn create_room_body(spec: &RoomSpec) -> Value {
    let mut body = Map::new();
    body.insert("name".into(), json!(spec.room_id));
    if let Some(seconds) = spec.empty_timeout_s {
        body.insert("empty_timeout".into(), json!(seconds));
    }
    if let Some(max) = spec.max_participants {
        body.insert("max_participants".into(), json!(max));
    }
    if let Some(metadata) = &spec.metadata_json {
        body.insert("metadata".into(), json!(metadata));
    }
    if let Some(destination) = &spec.auto_record {
        // The server overwrites room_name with the room's own name (livekit/livekit
        // pkg/service/roommanager.go), so naming it here only documents intent.
        body.insert("egress".into(), json!({ "room": egress::room_composite(&spec.room_id, "", false, destination) }));
    }
    Value::Object(body)
}

/// The Room that CreateRoom answers with (the same sid again when it already existed).
pub fn created_room(room: &Value) -> Result<CreatedRoom, VendorError> {
    let sid = Fields::of(Method::CreateRoom, room)?.str("sid")?;
    if sid.is_empty() {
        return Err(malformed(Method::CreateRoom, "a room without sid"));
    }
    Ok(CreatedRoom { vendor_sid: Some(sid.to_owned()) })
}

pub fn list_rooms_body(room_id: &str) -> Value {
    json!({ "names": [room_id] })
}

/// `num_participants` of the named room in a ListRooms answer; a room LiveKit does not list
/// is empty. LiveKit's count leaves out agents and egress recorders
/// (livekit/livekit pkg/rtc/room.go `updateProto`, `IsDependent`).
pub fn occupancy(answer: &Value, room_id: &str) -> Result<u32, VendorError> {
    for room in Fields::of(Method::ListRooms, answer)?.list("rooms")? {
        let room = Fields::of(Method::ListRooms, room)?;
        if room.str("name")? == room_id {
            return room.uint32("num_participants");
        }
    }
    Ok(0)
}

pub fn delete_room_body(room_id: &str) -> Value {
    json!({ "room": room_id })
}

pub fn list_participants_body(room_id: &str) -> Value {
    json!({ "room": room_id })
}

pub fn remove_participant_body(room_id: &str, identity: &str) -> Value {
    json!({ "room": room_id, "identity": identity })
}

/// `RemoveParticipant` for a ban: `revoke_token_ts` (seconds) asks the server to refuse every
/// token whose `nbf` is before it — the tokens minted before the ban, since rtcgate's carry
/// `nbf` = issue time. LiveKit Cloud honours it; the open-source server ignores it (and
/// rtcgate then removes a banned participant again when its join event arrives).
/// livekit/protocol `protobufs/livekit_room.proto` (`RoomParticipantIdentity.revoke_token_ts`).
pub fn remove_banned_participant_body(room_id: &str, identity: &str, banned_at_s: u64) -> Value {
    json!({ "room": room_id, "identity": identity, "revoke_token_ts": banned_at_s })
}

/// `ParticipantInfo.Kind` values that are machinery, not members: egress recorders and
/// agents. Left out of participant lists so the list agrees with `num_participants`,
/// which LiveKit counts the same way.
const DEPENDENT_KINDS: [(&str, i64); 2] = [("EGRESS", 2), ("AGENT", 4)];

fn is_dependent(kind: EnumValue<'_>) -> bool {
    DEPENDENT_KINDS.iter().any(|(name, number)| kind.is(name, *number))
}

/// The people in a ListParticipants answer (a missing room answers an empty list).
pub fn participants(answer: &Value) -> Result<Vec<LiveParticipant>, VendorError> {
    let mut people = Vec::new();
    for p in Fields::of(Method::ListParticipants, answer)?.list("participants")? {
        let p = Fields::of(Method::ListParticipants, p)?;
        if is_dependent(p.enumeration("kind")?) {
            continue;
        }
        let identity = p.str("identity")?;
        if identity.is_empty() {
            return Err(malformed(Method::ListParticipants, "a participant without identity"));
        }
        let name = p.str("name")?;
        people.push(LiveParticipant {
            identity: Some(identity.to_owned()),
            uid: None,
            display_name: (!name.is_empty()).then(|| name.to_owned()),
            joined_at_ms: joined_at_ms(p)?,
        });
    }
    Ok(people)
}

/// `joined_at_ms` where the server has it, else `joined_at` (seconds); zero = unknown.
fn joined_at_ms(p: Fields<'_>) -> Result<Option<u64>, VendorError> {
    let positive = |n: i64| u64::try_from(n).ok().filter(|n| *n > 0);
    Ok(positive(p.int64("joined_at_ms")?).or(positive(p.int64("joined_at")?).and_then(|s| s.checked_mul(1000))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::recording::Destination;
    use crate::vendors::VendorFailure;

    #[test]
    fn create_room_body_sends_only_what_is_set() {
        let minimal = RoomSpec { room_id: "rm_1".into(), ..RoomSpec::default() };
        assert_eq!(create_room_body(&minimal), json!({"name": "rm_1"}));
        let full = RoomSpec {
            room_id: "rm_1".into(),
            max_participants: Some(8),
            empty_timeout_s: Some(120),
            metadata_json: Some(r#"{"topic":"standup"}"#.into()),
            auto_record: Some(Destination::Gcs {
                bucket: "b".into(),
                path: "rm_1/x.mp4".into(),
                credentials: "c".into(),
            }),
        };
        assert_eq!(
            create_room_body(&full),
            json!({"name": "rm_1", "empty_timeout": 120, "max_participants": 8, "metadata": "{\"topic\":\"standup\"}",
                   "egress": {"room": {"room_name": "rm_1", "file_outputs": [
                       {"file_type": "MP4", "filepath": "rm_1/x.mp4", "gcp": {"credentials": "c", "bucket": "b"}}]}}})
        );
    }

    fn room(name: &str, n: u32) -> Value {
        json!({"sid": "RM_abc", "name": name, "empty_timeout": 300, "departure_timeout": 20, "max_participants": 0,
               "creation_time": "1700000000", "creation_time_ms": "1700000000000", "turn_password": "",
               "enabled_codecs": [], "metadata": "", "num_participants": n, "num_publishers": 0,
               "active_recording": false, "version": null})
    }

    #[test]
    fn created_room_returns_the_sid() {
        assert_eq!(created_room(&room("rm_1", 0)).unwrap(), CreatedRoom { vendor_sid: Some("RM_abc".into()) });
        for bad in [json!({"sid": ""}), json!({}), json!({"sid": 5}), json!([])] {
            assert_eq!(created_room(&bad).unwrap_err().failure, VendorFailure::ServerError, "{bad}");
        }
    }

    #[test]
    fn occupancy_reads_the_named_room() {
        assert_eq!(list_rooms_body("rm_1"), json!({"names": ["rm_1"]}));
        assert_eq!(occupancy(&json!({"rooms": [room("other", 9), room("rm_1", 3)]}), "rm_1").unwrap(), 3);
        assert_eq!(occupancy(&json!({"rooms": []}), "rm_1").unwrap(), 0);
        assert_eq!(occupancy(&json!({"rooms": [room("other", 9)]}), "rm_1").unwrap(), 0);
        for bad in
            [json!({"rooms": "x"}), json!({"rooms": [1]}), json!({"rooms": [{"name": "rm_1", "num_participants": -1}]})]
        {
            assert_eq!(occupancy(&bad, "rm_1").unwrap_err().failure, VendorFailure::ServerError, "{bad}");
        }
    }

    #[test]
    fn participant_bodies() {
        assert_eq!(delete_room_body("rm_1"), json!({"room": "rm_1"}));
        assert_eq!(list_participants_body("rm_1"), json!({"room": "rm_1"}));
        assert_eq!(remove_participant_body("rm_1", "alice"), json!({"room": "rm_1", "identity": "alice"}));
        assert_eq!(
            remove_banned_participant_body("rm_1", "alice", 1_700_000_000),
            json!({"room": "rm_1", "identity": "alice", "revoke_token_ts": 1_700_000_000u64})
        );
    }

    fn participant(identity: &str, name: &str, kind: Value, joined_at: &str, joined_at_ms: &str) -> Value {
        json!({"sid": "PA_1", "identity": identity, "state": "ACTIVE", "tracks": [], "metadata": "",
               "joined_at": joined_at, "joined_at_ms": joined_at_ms, "name": name, "version": 0,
               "permission": {"can_subscribe": true}, "region": "", "is_publisher": false, "kind": kind,
               "attributes": {}, "disconnect_reason": "UNKNOWN_REASON", "kind_details": []})
    }

    #[test]
    fn participants_map_and_skip_machinery() {
        let answer = json!({"participants": [
            participant("alice", "Alice", json!("STANDARD"), "1700000000", "1700000000250"),
            participant("bob", "", json!("SIP"), "1700000001", "0"),
            participant("EG_rec", "", json!("EGRESS"), "1700000002", "1700000002000"),
            participant("agent-1", "Helper", json!("AGENT"), "1700000003", "1700000003000"),
            participant("agent-2", "", json!(4), "1700000003", "1700000003000"),
            participant("carol", "Carol", json!(0), "0", "0"),
        ]});
        assert_eq!(
            participants(&answer).unwrap(),
            vec![
                LiveParticipant {
                    identity: Some("alice".into()),
                    uid: None,
                    display_name: Some("Alice".into()),
                    joined_at_ms: Some(1_700_000_000_250)
                },
                LiveParticipant {
                    identity: Some("bob".into()),
                    uid: None,
                    display_name: None,
                    joined_at_ms: Some(1_700_000_001_000)
                },
                LiveParticipant {
                    identity: Some("carol".into()),
                    uid: None,
                    display_name: Some("Carol".into()),
                    joined_at_ms: None
                },
            ]
        );
        assert!(participants(&json!({"participants": []})).unwrap().is_empty());
    }

    #[test]
    fn malformed_participants_are_server_errors() {
        for bad in [
            json!({"participants": {}}),
            json!({"participants": ["alice"]}),
            json!({"participants": [participant("", "", json!("STANDARD"), "0", "0")]}),
            json!({"participants": [participant("a", "", json!("STANDARD"), "yesterday", "0")]}),
            json!({"participants": [participant("a", "", json!(true), "0", "0")]}),
        ] {
            assert_eq!(participants(&bad).unwrap_err().failure, VendorFailure::ServerError, "{bad}");
        }
    }
}

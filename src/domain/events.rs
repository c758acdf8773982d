//! Vendor webhooks in, one normalized event stream out.
//!
//! Each vendor's `webhook` module (`vendors::<vendor>::webhook`) verifies a delivery the way
//! that vendor's own receiver does and turns its body into `Incoming` events (pure functions);
//! `resources::events::ingest` stores each vendor event once, applies its effects (participant
//! times, sessions for usage, recording status) and fans it out to the project's webhooks.

use serde_json::Value;

use crate::config::{setting, EnvVars};
use crate::domain::recording::RecordingStatus;
use crate::domain::stream::PushResult;

/// The normalized event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    RoomStarted,
    RoomFinished,
    ParticipantJoined,
    ParticipantLeft,
    /// rtcgate removed the participant at the deadline of their timed session.
    ParticipantEjected,
    TrackPublished,
    TrackUnpublished,
    RecordingStarted,
    RecordingUpdated,
    RecordingEnded,
    /// Emitted by the gateway itself (not a vendor): a ban was set or extended, or lifted.
    ParticipantBanned,
    ParticipantUnbanned,
    /// A moderator muted a participant's media (rtcgate's own event: no vendor sends it).
    ParticipantMuted,
    ParticipantUnmuted,
    /// rtcgate's own stream events, from the vendor's answers and stream webhooks.
    StreamStarted,
    StreamOutputFailed,
    StreamEnded,
}

impl EventType {
    pub const ALL: [EventType; 17] = [
        EventType::RoomStarted,
        EventType::RoomFinished,
        EventType::ParticipantJoined,
        EventType::ParticipantLeft,
        EventType::ParticipantEjected,
        EventType::TrackPublished,
        EventType::TrackUnpublished,
        EventType::RecordingStarted,
        EventType::RecordingUpdated,
        EventType::RecordingEnded,
        EventType::ParticipantBanned,
        EventType::ParticipantUnbanned,
        EventType::ParticipantMuted,
        EventType::ParticipantUnmuted,
        EventType::StreamStarted,
        EventType::StreamOutputFailed,
        EventType::StreamEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RoomStarted => "room.started",
            EventType::RoomFinished => "room.finished",
            EventType::ParticipantJoined => "participant.joined",
            EventType::ParticipantLeft => "participant.left",
            EventType::ParticipantEjected => "participant.ejected",
            EventType::TrackPublished => "track.published",
            EventType::TrackUnpublished => "track.unpublished",
            EventType::RecordingStarted => "recording.started",
            EventType::RecordingUpdated => "recording.updated",
            EventType::RecordingEnded => "recording.ended",
            EventType::ParticipantBanned => "participant.banned",
            EventType::ParticipantUnbanned => "participant.unbanned",
            EventType::ParticipantMuted => "participant.muted",
            EventType::ParticipantUnmuted => "participant.unmuted",
            EventType::StreamStarted => "stream.started",
            EventType::StreamOutputFailed => "stream.output_failed",
            EventType::StreamEnded => "stream.ended",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Who an event is about, as the vendor names them.
#[derive(Clone, Debug, PartialEq)]
pub enum Who {
    /// LiveKit and ZEGO carry the identity itself.
    Identity(String),
    /// Agora carries the numeric uid (mapped back through the participant registry), and a
    /// user account when the client joined with one.
    Uid { uid: u32, account: Option<String> },
}

/// One presence of a participant, for `joined_at`/`left_at` and usage.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// Unique per presence within the room (LiveKit participant sid, Agora uid + clientSeq of
    /// the join, ZEGO session id).
    pub key: String,
    pub joined_at_ms: Option<u64>,
    pub left_at_ms: Option<u64>,
}

impl Session {
    /// Seconds in the room once both ends are known, a started second counting whole.
    pub fn seconds(&self) -> Option<u64> {
        Some(self.left_at_ms?.saturating_sub(self.joined_at_ms?).div_ceil(1000))
    }
}

/// A recording's new state, by the vendor's handle for it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordingChange {
    pub vendor_recording_id: String,
    pub status: Option<RecordingStatus>,
    /// What the job reports of each URL it pushes to, when it pushes a live stream (a LiveKit
    /// egress is a recording's or a stream's: only our records can tell); empty otherwise.
    pub pushes: Vec<PushResult>,
}

/// One vendor event, verified and read, before it is matched to a room of ours.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    pub vendor: &'static str,
    /// Identifies this vendor event across redeliveries.
    pub dedupe_key: String,
    /// The vendor-side room (channel) name, which for our rooms is the room id.
    pub vendor_room: String,
    pub kind: EventType,
    pub who: Option<Who>,
    pub occurred_at_ms: u64,
    pub session: Option<Session>,
    pub recording: Option<RecordingChange>,
    /// Vendor details worth passing on (never credentials).
    pub data: Value,
}

/// Why a delivery was refused. Only the kind reaches the client; the detail goes to the log.
#[derive(Clone, Debug, PartialEq)]
pub enum Rejection {
    /// Missing or wrong signature, stale or replayed: 401, nothing stored.
    Unauthenticated(&'static str),
    /// Verified, but the body cannot be read: 400.
    Malformed(String),
    /// The vendor's webhook secret is not configured here: 401 as well (we cannot verify).
    NotConfigured(&'static str),
}

/// The secrets that authenticate vendor webhooks.
#[derive(Clone, Default)]
pub struct Settings {
    /// LiveKit signs webhooks with an API key pair; ours is the one we call it with.
    pub livekit: Option<(String, String)>,
    /// `AGORA_NCS_SECRET`: the Notifications secret from Agora Console.
    pub agora_ncs_secret: Option<String>,
    /// `ZEGO_CALLBACK_SECRET`: the callback secret from ZEGO Console.
    pub zego_callback_secret: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("livekit", &self.livekit.is_some())
            .field("agora", &self.agora_ncs_secret.is_some())
            .field("zego", &self.zego_callback_secret.is_some())
            .finish()
    }
}

impl Settings {
    pub fn from_env(env: EnvVars<'_>) -> Settings {
        let livekit = match (setting(env, "LIVEKIT_API_KEY"), setting(env, "LIVEKIT_API_SECRET")) {
            (Some(key), Some(secret)) => Some((key, secret)),
            _ => None,
        };
        Settings {
            livekit,
            agora_ncs_secret: setting(env, "AGORA_NCS_SECRET"),
            zego_callback_secret: setting(env, "ZEGO_CALLBACK_SECRET"),
        }
    }
}

/// A JSON integer that protojson (int64 as a string) or a vendor may send either way.
pub(crate) fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Longest file location passed on in event data; a longer one is not a file name.
const MAX_FILE_LOCATION: usize = 1024;

/// A recording file in event data, in the shape of the recording API's file objects
/// (`RecordingFile`: `location`, `size_bytes`, `duration_ms`), built from the vendor's values
/// so that nothing else of the vendor's object reaches tenants. `None` without a usable location.
pub(crate) fn file_entry(
    location: Option<&str>,
    size_bytes: Option<&Value>,
    duration_ms: Option<&Value>,
) -> Option<Value> {
    let location =
        location.filter(|l| !l.is_empty() && l.len() <= MAX_FILE_LOCATION && !l.chars().any(char::is_control))?;
    let count = |v: Option<&Value>| v.and_then(int_of).and_then(|n| u64::try_from(n).ok());
    Some(serde_json::json!({
        "location": location,
        "size_bytes": count(size_bytes),
        "duration_ms": count(duration_ms),
    }))
}

/// A non-empty string field.
pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Constant-time equality of two byte strings (signatures).
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Every event type's name, for messages listing the accepted ones.
pub fn type_names() -> String {
    EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
}

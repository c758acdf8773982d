//! The vendors rtcgate can host rooms on. Each lives in its own folder and implements
//! [`Vendor`]; [`registry`] is the one place that lists them. Adding a vendor means a new
//! folder and one line in `registry`.

pub mod agora;
pub mod capability;
pub mod error;
pub mod livekit;
pub mod routing;
pub mod transport;
pub mod zego;

use async_trait::async_trait;
use serde_json::Value;

pub use capability::Capability;
pub use error::{VendorError, VendorFailure};

use crate::config::{setting, EnvVars};
use crate::domain::identity::{Identity, IdentityRule};
use crate::domain::moderation::{Media, MediaSet, Moderation};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::{Entropy, Runtime};

/// Builds every vendor from the environment. Order here is only the listing order;
/// routing order comes from `RTC_VENDOR_ORDER`.
pub fn registry(env: EnvVars<'_>) -> Vec<VendorEntry> {
    vec![livekit::setup(env), agora::setup(env), zego::setup(env)]
}

/// A vendor as configured in this deployment.
pub struct VendorEntry {
    pub name: &'static str,
    pub state: VendorState,
}

pub enum VendorState {
    Ready(Box<dyn Vendor>),
    /// None of its settings are present.
    Unconfigured,
    /// Some settings are present but wrong; the reason names the setting, never its value.
    Misconfigured(String),
}

impl VendorEntry {
    pub fn ready(&self) -> Option<&dyn Vendor> {
        match &self.state {
            VendorState::Ready(v) => Some(v.as_ref()),
            _ => None,
        }
    }
}

/// Room settings passed to a vendor that has a room object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoomSpec {
    /// Our room id, which is also the vendor-side room/channel name.
    pub room_id: String,
    pub max_participants: Option<u32>,
    pub empty_timeout_s: Option<u32>,
    /// The room's metadata as a JSON document (vendors take it as a string).
    pub metadata_json: Option<String>,
    /// Record the whole room automatically to this destination (LiveKit room egress).
    pub auto_record: Option<recording::Destination>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreatedRoom {
    /// The vendor's own id for the room, where it has one (LiveKit `RM_…`).
    pub vendor_sid: Option<String>,
}

/// A participant the vendor reports as present. Vendors that speak numeric uids report
/// `uid` only; the caller maps it to an identity through the participant registry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveParticipant {
    pub identity: Option<String>,
    pub uid: Option<u32>,
    pub display_name: Option<String>,
    pub joined_at_ms: Option<u64>,
}

/// Who to act on: the identity and every numeric uid the registry records for it (Agora: one
/// per isolate that gave it one; none on vendors that join by identity, or before its first
/// registry row lands).
#[derive(Clone, Debug, PartialEq)]
pub struct ParticipantRef {
    pub identity: String,
    pub uids: Vec<u32>,
}

/// A vendor's own ban rule, as set.
#[derive(Clone, Debug, PartialEq)]
pub struct BanRule {
    /// The vendor's handle for it (Agora's rule id; ZEGO's rule type, as ZEGO names a rule by
    /// its room and user).
    pub id: String,
    /// When the vendor lets it lapse.
    pub lapses_at_ms: u64,
}

/// What a join token grants. Vendors refuse grants they cannot enforce.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinGrant {
    pub room_id: String,
    pub identity: Identity,
    /// Room-stable numeric uid from the participant registry (Agora joins with it).
    pub uid: u32,
    pub display_name: Option<String>,
    pub metadata_json: Option<String>,
    pub ttl_s: u32,
    pub can_publish: bool,
    pub can_subscribe: bool,
    /// `None` = the default, same as `can_publish`; `Some` = the caller asked explicitly
    /// (a vendor that cannot restrict data refuses an explicit `false`).
    pub can_publish_data: Option<bool>,
    pub is_admin: bool,
    /// Media the token must not let the participant publish (a stored hard mute). Vendors
    /// whose tokens cannot say it per medium enforce it with their own rules instead.
    pub blocked_media: MediaSet,
}

impl JoinGrant {
    pub fn effective_publish_data(&self) -> bool {
        self.can_publish_data.unwrap_or(self.can_publish)
    }

    /// Folds a participant's stored moderation into this grant at `now_ms`: it only ever takes
    /// away (a cap of `true` grants nothing the request did not ask for). Every medium muted is
    /// no publishing at all.
    pub fn apply_moderation(&mut self, moderation: &Moderation, now_ms: u64) {
        let muted = moderation.muted_at(now_ms);
        self.blocked_media = self.blocked_media.union(muted);
        if moderation.can_publish == Some(false) || self.blocked_media == MediaSet::ALL {
            // Data keeps following what was asked of it: a participant muted everywhere may
            // still send data unless that is taken too.
            self.can_publish_data = Some(self.effective_publish_data());
            self.can_publish = false;
        }
        if moderation.can_subscribe == Some(false) {
            self.can_subscribe = false;
        }
        if moderation.can_publish_data == Some(false) {
            self.can_publish_data = Some(false);
        }
    }
}

#[cfg(test)]
impl JoinGrant {
    /// For tests: a publisher with every grant but admin, for an hour; adjust with
    /// struct-update syntax.
    pub fn publisher(room_id: &str, identity: &str, uid: u32) -> JoinGrant {
        JoinGrant {
            room_id: room_id.to_owned(),
            identity: Identity::parse(identity.to_owned()).expect("a test identity passes the common rule"),
            uid,
            display_name: None,
            metadata_json: None,
            ttl_s: 3600,
            can_publish: true,
            can_subscribe: true,
            can_publish_data: None,
            is_admin: false,
            blocked_media: MediaSet::EMPTY,
        }
    }
}

/// A message from the server to a room's participants (`rtc.room.message`), already checked
/// against the portable limits (`MAX_MESSAGE_BYTES`, `MAX_MESSAGE_TARGETS`, `MAX_TOPIC_CHARS`).
#[derive(Clone, Debug, PartialEq)]
pub struct RoomMessage {
    pub data: Vec<u8>,
    /// The identities it is for; empty = everyone in the room.
    pub to: Vec<String>,
    pub topic: Option<String>,
}

/// What became of a room message the vendor answered: sent, or refused for a reason the
/// caller can act on (none of them an outage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Nobody is connected to the room at the vendor (or it never opened there).
    RoomNotLive,
    /// A named recipient is not connected to the room.
    RecipientAbsent,
    /// The vendor found the message longer than it takes.
    TooLarge,
}

/// The most data one room message carries, the same on every vendor: ZEGO's custom-command
/// cap, the smallest of the three.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// The most recipients one room message names (ZEGO's `ToUserId` cap).
pub const MAX_MESSAGE_TARGETS: usize = 10;
/// The longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub struct JoinToken {
    pub token: String,
    pub expires_at_ms: u64,
    /// What a client SDK needs besides the token, e.g. LiveKit `{url, room}`.
    pub join: Value,
}

use crate::domain::recording::{self, RecordingSpec, RecordingState};
use crate::domain::stream::{InputChange, OutputTarget, StreamSpec, StreamState};

/// What a moderation request touches, for `Vendor::check_moderation` to refuse what the
/// vendor cannot enforce before anything is stored or sent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ModerationAsk {
    /// Media to soft-mute or soft-unmute (the participant may unmute).
    pub soft: MediaSet,
    /// Media to hard-mute or lift a hard mute of.
    pub hard: MediaSet,
    pub can_publish: Option<bool>,
    pub can_subscribe: Option<bool>,
    pub can_publish_data: Option<bool>,
    pub display_name: bool,
    pub metadata: bool,
}

/// A participant's moderation as it was and as it is to be, for `Vendor::enforce_moderation`.
#[derive(Clone, Copy, Debug)]
pub struct ModerationChange<'a> {
    pub room_id: &'a str,
    pub who: &'a ParticipantRef,
    pub before: &'a Moderation,
    pub after: &'a Moderation,
    /// The vendor rules that enforce `before` (what the last `enforce_moderation` answered).
    pub rules: Option<&'a Value>,
    /// A new display name / metadata (JSON text), where the vendor has them.
    pub display_name: Option<&'a str>,
    pub metadata: Option<&'a str>,
    pub now_ms: u64,
}

/// What `enforce_moderation` did at the vendor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Enforced {
    /// Whether the change reached the vendor now: LiveKit changed the participant in the room
    /// (someone absent cannot be changed there), Agora or ZEGO set or lifted a rule. Either
    /// way the stored state reaches the identity's next token.
    pub applied: bool,
    /// The vendor-side rules now enforcing `after`, to keep for the next change or re-apply.
    pub rules: Option<Value>,
    /// When those rules lapse (vendor rules last at most 24 h); re-apply before then.
    pub rules_expire_at_ms: Option<i64>,
}

/// `VendorError::vendor_code` of a soft unmute the vendor refuses because its server does not
/// allow remote unmutes (a server setting).
pub const REMOTE_UNMUTE_DISABLED: &str = "remote_unmute_disabled";

/// `VendorError::vendor_code` of a moderation rule the vendor refuses because the app does not
/// have rules enabled (ZEGO's forbid rules are enabled by its support: `Code 9`).
pub const RULES_NOT_ENABLED: &str = "rules_not_enabled";

/// `UNSUPPORTED_BY_VENDOR` naming the request field `vendor` cannot enforce.
pub fn moderation_unsupported(vendor: &str, field: &str, why: &str) -> ApiError {
    ApiError::new(ErrorCode::UnsupportedByVendor, format!("{vendor} cannot enforce '{field}': {why}"))
        .with_detail("field", field.to_owned())
        .with_detail("vendor", vendor.to_owned())
}

/// Why a vendor whose only moderation is withholding publishing (Agora's kicking rules, ZEGO's
/// forbid-stream rules) cannot enforce each other part of a moderation request.
pub struct PublishRulesOnly {
    pub soft_mute: &'static str,
    pub screen: &'static str,
    pub can_subscribe: &'static str,
    pub can_publish_data: &'static str,
    pub display_name: &'static str,
    pub metadata: &'static str,
}

impl PublishRulesOnly {
    /// `UNSUPPORTED_BY_VENDOR` for the first part of `ask` `vendor` cannot enforce.
    pub fn check(&self, vendor: &str, ask: &ModerationAsk) -> ApiResult<()> {
        let refusal = [
            (!ask.soft.is_empty(), "mode", self.soft_mute),
            (ask.hard.contains(Media::Screen), "media", self.screen),
            (ask.can_subscribe.is_some(), "can_subscribe", self.can_subscribe),
            (ask.can_publish_data.is_some(), "can_publish_data", self.can_publish_data),
            (ask.display_name, "display_name", self.display_name),
            (ask.metadata, "metadata", self.metadata),
        ]
        .into_iter()
        .find(|(refused, _, _)| *refused);
        match refusal {
            Some((_, field, why)) => Err(moderation_unsupported(vendor, field, why)),
            None => Ok(()),
        }
    }
}

/// One vendor's implementation of the contract. Room-level calls take the room id, which is
/// the vendor-side room name. Methods for capabilities the vendor lacks keep the default
/// bodies, which refuse with `UNSUPPORTED_BY_VENDOR`; `supports` must agree with them.
#[async_trait(?Send)]
pub trait Vendor {
    fn name(&self) -> &'static str;

    fn supports(&self, capability: Capability) -> bool;

    /// Whether `create_room` calls the vendor. Vendors without a room object answer it without
    /// a call, so its outcome says nothing about their health (the circuit breaker skips it).
    fn room_create_calls_vendor(&self) -> bool {
        true
    }

    /// Creates (or, for vendors without a room object, does nothing and) returns the room.
    async fn create_room(&self, rt: &Runtime, spec: &RoomSpec) -> Result<CreatedRoom, VendorError>;

    /// How many participants are in the room now.
    async fn occupancy(&self, rt: &Runtime, room_id: &str) -> Result<u32, VendorError>;

    /// Ends the room for everyone. A room the vendor no longer knows counts as deleted.
    async fn delete_room(&self, rt: &Runtime, room_id: &str) -> Result<(), VendorError>;

    async fn list_participants(&self, rt: &Runtime, room_id: &str) -> Result<Vec<LiveParticipant>, VendorError>;

    /// Removes one participant; `VendorFailure::NotFound` when they are not in the room.
    async fn kick(&self, rt: &Runtime, room_id: &str, who: &ParticipantRef) -> Result<(), VendorError>;

    /// Removes a participant being banned: like `kick`, and where the vendor can, it also
    /// refuses the tokens minted before `banned_at_s` (LiveKit's `revoke_token_ts`).
    async fn kick_banned(
        &self,
        rt: &Runtime,
        room_id: &str,
        who: &ParticipantRef,
        _banned_at_s: u64,
    ) -> Result<(), VendorError> {
        self.kick(rt, room_id, who).await
    }

    /// Sets the vendor's own rule keeping `who` out of `room_id` for `seconds` (capped by the
    /// vendor, about a day), replacing `previous` (a rule id it returned before). `Ok(None)`:
    /// this vendor has no such rule here (unsupported, or not enabled): the ban rests on the
    /// tokens rtcgate refuses.
    async fn set_ban_rule(
        &self,
        _rt: &Runtime,
        _room_id: &str,
        _who: &ParticipantRef,
        _seconds: u64,
        _previous: Option<&str>,
    ) -> Result<Option<BanRule>, VendorError> {
        Ok(None)
    }

    /// Removes a rule `set_ban_rule` set (a rule already gone is no failure).
    async fn remove_ban_rule(
        &self,
        _rt: &Runtime,
        _room_id: &str,
        _who: &ParticipantRef,
        _rule_id: &str,
    ) -> Result<(), VendorError> {
        Ok(())
    }

    /// Whether `join_token` needs the participant's room-stable numeric uid (`JoinGrant::uid`)
    /// from the registry. Vendors that join by identity mint without waiting for the registry.
    fn joins_by_uid(&self) -> bool {
        false
    }

    /// What this vendor takes as an identity beyond the common rule (`Identity::parse`).
    fn identity_rule(&self) -> &'static IdentityRule;

    /// Mints a join token in the vendor's own format. No I/O: signed in-isolate.
    fn join_token(&self, grant: &JoinGrant, now_ms: u64, entropy: &dyn Entropy) -> ApiResult<JoinToken>;

    /// Refuses an identity outside the vendor's documented limits, or a grant its tokens
    /// cannot enforce. Called before anything is written, so a refused token leaves no
    /// trace; `join_token` applies the same checks.
    fn check_grant(&self, grant: &JoinGrant) -> ApiResult<()>;

    async fn start_recording(&self, _rt: &Runtime, _spec: &RecordingSpec) -> Result<RecordingState, VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "recording is not supported"))
    }

    /// Whether the room can record itself from creation (`enable_recording`; LiveKit's room
    /// egress). Others record through `start_recording` only.
    fn records_rooms_itself(&self) -> bool {
        false
    }

    /// Whether the recording bot joins with a uid from the participant registry (Agora).
    fn recorder_needs_uid(&self) -> bool {
        false
    }

    /// Refuses a recording this vendor cannot make (a storage kind or region it has no code
    /// for), before anything is written or sent.
    fn check_recording(&self, _spec: &RecordingSpec) -> ApiResult<()> {
        Ok(())
    }

    /// For a start whose answer was lost: asks the vendor again in a way that cannot make a
    /// second recording, because the vendor deduplicates by something of this record's (ZEGO:
    /// `ClientTaskId` = recording id; Agora: the recorder uid, which one task at a time can
    /// hold). Only called when `recovers_lost_starts`; other vendors are searched with
    /// `room_recordings`.
    async fn recover_start(&self, _rt: &Runtime, _spec: &RecordingSpec) -> Result<RecordingState, VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "this vendor cannot recover a lost start"))
    }

    fn recovers_lost_starts(&self) -> bool {
        false
    }

    async fn stop_recording(&self, _rt: &Runtime, _vendor_recording_id: &str) -> Result<RecordingState, VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "recording is not supported"))
    }

    /// The recording's current state; `room_id` lets vendors list by room.
    async fn recording_state(
        &self,
        _rt: &Runtime,
        _room_id: &str,
        _vendor_recording_id: &str,
    ) -> Result<RecordingState, VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "recording is not supported"))
    }

    /// Every recording the vendor has of a room, running or finished (to find the one a
    /// timed-out start began).
    async fn room_recordings(&self, _rt: &Runtime, _room_id: &str) -> Result<Vec<RecordingState>, VendorError> {
        Ok(Vec::new())
    }

    /// Starts a live stream: the room composited and pushed to `spec.outputs`. On vendors that
    /// do not compose the room themselves (`composes_streams_itself` false), `spec.regions`
    /// place each publisher.
    async fn start_stream(&self, _rt: &Runtime, _spec: &StreamSpec) -> Result<StreamState, VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "live streaming is not supported"))
    }

    /// Whether asking `start_stream` again for the same spec can never make a second stream
    /// (the vendor names it by our stream id: Agora's converter name, ZEGO's task id). Then a
    /// start whose answer was lost is simply asked again; other vendors are searched with
    /// `find_stream`.
    fn stream_starts_are_idempotent(&self) -> bool {
        false
    }

    /// A running stream of the room pushing to `spec`'s first output, if the vendor has one
    /// (to find the one a start whose answer was lost began). The caller skips the vendor ids
    /// other records hold.
    async fn find_streams(&self, _rt: &Runtime, _spec: &StreamSpec) -> Result<Vec<StreamState>, VendorError> {
        Ok(Vec::new())
    }

    /// Whether the vendor lays the room out itself (LiveKit's templates). Otherwise the
    /// gateway computes the layout from who publishes and re-sends it with `relayout_stream`.
    fn composes_streams_itself(&self) -> bool {
        true
    }

    /// Who starts or stops publishing, as this vendor's event (`kind`, stored `data`) says,
    /// in the key its layout takes (Agora uid, ZEGO stream id).
    fn stream_input(&self, _kind: &str, _data: &Value) -> Option<InputChange> {
        None
    }

    /// Adds and removes outputs of a running stream; `spec` is the stream as it is to be.
    async fn update_stream_outputs(
        &self,
        _rt: &Runtime,
        _vendor_stream_id: &str,
        _spec: &StreamSpec,
        _added: &[OutputTarget],
        _removed: &[OutputTarget],
    ) -> Result<StreamState, VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "live streaming is not supported"))
    }

    /// Sends `spec.regions` as the stream's new layout, numbered `spec.seq`.
    async fn relayout_stream(
        &self,
        _rt: &Runtime,
        _vendor_stream_id: &str,
        _spec: &StreamSpec,
    ) -> Result<(), VendorError> {
        Ok(())
    }

    /// Stops the stream; one already gone counts as stopped.
    async fn stop_stream(
        &self,
        _rt: &Runtime,
        _vendor_stream_id: &str,
        _spec: &StreamSpec,
    ) -> Result<StreamState, VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "live streaming is not supported"))
    }

    /// The stream's state now.
    async fn stream_state(
        &self,
        _rt: &Runtime,
        _vendor_stream_id: &str,
        _spec: &StreamSpec,
    ) -> Result<StreamState, VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "live streaming is not supported"))
    }

    /// Refuses a moderation request naming a field this vendor cannot enforce
    /// (`UNSUPPORTED_BY_VENDOR`), before anything is stored or sent.
    fn check_moderation(&self, _ask: &ModerationAsk) -> ApiResult<()> {
        Err(ApiError::new(ErrorCode::UnsupportedByVendor, format!("{} has no participant moderation", self.name()))
            .with_detail("vendor", self.name()))
    }

    /// Soft-mutes (or unmutes) the participant's published `media`: the participant may unmute
    /// themselves. `VendorFailure::NotFound` when they are not in the room.
    async fn mute_soft(
        &self,
        _rt: &Runtime,
        _room_id: &str,
        _who: &ParticipantRef,
        _media: MediaSet,
        _muted: bool,
    ) -> Result<(), VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "soft mute is not supported"))
    }

    /// Brings the vendor from `change.before` to `change.after`: hard mutes, permission caps,
    /// display name and metadata. Also what re-applies vendor rules before their 24 h cap:
    /// called with `before == after` and the stored rules, it renews them.
    async fn enforce_moderation(&self, _rt: &Runtime, _change: &ModerationChange<'_>) -> Result<Enforced, VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "participant moderation is not supported"))
    }

    /// Refuses a message this vendor cannot deliver as asked (a field it has no place for),
    /// before anything is sent. Only called when `supports(RoomMessage)`.
    fn check_message(&self, _message: &RoomMessage) -> ApiResult<()> {
        Ok(())
    }

    /// Sends `message` to the room's connected participants (none are buffered for later).
    /// What the vendor did with it; `Err` for failures that say nothing about the message.
    async fn send_message(
        &self,
        _rt: &Runtime,
        _room_id: &str,
        _message: &RoomMessage,
    ) -> Result<Delivery, VendorError> {
        Err(VendorError::new(self.name(), VendorFailure::Rejected, "room messages are not supported"))
    }
}

/// `GRANT_NOT_SUPPORTED` for a grant `vendor` cannot enforce.
pub fn grant_not_supported(vendor: &str, grant: &str, why: &str) -> ApiError {
    ApiError::new(ErrorCode::GrantNotSupported, format!("{vendor} cannot enforce '{grant}': {why}"))
        .with_detail("field", grant)
        .with_detail("vendor", vendor.to_owned())
}

/// Classifies a vendor's settings: nothing set (`names` nor `optional`) → unconfigured; a
/// required one absent → misconfigured, naming the missing ones; all required present →
/// `Ok` with their values in `names` order.
pub fn required_settings(env: EnvVars<'_>, names: &[&str], optional: &[&str]) -> Result<Vec<String>, VendorState> {
    let values: Vec<Option<String>> = names.iter().map(|n| setting(env, n)).collect();
    if values.iter().all(Option::is_none) && optional.iter().all(|n| setting(env, n).is_none()) {
        return Err(VendorState::Unconfigured);
    }
    let missing: Vec<&str> = names.iter().zip(&values).filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
    if !missing.is_empty() {
        return Err(VendorState::Misconfigured(format!("missing {}", missing.join(", "))));
    }
    Ok(values.into_iter().flatten().collect())
}

/// Helpers for the vendors' settings tests.
#[cfg(test)]
pub(crate) mod settings_tests {
    use super::VendorState;

    /// An environment holding exactly `pairs`.
    pub fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// What a settings parse concluded, as text: the misconfiguration reason, "unconfigured",
    /// or "ok …" with the parsed settings.
    pub fn outcome<T: std::fmt::Debug>(result: Result<T, VendorState>) -> String {
        match result {
            Err(VendorState::Misconfigured(why)) => why,
            Err(VendorState::Unconfigured) => "unconfigured".into(),
            Err(VendorState::Ready(_)) => "ready".into(),
            Ok(settings) => format!("ok {settings:?}"),
        }
    }
}

/// Entry for a vendor whose settings failed.
pub fn entry(name: &'static str, state: VendorState) -> VendorEntry {
    VendorEntry { name, state }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_debug_shows_where_but_no_secret() {
        let all = [
            recording::Destination::S3 {
                bucket: "media".into(),
                path: "rtc/a.mp4".into(),
                access_key: "AKIA-SECRET-ID".into(),
                secret: "s3-top-secret".into(),
                region: Some("eu-west-1".into()),
                endpoint: None,
            },
            recording::Destination::Gcs {
                bucket: "media".into(),
                path: "a.mp4".into(),
                credentials: "{\"private_key\":\"gcp-top-secret\"}".into(),
            },
            recording::Destination::Azure {
                container: "media".into(),
                path: "a.mp4".into(),
                account_name: "acct".into(),
                account_key: "azure-top-secret".into(),
            },
        ];
        for d in all {
            let spec = recording::RecordingSpec {
                room_id: "rm_1".into(),
                layout: "grid".into(),
                audio_only: false,
                destination: d.clone(),
                recording_id: "rec_1".into(),
                recorder_uid: Some(7),
            };
            for shown in [format!("{d:?}"), format!("{spec:#?}")] {
                assert!(shown.contains("media") && shown.contains("[redacted]"), "{shown}");
                assert!(!shown.contains("SECRET") && !shown.contains("top-secret"), "{shown}");
            }
        }
    }

    #[test]
    fn settings_classify_absent_partial_and_complete() {
        let none = |_: &str| None;
        assert!(matches!(required_settings(&none, &["A", "B"], &[]), Err(VendorState::Unconfigured)));
        let partial = |n: &str| (n == "A").then(|| "x".to_owned());
        match required_settings(&partial, &["A", "B"], &[]) {
            Err(VendorState::Misconfigured(why)) => assert_eq!(why, "missing B"),
            _ => panic!("expected misconfigured"),
        }
        let blank = |n: &str| Some(if n == "A" { "x" } else { "  " }.to_owned());
        assert!(matches!(required_settings(&blank, &["A", "B"], &[]), Err(VendorState::Misconfigured(_))));
        let all = |n: &str| Some(format!("{n}-v"));
        assert_eq!(required_settings(&all, &["A", "B"], &[]).ok().unwrap(), vec!["A-v", "B-v"]);
        // An optional setting alone makes a partial configuration, not an absent one.
        let only_optional = |n: &str| (n == "C").then(|| "x".to_owned());
        match required_settings(&only_optional, &["A", "B"], &["C"]) {
            Err(VendorState::Misconfigured(why)) => assert_eq!(why, "missing A, B"),
            _ => panic!("expected misconfigured"),
        }
    }
}

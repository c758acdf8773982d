//! ZEGOCLOUD. There is no room object: a room appears when its first user logs in and ends
//! when its last one leaves, so creating a room costs no call and listing rooms is served
//! from rtcgate's own records. Server calls are signed GETs (`signing`, `actions`) whose
//! answers carry a `Code` (`answer`); join tokens are token04 (`token`, `join`).
//! Recording is ZEGO Cloud Recording (`recording.rs`), mixed, with `ClientTaskId` = our
//! recording id so a start asked twice is one task.

mod actions;
mod answer;
mod config;
mod identity;
pub use identity::IDENTITY_RULE;
mod join;
mod messages;
pub mod moderation;
mod recording;
mod signing;
mod stream_rules;
mod streaming;
pub mod token;
pub mod webhook;

use async_trait::async_trait;

use self::actions::{Call, Next, UserPage, UserPaging};
use self::answer::{Answer, Outcome};
use self::config::ZegoConfig;
use self::signing::Stamp;
use self::token::{ZegoConfigError, ZegoTokenMinter};
use super::{
    entry, transport, BanRule, Capability, CreatedRoom, Delivery, Enforced, JoinGrant, JoinToken, LiveParticipant,
    ModerationAsk, ModerationChange, ParticipantRef, PublishRulesOnly, RoomMessage, RoomSpec, Vendor, VendorEntry,
    VendorError, VendorFailure, VendorState, RULES_NOT_ENABLED,
};
use crate::config::EnvVars;
use crate::domain::identity::IdentityRule;
use crate::domain::moderation::{Media, MediaSet};
use crate::domain::recording::{RecordingSpec, RecordingState, RecordingStatus};
use crate::domain::stream::{InputChange, OutputTarget, StreamSpec, StreamState};
use crate::error::ApiResult;
use crate::runtime::{Entropy, Runtime};

pub const NAME: &str = "zego";

/// DescribeUserList allows one request per second per room (`room/describe-user-list.yaml`),
/// so pages after the first wait this long.
const USER_PAGE_INTERVAL_MS: u64 = 1_000;
/// At most this many DescribeUserList pages (200 users each, so 10,000 users) per listing, so
/// a vendor that keeps returning markers cannot hold a request forever. With the interval
/// above, a listing that long takes about 50 s; longer lists are cut and logged.
const MAX_USER_PAGES: u32 = 50;

pub fn setup(env: EnvVars<'_>) -> VendorEntry {
    let config = match config::from_env(env) {
        Ok(config) => config,
        Err(state) => return entry(NAME, state),
    };
    let minter = match ZegoTokenMinter::new(config.app_id, &config.server_secret) {
        Ok(minter) => minter,
        Err(ZegoConfigError::AppIdZero) => return misconfigured(config::APP_ID_INVALID),
        Err(ZegoConfigError::SecretNot32Chars) => return misconfigured(config::SECRET_INVALID),
    };
    // Forbid-user rules need enabling by ZEGO support, so they are used only when said so.
    let forbid_rules = crate::config::setting(env, FORBID_RULES).is_some_and(|v| v == "1");
    let vendor = Zego { config, minter, timeout_ms: transport::timeout_from_env(env), forbid_rules };
    entry(NAME, VendorState::Ready(Box::new(vendor)))
}

fn misconfigured(why: &str) -> VendorEntry {
    entry(NAME, VendorState::Misconfigured(why.to_owned()))
}

pub struct Zego {
    config: ZegoConfig,
    minter: ZegoTokenMinter,
    timeout_ms: u64,
    /// `ZEGO_FORBID_RULES=1`: the app has forbid-user rules enabled; a ban sets one.
    forbid_rules: bool,
}

/// The setting that turns ZEGO forbid-user rules on for bans.
pub const FORBID_RULES: &str = "ZEGO_FORBID_RULES";

impl Zego {
    /// A forbid-rule action; `Code 9` (rules not enabled for the app) says so in its code.
    async fn rule_call(&self, rt: &Runtime, call: &Call) -> Result<(), VendorError> {
        match self.call(rt, call).await {
            Ok(_) => Ok(()),
            Err(e) if e.vendor_code.as_deref() == Some(stream_rules::NOT_ENABLED_CODE) => {
                Err(e.with_code(RULES_NOT_ENABLED))
            }
            Err(e) => Err(e),
        }
    }

    /// Sends one action, signed with a fresh nonce and the current time, and reads its `Code`.
    async fn call(&self, rt: &Runtime, call: &Call) -> Result<Answer, VendorError> {
        let stamp = Stamp::new(rt.random_bytes(), rt.now_s());
        let url = call.url(&self.config.api_base, self.config.app_id, &self.config.server_secret, &stamp);
        let request = transport::json_request("GET", url, Vec::new(), None, self.timeout_ms);
        let response = transport::send(rt, NAME, request).await?;
        answer::read(call.action, &response)
    }

    /// Sends one Cloud Recording action (signed like the others, business parameters as a
    /// JSON body) and returns its `Data`.
    async fn record_call(
        &self,
        rt: &Runtime,
        action: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, VendorError> {
        let stamp = Stamp::new(rt.random_bytes(), rt.now_s());
        let url = recording::url(
            &self.config.recording_api_base,
            action,
            self.config.app_id,
            &self.config.server_secret,
            &stamp,
        );
        let request = transport::json_request("POST", url, Vec::new(), Some(body), self.timeout_ms);
        let response = transport::send(rt, NAME, request).await?;
        recording::read(action, &response)
    }

    /// Sends one stream-mixing action (signed like the others, parameters as a JSON body, or
    /// none for a GET) and returns its `Data`.
    async fn mix_call(
        &self,
        rt: &Runtime,
        action: &str,
        body: Option<&serde_json::Value>,
        task_id: &str,
    ) -> Result<serde_json::Value, VendorError> {
        let stamp = Stamp::new(rt.random_bytes(), rt.now_s());
        let signed =
            recording::url(&self.config.api_base, action, self.config.app_id, &self.config.server_secret, &stamp);
        let request = match body {
            Some(body) => transport::json_request("POST", signed, Vec::new(), Some(body), self.timeout_ms),
            None => transport::json_request(
                "GET",
                streaming::describe_url(&signed, task_id),
                Vec::new(),
                None,
                self.timeout_ms,
            ),
        };
        let response = transport::send(rt, NAME, request).await?;
        streaming::read(action, &response)
    }

    /// StartRecord; the same `ClientTaskId` always names the same task, so a start whose
    /// answer was lost is asked once more right away.
    async fn start_record(&self, rt: &Runtime, spec: &RecordingSpec) -> Result<RecordingState, VendorError> {
        let storage = recording::storage_params(&spec.destination)
            .map_err(|e| VendorError::new(NAME, VendorFailure::Rejected, e.log_text()))?;
        let body = recording::start_body(spec, storage);
        let data = match self.record_call(rt, recording::START, &body).await {
            Err(e) if e.is_outage() => self.record_call(rt, recording::START, &body).await?,
            other => other?,
        };
        Ok(recording::state(&recording::task_id(&data)?, RecordingStatus::Starting))
    }
}

/// What ZEGO's moderation cannot enforce, and why.
const MODERATION_LIMITS: PublishRulesOnly = PublishRulesOnly {
    soft_mute: "ZEGO has no server-side soft mute",
    screen: "ZEGO's stream rules cannot tell a screen share from the camera's stream",
    can_subscribe: "ZEGO cannot stop a logged-in user from playing streams",
    can_publish_data: "ZEGO cannot stop a logged-in user from sending room messages",
    display_name: "ZEGO has no server-side participant name",
    metadata: "ZEGO has no server-side participant metadata",
};

#[async_trait(?Send)]
impl Vendor for Zego {
    fn name(&self) -> &'static str {
        NAME
    }

    fn supports(&self, capability: Capability) -> bool {
        // RoomCreate needs no call and RoomList reads rtcgate's records. ZEGO's server API
        // has no soft mute: its forbid rules block publishing outright.
        capability != Capability::ParticipantMuteSoft
    }

    /// One StartMix; the same TaskId again changes that task, so a start sent twice makes one.
    async fn start_stream(&self, rt: &Runtime, spec: &StreamSpec) -> Result<StreamState, VendorError> {
        self.mix_call(rt, streaming::START, Some(&streaming::start_body(spec)), &spec.stream_id).await?;
        Ok(streaming::running(spec))
    }

    fn stream_starts_are_idempotent(&self) -> bool {
        true
    }

    fn composes_streams_itself(&self) -> bool {
        false
    }

    fn stream_input(&self, kind: &str, data: &serde_json::Value) -> Option<InputChange> {
        streaming::input_change(kind, data)
    }

    /// StartMix again with the new outputs (and the next Sequence).
    async fn update_stream_outputs(
        &self,
        rt: &Runtime,
        _vendor_stream_id: &str,
        spec: &StreamSpec,
        _added: &[OutputTarget],
        _removed: &[OutputTarget],
    ) -> Result<StreamState, VendorError> {
        self.start_stream(rt, spec).await
    }

    async fn relayout_stream(
        &self,
        rt: &Runtime,
        _vendor_stream_id: &str,
        spec: &StreamSpec,
    ) -> Result<(), VendorError> {
        self.start_stream(rt, spec).await.map(|_| ())
    }

    async fn stop_stream(
        &self,
        rt: &Runtime,
        _vendor_stream_id: &str,
        spec: &StreamSpec,
    ) -> Result<StreamState, VendorError> {
        match self.mix_call(rt, streaming::STOP, Some(&streaming::stop_body(spec)), &spec.stream_id).await {
            Ok(_) => Ok(streaming::ended(spec)),
            Err(e) if e.failure == VendorFailure::NotFound => Ok(streaming::ended(spec)),
            Err(e) => Err(e),
        }
    }

    /// ZEGO sends no callback when a task dies abnormally: whether it still runs is asked.
    async fn stream_state(
        &self,
        rt: &Runtime,
        _vendor_stream_id: &str,
        spec: &StreamSpec,
    ) -> Result<StreamState, VendorError> {
        match self.mix_call(rt, streaming::DESCRIBE, None, &spec.stream_id).await {
            Ok(_) => Ok(streaming::running(spec)),
            Err(e) if e.failure == VendorFailure::NotFound => Ok(streaming::ended(spec)),
            Err(e) => Err(e),
        }
    }

    fn room_create_calls_vendor(&self) -> bool {
        false
    }

    /// No call: the room appears with its first user. A room that records itself is refused:
    /// ZEGO's recording is started with `recording.start`.
    async fn create_room(&self, _rt: &Runtime, spec: &RoomSpec) -> Result<CreatedRoom, VendorError> {
        if spec.auto_record.is_some() {
            return Err(VendorError::new(NAME, VendorFailure::Rejected, "rooms cannot record themselves on zego"));
        }
        Ok(CreatedRoom { vendor_sid: None })
    }

    fn check_recording(&self, spec: &RecordingSpec) -> ApiResult<()> {
        recording::storage_params(&spec.destination).map(|_| ())
    }

    async fn start_recording(&self, rt: &Runtime, spec: &RecordingSpec) -> Result<RecordingState, VendorError> {
        self.start_record(rt, spec).await
    }

    fn recovers_lost_starts(&self) -> bool {
        true
    }

    /// StartRecord again with the same `ClientTaskId`: ZEGO answers with the task the lost
    /// call made, or makes it now.
    async fn recover_start(&self, rt: &Runtime, spec: &RecordingSpec) -> Result<RecordingState, VendorError> {
        self.start_record(rt, spec).await
    }

    /// StopRecord, then the state it left. A task ZEGO already stopped (idle timeout, an
    /// earlier stop) is not an error: its state is read instead.
    async fn stop_recording(&self, rt: &Runtime, vendor_recording_id: &str) -> Result<RecordingState, VendorError> {
        match self.record_call(rt, recording::STOP, &recording::task_body(vendor_recording_id)).await {
            Ok(_) => {}
            Err(e) if e.vendor_code.as_deref() == Some("300001001") => {}
            Err(e) => return Err(e),
        }
        match self.recording_state(rt, "", vendor_recording_id).await {
            // ZEGO may still report the task as running for a moment after accepting the stop.
            Ok(state) if !state.status.is_final() => Ok(RecordingState { status: RecordingStatus::Stopping, ..state }),
            Ok(state) => Ok(state),
            // The stop was accepted; the state can be read later.
            Err(e) if e.is_outage() => Ok(recording::state(vendor_recording_id, RecordingStatus::Stopping)),
            Err(e) => Err(e),
        }
    }

    async fn recording_state(
        &self,
        rt: &Runtime,
        _room_id: &str,
        vendor_recording_id: &str,
    ) -> Result<RecordingState, VendorError> {
        let data = self.record_call(rt, recording::DESCRIBE, &recording::task_body(vendor_recording_id)).await?;
        recording::parse_status(vendor_recording_id, &data)
    }

    async fn occupancy(&self, rt: &Runtime, room_id: &str) -> Result<u32, VendorError> {
        let call = Call::describe_user_num(room_id);
        let answer = self.call(rt, &call).await?;
        match answer.outcome {
            Outcome::Success => {
                actions::user_count(&answer.data, room_id).map_err(|what| answer.malformed(call.action, what))
            }
            Outcome::RoomAbsent => Ok(0),
            Outcome::UserAbsent => Err(answer.unexpected(call.action)),
        }
    }

    async fn delete_room(&self, rt: &Runtime, room_id: &str) -> Result<(), VendorError> {
        let call = Call::close_room(room_id);
        let answer = self.call(rt, &call).await?;
        match answer.outcome {
            // A room ZEGO no longer knows is already closed.
            Outcome::Success | Outcome::RoomAbsent => Ok(()),
            Outcome::UserAbsent => Err(answer.unexpected(call.action)),
        }
    }

    async fn list_participants(&self, rt: &Runtime, room_id: &str) -> Result<Vec<LiveParticipant>, VendorError> {
        let mut paging = UserPaging::new(MAX_USER_PAGES);
        let mut marker: Option<String> = None;
        loop {
            if marker.is_some() {
                rt.clock.sleep_ms(USER_PAGE_INTERVAL_MS).await;
            }
            let call = Call::describe_user_list(room_id, marker.as_deref());
            let answer = self.call(rt, &call).await?;
            let page: UserPage = match answer.outcome {
                Outcome::Success => {
                    actions::user_page(&answer.data).map_err(|what| answer.malformed(call.action, what))?
                }
                // The room is gone (maybe it ended between two pages): nobody is in it.
                Outcome::RoomAbsent => return Ok(Vec::new()),
                Outcome::UserAbsent => return Err(answer.unexpected(call.action)),
            };
            match paging.add(page) {
                Next::Fetch(next) => marker = Some(next),
                Next::Done => break,
                Next::Truncated(why) => {
                    crate::log::warn(&format!(
                        "zego: participant list of room {room_id} cut at {} users: {why}",
                        paging.users.len()
                    ));
                    break;
                }
            }
        }
        Ok(paging.users)
    }

    /// KickoutUser may answer success for a user who is not in the room, so presence is
    /// checked first (DescribeUsers), and someone absent is `NotFound` without a kick.
    async fn kick(&self, rt: &Runtime, room_id: &str, who: &ParticipantRef) -> Result<(), VendorError> {
        let check = Call::describe_users(room_id, &who.identity);
        let answer = self.call(rt, &check).await?;
        let present = match answer.outcome {
            Outcome::Success => actions::user_present(&answer.data, &who.identity)
                .map_err(|what| answer.malformed(check.action, what))?,
            Outcome::UserAbsent => false,
            Outcome::RoomAbsent => return Err(answer.not_found(check.action, "the room does not exist")),
        };
        if !present {
            return Err(answer.not_found(check.action, "the user is not in the room"));
        }
        let call = Call::kickout_user(room_id, &who.identity);
        let answer = self.call(rt, &call).await?;
        match answer.outcome {
            Outcome::Success => Ok(()),
            Outcome::UserAbsent => Err(answer.not_found(call.action, "the user is not in the room")),
            Outcome::RoomAbsent => Err(answer.not_found(call.action, "the room does not exist")),
        }
    }

    async fn set_ban_rule(
        &self,
        rt: &Runtime,
        room_id: &str,
        who: &ParticipantRef,
        seconds: u64,
        _previous: Option<&str>,
    ) -> Result<Option<BanRule>, VendorError> {
        if !self.forbid_rules {
            return Ok(None);
        }
        // A rule of the same room and user is replaced by the new one: no removal needed.
        let call = moderation::set_forbid_user_rule(room_id, &who.identity, seconds);
        match self.call(rt, &call).await {
            Ok(_) => Ok(Some(BanRule {
                id: moderation::RULE_ROOM_USER.to_owned(),
                lapses_at_ms: rt.now_ms() + moderation::clamp_seconds(seconds) * 1000,
            })),
            Err(e) if e.vendor_code.as_deref() == Some(moderation::CODE_NOT_ENABLED) => Err(VendorError {
                failure: VendorFailure::NotEnabled { what: "forbid-user rules (ZEGO support enables them)" },
                summary: format!("forbid-user rules are not enabled (code 9); unset {FORBID_RULES} until they are"),
                ..e
            }),
            Err(e) => Err(e),
        }
    }

    async fn remove_ban_rule(
        &self,
        rt: &Runtime,
        room_id: &str,
        who: &ParticipantRef,
        _rule_id: &str,
    ) -> Result<(), VendorError> {
        let call = moderation::del_forbid_user_rule(room_id, &who.identity);
        self.call(rt, &call).await.map(drop)
    }

    fn check_message(&self, message: &RoomMessage) -> ApiResult<()> {
        messages::check(message)
    }

    async fn send_message(&self, rt: &Runtime, room_id: &str, message: &RoomMessage) -> Result<Delivery, VendorError> {
        messages::delivery(self.call(rt, &messages::send_custom_command(room_id, message)).await)
    }

    fn join_token(&self, grant: &JoinGrant, now_ms: u64, entropy: &dyn Entropy) -> ApiResult<JoinToken> {
        join::mint(&self.minter, self.config.app_id, grant, now_ms, entropy)
    }

    fn identity_rule(&self) -> &'static IdentityRule {
        &IDENTITY_RULE
    }

    /// Forbid-stream rules withhold a stream's audio and video; nothing on ZEGO withholds a
    /// screen share apart from other video, subscribing, messages, or renames anyone.
    fn check_moderation(&self, ask: &ModerationAsk) -> ApiResult<()> {
        MODERATION_LIMITS.check(NAME, ask)
    }

    /// Sets a forbid rule on each stream the participant publishes now (found with
    /// `DescribeSimpleStreamList`), or lifts the stored ones when nothing is blocked any more.
    async fn enforce_moderation(&self, rt: &Runtime, change: &ModerationChange<'_>) -> Result<Enforced, VendorError> {
        let (room_id, identity, now) = (change.room_id, change.who.identity.as_str(), change.now_ms);
        let after = change.after;
        let blocked = if after.can_publish == Some(false) {
            MediaSet::of(&[Media::Audio, Media::Video])
        } else {
            after.muted_at(now).without(MediaSet::of(&[Media::Screen]))
        };
        let old = stream_rules::stored_ids(change.rules);
        let current = if blocked.is_empty() {
            Vec::new()
        } else {
            let call = stream_rules::describe_streams(room_id);
            let answer = self.call(rt, &call).await?;
            match answer.outcome {
                Outcome::Success => stream_rules::streams_of(&answer.data, identity)
                    .map_err(|what| answer.malformed(call.action, what))?,
                Outcome::RoomAbsent | Outcome::UserAbsent => Vec::new(),
            }
        };
        for stream_id in old.iter().filter(|id| !current.contains(id)) {
            self.rule_call(rt, &stream_rules::delete_rule(room_id, stream_id)).await?;
        }
        let until = if after.can_publish == Some(false) { None } else { after.mute_expires_at_ms };
        let seconds = stream_rules::rule_seconds(now, until);
        for stream_id in &current {
            self.rule_call(rt, &stream_rules::set_rule(room_id, stream_id, blocked, seconds)).await?;
        }
        let lapses_at = now as i64 + seconds * 1000;
        let outlasts = until.is_none_or(|u| u > lapses_at);
        Ok(Enforced {
            applied: !current.is_empty() || !old.is_empty(),
            rules: stream_rules::stored(&current),
            rules_expire_at_ms: (!current.is_empty() && outlasts).then_some(lapses_at),
        })
    }

    fn check_grant(&self, grant: &JoinGrant) -> ApiResult<()> {
        join::refuse_unenforceable(grant)?;
        messages::refuse_reserved(grant.identity.as_str())?;
        self.identity_rule().check(&grant.identity)
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use serde_json::{json, Value};

    use super::*;
    use crate::error::ErrorCode;
    use crate::native::{block_on, json_response, NativeRuntime};
    use crate::runtime::{HttpError, OutboundRequest};
    use crate::vendors::VendorFailure;

    const APP_ID: u32 = 12345;
    const SECRET: &str = "9193cc662a4c0ec135ec71fb57194b38";
    const BASE: &str = "https://zego.test";
    const NOW_MS: u64 = 1_700_000_000_250;
    const NONCE: &str = "abababababababab";

    fn env_of(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let pairs = pairs.to_vec();
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    fn full_env() -> impl Fn(&str) -> Option<String> {
        env_of(&[
            ("ZEGO_APP_ID", "12345"),
            ("ZEGO_SERVER_SECRET", SECRET),
            ("ZEGO_API_BASE", BASE),
            ("VENDOR_TIMEOUT_MS", "2500"),
        ])
    }

    fn vendor() -> Box<dyn Vendor> {
        match setup(&full_env()).state {
            VendorState::Ready(v) => v,
            _ => panic!("expected a ready vendor"),
        }
    }

    /// Every random byte is 0xab, so every nonce is `NONCE`.
    struct FixedEntropy;

    impl Entropy for FixedEntropy {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(0xab);
        }
    }

    fn native() -> (NativeRuntime, Runtime) {
        let native = NativeRuntime::new(NOW_MS);
        let mut rt = native.runtime.clone();
        rt.entropy = Rc::new(FixedEntropy);
        (native, rt)
    }

    /// The URL `action` must be sent to at `timestamp_s` with `params` after the common ones.
    fn url(action: &str, timestamp_s: u64, params: &str) -> String {
        let sig = signing::signature(APP_ID, NONCE, SECRET, timestamp_s);
        format!(
            "{BASE}/?Action={action}&AppId=12345&SignatureNonce={NONCE}&Timestamp={timestamp_s}\
             &Signature={sig}&SignatureVersion=2.0&{params}"
        )
    }

    fn assert_get(request: &OutboundRequest, expected_url: &str) {
        assert_eq!(request.method, "GET");
        assert_eq!(request.url, expected_url);
        assert!(request.headers.is_empty(), "{:?}", request.headers);
        assert_eq!(request.body, None);
        assert_eq!(request.timeout_ms, 2500);
        assert!(!request.url.contains(SECRET));
    }

    fn zego(code: i64, data: Value) -> Result<crate::runtime::OutboundResponse, HttpError> {
        json_response(200, &json!({"Code": code, "Message": "m", "RequestId": "rq-1", "Data": data}))
    }

    #[test]
    fn setup_classifies_settings() {
        assert_eq!(setup(&env_of(&[])).name, "zego");
        assert!(matches!(setup(&env_of(&[])).state, VendorState::Unconfigured));
        match setup(&env_of(&[("ZEGO_APP_ID", "0"), ("ZEGO_SERVER_SECRET", SECRET)])).state {
            VendorState::Misconfigured(why) => assert_eq!(why, config::APP_ID_INVALID),
            _ => panic!("expected misconfigured"),
        }
        match setup(&env_of(&[("ZEGO_APP_ID", "1"), ("ZEGO_SERVER_SECRET", "short")])).state {
            VendorState::Misconfigured(why) => assert!(why.contains("ZEGO_SERVER_SECRET") && !why.contains("short")),
            _ => panic!("expected misconfigured"),
        }
        match setup(&env_of(&[("ZEGO_API_BASE", BASE)])).state {
            VendorState::Misconfigured(why) => assert_eq!(why, "missing ZEGO_APP_ID, ZEGO_SERVER_SECRET"),
            _ => panic!("expected misconfigured"),
        }
        let ready = setup(&env_of(&[("ZEGO_APP_ID", "1"), ("ZEGO_SERVER_SECRET", SECRET)]));
        assert_eq!(ready.ready().map(|v| v.name()), Some("zego"));
    }

    fn recording_spec() -> crate::domain::recording::RecordingSpec {
        crate::domain::recording::RecordingSpec {
            room_id: "rm_1".into(),
            layout: "grid".into(),
            audio_only: false,
            destination: crate::domain::recording::Destination::S3 {
                bucket: "media".into(),
                path: "calls/rm_1-rec_1.mp4".into(),
                access_key: "AK".into(),
                secret: "SK".into(),
                region: Some("eu-west-1".into()),
                endpoint: None,
            },
            recording_id: "rec_1".into(),
            recorder_uid: None,
        }
    }

    #[test]
    fn every_capability_including_recording() {
        let v = vendor();
        // Every capability but a soft mute, which the vendor has no server API for.
        for capability in Capability::ALL {
            assert_eq!(v.supports(capability), capability != Capability::ParticipantMuteSoft, "{capability:?}");
        }
        assert!(!v.recorder_needs_uid() && v.recovers_lost_starts());
        let (native, rt) = native();
        let auto = RoomSpec { auto_record: Some(recording_spec().destination), ..RoomSpec::default() };
        assert_eq!(block_on(vendor().create_room(&rt, &auto)).unwrap_err().failure, VendorFailure::Rejected);
        assert!(native.http.sent().is_empty());
    }

    #[test]
    fn recording_starts_describes_and_stops_at_the_recording_base() {
        let (native, rt) = native();
        native.http.respond_with(|req| {
            if req.url.contains("Action=StartRecord") {
                zego(0, json!({"TaskId": "TASK1"}))
            } else if req.url.contains("Action=StopRecord") {
                zego(0, Value::Null)
            } else {
                zego(
                    0,
                    json!({"Status": 3, "RecordFiles": [{"FileUrl": "s3://media/calls/x.mp4", "FileSize": 10,
                    "Duration": 2000, "Status": 3}]}),
                )
            }
        });
        let v = vendor();
        let started = block_on(v.start_recording(&rt, &recording_spec())).unwrap();
        assert_eq!(started.vendor_recording_id, "TASK1");
        let sent = native.http.sent();
        let req = &sent[0].request;
        assert_eq!(req.method, "POST");
        assert!(req.url.starts_with("https://cloudrecord-api.zego.im/?Action=StartRecord&AppId=12345&"), "{}", req.url);
        assert_eq!(sent[0].json.as_ref().unwrap()["RecordInputParams"]["ClientTaskId"], "rec_1");

        let stopped = block_on(v.stop_recording(&rt, "TASK1")).unwrap();
        assert_eq!(stopped.status, crate::domain::recording::RecordingStatus::Complete);
        assert_eq!(stopped.files[0].duration_ms, Some(2000));
        let sent = native.http.sent();
        assert!(sent[1].request.url.contains("Action=StopRecord"));
        assert_eq!(sent[1].json.as_ref().unwrap(), &json!({"TaskId": "TASK1"}));
        assert!(sent[2].request.url.contains("Action=DescribeRecordStatus"));
    }

    #[test]
    fn a_lost_start_is_asked_again_with_the_same_client_task_id() {
        let (native, rt) = native();
        let calls = std::cell::Cell::new(0);
        native.http.respond_with(move |_| {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                Err(HttpError::Timeout)
            } else {
                zego(0, json!({"TaskId": "TASK1"}))
            }
        });
        let started = block_on(vendor().start_recording(&rt, &recording_spec())).unwrap();
        assert_eq!(started.vendor_recording_id, "TASK1");
        let sent = native.http.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].json, sent[1].json);

        native.http.respond_with(|_| zego(300001001, Value::Null));
        let e = block_on(vendor().recording_state(&rt, "rm_1", "TASK1")).unwrap_err();
        assert_eq!(e.failure, VendorFailure::Rejected);
        native.http.respond_with(|_| zego(300001000, Value::Null));
        let e = block_on(vendor().recording_state(&rt, "rm_1", "TASK1")).unwrap_err();
        assert_eq!(e.failure, VendorFailure::NotFound);
    }

    #[test]
    fn create_room_makes_no_call() {
        let (native, rt) = native();
        let spec = RoomSpec { room_id: "rm_1".into(), max_participants: Some(5), ..Default::default() };
        let created = block_on(vendor().create_room(&rt, &spec)).unwrap();
        assert_eq!(created.vendor_sid, None);
        assert!(native.http.sent().is_empty());
    }

    #[test]
    fn occupancy_reads_the_room_user_count() {
        let (native, rt) = native();
        native.http.respond_with(|_| {
            zego(0, json!({"UserCountList": [{"RoomId": "rm_1", "UserCount": 3, "AdminUserCount": 1}]}))
        });
        assert_eq!(block_on(vendor().occupancy(&rt, "rm_1")), Ok(3));
        let sent = native.http.sent();
        assert_eq!(sent.len(), 1);
        assert_get(&sent[0].request, &url("DescribeUserNum", 1_700_000_000, "RoomId[]=rm_1"));
    }

    #[test]
    fn occupancy_of_an_absent_room_is_zero() {
        let (native, rt) = native();
        native.http.respond_with(|_| zego(0, json!({"UserCountList": [{"RoomId": "rm_1", "UserCount": 0}]})));
        assert_eq!(block_on(vendor().occupancy(&rt, "rm_1")), Ok(0));
        native.http.respond_with(|_| zego(50001, Value::Null));
        assert_eq!(block_on(vendor().occupancy(&rt, "rm_1")), Ok(0));
    }

    #[test]
    fn occupancy_failures() {
        let (native, rt) = native();
        native.http.respond_with(|_| zego(100000005, Value::Null));
        let e = block_on(vendor().occupancy(&rt, "rm_1")).unwrap_err();
        assert_eq!((e.failure, e.vendor_request_id.as_deref()), (VendorFailure::AuthFailed, Some("rq-1")));
        assert_eq!(e.vendor_code.as_deref(), Some("100000005"));
        assert!(!e.summary.contains(SECRET));

        native.http.respond_with(|_| zego(0, json!({"UserCountList": "?"})));
        let e = block_on(vendor().occupancy(&rt, "rm_1")).unwrap_err();
        assert_eq!((e.failure, e.vendor_request_id.as_deref()), (VendorFailure::ServerError, Some("rq-1")));

        native.http.respond_with(|_| zego(105, Value::Null));
        assert_eq!(block_on(vendor().occupancy(&rt, "rm_1")).unwrap_err().failure, VendorFailure::Rejected);

        native.http.respond_with(|_| json_response(503, &json!({"error": "down"})));
        assert_eq!(block_on(vendor().occupancy(&rt, "rm_1")).unwrap_err().failure, VendorFailure::ServerError);

        native.http.respond_with(|_| Err(HttpError::Timeout));
        assert_eq!(block_on(vendor().occupancy(&rt, "rm_1")).unwrap_err().failure, VendorFailure::Timeout);

        native.http.respond_with(|_| Err(HttpError::Unreachable("refused".into())));
        assert_eq!(block_on(vendor().occupancy(&rt, "rm_1")).unwrap_err().failure, VendorFailure::Unreachable);
    }

    #[test]
    fn every_request_is_signed_with_a_fresh_nonce_and_the_current_time() {
        let native = NativeRuntime::new(NOW_MS); // the OS random source
        native.http.respond_with(|_| zego(0, json!({"UserCountList": []})));
        let v = vendor();
        block_on(v.occupancy(&native.runtime, "rm_1")).unwrap();
        native.clock.advance_ms(61_000);
        block_on(v.occupancy(&native.runtime, "rm_1")).unwrap();
        let params: Vec<Vec<(String, String)>> = native.http.sent().iter().map(|x| query(&x.request.url)).collect();
        let get = |i: usize, k: &str| params[i].iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
        assert_ne!(get(0, "SignatureNonce"), get(1, "SignatureNonce"));
        assert_eq!((get(0, "Timestamp"), get(1, "Timestamp")), ("1700000000".into(), "1700000061".into()));
        for i in 0..2 {
            let nonce = get(i, "SignatureNonce");
            assert!(nonce.len() == 16 && nonce.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            let ts: u64 = get(i, "Timestamp").parse().unwrap();
            assert_eq!(get(i, "Signature"), signing::signature(APP_ID, &nonce, SECRET, ts));
        }
    }

    fn query(url: &str) -> Vec<(String, String)> {
        let (_, q) = url.split_once('?').unwrap();
        q.split('&').map(|kv| kv.split_once('=').unwrap()).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn delete_room_closes_it_and_treats_absent_as_done() {
        let (native, rt) = native();
        native.http.respond_with(|_| zego(0, Value::Null));
        assert_eq!(block_on(vendor().delete_room(&rt, "rm_1")), Ok(()));
        assert_get(&native.http.sent()[0].request, &url("CloseRoom", 1_700_000_000, "RoomId=rm_1"));

        for code in [104, 5018, 5024, 50001] {
            native.http.respond_with(move |_| zego(code, Value::Null));
            assert_eq!(block_on(vendor().delete_room(&rt, "rm_1")), Ok(()), "{code}");
        }
    }

    #[test]
    fn delete_room_failures() {
        let (native, rt) = native();
        native.http.respond_with(|_| zego(206, Value::Null));
        let e = block_on(vendor().delete_room(&rt, "rm_1")).unwrap_err();
        assert_eq!(e.failure, VendorFailure::RateLimited { retry_after_s: None });
        assert_eq!(e.to_api_error().code, ErrorCode::VendorRateLimited);
        native.http.respond_with(|_| zego(100000004, Value::Null));
        assert_eq!(block_on(vendor().delete_room(&rt, "rm_1")).unwrap_err().failure, VendorFailure::AuthFailed);
        native.http.respond_with(|_| zego(2, Value::Null));
        let e = block_on(vendor().delete_room(&rt, "rm_1")).unwrap_err();
        assert_eq!((e.failure, e.vendor_code.as_deref()), (VendorFailure::Rejected, Some("2")));
        native.http.respond_with(|_| zego(50003, Value::Null));
        assert_eq!(block_on(vendor().delete_room(&rt, "rm_1")).unwrap_err().failure, VendorFailure::Rejected);
        native.http.respond_with(|_| {
            Ok(crate::runtime::OutboundResponse { status: 200, headers: vec![], body: b"<html>".to_vec() })
        });
        assert_eq!(block_on(vendor().delete_room(&rt, "rm_1")).unwrap_err().failure, VendorFailure::ServerError);
    }

    #[test]
    fn list_participants_follows_markers_at_one_page_per_second() {
        let (native, rt) = native();
        native.http.respond_with(|req| {
            if req.url.contains("&Marker=m%2F1") {
                zego(
                    0,
                    json!({"Marker": "", "UserList": [
                        {"UserId": "bob", "UserName": "Bob", "UserRole": 2},
                        {"UserId": "carol", "UserName": "", "UserRole": 2}
                    ]}),
                )
            } else {
                zego(0, json!({"Marker": "m/1", "UserList": [{"UserId": "alice", "UserName": "Alice", "UserRole": 1}]}))
            }
        });
        let users = block_on(vendor().list_participants(&rt, "rm_1")).unwrap();
        let expected = vec![
            LiveParticipant {
                identity: Some("alice".into()),
                uid: None,
                display_name: Some("Alice".into()),
                joined_at_ms: None,
            },
            LiveParticipant {
                identity: Some("bob".into()),
                uid: None,
                display_name: Some("Bob".into()),
                joined_at_ms: None,
            },
            LiveParticipant { identity: Some("carol".into()), uid: None, display_name: None, joined_at_ms: None },
        ];
        assert_eq!(users, expected);

        let sent = native.http.sent();
        assert_eq!(sent.len(), 2);
        assert_get(&sent[0].request, &url("DescribeUserList", 1_700_000_000, "RoomId=rm_1&Mode=0&Limit=200"));
        // The second page waited out ZEGO's 1 request/s per room limit, and is signed anew.
        assert_get(
            &sent[1].request,
            &url("DescribeUserList", 1_700_000_001, "RoomId=rm_1&Mode=0&Limit=200&Marker=m%2F1"),
        );
        assert_eq!(rt.now_ms(), NOW_MS + 1_000);
    }

    #[test]
    fn list_participants_of_an_absent_room_is_empty() {
        let (native, rt) = native();
        for code in [104, 5018, 5024, 50001] {
            native.http.respond_with(move |_| zego(code, Value::Null));
            assert_eq!(block_on(vendor().list_participants(&rt, "rm_1")), Ok(vec![]), "{code}");
        }
        native.http.respond_with(|_| zego(0, json!({"Marker": "", "UserList": []})));
        assert_eq!(block_on(vendor().list_participants(&rt, "rm_1")), Ok(vec![]));
    }

    #[test]
    fn list_participants_page_count_is_bounded() {
        let (native, rt) = native();
        let pages = std::cell::Cell::new(0u32);
        native.http.respond_with(move |_| {
            pages.set(pages.get() + 1); // a new marker and a new user on every page, forever
            let n = pages.get();
            zego(0, json!({"Marker": format!("m{n}"), "UserList": [{"UserId": format!("u{n}")}]}))
        });
        let users = block_on(vendor().list_participants(&rt, "rm_1")).unwrap();
        assert_eq!(native.http.sent().len(), MAX_USER_PAGES as usize);
        assert_eq!(users.len(), MAX_USER_PAGES as usize, "what was listed is kept");

        native.http.clear();
        native.http.respond_with(|_| zego(0, json!({"Marker": "same", "UserList": [{"UserId": "a"}]})));
        assert_eq!(block_on(vendor().list_participants(&rt, "rm_1")).unwrap().len(), 1);
        assert_eq!(native.http.sent().len(), 2, "a repeated marker ends the listing");
    }

    #[test]
    fn list_participants_failures() {
        let (native, rt) = native();
        native.http.respond_with(|_| zego(0, json!({"UserList": [{"UserName": "no id"}]})));
        let e = block_on(vendor().list_participants(&rt, "rm_1")).unwrap_err();
        assert_eq!((e.failure, e.vendor_request_id.as_deref()), (VendorFailure::ServerError, Some("rq-1")));

        native.http.respond_with(|req| {
            if req.url.contains("Marker=") {
                zego(207, Value::Null)
            } else {
                zego(0, json!({"Marker": "m1", "UserList": [{"UserId": "a"}]}))
            }
        });
        let e = block_on(vendor().list_participants(&rt, "rm_1")).unwrap_err();
        assert_eq!(e.failure, VendorFailure::RateLimited { retry_after_s: None });

        native.http.respond_with(|_| Err(HttpError::Timeout));
        assert_eq!(block_on(vendor().list_participants(&rt, "rm_1")).unwrap_err().failure, VendorFailure::Timeout);
    }

    /// Answers DescribeUsers with `alice@x` in the room (`Status` 1) and every other action with `code`.
    fn present_then(code: i64) -> impl Fn(&OutboundRequest) -> Result<crate::runtime::OutboundResponse, HttpError> {
        move |req: &OutboundRequest| {
            if req.url.contains("Action=DescribeUsers&") {
                zego(0, json!({"UserStatusList": [{"UserId": "alice@x", "Status": 1, "LoginTime": 1, "UserRole": 1}]}))
            } else {
                zego(code, Value::Null)
            }
        }
    }

    #[test]
    fn kick_checks_presence_then_removes_one_user() {
        let (native, rt) = native();
        native.http.respond_with(present_then(0));
        let who = ParticipantRef { identity: "alice@x".into(), uids: vec![9] };
        assert_eq!(block_on(vendor().kick(&rt, "rm_1", &who)), Ok(()));
        let sent = native.http.sent();
        assert_eq!(sent.len(), 2);
        assert_get(&sent[0].request, &url("DescribeUsers", 1_700_000_000, "RoomId=rm_1&UserId[]=alice%40x"));
        assert_get(
            &sent[1].request,
            &url(
                "KickoutUser",
                1_700_000_000,
                "RoomId=rm_1&UserId[]=alice%40x&CustomReason=removed%20by%20the%20server",
            ),
        );
    }

    #[test]
    fn kick_of_someone_absent_is_not_found_without_a_kick() {
        let (native, rt) = native();
        let who = ParticipantRef { identity: "alice".into(), uids: vec![] };
        // KickoutUser would answer success: the presence check is what says "not here",
        // also while others are in the room.
        let others = json!({"UserStatusList": [{"UserId": "alice", "Status": 0, "LoginTime": 0, "UserRole": 0}]});
        for (code, data) in [(0, others), (0, json!({"UserStatusList": []})), (50001, Value::Null), (105, Value::Null)]
        {
            native.http.clear();
            let data = Rc::new(data);
            native.http.respond_with(move |req| {
                if req.url.contains("Action=DescribeUsers&") {
                    zego(code, (*data).clone())
                } else {
                    zego(0, Value::Null)
                }
            });
            let e = block_on(vendor().kick(&rt, "rm_1", &who)).unwrap_err();
            assert_eq!(e.failure, VendorFailure::NotFound, "{code}");
            assert_eq!((e.vendor_code, e.vendor_request_id.as_deref()), (Some(code.to_string()), Some("rq-1")));
            assert_eq!(native.http.sent().len(), 1, "no KickoutUser for someone absent");
        }
    }

    #[test]
    fn kick_failures_from_either_call() {
        let (native, rt) = native();
        let who = ParticipantRef { identity: "alice@x".into(), uids: vec![] };
        // Present at the check, gone by the kick.
        for code in [105, 50003, 104, 50001] {
            native.http.respond_with(present_then(code));
            let e = block_on(vendor().kick(&rt, "rm_1", &who)).unwrap_err();
            assert_eq!(e.failure, VendorFailure::NotFound, "{code}");
        }
        native.http.respond_with(present_then(100000005));
        assert_eq!(block_on(vendor().kick(&rt, "rm_1", &who)).unwrap_err().failure, VendorFailure::AuthFailed);
        native.http.respond_with(|_| json_response(500, &json!({})));
        assert_eq!(block_on(vendor().kick(&rt, "rm_1", &who)).unwrap_err().failure, VendorFailure::ServerError);
        native.http.respond_with(|_| zego(0, json!({"UserStatusList": "nope"})));
        assert_eq!(block_on(vendor().kick(&rt, "rm_1", &who)).unwrap_err().failure, VendorFailure::ServerError);
    }

    #[test]
    fn join_token_and_identity_go_through_the_trait() {
        let v = vendor();
        let grant = JoinGrant { ttl_s: 600, ..JoinGrant::publisher("rm_1", "alice", 1) };
        let token = v.join_token(&grant, NOW_MS, &FixedEntropy).unwrap();
        assert!(token.token.starts_with("04"));
        assert_eq!(token.expires_at_ms, 1_700_000_600_000);
        assert_eq!(token.join, json!({"app_id": 12345, "room_id": "rm_1", "user_id": "alice"}));
        let admin = JoinGrant { is_admin: true, ..grant.clone() };
        assert_eq!(v.join_token(&admin, NOW_MS, &FixedEntropy).unwrap_err().code, ErrorCode::GrantNotSupported);

        assert!(v.check_grant(&grant).is_ok());
        assert_eq!(v.check_grant(&admin).unwrap_err().code, ErrorCode::GrantNotSupported);
        let long = JoinGrant { identity: crate::domain::identity::Identity::parse("a".repeat(64)).unwrap(), ..grant };
        assert_eq!(v.check_grant(&long).unwrap_err().code, ErrorCode::IdentityNotSupported);
    }
}

//! Agora: rooms are RTC channels, which Agora creates on the first join and ends when the
//! last user leaves; there is no room object to create. Join tokens are AccessToken2 minted
//! here; room and participant calls use the Channel Management RESTful API (`rest.rs`).
//! Recording is Agora Cloud Recording in mix mode (`recording.rs`): a bot joins the channel
//! with a uid from our participant registry and its own token.
//!
//! Settings (`config.rs`): `AGORA_APP_ID`, `AGORA_APP_CERTIFICATE`, `AGORA_CUSTOMER_ID`,
//! `AGORA_CUSTOMER_SECRET`, optional `AGORA_API_BASE`. All four credentials are required.

mod config;
mod identity;
pub use identity::IDENTITY_RULE;
mod join;
pub mod moderation;
mod publish_rules;
mod recording;
mod rest;
mod streaming;
pub mod token;
pub mod webhook;

use async_trait::async_trait;

use self::config::AgoraConfig;
use self::moderation::Privilege;
use self::recording::{Handle, Paths};
use self::rest::{AgoraApi, ChannelUsers};
use self::token::AgoraTokenBuilder;
use super::{
    entry, transport, BanRule, Capability, CreatedRoom, Enforced, JoinGrant, JoinToken, LiveParticipant, ModerationAsk,
    ModerationChange, ParticipantRef, PublishRulesOnly, RoomSpec, Vendor, VendorEntry, VendorError, VendorFailure,
    VendorState,
};
use crate::config::EnvVars;
use crate::domain::identity::{Identity, IdentityRule};
use crate::domain::moderation::{Media, MediaSet};
use crate::domain::recording::{RecordingSpec, RecordingState, RecordingStatus};
use crate::domain::stream::{InputChange, OutputState, OutputTarget, StreamSpec, StreamState, StreamStatus};
use crate::error::ApiResult;
use crate::runtime::{Entropy, OutboundResponse, Runtime};

pub const NAME: &str = "agora";

pub fn setup(env: EnvVars<'_>) -> VendorEntry {
    let push_region = crate::config::setting(env, streaming::REGION_SETTING)
        .unwrap_or_else(|| streaming::DEFAULT_REGION.to_owned())
        .to_ascii_lowercase();
    if !streaming::REGIONS.contains(&push_region.as_str()) {
        let why = format!("{} must be one of {}", streaming::REGION_SETTING, streaming::REGIONS.join(", "));
        return entry(NAME, VendorState::Misconfigured(why));
    }
    match config::from_env(env) {
        Ok(cfg) => {
            let mut agora = Agora::new(cfg, transport::timeout_from_env(env));
            agora.push_region = push_region;
            entry(NAME, VendorState::Ready(Box::new(agora)))
        }
        Err(state) => entry(NAME, state),
    }
}

pub struct Agora {
    /// Built once: it holds the certificate and reusable buffers.
    tokens: AgoraTokenBuilder,
    app_id: String,
    api: AgoraApi,
    api_base: String,
    timeout_ms: u64,
    /// Where Media Push converters are made (`AGORA_MEDIA_PUSH_REGION`).
    push_region: String,
}

impl Agora {
    fn new(cfg: AgoraConfig, timeout_ms: u64) -> Self {
        let api = AgoraApi::new(&cfg.api_base, &cfg.app_id, &cfg.customer_id, &cfg.customer_secret, timeout_ms);
        Agora {
            tokens: cfg.tokens,
            app_id: cfg.app_id,
            api,
            api_base: cfg.api_base,
            timeout_ms,
            push_region: streaming::DEFAULT_REGION.to_owned(),
        }
    }

    fn paths(&self) -> Paths<'_> {
        Paths { base: &self.api_base, app_id: &self.app_id }
    }

    async fn send(
        &self,
        rt: &Runtime,
        method: &'static str,
        url: String,
        body: Option<&serde_json::Value>,
    ) -> Result<OutboundResponse, VendorError> {
        let request = transport::json_request(method, url, self.api.headers(), body, self.timeout_ms);
        transport::send(rt, NAME, request).await
    }

    /// The bot's own token: join only (it publishes nothing), valid for a day — Agora does
    /// not renew a recorder's token, and query/stop stay callable for that long.
    fn recorder_token(&self, rt: &Runtime, spec: &RecordingSpec, uid: u32) -> Result<String, VendorError> {
        let grant = |identity| JoinGrant {
            room_id: spec.room_id.clone(),
            identity,
            uid,
            display_name: None,
            metadata_json: None,
            ttl_s: recording::RECORDER_TOKEN_TTL_S,
            can_publish: false,
            can_subscribe: true,
            can_publish_data: Some(false),
            is_admin: false,
            blocked_media: Default::default(),
        };
        Identity::parse(format!("recorder-{uid}"))
            .and_then(|identity| {
                join::join_token(&self.tokens, &self.app_id, &grant(identity), rt.now_ms(), rt.entropy.as_ref())
            })
            .map(|t| t.token)
            .map_err(|e| VendorError::new(NAME, VendorFailure::Rejected, format!("recorder token: {}", e.log_text())))
    }

    /// acquire, then start at once (a resource id lives five minutes and is single use). A
    /// start whose answer is lost is sent once more with the same resource id, Agora's own
    /// remedy: a task it did start is then answered "already started" with its sid.
    async fn acquire_and_start(&self, rt: &Runtime, spec: &RecordingSpec) -> Result<RecordingState, VendorError> {
        let storage = recording::storage_config(&spec.destination)
            .map_err(|e| VendorError::new(NAME, VendorFailure::Rejected, e.log_text()))?;
        let acquire = recording::acquire_body(spec)?;
        let resource_id =
            recording::parse_acquire(&self.send(rt, "POST", self.paths().acquire(), Some(&acquire)).await?)?;
        let token = self.recorder_token(rt, spec, spec.recorder_uid.unwrap_or(0))?;
        let body = recording::start_body(spec, storage, &token)?;
        let url = self.paths().start(&resource_id);
        let first = match self.send(rt, "POST", url.clone(), Some(&body)).await {
            Ok(response) => recording::parse_start(&response),
            Err(e) => Err(e),
        };
        let sid = match first {
            Err(e) if e.is_outage() => recording::parse_start(&self.send(rt, "POST", url, Some(&body)).await?)?,
            other => other?,
        };
        Ok(recording::state(&recording::handle_for(spec, resource_id, sid), RecordingStatus::Starting))
    }

    fn push_paths(&self) -> streaming::Paths<'_> {
        streaming::Paths { base: &self.api_base, app_id: &self.app_id, region: &self.push_region }
    }

    /// Creates an output's converter, or adopts the one of its name (made by an earlier
    /// call whose answer was lost).
    async fn create_converter(
        &self,
        rt: &Runtime,
        spec: &StreamSpec,
        target: &OutputTarget,
    ) -> Result<OutputState, VendorError> {
        let body = streaming::create_body(spec, target);
        let created = self.send(rt, "POST", self.push_paths().create(), Some(&body)).await;
        match created.and_then(|r| streaming::parse_converter(&r)) {
            Ok((id, state)) => Ok(streaming::output_state(target, &id, &state)),
            Err(e) if streaming::is_name_taken(&e) => {
                let name = streaming::converter_name(&spec.stream_id, &target.output);
                let listed = self.send(rt, "GET", self.push_paths().of_channel(&spec.room_id), None).await?;
                match streaming::find_in_list(&listed, &name)? {
                    Some((id, state)) => Ok(streaming::output_state(target, &id, &state)),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn delete_converter(&self, rt: &Runtime, id: &str) -> Result<(), VendorError> {
        streaming::parse_delete(&self.send(rt, "DELETE", self.push_paths().converter(id), None).await?)
    }

    /// Deletes each target's converter (one never created has none) and reports them ended.
    async fn delete_converters(&self, rt: &Runtime, targets: &[OutputTarget]) -> Result<Vec<OutputState>, VendorError> {
        let mut ended = Vec::with_capacity(targets.len());
        for target in targets {
            if let Some(id) = &target.vendor_ref {
                self.delete_converter(rt, id).await?;
            }
            ended.push(OutputState::ended(target));
        }
        Ok(ended)
    }

    fn handle(vendor_recording_id: &str) -> Result<Handle, VendorError> {
        Handle::decode(vendor_recording_id)
            .ok_or_else(|| VendorError::new(NAME, VendorFailure::NotFound, "not an agora recording handle"))
    }

    async fn channel_users(&self, rt: &Runtime, room_id: &str) -> Result<ChannelUsers, VendorError> {
        let response = transport::send(rt, NAME, self.api.user_list_request(room_id)).await?;
        rest::parse_user_list(&response)
    }

    async fn kicking_rule(&self, rt: &Runtime, room_id: &str, uid: Option<u32>) -> Result<(), VendorError> {
        let response = transport::send(rt, NAME, self.api.kick_request(room_id, uid)).await?;
        rest::parse_kick(&response)
    }
}

fn not_found(summary: &str) -> VendorError {
    VendorError::new(NAME, VendorFailure::NotFound, summary)
}

/// What Agora's moderation cannot enforce, and why.
const MODERATION_LIMITS: PublishRulesOnly = PublishRulesOnly {
    soft_mute: "Agora has no server-side soft mute",
    screen: "Agora's publish rules cannot tell a screen share from the camera's video",
    can_subscribe: "Agora cannot withhold subscribing",
    can_publish_data: "Agora's rules cannot withhold data streams",
    display_name: "Agora has no server-side participant name",
    metadata: "Agora has no server-side participant metadata",
};

#[async_trait(?Send)]
impl Vendor for Agora {
    fn name(&self) -> &'static str {
        NAME
    }

    fn supports(&self, capability: Capability) -> bool {
        match capability {
            Capability::RoomCreate
            | Capability::RoomGet
            | Capability::RoomList
            | Capability::RoomDelete
            | Capability::TokenIssue
            | Capability::ParticipantList
            | Capability::ParticipantKick
            | Capability::ParticipantBan
            | Capability::RecordingStart
            | Capability::RecordingStop
            | Capability::ParticipantMuteHard
            | Capability::ParticipantUpdate
            | Capability::StreamStart => true,
            // No server-side soft mute (Agora points to app signaling for that:
            // https://github.com/AgoraIO/Basic-Video-Call/issues/214).
            Capability::ParticipantMuteSoft => false,
            // Server → room messages reach only Agora's Signaling (RTM) SDK, a separate product
            // with its own login: an RTC client never sees them.
            Capability::RoomMessage => false,
        }
    }

    fn recorder_needs_uid(&self) -> bool {
        true
    }

    fn check_recording(&self, spec: &RecordingSpec) -> ApiResult<()> {
        recording::storage_config(&spec.destination).map(|_| ())
    }

    async fn start_recording(&self, rt: &Runtime, spec: &RecordingSpec) -> Result<RecordingState, VendorError> {
        self.acquire_and_start(rt, spec).await
    }

    fn recovers_lost_starts(&self) -> bool {
        true
    }

    /// A fresh acquire + start with the record's recorder uid: if the lost start never took
    /// effect this starts it now; if it did, Agora refuses a second task for that channel and
    /// uid (code 53) — one recording either way. A task we cannot address (no sid) must not
    /// run unseen, so the bot is then removed from the channel, which ends it, and the
    /// record says so.
    async fn recover_start(&self, rt: &Runtime, spec: &RecordingSpec) -> Result<RecordingState, VendorError> {
        match self.acquire_and_start(rt, spec).await {
            Err(e) if e.vendor_code.as_deref() == Some("53") => {
                match self.kicking_rule(rt, &spec.room_id, spec.recorder_uid).await {
                    Ok(()) => {
                        let handle = recording::handle_for(spec, String::new(), String::new());
                        Ok(RecordingState {
                            error: Some(
                                "the start's answer was lost and Agora's task could not be addressed; it was ended"
                                    .into(),
                            ),
                            ..recording::state(&handle, RecordingStatus::Aborted)
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            other => other,
        }
    }

    async fn stop_recording(&self, rt: &Runtime, vendor_recording_id: &str) -> Result<RecordingState, VendorError> {
        let h = Self::handle(vendor_recording_id)?;
        let response = self.send(rt, "POST", self.paths().stop(&h), Some(&recording::stop_body(&h))).await?;
        recording::parse_stop(&response, &h)
    }

    async fn recording_state(
        &self,
        rt: &Runtime,
        _room_id: &str,
        vendor_recording_id: &str,
    ) -> Result<RecordingState, VendorError> {
        let h = Self::handle(vendor_recording_id)?;
        let response = self.send(rt, "GET", self.paths().query(&h), None).await?;
        recording::parse_query(&response, &h)
    }

    /// One converter per output, made one after the other; if one is refused, those made
    /// before it are deleted again and the refusal is the answer.
    async fn start_stream(&self, rt: &Runtime, spec: &StreamSpec) -> Result<StreamState, VendorError> {
        let mut outputs = Vec::new();
        for target in &spec.outputs {
            match self.create_converter(rt, spec, target).await {
                Ok(state) => outputs.push(state),
                Err(e) if !e.is_outage() => {
                    for made in outputs.iter().filter_map(|o: &OutputState| o.vendor_ref.as_deref()) {
                        if let Err(undo) = self.delete_converter(rt, made).await {
                            crate::log::warn(&format!("agora: removing converter {made}: {}", undo.summary));
                        }
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        let status = streaming::stream_status(&outputs);
        Ok(StreamState { vendor_stream_id: spec.stream_id.clone(), status, outputs, error: None })
    }

    /// Converter names are unique per project: the same start again makes nothing new.
    fn stream_starts_are_idempotent(&self) -> bool {
        true
    }

    fn composes_streams_itself(&self) -> bool {
        false
    }

    fn stream_input(&self, kind: &str, data: &serde_json::Value) -> Option<InputChange> {
        streaming::input_change(kind, data)
    }

    async fn update_stream_outputs(
        &self,
        rt: &Runtime,
        vendor_stream_id: &str,
        spec: &StreamSpec,
        added: &[OutputTarget],
        removed: &[OutputTarget],
    ) -> Result<StreamState, VendorError> {
        let mut outputs = Vec::new();
        for target in added {
            outputs.push(self.create_converter(rt, spec, target).await?);
        }
        outputs.extend(self.delete_converters(rt, removed).await?);
        Ok(StreamState {
            vendor_stream_id: vendor_stream_id.to_owned(),
            status: StreamStatus::Active,
            outputs,
            error: None,
        })
    }

    /// One update per converter, numbered with the stream's sequence (the highest wins). A
    /// converter Agora answers 404 for (gone, or mid-failover) does not keep the update from the
    /// others; the layout then counts as not taken, so it is offered to all again later.
    async fn relayout_stream(
        &self,
        rt: &Runtime,
        _vendor_stream_id: &str,
        spec: &StreamSpec,
    ) -> Result<(), VendorError> {
        if spec.audio_only {
            return Ok(());
        }
        let body = streaming::relayout_body(spec);
        let mut missing = None;
        for id in spec.outputs.iter().filter_map(|o| o.vendor_ref.as_deref()) {
            let response = self.send(rt, "PATCH", self.push_paths().update(id, spec.seq), Some(&body)).await?;
            match streaming::parse_converter(&response) {
                Ok(_) => {}
                Err(e) if e.failure == VendorFailure::NotFound => missing = Some(e),
                Err(e) => return Err(e),
            }
        }
        missing.map_or(Ok(()), Err)
    }

    async fn stop_stream(
        &self,
        rt: &Runtime,
        vendor_stream_id: &str,
        spec: &StreamSpec,
    ) -> Result<StreamState, VendorError> {
        let outputs = self.delete_converters(rt, &spec.outputs).await?;
        Ok(StreamState {
            vendor_stream_id: vendor_stream_id.to_owned(),
            status: StreamStatus::Ended,
            outputs,
            error: None,
        })
    }

    /// Each converter's state; one Agora answers 404 for is missing: destroyed (idle, or
    /// deleted), or moving servers.
    async fn stream_state(
        &self,
        rt: &Runtime,
        vendor_stream_id: &str,
        spec: &StreamSpec,
    ) -> Result<StreamState, VendorError> {
        let mut outputs = Vec::new();
        for target in &spec.outputs {
            let Some(id) = &target.vendor_ref else { continue };
            let response = self.send(rt, "GET", self.push_paths().converter(id), None).await?;
            match streaming::parse_converter(&response) {
                Ok((id, state)) => outputs.push(streaming::output_state(target, &id, &state)),
                Err(e) if e.failure == VendorFailure::NotFound => outputs.push(OutputState::missing(target)),
                Err(e) => return Err(e),
            }
        }
        let status = streaming::stream_status(&outputs);
        Ok(StreamState { vendor_stream_id: vendor_stream_id.to_owned(), status, outputs, error: None })
    }

    fn room_create_calls_vendor(&self) -> bool {
        false
    }

    /// No vendor call: the channel appears when the first participant joins. Agora cannot cap
    /// participants or hold an empty channel open, so `max_participants`/`empty_timeout_s`
    /// are not enforced here; auto-recording (a room that records itself) is refused: a
    /// recording is started with `recording.start`.
    async fn create_room(&self, _rt: &Runtime, spec: &RoomSpec) -> Result<CreatedRoom, VendorError> {
        if spec.auto_record.is_some() {
            return Err(VendorError::new(NAME, VendorFailure::Rejected, "recording is not supported"));
        }
        Ok(CreatedRoom { vendor_sid: None })
    }

    /// Users in the channel now; an absent channel is an empty room (0), since Agora channels
    /// only exist while someone is in them.
    async fn occupancy(&self, rt: &Runtime, room_id: &str) -> Result<u32, VendorError> {
        Ok(self.channel_users(rt, room_id).await?.total())
    }

    /// A `time: 0` kicking rule on the channel without a uid sets everyone offline. Agora
    /// accepts it for an empty channel too, so deleting an ended room succeeds.
    async fn delete_room(&self, rt: &Runtime, room_id: &str) -> Result<(), VendorError> {
        self.kicking_rule(rt, room_id, None).await
    }

    /// Every uid Agora lists (mode 2: hosts, then at most the first 10,000 audience members);
    /// the caller maps uids to identities through its registry.
    async fn list_participants(&self, rt: &Runtime, room_id: &str) -> Result<Vec<LiveParticipant>, VendorError> {
        let users = self.channel_users(rt, room_id).await?;
        Ok(users.uids().iter().map(|&uid| LiveParticipant { uid: Some(uid), ..LiveParticipant::default() }).collect())
    }

    /// Kicks every uid of the identity that is in the channel (one per isolate that gave it
    /// one). Agora's kick answers "success" whether or not the uid was there, so the user list
    /// is checked first to report `NotFound` for someone not in the room. When Agora truncated
    /// the audience list a uid may be unlisted yet present: then its kick is sent anyway.
    async fn kick(&self, rt: &Runtime, room_id: &str, who: &ParticipantRef) -> Result<(), VendorError> {
        if who.uids.is_empty() {
            return Err(not_found("participant has no Agora uid"));
        }
        let users = self.channel_users(rt, room_id).await?;
        let present: Vec<u32> = who.uids.iter().copied().filter(|&uid| users.may_contain(uid)).collect();
        if present.is_empty() {
            return Err(not_found("participant is not in the channel"));
        }
        for uid in present {
            self.kicking_rule(rt, room_id, Some(uid)).await?;
        }
        Ok(())
    }

    /// A `join_channel` kicking rule in this channel for each of the participant's uids (a uid
    /// alone would ban it in every channel, where other rooms give it to other people); the
    /// rule ids are kept together, comma-separated, as the ban's one vendor rule.
    async fn set_ban_rule(
        &self,
        rt: &Runtime,
        room_id: &str,
        who: &ParticipantRef,
        seconds: u64,
        previous: Option<&str>,
    ) -> Result<Option<BanRule>, VendorError> {
        if who.uids.is_empty() {
            return Ok(None);
        }
        let mut ids = Vec::with_capacity(who.uids.len());
        for &uid in &who.uids {
            let request = moderation::create_rule_request(&self.api, room_id, uid, &[Privilege::JoinChannel], seconds);
            ids.push(moderation::parse_rule_id(&transport::send(rt, NAME, request).await?)?.to_string());
        }
        let id = ids.join(",");
        let lapses_at_ms = rt.now_ms() + moderation::clamp_seconds(seconds) * 1000;
        // The new rule holds before the old one goes, so there is no gap.
        if let Some(old) = previous.filter(|old| *old != id) {
            if let Err(e) = self.remove_ban_rule(rt, room_id, who, old).await {
                crate::log::warn(&format!("removing the replaced Agora kicking rule {old}: {}", e.summary));
            }
        }
        Ok(Some(BanRule { id, lapses_at_ms }))
    }

    async fn remove_ban_rule(
        &self,
        rt: &Runtime,
        _room_id: &str,
        _who: &ParticipantRef,
        rule_id: &str,
    ) -> Result<(), VendorError> {
        for id in rule_id.split(',').filter_map(|id| id.parse::<u64>().ok()) {
            let response = transport::send(rt, NAME, moderation::delete_rule_request(&self.api, id)).await?;
            match moderation::parse_rule_id(&response) {
                Ok(_) => {}
                // A rule that lapsed or was removed already.
                Err(_) if response.status == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn join_token(&self, grant: &JoinGrant, now_ms: u64, entropy: &dyn Entropy) -> ApiResult<JoinToken> {
        join::join_token(&self.tokens, &self.app_id, grant, now_ms, entropy)
    }

    /// Agora tokens and channels speak numeric uids.
    fn joins_by_uid(&self) -> bool {
        true
    }

    fn identity_rule(&self) -> &'static IdentityRule {
        &IDENTITY_RULE
    }

    fn check_grant(&self, grant: &JoinGrant) -> ApiResult<()> {
        join::refuse_unenforceable(grant)?;
        self.identity_rule().check(&grant.identity)
    }

    /// Kicking rules withhold publishing audio and video; nothing on Agora withholds a screen
    /// share apart from video, subscribing, data, or changes a name or metadata server-side.
    fn check_moderation(&self, ask: &ModerationAsk) -> ApiResult<()> {
        MODERATION_LIMITS.check(NAME, ask)
    }

    /// Replaces the participant's publish rules: the old ones are deleted, one rule withholds
    /// what `after` blocks (for the rest of the mute, at most 24 h; re-applied before it lapses).
    async fn enforce_moderation(&self, rt: &Runtime, change: &ModerationChange<'_>) -> Result<Enforced, VendorError> {
        if change.who.uids.is_empty() {
            // Never issued a token for this room: no uid to rule on. Its first token folds the
            // stored state in; a rule follows with the next change or re-apply.
            return Ok(Enforced::default());
        }
        let old = publish_rules::stored_ids(change.rules);
        for id in &old {
            let response = transport::send(rt, NAME, moderation::delete_rule_request(&self.api, *id)).await?;
            match moderation::parse_rule_id(&response) {
                Ok(_) => {}
                // A rule Agora no longer has (it lapsed, or was deleted elsewhere) is gone, as
                // asked; the create below still needs the API to work.
                Err(e) if e.failure == VendorFailure::Rejected => {}
                Err(e) => return Err(e),
            }
        }
        let now = change.now_ms;
        let after = change.after;
        let blocked = if after.can_publish == Some(false) {
            MediaSet::of(&[Media::Audio, Media::Video])
        } else {
            after.muted_at(now).without(MediaSet::of(&[Media::Screen]))
        };
        if blocked.is_empty() {
            return Ok(Enforced { applied: !old.is_empty(), ..Enforced::default() });
        }
        let until = if after.can_publish == Some(false) { None } else { after.mute_expires_at_ms };
        let seconds = publish_rules::rule_seconds(now, until);
        // One rule per uid of the identity (one per isolate that gave it one).
        let mut ids = Vec::with_capacity(change.who.uids.len());
        for &uid in &change.who.uids {
            let request = moderation::create_rule_request(
                &self.api,
                change.room_id,
                uid,
                &publish_rules::privileges(blocked),
                seconds,
            );
            ids.push(moderation::parse_rule_id(&transport::send(rt, NAME, request).await?)?);
        }
        let lapses_at = now as i64 + seconds as i64 * 1000;
        let outlasts = until.is_none_or(|u| u > lapses_at);
        Ok(Enforced {
            applied: true,
            rules: publish_rules::stored(&ids),
            rules_expire_at_ms: outlasts.then_some(lapses_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::domain::recording::{Destination, RecordingSpec};
    use crate::error::ErrorCode;
    use crate::native::{block_on, json_response, NativeRuntime};
    use crate::runtime::HttpError;

    const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
    const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
    const CUSTOMER: &str = "cust-7d1e";
    const SECRET: &str = "s3cr3t-customer-value";
    /// base64("cust-7d1e:s3cr3t-customer-value")
    const BASIC: &str = "Basic Y3VzdC03ZDFlOnMzY3IzdC1jdXN0b21lci12YWx1ZQ==";
    const BASE: &str = "http://agora.test:9000";
    const ROOM: &str = "rm_7Hq2abcdefghijklmnopqr";

    fn env(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            let base = [
                ("AGORA_APP_ID", APP_ID),
                ("AGORA_APP_CERTIFICATE", CERT),
                ("AGORA_CUSTOMER_ID", CUSTOMER),
                ("AGORA_CUSTOMER_SECRET", SECRET),
                ("AGORA_API_BASE", BASE),
                ("VENDOR_TIMEOUT_MS", "1500"),
            ];
            extra.iter().chain(base.iter()).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        }
    }

    fn vendor() -> Box<dyn Vendor> {
        match setup(&env(&[])).state {
            VendorState::Ready(v) => v,
            _ => panic!("expected ready"),
        }
    }

    fn user_list_url() -> String {
        format!("{BASE}/dev/v1/channel/user/{APP_ID}/{ROOM}")
    }

    fn kick_url() -> String {
        format!("{BASE}/dev/v1/kicking-rule")
    }

    fn header<'a>(req: &'a crate::runtime::OutboundRequest, name: &str) -> Option<&'a str> {
        crate::http::header_value(&req.headers, name)
    }

    fn mode1(users: &[u32]) -> Value {
        json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": users.len(), "users": users}})
    }

    fn absent() -> Value {
        json!({"success": true, "data": {"channel_exist": false}})
    }

    /// Answers user-list GETs with `users` and kicking-rule POSTs with success.
    fn script(rt: &NativeRuntime, users: Value) {
        rt.http.respond_with(move |req| {
            if req.method == "GET" {
                json_response(200, &users)
            } else {
                json_response(200, &json!({"status": "success", "id": 1953}))
            }
        });
    }

    #[test]
    fn setup_states() {
        let none = setup(&|_: &str| None);
        assert_eq!(none.name, "agora");
        assert!(matches!(none.state, VendorState::Unconfigured));

        let token_only = |name: &str| match name {
            "AGORA_APP_ID" => Some(APP_ID.to_owned()),
            "AGORA_APP_CERTIFICATE" => Some(CERT.to_owned()),
            _ => None,
        };
        match setup(&token_only).state {
            VendorState::Misconfigured(why) => assert_eq!(why, "missing AGORA_CUSTOMER_ID, AGORA_CUSTOMER_SECRET"),
            _ => panic!("expected misconfigured"),
        }
        match setup(&env(&[("AGORA_APP_CERTIFICATE", "not-hex")])).state {
            VendorState::Misconfigured(why) => {
                assert_eq!(why, "AGORA_APP_CERTIFICATE must be 32 hex characters");
                assert!(!why.contains("not-hex"));
            }
            _ => panic!("expected misconfigured"),
        }
        let ready = setup(&env(&[]));
        assert_eq!(ready.name, "agora");
        let v = ready.ready().expect("ready");
        assert_eq!(v.name(), "agora");
    }

    fn recording_spec() -> RecordingSpec {
        RecordingSpec {
            room_id: ROOM.into(),
            layout: "grid".into(),
            audio_only: false,
            destination: Destination::S3 {
                bucket: "media".into(),
                path: "calls/rm_1-rec_1.mp4".into(),
                access_key: "AKIA".into(),
                secret: "s3-secret".into(),
                region: Some("us-west-2".into()),
                endpoint: None,
            },
            recording_id: "rec_1".into(),
            recorder_uid: Some(9),
        }
    }

    #[test]
    fn every_capability_including_recording() {
        let v = vendor();
        // Every capability but a soft mute, which the vendor has no server API for.
        for cap in Capability::ALL {
            assert_eq!(
                v.supports(cap),
                cap != Capability::ParticipantMuteSoft && cap != Capability::RoomMessage,
                "{}",
                cap.id()
            );
        }
        assert!(v.recorder_needs_uid() && v.recovers_lost_starts());
        assert!(v.check_recording(&recording_spec()).is_ok());
        let azure_ok = RecordingSpec {
            destination: Destination::Gcs { bucket: "b".into(), path: "p".into(), credentials: "{}".into() },
            ..recording_spec()
        };
        assert_eq!(v.check_recording(&azure_ok).unwrap_err().code, ErrorCode::DestinationUnsupported);
    }

    /// Answers acquire, start, query and stop like Agora; `start` decides each start answer.
    fn recorder(rt: &NativeRuntime, start: fn(usize) -> Result<crate::runtime::OutboundResponse, HttpError>) {
        let starts = std::cell::Cell::new(0usize);
        rt.http.respond_with(move |req| {
            if req.url.ends_with("/acquire") {
                json_response(200, &json!({"resourceId": "RID-1", "cname": ROOM, "uid": "9"}))
            } else if req.url.ends_with("/start") {
                starts.set(starts.get() + 1);
                start(starts.get())
            } else if req.url.ends_with("/query") {
                json_response(200, &json!({"serverResponse": {"status": 5, "fileList": []}}))
            } else {
                json_response(
                    200,
                    &json!({"serverResponse": {"uploadingStatus": "uploaded",
                    "fileListMode": "json", "fileList": [{"fileName": "calls/rm1rec1/S1_rm_0.mp4"}]}}),
                )
            }
        });
    }

    #[test]
    fn recording_lifecycle_acquires_starts_queries_and_stops() {
        let rt = NativeRuntime::new(1_700_000_000_000);
        recorder(&rt, |_| json_response(200, &json!({"sid": "S1", "resourceId": "RID-1"})));
        let v = vendor();
        let started = block_on(v.start_recording(&rt.runtime, &recording_spec())).unwrap();
        assert_eq!(started.status, crate::domain::recording::RecordingStatus::Starting);
        let sent = rt.http.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].request.url, format!("{BASE}/v1/apps/{APP_ID}/cloud_recording/acquire"));
        assert_eq!(header(&sent[0].request, "authorization"), Some(BASIC));
        assert_eq!(sent[0].json.as_ref().unwrap()["uid"], "9");
        assert_eq!(
            sent[1].request.url,
            format!("{BASE}/v1/apps/{APP_ID}/cloud_recording/resourceid/RID-1/mode/mix/start")
        );
        let start = sent[1].json.as_ref().unwrap();
        assert_eq!((start["cname"].as_str(), start["uid"].as_str()), (Some(ROOM), Some("9")));
        let token = start["clientRequest"]["token"].as_str().unwrap();
        assert!(token.starts_with("007"));
        assert_eq!(start["clientRequest"]["storageConfig"]["region"], 3);

        let id = started.vendor_recording_id;
        let running = block_on(v.recording_state(&rt.runtime, ROOM, &id)).unwrap();
        assert_eq!(running.status, crate::domain::recording::RecordingStatus::Active);
        assert!(rt.http.sent()[2].request.url.ends_with("/resourceid/RID-1/sid/S1/mode/mix/query"));
        let stopped = block_on(v.stop_recording(&rt.runtime, &id)).unwrap();
        assert_eq!(stopped.status, crate::domain::recording::RecordingStatus::Complete);
        assert_eq!(stopped.files[0].location, "s3://media/calls/rm1rec1/S1_rm_0.mp4");
        let stop = rt.http.sent()[3].json.clone().unwrap();
        assert_eq!(stop, json!({"cname": ROOM, "uid": "9", "clientRequest": {"async_stop": false}}));
        for s in rt.http.sent() {
            let text = format!("{:?}", s.request.url);
            assert!(!text.contains(SECRET));
        }
    }

    #[test]
    fn a_lost_start_answer_is_asked_again_with_the_same_resource() {
        let rt = NativeRuntime::new(1_700_000_000_000);
        recorder(&rt, |n| {
            if n == 1 {
                Err(HttpError::Timeout)
            } else {
                json_response(201, &json!({"code": 7, "reason": "already started", "sid": "S1", "resourceId": "RID-1"}))
            }
        });
        let started = block_on(vendor().start_recording(&rt.runtime, &recording_spec())).unwrap();
        let sent = rt.http.sent();
        assert_eq!(sent.len(), 3, "one acquire, two starts");
        assert_eq!(sent[1].request.url, sent[2].request.url);
        assert!(started.vendor_recording_id.contains("\"sid\":\"S1\""));
    }

    #[test]
    fn recovery_ends_a_task_it_cannot_address() {
        let rt = NativeRuntime::new(1_700_000_000_000);
        rt.http.respond_with(|req| {
            if req.url.ends_with("/acquire") {
                json_response(200, &json!({"resourceId": "RID-2"}))
            } else if req.url.ends_with("/start") {
                json_response(400, &json!({"code": 53, "reason": "task conflict"}))
            } else {
                json_response(200, &json!({"status": "success", "id": 1}))
            }
        });
        let state = block_on(vendor().recover_start(&rt.runtime, &recording_spec())).unwrap();
        assert_eq!(state.status, crate::domain::recording::RecordingStatus::Aborted);
        let sent = rt.http.sent();
        let kick = sent.last().unwrap();
        assert_eq!(kick.request.url, kick_url());
        assert_eq!(kick.json.as_ref().unwrap()["uid"], 9);
    }

    #[test]
    fn create_room_calls_nobody() {
        let rt = NativeRuntime::new(0);
        let spec = RoomSpec { room_id: ROOM.into(), max_participants: Some(4), ..RoomSpec::default() };
        assert_eq!(block_on(vendor().create_room(&rt.runtime, &spec)).unwrap(), CreatedRoom { vendor_sid: None });
        assert!(rt.http.sent().is_empty());

        let recorded = RoomSpec {
            auto_record: Some(Destination::Gcs { bucket: "b".into(), path: "p".into(), credentials: "c".into() }),
            ..spec
        };
        assert_eq!(
            block_on(vendor().create_room(&rt.runtime, &recorded)).unwrap_err().failure,
            VendorFailure::Rejected
        );
        assert!(rt.http.sent().is_empty());
    }

    #[test]
    fn occupancy_reads_the_user_list() {
        let rt = NativeRuntime::new(0);
        script(&rt, mode1(&[11, 12, 13]));
        assert_eq!(block_on(vendor().occupancy(&rt.runtime, ROOM)).unwrap(), 3);

        let sent = rt.http.sent();
        assert_eq!(sent.len(), 1);
        let req = &sent[0].request;
        assert_eq!((req.method, req.url.as_str()), ("GET", user_list_url().as_str()));
        assert_eq!(header(req, "authorization"), Some(BASIC));
        assert_eq!(header(req, "accept"), Some("application/json"));
        assert_eq!(req.body, None);
        assert_eq!(req.timeout_ms, 1_500);

        script(
            &rt,
            json!({"success": true, "data": {
                "channel_exist": true, "mode": 2, "broadcasters": [1, 2], "audience": [3], "audience_total": 40
            }}),
        );
        assert_eq!(block_on(vendor().occupancy(&rt.runtime, ROOM)).unwrap(), 42);

        script(&rt, absent());
        assert_eq!(block_on(vendor().occupancy(&rt.runtime, ROOM)).unwrap(), 0);
    }

    #[test]
    fn delete_room_closes_the_channel_for_everyone() {
        let rt = NativeRuntime::new(0);
        script(&rt, absent());
        block_on(vendor().delete_room(&rt.runtime, ROOM)).unwrap();

        let sent = rt.http.sent();
        assert_eq!(sent.len(), 1, "no user-list check before closing");
        let req = &sent[0].request;
        assert_eq!((req.method, req.url.as_str()), ("POST", kick_url().as_str()));
        assert_eq!(header(req, "authorization"), Some(BASIC));
        assert_eq!(header(req, "content-type"), Some("application/json"));
        assert_eq!(req.timeout_ms, 1_500);
        let body = sent[0].json.as_ref().unwrap();
        assert_eq!(body["appid"], APP_ID);
        assert_eq!(body["cname"], ROOM);
        assert_eq!(body["time"], 0);
        assert_eq!(body["privileges"], json!(["join_channel"]));
        assert!(body.get("uid").is_none() && body.get("time_in_seconds").is_none());
        assert_eq!(body.as_object().unwrap().len(), 4);
    }

    #[test]
    fn list_participants_reports_uids_only() {
        let rt = NativeRuntime::new(0);
        script(
            &rt,
            json!({"success": true, "data": {
                "channel_exist": true, "mode": 2, "broadcasters": [7], "audience": [8, 9], "audience_total": 2
            }}),
        );
        let list = block_on(vendor().list_participants(&rt.runtime, ROOM)).unwrap();
        let uid = |n| LiveParticipant { identity: None, uid: Some(n), display_name: None, joined_at_ms: None };
        assert_eq!(list, vec![uid(7), uid(8), uid(9)]);

        script(&rt, mode1(&[4_294_967_295]));
        assert_eq!(block_on(vendor().list_participants(&rt.runtime, ROOM)).unwrap(), vec![uid(4_294_967_295)]);

        script(&rt, absent());
        assert!(block_on(vendor().list_participants(&rt.runtime, ROOM)).unwrap().is_empty());
    }

    fn who(uid: Option<u32>) -> ParticipantRef {
        ParticipantRef { identity: "alice".into(), uids: uid.into_iter().collect() }
    }

    #[test]
    fn kick_checks_presence_then_kicks_by_uid() {
        let rt = NativeRuntime::new(0);
        script(&rt, mode1(&[5, 4242]));
        block_on(vendor().kick(&rt.runtime, ROOM, &who(Some(4242)))).unwrap();

        let sent = rt.http.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!((sent[0].request.method, sent[0].request.url.as_str()), ("GET", user_list_url().as_str()));
        let req = &sent[1].request;
        assert_eq!((req.method, req.url.as_str()), ("POST", kick_url().as_str()));
        assert_eq!(header(req, "authorization"), Some(BASIC));
        assert_eq!(
            sent[1].json.as_ref().unwrap(),
            &json!({"appid": APP_ID, "cname": ROOM, "uid": 4242, "time": 0, "privileges": ["join_channel"]})
        );
    }

    #[test]
    fn kick_of_someone_absent_is_not_found_and_sends_no_kick() {
        let rt = NativeRuntime::new(0);
        for users in [mode1(&[5]), absent()] {
            rt.http.clear();
            script(&rt, users);
            let e = block_on(vendor().kick(&rt.runtime, ROOM, &who(Some(4242)))).unwrap_err();
            assert_eq!(e.failure, VendorFailure::NotFound);
            assert_eq!(rt.http.sent().len(), 1, "only the user-list check");
        }
        rt.http.clear();
        let e = block_on(vendor().kick(&rt.runtime, ROOM, &who(None))).unwrap_err();
        assert_eq!(e.failure, VendorFailure::NotFound);
        assert!(rt.http.sent().is_empty());
    }

    #[test]
    fn kick_goes_ahead_when_the_audience_list_was_truncated() {
        let rt = NativeRuntime::new(0);
        script(
            &rt,
            json!({"success": true, "data": {
                "channel_exist": true, "mode": 2, "broadcasters": [1], "audience": [2], "audience_total": 15_000
            }}),
        );
        block_on(vendor().kick(&rt.runtime, ROOM, &who(Some(4242)))).unwrap();
        assert_eq!(rt.http.sent().len(), 2);
    }

    #[test]
    fn kick_surfaces_errors_from_either_call() {
        let rt = NativeRuntime::new(0);
        rt.http.respond_with(|req| {
            if req.method == "GET" {
                json_response(200, &mode1(&[4242]))
            } else {
                json_response(429, &json!({"message": "Too Many Requests"}))
            }
        });
        let e = block_on(vendor().kick(&rt.runtime, ROOM, &who(Some(4242)))).unwrap_err();
        assert_eq!(e.failure, VendorFailure::RateLimited { retry_after_s: None });

        rt.http.respond_with(|_| json_response(401, &json!({"message": "Invalid authentication credentials"})));
        let e = block_on(vendor().kick(&rt.runtime, ROOM, &who(Some(4242)))).unwrap_err();
        assert_eq!(e.failure, VendorFailure::AuthFailed);
    }

    #[test]
    fn transport_failures_and_vendor_errors_surface_for_every_call() {
        let rt = NativeRuntime::new(0);
        let v = vendor();
        type Answer = fn(&crate::runtime::OutboundRequest) -> Result<crate::runtime::OutboundResponse, HttpError>;
        let cases: [(Answer, VendorFailure); 7] = [
            (|_| Err(HttpError::Timeout), VendorFailure::Timeout),
            (|_| Err(HttpError::Unreachable("connection refused".into())), VendorFailure::Unreachable),
            (|_| json_response(500, &json!({"message": "internal"})), VendorFailure::ServerError),
            (|_| json_response(503, &json!({})), VendorFailure::ServerError),
            (|_| json_response(404, &json!({"message": "Not Found"})), VendorFailure::Rejected),
            (|_| json_response(403, &json!({"message": "Forbidden"})), VendorFailure::AuthFailed),
            (
                |_| Ok(crate::runtime::OutboundResponse { status: 200, headers: vec![], body: b"{not json".to_vec() }),
                VendorFailure::ServerError,
            ),
        ];
        for (answer, failure) in cases {
            rt.http.respond_with(answer);
            let errors = [
                block_on(v.occupancy(&rt.runtime, ROOM)).unwrap_err(),
                block_on(v.delete_room(&rt.runtime, ROOM)).unwrap_err(),
                block_on(v.list_participants(&rt.runtime, ROOM)).unwrap_err(),
                block_on(v.kick(&rt.runtime, ROOM, &who(Some(1)))).unwrap_err(),
            ];
            for e in errors {
                assert_eq!(e.failure, failure);
                assert_eq!(e.vendor, "agora");
                assert!(!e.summary.contains(SECRET) && !e.summary.contains(CERT) && !e.summary.contains(BASIC));
                let api = e.to_api_error();
                assert!(!api.message.contains(SECRET) && !api.message.contains(CERT));
            }
        }
    }

    #[test]
    fn not_found_never_comes_from_a_404() {
        // A 404 means a wrong path/base, not a missing room: delete must not "succeed".
        let rt = NativeRuntime::new(0);
        rt.http.respond_with(|_| json_response(404, &json!({"message": "Not Found"})));
        let e = block_on(vendor().delete_room(&rt.runtime, ROOM)).unwrap_err();
        assert_eq!(e.failure, VendorFailure::Rejected);
        assert_eq!(e.to_api_error().code, ErrorCode::VendorRejected);
    }

    #[test]
    fn join_token_and_identity_are_wired() {
        let v = vendor();
        let grant = JoinGrant { ttl_s: 600, can_publish: false, ..JoinGrant::publisher(ROOM, "alice", 4242) };
        let t = v.join_token(&grant, 1_700_000_000_000, &crate::native::OsEntropy).unwrap();
        assert!(t.token.starts_with("007"));
        assert_eq!(t.expires_at_ms, 1_700_000_600_000);
        assert_eq!(t.join, json!({"app_id": APP_ID, "channel": ROOM, "uid": 4242}));
        let admin = JoinGrant { is_admin: true, ..grant.clone() };
        let e = v.join_token(&admin, 0, &crate::native::OsEntropy).unwrap_err();
        assert_eq!(e.code, ErrorCode::GrantNotSupported);

        assert!(v.check_grant(&grant).is_ok());
        assert_eq!(v.check_grant(&admin).unwrap_err().code, ErrorCode::GrantNotSupported);
        assert!(v.check_grant(&JoinGrant { identity: Identity::parse("a".repeat(256)).unwrap(), ..grant }).is_err());
    }
}

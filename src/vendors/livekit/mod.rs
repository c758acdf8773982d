//! LiveKit: rooms, participants and Egress recording through the server's Twirp API; join
//! tokens are HS256 JWTs signed in-isolate. Every capability of the contract is supported.
//!
//! - `config`: the LIVEKIT_* settings.
//! - `twirp`: request signing/sending and Twirp error classification.
//! - `wire`: reading answers with proto3 JSON rules.
//! - `rooms`, `egress`, `streaming`: request bodies and answer mapping per method (pure).
//! - `join`: join tokens and identity rules.
//! - `token`: the JWT signer.

mod config;
mod egress;
mod join;
mod moderation;
pub use join::IDENTITY_RULE;
mod messages;
mod rooms;
mod streaming;
pub mod token;
mod twirp;
pub mod webhook;
mod wire;

pub(crate) use self::egress::client_error as egress_client_error;
pub(crate) use self::egress::status_named as egress_status_named;

use async_trait::async_trait;
use serde_json::Value;

use self::config::Settings;
use self::token::LiveKitSigner;
use self::twirp::{Client, Method};
use super::{
    entry, transport, Capability, CreatedRoom, Delivery, Enforced, JoinGrant, JoinToken, LiveParticipant,
    ModerationAsk, ModerationChange, ParticipantRef, RoomMessage, RoomSpec, Vendor, VendorEntry, VendorError,
    VendorFailure, VendorState, REMOTE_UNMUTE_DISABLED,
};
use crate::config::EnvVars;
use crate::domain::identity::IdentityRule;
use crate::domain::moderation::MediaSet;
use crate::domain::recording::{RecordingSpec, RecordingState};
use crate::domain::stream::{OutputTarget, StreamSpec, StreamState};
use crate::error::ApiResult;
use crate::runtime::{Entropy, Runtime};

pub(crate) const NAME: &str = "livekit";

pub fn setup(env: EnvVars<'_>) -> VendorEntry {
    match Settings::from_env(env) {
        Ok(settings) => {
            entry(NAME, VendorState::Ready(Box::new(LiveKit::new(settings, transport::timeout_from_env(env)))))
        }
        Err(state) => entry(NAME, state),
    }
}

pub struct LiveKit {
    client: Client,
    /// ws(s) URL handed to client SDKs with each join token.
    client_url: String,
}

impl LiveKit {
    fn new(settings: Settings, timeout_ms: u64) -> Self {
        let signer = LiveKitSigner::new(&settings.api_key, &settings.api_secret);
        LiveKit { client: Client { api_url: settings.api_url, signer, timeout_ms }, client_url: settings.client_url }
    }

    async fn call(&self, rt: &Runtime, method: Method, room: &str, body: &Value) -> Result<Value, VendorError> {
        self.client.call(rt, method, room, body).await
    }

    async fn egress_by_id(&self, rt: &Runtime, egress_id: &str) -> Result<RecordingState, VendorError> {
        let answer = self.call(rt, Method::ListEgress, "", &egress::by_id_body(egress_id)).await?;
        egress::listed_one(&answer, egress_id)
    }
}

#[async_trait(?Send)]
impl Vendor for LiveKit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn records_rooms_itself(&self) -> bool {
        true
    }

    fn supports(&self, _capability: Capability) -> bool {
        true
    }

    async fn create_room(&self, rt: &Runtime, spec: &RoomSpec) -> Result<CreatedRoom, VendorError> {
        let room = self.call(rt, Method::CreateRoom, &spec.room_id, &rooms::create_room_body(spec)).await?;
        rooms::created_room(&room)
    }

    async fn occupancy(&self, rt: &Runtime, room_id: &str) -> Result<u32, VendorError> {
        let answer = self.call(rt, Method::ListRooms, room_id, &rooms::list_rooms_body(room_id)).await?;
        rooms::occupancy(&answer, room_id)
    }

    async fn delete_room(&self, rt: &Runtime, room_id: &str) -> Result<(), VendorError> {
        match self.call(rt, Method::DeleteRoom, room_id, &rooms::delete_room_body(room_id)).await {
            Ok(_) => Ok(()),
            // Already gone (closed when empty, or deleted before): that is what was asked.
            Err(e) if e.failure == VendorFailure::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn list_participants(&self, rt: &Runtime, room_id: &str) -> Result<Vec<LiveParticipant>, VendorError> {
        let answer = self.call(rt, Method::ListParticipants, room_id, &rooms::list_participants_body(room_id)).await?;
        rooms::participants(&answer)
    }

    async fn kick(&self, rt: &Runtime, room_id: &str, who: &ParticipantRef) -> Result<(), VendorError> {
        let body = rooms::remove_participant_body(room_id, &who.identity);
        self.call(rt, Method::RemoveParticipant, room_id, &body).await.map(drop)
    }

    async fn kick_banned(
        &self,
        rt: &Runtime,
        room_id: &str,
        who: &ParticipantRef,
        banned_at_s: u64,
    ) -> Result<(), VendorError> {
        let body = rooms::remove_banned_participant_body(room_id, &who.identity, banned_at_s);
        self.call(rt, Method::RemoveParticipant, room_id, &body).await.map(drop)
    }

    async fn send_message(&self, rt: &Runtime, room_id: &str, message: &RoomMessage) -> Result<Delivery, VendorError> {
        let body = messages::send_data_body(room_id, message);
        messages::delivery(self.call(rt, Method::SendData, room_id, &body).await)
    }

    fn join_token(&self, grant: &JoinGrant, now_ms: u64, _entropy: &dyn Entropy) -> ApiResult<JoinToken> {
        join::issue(&self.client.signer, &self.client_url, grant, now_ms)
    }

    fn identity_rule(&self) -> &'static IdentityRule {
        &IDENTITY_RULE
    }

    fn check_grant(&self, grant: &JoinGrant) -> ApiResult<()> {
        // LiveKit tokens express every grant of the contract; only the identity has limits.
        self.identity_rule().check(&grant.identity)
    }

    async fn start_recording(&self, rt: &Runtime, spec: &RecordingSpec) -> Result<RecordingState, VendorError> {
        let method = Method::StartRoomCompositeEgress;
        let info = self.call(rt, method, &spec.room_id, &egress::start_body(spec)).await?;
        egress::recording_state(method, &info)
    }

    async fn stop_recording(&self, rt: &Runtime, vendor_recording_id: &str) -> Result<RecordingState, VendorError> {
        let method = Method::StopEgress;
        match self.call(rt, method, "", &egress::stop_body(vendor_recording_id)).await {
            Ok(info) => egress::recording_state(method, &info),
            // Already finished: stopping again is a no-op that reports the final state.
            Err(e) if e.vendor_code.as_deref() == Some("failed_precondition") => {
                self.egress_by_id(rt, vendor_recording_id).await
            }
            Err(e) => Err(e),
        }
    }

    async fn recording_state(
        &self,
        rt: &Runtime,
        _room_id: &str,
        vendor_recording_id: &str,
    ) -> Result<RecordingState, VendorError> {
        self.egress_by_id(rt, vendor_recording_id).await
    }

    async fn room_recordings(&self, rt: &Runtime, room_id: &str) -> Result<Vec<RecordingState>, VendorError> {
        let answer = self.call(rt, Method::ListEgress, room_id, &egress::in_room_body(room_id)).await?;
        egress::listed(&answer)
    }

    async fn start_stream(&self, rt: &Runtime, spec: &StreamSpec) -> Result<StreamState, VendorError> {
        let method = Method::StartRoomCompositeEgress;
        let info = self.call(rt, method, &spec.room_id, &streaming::start_body(spec)).await?;
        streaming::stream_state(method, &info, spec)
    }

    /// A start is not idempotent (every call mints a new egress id): a lost one is found
    /// among the room's running egresses by the URLs it pushes to.
    async fn find_streams(&self, rt: &Runtime, spec: &StreamSpec) -> Result<Vec<StreamState>, VendorError> {
        let Some(first) = spec.outputs.first() else { return Ok(Vec::new()) };
        let method = Method::ListEgress;
        let answer = self.call(rt, method, &spec.room_id, &streaming::active_in_room_body(&spec.room_id)).await?;
        let items = answer.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        items
            .iter()
            .filter(|info| streaming::pushes_to(info, &first.url))
            .map(|info| streaming::stream_state(method, info, spec))
            .collect()
    }

    async fn update_stream_outputs(
        &self,
        rt: &Runtime,
        vendor_stream_id: &str,
        spec: &StreamSpec,
        added: &[OutputTarget],
        removed: &[OutputTarget],
    ) -> Result<StreamState, VendorError> {
        let method = Method::UpdateStream;
        let body = streaming::update_body(vendor_stream_id, added, removed);
        let info = self.call(rt, method, &spec.room_id, &body).await?;
        streaming::stream_state(method, &info, spec)
    }

    async fn stop_stream(
        &self,
        rt: &Runtime,
        vendor_stream_id: &str,
        spec: &StreamSpec,
    ) -> Result<StreamState, VendorError> {
        let method = Method::StopEgress;
        match self.call(rt, method, "", &egress::stop_body(vendor_stream_id)).await {
            Ok(info) => streaming::stream_state(method, &info, spec),
            // Already finished: stopping again reports the final state.
            Err(e) if e.vendor_code.as_deref() == Some("failed_precondition") => {
                self.stream_state(rt, vendor_stream_id, spec).await
            }
            Err(e) => Err(e),
        }
    }

    async fn stream_state(
        &self,
        rt: &Runtime,
        vendor_stream_id: &str,
        spec: &StreamSpec,
    ) -> Result<StreamState, VendorError> {
        let method = Method::ListEgress;
        let answer = self.call(rt, method, "", &egress::by_id_body(vendor_stream_id)).await?;
        let info = answer
            .get("items")
            .and_then(Value::as_array)
            .and_then(|items| {
                items.iter().find(|i| i.get("egress_id").and_then(Value::as_str) == Some(vendor_stream_id))
            })
            .ok_or_else(|| VendorError::new(NAME, VendorFailure::NotFound, "no such egress"))?;
        streaming::stream_state(method, info, spec)
    }

    /// LiveKit enforces every moderation field: the participant's permission, name and metadata.
    fn check_moderation(&self, _ask: &ModerationAsk) -> ApiResult<()> {
        Ok(())
    }

    async fn mute_soft(
        &self,
        rt: &Runtime,
        room_id: &str,
        who: &ParticipantRef,
        media: MediaSet,
        muted: bool,
    ) -> Result<(), VendorError> {
        let body = moderation::get_participant_body(room_id, &who.identity);
        let info = self.call(rt, Method::GetParticipant, room_id, &body).await?;
        for sid in moderation::track_sids(&info, media)? {
            let body = moderation::mute_track_body(room_id, &who.identity, &sid, muted);
            match self.call(rt, Method::MutePublishedTrack, room_id, &body).await {
                Ok(_) => {}
                // The server refuses a remote unmute unless `room.enable_remote_unmute` is on
                // (livekit/livekit pkg/service/roommanager.go, config-sample.yaml).
                Err(e) if e.vendor_code.as_deref() == Some("failed_precondition") => {
                    return Err(e.with_code(REMOTE_UNMUTE_DISABLED));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn enforce_moderation(&self, rt: &Runtime, change: &ModerationChange<'_>) -> Result<Enforced, VendorError> {
        let (room_id, identity) = (change.room_id, change.who.identity.as_str());
        let body = moderation::get_participant_body(room_id, identity);
        let info = match self.call(rt, Method::GetParticipant, room_id, &body).await {
            Ok(info) => info,
            // Not in the room: nothing to change now; the stored state reaches their next token.
            Err(e) if e.failure == VendorFailure::NotFound => return Ok(Enforced::default()),
            Err(e) => return Err(e),
        };
        let permission = moderation::permission_after(&info, change)?;
        let body = moderation::update_body(room_id, identity, permission, change);
        match self.call(rt, Method::UpdateParticipant, room_id, &body).await {
            Ok(_) => Ok(Enforced { applied: true, ..Enforced::default() }),
            // Left between the two calls.
            Err(e) if e.failure == VendorFailure::NotFound => Ok(Enforced::default()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;

//! What a vendor is asked to record: our recording's id (ZEGO's deduplication key), and for
//! vendors whose recorder joins as a room member (Agora) the bot's uid from the participant
//! registry. Also rebuilt from a stored record, to ask the vendor again about a start whose
//! answer was lost.

use crate::api::{App, Ctx};
use crate::domain::recording::{Destination, RecordingSpec};
use crate::domain::recording_destination::PathNames;
use crate::error::{ApiError, ApiResult};
use crate::resources::storage;
use crate::runtime::Runtime;
use crate::store::participants;
use crate::store::recordings::Recording;
use crate::vendors::Vendor;

/// The spec for a new recording: checked by the vendor (a destination it cannot write to is
/// refused before anything is stored), then its bot registered when it needs a uid.
pub async fn for_new(
    ctx: &Ctx<'_>,
    vendor: &dyn Vendor,
    recording_id: &str,
    room_id: &str,
    layout: &str,
    audio_only: bool,
    destination: Destination,
) -> ApiResult<RecordingSpec> {
    let mut spec = RecordingSpec {
        room_id: room_id.to_owned(),
        layout: layout.to_owned(),
        audio_only,
        destination,
        recording_id: recording_id.to_owned(),
        recorder_uid: None,
    };
    vendor.check_recording(&spec)?;
    if vendor.recorder_needs_uid() {
        spec.recorder_uid = Some(participants::register_bot(ctx.rt, ctx.project_id(), room_id, recording_id).await?);
    }
    Ok(spec)
}

/// The spec `rec` was started with. Its destination is chosen again the way a new start's is
/// (the project's own destination holding the path, with its unsealed credentials, or the
/// project's folder in shared storage), never with the deployment's credentials for whatever
/// the record names; the stored path is already expanded, so expanding it again changes nothing.
pub async fn of_record(app: &App, rt: &Runtime, vendor: &dyn Vendor, rec: &Recording) -> ApiResult<RecordingSpec> {
    let chosen = storage::choose(&app.settings, rt, &rec.project_id, Some(&rec.output_uri), "output_uri").await?;
    let ext = if rec.audio_only { "ogg" } else { "mp4" };
    let names =
        PathNames { room_id: &rec.room_id, recording_id: Some(&rec.id), unix_ms: rec.started_at_ms as u64, ext };
    let destination = chosen.for_recording(&names)?;
    let recorder_uid = if vendor.recorder_needs_uid() {
        let uid = participants::bot_uid(rt, &rec.room_id, &rec.id).await?;
        Some(uid.ok_or_else(|| ApiError::internal("a recording's bot is missing from the registry"))?)
    } else {
        None
    };
    Ok(RecordingSpec {
        room_id: rec.room_id.clone(),
        layout: rec.layout.clone(),
        audio_only: rec.audio_only,
        destination,
        recording_id: rec.id.clone(),
        recorder_uid,
    })
}

//! Recording decisions: starting one at the room's vendor, and settling what the vendor says.
//!
//! A vendor start whose answer is lost (timeout, reset, unreadable answer) may still have
//! started the recording (LiveKit's start is not idempotent: the egress id is the server's).
//! So the record is written with the exact destination it asks for — unique per recording,
//! see `recording_destination::expand_path` — and stays "unanswered" until its answer has
//! reached the client. A retry of the same request within `ADOPTION_WINDOW_MS` gets that
//! record instead of a second recording, once the vendor recording writing to that
//! destination, claimed by no other record, is found (`get`/`stop` find it too). Only once
//! the vendor has had time to act on a lost call (`confirm_grace_ms`) does "not there" mean
//! "never started".
//!
//! The vendor call and the bookkeeping after it run to the end even when the client goes
//! away mid-request (`Runtime::finish_even_if_cancelled`): a Worker request is cancelled when
//! its client disconnects, and a recording the vendor started must not be left unrecorded.

use std::rc::Rc;

use serde_json::{json, Value};

use super::spec;
use crate::api::{App, Ctx};
use crate::domain::ids;
use crate::domain::limits::Quota;
use crate::domain::recording::{RecordingSpec, RecordingState, RecordingStatus};
use crate::domain::recording_destination::PathNames;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::rooms::directory::RoomDirectory;
use crate::resources::rooms::service::vendor_of;
use crate::resources::storage;
use crate::runtime::Runtime;
use crate::store::idempotency::fingerprint;
use crate::store::recordings::{self, Recording};
use crate::vendors::routing;
use crate::vendors::{Capability, Vendor, VendorError, VendorFailure};

/// The idempotency scope of a start (and of its request hash).
pub(crate) const SCOPE: &str = "rtc.recording.start";

/// How long after a start whose answer never reached its client a retry of the same request
/// still means "that start" (and gets its recording). Later, the same body is a new start.
pub const ADOPTION_WINDOW_MS: u64 = 15 * 60 * 1000;

/// A validated start request.
pub(crate) struct NewRecording {
    pub room_ref: String,
    pub layout: String,
    pub audio_only: bool,
    pub output_uri: Option<String>,
    pub pin: Option<String>,
    pub metadata: Option<String>,
}

/// Starts a recording of the room `new` names, or answers with this request's earlier start
/// whose answer was lost (`request` is the request body without its idempotency key).
pub(crate) async fn start(ctx: &Ctx<'_>, new: &NewRecording, request: &Value) -> ApiResult<Recording> {
    let NewRecording { room_ref, layout, output_uri, pin, metadata, .. } = new;
    let audio_only = new.audio_only;
    let room = RoomDirectory::of(ctx).find(room_ref).await?;
    let vendor = vendor_of(ctx, &room, pin.as_deref(), Capability::RecordingStart)?;
    let storage =
        storage::choose(&ctx.app.settings, ctx.rt, ctx.project_id(), output_uri.as_deref(), "output_uri").await?;
    let request_hash = fingerprint(SCOPE, &json!([ctx.project_id(), room.id, request]));

    // This request's earlier start never got its answer to the client: that record is the
    // answer now, once the vendor has confirmed it, rather than a second recording.
    let since = ctx.rt.now_ms().saturating_sub(ADOPTION_WINDOW_MS) as i64;
    let (earlier, too_old): (Vec<_>, Vec<_>) = recordings::unanswered(ctx.rt, ctx.project_id(), &request_hash)
        .await?
        .into_iter()
        .partition(|r| r.started_at_ms >= since);
    // Too old to be what this request is retrying: reconciled with the vendor (so none is
    // left `starting` for good) and no longer adoptable.
    for old in too_old {
        if settle(ctx.app, ctx.rt, vendor, old.clone()).await?.is_ok() {
            recordings::set_answer_lost(ctx.rt, &old.id, false).await?;
        }
    }
    if let Some(earlier) = earlier.into_iter().next() {
        let earlier = settle(ctx.app, ctx.rt, vendor, earlier).await?.map_err(|e| e.to_api_error())?;
        if earlier.vendor_recording_id.is_none() && earlier.status == RecordingStatus::Starting {
            return Err(unconfirmed_error(&earlier));
        }
        recordings::set_answer_lost(ctx.rt, &earlier.id, false).await?;
        if earlier.vendor_recording_id.is_some() {
            return Ok(earlier);
        }
        // It never started (now marked failed): start afresh below.
    }

    let now = ctx.rt.now_ms();
    let id = ids::recording_id(ctx.rt);
    let ext = if audio_only { "ogg" } else { "mp4" };
    let names = PathNames { room_id: &room.id, recording_id: Some(&id), unix_ms: now, ext };
    let destination = storage.for_recording(&names)?;
    let record = Recording {
        id,
        project_id: ctx.project_id().to_owned(),
        room_id: room.id.clone(),
        vendor: vendor.name().to_owned(),
        vendor_recording_id: None,
        status: RecordingStatus::Starting,
        output_uri: destination.uri(),
        layout: layout.clone(),
        audio_only,
        request_hash,
        metadata: metadata.clone(),
        error: None,
        files: Vec::new(),
        started_at_ms: now as i64,
        ended_at_ms: None,
    };
    let spec = spec::for_new(ctx, vendor, &record.id, &room.id, layout, audio_only, destination).await?;
    let work = start_once(ctx.app.clone(), ctx.rt.clone(), vendor.name(), spec, record);
    let recording = ctx
        .rt
        .finish_even_if_cancelled(work)
        .await
        .ok_or_else(|| ApiError::internal("a recording start was dropped before it finished"))??;
    // The answer is on its way to the client: a retry no longer adopts this start.
    recordings::set_answer_lost(ctx.rt, &recording.id, false).await?;
    Ok(recording)
}

/// Records the start, asks the vendor, and records its answer. Owns everything it touches,
/// because it runs to the end even if the request that began it is cancelled.
pub(crate) async fn start_once(
    app: Rc<App>,
    rt: Runtime,
    vendor: &'static str,
    spec: RecordingSpec,
    mut record: Recording,
) -> ApiResult<Recording> {
    let (app, rt) = (app.as_ref(), &rt);
    let vendor = routing::for_room(&app.vendors, vendor, None, Capability::RecordingStart)?;
    recordings::insert(rt, &record, app.settings.limits.quota(Quota::ConcurrentRecordings)).await?;
    match routing::observe(&app.vendors, rt, vendor.name(), vendor.start_recording(rt, &spec).await).await {
        Ok(state) => {
            record.apply(&state);
            recordings::save_state(rt, &record).await?;
            Ok(record)
        }
        // No usable answer: the vendor may or may not have acted. Ask once more now; if it
        // still cannot say, the record stays unconfirmed and a retry (or get/stop) settles it.
        Err(e) if e.is_outage() => {
            match confirm(app, rt, vendor, &record).await? {
                Ok(Confirmation::Found(state)) => {
                    record.apply(&state);
                    recordings::save_state(rt, &record).await?;
                    return Ok(record);
                }
                // The vendor refuses even to list the room's recordings, and not because it is
                // down (a LiveKit server without an egress service answers every egress query so):
                // nothing was started, and that refusal is the answer.
                Err(refusal) if refusal.failure == VendorFailure::Rejected => {
                    recordings::remove(rt, &record.id).await?;
                    return Err(refusal.to_api_error());
                }
                _ => {}
            }
            Err(e.to_api_error().with_detail("recording", record.id.as_str()))
        }
        Err(e) => {
            recordings::remove(rt, &record.id).await?;
            Err(e.to_api_error())
        }
    }
}

/// What the vendor says about a record whose start answer was lost.
enum Confirmation {
    /// The vendor recording writing to the record's path, claimed by no other record.
    Found(RecordingState),
    /// Not there yet; the lost call may still be acted on.
    NotYet,
    /// Not there, and the vendor has had time: the start never happened.
    NeverStarted,
}

/// Our storage can fail (the outer error: a 500), and separately the vendor's answer can be
/// missing (the inner one), which callers treat as the vendor's state being unknown.
pub(crate) type Vendored<T> = ApiResult<Result<T, VendorError>>;

async fn confirm(app: &App, rt: &Runtime, vendor: &dyn Vendor, rec: &Recording) -> Vendored<Confirmation> {
    // Vendors that deduplicate starts by this record's own keys are simply asked again.
    if vendor.recovers_lost_starts() {
        let spec = spec::of_record(app, rt, vendor, rec).await?;
        let again = vendor.recover_start(rt, &spec).await;
        return Ok(match routing::observe(&app.vendors, rt, vendor.name(), again).await {
            Ok(state) => Ok(Confirmation::Found(state)),
            // Refused as a request: the same request, lost, cannot have started it either.
            Err(e) if matches!(e.failure, VendorFailure::Rejected | VendorFailure::NotFound) => {
                Ok(Confirmation::NeverStarted)
            }
            // Down, throttling, refusing credentials: the vendor's state is still unknown.
            Err(e) => Err(e),
        });
    }
    let listed = routing::observe(&app.vendors, rt, vendor.name(), vendor.room_recordings(rt, &rec.room_id).await);
    let all = match listed.await {
        Ok(all) => all,
        Err(e) => return Ok(Err(e)),
    };
    let known = recordings::known_vendor_ids(rt, &rec.project_id, &rec.room_id).await?;
    let found = all
        .into_iter()
        .find(|s| s.output_uri.as_deref() == Some(rec.output_uri.as_str()) && !known.contains(&s.vendor_recording_id));
    Ok(Ok(match found {
        Some(state) => Confirmation::Found(state),
        None if rt.now_ms() as i64 - rec.started_at_ms >= app.settings.confirm_grace_ms() as i64 => {
            Confirmation::NeverStarted
        }
        None => Confirmation::NotYet,
    }))
}

/// Brings an unconfirmed record up to date with the vendor (a confirmed one is returned as is).
pub(crate) async fn settle(app: &App, rt: &Runtime, vendor: &dyn Vendor, mut rec: Recording) -> Vendored<Recording> {
    if rec.vendor_recording_id.is_some() || rec.status.is_final() {
        return Ok(Ok(rec));
    }
    match confirm(app, rt, vendor, &rec).await? {
        Err(e) => return Ok(Err(e)),
        Ok(Confirmation::Found(state)) => rec.apply(&state),
        Ok(Confirmation::NotYet) => return Ok(Ok(rec)),
        Ok(Confirmation::NeverStarted) => {
            rec.status = RecordingStatus::Failed;
            rec.error = Some("the vendor never started this recording (its start call timed out)".to_owned());
            rec.ended_at_ms = Some(rt.now_ms() as i64);
        }
    }
    recordings::save_state(rt, &rec).await?;
    Ok(Ok(rec))
}

pub(crate) fn unconfirmed_error(rec: &Recording) -> ApiError {
    ApiError::new(
        ErrorCode::RecordingUnconfirmed,
        "the vendor has not confirmed this recording's start yet; retry shortly",
    )
    .with_detail("recording", rec.id.as_str())
    .with_header("Retry-After", "1")
}

pub(crate) async fn load_recording(ctx: &Ctx<'_>) -> ApiResult<Recording> {
    let id = ctx.param(0);
    recordings::find(ctx.rt, ctx.project_id(), id).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::RecordingNotFound, format!("no recording '{id}' in this project"))
            .with_detail("recording", id)
    })
}

pub(crate) fn recording_vendor<'a>(ctx: &Ctx<'a>, r: &Recording, capability: Capability) -> ApiResult<&'a dyn Vendor> {
    routing::for_room(&ctx.app.vendors, &r.vendor, None, capability)
}

pub(crate) async fn refresh(ctx: &Ctx<'_>, vendor: &dyn Vendor, rec: Recording) -> Vendored<Recording> {
    let mut rec = match settle(ctx.app, ctx.rt, vendor, rec).await? {
        Ok(rec) => rec,
        Err(e) => return Ok(Err(e)),
    };
    let Some(vendor_id) = rec.vendor_recording_id.clone() else { return Ok(Ok(rec)) };
    let state = routing::observe(
        &ctx.app.vendors,
        ctx.rt,
        vendor.name(),
        vendor.recording_state(ctx.rt, &rec.room_id, &vendor_id).await,
    )
    .await;
    match state {
        Ok(state) => rec.apply(&state),
        Err(e) => return Ok(Err(e)),
    }
    recordings::save_state(ctx.rt, &rec).await?;
    Ok(Ok(rec))
}

//! `rtc.recording.*`: composite recordings of a room, started and stopped at its vendor.
//!
//! A vendor start that times out may still have started the recording (LiveKit's start is
//! not idempotent: the egress id is the server's). So the record is written before the call,
//! and a start whose answer was lost stays "unconfirmed" (no vendor id). The next start for
//! the room first looks for an active vendor recording that no record claims and adopts it,
//! instead of starting a second one.

use serde_json::{json, Value};

use super::rooms::{destination_for_room, load, vendor_of};
use super::{idempotent, paging};
use crate::app::{Ctx, Reply};
use crate::body::Body;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids;
use crate::recording_destination;
use crate::routing;
use crate::store::recordings::{self, Cursor, Recording};
use crate::store::rooms::Room;
use crate::vendors::recording::{RecordingSpec, RecordingState, RecordingStatus};
use crate::vendors::{Capability, Vendor, VendorFailure};

const LAYOUTS: [&str; 3] = ["grid", "speaker", "single-speaker"];

pub async fn start(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    let fingerprint = super::rooms::fingerprint_without_key(&ctx.req.body);
    let room_ref = body.required_str("room", 256)?;
    let layout = body.optional_str("layout", 32)?.unwrap_or_else(|| "grid".to_owned());
    let audio_only = body.optional_bool("audio_only")?.unwrap_or(false);
    let output_uri = body.optional_str("output_uri", 1024)?;
    let pin = body.optional_str("vendor", 32)?;
    let metadata = body.optional_object("metadata", 16 * 1024)?.map(|m| Value::Object(m).to_string());
    let key = idempotent::key(ctx, body.optional_str("idempotency_key", 255)?)?;
    body.finish()?;
    if !LAYOUTS.contains(&layout.as_str()) {
        return Err(ApiError::invalid_field("layout", format!("'layout' must be one of {}", LAYOUTS.join(", "))));
    }

    // The key comes first: a retry gets the first response even if the room is gone since.
    idempotent::once(ctx, "rtc.recording.start", key, &fingerprint, || async {
        let room = load(ctx, &room_ref).await?;
        let vendor = vendor_of(ctx, &room, pin.as_deref(), Capability::RecordingStart)?;
        let uri = output_uri.or_else(|| ctx.app.settings.recording_default_uri.clone()).ok_or_else(|| {
            ApiError::invalid_field("output_uri", "'output_uri' is required (no RECORDING_DEFAULT_URI is configured)")
        })?;
        let destination = recording_destination::resolve(&uri, &ctx.app.settings.recording_credentials)?;
        let now = ctx.rt.now_ms();
        let ext = if audio_only { "ogg" } else { "mp4" };
        let destination = destination_for_room(destination, &room.id, now, ext);
        let output_uri = destination.uri();
        let spec = RecordingSpec { room_id: room.id.clone(), layout: layout.clone(), audio_only, destination };
        let record = Recording {
            id: ids::recording_id(ctx.rt),
            project_id: ctx.project_id().to_owned(),
            room_id: room.id.clone(),
            vendor: vendor.name().to_owned(),
            vendor_recording_id: None,
            status: RecordingStatus::Starting,
            output_uri,
            layout: layout.clone(),
            audio_only,
            metadata: metadata.clone(),
            error: None,
            files: Vec::new(),
            started_at_ms: now as i64,
            ended_at_ms: None,
        };
        let recording = start_once(ctx, vendor, &room, &spec, record).await?;
        Ok(Reply::created(recording.to_json()))
    })
    .await
}

/// An active vendor recording of the room that none of our records claims.
async fn orphaned_vendor_recording(ctx: &Ctx<'_>, vendor: &dyn Vendor, room: &Room) -> ApiResult<Option<RecordingState>> {
    let active = routing::observe(ctx.app, ctx.rt, vendor.name(), vendor.active_recordings(ctx.rt, &room.id).await)
        .await
        .map_err(|e| e.to_api_error())?;
    let known = recordings::known_vendor_ids(ctx.rt, &room.id).await?;
    Ok(active.into_iter().find(|s| !known.contains(&s.vendor_recording_id)))
}

async fn start_once(ctx: &Ctx<'_>, vendor: &dyn Vendor, room: &Room, spec: &RecordingSpec, fresh: Recording) -> ApiResult<Recording> {
    let rt = ctx.rt;
    // A previous start timed out: adopt what it began rather than start a second recording.
    let unconfirmed = recordings::unconfirmed(rt, &room.id).await?;
    if let Some(mut earlier) = unconfirmed.first().cloned() {
        if let Some(state) = orphaned_vendor_recording(ctx, vendor, room).await? {
            earlier.apply(&state);
            recordings::save_state(rt, &earlier).await?;
            return Ok(earlier);
        }
        // The vendor never began them: close them out so they are not adopted later.
        for mut lost in unconfirmed {
            lost.status = RecordingStatus::Failed;
            lost.error = Some("the vendor never confirmed this start".to_owned());
            lost.ended_at_ms = Some(rt.now_ms() as i64);
            recordings::save_state(rt, &lost).await?;
        }
    }
    let mut record = fresh;
    recordings::insert(rt, &record).await?;
    let result = routing::observe(ctx.app, rt, vendor.name(), vendor.start_recording(rt, spec).await).await;
    match result {
        Ok(state) => {
            record.apply(&state);
            recordings::save_state(rt, &record).await?;
            Ok(record)
        }
        Err(e) if e.failure == VendorFailure::Timeout => {
            // Ask once more now; if the vendor is still silent the record stays unconfirmed
            // and the client's retry will adopt the recording.
            if let Ok(Some(state)) = orphaned_vendor_recording(ctx, vendor, room).await {
                record.apply(&state);
                recordings::save_state(rt, &record).await?;
                return Ok(record);
            }
            Err(e.to_api_error().with_detail("recording", record.id.as_str()))
        }
        Err(e) => {
            recordings::remove(rt, &record.id).await?;
            Err(e.to_api_error())
        }
    }
}

async fn load_recording(ctx: &Ctx<'_>) -> ApiResult<Recording> {
    let id = ctx.param(0);
    recordings::find(ctx.rt, ctx.project_id(), id).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::RecordingNotFound, format!("no recording '{id}' in this project")).with_detail("recording", id)
    })
}

fn recording_vendor<'a>(ctx: &Ctx<'a>, r: &Recording, capability: Capability) -> ApiResult<&'a dyn Vendor> {
    routing::for_room(ctx.app, &r.vendor, None, capability)
}

pub async fn stop(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let body = Body::parse(&ctx.req.body)?;
    body.finish()?;
    let mut rec = load_recording(ctx).await?;
    if rec.status.is_final() {
        return Ok(Reply::ok(rec.to_json()));
    }
    let vendor = recording_vendor(ctx, &rec, Capability::RecordingStop)?;
    let Some(vendor_id) = rec.vendor_recording_id.clone() else {
        return Err(ApiError::new(
            ErrorCode::RecordingUnconfirmed,
            "the vendor has not confirmed this recording's start yet; retry the start, or this call shortly",
        )
        .with_header("Retry-After", "1"));
    };
    let state = routing::observe(ctx.app, ctx.rt, vendor.name(), vendor.stop_recording(ctx.rt, &vendor_id).await)
        .await
        .map_err(|e| match e.failure {
            VendorFailure::NotFound => ApiError::new(
                ErrorCode::RecordingNotFound,
                format!("{} no longer knows recording '{}'", e.vendor, rec.id),
            )
            .with_detail("recording", rec.id.as_str()),
            _ => e.to_api_error(),
        })?;
    rec.apply(&state);
    recordings::save_state(ctx.rt, &rec).await?;
    Ok(Reply::ok(rec.to_json()))
}

/// The stored recording, refreshed from the vendor while it runs. If the vendor cannot say,
/// the stored state is the answer with `live: false` (as for rooms).
pub async fn get(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut rec = load_recording(ctx).await?;
    let mut live = true;
    if let (false, Some(vendor_id)) = (rec.status.is_final(), rec.vendor_recording_id.clone()) {
        let vendor = recording_vendor(ctx, &rec, Capability::RecordingStart)?;
        let state =
            routing::observe(ctx.app, ctx.rt, vendor.name(), vendor.recording_state(ctx.rt, &rec.room_id, &vendor_id).await).await;
        match state {
            Ok(state) => {
                rec.apply(&state);
                recordings::save_state(ctx.rt, &rec).await?;
            }
            Err(e) => {
                crate::log::warn(&format!("state of {} from {}: {:?} {}", rec.id, e.vendor, e.failure, e.summary));
                live = false;
            }
        }
    }
    let mut body = rec.to_json();
    body["live"] = json!(live);
    Ok(Reply::ok(body))
}

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let q = paging::parse(ctx.req, &["room"])?;
    // A room id filters even after the room was deleted (its recordings remain); a name
    // must name a live room.
    let room_id = match q.rest.iter().find(|(k, _)| k == "room") {
        Some((_, r)) if super::rooms::looks_like_room_id(r) => Some(r.clone()),
        Some((_, r)) => Some(load(ctx, r).await?.id),
        None => None,
    };
    let after = q.after.map(|(ms, id)| Cursor { started_at_ms: ms, id });
    let (items, more) = recordings::page(ctx.rt, ctx.project_id(), room_id.as_deref(), after.as_ref(), q.limit).await?;
    let next_cursor = if more { items.last().map(|r| paging::encode_cursor(r.started_at_ms, &r.id)) } else { None };
    Ok(Reply::ok(json!({ "items": items.iter().map(Recording::to_json).collect::<Vec<_>>(), "next_cursor": next_cursor })))
}

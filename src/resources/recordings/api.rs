//! `rtc.recording.*`: composite recordings of a room, started and stopped at its vendor. What
//! a start whose answer was lost means, and how it is settled, is `service`'s story.

use serde_json::{json, Value};

use super::service::{self, load_recording, recording_vendor, refresh, settle, unconfirmed_error, NewRecording, SCOPE};
use crate::api::body::Body;
use crate::api::paging;
use crate::api::{Ctx, Reply};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency;
use crate::resources::rooms::directory::RoomDirectory;
use crate::store::recordings::{self, Recording};
use crate::vendors::routing;
use crate::vendors::{Capability, VendorFailure};

const LAYOUTS: [&str; 3] = ["grid", "speaker", "single-speaker"];

pub async fn start(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    let request = idempotency::fingerprint_without_key(&ctx.req.body);
    let room_ref = body.required_str("room", 256)?;
    let layout = body.optional_str("layout", 32)?.unwrap_or_else(|| "grid".to_owned());
    let audio_only = body.optional_bool("audio_only")?.unwrap_or(false);
    let output_uri = body.optional_str("output_uri", 1024)?;
    let pin = body.optional_str("vendor", 32)?;
    let metadata = body.optional_object("metadata", 16 * 1024)?.map(|m| Value::Object(m).to_string());
    let key = idempotency::key(ctx, body.optional_str("idempotency_key", 255)?)?;
    body.finish()?;
    if !LAYOUTS.contains(&layout.as_str()) {
        return Err(ApiError::invalid_field("layout", format!("'layout' must be one of {}", LAYOUTS.join(", "))));
    }

    let new = NewRecording { room_ref, layout, audio_only, output_uri, pin, metadata };
    // The key comes first: a retry gets the first response even if the room is gone since.
    idempotency::once(ctx, SCOPE, key, &request, || async {
        let recording = service::start(ctx, &new, &request).await?;
        Ok(Reply::created(recording.to_json()))
    })
    .await
}

pub async fn stop(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    Body::parse(&ctx.req.body)?.finish()?;
    let rec = load_recording(ctx).await?;
    if rec.status.is_final() {
        return Ok(Reply::ok(rec.to_json()));
    }
    let vendor = recording_vendor(ctx, &rec, Capability::RecordingStop)?;
    let mut rec = settle(ctx.app, ctx.rt, vendor, rec).await?.map_err(|e| e.to_api_error())?;
    let Some(vendor_id) = rec.vendor_recording_id.clone() else {
        return if rec.status.is_final() { Ok(Reply::ok(rec.to_json())) } else { Err(unconfirmed_error(&rec)) };
    };
    if rec.status.is_final() {
        return Ok(Reply::ok(rec.to_json()));
    }
    let state =
        routing::observe(&ctx.app.vendors, ctx.rt, vendor.name(), vendor.stop_recording(ctx.rt, &vendor_id).await)
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
    if !rec.status.is_final() {
        let vendor = recording_vendor(ctx, &rec, Capability::RecordingStart)?;
        match refresh(ctx, vendor, rec.clone()).await? {
            Ok(fresh) => rec = fresh,
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
        Some((_, r)) => Some(RoomDirectory::of(ctx).filter_id(r).await?),
        None => None,
    };
    let (items, more) =
        recordings::page(ctx.rt, ctx.project_id(), room_id.as_deref(), q.after.as_ref(), q.limit).await?;
    let next_cursor = if more { items.last().map(|r| paging::encode_cursor(r.started_at_ms, &r.id)) } else { None };
    Ok(Reply::ok(
        json!({ "items": items.iter().map(Recording::to_json).collect::<Vec<_>>(), "next_cursor": next_cursor }),
    ))
}

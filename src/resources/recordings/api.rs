//! `rtc.recording.*`: composite recordings of a room, started and stopped at its vendor.
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

use crate::api::body::Body;
use crate::api::paging;
use crate::api::{App, Ctx, Reply};
use crate::domain::ids;
use crate::domain::limits::Quota;
use crate::domain::recording::{RecordingSpec, RecordingState, RecordingStatus};
use crate::domain::recording_destination::PathNames;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency;
use crate::resources::recordings::spec;
use crate::resources::rooms::directory::RoomDirectory;
use crate::resources::rooms::service::vendor_of;
use crate::resources::storage;
use crate::runtime::Runtime;
use crate::store::idempotency::fingerprint;
use crate::store::recordings::{self, Recording};
use crate::vendors::routing;
use crate::vendors::{Capability, Vendor, VendorError, VendorFailure};

const LAYOUTS: [&str; 3] = ["grid", "speaker", "single-speaker"];
const SCOPE: &str = "rtc.recording.start";

/// How long after a start whose answer never reached its client a retry of the same request
/// still means "that start" (and gets its recording). Later, the same body is a new start.
pub const ADOPTION_WINDOW_MS: u64 = 15 * 60 * 1000;

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

    // The key comes first: a retry gets the first response even if the room is gone since.
    idempotency::once(ctx, SCOPE, key, &request, || async {
        let room = RoomDirectory::of(ctx).find(&room_ref).await?;
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
                return Ok(Reply::created(earlier.to_json()));
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
        let spec = spec::for_new(ctx, vendor, &record.id, &room.id, &layout, audio_only, destination).await?;
        let work = start_once(ctx.app.clone(), ctx.rt.clone(), vendor.name(), spec, record);
        let recording = ctx
            .rt
            .finish_even_if_cancelled(work)
            .await
            .ok_or_else(|| ApiError::internal("a recording start was dropped before it finished"))??;
        // The answer is on its way to the client: a retry no longer adopts this start.
        recordings::set_answer_lost(ctx.rt, &recording.id, false).await?;
        Ok(Reply::created(recording.to_json()))
    })
    .await
}

/// Records the start, asks the vendor, and records its answer. Owns everything it touches,
/// because it runs to the end even if the request that began it is cancelled.
async fn start_once(
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
type Vendored<T> = ApiResult<Result<T, VendorError>>;

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
async fn settle(app: &App, rt: &Runtime, vendor: &dyn Vendor, mut rec: Recording) -> Vendored<Recording> {
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

fn unconfirmed_error(rec: &Recording) -> ApiError {
    ApiError::new(
        ErrorCode::RecordingUnconfirmed,
        "the vendor has not confirmed this recording's start yet; retry shortly",
    )
    .with_detail("recording", rec.id.as_str())
    .with_header("Retry-After", "1")
}

async fn load_recording(ctx: &Ctx<'_>) -> ApiResult<Recording> {
    let id = ctx.param(0);
    recordings::find(ctx.rt, ctx.project_id(), id).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::RecordingNotFound, format!("no recording '{id}' in this project"))
            .with_detail("recording", id)
    })
}

fn recording_vendor<'a>(ctx: &Ctx<'a>, r: &Recording, capability: Capability) -> ApiResult<&'a dyn Vendor> {
    routing::for_room(&ctx.app.vendors, &r.vendor, None, capability)
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

async fn refresh(ctx: &Ctx<'_>, vendor: &dyn Vendor, rec: Recording) -> Vendored<Recording> {
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

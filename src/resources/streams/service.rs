//! Live stream decisions: starting one at the room's vendor, changing its outputs, following
//! what the vendor says, and laying the room out again as publishers come and go.
//!
//! A start has the guarantees of a recording start (`recordings::service`): the record is
//! written first and stays "unanswered" until its answer reaches the client; the vendor call
//! and the bookkeeping after it run to the end even if the client goes away; and a retry of
//! the same request within `ADOPTION_WINDOW_MS` gets that record instead of a second stream,
//! once the vendor shows it. Agora and ZEGO name a stream by our id (converter name, mix
//! task id), so a lost start is simply asked again; LiveKit mints a new egress per call, so
//! its lost start is searched among the room's running egresses by the URLs it pushes to.
//!
//! Ingest URLs carry stream keys: they are sealed before they are stored, opened only to
//! build a vendor call, and shown (and logged) only masked.
//!
//! On a vendor that does not lay its streams out itself (Agora, ZEGO), the layout wanted (the
//! stored publishers, with the stream's sequence number) is recorded apart from the layout the
//! vendor accepted (`layout_sent_seq`): a send the vendor refused, or one that never ran because
//! the isolate stopped after a webhook's answer, is sent again by the next publisher event or by
//! the scheduled job's sweep (`sweep_layouts`).

use std::rc::Rc;

use serde_json::{json, Value};

use crate::api::{App, Ctx};
use crate::crypto::sealed::SealingKey;
use crate::domain::ids;
use crate::domain::limits::Quota;
use crate::domain::stream::{
    mask_url, publishers, regions, reported_output, Canvas, Layout, OutputStatus, OutputTarget, StreamJob,
    StreamNotice, StreamSpec, StreamState, StreamStatus, MAX_OUTPUTS, MISSING_GRACE_MS,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::recordings::service::{Vendored, ADOPTION_WINDOW_MS};
use crate::resources::rooms::directory::RoomDirectory;
use crate::resources::rooms::service::vendor_of;
use crate::resources::webhooks::fanout::fan_out;
use crate::runtime::Runtime;
use crate::store::events::{self as event_store, Event, Pending};
use crate::store::idempotency::fingerprint;
use crate::store::rooms;
use crate::store::streams::{self, StoredOutput, Stream};
use crate::vendors::routing;
use crate::vendors::{Capability, Vendor, VendorFailure};

/// The idempotency scope of a start (and of its request hash).
pub(crate) const SCOPE: &str = "rtc.stream.start";
/// How many of a room's newest presence and publishing events say who publishes now.
const INPUT_EVENTS: u32 = 500;
/// How often what a vendor said is folded into a freshly read stream (`save_folded`) before a
/// notice is left to the vendor's redelivery (and a read to the next read).
const SAVE_ATTEMPTS: usize = 3;
/// When the events' redo sweep may fan out a stream event this isolate did not.
const REDO_AFTER_MS: u64 = 60_000;
/// Running streams one `sweep_layouts` call checks at most: one events read and one claim
/// each, and at most one layout sent each (one update per converter on Agora, whose documented
/// rate is 2 updates per second per converter; one `StartMix` on ZEGO).
pub const LAYOUT_CHECKS_PER_RUN: u32 = 20;

/// A validated start request (URLs already checked by `stream::parse_ingest_url`).
pub(crate) struct NewStream {
    pub room_ref: String,
    pub layout: Layout,
    pub audio_only: bool,
    pub video: Canvas,
    pub urls: Vec<String>,
}

fn sealing_key(app: &App) -> ApiResult<&SealingKey> {
    app.settings.encryption_key.require("live streams (their ingest URLs carry stream keys)")
}

/// Starts a stream of the room `new` names, or answers with this request's earlier start
/// whose answer was lost (`request` is the request body without its idempotency key).
pub(crate) async fn start(ctx: &Ctx<'_>, new: &NewStream, request: &Value) -> ApiResult<Stream> {
    let key = sealing_key(ctx.app)?;
    let room = RoomDirectory::of(ctx).find(&new.room_ref).await?;
    let vendor = vendor_of(ctx, &room, None, Capability::StreamStart)?;
    let request_hash = fingerprint(SCOPE, &json!([ctx.project_id(), room.id, request]));

    // This request's earlier start never got its answer to the client: that record is the
    // answer now, once the vendor has confirmed it, rather than a second stream.
    let since = ctx.rt.now_ms().saturating_sub(ADOPTION_WINDOW_MS) as i64;
    let (earlier, too_old): (Vec<_>, Vec<_>) = streams::unanswered(ctx.rt, ctx.project_id(), &request_hash)
        .await?
        .into_iter()
        .partition(|s| s.started_at_ms >= since);
    for old in too_old {
        if settle(ctx.app, ctx.rt, vendor, old.clone()).await?.is_ok() {
            streams::set_answer_lost(ctx.rt, &old, false).await?;
        }
    }
    if let Some(earlier) = earlier.into_iter().next() {
        let earlier = settle(ctx.app, ctx.rt, vendor, earlier).await?.map_err(|e| e.to_api_error())?;
        if earlier.vendor_stream_id.is_none() && earlier.status == StreamStatus::Starting {
            return Err(unconfirmed_error(&earlier));
        }
        streams::set_answer_lost(ctx.rt, &earlier, false).await?;
        if earlier.vendor_stream_id.is_some() {
            return Ok(earlier);
        }
        // It never started (now marked failed): start afresh below.
    }

    let id = ids::random_id(ctx.rt, "str_", 22);
    let outputs = new
        .urls
        .iter()
        .enumerate()
        .map(|(i, url)| StoredOutput {
            output: format!("o{}", i + 1),
            url_sealed: key.seal(ctx.rt.entropy.as_ref(), ctx.project_id(), url.as_bytes()),
            url_masked: mask_url(url),
            status: OutputStatus::Starting,
            error: None,
            vendor_ref: None,
            missing_since_ms: None,
        })
        .collect();
    let inputs = if vendor.composes_streams_itself() {
        Vec::new()
    } else {
        current_publishers(ctx.rt, vendor, ctx.project_id(), &room.id).await?
    };
    let record = Stream {
        id,
        project_id: ctx.project_id().to_owned(),
        room_id: room.id.clone(),
        vendor: vendor.name().to_owned(),
        vendor_stream_id: None,
        status: StreamStatus::Starting,
        layout: new.layout.as_str().to_owned(),
        audio_only: new.audio_only,
        video: new.video,
        outputs,
        publishers: inputs,
        seq: 1,
        layout_sent_seq: 0,
        // The scheduled job checks the layouts rtcgate makes; its turn comes after the others'.
        layout_swept_at_ms: (!vendor.composes_streams_itself()).then(|| ctx.rt.now_ms() as i64),
        state_version: 0,
        request_hash,
        error: None,
        started_at_ms: ctx.rt.now_ms() as i64,
        ended_at_ms: None,
    };
    let spec = spec_of(ctx.app, vendor, &record)?;
    let work = start_once(ctx.app.clone(), ctx.rt.clone(), vendor.name(), spec, record);
    let stream = ctx
        .rt
        .finish_even_if_cancelled(work)
        .await
        .ok_or_else(|| ApiError::internal("a stream start was dropped before it finished"))??;
    // The answer is on its way to the client: a retry no longer adopts this start.
    streams::set_answer_lost(ctx.rt, &stream, false).await?;
    Ok(stream)
}

/// Records the start, asks the vendor, and records its answer. Owns everything it touches,
/// because it runs to the end even if the request that began it is cancelled.
async fn start_once(
    app: Rc<App>,
    rt: Runtime,
    vendor: &'static str,
    spec: StreamSpec,
    mut record: Stream,
) -> ApiResult<Stream> {
    let (app, rt) = (app.as_ref(), &rt);
    let vendor = routing::for_room(&app.vendors, vendor, None, Capability::StreamStart)?;
    streams::insert(rt, &record, app.settings.limits.quota(Quota::Streams)).await?;
    let before = record.clone();
    match routing::observe(&app.vendors, rt, vendor.name(), vendor.start_stream(rt, &spec).await).await {
        Ok(state) => {
            apply(&mut record, &state, rt.now_ms());
            save_and_announce(rt, &before, &record).await?;
            layout_taken(rt, vendor, &record, 0).await;
            Ok(record)
        }
        // No usable answer: the vendor may or may not have acted. Ask once more now; if it
        // still cannot say, the record stays unconfirmed and a retry (or get/stop) settles it.
        Err(e) if e.is_outage() => {
            match confirm(app, rt, vendor, &record, &spec).await? {
                // The start sent again with the same spec (or the stream it made): its layout.
                Ok(Confirmation::Found(state)) => {
                    apply(&mut record, &state, rt.now_ms());
                    save_and_announce(rt, &before, &record).await?;
                    layout_taken(rt, vendor, &record, 0).await;
                    return Ok(record);
                }
                Ok(Confirmation::NeverStarted) => {
                    streams::remove(rt, &record).await?;
                    return Err(e.to_api_error());
                }
                _ => {}
            }
            Err(e.to_api_error().with_detail("stream", record.id.as_str()))
        }
        Err(e) => {
            streams::remove(rt, &record).await?;
            Err(e.to_api_error())
        }
    }
}

/// What the vendor says about a record whose start answer was lost.
enum Confirmation {
    Found(StreamState),
    /// Not there yet; the lost call may still be acted on.
    NotYet,
    /// Not there, and the vendor has had time (or refuses the start as a request).
    NeverStarted,
}

async fn confirm(
    app: &App,
    rt: &Runtime,
    vendor: &dyn Vendor,
    rec: &Stream,
    spec: &StreamSpec,
) -> Vendored<Confirmation> {
    if vendor.stream_starts_are_idempotent() {
        let again = routing::observe(&app.vendors, rt, vendor.name(), vendor.start_stream(rt, spec).await).await;
        return Ok(match again {
            Ok(state) => Ok(Confirmation::Found(state)),
            Err(e) if matches!(e.failure, VendorFailure::Rejected | VendorFailure::NotFound) => {
                Ok(Confirmation::NeverStarted)
            }
            Err(e) => Err(e),
        });
    }
    let found = routing::observe(&app.vendors, rt, vendor.name(), vendor.find_streams(rt, spec).await).await;
    let found = match found {
        Ok(found) => found,
        Err(e) => return Ok(Err(e)),
    };
    let known = streams::known_vendor_ids(rt, &rec.project_id, &rec.room_id).await?;
    let found = found.into_iter().find(|s| !known.contains(&s.vendor_stream_id));
    Ok(Ok(match found {
        Some(state) => Confirmation::Found(state),
        None if rt.now_ms() as i64 - rec.started_at_ms >= app.settings.confirm_grace_ms() as i64 => {
            Confirmation::NeverStarted
        }
        None => Confirmation::NotYet,
    }))
}

/// Brings an unconfirmed record up to date with the vendor (a confirmed one is returned as is).
async fn settle(app: &App, rt: &Runtime, vendor: &dyn Vendor, mut rec: Stream) -> Vendored<Stream> {
    if rec.vendor_stream_id.is_some() || rec.status.is_final() {
        return Ok(Ok(rec));
    }
    let before = rec.clone();
    let spec = spec_of(app, vendor, &rec)?;
    match confirm(app, rt, vendor, &rec, &spec).await? {
        Err(e) => return Ok(Err(e)),
        Ok(Confirmation::Found(state)) => apply(&mut rec, &state, rt.now_ms()),
        Ok(Confirmation::NotYet) => return Ok(Ok(rec)),
        Ok(Confirmation::NeverStarted) => {
            rec.status = StreamStatus::Failed;
            rec.error = Some("the vendor never started this stream (its start call timed out)".to_owned());
            rec.ended_at_ms = Some(rt.now_ms() as i64);
        }
    }
    save_and_announce(rt, &before, &rec).await?;
    Ok(Ok(rec))
}

/// Folds what the vendor reports into the record. A final status stays final, and an output
/// only moves forward: a read that crossed a notification (or a stop deleting a converter that
/// had failed) does not undo what the vendor already said. An output whose job the vendor says
/// it does not have ends only once that has held for `MISSING_GRACE_MS` (a job moving servers
/// is missing for a while); until then it keeps its status, and so does the stream.
fn apply(rec: &mut Stream, state: &StreamState, now_ms: u64) {
    rec.vendor_stream_id = Some(state.vendor_stream_id.clone());
    if state.error.is_some() {
        rec.error = state.error.clone();
    }
    let mut held = false;
    for reported in &state.outputs {
        if let Some(o) = rec.outputs.iter_mut().find(|o| o.output == reported.output) {
            if !reported.missing {
                o.missing_since_ms = None;
            } else if o.status.is_final() {
                continue;
            } else {
                let since = *o.missing_since_ms.get_or_insert(now_ms as i64);
                if (now_ms as i64) - since < MISSING_GRACE_MS {
                    held = true;
                    continue;
                }
            }
            if reported.status.is_ahead_of(o.status) {
                o.status = reported.status;
                o.error = reported.error.clone().or(o.error.take());
            }
            if reported.vendor_ref.is_some() {
                o.vendor_ref = reported.vendor_ref.clone();
            }
        }
    }
    if !rec.status.is_final() {
        rec.status = match state.status {
            // The vendor's status counted a held output as over: the outputs as kept say.
            status if held && status.is_final() => {
                let kept: Vec<OutputStatus> = rec.outputs.iter().map(|o| o.status).collect();
                StreamStatus::of_outputs(&kept).unwrap_or(rec.status)
            }
            status => status,
        };
    }
    if rec.status.is_final() {
        finish(rec, now_ms);
    }
}

/// Saves the record and puts what changed since `before` on the project's event stream:
/// `stream.started` once the vendor has the stream, `stream.output_failed` per output that
/// failed, `stream.ended` once it is over. Each at most once per stream (and output).
async fn save_and_announce(rt: &Runtime, before: &Stream, after: &Stream) -> ApiResult<()> {
    streams::save_state(rt, before, after).await?;
    announce_changes(rt, before, after).await
}

/// What `save_folded` came to.
enum Folded {
    /// Saved (and announced), or nothing to save.
    Saved(Stream),
    /// The record is no longer stored: as it was last read.
    Gone(Stream),
    /// Saved by someone else each time first: the record as last read.
    Raced(Stream),
}

/// Folds what the vendor said (`fold`) into `rec` and saves it, only if the record was not saved
/// since it was read (a notification, a read, a stop, an update); else folds it into the record
/// as saved and tries again. Since folds only move forward, an older view never undoes a newer
/// state. Notices about two outputs of one stream come at once, to two isolates, and a read can
/// cross a notice.
async fn save_folded(
    rt: &Runtime,
    mut rec: Stream,
    mut fold: impl FnMut(&mut Stream) -> ApiResult<()>,
) -> ApiResult<Folded> {
    for _ in 0..SAVE_ATTEMPTS {
        let mut after = rec.clone();
        fold(&mut after)?;
        if after == rec {
            return Ok(Folded::Saved(rec));
        }
        if streams::save_state_if_unchanged(rt, &rec, &after).await? {
            announce_changes(rt, &rec, &after).await?;
            return Ok(Folded::Saved(after));
        }
        let Some(now) = streams::find(rt, &rec.project_id, &rec.id).await? else { return Ok(Folded::Gone(rec)) };
        rec = now;
    }
    Ok(Folded::Raced(rec))
}

/// `save_folded` for what a read of the vendor found: the record as saved (or as last read).
async fn save_read(rt: &Runtime, rec: Stream, fold: impl Fn(&mut Stream)) -> ApiResult<Stream> {
    let folded = save_folded(rt, rec, |r| {
        fold(r);
        Ok(())
    })
    .await?;
    let (Folded::Saved(rec) | Folded::Raced(rec) | Folded::Gone(rec)) = folded;
    Ok(rec)
}

/// Puts what changed from `before` to `after` (saved) on the project's event stream.
async fn announce_changes(rt: &Runtime, before: &Stream, after: &Stream) -> ApiResult<()> {
    let started = before.vendor_stream_id.is_none() && after.vendor_stream_id.is_some();
    if started {
        let outputs: Vec<Value> =
            after.outputs.iter().map(|o| json!({"output": o.output, "url": o.url_masked})).collect();
        let data = json!({"stream": after.id, "status": after.status.as_str(), "outputs": outputs});
        announce(rt, after, "stream.started", format!("stream.started:{}", after.id), data).await?;
    }
    for o in &after.outputs {
        let was_failed = before.outputs.iter().any(|b| b.output == o.output && b.status == OutputStatus::Failed);
        if o.status == OutputStatus::Failed && !was_failed {
            let data = json!({"stream": after.id, "output": o.output, "url": o.url_masked, "error": o.error});
            let dedupe = format!("stream.output_failed:{}:{}", after.id, o.output);
            announce(rt, after, "stream.output_failed", dedupe, data).await?;
        }
    }
    if after.status.is_final() && !before.status.is_final() {
        let data = json!({"stream": after.id, "status": after.status.as_str(), "error": after.error});
        announce(rt, after, "stream.ended", format!("stream.ended:{}", after.id), data).await?;
    }
    Ok(())
}

/// Stores one stream event (once per `dedupe_key`) and fans it out to the project's webhooks;
/// if the fan-out fails, the events' redo sweep finishes it.
async fn announce(rt: &Runtime, s: &Stream, kind: &str, dedupe_key: String, data: Value) -> ApiResult<()> {
    let now = rt.now_ms() as i64;
    let event = Event {
        id: ids::random_id(rt, "evt_", 22),
        project_id: Some(s.project_id.clone()),
        room_id: Some(s.room_id.clone()),
        vendor: s.vendor.clone(),
        vendor_room: s.room_id.clone(),
        kind: kind.to_owned(),
        identity: None,
        seq: 0,
        occurred_at_ms: now,
        received_at_ms: now,
        data: data.to_string(),
    };
    // No effects but the fan-out: the redo sweep reads "{}" as none.
    let pending = Pending { effects: "{}".to_owned(), due_at_ms: now + REDO_AFTER_MS as i64 };
    if let Some(event) = event_store::insert_once(rt, &event, &dedupe_key, Some(&pending)).await? {
        match fan_out(rt, &event).await {
            Ok(()) => event_store::effects_done(rt, &event.id).await?,
            Err(e) => crate::log::warn(&format!("fanning out a stream event (a redo will): {}", e.log_text())),
        }
    }
    Ok(())
}

/// Who publishes in the room now, as the vendor's stored events say, in the order they began.
async fn current_publishers(
    rt: &Runtime,
    vendor: &dyn Vendor,
    project_id: &str,
    room_id: &str,
) -> ApiResult<Vec<String>> {
    let events = streams::input_events(rt, vendor.name(), project_id, room_id, INPUT_EVENTS).await?;
    Ok(publishers(events.iter().filter_map(|(kind, data)| vendor.stream_input(kind, data))))
}

/// What the vendor is asked for the record as it is: its outputs still pushing, their URLs
/// opened, and the layout for its publishers.
fn spec_of(app: &App, vendor: &dyn Vendor, rec: &Stream) -> ApiResult<StreamSpec> {
    let live: Vec<&StoredOutput> = rec.outputs.iter().filter(|o| o.status != OutputStatus::Ended).collect();
    spec_with(app, vendor, rec, &live)
}

fn spec_with(app: &App, vendor: &dyn Vendor, rec: &Stream, outputs: &[&StoredOutput]) -> ApiResult<StreamSpec> {
    let layout = Layout::parse(&rec.layout).unwrap_or(Layout::Grid);
    let regions =
        if vendor.composes_streams_itself() { Vec::new() } else { regions(layout, rec.video, &rec.publishers) };
    Ok(StreamSpec {
        stream_id: rec.id.clone(),
        room_id: rec.room_id.clone(),
        layout,
        audio_only: rec.audio_only,
        canvas: rec.video,
        outputs: outputs.iter().map(|o| target(app, rec, o)).collect::<ApiResult<_>>()?,
        regions,
        seq: rec.seq.max(1) as u64,
    })
}

fn target(app: &App, rec: &Stream, o: &StoredOutput) -> ApiResult<OutputTarget> {
    let url = sealing_key(app)?
        .open(&rec.project_id, &o.url_sealed)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            ApiError::internal(format!("the ingest URL of {} output {} cannot be opened", rec.id, o.output))
        })?;
    Ok(OutputTarget { output: o.output.clone(), url, vendor_ref: o.vendor_ref.clone() })
}

pub(crate) fn unconfirmed_error(s: &Stream) -> ApiError {
    ApiError::new(ErrorCode::StreamUnconfirmed, "the vendor has not confirmed this stream's start yet; retry shortly")
        .with_detail("stream", s.id.as_str())
        .with_header("Retry-After", "1")
}

pub(crate) async fn load(ctx: &Ctx<'_>) -> ApiResult<Stream> {
    let id = ctx.param(0);
    streams::find(ctx.rt, ctx.project_id(), id).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::StreamNotFound, format!("no stream '{id}' in this project")).with_detail("stream", id)
    })
}

fn stream_vendor<'a>(ctx: &Ctx<'a>, s: &Stream) -> ApiResult<&'a dyn Vendor> {
    routing::for_room(&ctx.app.vendors, &s.vendor, None, Capability::StreamStart)
}

/// A running stream, confirmed at its vendor (or why it cannot be acted on).
async fn confirmed(ctx: &Ctx<'_>, vendor: &dyn Vendor, rec: Stream) -> ApiResult<Stream> {
    let rec = settle(ctx.app, ctx.rt, vendor, rec).await?.map_err(|e| e.to_api_error())?;
    if rec.vendor_stream_id.is_none() && !rec.status.is_final() {
        return Err(unconfirmed_error(&rec));
    }
    Ok(rec)
}

/// `422 STREAM_OUTPUTS_REFUSED`: a well-formed output change this stream cannot take.
fn outputs_refused(field: &str, why: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::StreamOutputsRefused, why).with_detail("field", field)
}

fn ended_error(s: &Stream) -> ApiError {
    ApiError::new(ErrorCode::StreamEnded, format!("stream '{}' has ended; start another", s.id))
        .with_detail("stream", s.id.as_str())
}

/// Adds `add` (checked URLs) and removes `remove` (output ids) of a running stream.
pub(crate) async fn update(ctx: &Ctx<'_>, add: &[String], remove: &[String]) -> ApiResult<Stream> {
    let key = sealing_key(ctx.app)?;
    let rec = load(ctx).await?;
    if rec.status.is_final() {
        return Err(ended_error(&rec));
    }
    let vendor = stream_vendor(ctx, &rec)?;
    let mut rec = confirmed(ctx, vendor, rec).await?;
    if rec.status.is_final() {
        return Err(ended_error(&rec));
    }
    let live: Vec<&StoredOutput> = rec.outputs.iter().filter(|o| o.status != OutputStatus::Ended).collect();
    if let Some(unknown) = remove.iter().find(|id| !live.iter().any(|o| &o.output == *id)) {
        return Err(outputs_refused(
            "remove_outputs",
            format!("'remove_outputs' names '{unknown}', which is not a running output of this stream"),
        ));
    }
    let kept: Vec<&StoredOutput> = live.iter().copied().filter(|o| !remove.contains(&o.output)).collect();
    if kept.len() + add.len() > MAX_OUTPUTS {
        return Err(outputs_refused("add_outputs", format!("a stream pushes to at most {MAX_OUTPUTS} outputs")));
    }
    if kept.len() + add.len() == 0 {
        return Err(outputs_refused("remove_outputs", "a stream keeps at least one output; stop it instead"));
    }
    let mut kept_targets = Vec::new();
    for o in &kept {
        kept_targets.push(target(ctx.app, &rec, o)?);
    }
    if let Some(dup) = add.iter().position(|url| kept_targets.iter().any(|t| &t.url == url)) {
        return Err(outputs_refused(&format!("add_outputs[{dup}].url"), "the stream already pushes to this URL"));
    }
    let removed: Vec<OutputTarget> = live
        .iter()
        .filter(|o| remove.contains(&o.output))
        .map(|o| target(ctx.app, &rec, o))
        .collect::<ApiResult<_>>()?;
    let next_number =
        rec.outputs.iter().filter_map(|o| o.output.strip_prefix('o')?.parse::<u32>().ok()).max().unwrap_or(0);
    let new_outputs: Vec<StoredOutput> = add
        .iter()
        .enumerate()
        .map(|(i, url)| StoredOutput {
            output: format!("o{}", next_number + 1 + i as u32),
            url_sealed: key.seal(ctx.rt.entropy.as_ref(), &rec.project_id, url.as_bytes()),
            url_masked: mask_url(url),
            status: OutputStatus::Starting,
            error: None,
            vendor_ref: None,
            missing_since_ms: None,
        })
        .collect();
    let added: Vec<OutputTarget> = new_outputs
        .iter()
        .zip(add)
        .map(|(o, url)| OutputTarget { output: o.output.clone(), url: url.clone(), vendor_ref: None })
        .collect();
    let prior_seq = rec.seq;
    rec.seq = streams::next_seq(ctx.rt, &rec).await?;
    let mut spec = spec_with(ctx.app, vendor, &rec, &[])?;
    spec.outputs = kept_targets.into_iter().chain(added.iter().cloned()).collect();
    let vendor_id = rec.vendor_stream_id.clone().unwrap_or_default();
    let state = routing::observe(
        &ctx.app.vendors,
        ctx.rt,
        vendor.name(),
        vendor.update_stream_outputs(ctx.rt, &vendor_id, &spec, &added, &removed).await,
    )
    .await
    .map_err(|e| match e.failure {
        // The vendor no longer has it: it ended there (a `get` records that).
        VendorFailure::NotFound => ended_error(&rec),
        _ => e.to_api_error(),
    })?;
    let before = rec.clone();
    rec.outputs.extend(new_outputs);
    for o in rec.outputs.iter_mut().filter(|o| remove.contains(&o.output)) {
        o.status = OutputStatus::Ended;
    }
    apply(&mut rec, &state, ctx.rt.now_ms());
    save_and_announce(ctx.rt, &before, &rec).await?;
    // The outputs kept the layout they had (new ones got it): one the vendor had stays had.
    layout_taken(ctx.rt, vendor, &rec, prior_seq).await;
    Ok(rec)
}

pub(crate) async fn stop(ctx: &Ctx<'_>) -> ApiResult<Stream> {
    let rec = load(ctx).await?;
    if rec.status.is_final() {
        return Ok(rec);
    }
    let vendor = stream_vendor(ctx, &rec)?;
    let mut rec = confirmed(ctx, vendor, rec).await?;
    if rec.status.is_final() {
        return Ok(rec);
    }
    let before = rec.clone();
    let spec = spec_of(ctx.app, vendor, &rec)?;
    let vendor_id = rec.vendor_stream_id.clone().unwrap_or_default();
    let stopped = vendor.stop_stream(ctx.rt, &vendor_id, &spec).await;
    match routing::observe(&ctx.app.vendors, ctx.rt, vendor.name(), stopped).await {
        Ok(state) => apply(&mut rec, &state, ctx.rt.now_ms()),
        // The vendor no longer has it: it is over.
        Err(e) if e.failure == VendorFailure::NotFound => {
            rec.status = StreamStatus::Ended;
            apply(
                &mut rec,
                &StreamState {
                    vendor_stream_id: vendor_id,
                    status: StreamStatus::Ended,
                    outputs: Vec::new(),
                    error: None,
                },
                ctx.rt.now_ms(),
            );
        }
        Err(e) => return Err(e.to_api_error()),
    }
    save_and_announce(ctx.rt, &before, &rec).await?;
    Ok(rec)
}

/// The stored stream, refreshed from the vendor while it runs; `Err` inside when the vendor
/// cannot say (the stored state is then the answer).
pub(crate) async fn refresh(ctx: &Ctx<'_>, rec: Stream) -> ApiResult<(Stream, bool)> {
    if rec.status.is_final() {
        return Ok((rec, true));
    }
    let vendor = stream_vendor(ctx, &rec)?;
    let rec = match settle(ctx.app, ctx.rt, vendor, rec.clone()).await? {
        Ok(rec) => rec,
        Err(e) => {
            crate::log::warn(&format!("state of {} from {}: {:?} {}", rec.id, e.vendor, e.failure, e.summary));
            return Ok((rec, false));
        }
    };
    let Some(vendor_id) = rec.vendor_stream_id.clone() else { return Ok((rec, true)) };
    if rec.status.is_final() {
        return Ok((rec, true));
    }
    let spec = spec_of(ctx.app, vendor, &rec)?;
    read_state(ctx.app, ctx.rt, vendor, rec, &vendor_id, &spec).await
}

/// Reads the state of the vendor's jobs in `spec` and folds it into `rec` (`apply`, `save_read`):
/// the record as saved, and `false` with `rec` as it was when the vendor cannot say (logged).
async fn read_state(
    app: &App,
    rt: &Runtime,
    vendor: &dyn Vendor,
    rec: Stream,
    vendor_id: &str,
    spec: &StreamSpec,
) -> ApiResult<(Stream, bool)> {
    let state = vendor.stream_state(rt, vendor_id, spec).await;
    match routing::observe(&app.vendors, rt, vendor.name(), state).await {
        Ok(state) => {
            let now_ms = rt.now_ms();
            Ok((save_read(rt, rec, |r| apply(r, &state, now_ms)).await?, true))
        }
        Err(e) => {
            crate::log::warn(&format!("state of {} from {}: {:?} {}", rec.id, e.vendor, e.failure, e.summary));
            Ok((rec, false))
        }
    }
}

/// Follows a vendor's notification about the job behind one of our streams (or one of its
/// outputs): the stream moves forward, never back, and says so on the event stream once.
/// Runs before the vendor is answered, so a failure here is a 5xx the vendor retries.
/// `false` when no stream of ours has that job (a LiveKit egress may be a recording's).
pub async fn follow_notice(app: &App, rt: &Runtime, notice: &StreamNotice) -> ApiResult<bool> {
    let found = match &notice.job {
        StreamJob::Stream { vendor_room, vendor_stream_id } => {
            match rooms::by_vendor_name(rt, notice.vendor, vendor_room).await? {
                Some(room) => {
                    streams::by_vendor_id(rt, &room.project_id, &room.id, vendor_stream_id).await?.map(|s| (s, None))
                }
                None => None,
            }
        }
        StreamJob::Output { stream, output, .. } => {
            streams::at_vendor(rt, notice.vendor, stream).await?.map(|s| (s, Some(output.clone())))
        }
        StreamJob::OutputRef(vendor_ref) => {
            streams::by_output_ref(rt, notice.vendor, vendor_ref).await?.map(|(s, output)| (s, Some(output)))
        }
    };
    let Some((rec, output)) = found else { return Ok(false) };
    if let Some(output) = &output {
        if !rec.outputs.iter().any(|o| &o.output == output) {
            return Ok(false);
        }
    }
    let folded = save_folded(rt, rec, |rec| {
        // A job pushing to every output reports each by its URL: ours are sealed, so open them.
        let live: Vec<OutputTarget> = if notice.pushes.is_empty() {
            Vec::new()
        } else {
            let outputs = rec.outputs.iter().filter(|o| o.status != OutputStatus::Ended);
            outputs.map(|o| target(app, rec, o)).collect::<ApiResult<_>>()?
        };
        follow(rec, notice, output.as_deref(), &live);
        Ok(())
    })
    .await?;
    match folded {
        Folded::Saved(_) => Ok(true),
        Folded::Gone(_) => Ok(false),
        // The vendor delivers the notice again on a 5xx.
        Folded::Raced(rec) => {
            Err(ApiError::new(ErrorCode::StorageUnavailable, "the stream changed under this notice too often; retry")
                .with_cause(format!("{} notice about {}: saving lost {SAVE_ATTEMPTS} races", notice.vendor, rec.id)))
        }
    }
}

/// Folds a notification into the record, only forward: a late or repeated notification
/// changes nothing, and a final stream stays as it ended.
fn follow(rec: &mut Stream, notice: &StreamNotice, output: Option<&str>, live: &[OutputTarget]) {
    if rec.status.is_final() {
        return;
    }
    for (i, push) in notice.pushes.iter().enumerate() {
        let Some(target) = reported_output(live, &notice.pushes, i) else { continue };
        if let Some(o) = rec.outputs.iter_mut().find(|o| o.output == target.output && push.status.is_ahead_of(o.status))
        {
            o.status = push.status;
            o.error = push.error.clone().or(o.error.take());
        }
    }
    if let StreamJob::Output { vendor_ref, .. } = &notice.job {
        if let Some(o) = rec.outputs.iter_mut().find(|o| Some(o.output.as_str()) == output) {
            o.vendor_ref.get_or_insert_with(|| vendor_ref.clone());
        }
    }
    if let (Some(output), Some(status)) = (output, notice.output_status) {
        if let Some(o) = rec.outputs.iter_mut().find(|o| o.output == output) {
            // The vendor speaking of a job that still runs has it: a miss before that is over
            // (a notice older than the miss, redelivered or late, says nothing of it).
            if !status.is_final() && o.missing_since_ms.is_some_and(|since| notice.occurred_at_ms as i64 >= since) {
                o.missing_since_ms = None;
            }
            if status.is_ahead_of(o.status) {
                o.status = status;
                o.error = notice.error.clone().or(o.error.take());
            }
        }
        let statuses: Vec<OutputStatus> = rec.outputs.iter().map(|o| o.status).collect();
        if let Some(derived) = StreamStatus::of_outputs(&statuses).filter(|d| d.is_ahead_of(rec.status)) {
            rec.status = derived;
        }
    }
    if let Some(status) = notice.status.filter(|s| s.is_ahead_of(rec.status)) {
        rec.status = status;
        if status == StreamStatus::Failed {
            rec.error = notice.error.clone().or(rec.error.take());
        }
    }
    if rec.status.is_final() {
        finish(rec, notice.occurred_at_ms);
    }
}

/// A stream over: when it ended, and every output that did not fail ended with it.
fn finish(rec: &mut Stream, at_ms: u64) {
    rec.ended_at_ms.get_or_insert(at_ms as i64);
    for o in rec.outputs.iter_mut().filter(|o| o.status != OutputStatus::Failed) {
        o.status = OutputStatus::Ended;
    }
}

/// A stored vendor event about the room of a stream: a publisher coming or going on a vendor
/// that does not lay rooms out lays each running stream of the room out again.
pub async fn follow_event(app: &App, rt: &Runtime, event: &Event) -> ApiResult<()> {
    let (Some(project_id), Some(room_id)) = (&event.project_id, &event.room_id) else { return Ok(()) };
    let Ok(vendor) = routing::for_room(&app.vendors, &event.vendor, None, Capability::StreamStart) else {
        return Ok(());
    };
    let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
    if vendor.composes_streams_itself() || vendor.stream_input(&event.kind, &data).is_none() {
        return Ok(());
    }
    let running = streams::running_in_room(rt, project_id, room_id).await?;
    if running.is_empty() {
        return Ok(());
    }
    let now = current_publishers(rt, vendor, project_id, room_id).await?;
    for rec in running {
        relayout(app, rt, vendor, rec, &now).await?;
    }
    Ok(())
}

/// What laying a stream out came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relayout {
    /// The vendor has the layout of who publishes now: nothing sent.
    UpToDate,
    /// The start is unconfirmed: the record follows who publishes, and the layout is sent once
    /// the start is confirmed (by the scheduled job).
    Unconfirmed,
    /// Another isolate changed the publishers first: it sends.
    Superseded,
    Sent,
    /// The vendor did not take it (logged): it is sent again later.
    Refused,
}

/// Sends `now` (who publishes) as the stream's layout unless the vendor has it already: the
/// stored publishers are `now` and the vendor accepted their sequence number. A layout to send
/// is stored first with the next sequence number (of two isolates handling two events at once,
/// one sends; the vendor keeps the highest), and marked sent once the vendor accepts it, so one
/// the vendor refused is sent again by the next publisher event or the scheduled job.
async fn relayout(
    app: &App,
    rt: &Runtime,
    vendor: &dyn Vendor,
    mut rec: Stream,
    now: &[String],
) -> ApiResult<Relayout> {
    if rec.publishers == now && rec.layout_sent_seq >= rec.seq {
        return Ok(Relayout::UpToDate);
    }
    let Some(vendor_id) = rec.vendor_stream_id.clone() else {
        if rec.publishers != now {
            streams::swap_publishers(rt, &rec, now).await?;
        }
        return Ok(Relayout::Unconfirmed);
    };
    let Some(seq) = streams::swap_publishers(rt, &rec, now).await? else { return Ok(Relayout::Superseded) };
    rec.publishers = now.to_vec();
    rec.seq = seq;
    // Outputs that failed or ended have no job to lay out (a failed Agora converter answers 404).
    let pushing: Vec<&StoredOutput> = rec.outputs.iter().filter(|o| !o.status.is_final()).collect();
    let spec = spec_with(app, vendor, &rec, &pushing)?;
    let sent = vendor.relayout_stream(rt, &vendor_id, &spec).await;
    match routing::observe(&app.vendors, rt, vendor.name(), sent).await {
        Ok(()) => {
            streams::mark_layout_sent(rt, &rec, 0).await?;
            // Every job laid out took it, so each was there: a miss recorded earlier is over. (An
            // audio-only stream sends no layout, so no job answered.)
            if !spec.audio_only && rec.outputs.iter().any(|o| o.missing_since_ms.is_some()) {
                let laid_out: Vec<&str> =
                    spec.outputs.iter().filter(|o| o.vendor_ref.is_some()).map(|o| o.output.as_str()).collect();
                save_read(rt, rec, |r| {
                    let seen = r.outputs.iter_mut().filter(|o| laid_out.contains(&o.output.as_str()));
                    seen.for_each(|o| o.missing_since_ms = None)
                })
                .await?;
            }
            Ok(Relayout::Sent)
        }
        Err(e) => {
            crate::log::warn(&format!(
                "new layout of {} at {} (sent again later): {:?} {}",
                rec.id, e.vendor, e.failure, e.summary
            ));
            if e.failure == VendorFailure::NotFound {
                // A job the vendor does not have: its state says whether it is over (on Agora,
                // once missing longer than a failover takes: `apply`), so the next layout skips it.
                read_state(app, rt, vendor, rec, &vendor_id, &spec).await?;
            }
            Ok(Relayout::Refused)
        }
    }
}

/// Records that the vendor took the layout `rec` was sent with (see `streams::mark_layout_sent`),
/// on the vendors whose layout rtcgate makes. A mark that cannot be stored fails nothing: the
/// layout is only sent once more.
async fn layout_taken(rt: &Runtime, vendor: &dyn Vendor, rec: &Stream, carried_from: i64) {
    if vendor.composes_streams_itself() {
        return;
    }
    if let Err(e) = streams::mark_layout_sent(rt, rec, carried_from).await {
        crate::log::warn(&format!("marking the layout of {} sent (it is sent again): {}", rec.id, e.log_text()));
    }
}

/// What one `sweep_layouts` call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayoutSweep {
    /// Running streams whose layout was compared with who publishes.
    pub checked: u32,
    /// Layouts sent (the vendor lacked them), and those that failed (sent again next time).
    pub sent: u32,
    pub failed: u32,
}

/// For the scheduled job: up to `limit` running streams of every project on the vendors whose
/// layout rtcgate makes, those checked longest ago first, each laid out from the stored events
/// unless the vendor has that layout already. This sends a layout the vendor refused, and one
/// whose publisher event was stored but never followed (the isolate stopped after answering).
/// At most one layout per stream per run; a start still unconfirmed waits for its confirmation.
pub async fn sweep_layouts(app: &App, rt: &Runtime, limit: u32) -> ApiResult<LayoutSweep> {
    let now = rt.now_ms() as i64;
    let mut swept = LayoutSweep::default();
    for rec in streams::layouts_due(rt, limit).await? {
        if !streams::claim_layout_sweep(rt, &rec, now).await? {
            continue;
        }
        swept.checked += 1;
        let id = rec.id.clone();
        match check_layout(app, rt, rec).await {
            Ok(Relayout::Sent) => swept.sent += 1,
            Ok(Relayout::Refused) => swept.failed += 1,
            Ok(_) => {}
            Err(e) => {
                crate::log::warn(&format!("checking the layout of {id}: {}", e.log_text()));
                swept.failed += 1;
            }
        }
    }
    Ok(swept)
}

async fn check_layout(app: &App, rt: &Runtime, rec: Stream) -> ApiResult<Relayout> {
    if rec.vendor_stream_id.is_none() {
        return Ok(Relayout::Unconfirmed);
    }
    let vendor = routing::for_room(&app.vendors, &rec.vendor, None, Capability::StreamStart)?;
    if vendor.composes_streams_itself() {
        return Ok(Relayout::UpToDate);
    }
    let now = current_publishers(rt, vendor, &rec.project_id, &rec.room_id).await?;
    relayout(app, rt, vendor, rec, &now).await
}

//! Vendor webhooks in (`POST /v1/vendor-events/{vendor}`, authenticated by the vendor's
//! signature, no API key) and the normalized event log out (`GET /v1/rtc/event/list`).

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::paging;
use crate::api::{App, Ctx, Reply};
use crate::domain::events::{self, EventType, Incoming, Rejection};
use crate::domain::stream::{StreamJob, StreamNotice, StreamStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::RequestHeader;
use crate::resources::events::enforce::enforce_on_join;
use crate::resources::events::ingest;
use crate::resources::rooms::directory::RoomDirectory;
use crate::resources::streams::service::{follow_event, follow_notice};
use crate::runtime::Runtime;
use crate::store::events as event_store;
use crate::store::events::Event;
use crate::vendors::agora::webhook as agora;
use crate::vendors::livekit::webhook as livekit;
use crate::vendors::zego::webhook as zego;

/// The answer to a refused delivery; why exactly is the cause, for the log.
fn rejected(vendor: &str, r: Rejection) -> ApiError {
    match r {
        Rejection::Unauthenticated(why) => {
            ApiError::new(ErrorCode::Unauthenticated, format!("the {vendor} webhook signature is missing or invalid"))
                .with_cause(format!("{vendor} webhook refused: {why}"))
        }
        Rejection::NotConfigured(setting) => {
            ApiError::new(ErrorCode::Unauthenticated, format!("{vendor} webhooks are not configured ({setting})"))
                .with_cause(format!("{vendor} webhook refused: {setting} is not set"))
        }
        Rejection::Malformed(why) => {
            ApiError::new(ErrorCode::InvalidRequest, format!("the {vendor} webhook body cannot be read"))
                .with_cause(format!("{vendor} webhook unreadable: {why}"))
        }
    }
}

/// A LiveKit egress event as a notice about the stream it may push.
fn egress_notice(incoming: &Incoming) -> Option<StreamNotice> {
    let change = incoming.recording.as_ref()?;
    Some(StreamNotice {
        vendor: incoming.vendor,
        job: StreamJob::Stream {
            vendor_room: incoming.vendor_room.clone(),
            vendor_stream_id: change.vendor_recording_id.clone(),
        },
        occurred_at_ms: incoming.occurred_at_ms,
        status: change.status.map(StreamStatus::of_job),
        output_status: None,
        pushes: change.pushes.clone(),
        error: incoming.data.get("error").and_then(|e| e.as_str()).map(str::to_owned),
    })
}

/// Follows a notice that can only be about a live stream; one about no stream of ours (a
/// converter or mix task made outside rtcgate) is acknowledged and dropped.
async fn follow_stream(app: &App, rt: &Runtime, notice: &StreamNotice) -> ApiResult<Option<Incoming>> {
    if !follow_notice(app, rt, notice).await? {
        crate::log::info(&format!("{} stream notice about no stream of ours: {:?}", notice.vendor, notice.job));
    }
    Ok(None)
}

/// Verifies and reads a vendor delivery, stores it, answers, and applies its effects after.
pub async fn ingest(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    // The route table has one path per vendor: the last segment names it.
    let vendor = ctx.req.path.trim_end_matches('/').rsplit('/').next().unwrap_or("").to_owned();
    let settings = &ctx.app.settings.events;
    let body = &ctx.req.body;
    let now_ms = ctx.rt.now_ms();
    // `None` for what is no event of its own: a notice about a live stream's job (already
    // followed: its effects are the stream's own `stream.*` events), or nothing worth keeping.
    let incoming: Option<Incoming> = match vendor.as_str() {
        livekit::NAME => {
            let (key, secret) = settings
                .livekit
                .as_ref()
                .ok_or(Rejection::NotConfigured("LIVEKIT_API_KEY"))
                .map_err(|r| rejected(&vendor, r))?;
            livekit::verify(key, secret, ctx.req.header(RequestHeader::Authorization), body, now_ms / 1000)
                .map_err(|r| rejected(&vendor, r))?;
            let incoming = livekit::parse(body, now_ms).map_err(|r| rejected(&vendor, r))?;
            // A room's egress is a live stream's or a recording's: only the room's streams can say.
            match incoming.as_ref().and_then(egress_notice) {
                Some(notice) if follow_notice(ctx.app, ctx.rt, &notice).await? => None,
                _ => incoming,
            }
        }
        agora::NAME => {
            let secret = settings
                .agora_ncs_secret
                .as_deref()
                .ok_or(Rejection::NotConfigured("AGORA_NCS_SECRET"))
                .map_err(|r| rejected(&vendor, r))?;
            agora::verify(
                secret,
                ctx.req.header(RequestHeader::AgoraSignatureV2),
                ctx.req.header(RequestHeader::AgoraSignature),
                body,
            )
            .map_err(|r| rejected(&vendor, r))?;
            let notice = agora::read(body).map_err(|r| rejected(&vendor, r))?;
            match agora::stream_notice(&notice, now_ms).map_err(|r| rejected(&vendor, r))? {
                Some(stream) => follow_stream(ctx.app, ctx.rt, &stream).await?,
                None => agora::parse_notice(&notice, now_ms).map_err(|r| rejected(&vendor, r))?,
            }
        }
        zego::NAME => {
            let secret = settings
                .zego_callback_secret
                .as_deref()
                .ok_or(Rejection::NotConfigured("ZEGO_CALLBACK_SECRET"))
                .map_err(|r| rejected(&vendor, r))?;
            let fields = zego::fields(body).map_err(|r| match r {
                // Unsigned garbage is refused as unauthenticated, not parsed further.
                Rejection::Malformed(_) => rejected(&vendor, Rejection::Unauthenticated("unreadable body")),
                other => rejected(&vendor, other),
            })?;
            let nonce = zego::verify(secret, &fields, now_ms / 1000).map_err(|r| rejected(&vendor, r))?;
            let body_sha = crate::crypto::hex::lower(&Sha256::digest(body));
            if !event_store::claim_nonce(ctx.rt, zego::NAME, &nonce, &body_sha).await? {
                return Err(rejected(&vendor, Rejection::Unauthenticated("nonce replayed with another body")));
            }
            let rt = ctx.rt.clone();
            ctx.rt.after_response(async move {
                let window_ms = 2 * zego::MAX_SKEW_S * 1000;
                if let Err(e) = event_store::forget_nonces(&rt, window_ms).await {
                    crate::log::warn(&format!("forgetting old nonces: {}", e.log_text()));
                }
            });
            match zego::stream_notice(&fields, now_ms).map_err(|r| rejected(&vendor, r))? {
                Some(notice) => follow_stream(ctx.app, ctx.rt, &notice).await?,
                None => zego::parse(&fields, &nonce, now_ms).map_err(|r| rejected(&vendor, r))?,
            }
        }
        _ => return Err(ApiError::new(ErrorCode::RouteNotFound, format!("no route for {}", ctx.req.path))),
    };
    // Stored before the answer: a 2xx tells the vendor the event is safe with us, and a failure
    // to store is a 5xx the vendor retries. The effects follow the answer; a redo finishes them
    // if this isolate does not (`ingest::redo_unfinished`).
    if let Some(incoming) = incoming {
        if let Some(stored) = ingest::store(ctx.rt, &incoming, now_ms).await? {
            let (rt, app) = (ctx.rt.clone(), ctx.app.clone());
            ctx.rt.after_response(async move {
                // A banned identity that joined anyway (a token minted before its ban) goes first.
                if let Err(e) = enforce_on_join(&app, &rt, &stored.event).await {
                    crate::log::warn(&format!("removing a banned participant: {}", e.log_text()));
                }
                if let Err(e) = ingest::apply(&rt, &stored).await {
                    crate::log::warn(&format!("applying a vendor event (a redo will): {}", e.log_text()));
                }
                // Live streams re-lay rooms out as publishers change.
                if let Err(e) = follow_event(&app, &rt, &stored.event).await {
                    crate::log::warn(&format!("following a vendor event in its streams: {}", e.log_text()));
                }
            });
        }
    }
    Ok(Reply::ok(json!({ "ok": true })))
}

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let q = paging::parse(ctx.req, &["room", "type"])?;
    let mut room_id = None;
    let mut kind = None;
    for (k, v) in &q.rest {
        match k.as_str() {
            // A room id filters even after the room was deleted; a name must name a live room.
            "room" => room_id = Some(RoomDirectory::of(ctx).filter_id(v).await?),
            _ => {
                let t = EventType::parse(v).ok_or_else(|| {
                    ApiError::invalid_field("type", format!("'type' must be one of {}", events::type_names()))
                })?;
                kind = Some(t.as_str());
            }
        }
    }
    let (items, more) =
        event_store::page(ctx.rt, ctx.project_id(), room_id.as_deref(), kind, q.after.as_ref(), q.limit).await?;
    let next_cursor = if more { items.last().map(|e| paging::encode_cursor(e.received_at_ms, &e.id)) } else { None };
    Ok(Reply::ok(json!({ "items": items.iter().map(Event::to_json).collect::<Vec<_>>(), "next_cursor": next_cursor })))
}

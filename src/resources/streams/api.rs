//! `rtc.stream.*`: start, update (outputs), stop, get and list live streams of a room. What a
//! start whose answer was lost means, and how it is settled, is `service`'s story.

use serde_json::{json, Value};

use super::service::{self, NewStream, SCOPE};
use crate::api::body::Body;
use crate::api::paging;
use crate::api::{Ctx, Reply};
use crate::domain::stream::{parse_ingest_url, Canvas, Layout, StreamStatus, UrlRefusal, MAX_OUTPUTS};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency;
use crate::resources::rooms::directory::RoomDirectory;
use crate::store::streams::{self, Stream};

/// `[{url}]` of field `field`: 1 to `max` checked ingest URLs, each error naming its place
/// (`outputs[2].url`).
fn output_urls(field: &str, value: Option<Value>, max: usize) -> ApiResult<Vec<String>> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let Value::Array(items) = value else {
        return Err(ApiError::invalid_field(field, format!("'{field}' must be a list of {{url}} objects")));
    };
    if items.len() > max {
        return Err(ApiError::invalid_field(field, format!("'{field}' holds at most {max} outputs")));
    }
    let mut urls: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let place = format!("{field}[{i}].url");
        let raw = match item {
            Value::Object(o) if o.len() == 1 => o.get("url").and_then(Value::as_str),
            _ => None,
        };
        let raw =
            raw.ok_or_else(|| ApiError::invalid_field(&place, format!("'{field}[{i}]' must be {{\"url\": …}}")))?;
        let url = parse_ingest_url(raw).map_err(|r| match r {
            // Well-formed, but where it leads is refused (as for webhook URLs).
            UrlRefusal::NotPublic => ApiError::new(ErrorCode::DestinationNotAllowed, format!("'{place}' {}", r.why()))
                .with_detail("field", place.as_str()),
            _ => ApiError::invalid_field(&place, format!("'{place}' {}", r.why())),
        })?;
        if urls.contains(&url) {
            return Err(ApiError::invalid_field(&place, format!("'{place}' repeats an earlier output")));
        }
        urls.push(url);
    }
    Ok(urls)
}

/// `video`: `{width, height, fps, bitrate_kbps}`, each within what every vendor takes
/// (Agora's canvas is 66–1920 pixels a side, 1–30 fps, 1–10000 kbps); absent ones default.
fn video(value: Option<Value>) -> ApiResult<Canvas> {
    let Some(value) = value else { return Ok(Canvas::DEFAULT) };
    let Value::Object(mut fields) = value else {
        return Err(ApiError::invalid_field("video", "'video' must be an object"));
    };
    let d = Canvas::DEFAULT;
    let mut take = |name: &str, min: u32, max: u32, default: u32| -> ApiResult<u32> {
        match fields.remove(name) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => {
                v.as_u64().filter(|n| (u64::from(min)..=u64::from(max)).contains(n)).map(|n| n as u32).ok_or_else(
                    || {
                        ApiError::invalid_field(
                            &format!("video.{name}"),
                            format!("'video.{name}' must be a whole number from {min} to {max}"),
                        )
                    },
                )
            }
        }
    };
    let canvas = Canvas {
        width: take("width", 66, 1920, d.width)?,
        height: take("height", 66, 1920, d.height)?,
        fps: take("fps", 1, 30, d.fps)?,
        bitrate_kbps: take("bitrate_kbps", 1, 10_000, d.bitrate_kbps)?,
    };
    if let Some(unknown) = fields.keys().next() {
        return Err(ApiError::invalid_field(&format!("video.{unknown}"), format!("unknown field 'video.{unknown}'")));
    }
    Ok(canvas)
}

pub async fn start(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    let request = idempotency::fingerprint_without_key(&ctx.req.body);
    let room_ref = body.required_str("room", 256)?;
    let urls = output_urls("outputs", body.optional_value("outputs"), MAX_OUTPUTS)?;
    let layout = body.optional_str("layout", 32)?.unwrap_or_else(|| "grid".to_owned());
    let audio_only = body.optional_bool("audio_only")?.unwrap_or(false);
    let video = video(body.optional_value("video"))?;
    let key = idempotency::key(ctx, body.optional_str("idempotency_key", 255)?)?;
    body.finish()?;
    if urls.is_empty() {
        return Err(ApiError::invalid_field("outputs", format!("'outputs' needs 1 to {MAX_OUTPUTS} {{url}} objects")));
    }
    let layout = Layout::parse(&layout).ok_or_else(|| {
        ApiError::invalid_field("layout", format!("'layout' must be one of {}", Layout::NAMES.join(", ")))
    })?;
    let new = NewStream { room_ref, layout, audio_only, video, urls };
    // The key comes first: a retry gets the first response even if the room is gone since.
    idempotency::once(ctx, SCOPE, key, &request, || async {
        let stream = service::start(ctx, &new, &request).await?;
        Ok(Reply::created(stream.to_json()))
    })
    .await
}

pub async fn update(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    let add = output_urls("add_outputs", body.optional_value("add_outputs"), MAX_OUTPUTS)?;
    let remove = match body.optional_value("remove_outputs") {
        None => Vec::new(),
        Some(Value::Array(items)) if items.len() <= MAX_OUTPUTS => {
            items.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>().ok_or_else(|| {
                ApiError::invalid_field("remove_outputs", "'remove_outputs' must be a list of output ids")
            })?
        }
        Some(_) => {
            return Err(ApiError::invalid_field(
                "remove_outputs",
                format!("'remove_outputs' must be a list of at most {MAX_OUTPUTS} output ids"),
            ))
        }
    };
    body.finish()?;
    if add.is_empty() && remove.is_empty() {
        return Err(ApiError::invalid_field("add_outputs", "give 'add_outputs' or 'remove_outputs'"));
    }
    let stream = service::update(ctx, &add, &remove).await?;
    Ok(Reply::ok(stream.to_json()))
}

pub async fn stop(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    Body::parse(&ctx.req.body)?.finish()?;
    let stream = service::stop(ctx).await?;
    Ok(Reply::ok(stream.to_json()))
}

/// The stored stream, refreshed from the vendor while it runs. If the vendor cannot say,
/// the stored state is the answer with `live: false` (as for recordings).
pub async fn get(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let stream = service::load(ctx).await?;
    let (stream, live) = service::refresh(ctx, stream).await?;
    let mut body = stream.to_json();
    body["live"] = json!(live);
    Ok(Reply::ok(body))
}

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let q = paging::parse(ctx.req, &["room", "status"])?;
    let room_id = match q.rest.iter().find(|(k, _)| k == "room") {
        Some((_, r)) => Some(RoomDirectory::of(ctx).filter_id(r).await?),
        None => None,
    };
    let status = match q.rest.iter().find(|(k, _)| k == "status") {
        Some((_, s)) => Some(StreamStatus::parse(s).ok_or_else(|| {
            let names: Vec<&str> = StreamStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::invalid_field("status", format!("'status' must be one of {}", names.join(", ")))
        })?),
        None => None,
    };
    let (items, more) =
        streams::page(ctx.rt, ctx.project_id(), room_id.as_deref(), status, q.after.as_ref(), q.limit).await?;
    let next_cursor = if more { items.last().map(|s| paging::encode_cursor(s.started_at_ms, &s.id)) } else { None };
    Ok(Reply::ok(json!({ "items": items.iter().map(Stream::to_json).collect::<Vec<_>>(), "next_cursor": next_cursor })))
}

//! `rtc.participant.mute` and `rtc.participant.update`.

use serde_json::Value;

use super::service::{self, Mute, Update};
use crate::api::body::Body;
use crate::api::{Ctx, Reply};
use crate::domain::identity::Identity;
use crate::domain::moderation::{Media, MediaSet};
use crate::error::{ApiError, ApiResult};
use crate::resources::rooms::directory::RoomDirectory;
use crate::resources::rooms::service::vendor_of;
use crate::vendors::{Capability, ModerationAsk};

/// The longest hard mute: 30 days (vendor rules last at most 24 h and are re-applied).
pub const MAX_MUTE_S: i64 = 30 * 86_400;
/// Portable limits of `participant/update`: LiveKit allows names of 256 characters and 512 KiB
/// of metadata by default; these are what a token may carry too.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;
pub const MAX_METADATA_BYTES: usize = 4 * 1024;

pub async fn mute(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    let identity = body.required_parsed("identity", Identity::parse)?;
    let media = media_field(body.optional_value("media"))?;
    let muted = body.optional_bool("muted")?.ok_or_else(|| ApiError::invalid_field("muted", "'muted' is required"))?;
    let soft = match body.optional_str("mode", 8)?.as_deref() {
        None | Some("hard") => false,
        Some("soft") => true,
        Some(_) => return Err(ApiError::invalid_field("mode", "'mode' must be \"soft\" or \"hard\"")),
    };
    let duration_s = body.optional_int("duration_s", 1, MAX_MUTE_S)?;
    body.finish()?;
    if duration_s.is_some() && (soft || !muted) {
        return Err(ApiError::invalid_field("duration_s", "'duration_s' applies to a hard mute (muted: true) only"));
    }
    let room = RoomDirectory::of(ctx).find(ctx.param(0)).await?;
    let capability = if soft { Capability::ParticipantMuteSoft } else { Capability::ParticipantMuteHard };
    let vendor = vendor_of(ctx, &room, None, capability)?;
    let ask = if soft {
        ModerationAsk { soft: media, ..ModerationAsk::default() }
    } else {
        ModerationAsk { hard: media, ..ModerationAsk::default() }
    };
    vendor.check_moderation(&ask)?;
    let mute = Mute { identity, media, muted, soft, duration_s };
    Ok(Reply::ok(service::mute(ctx, &room, vendor, &mute).await?))
}

pub async fn update(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    let identity = body.required_parsed("identity", Identity::parse)?;
    let can_publish = body.optional_bool("can_publish")?;
    let can_subscribe = body.optional_bool("can_subscribe")?;
    let can_publish_data = body.optional_bool("can_publish_data")?;
    let display_name = body.optional_str("display_name", MAX_DISPLAY_NAME_CHARS)?;
    let metadata = body.optional_object("metadata", MAX_METADATA_BYTES)?.map(|m| Value::Object(m).to_string());
    body.finish()?;
    if can_publish.is_none()
        && can_subscribe.is_none()
        && can_publish_data.is_none()
        && display_name.is_none()
        && metadata.is_none()
    {
        return Err(ApiError::invalid_field(
            "can_publish",
            "give at least one of can_publish, can_subscribe, can_publish_data, display_name, metadata",
        ));
    }
    let room = RoomDirectory::of(ctx).find(ctx.param(0)).await?;
    let vendor = vendor_of(ctx, &room, None, Capability::ParticipantUpdate)?;
    vendor.check_moderation(&ModerationAsk {
        can_publish,
        can_subscribe,
        can_publish_data,
        display_name: display_name.is_some(),
        metadata: metadata.is_some(),
        ..ModerationAsk::default()
    })?;
    let update = Update { identity, can_publish, can_subscribe, can_publish_data, display_name, metadata };
    Ok(Reply::ok(service::update(ctx, &room, vendor, &update).await?))
}

/// `media`: a non-empty array of distinct `audio`, `video`, `screen`.
fn media_field(value: Option<Value>) -> ApiResult<MediaSet> {
    let invalid = |why: &str| ApiError::invalid_field("media", why);
    let Some(Value::Array(items)) = value else {
        return Err(invalid("'media' is required: an array of \"audio\", \"video\", \"screen\""));
    };
    if items.is_empty() {
        return Err(invalid("'media' must name at least one of \"audio\", \"video\", \"screen\""));
    }
    let mut seen = Vec::new();
    for item in &items {
        let medium = item
            .as_str()
            .and_then(Media::parse)
            .ok_or_else(|| invalid("'media' items must be \"audio\", \"video\" or \"screen\""))?;
        if seen.contains(&medium) {
            return Err(invalid("'media' must not repeat an item"));
        }
        seen.push(medium);
    }
    Ok(MediaSet::of(&seen))
}

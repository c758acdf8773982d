//! `rtc.token.issue`: a join token in the room vendor's own format, signed in-isolate.
//! The hot path: once warm, the API key, the room and the participant's registry row come
//! from isolate memory, so a repeat token makes no round trip at all; a new identity's
//! registry row is written after the response, except on Agora, whose token carries the
//! room-stable uid that row allocates.

use serde::Serialize;
use serde_json::Value;

use super::service::{fold_moderation, register};
use crate::api::body::Body;
use crate::api::{Ctx, Reply};
use crate::domain::identity::Identity;
use crate::error::ApiResult;
use crate::resources::bans::service::refused;
use crate::resources::rooms::directory::RoomDirectory;
use crate::resources::rooms::service::{vendor_of, MAX_NAME_CHARS};
use crate::time::rfc3339;
use crate::vendors::{Capability, JoinGrant};

pub const DEFAULT_TTL_S: i64 = 3600;
pub const MIN_TTL_S: i64 = 60;
pub const MAX_TTL_S: i64 = 86_400;
const MAX_METADATA_BYTES: usize = 4 * 1024;

pub async fn issue(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    // No room name is longer than a new room's may be, so neither is a reference to one.
    let room_ref = body.required_str("room", MAX_NAME_CHARS)?;
    let identity = body.required_parsed("identity", Identity::parse)?;
    let display_name = body.optional_str("display_name", 256)?;
    let ttl_s = body.optional_int("ttl_s", MIN_TTL_S, MAX_TTL_S)?.unwrap_or(DEFAULT_TTL_S);
    let can_publish = body.optional_bool("can_publish")?.unwrap_or(true);
    let can_subscribe = body.optional_bool("can_subscribe")?.unwrap_or(true);
    let can_publish_data = body.optional_bool("can_publish_data")?;
    let is_admin = body.optional_bool("is_admin")?.unwrap_or(false);
    let pin = body.optional_str("vendor", 32)?;
    let metadata = body.optional_object("metadata", MAX_METADATA_BYTES)?.map(|m| Value::Object(m).to_string());
    body.finish()?;

    // Bans come from isolate memory (`api::revocation`): no round trip on the hot path. A
    // project-wide ban is checked before the room is looked up (or created) for the token.
    let bans = &ctx.app.cache.revocation;
    if let Some(ban) = bans.ban_for(ctx.rt, ctx.project_id(), None, identity.as_str()).await? {
        return Err(refused(&ban));
    }
    let mut grant = JoinGrant {
        room_id: String::new(),
        identity,
        uid: 0,
        display_name,
        metadata_json: metadata,
        ttl_s: ttl_s as u32,
        can_publish,
        can_subscribe,
        can_publish_data,
        is_admin,
        blocked_media: Default::default(),
    };
    let (room, created) = RoomDirectory::of(ctx).for_token(&room_ref, pin.clone(), &grant).await?;
    if let Some(ban) = bans.ban_for(ctx.rt, ctx.project_id(), Some(&room.id), grant.identity.as_str()).await? {
        return Err(refused(&ban));
    }
    let vendor = vendor_of(ctx, &room, pin.as_deref(), Capability::TokenIssue)?;
    vendor.check_grant(&grant)?;
    // After the check: moderation only takes grants away, and each vendor's check refuses
    // only grants a token cannot express, which a moderation change was refused for already.
    fold_moderation(&mut grant, &room, ctx.rt.now_ms());
    grant.room_id = room.id.clone();
    grant.uid = register(ctx, &grant, vendor.joins_by_uid()).await?;
    let token = vendor.join_token(&grant, ctx.rt.now_ms(), ctx.rt.entropy.as_ref())?;
    Ok(Reply::ok_encoded(&Issued {
        expires_at: rfc3339(token.expires_at_ms),
        identity: grant.identity.as_str(),
        join: &token.join,
        name: &room.name,
        room: &room.id,
        room_created: created,
        token: &token.token,
        vendor: vendor.name(),
    }))
}

/// token.issue's answer, encoded straight from this type on the hot path (fields in the
/// order a map of values would have them).
#[derive(Serialize)]
struct Issued<'a> {
    expires_at: String,
    identity: &'a str,
    join: &'a Value,
    name: &'a str,
    room: &'a str,
    room_created: bool,
    token: &'a str,
    vendor: &'a str,
}

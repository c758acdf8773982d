//! `rtc.token.issue`: a join token in the room vendor's own format, signed in-isolate.
//! The hot path: once warm, the API key, the room and the participant's registry row come
//! from isolate memory, so a repeat token makes no round trip at all; a new identity's
//! registry row is written after the response, except on Agora, whose token carries the
//! room-stable uid that row allocates.

use serde::Serialize;
use serde_json::Value;

use crate::api::body::Body;
use crate::api::{Ctx, Reply};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::participants::api::MAX_IDENTITY_BYTES;
use crate::resources::rooms::api::{
    check_name, create_room, looks_like_room_id, settled, vendor_of, NewRoom, MAX_NAME_CHARS,
};
use crate::store::registry_writer::Entry;
use crate::store::{rooms, rooms::Room};
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
    let identity = body.required_str("identity", MAX_IDENTITY_BYTES)?;
    let display_name = body.optional_str("display_name", 256)?;
    let ttl_s = body.optional_int("ttl_s", MIN_TTL_S, MAX_TTL_S)?.unwrap_or(DEFAULT_TTL_S);
    let can_publish = body.optional_bool("can_publish")?.unwrap_or(true);
    let can_subscribe = body.optional_bool("can_subscribe")?.unwrap_or(true);
    let can_publish_data = body.optional_bool("can_publish_data")?;
    let is_admin = body.optional_bool("is_admin")?.unwrap_or(false);
    let pin = body.optional_str("vendor", 32)?;
    let metadata = body.optional_object("metadata", MAX_METADATA_BYTES)?.map(|m| Value::Object(m).to_string());
    body.finish()?;

    let mut grant = JoinGrant {
        room_id: String::new(),
        identity: identity.clone(),
        uid: 0,
        display_name,
        metadata_json: metadata,
        ttl_s: ttl_s as u32,
        can_publish,
        can_subscribe,
        can_publish_data,
        is_admin,
    };
    let (room, created) = room_for_token(ctx, &room_ref, pin.clone(), &grant).await?;
    let vendor = vendor_of(ctx, &room, pin.as_deref(), Capability::TokenIssue)?;
    vendor.check_grant(&grant)?;
    grant.room_id = room.id.clone();
    grant.uid = register(ctx, &grant, vendor.joins_by_uid()).await?;
    let token = vendor.join_token(&grant, ctx.rt.now_ms(), ctx.rt.entropy.as_ref())?;
    Ok(Reply::ok_encoded(&Issued {
        expires_at: rfc3339(token.expires_at_ms),
        identity: &identity,
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

/// The room a token is for: cached, stored, or created now (every vendor opens a room on
/// first join, so a token for a new name creates the room). Returns whether it was created.
/// A new room is created only on a vendor that accepts `grant` (checked before its vendor
/// call, also after a failover), so a refused token leaves nothing behind.
async fn room_for_token(
    ctx: &Ctx<'_>,
    room_ref: &str,
    pin: Option<String>,
    grant: &JoinGrant,
) -> ApiResult<(Room, bool)> {
    let (project, now) = (ctx.project_id(), ctx.rt.now_ms());
    if let Some(room) = ctx.app.cache.rooms.get(project, room_ref, now) {
        ctx.app.cache.rooms.refresh_if_due(ctx.rt, project, room_ref, now);
        return Ok((room, false));
    }
    // Only a room whose vendor is settled is used (and cached): one still being created may
    // yet fail over to another vendor.
    if let Some(found) = rooms::find(ctx.rt, project, room_ref).await? {
        if let Some(room) = settled(ctx, found).await? {
            ctx.app.cache.rooms.remember(room_ref, &room, now);
            return Ok((room, false));
        }
        // Its create failed or died: the name is free for this one.
    }
    if looks_like_room_id(room_ref) {
        return Err(ApiError::room_not_found(room_ref));
    }
    check_name(room_ref).map_err(|e| with_field(e, "room"))?;
    match create_room(ctx, NewRoom::named(room_ref.to_owned(), pin), Some(grant)).await {
        Ok(room) => {
            ctx.app.cache.rooms.remember(room_ref, &room, now);
            Ok((room, true))
        }
        // Another request created it a moment ago: use that room.
        Err(e) if e.code == ErrorCode::RoomNameTaken => {
            let Some(found) = rooms::find(ctx.rt, project, room_ref).await? else { return Err(e) };
            let room = settled(ctx, found).await?.ok_or(e)?;
            ctx.app.cache.rooms.remember(room_ref, &room, now);
            Ok((room, false))
        }
        Err(e) => Err(e),
    }
}

/// Records the identity in the participant registry: from isolate memory when this isolate
/// already wrote it, after the response for vendors that join by identity, and now (one D1
/// round trip) only for a new identity on a vendor whose token carries its numeric uid.
async fn register(ctx: &Ctx<'_>, grant: &JoinGrant, need_uid: bool) -> ApiResult<u32> {
    let entry = Entry {
        room_id: grant.room_id.clone(),
        identity: grant.identity.clone(),
        display_name: grant.display_name.clone(),
        metadata: grant.metadata_json.clone(),
        at_ms: ctx.rt.now_ms() as i64,
    };
    ctx.app.registry.register(ctx.rt, entry, need_uid).await
}

fn with_field(mut e: ApiError, field: &str) -> ApiError {
    e.details.insert("field".into(), field.into());
    e
}

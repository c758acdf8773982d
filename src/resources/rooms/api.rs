//! `rtc.room.*`: create, get, list, delete.

use serde_json::{json, Value};

use super::directory::RoomDirectory;
use super::service::{check_name, create_room, vendor_of, NewRoom, MAX_NAME_CHARS};
use crate::api::body::Body;
use crate::api::paging;
use crate::api::{Ctx, Reply};
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{self, fingerprint_without_key};
use crate::store::rooms::{self, Room};
use crate::vendors::routing;
use crate::vendors::Capability;

/// The most metadata a room may carry.
const MAX_METADATA_BYTES: usize = 16 * 1024;

pub async fn create(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    let fingerprint = fingerprint_without_key(&ctx.req.body);
    let new = NewRoom {
        name: body.required_str("name", MAX_NAME_CHARS)?,
        max_participants: body.optional_int("max_participants", 1, 100_000)?,
        empty_timeout_s: body.optional_int("empty_timeout_s", 1, 7 * 86_400)?,
        metadata: body.optional_object("metadata", MAX_METADATA_BYTES)?.map(|m| Value::Object(m).to_string()),
        enable_recording: body.optional_bool("enable_recording")?.unwrap_or(false),
        region: body.optional_str("region", 64)?,
        vendor: body.optional_str("vendor", 32)?,
    };
    let key = idempotency::key(ctx, body.optional_str("idempotency_key", 255)?)?;
    body.finish()?;
    check_name(&new.name)?;
    idempotency::once(ctx, "rtc.room.create", key, &fingerprint, || async {
        let room = create_room(ctx, new, None).await?;
        Ok(Reply::created(room.to_json()))
    })
    .await
}

pub async fn get(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let room = RoomDirectory::of(ctx).find(ctx.param(0)).await?;
    let vendor = vendor_of(ctx, &room, None, Capability::RoomGet)?;
    let occupancy =
        routing::observe(&ctx.app.vendors, ctx.rt, vendor.name(), vendor.occupancy(ctx.rt, &room.id).await).await;
    let mut body = room.to_json();
    match occupancy {
        Ok(n) => {
            body["num_participants"] = json!(n);
            body["live"] = json!(true);
        }
        // The stored room is still the answer; the vendor's silence is reported, not fatal.
        Err(e) => {
            crate::log::warn(&format!("occupancy of {} from {}: {:?} {}", room.id, e.vendor, e.failure, e.summary));
            body["num_participants"] = Value::Null;
            body["live"] = json!(false);
        }
    }
    Ok(Reply::ok(body))
}

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let q = paging::parse(ctx.req, &[])?;
    let (items, more) = rooms::page(ctx.rt, ctx.project_id(), q.after.as_ref(), q.limit).await?;
    let next_cursor = if more { items.last().map(|r| paging::encode_cursor(r.created_at_ms, &r.id)) } else { None };
    Ok(Reply::ok(json!({
        "items": items.iter().map(Room::to_json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

pub async fn delete(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let room = RoomDirectory::of(ctx).find(ctx.param(0)).await?;
    let vendor = vendor_of(ctx, &room, None, Capability::RoomDelete)?;
    // The vendor goes first: if it fails, the room stays as it was and a retry can finish.
    routing::observe(&ctx.app.vendors, ctx.rt, vendor.name(), vendor.delete_room(ctx.rt, &room.id).await)
        .await
        .map_err(|e| e.to_api_error())?;
    if !rooms::soft_delete(ctx.rt, &room.id).await? {
        return Err(ApiError::room_not_found(ctx.param(0)));
    }
    ctx.app.cache.rooms.forget(&room.id);
    Ok(Reply::ok(json!({ "ok": true })))
}

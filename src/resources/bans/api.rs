//! `POST /v1/rtc/participant/ban/{room}`, `GET /v1/rtc/ban/list`, `DELETE /v1/rtc/ban/delete/{ban}`.
//!
//! Banning a subject (identity, and room or project) that already has a live ban extends that
//! ban to the later end and answers 200 with the same ban id: nothing new was created, so a
//! client retrying a ban (with or without a lost answer) never makes a second one and needs
//! no idempotency key. A new ban answers 201.

use serde_json::json;

use super::service::{self, BanRequest, Scope, DEFAULT_DURATION_S, MAX_DURATION_S, MAX_REASON_CHARS};
use crate::api::body::Body;
use crate::api::paging;
use crate::api::{Ctx, Reply};
use crate::domain::identity::Identity;
use crate::error::{ApiError, ApiResult};
use crate::resources::rooms::directory::RoomDirectory;
use crate::resources::rooms::service::vendor_of;
use crate::store::bans::{self, Ban};
use crate::vendors::Capability;

pub async fn ban(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    let identity = body.required_parsed("identity", Identity::parse)?;
    let duration_s = body.optional_int("duration_s", 1, MAX_DURATION_S)?.unwrap_or(DEFAULT_DURATION_S);
    let scope = match body.optional_str("scope", 16)? {
        None => Scope::Room,
        Some(s) => Scope::parse(&s)
            .ok_or_else(|| ApiError::invalid_field("scope", "'scope' must be \"room\" or \"project\""))?,
    };
    let kick = body.optional_bool("kick")?.unwrap_or(true);
    let reason = body.optional_str("reason", MAX_REASON_CHARS)?;
    body.finish()?;
    let room = RoomDirectory::of(ctx).find(ctx.param(0)).await?;
    let vendor = vendor_of(ctx, &room, None, Capability::ParticipantBan)?;
    let (ban, created, rule) =
        service::ban(ctx, &room, vendor, &BanRequest { identity, duration_s, scope, kick, reason }).await?;
    let mut body = ban.to_json();
    body["vendor_rule"] = rule.to_json();
    let mut reply = Reply::ok(body);
    if created {
        reply.status = 201;
    }
    Ok(reply)
}

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let q = paging::parse(ctx.req, &["room", "identity"])?;
    let mut target = None;
    let mut identity = None;
    for (k, v) in &q.rest {
        match k.as_str() {
            // A room id filters even after the room was deleted; a name must name a live room.
            "room" => target = Some(RoomDirectory::of(ctx).filter_id(v).await?),
            _ => identity = Some(Identity::parse(v.clone())?.to_string()),
        }
    }
    let now = ctx.rt.now_ms() as i64;
    let (items, more) =
        bans::page(ctx.rt, ctx.project_id(), target.as_deref(), identity.as_deref(), now, q.after.as_ref(), q.limit)
            .await?;
    let next_cursor = if more { items.last().map(|b| paging::encode_cursor(b.created_at_ms, &b.id)) } else { None };
    Ok(Reply::ok(json!({ "items": items.iter().map(Ban::to_json).collect::<Vec<_>>(), "next_cursor": next_cursor })))
}

pub async fn delete(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let ban = service::lift(ctx, ctx.param(0)).await?;
    Ok(Reply::ok(ban.to_json()))
}

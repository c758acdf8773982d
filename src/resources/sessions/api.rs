//! `GET /v1/rtc/session/list`, `GET /v1/rtc/session/get/{session}`, `GET /v1/rtc/presence`.
//! Read from the stored sessions only: no vendor call, so these answer alike on every vendor.

use serde_json::json;

use super::service::{self, PRESENCE_MAX_SESSIONS};
use crate::api::paging;
use crate::api::{Ctx, Reply};
use crate::domain::identity::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::rooms::directory::RoomDirectory;
use crate::store::sessions::{self, SessionFilter};

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let q = paging::parse(ctx.req, &["room", "identity", "from", "to"])?;
    let (mut room_id, mut identity, mut from, mut to) = (None, None, None, None);
    for (k, v) in &q.rest {
        match k.as_str() {
            // A room id filters even after the room was deleted (its sessions remain); a name
            // must name a live room.
            "room" => room_id = Some(RoomDirectory::of(ctx).filter_id(v).await?),
            "identity" => identity = Some(Identity::parse(v.clone())?.to_string()),
            "from" => from = Some(paging::time_bound("from", v)?),
            _ => to = Some(paging::time_bound("to", v)?),
        }
    }
    // Unbounded by default: every session, however old or new.
    let (from, to) = (from.unwrap_or(0), to.unwrap_or(i64::MAX as u64));
    paging::check_range(from, to, "no bound")?;
    let filter = SessionFilter {
        room_id: room_id.as_deref(),
        identity: identity.as_deref(),
        from_ms: from as i64,
        to_ms: to.min(i64::MAX as u64) as i64,
    };
    let (items, more) = sessions::page(ctx.rt, ctx.project_id(), &filter, q.after.as_ref(), q.limit).await?;
    let next_cursor = if more { items.last().map(|s| paging::encode_cursor(s.joined_at_ms, &s.id)) } else { None };
    let now = ctx.rt.now_ms();
    Ok(Reply::ok(json!({
        "items": items.iter().map(|s| service::to_json(s, now)).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

pub async fn get(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let id = ctx.param(0);
    let session = sessions::find(ctx.rt, ctx.project_id(), id).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::SessionNotFound, format!("no session '{id}' in this project"))
            .with_detail("session", id)
    })?;
    Ok(Reply::ok(service::to_json(&session, ctx.rt.now_ms())))
}

pub async fn presence(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut identity = None;
    for (k, v) in ctx.req.query_pairs() {
        match k.as_str() {
            "identity" => identity = Some(Identity::parse(v)?),
            other => {
                return Err(ApiError::new(ErrorCode::UnknownField, format!("unknown query parameter '{other}'"))
                    .with_detail("field", other))
            }
        }
    }
    let identity = identity.ok_or_else(|| ApiError::invalid_field("identity", "'identity' is required"))?.to_string();
    let (open, truncated) = sessions::present(ctx.rt, ctx.project_id(), &identity, PRESENCE_MAX_SESSIONS).await?;
    Ok(Reply::ok(json!({
        "identity": identity,
        "rooms": service::presence_rooms(&open),
        "truncated": truncated,
    })))
}

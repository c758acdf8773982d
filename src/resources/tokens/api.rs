//! `rtc.token.issue`: a join token in the room vendor's own format, signed in-isolate.
//! The hot path: once warm, the API key, the room and the participant's registry row come
//! from isolate memory, so a repeat token makes no round trip at all; a new identity's
//! registry row is written after the response, Agora's too: its token carries a uid the
//! isolate gives from a block of the room's uids it reserved (`store::uid_blocks`).

use serde::Serialize;
use serde_json::Value;

use super::service::{fold_moderation, register};
use crate::api::body::Body;
use crate::api::{Ctx, Reply};
use crate::domain::identity::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::bans::service::refused;
use crate::resources::rooms::directory::RoomDirectory;
use crate::resources::rooms::service::{vendor_of, MAX_NAME_CHARS};
use crate::resources::timed_sessions::service::schedule;
use crate::resources::timed_sessions::{delay_s, MAX_SESSION_S};
use crate::store::timed_sessions::Deadline;
use crate::time::{parse_rfc3339, rfc3339};
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
    let max_session_s = body.optional_int("max_session_s", 1, MAX_SESSION_S)?;
    let eject_at = body.optional_str("eject_at", 64)?;
    body.finish()?;
    let deadline_ms = session_deadline(ctx.rt.now_ms(), max_session_s, eject_at.as_deref())?;

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
    let now_ms = ctx.rt.now_ms();
    if let Some(at) = deadline_ms {
        // A token never outlives its session: LiveKit refuses a join after it, Agora removes
        // the user when the join privilege (which the token's expiry sets) runs out, ZEGO
        // refuses a new login. The kick at the deadline ends a session every vendor keeps open.
        grant.ttl_s = grant.ttl_s.min(delay_s(now_ms, at).max(1) as u32);
    }
    let token = vendor.join_token(&grant, now_ms, ctx.rt.entropy.as_ref())?;
    if let Some(eject_at_ms) = deadline_ms {
        let deadline = Deadline {
            project_id: ctx.project_id().to_owned(),
            room_id: room.id.clone(),
            identity: grant.identity.to_string(),
            eject_at_ms,
        };
        schedule(ctx.rt, deadline, now_ms);
    }
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

/// The session's deadline (Unix ms) from `max_session_s` or `eject_at`, which exclude each
/// other; `eject_at` must be in the future and no further than `MAX_SESSION_S` away.
fn session_deadline(now_ms: u64, max_session_s: Option<i64>, eject_at: Option<&str>) -> ApiResult<Option<i64>> {
    match (max_session_s, eject_at) {
        (Some(_), Some(_)) => Err(ApiError::new(
            ErrorCode::ConflictingFields,
            "'max_session_s' and 'eject_at' both set a session's end: send one",
        )
        .with_detail("field", "eject_at")),
        (Some(s), None) => Ok(Some(now_ms as i64 + s * 1000)),
        (None, Some(text)) => {
            let at = parse_rfc3339(text)
                .ok_or_else(|| ApiError::invalid_field("eject_at", "'eject_at' must be an RFC 3339 date-time"))?;
            if at <= now_ms as i64 || at > now_ms as i64 + MAX_SESSION_S * 1000 {
                // Well-formed, so not a 400: it cannot be kept, like a vendor's limit.
                return Err(ApiError::new(
                    ErrorCode::DeadlineOutOfRange,
                    format!("'eject_at' must be in the future and at most {MAX_SESSION_S} seconds away"),
                )
                .with_detail("field", "eject_at"));
            }
            Ok(Some(at))
        }
        (None, None) => Ok(None),
    }
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

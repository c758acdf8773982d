//! Ban decisions: storing a ban (or extending it), telling this isolate at once and every
//! other through the change feed, the events, and the kick of whoever is in the room now.

use serde_json::json;

use crate::api::App;
use crate::api::Ctx;
use crate::domain::events::EventType;
use crate::domain::identity::Identity;
use crate::domain::ids;
use crate::domain::limits::{quota_exceeded, Quota};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::events::ingest::{self, Effects, Stored, REDO_AFTER_MS};
use crate::resources::participants::service::{kick_from, kick_out};
use crate::runtime::Runtime;
use crate::store::bans::{self, ActiveBan, Ban, Banned, NewBan};
use crate::store::events::{self as event_store, Event, Pending};
use crate::store::rooms;
use crate::store::rooms::Room;
use crate::vendors::routing;
use crate::vendors::Capability;
use crate::vendors::Vendor;

/// Default and longest ban, in seconds.
pub const DEFAULT_DURATION_S: i64 = 3600;
pub const MAX_DURATION_S: i64 = 30 * 24 * 3600;
pub const MAX_REASON_CHARS: usize = 256;
/// The vendor name of the events the gateway emits itself.
pub const GATEWAY_EVENTS: &str = "rtcgate";

/// Where a ban applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Room,
    Project,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "room" => Some(Scope::Room),
            "project" => Some(Scope::Project),
            _ => None,
        }
    }
}

pub struct BanRequest {
    pub identity: Identity,
    pub duration_s: i64,
    pub scope: Scope,
    pub kick: bool,
    pub reason: Option<String>,
}

/// Bans `req.identity` through `room`; the ban and whether it is new (else extended).
pub(crate) async fn ban(ctx: &Ctx<'_>, room: &Room, vendor: &dyn Vendor, req: &BanRequest) -> ApiResult<(Ban, bool)> {
    let now = ctx.rt.now_ms() as i64;
    let target = match req.scope {
        Scope::Room => room.id.as_str(),
        Scope::Project => bans::PROJECT_TARGET,
    };
    let id = ids::random_id(ctx.rt, "ban_", 22);
    let new = NewBan {
        id: &id,
        project_id: ctx.project_id(),
        target,
        identity: req.identity.as_str(),
        reason: req.reason.as_deref(),
        expires_at_ms: now + req.duration_s * 1000,
    };
    let limit = ctx.app.settings.limits.quota(Quota::Bans);
    let (outcome, stored) = bans::ban(ctx.rt, &new, now, limit).await?;
    if outcome == Banned::OverQuota {
        return Err(quota_exceeded(Quota::Bans, limit));
    }
    let ban = stored.ok_or_else(|| ApiError::internal("a ban just written was not found"))?;
    ctx.app.cache.revocation.apply_own(ctx.project_id(), &ban.id, Some(&active(&ban)));
    emit(ctx, &ban, EventType::ParticipantBanned, Some(&room.id)).await?;
    if req.kick {
        // Whoever is in the room now goes; not being there is no failure of the ban.
        match kick_out(ctx, room, vendor, &req.identity).await {
            Ok(()) => {}
            Err(e) if e.code == ErrorCode::ParticipantNotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok((ban, outcome == Banned::Created))
}

/// Lifts a live ban of the project; `BAN_NOT_FOUND` when there is none by that id.
pub(crate) async fn lift(ctx: &Ctx<'_>, ban_id: &str) -> ApiResult<Ban> {
    let now = ctx.rt.now_ms() as i64;
    let found = bans::find(ctx.rt, ctx.project_id(), ban_id).await?;
    let ban = found.filter(|b| b.ended_at_ms.is_none() && b.expires_at_ms > now).ok_or_else(|| not_found(ban_id))?;
    if !bans::end(ctx.rt, ctx.project_id(), ban_id, now).await? {
        return Err(not_found(ban_id));
    }
    ctx.app.cache.revocation.apply_own(ctx.project_id(), ban_id, None);
    let ended = Ban { ended_at_ms: Some(now), ..ban };
    emit(ctx, &ended, EventType::ParticipantUnbanned, ended.room_id()).await?;
    Ok(ended)
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::BanNotFound, format!("no live ban '{id}' in this project")).with_detail("ban", id)
}

/// `403 PARTICIPANT_BANNED` for a token refused by `ban`.
pub fn refused(ban: &ActiveBan) -> ApiError {
    let expires_at = crate::time::rfc3339(ban.expires_at_ms.max(0) as u64);
    ApiError::new(ErrorCode::ParticipantBanned, format!("'{}' is banned until {expires_at}", ban.identity))
        .with_detail("ban", ban.id.as_str())
        .with_detail("expires_at", expires_at)
        .with_detail("identity", ban.identity.as_str())
}

fn active(ban: &Ban) -> ActiveBan {
    ActiveBan {
        id: ban.id.clone(),
        target: ban.target.clone(),
        identity: ban.identity.clone(),
        expires_at_ms: ban.expires_at_ms,
    }
}

/// Stores the gateway's own event about `ban` (once per ban and end time), then fans it out
/// after the response; the events' redo sweep finishes a fan-out this isolate did not.
async fn emit(ctx: &Ctx<'_>, ban: &Ban, kind: EventType, room_id: Option<&str>) -> ApiResult<()> {
    let now = ctx.rt.now_ms();
    let dedupe_key = match kind {
        EventType::ParticipantBanned => format!("{}:{}:{}", kind.as_str(), ban.id, ban.expires_at_ms),
        _ => format!("{}:{}", kind.as_str(), ban.id),
    };
    let event = Event {
        id: ids::random_id(ctx.rt, "evt_", 22),
        project_id: Some(ban.project_id.clone()),
        room_id: room_id.map(str::to_owned),
        vendor: GATEWAY_EVENTS.to_owned(),
        // Numbered per room, or per project for a project-wide ban.
        vendor_room: room_id.unwrap_or(&ban.project_id).to_owned(),
        kind: kind.as_str().to_owned(),
        identity: Some(ban.identity.clone()),
        seq: 0,
        occurred_at_ms: now as i64,
        received_at_ms: now as i64,
        data: json!({
            "ban": ban.id,
            "scope": ban.scope(),
            "reason": ban.reason,
            "expires_at": crate::time::rfc3339(ban.expires_at_ms.max(0) as u64),
        })
        .to_string(),
    };
    let effects = Effects::default();
    let pending = Pending { effects: effects.to_json(), due_at_ms: (now + REDO_AFTER_MS) as i64 };
    if let Some(event) = event_store::insert_once(ctx.rt, &event, &dedupe_key, Some(&pending)).await? {
        let rt = ctx.rt.clone();
        ctx.rt.after_response(async move {
            if let Err(e) = ingest::apply(&rt, &Stored { event, effects }).await {
                crate::log::warn(&format!("fanning out a ban event (a redo will): {}", e.log_text()));
            }
        });
    }
    Ok(())
}

/// A participant's join reported by the vendor (an old token, minted before the ban, or a
/// server that does not honour revocation): a banned identity is removed at once. Runs after
/// the vendor was answered; the vendor's leave event follows the kick as for any kick.
pub(crate) async fn enforce_on_join(app: &App, rt: &Runtime, event: &Event) -> ApiResult<bool> {
    let (Some(project_id), Some(room_id), Some(identity)) = (&event.project_id, &event.room_id, &event.identity) else {
        return Ok(false);
    };
    if event.kind != EventType::ParticipantJoined.as_str() {
        return Ok(false);
    }
    let Some(_ban) = app.cache.revocation.ban_for(rt, project_id, Some(room_id), identity).await? else {
        return Ok(false);
    };
    let Some(room) = rooms::find(rt, project_id, room_id).await? else { return Ok(false) };
    let vendor = routing::for_room(&app.vendors, &room.vendor, None, Capability::ParticipantKick)?;
    let identity = Identity::parse(identity.clone())?;
    match kick_from(app, rt, &room, vendor, &identity).await {
        Ok(()) => Ok(true),
        Err(e) if e.code == ErrorCode::ParticipantNotFound => Ok(false),
        Err(e) => Err(e),
    }
}

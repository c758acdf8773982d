//! Ban decisions: storing a ban (or extending it), telling this isolate at once and every
//! other through the change feed, the events, and the kick of whoever is in the room now.

use serde_json::{json, Value};

use crate::api::App;
use crate::api::Ctx;
use crate::domain::events::EventType;
use crate::domain::identity::Identity;
use crate::domain::ids;
use crate::domain::limits::{quota_exceeded, Quota};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::events::ingest::{self, Effects, Stored, REDO_AFTER_MS};
use crate::resources::participants::service::{kick_from, participant_ref};
use crate::runtime::Runtime;
use crate::store::bans::{self, ActiveBan, Ban, Banned, NewBan};
use crate::store::events::{self as event_store, Event, Pending};
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

/// What a ban did at its vendor, for the answer.
pub enum RuleOutcome {
    /// The vendor has no ban rule here: tokens alone keep the identity out.
    None,
    Set(VendorRule),
    /// The rule could not be set (translated); the ban stands, enforced by tokens.
    Failed {
        vendor: &'static str,
        error: ApiError,
    },
}

impl RuleOutcome {
    pub fn to_json(&self) -> Value {
        match self {
            RuleOutcome::None => Value::Null,
            RuleOutcome::Set(rule) => rule.to_json(),
            RuleOutcome::Failed { vendor, error } => json!({
                "vendor": vendor,
                "error": { "code": error.code.as_str(), "message": error.message },
            }),
        }
    }
}

/// Bans `req.identity` through `room`; the ban, whether it is new (else extended), and what
/// its vendor rule did.
pub(crate) async fn ban(
    ctx: &Ctx<'_>,
    room: &Room,
    vendor: &dyn Vendor,
    req: &BanRequest,
) -> ApiResult<(Ban, bool, RuleOutcome)> {
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
        match kick_from(ctx.app, ctx.rt, room, vendor, &req.identity, Some(ctx.rt.now_s())).await {
            Ok(()) => {}
            Err(e) if e.code == ErrorCode::ParticipantNotFound => {}
            Err(e) => return Err(e),
        }
    }
    let rule = match apply_rule(ctx.app, ctx.rt, &ban, &room.id, vendor).await {
        Ok(Some(rule)) => RuleOutcome::Set(rule),
        Ok(None) => RuleOutcome::None,
        Err(error) => RuleOutcome::Failed { vendor: vendor.name(), error },
    };
    Ok((ban, outcome == Banned::Created, rule))
}

/// How long before a vendor rule lapses the scheduled job (every 5 minutes) renews it.
pub const RENEW_AHEAD_MS: i64 = 3600 * 1000;
/// After a failed renewal or removal, when the scheduled job tries again.
pub const RULE_RETRY_MS: i64 = 5 * 60 * 1000;
/// Vendor rules one scheduled run renews or removes at most (Agora allows 10 calls/s per
/// account, ZEGO 10/s per app).
pub const RULES_PER_RUN: u32 = 50;

/// A vendor ban rule as stored with its ban.
#[derive(Clone, Debug, PartialEq)]
pub struct VendorRule {
    pub vendor: String,
    /// The room the rule is set in (a project-wide ban's rule is in the room it was made
    /// through: vendor rules by user alone would reach other rooms' people of that uid).
    pub room_id: String,
    pub rule_id: String,
    pub lapses_at_ms: i64,
}

impl VendorRule {
    fn stored(&self) -> String {
        json!({"vendor": self.vendor, "room": self.room_id, "rule": self.rule_id, "lapses_at_ms": self.lapses_at_ms})
            .to_string()
    }

    pub fn parse(text: &str) -> Option<VendorRule> {
        let v: Value = serde_json::from_str(text).ok()?;
        Some(VendorRule {
            vendor: v.get("vendor")?.as_str()?.to_owned(),
            room_id: v.get("room")?.as_str()?.to_owned(),
            rule_id: v.get("rule")?.as_str()?.to_owned(),
            lapses_at_ms: v.get("lapses_at_ms")?.as_i64()?,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({"vendor": self.vendor, "lapses_at": crate::time::rfc3339(self.lapses_at_ms.max(0) as u64)})
    }

    /// When the scheduled job next looks at it: before it lapses if the ban outlasts it, else
    /// when the ban ends (to remove it).
    fn due_at_ms(&self, ban_expires_at_ms: i64) -> i64 {
        if self.lapses_at_ms < ban_expires_at_ms {
            self.lapses_at_ms - RENEW_AHEAD_MS
        } else {
            ban_expires_at_ms
        }
    }
}

/// Sets (or renews) `ban`'s vendor rule in `room_id` for the rest of the ban, and records it.
async fn apply_rule(
    app: &App,
    rt: &Runtime,
    ban: &Ban,
    room_id: &str,
    vendor: &dyn Vendor,
) -> ApiResult<Option<VendorRule>> {
    let now = rt.now_ms() as i64;
    let seconds = ((ban.expires_at_ms - now).max(0) as u64).div_ceil(1000);
    let previous = ban.vendor_rule.as_deref().and_then(VendorRule::parse).filter(|r| r.vendor == vendor.name());
    let who = participant_ref(app, rt, room_id, &ban.identity).await?;
    let answer = vendor.set_ban_rule(rt, room_id, &who, seconds, previous.as_ref().map(|r| r.rule_id.as_str())).await;
    let set = routing::observe(&app.vendors, rt, vendor.name(), answer).await.map_err(|e| e.to_api_error())?;
    let Some(set) = set else { return Ok(None) };
    let rule = VendorRule {
        vendor: vendor.name().to_owned(),
        room_id: room_id.to_owned(),
        rule_id: set.id,
        lapses_at_ms: set.lapses_at_ms as i64,
    };
    bans::set_rule(rt, &ban.project_id, &ban.id, Some(&rule.stored()), Some(rule.due_at_ms(ban.expires_at_ms))).await?;
    Ok(Some(rule))
}

/// Removes `ban`'s vendor rule; on failure it stays due, for the scheduled job to retry.
async fn remove_rule(app: &App, rt: &Runtime, ban: &Ban) -> ApiResult<()> {
    let Some(rule) = ban.vendor_rule.as_deref().and_then(VendorRule::parse) else {
        return bans::set_rule(rt, &ban.project_id, &ban.id, None, None).await;
    };
    let now = rt.now_ms() as i64;
    let vendor = routing::for_room(&app.vendors, &rule.vendor, None, Capability::ParticipantBan)?;
    let who = participant_ref(app, rt, &rule.room_id, &ban.identity).await?;
    let answer = vendor.remove_ban_rule(rt, &rule.room_id, &who, &rule.rule_id).await;
    match routing::observe(&app.vendors, rt, vendor.name(), answer).await {
        Ok(()) => bans::set_rule(rt, &ban.project_id, &ban.id, None, None).await,
        Err(e) if rule.lapses_at_ms <= now => {
            // Lapsed by itself meanwhile.
            crate::log::warn(&format!("removing a lapsed {} ban rule: {}", rule.vendor, e.summary));
            bans::set_rule(rt, &ban.project_id, &ban.id, None, None).await
        }
        Err(e) => {
            bans::set_rule(rt, &ban.project_id, &ban.id, ban.vendor_rule.as_deref(), Some(now + RULE_RETRY_MS)).await?;
            Err(e.to_api_error())
        }
    }
}

/// The scheduled job: renews vendor rules of live bans before they lapse (a 30-day ban
/// outlives a vendor's 24 h cap many times over) and removes those of bans that ended.
/// Returns (renewed, removed, failed).
pub async fn maintain_rules(app: &App, rt: &Runtime) -> ApiResult<(u32, u32, u32)> {
    let now = rt.now_ms() as i64;
    let mut done = (0, 0, 0);
    for ban in bans::rules_due(rt, now, RULES_PER_RUN).await? {
        let live = ban.ended_at_ms.is_none() && ban.expires_at_ms > now;
        let result = match ban.vendor_rule.as_deref().and_then(VendorRule::parse) {
            Some(rule) if live => match routing::for_room(&app.vendors, &rule.vendor, None, Capability::ParticipantBan)
            {
                Ok(vendor) => apply_rule(app, rt, &ban, &rule.room_id, vendor).await.map(|_| done.0 += 1),
                Err(e) => Err(e),
            },
            _ => remove_rule(app, rt, &ban).await.map(|_| done.1 += 1),
        };
        if let Err(e) = result {
            crate::log::warn(&format!("the vendor rule of {}: {}", ban.id, e.log_text()));
            done.2 += 1;
            if live {
                bans::set_rule(rt, &ban.project_id, &ban.id, ban.vendor_rule.as_deref(), Some(now + RULE_RETRY_MS))
                    .await?;
            }
        }
    }
    Ok(done)
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
    if ended.vendor_rule.is_some() {
        // A failure leaves the rule due: the scheduled job removes it.
        if let Err(e) = remove_rule(ctx.app, ctx.rt, &ended).await {
            crate::log::warn(&format!("removing the vendor rule of {ban_id}: {}", e.log_text()));
        }
    }
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

//! Moderation decisions. A hard mute or a permission change is stored first (every later
//! token folds it in, from any isolate once its room cache entry is re-read), then enforced at
//! the vendor now; a vendor refusal puts the stored state back. A soft mute is the vendor's
//! alone (the participant may unmute) and is not stored.

use serde_json::{json, Value};

use crate::api::{App, Ctx};
use crate::domain::events::{EventType, Incoming, Who};
use crate::domain::identity::Identity;
use crate::domain::limits::Quota;
use crate::domain::moderation::{MediaSet, Moderation};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::events::ingest;
use crate::resources::participants::service::participant_ref;
use crate::runtime::Runtime;
use crate::store::moderation::{self, Stored};
use crate::store::rooms::{self, Room};
use crate::time::rfc3339;
use crate::vendors::{
    routing, Enforced, ModerationChange, ParticipantRef, Vendor, VendorError, VendorFailure, REMOTE_UNMUTE_DISABLED,
    RULES_NOT_ENABLED,
};

/// A `participant/mute` request, parsed.
pub struct Mute {
    pub identity: Identity,
    pub media: MediaSet,
    pub muted: bool,
    pub soft: bool,
    pub duration_s: Option<i64>,
}

/// A `participant/update` request, parsed.
pub struct Update {
    pub identity: Identity,
    pub can_publish: Option<bool>,
    pub can_subscribe: Option<bool>,
    pub can_publish_data: Option<bool>,
    pub display_name: Option<String>,
    /// The metadata object as JSON text.
    pub metadata: Option<String>,
}

pub(crate) async fn mute(ctx: &Ctx<'_>, room: &Room, vendor: &dyn Vendor, mute: &Mute) -> ApiResult<Value> {
    let now = ctx.rt.now_ms();
    let who = participant(ctx, room, &mute.identity).await?;
    if mute.soft {
        let result = vendor.mute_soft(ctx.rt, &room.id, &who, mute.media, mute.muted).await;
        routing::observe(&ctx.app.vendors, ctx.rt, vendor.name(), result).await.map_err(|e| match e.failure {
            VendorFailure::NotFound => not_in_room(room, &mute.identity),
            _ => translated(&e),
        })?;
        let stored = moderation::get(ctx.rt, ctx.project_id(), &room.id, mute.identity.as_str()).await?;
        let state = stored.map(|s| s.moderation).unwrap_or_else(|| Moderation::new(mute.identity.as_str()));
        let soft = if mute.muted { mute.media } else { MediaSet::EMPTY };
        announce(ctx.rt, room, vendor, &mute.identity, mute.media, mute.muted, "soft", None).await?;
        return Ok(with_applied(state.to_json(&room.id, soft, now), true));
    }
    let expires_at = mute.duration_s.map(|s| now as i64 + s * 1000);
    let (after, enforced) = change(ctx, room, vendor, &who, None, None, |m| {
        let current = m.muted_at(now);
        if mute.muted {
            m.hard_muted = current.union(mute.media);
            m.mute_expires_at_ms = expires_at;
        } else {
            m.hard_muted = current.without(mute.media);
            if m.hard_muted.is_empty() {
                m.mute_expires_at_ms = None;
            }
        }
    })
    .await?;
    announce(ctx.rt, room, vendor, &mute.identity, mute.media, mute.muted, "hard", expires_at).await?;
    Ok(with_applied(after.to_json(&room.id, MediaSet::EMPTY, now), enforced.applied))
}

pub(crate) async fn update(ctx: &Ctx<'_>, room: &Room, vendor: &dyn Vendor, update: &Update) -> ApiResult<Value> {
    let who = participant(ctx, room, &update.identity).await?;
    let (after, enforced) =
        change(ctx, room, vendor, &who, update.display_name.as_deref(), update.metadata.as_deref(), |m| {
            m.can_publish = update.can_publish.or(m.can_publish);
            m.can_subscribe = update.can_subscribe.or(m.can_subscribe);
            m.can_publish_data = update.can_publish_data.or(m.can_publish_data);
        })
        .await?;
    Ok(with_applied(after.to_json(&room.id, MediaSet::EMPTY, ctx.rt.now_ms()), enforced.applied))
}

/// Stores the participant's moderation as `edit` leaves it, then enforces it at the vendor;
/// a vendor failure restores what was stored. Returns the new state and what the vendor did.
#[allow(clippy::too_many_arguments)]
async fn change(
    ctx: &Ctx<'_>,
    room: &Room,
    vendor: &dyn Vendor,
    who: &ParticipantRef,
    display_name: Option<&str>,
    metadata: Option<&str>,
    edit: impl FnOnce(&mut Moderation),
) -> ApiResult<(Moderation, Enforced)> {
    let (rt, project) = (ctx.rt, ctx.project_id());
    let now = rt.now_ms();
    let quota = ctx.app.settings.limits.quota(Quota::ModeratedParticipants);
    let stored = moderation::get(rt, project, &room.id, &who.identity)
        .await?
        .unwrap_or_else(|| Stored { moderation: Moderation::new(&who.identity), vendor_rules: None });
    let mut after = stored.moderation.clone();
    edit(&mut after);
    // Stored before the vendor is asked: a token minted meanwhile already folds it in.
    let edited = Stored { moderation: after.clone(), ..stored.clone() };
    moderation::put(rt, project, &room.id, &edited, None, now, quota).await?;
    ctx.app.cache.rooms.forget(&room.id);
    let result = enforce(rt, &ctx.app.vendors, room, vendor, who, &stored, &after, display_name, metadata).await;
    match result {
        Ok(enforced) => {
            let kept = Stored { moderation: after.clone(), vendor_rules: enforced.rules.clone() };
            if kept.vendor_rules.is_some() || stored.vendor_rules.is_some() {
                moderation::put(rt, project, &room.id, &kept, enforced.rules_expire_at_ms, now, quota).await?;
            }
            Ok((after, enforced))
        }
        Err(e) => {
            moderation::put(rt, project, &room.id, &stored, None, now, quota).await?;
            ctx.app.cache.rooms.forget(&room.id);
            Err(e)
        }
    }
}

/// Brings the vendor from `stored` to `after`. Also what the scheduled job can call to renew
/// vendor rules before their 24 h cap: with `after` equal to `stored.moderation`, the vendor
/// re-applies its rules and answers their new expiry.
#[allow(clippy::too_many_arguments)]
pub async fn enforce(
    rt: &Runtime,
    vendors: &routing::VendorRouter,
    room: &Room,
    vendor: &dyn Vendor,
    who: &ParticipantRef,
    stored: &Stored,
    after: &Moderation,
    display_name: Option<&str>,
    metadata: Option<&str>,
) -> ApiResult<Enforced> {
    let change = ModerationChange {
        room_id: &room.id,
        who,
        before: &stored.moderation,
        after,
        rules: stored.vendor_rules.as_ref(),
        display_name,
        metadata,
        now_ms: rt.now_ms(),
    };
    let result = vendor.enforce_moderation(rt, &change).await;
    routing::observe(vendors, rt, vendor.name(), result).await.map_err(|e| translated(&e))
}

/// How long before a vendor rule lapses it is renewed.
pub const RENEW_AHEAD_MS: i64 = 60 * 60 * 1000;

/// Renews up to `limit` participants' vendor rules that lapse within `RENEW_AHEAD_MS` (Agora and
/// ZEGO rules last at most 24 h; a mute may last 30 days): each is enforced again from its stored
/// state, which replaces its rules and stores their new expiry. For the scheduled job. A row
/// whose room is gone or whose renewal fails is left for the next run (and logged).
pub async fn renew_due_rules(rt: &Runtime, app: &App, limit: u32) -> ApiResult<u32> {
    let now = rt.now_ms();
    let mut renewed = 0;
    for due in moderation::due(rt, now as i64 + RENEW_AHEAD_MS, limit).await? {
        let identity = due.stored.moderation.identity.clone();
        let outcome = renew(rt, app, &due).await;
        match outcome {
            Ok(()) => renewed += 1,
            Err(e) => crate::log::error(&format!(
                "renewing moderation rules of {identity} in {}: {}",
                due.room_id,
                e.log_text()
            )),
        }
    }
    Ok(renewed)
}

async fn renew(rt: &Runtime, app: &App, due: &moderation::Due) -> ApiResult<()> {
    let now = rt.now_ms();
    // The row exists, so the quota never refuses it; passed all the same.
    let quota = app.settings.limits.quota(Quota::ModeratedParticipants);
    let Some(room) = rooms::find(rt, &due.project_id, &due.room_id).await? else {
        // The room is gone: nothing to keep enforcing.
        return moderation::put(
            rt,
            &due.project_id,
            &due.room_id,
            &Stored { vendor_rules: None, ..due.stored.clone() },
            None,
            now,
            quota,
        )
        .await;
    };
    let vendor = routing::for_room(&app.vendors, &room.vendor, None, crate::vendors::Capability::ParticipantMuteHard)?;
    let identity = &due.stored.moderation.identity;
    let who = participant_ref(app, rt, &room.id, identity).await?;
    let moderation = &due.stored.moderation;
    let enforced = enforce(rt, &app.vendors, &room, vendor, &who, &due.stored, moderation, None, None).await?;
    let kept = Stored { moderation: moderation.clone(), vendor_rules: enforced.rules };
    moderation::put(rt, &due.project_id, &room.id, &kept, enforced.rules_expire_at_ms, now, quota).await
}

async fn participant(ctx: &Ctx<'_>, room: &Room, identity: &Identity) -> ApiResult<ParticipantRef> {
    participant_ref(ctx.app, ctx.rt, &room.id, identity.as_str()).await
}

fn not_in_room(room: &Room, identity: &Identity) -> ApiError {
    ApiError::new(ErrorCode::ParticipantNotFound, format!("'{identity}' is not in room {}", room.id))
        .with_detail("identity", identity.as_str())
}

/// A vendor's refusal in the contract's words: settings the vendor side lacks are
/// `UNSUPPORTED_BY_VENDOR` naming what to turn on; the rest as every vendor error.
fn translated(e: &VendorError) -> ApiError {
    let unsupported = |message: String, field: &str| {
        ApiError::new(ErrorCode::UnsupportedByVendor, message)
            .with_detail("field", field.to_owned())
            .with_detail("vendor", e.vendor)
            .with_cause(e.summary.clone())
    };
    match e.vendor_code.as_deref() {
        Some(REMOTE_UNMUTE_DISABLED) => unsupported(
            format!("{} does not let the server unmute a participant (enable room.enable_remote_unmute)", e.vendor),
            "muted",
        ),
        Some(RULES_NOT_ENABLED) => unsupported(
            format!("{}'s moderation rules are not enabled for this app (its support enables them)", e.vendor),
            "media",
        ),
        _ => e.to_api_error(),
    }
}

fn with_applied(mut state: Value, applied: bool) -> Value {
    state["applied"] = json!(applied);
    state
}

/// `participant.muted` / `participant.unmuted` on the project's event stream and webhooks.
#[allow(clippy::too_many_arguments)]
async fn announce(
    rt: &Runtime,
    room: &Room,
    vendor: &dyn Vendor,
    identity: &Identity,
    media: MediaSet,
    muted: bool,
    mode: &str,
    expires_at_ms: Option<i64>,
) -> ApiResult<()> {
    let now = rt.now_ms();
    let media: Vec<&str> = media.iter().map(|m| m.name()).collect();
    let incoming = Incoming {
        vendor: vendor.name(),
        dedupe_key: crate::domain::ids::random_id(rt, "mod_", 22),
        vendor_room: room.id.clone(),
        kind: if muted { EventType::ParticipantMuted } else { EventType::ParticipantUnmuted },
        who: Some(Who::Identity(identity.to_string())),
        occurred_at_ms: now,
        session: None,
        recording: None,
        data: json!({
            "media": media,
            "mode": mode,
            "expires_at": expires_at_ms.map(|ms| rfc3339(ms.max(0) as u64)),
        }),
    };
    if let Some(stored) = ingest::store(rt, &incoming, now).await? {
        ingest::apply(rt, &stored).await?;
    }
    Ok(())
}

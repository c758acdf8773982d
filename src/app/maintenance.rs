//! The scheduled job (a Cron Trigger; `src/edge` hands each run to [`run`]): keeps the shared
//! database bounded and usage honest.
//!
//! - **Reconciliation**: a session left open because its leave event never came is compared
//!   with its vendor's own participant list. A session whose identity the vendor no longer
//!   lists is closed at the last time it was known present (the last run that found it listed,
//!   else its join), so it is short by at most the time between that run and the one that
//!   missed it. A room whose vendor cannot be asked (unconfigured, down, any error) is left as
//!   it is: nothing is closed on an error.
//! - **Stream layouts**: on the vendors whose stream layout rtcgate makes (Agora, ZEGO), the
//!   running streams checked longest ago are laid out from the stored publisher events unless
//!   the vendor has that layout already: a layout the vendor refused, or whose event was stored
//!   but never followed, is sent (`resources::streams::service::sweep_layouts`).
//! - **Bans**: expired bans are ended (they leave the quota), vendor ban rules (Agora, ZEGO:
//!   at most about a day each) are renewed before they lapse while their ban lasts, and
//!   removed when it ends.
//! - **Moderation rules**: Agora and ZEGO rules enforcing a hard mute last at most 24 h; those
//!   lapsing within the hour are renewed from the stored mute (`RULES_PER_RUN` per run).
//! - **Retention**: events, webhook deliveries, finished sessions, expired idempotency records
//!   and stale vendor nonces older than their window are deleted oldest first, in batches.
//!
//! - **Moderation rows**: those of rooms deleted within the last day, and those whose hard mute
//!   ended with nothing else left, are deleted; an ended mute is cleared from rows that keep a
//!   permission override (`store::moderation::Sweep`).
//! - **Timed sessions**: deadlines too far off for a delayed queue message when their token was
//!   issued (more than 12 h), or whose message could not be sent, are queued once they come
//!   within 12 h, with the delay left; those whose message was dead-lettered or lost are queued
//!   again, and ended with a logged reason after `MAX_DEAD_LETTERS` failed messages
//!   (`resources::timed_sessions::service::sweep`).
//!
//! All are bounded per run (rooms asked, sessions read, batches deleted), so one run takes
//! bounded time and the next run continues where it stopped.

use std::collections::HashSet;

use crate::api::settings::RetentionSettings;
use crate::api::App;
use crate::error::ApiResult;
use crate::runtime::Runtime;
use crate::store::retention::{self, Kind};
use crate::store::{idempotency, moderation, participants, sessions};
use crate::vendors::routing;
use crate::vendors::{Capability, VendorFailure};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Rows per delete statement.
pub const BATCH_ROWS: u32 = 500;
/// Delete statements per kind per run: at most `BATCH_ROWS` × this rows of a kind per run.
pub const MAX_BATCHES_PER_KIND: u32 = 10;
/// Rooms whose vendor is asked per run (one participant-list call each; Agora allows 10 per
/// second per account for channel management).
pub const ROOMS_PER_RUN: usize = 20;
/// Open sessions looked at to find the rooms due, and read per room, per run.
pub const SESSIONS_SCANNED: u32 = 500;
/// Participants whose vendor moderation rules are renewed per run (two vendor calls each;
/// Agora allows 10 per second per account, ZEGO 10 rule calls per second per app).
pub const RULES_PER_RUN: u32 = 20;
/// A session that began this recently is not closed for being unlisted: the vendor's list may
/// not show a participant who has just joined.
pub const JOIN_GRACE_MS: i64 = 60_000;

impl RetentionSettings {
    /// Rows of `kind` older than this go (`None`: the kind is kept forever).
    pub fn cutoff_ms(&self, kind: Kind, now_ms: i64) -> Option<i64> {
        let days = |n: u32| (n > 0).then(|| now_ms - i64::from(n) * DAY_MS);
        match kind {
            Kind::Events | Kind::Deliveries => days(self.retention_days),
            Kind::Sessions => days(self.session_retention_days),
            // Keys are honoured for `RETENTION_MS`, and purged after twice that.
            Kind::Idempotency => Some(now_ms - 2 * idempotency::RETENTION_MS as i64),
            // Callbacks older than the timestamp window are refused anyway.
            Kind::Nonces => Some(now_ms - 2 * crate::vendors::zego::webhook::MAX_SKEW_S as i64 * 1000),
            // Isolates read the feed every few seconds; a day is ample.
            Kind::Changes => Some(now_ms - crate::store::changes::FEED_RETENTION_MS as i64),
        }
    }
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Stored vendor events whose effects were applied by this run (they had failed or been
    /// cancelled after the event's 2xx), and those whose redo failed again.
    pub effects_applied: u32,
    pub effects_failed: u32,
    /// Running streams whose layout was checked, layouts sent because the vendor lacked them,
    /// and sends that failed (tried again in a later run).
    pub layouts_checked: u32,
    pub layouts_sent: u32,
    pub layouts_failed: u32,
    /// Rooms whose vendor listed its participants.
    pub rooms_checked: u32,
    /// Rooms left alone because their vendor could not be asked.
    pub rooms_skipped: u32,
    /// Sessions closed because their identity was no longer listed.
    pub sessions_closed: u64,
    /// Participants whose vendor moderation rules were renewed.
    pub rules_renewed: u32,
    /// Timed-session ejections queued by this run, and deadlines it ended after their
    /// ejection failed too often (logged).
    pub ejections_queued: u32,
    pub ejections_abandoned: u32,
    /// Moderation rows deleted (their room deleted, their mute ended with nothing else left)
    /// or cleared of an ended mute.
    pub moderation_swept: u64,
    /// Rows deleted, per kind (in `Kind::ALL` order).
    pub deleted: Vec<(Kind, u64)>,
    /// Expired bans ended (they no longer count against the quota).
    pub bans_ended: u64,
    /// Vendor ban rules renewed before they lapsed, removed after their ban ended, and failed
    /// (tried again in a later run).
    pub ban_rules: (u32, u32, u32),
    /// Kinds that still had rows past their cutoff when the run's batches ran out.
    pub more_to_delete: Vec<Kind>,
}

impl Report {
    pub fn deleted(&self, kind: Kind) -> u64 {
        self.deleted.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n)
    }

    pub fn summary(&self) -> String {
        let deleted: Vec<String> = self.deleted.iter().map(|(k, n)| format!("{}={n}", k.name())).collect();
        format!(
            "scheduled: {} event effects redone ({} failed again); {} stream layouts checked, {} sent ({} failed); \
             {} rooms reconciled, {} skipped, {} sessions closed; {} moderation rules renewed; \
             {} moderation rows swept; {} ejections queued ({} given up); deleted {}{}",
            self.effects_applied,
            self.effects_failed,
            self.layouts_checked,
            self.layouts_sent,
            self.layouts_failed,
            self.rooms_checked,
            self.rooms_skipped,
            self.sessions_closed,
            self.rules_renewed,
            self.moderation_swept,
            self.ejections_queued,
            self.ejections_abandoned,
            deleted.join(" "),
            if self.more_to_delete.is_empty() { "" } else { " (more left for the next run)" }
        )
    }
}

/// One run of the scheduled job at the runtime's clock.
pub async fn run(app: &App, rt: &Runtime) -> Report {
    let mut report = Report::default();
    // Effects first: a session a redone join opens is then reconciled in the same run.
    match crate::resources::events::ingest::redo_unfinished(rt, crate::resources::events::ingest::REDO_BATCH).await {
        Ok(redone) => (report.effects_applied, report.effects_failed) = (redone.applied, redone.failed),
        Err(e) => crate::log::error(&format!("redoing event effects: {}", e.log_text())),
    }
    let layouts = crate::resources::streams::service::sweep_layouts(
        app,
        rt,
        crate::resources::streams::service::LAYOUT_CHECKS_PER_RUN,
    )
    .await;
    match layouts {
        Ok(swept) => {
            (report.layouts_checked, report.layouts_sent, report.layouts_failed) =
                (swept.checked, swept.sent, swept.failed)
        }
        Err(e) => crate::log::error(&format!("stream layouts: {}", e.log_text())),
    }
    reconcile(app, rt, &mut report).await;
    end_expired_bans(rt, &mut report).await;
    match crate::resources::bans::service::maintain_rules(app, rt).await {
        Ok((renewed, removed, failed)) => report.ban_rules = (renewed, removed, failed),
        Err(e) => crate::log::error(&format!("renewing vendor ban rules: {}", e.log_text())),
    }
    match crate::resources::moderation::service::renew_due_rules(rt, app, RULES_PER_RUN).await {
        Ok(renewed) => report.rules_renewed = renewed,
        Err(e) => crate::log::error(&format!("renewing moderation rules: {}", e.log_text())),
    }
    sweep_moderation(rt, &mut report).await;
    match crate::resources::timed_sessions::service::sweep(rt).await {
        Ok(swept) => (report.ejections_queued, report.ejections_abandoned) = (swept.queued, swept.abandoned),
        Err(e) => crate::log::error(&format!("timed sessions: {}", e.log_text())),
    }
    retain(&app.settings.maintenance, rt, &mut report).await;
    report
}

/// The scheduled job: ends bans past their expiry (every isolate already stopped enforcing
/// them at that time), so that they leave the quota; bounded per run.
pub async fn end_expired_bans(rt: &Runtime, report: &mut Report) {
    let now = rt.now_ms() as i64;
    for _ in 0..MAX_BATCHES_PER_KIND {
        match crate::store::bans::end_expired(rt, now, BATCH_ROWS).await {
            Ok(n) => {
                report.bans_ended += n;
                if n < u64::from(BATCH_ROWS) {
                    return;
                }
            }
            Err(e) => {
                crate::log::error(&format!("ending expired bans: {}", e.log_text()));
                return;
            }
        }
    }
}

/// The scheduled job: moderation rows that impose nothing any more (see
/// `store::moderation::Sweep`), `MAX_BATCHES_PER_KIND` batches of each at most. A failed batch
/// is logged and ends that sweep for this run.
pub async fn sweep_moderation(rt: &Runtime, report: &mut Report) {
    let now = rt.now_ms() as i64;
    for sweep in moderation::Sweep::ALL {
        for _ in 0..MAX_BATCHES_PER_KIND {
            match moderation::sweep(rt, sweep, now, BATCH_ROWS).await {
                Ok(n) => {
                    report.moderation_swept += n;
                    if n < u64::from(BATCH_ROWS) {
                        break;
                    }
                }
                Err(e) => {
                    crate::log::error(&format!("moderation sweep {sweep:?}: {}", e.log_text()));
                    break;
                }
            }
        }
    }
}

/// Deletes every kind's old rows, `MAX_BATCHES_PER_KIND` batches at most each. A failed batch
/// is logged and ends that kind for this run; the next run tries again.
pub async fn retain(settings: &RetentionSettings, rt: &Runtime, report: &mut Report) {
    let now = rt.now_ms() as i64;
    for kind in Kind::ALL {
        let Some(cutoff) = settings.cutoff_ms(kind, now) else { continue };
        let mut total = 0;
        let mut batches = 0;
        loop {
            match retention::delete_batch(rt, kind, cutoff, BATCH_ROWS).await {
                Ok(n) => {
                    total += n;
                    batches += 1;
                    if n < u64::from(BATCH_ROWS) {
                        break;
                    }
                    if batches == MAX_BATCHES_PER_KIND {
                        report.more_to_delete.push(kind);
                        break;
                    }
                }
                Err(e) => {
                    crate::log::error(&format!("retention of {}: {}", kind.name(), e.log_text()));
                    break;
                }
            }
        }
        report.deleted.push((kind, total));
    }
}

/// Compares the open sessions of up to `ROOMS_PER_RUN` rooms (those checked longest ago) with
/// their vendors' participant lists.
pub async fn reconcile(app: &App, rt: &Runtime, report: &mut Report) {
    let started = rt.now_ms() as i64;
    let due = match sessions::due_rooms(rt, started, SESSIONS_SCANNED, ROOMS_PER_RUN).await {
        Ok(due) => due,
        Err(e) => {
            crate::log::error(&format!("reconciliation: {}", e.log_text()));
            return;
        }
    };
    for room in due {
        match reconcile_room(app, rt, &room).await {
            Ok(Some(closed)) => {
                report.rooms_checked += 1;
                report.sessions_closed += closed;
            }
            Ok(None) => report.rooms_skipped += 1,
            Err(e) => {
                report.rooms_skipped += 1;
                crate::log::error(&format!("reconciliation of {}: {}", room.room_id, e.log_text()));
            }
        }
    }
}

/// One room: `Some(sessions closed)`, or `None` when its vendor could not be asked (the
/// sessions read are still marked checked, so the next run moves on to other rooms).
async fn reconcile_room(app: &App, rt: &Runtime, room: &sessions::DueRoom) -> ApiResult<Option<u64>> {
    let open = sessions::open_in_room(rt, &room.room_id, SESSIONS_SCANNED).await?;
    let checked: Vec<&str> = open.iter().map(|s| s.key.as_str()).collect();
    let listed_at = rt.now_ms() as i64;
    let Some(listed) = listed_identities(app, rt, room).await? else {
        sessions::reconcile(rt, &room.room_id, &checked, &[], &[], listed_at).await?;
        return Ok(None);
    };
    let (mut seen, mut unlisted) = (Vec::new(), Vec::new());
    for s in &open {
        if listed.contains(&s.identity) {
            seen.push(s.key.as_str());
        } else if s.joined_at_ms.is_some_and(|joined| joined <= listed_at - JOIN_GRACE_MS) {
            unlisted.push(s.key.as_str());
        }
    }
    let closed = sessions::reconcile(rt, &room.room_id, &checked, &seen, &unlisted, listed_at).await?;
    Ok(Some(closed))
}

/// The identities the room's vendor lists now; `None` when it cannot be asked. A vendor that
/// answers that the room does not exist lists nobody: the room has ended (Agora answers so
/// with an empty channel).
async fn listed_identities(app: &App, rt: &Runtime, room: &sessions::DueRoom) -> ApiResult<Option<HashSet<String>>> {
    let Some(vendor) = app.vendors.iter().find(|v| v.name == room.vendor).and_then(|v| v.ready()) else {
        return Ok(None);
    };
    if !vendor.supports(Capability::ParticipantList) {
        return Ok(None);
    }
    let live = match routing::observe(
        &app.vendors,
        rt,
        vendor.name(),
        vendor.list_participants(rt, &room.room_id).await,
    )
    .await
    {
        Ok(live) => live,
        // The vendor's own answer that the room does not exist (its error code says so); a
        // bare 404 (a wrong base URL, say) is an error like any other.
        Err(e) if e.failure == VendorFailure::NotFound && e.vendor_code.is_some() => Vec::new(),
        Err(e) => {
            crate::log::warn(&format!("reconciliation of {}: {} not asked: {}", room.room_id, room.vendor, e.summary));
            return Ok(None);
        }
    };
    // Vendors that list numeric uids are mapped back to identities through the registry.
    let uids: Vec<u32> = live.iter().filter(|p| p.identity.is_none()).filter_map(|p| p.uid).collect();
    let registry =
        if uids.is_empty() { Default::default() } else { participants::by_uids(rt, &room.room_id, &uids).await? };
    Ok(Some(
        live.into_iter()
            .filter_map(|p| p.identity.or_else(|| p.uid.and_then(|uid| registry.get(&uid)).map(|r| r.identity.clone())))
            .collect(),
    ))
}

//! Scheduling an ejection when a timed token is issued, carrying it out at the deadline, and
//! the scheduled job's sweep of deadlines too far off for a delayed queue message.

use serde_json::json;

use super::{delay_s, message, MAX_QUEUE_DELAY_S};
use crate::api::App;
use crate::domain::events::{EventType, Incoming, Who};
use crate::domain::identity::Identity;
use crate::error::{ApiResult, ErrorCode};
use crate::resources::events::ingest;
use crate::resources::participants::service::kick_from;
use crate::runtime::Runtime;
use crate::store::rooms;
use crate::store::timed_sessions::{self, Deadline};
use crate::time::rfc3339;
use crate::vendors::Capability;

/// Deadlines the scheduled job queues per run.
pub const SWEEP_BATCH: u32 = 200;

/// After the token's response: stores the deadline (the latest token wins), then queues its
/// ejection when the deadline is within a queue delay's reach. One D1 write and one queue send,
/// neither before the answer. A failure is logged: an unstored deadline ejects nobody, an
/// unsent message is left to the scheduled job (the row says it is not queued).
pub fn schedule(rt: &Runtime, deadline: Deadline, issued_at_ms: u64) {
    let rt = rt.clone();
    rt.clone().after_response(async move {
        let delay = delay_s(rt.now_ms(), deadline.eject_at_ms);
        let queue_now = delay <= MAX_QUEUE_DELAY_S;
        if let Err(e) = timed_sessions::set(&rt, &deadline, issued_at_ms as i64, queue_now).await {
            crate::log::error(&format!(
                "timed session of '{}' in {}: the deadline was not stored: {}",
                deadline.identity,
                deadline.room_id,
                e.log_text()
            ));
            return;
        }
        if queue_now {
            enqueue(&rt, &deadline, delay).await;
        }
    });
}

/// Sends the ejection message; on failure marks the deadline unqueued for the sweep.
async fn enqueue(rt: &Runtime, deadline: &Deadline, delay: u64) {
    if let Err(why) = rt.queue.send(&message(deadline), delay as u32).await {
        crate::log::warn(&format!(
            "timed session of '{}' in {}: ejection not queued ({why}); the scheduled job will",
            deadline.identity, deadline.room_id
        ));
        if let Err(e) = timed_sessions::mark_queued(rt, deadline, false).await {
            crate::log::error(&format!("timed session of '{}': {}", deadline.identity, e.log_text()));
        }
    }
}

/// What an ejection message led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ejection {
    /// The participant was removed and `participant.ejected` recorded.
    Ejected,
    /// They were not in the room (or the room is gone): nothing to do.
    Absent,
    /// A later token replaced this deadline (or it already ran): the message is stale.
    Superseded,
    /// Handed over before its deadline: queued again for the time left.
    Requeued,
}

/// Handles one ejection message. `Err` when it should be tried again (storage or the vendor
/// failing): the queue redelivers it.
pub async fn eject(app: &App, rt: &Runtime, deadline: &Deadline) -> Result<Ejection, String> {
    let fail = |e: crate::error::ApiError| e.log_text().to_owned();
    let current =
        timed_sessions::current(rt, &deadline.project_id, &deadline.room_id, &deadline.identity).await.map_err(fail)?;
    if current != Some(deadline.eject_at_ms) {
        return Ok(Ejection::Superseded);
    }
    let delay = delay_s(rt.now_ms(), deadline.eject_at_ms);
    if delay > 0 {
        rt.queue.send(&message(deadline), delay.min(MAX_QUEUE_DELAY_S) as u32).await?;
        return Ok(Ejection::Requeued);
    }
    let room = rooms::find(rt, &deadline.project_id, &deadline.room_id).await.map_err(fail)?;
    let outcome = match room {
        None => Ejection::Absent,
        Some(room) => {
            let vendor =
                crate::vendors::routing::for_room(&app.vendors, &room.vendor, None, Capability::ParticipantKick)
                    .map_err(fail)?;
            let identity = Identity::parse(deadline.identity.clone()).map_err(fail)?;
            match kick_from(app, rt, &room, vendor, &identity, None).await {
                Ok(()) => {
                    record_ejection(rt, vendor.name(), deadline).await.map_err(fail)?;
                    Ejection::Ejected
                }
                Err(e) if e.code == ErrorCode::ParticipantNotFound => Ejection::Absent,
                Err(e) => return Err(fail(e)),
            }
        }
    };
    timed_sessions::done(rt, deadline).await.map_err(fail)?;
    Ok(outcome)
}

/// `participant.ejected` on the room's event stream, stored once per deadline and fanned out
/// to the project's webhooks like a vendor's event.
async fn record_ejection(rt: &Runtime, vendor: &'static str, deadline: &Deadline) -> ApiResult<()> {
    let incoming = Incoming {
        vendor,
        dedupe_key: format!("eject:{}:{}:{}", deadline.room_id, deadline.identity, deadline.eject_at_ms),
        vendor_room: deadline.room_id.clone(),
        kind: EventType::ParticipantEjected,
        who: Some(Who::Identity(deadline.identity.clone())),
        occurred_at_ms: rt.now_ms(),
        session: None,
        recording: None,
        data: json!({ "reason": "session_ended", "eject_at": rfc3339(deadline.eject_at_ms.max(0) as u64) }),
    };
    if let Some(stored) = ingest::store(rt, &incoming, rt.now_ms()).await? {
        ingest::apply(rt, &stored).await?;
    }
    Ok(())
}

/// Queue messages of one deadline the queue may give up on (dead-letter) or lose before the
/// scheduled job ends the deadline instead, logged: each one already had the queue's own
/// retries (`max_retries` in `wrangler.toml`), so the last is a vendor or storage failure that
/// outlasted about an hour of tries.
pub const MAX_DEAD_LETTERS: u32 = 3;

/// How long after its handover a queued message that is still not done counts as lost (never
/// handed over, or its dead letter never handled): far past the queue's retries, which take
/// minutes.
pub const OVERDUE_AFTER_MS: u64 = 60 * 60 * 1000;

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Ejections queued (deadlines come within reach, or tried again).
    pub queued: u32,
    /// Deadlines ended without an ejection after `MAX_DEAD_LETTERS` failed messages.
    pub abandoned: u32,
}

/// The scheduled job: first hands back to itself the queued deadlines whose message is overdue
/// (lost), then queues the ejections of up to `SWEEP_BATCH` deadlines that have come within a
/// queue delay's reach (or were not queued when their token was issued, or whose message
/// failed), each with the delay left. A deadline whose messages failed `MAX_DEAD_LETTERS`
/// times is ended instead, with the reason logged, so no deadline is stored for ever.
pub async fn sweep(rt: &Runtime) -> ApiResult<Swept> {
    let now = rt.now_ms();
    for (deadline, attempts) in timed_sessions::overdue(rt, (now - OVERDUE_AFTER_MS) as i64, SWEEP_BATCH).await? {
        if timed_sessions::give_back(rt, &deadline).await? {
            crate::log::warn(&format!(
                "timed session of '{}' in {}: the ejection due at {} was never carried out; tried again ({} of {})",
                deadline.identity,
                deadline.room_id,
                rfc3339(deadline.eject_at_ms.max(0) as u64),
                attempts + 1,
                MAX_DEAD_LETTERS
            ));
        }
    }
    let reach = (now + MAX_QUEUE_DELAY_S * 1000) as i64;
    let mut swept = Swept::default();
    for (deadline, attempts) in timed_sessions::unqueued_before(rt, reach, SWEEP_BATCH).await? {
        if attempts >= MAX_DEAD_LETTERS {
            timed_sessions::done(rt, &deadline).await?;
            crate::log::error(&format!(
                "timed session of '{}' in {}: the ejection due at {} was given up after {attempts} failed queue \
                 messages; the participant may still be in the room",
                deadline.identity,
                deadline.room_id,
                rfc3339(deadline.eject_at_ms.max(0) as u64)
            ));
            swept.abandoned += 1;
            continue;
        }
        // Marked first: a deadline marked but not sent is marked back by `enqueue`'s failure
        // path; one sent twice is harmless (the second finds the row gone or acts the same).
        timed_sessions::mark_queued(rt, &deadline, true).await?;
        enqueue(rt, &deadline, delay_s(now, deadline.eject_at_ms)).await;
        swept.queued += 1;
    }
    Ok(swept)
}

/// A dead-lettered ejection (the queue gave up on it): the deadline goes back to the scheduled
/// job, which queues it again or, past `MAX_DEAD_LETTERS`, ends it. `Err` when storage failed
/// (the dead-letter queue retries).
pub async fn dead_lettered(rt: &Runtime, deadline: &Deadline) -> Result<(), String> {
    let given_back = timed_sessions::give_back(rt, deadline).await.map_err(|e| e.log_text().to_owned())?;
    let what = if given_back { "the scheduled job tries again" } else { "a later token replaced it" };
    crate::log::error(&format!(
        "timed session of '{}' in {}: the ejection due at {} was dead-lettered by the queue; {what}",
        deadline.identity,
        deadline.room_id,
        rfc3339(deadline.eject_at_ms.max(0) as u64)
    ));
    Ok(())
}

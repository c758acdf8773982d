//! Retention: old rows of every project deleted by the scheduled job, oldest first, one
//! bounded batch per statement. Unlike every other statement of the store these are not
//! scoped by project — they sweep the shared database for all projects alike — and each is
//! served by an index on the row's age (migration 0013), so a batch reads only what it
//! deletes.

use crate::error::ApiResult;
use crate::runtime::Runtime;

/// A kind of row that ages out, with the statement that deletes one batch of it: ?1 the
/// cutoff (ms; rows older than it go), ?2 the batch size. `DELETE … LIMIT` is not compiled
/// into every SQLite (nor D1), so the batch is chosen by rowid in a subquery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Webhook deliveries whose last attempt is older than the cutoff (deleted before their
    /// events, which deliveries name).
    Deliveries,
    /// Normalized events received before the cutoff, once their effects are done and none of
    /// their deliveries is pending.
    Events,
    /// Participant sessions that ended before the cutoff (usage reads them).
    Sessions,
    /// Idempotency records created before the cutoff.
    Idempotency,
    /// Vendor signature nonces seen before the cutoff.
    Nonces,
    /// Change-feed rows appended before the cutoff (isolates read them within seconds).
    Changes,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Deliveries, Kind::Events, Kind::Sessions, Kind::Idempotency, Kind::Nonces, Kind::Changes];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Deliveries => "webhook_deliveries",
            Kind::Events => "events",
            Kind::Sessions => "participant_sessions",
            Kind::Idempotency => "idempotency",
            Kind::Nonces => "vendor_nonces",
            Kind::Changes => "changes",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Kind::Deliveries => {
                "DELETE FROM webhook_deliveries WHERE rowid IN (SELECT rowid FROM webhook_deliveries \
                 WHERE updated_at_ms < ?1 ORDER BY updated_at_ms LIMIT ?2)"
            }
            Kind::Events => {
                // An event whose effects are not done yet stays until they are (its redo needs
                // it), and so does one with a delivery still pending (its consumer sends it):
                // a redo in the same run queues deliveries of an old event. The pending
                // deliveries are found by `webhook_deliveries_pending_event` (migration 0016).
                "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events \
                 WHERE received_at_ms < ?1 AND effects_due_at_ms IS NULL AND NOT EXISTS \
                 (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id AND d.state = 'pending') \
                 ORDER BY received_at_ms LIMIT ?2)"
            }
            Kind::Sessions => {
                "DELETE FROM participant_sessions WHERE rowid IN (SELECT rowid FROM participant_sessions \
                 WHERE left_at_ms IS NOT NULL AND left_at_ms < ?1 ORDER BY left_at_ms LIMIT ?2)"
            }
            Kind::Idempotency => {
                "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency \
                 WHERE created_at_ms < ?1 ORDER BY created_at_ms LIMIT ?2)"
            }
            Kind::Nonces => {
                "DELETE FROM vendor_nonces WHERE rowid IN (SELECT rowid FROM vendor_nonces \
                 WHERE seen_at_ms < ?1 ORDER BY seen_at_ms LIMIT ?2)"
            }
            Kind::Changes => {
                "DELETE FROM changes WHERE rowid IN (SELECT rowid FROM changes \
                 WHERE created_at_ms < ?1 ORDER BY created_at_ms LIMIT ?2)"
            }
        }
    }
}

/// Every statement this module sends (all of them sweep every project: see the module doc).
pub fn statements() -> Vec<String> {
    Kind::ALL.iter().map(|k| k.sql().to_owned()).collect()
}

/// Deletes at most `batch` rows of `kind` older than `cutoff_ms`; returns how many went.
pub async fn delete_batch(rt: &Runtime, kind: Kind, cutoff_ms: i64, batch: u32) -> ApiResult<u64> {
    Ok(rt.db.execute(kind.sql(), &[cutoff_ms.into(), i64::from(batch).into()]).await?)
}

//! What counts against each per-project quota (`crate::domain::limits::Quota`), in one place: the
//! inserts that create counted rows check the count in the same statement, and the limits
//! route reads all the counts in one round trip. Each count is a walk of one project's part
//! of an index (see `tests/query_plans.rs`).

use super::int;
use crate::domain::limits::Quota;
use crate::domain::recording::RecordingStatus;
use crate::error::ApiResult;
use crate::runtime::Runtime;

/// Recordings that hold a vendor recorder: the start is under way or it runs. A stopping one
/// is on its way out (the stop was accepted) and no longer counts.
pub const RUNNING_RECORDINGS: [RecordingStatus; 2] = [RecordingStatus::Starting, RecordingStatus::Active];

/// The count of `quota`'s rows of the project bound as `project` (a parameter such as `?2`).
pub fn count_sql(quota: Quota, project: &str) -> String {
    match quota {
        // Rooms still being created count too: they hold their name and may yet be hosted.
        Quota::LiveRooms => {
            format!("SELECT COUNT(*) FROM rooms WHERE project_id = {project} AND deleted_at_ms IS NULL")
        }
        Quota::Webhooks => {
            format!("SELECT COUNT(*) FROM webhooks WHERE project_id = {project} AND deleted_at_ms IS NULL")
        }
        Quota::RecordingDestinations => {
            format!("SELECT COUNT(*) FROM recording_destinations WHERE project_id = {project}")
        }
        Quota::ConcurrentRecordings => {
            let running: Vec<String> = RUNNING_RECORDINGS.iter().map(|s| format!("'{}'", s.as_str())).collect();
            format!(
                "SELECT COUNT(*) FROM recordings WHERE project_id = {project} AND status IN ({})",
                running.join(", ")
            )
        }
        // Live bans, and expired ones until the scheduled job ends them (minutes later).
        Quota::Bans => format!("SELECT COUNT(*) FROM bans WHERE project_id = {project} AND ended_at_ms IS NULL"),
        // Every stored row, through the primary key's project prefix: a mute that has ended
        // counts until the scheduled job sweeps it (minutes later), as does a deleted room's.
        Quota::ModeratedParticipants => {
            format!("SELECT COUNT(*) FROM participant_moderation WHERE project_id = {project}")
        }
        // A stream whose stop was accepted (`ending`) no longer counts, as for recordings.
        Quota::Streams => {
            format!("SELECT COUNT(*) FROM streams WHERE project_id = {project} AND status IN ('starting', 'active')")
        }
    }
}

/// `INSERT INTO table (columns) ` + `values` (a list of parameters), inserting only while the
/// project (parameter `project`) has fewer than parameter `limit` rows counted by `quota`.
/// One statement: D1 runs it whole, so two concurrent creates cannot both see room for one.
/// It changes no row when the quota is reached.
pub(crate) fn insert_within(insert_into: &str, values: &str, quota: Quota, project: &str, limit: &str) -> String {
    format!("{insert_into} SELECT {values} WHERE ({}) < {limit}", count_sql(quota, project))
}

fn usage_sql() -> String {
    let columns: Vec<String> =
        Quota::ALL.iter().map(|q| format!("({}) AS {}", count_sql(*q, "?1"), q.name())).collect();
    format!("SELECT {}", columns.join(", "))
}

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    vec![usage_sql()]
}

/// How much of each quota the project uses, in `Quota::ALL` order.
pub async fn usage(rt: &Runtime, project_id: &str) -> ApiResult<[u64; Quota::ALL.len()]> {
    let rows = rt.db.query(&usage_sql(), &[project_id.into()]).await?;
    let row = rows.first();
    Ok(Quota::ALL.map(|q| row.and_then(|r| int(r, q.name())).unwrap_or(0).max(0) as u64))
}

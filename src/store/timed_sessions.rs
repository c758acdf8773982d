//! Timed sessions: the deadline of the latest token issued with one, per participant of a room
//! (migration 0019). The latest token wins: a token issued later replaces the deadline, earlier
//! or later, and the ejection queued for the replaced one finds it gone and does nothing. A
//! token issued without a deadline leaves the stored one in place (it writes nothing: the warm
//! token path stays free of round trips).

use super::{int, text};
use crate::error::ApiResult;
use crate::runtime::Runtime;

/// Who is to be ejected when: the key of a row, and the deadline it had when read.
#[derive(Clone, Debug, PartialEq)]
pub struct Deadline {
    pub project_id: String,
    pub room_id: String,
    pub identity: String,
    pub eject_at_ms: i64,
}

/// Sets the participant's deadline unless a token issued later already set one (two tokens
/// racing keep the later issue's). A new deadline starts with no failed attempts; when queued
/// now (?6 = 1) its message is handed over at the deadline (?4), or at once if that has passed.
const SET: &str = "INSERT INTO timed_sessions (project_id, room_id, identity, eject_at_ms, issued_at_ms, queued, \
                   handover_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?6 = 1 THEN MAX(?4, ?5) END) \
                   ON CONFLICT (project_id, room_id, identity) DO UPDATE SET \
                   eject_at_ms = excluded.eject_at_ms, issued_at_ms = excluded.issued_at_ms, queued = excluded.queued, \
                   handover_at_ms = excluded.handover_at_ms, attempts = 0 \
                   WHERE excluded.issued_at_ms >= timed_sessions.issued_at_ms";
const CURRENT: &str = "SELECT eject_at_ms FROM timed_sessions WHERE project_id = ?1 AND room_id = ?2 AND identity = ?3";
/// Marks the deadline queued (`?5` = 1, its message handed over at the deadline or at `?6`,
/// now, if later) or not (0), only while it is still the stored one.
const MARK_QUEUED: &str = "UPDATE timed_sessions SET queued = ?5, \
                           handover_at_ms = CASE WHEN ?5 = 1 THEN MAX(eject_at_ms, ?6) END \
                           WHERE project_id = ?1 AND room_id = ?2 AND identity = ?3 AND eject_at_ms = ?4";
/// A queued message that will not run (dead-lettered, or never handed over): the deadline goes
/// back to the scheduled job, one attempt more, unless a later token replaced it.
const GIVE_BACK: &str = "UPDATE timed_sessions SET queued = 0, handover_at_ms = NULL, attempts = attempts + 1 \
                         WHERE project_id = ?1 AND room_id = ?2 AND identity = ?3 AND eject_at_ms = ?4 AND queued = 1";
/// Removes the deadline once its ejection ran (or was given up), unless a later token replaced
/// it meanwhile.
const DONE: &str =
    "DELETE FROM timed_sessions WHERE project_id = ?1 AND room_id = ?2 AND identity = ?3 AND eject_at_ms = ?4";
/// The scheduled job: deadlines not queued yet that fall before `?1`, soonest first
/// (`timed_sessions_unqueued`), in every project.
const UNQUEUED_BEFORE: &str = "SELECT project_id, room_id, identity, eject_at_ms, attempts FROM timed_sessions \
                               WHERE queued = 0 AND eject_at_ms <= ?1 ORDER BY eject_at_ms LIMIT ?2";
/// The scheduled job: queued deadlines whose message was due to the consumer at or before `?1`
/// and is still not done (`timed_sessions_overdue`), in every project.
const OVERDUE: &str = "SELECT project_id, room_id, identity, eject_at_ms, attempts FROM timed_sessions \
                       WHERE queued = 1 AND handover_at_ms <= ?1 ORDER BY handover_at_ms LIMIT ?2";

pub fn statements() -> Vec<String> {
    [SET, CURRENT, MARK_QUEUED, GIVE_BACK, DONE, UNQUEUED_BEFORE, OVERDUE].iter().map(|s| s.to_string()).collect()
}

fn key(d: &Deadline) -> [crate::runtime::SqlValue; 4] {
    [d.project_id.as_str().into(), d.room_id.as_str().into(), d.identity.as_str().into(), d.eject_at_ms.into()]
}

/// Stores `deadline` for a token issued at `issued_at_ms`; `queued` says whether its ejection
/// message is being sent now.
pub async fn set(rt: &Runtime, deadline: &Deadline, issued_at_ms: i64, queued: bool) -> ApiResult<()> {
    let [p, r, i, at] = key(deadline);
    rt.db.execute(SET, &[p, r, i, at, issued_at_ms.into(), queued.into()]).await?;
    Ok(())
}

/// The participant's deadline now, if any.
pub async fn current(rt: &Runtime, project_id: &str, room_id: &str, identity: &str) -> ApiResult<Option<i64>> {
    let rows = rt.db.query(CURRENT, &[project_id.into(), room_id.into(), identity.into()]).await?;
    Ok(rows.first().and_then(|row| int(row, "eject_at_ms")))
}

pub async fn mark_queued(rt: &Runtime, deadline: &Deadline, queued: bool) -> ApiResult<()> {
    let [p, r, i, at] = key(deadline);
    rt.db.execute(MARK_QUEUED, &[p, r, i, at, queued.into(), (rt.now_ms() as i64).into()]).await?;
    Ok(())
}

/// Hands a queued deadline back to the scheduled job with one failed attempt more; `false`
/// when it was not queued (any more) or a later token replaced it.
pub async fn give_back(rt: &Runtime, deadline: &Deadline) -> ApiResult<bool> {
    Ok(rt.db.execute(GIVE_BACK, &key(deadline)).await? == 1)
}

pub async fn done(rt: &Runtime, deadline: &Deadline) -> ApiResult<()> {
    rt.db.execute(DONE, &key(deadline)).await?;
    Ok(())
}

/// Up to `limit` deadlines not queued yet that fall before `before_ms`, soonest first, each
/// with its failed attempts.
pub async fn unqueued_before(rt: &Runtime, before_ms: i64, limit: u32) -> ApiResult<Vec<(Deadline, u32)>> {
    read(rt, UNQUEUED_BEFORE, before_ms, limit).await
}

/// Up to `limit` queued deadlines whose message was due to the consumer at or before
/// `handed_over_by_ms`, each with its failed attempts.
pub async fn overdue(rt: &Runtime, handed_over_by_ms: i64, limit: u32) -> ApiResult<Vec<(Deadline, u32)>> {
    read(rt, OVERDUE, handed_over_by_ms, limit).await
}

async fn read(rt: &Runtime, sql: &str, at_ms: i64, limit: u32) -> ApiResult<Vec<(Deadline, u32)>> {
    let rows = rt.db.query(sql, &[at_ms.into(), i64::from(limit).into()]).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let deadline = Deadline {
                project_id: text(row, "project_id")?,
                room_id: text(row, "room_id")?,
                identity: text(row, "identity")?,
                eject_at_ms: int(row, "eject_at_ms")?,
            };
            Some((deadline, int(row, "attempts").unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32))
        })
        .collect())
}

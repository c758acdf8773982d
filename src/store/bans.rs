//! Bans: an identity refused in one room or the whole project until a time, and the vendor
//! ban rules set for it. Each write appends to the change feed (`store::changes`) in the same
//! batch, so every isolate learns of it at its next poll.

use serde_json::{json, Value};

use super::{int, newest_first, page_sqls, text, Cursor};
use crate::error::ApiResult;
use crate::runtime::{Row, Runtime, SqlValue, Statement};
use crate::time::rfc3339;

/// The `target` of a project-wide ban (a room ban's is the room id).
pub const PROJECT_TARGET: &str = "";

#[derive(Clone, Debug, PartialEq)]
pub struct Ban {
    pub id: String,
    pub project_id: String,
    /// The room id, or `PROJECT_TARGET` for the whole project.
    pub target: String,
    pub identity: String,
    pub reason: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    /// The vendor rule set for it (JSON text), if any.
    pub vendor_rule: Option<String>,
    pub rule_due_at_ms: Option<i64>,
}

const COLUMNS: &str =
    "id, project_id, target, identity, reason, created_at_ms, expires_at_ms, ended_at_ms, vendor_rule, rule_due_at_ms";

impl Ban {
    fn from_row(row: &Row) -> Option<Ban> {
        Some(Ban {
            id: text(row, "id")?,
            project_id: text(row, "project_id")?,
            target: text(row, "target")?,
            identity: text(row, "identity")?,
            reason: text(row, "reason"),
            created_at_ms: int(row, "created_at_ms")?,
            expires_at_ms: int(row, "expires_at_ms")?,
            ended_at_ms: int(row, "ended_at_ms"),
            vendor_rule: text(row, "vendor_rule"),
            rule_due_at_ms: int(row, "rule_due_at_ms"),
        })
    }

    pub fn room_id(&self) -> Option<&str> {
        (self.target != PROJECT_TARGET).then_some(self.target.as_str())
    }

    pub fn scope(&self) -> &'static str {
        if self.room_id().is_some() {
            "room"
        } else {
            "project"
        }
    }

    /// The public ban: `{ban, room, identity, scope, reason, expires_at, created_at}`.
    pub fn to_json(&self) -> Value {
        json!({
            "ban": self.id,
            "room": self.room_id(),
            "identity": self.identity,
            "scope": self.scope(),
            "reason": self.reason,
            "expires_at": rfc3339(self.expires_at_ms.max(0) as u64),
            "created_at": rfc3339(self.created_at_ms.max(0) as u64),
        })
    }
}

/// A live ban as an isolate holds it (`api::revocation`).
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveBan {
    pub id: String,
    pub target: String,
    pub identity: String,
    pub expires_at_ms: i64,
}

impl ActiveBan {
    /// Whether it refuses `identity` in `room_id` at `now_ms`.
    pub fn refuses(&self, room_id: &str, identity: &str, now_ms: u64) -> bool {
        self.identity == identity
            && (self.target == PROJECT_TARGET || self.target == room_id)
            && self.expires_at_ms > now_ms as i64
    }
}

/// Extends the live ban of (project ?1, target ?2, identity ?3) to ?5 if that is later,
/// replacing its reason when one is given (?4); ?6 is now.
const EXTEND: &str = "UPDATE bans SET expires_at_ms = MAX(expires_at_ms, ?5), reason = COALESCE(?4, reason) \
                      WHERE project_id = ?1 AND target = ?2 AND identity = ?3 AND ended_at_ms IS NULL \
                      AND expires_at_ms > ?6";
/// A new ban (?7 its id, ?8 now) while the project has fewer than ?9 live ones; an ended or
/// expired row of the same subject is replaced (a new id), a live one left to `EXTEND`. The
/// count is `store::quotas::count_sql(Quota::Bans, "?1")` (a test holds them equal).
const INSERT_WITHIN_QUOTA: &str = "INSERT INTO bans (id, project_id, target, identity, reason, created_at_ms, \
     expires_at_ms) SELECT ?7, ?1, ?2, ?3, ?4, ?8, ?5 \
     WHERE (SELECT COUNT(*) FROM bans WHERE project_id = ?1 AND ended_at_ms IS NULL) < ?9 \
     ON CONFLICT (project_id, target, identity) DO UPDATE SET id = excluded.id, reason = excluded.reason, \
     created_at_ms = excluded.created_at_ms, expires_at_ms = excluded.expires_at_ms, ended_at_ms = NULL, \
     vendor_rule = NULL, rule_due_at_ms = NULL \
     WHERE bans.ended_at_ms IS NOT NULL OR bans.expires_at_ms <= ?6";
/// The subject's change, appended whatever the two statements before did (one more change
/// than needed costs an isolate nothing but a row read).
const APPEND_SUBJECT_CHANGE: &str = "INSERT INTO changes (project_id, kind, subject, created_at_ms) \
     SELECT project_id, 'ban', id, ?4 FROM bans WHERE project_id = ?1 AND target = ?2 AND identity = ?3";
const SUBJECT_SQL: &str =
    "SELECT id, project_id, target, identity, reason, created_at_ms, expires_at_ms, ended_at_ms, \
     vendor_rule, rule_due_at_ms FROM bans WHERE project_id = ?1 AND target = ?2 AND identity = ?3";
const FIND_SQL: &str = "SELECT id, project_id, target, identity, reason, created_at_ms, expires_at_ms, ended_at_ms, \
     vendor_rule, rule_due_at_ms FROM bans WHERE id = ?1 AND project_id = ?2";
/// Ends a live ban (?3 now).
const END: &str = "UPDATE bans SET ended_at_ms = ?3 WHERE id = ?1 AND project_id = ?2 AND ended_at_ms IS NULL";
const APPEND_CHANGE: &str = "INSERT INTO changes (project_id, kind, subject, created_at_ms) VALUES (?2, 'ban', ?1, ?3)";
/// The project's live bans, for an isolate's memory (the same set the key lookup brings).
const LIVE_SQL: &str = "SELECT id, target, identity, expires_at_ms FROM bans \
     WHERE project_id = ?1 AND ended_at_ms IS NULL AND expires_at_ms > ?2";
/// Records the vendor rule set for a ban and when it is next due.
const SET_RULE: &str = "UPDATE bans SET vendor_rule = ?3, rule_due_at_ms = ?4 WHERE id = ?1 AND project_id = ?2";
/// The scheduled job: bans whose vendor rule is due (re-apply or remove), in every project.
const RULES_DUE: &str = "SELECT id, project_id, target, identity, reason, created_at_ms, expires_at_ms, ended_at_ms, \
     vendor_rule, rule_due_at_ms FROM bans WHERE rule_due_at_ms <= ?1 ORDER BY rule_due_at_ms LIMIT ?2";
/// The scheduled job: ends expired bans (no change row: every isolate already stops
/// enforcing a ban at its expiry), in every project, a bounded batch.
const END_EXPIRED: &str = "UPDATE bans SET ended_at_ms = expires_at_ms WHERE rowid IN (SELECT rowid FROM bans \
     WHERE ended_at_ms IS NULL AND expires_at_ms <= ?1 ORDER BY expires_at_ms LIMIT ?2)";

/// The project's live bans, optionally of one room (?2 target) and/or identity.
fn page_select(of_room: bool, of_identity: bool) -> String {
    let mut select = format!("SELECT {COLUMNS} FROM bans WHERE project_id = ?1 AND ended_at_ms IS NULL");
    let mut n = 1;
    if of_room {
        n += 1;
        select.push_str(&format!(" AND target = ?{n}"));
    }
    if of_identity {
        n += 1;
        select.push_str(&format!(" AND identity = ?{n}"));
    }
    n += 1;
    select.push_str(&format!(" AND expires_at_ms > ?{n}"));
    select
}

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    let mut all: Vec<String> = [
        EXTEND,
        INSERT_WITHIN_QUOTA,
        APPEND_SUBJECT_CHANGE,
        SUBJECT_SQL,
        FIND_SQL,
        END,
        APPEND_CHANGE,
        LIVE_SQL,
        SET_RULE,
        RULES_DUE,
        END_EXPIRED,
    ]
    .map(str::to_owned)
    .into();
    for (of_room, of_identity) in [(false, false), (true, false), (false, true), (true, true)] {
        let n_params = 2 + usize::from(of_room) + usize::from(of_identity);
        all.extend(page_sqls(&page_select(of_room, of_identity), n_params, "created_at_ms"));
    }
    all
}

/// What banning did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Banned {
    /// A new ban (a first one, or after the last one ended).
    Created,
    /// The live ban of the same subject, now lasting until the later of both ends.
    Extended,
    /// Refused: the project has `limit` live bans.
    OverQuota,
}

/// A request to ban.
pub struct NewBan<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub target: &'a str,
    pub identity: &'a str,
    pub reason: Option<&'a str>,
    pub expires_at_ms: i64,
}

/// Bans (or extends the ban of) the subject; one batch with its change, then the row.
pub async fn ban(rt: &Runtime, new: &NewBan<'_>, now_ms: i64, limit: u32) -> ApiResult<(Banned, Option<Ban>)> {
    let params: Vec<SqlValue> = vec![
        new.project_id.into(),
        new.target.into(),
        new.identity.into(),
        new.reason.into(),
        new.expires_at_ms.into(),
        now_ms.into(),
        new.id.into(),
        now_ms.into(),
        i64::from(limit).into(),
    ];
    let counts = rt
        .db
        .batch(&[
            Statement { sql: EXTEND, params: params[..6].to_vec() },
            Statement { sql: INSERT_WITHIN_QUOTA, params: params.clone() },
            Statement {
                sql: APPEND_SUBJECT_CHANGE,
                params: vec![new.project_id.into(), new.target.into(), new.identity.into(), now_ms.into()],
            },
        ])
        .await?;
    let outcome = match (counts.first().copied().unwrap_or(0), counts.get(1).copied().unwrap_or(0)) {
        (0, 0) => Banned::OverQuota,
        (0, _) => Banned::Created,
        _ => Banned::Extended,
    };
    let rows = rt.db.query(SUBJECT_SQL, &params[..3]).await?;
    Ok((outcome, rows.first().and_then(Ban::from_row)))
}

pub async fn find(rt: &Runtime, project_id: &str, id: &str) -> ApiResult<Option<Ban>> {
    let rows = rt.db.query(FIND_SQL, &[id.into(), project_id.into()]).await?;
    Ok(rows.first().and_then(Ban::from_row))
}

/// Ends a live ban, with its change; `false` when it was not live.
pub async fn end(rt: &Runtime, project_id: &str, id: &str, now_ms: i64) -> ApiResult<bool> {
    let params: Vec<SqlValue> = vec![id.into(), project_id.into(), now_ms.into()];
    let counts = rt
        .db
        .batch(&[Statement { sql: END, params: params.clone() }, Statement { sql: APPEND_CHANGE, params }])
        .await?;
    Ok(counts.first().copied().unwrap_or(0) == 1)
}

/// One page of the project's live bans, newest first.
pub async fn page(
    rt: &Runtime,
    project_id: &str,
    target: Option<&str>,
    identity: Option<&str>,
    now_ms: i64,
    after: Option<&Cursor>,
    limit: u32,
) -> ApiResult<(Vec<Ban>, bool)> {
    let select = page_select(target.is_some(), identity.is_some());
    let mut params: Vec<SqlValue> = vec![project_id.into()];
    params.extend(target.map(SqlValue::from));
    params.extend(identity.map(SqlValue::from));
    params.push(now_ms.into());
    newest_first(rt, &select, params, "created_at_ms", after, limit, Ban::from_row).await
}

pub(crate) fn active_from_row(row: &Row) -> Option<ActiveBan> {
    Some(ActiveBan {
        id: text(row, "id")?,
        target: text(row, "target")?,
        identity: text(row, "identity")?,
        expires_at_ms: int(row, "expires_at_ms")?,
    })
}

/// The project's live bans.
pub async fn live(rt: &Runtime, project_id: &str, now_ms: i64) -> ApiResult<Vec<ActiveBan>> {
    let rows = rt.db.query(LIVE_SQL, &[project_id.into(), now_ms.into()]).await?;
    Ok(rows.iter().filter_map(active_from_row).collect())
}

/// Records the vendor rule of a ban (`None` once removed) and when it is next due.
pub async fn set_rule(
    rt: &Runtime,
    project_id: &str,
    id: &str,
    rule: Option<&str>,
    due_at_ms: Option<i64>,
) -> ApiResult<()> {
    rt.db.execute(SET_RULE, &[id.into(), project_id.into(), rule.into(), due_at_ms.into()]).await?;
    Ok(())
}

/// Up to `limit` bans whose vendor rule is due at `now_ms`, oldest due first.
pub async fn rules_due(rt: &Runtime, now_ms: i64, limit: u32) -> ApiResult<Vec<Ban>> {
    let rows = rt.db.query(RULES_DUE, &[now_ms.into(), i64::from(limit).into()]).await?;
    Ok(rows.iter().filter_map(Ban::from_row).collect())
}

/// Ends up to `limit` bans that expired by `now_ms`; how many.
pub async fn end_expired(rt: &Runtime, now_ms: i64, limit: u32) -> ApiResult<u64> {
    Ok(rt.db.execute(END_EXPIRED, &[now_ms.into(), i64::from(limit).into()]).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::limits::Quota;

    #[test]
    fn the_insert_counts_what_the_bans_quota_counts() {
        assert!(INSERT_WITHIN_QUOTA.contains(&format!("({}) < ?9", super::super::quotas::count_sql(Quota::Bans, "?1"))));
    }

    #[test]
    fn a_ban_refuses_its_identity_in_its_room_or_everywhere_until_it_expires() {
        let room = ActiveBan { id: "ban_1".into(), target: "rm_a".into(), identity: "eve".into(), expires_at_ms: 10 };
        assert!(room.refuses("rm_a", "eve", 9));
        assert!(!room.refuses("rm_a", "eve", 10), "expired");
        assert!(!room.refuses("rm_b", "eve", 9), "another room");
        assert!(!room.refuses("rm_a", "bob", 9), "another identity");
        let project = ActiveBan { target: PROJECT_TARGET.into(), ..room };
        assert!(project.refuses("rm_b", "eve", 9));
    }
}

//! The change feed: one row per revocation (an API key), ban change or change of what a room
//! carries for its tokens (moderation), appended by the writer
//! in the same batch as the change itself, read by every isolate from its last `seq` on
//! (`api::revocation`). Rows older than `FEED_RETENTION_MS` are deleted by the scheduled job.

use super::{bans, int, text};
use crate::error::ApiResult;
use crate::runtime::{Row, Runtime};
use crate::store::bans::ActiveBan;

/// How long feed rows are kept: far longer than any isolate goes between polls.
pub const FEED_RETENTION_MS: u64 = 24 * 3600 * 1000;

/// One change as an isolate applies it.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// An API key (by id) was revoked.
    KeyRevoked { key_id: String },
    /// A ban of the project changed: it is now `live` (`None`: ended, or replaced by a newer
    /// ban of the same subject, which has its own change).
    Ban { ban_id: String, live: Option<ActiveBan> },
    /// What a room's row carries for its tokens (its participants' moderation) changed: an
    /// isolate holding the room reads it again.
    RoomChanged { room_id: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FeedRow {
    pub seq: i64,
    pub project_id: String,
    pub change: Change,
}

/// Changes after ?1, oldest first, each ban change with the ban's row as it is now (a primary
/// key range, then one primary key lookup per ban change). The feed is the deployment's: an
/// isolate serves every project.
const AFTER: &str = "SELECT c.seq, c.project_id, c.kind, c.subject, b.id, b.target, b.identity, b.expires_at_ms, \
     b.ended_at_ms FROM changes AS c LEFT JOIN bans AS b ON c.kind = 'ban' AND b.id = c.subject \
     WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2";
/// The newest seq, for an isolate starting to follow the feed.
pub(crate) const HEAD: &str = "SELECT COALESCE(MAX(seq), 0) AS seq FROM changes";
/// Records a key's revocation (?1 its id) in its project's feed; appended in the revoke's batch.
pub(crate) const APPEND_KEY_REVOKED: &str = "INSERT INTO changes (project_id, kind, subject, created_at_ms) \
     SELECT project_id, 'key', id, ?2 FROM api_keys WHERE id = ?1";

/// Records that room ?2 of project ?1 changed for its tokens (at ?3).
pub(crate) const APPEND_ROOM_CHANGED: &str =
    "INSERT INTO changes (project_id, kind, subject, created_at_ms) VALUES (?1, 'room', ?2, ?3)";

pub(crate) fn statements() -> Vec<String> {
    [AFTER, HEAD, APPEND_KEY_REVOKED, APPEND_ROOM_CHANGED].map(str::to_owned).into()
}

fn from_row(row: &Row, now_ms: i64) -> Option<FeedRow> {
    let subject = text(row, "subject")?;
    let change = match text(row, "kind")?.as_str() {
        "key" => Change::KeyRevoked { key_id: subject },
        "room" => Change::RoomChanged { room_id: subject },
        "ban" => {
            let live = bans::active_from_row(row)
                .filter(|b| int(row, "ended_at_ms").is_none() && b.expires_at_ms > now_ms && b.id == subject);
            Change::Ban { ban_id: subject, live }
        }
        _ => return None,
    };
    Some(FeedRow { seq: int(row, "seq")?, project_id: text(row, "project_id")?, change })
}

/// Up to `limit` changes after `seq`, oldest first, and the seq to read on from.
pub async fn after(rt: &Runtime, seq: i64, limit: u32) -> ApiResult<(Vec<FeedRow>, i64)> {
    let rows = rt.db.query(AFTER, &[seq.into(), i64::from(limit).into()]).await?;
    let now = rt.now_ms() as i64;
    let next = rows.iter().filter_map(|r| int(r, "seq")).max().unwrap_or(seq).max(seq);
    Ok((rows.iter().filter_map(|r| from_row(r, now)).collect(), next))
}

/// The newest seq.
pub async fn head(rt: &Runtime) -> ApiResult<i64> {
    let rows = rt.db.query(HEAD, &[]).await?;
    Ok(rows.first().and_then(|r| int(r, "seq")).unwrap_or(0))
}

//! Idempotency records: a client-chosen key makes a retried create/start return the first
//! result instead of doing the work twice. A key is claimed with an INSERT (the primary key
//! makes exactly one concurrent claimant win), completed with the response, or released when
//! the work failed so that a retry can run it. Records live at least `RETENTION_MS`.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{int, text};
use crate::error::ApiResult;
use crate::runtime::{Runtime, SqlValue, Statement};

/// Keys are honoured for 24 h; they are purged after twice that.
pub const RETENTION_MS: u64 = 24 * 3600 * 1000;
/// A claim older than this with no result belongs to a request that died mid-flight; it
/// may be taken over.
pub const ABANDONED_AFTER_MS: u64 = 120_000;

#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// This request owns the key: do the work, then `complete` or `release`.
    Fresh,
    /// The work was done before: replay this response.
    Replay { status: u16, body: Value },
    /// The key was used with a different request body.
    Mismatch,
    /// Another request with this key is still running.
    InProgress,
}

/// A stable fingerprint of a request: the route and its canonical JSON body (serde_json's
/// map is sorted, so key order in the client's JSON does not matter).
pub fn fingerprint(scope: &str, body: &Value) -> String {
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(body).expect("a Value always serializes"));
    crate::hex::lower(&h.finalize())
}

pub async fn claim(rt: &Runtime, project_id: &str, scope: &str, key: &str, hash: &str) -> ApiResult<Claim> {
    let now = rt.now_ms() as i64;
    let purge_before = now - 2 * RETENTION_MS as i64;
    let stale_before = now - ABANDONED_AFTER_MS as i64;
    let params = |extra: Vec<SqlValue>| -> Vec<SqlValue> {
        let mut p: Vec<SqlValue> = vec![project_id.into(), scope.into(), key.into()];
        p.extend(extra);
        p
    };
    let changed = rt
        .db
        .batch(&[
            Statement { sql: "DELETE FROM idempotency WHERE created_at_ms < ?1", params: vec![purge_before.into()] },
            // Take over a claim abandoned by a request that died before finishing.
            Statement {
                sql: "DELETE FROM idempotency WHERE project_id = ?1 AND scope = ?2 AND key = ?3 \
                      AND state = 'pending' AND created_at_ms < ?4",
                params: params(vec![stale_before.into()]),
            },
            Statement {
                sql: "INSERT INTO idempotency (project_id, scope, key, request_hash, state, created_at_ms) \
                      VALUES (?1, ?2, ?3, ?4, 'pending', ?5) ON CONFLICT DO NOTHING",
                params: params(vec![hash.into(), now.into()]),
            },
        ])
        .await?;
    if changed.last() == Some(&1) {
        return Ok(Claim::Fresh);
    }
    peek(rt, project_id, scope, key, hash).await
}

/// The state of a key someone else claimed.
pub async fn peek(rt: &Runtime, project_id: &str, scope: &str, key: &str, hash: &str) -> ApiResult<Claim> {
    let rows = rt
        .db
        .query(
            "SELECT request_hash, state, status, body FROM idempotency WHERE project_id = ?1 AND scope = ?2 AND key = ?3",
            &[project_id.into(), scope.into(), key.into()],
        )
        .await?;
    let Some(row) = rows.first() else {
        // Released between our INSERT and this read: the caller may claim again.
        return Ok(Claim::InProgress);
    };
    if text(row, "request_hash").as_deref() != Some(hash) {
        return Ok(Claim::Mismatch);
    }
    match (text(row, "state").as_deref(), int(row, "status"), text(row, "body")) {
        (Some("done"), Some(status), Some(body)) => {
            Ok(Claim::Replay { status: status as u16, body: serde_json::from_str(&body).unwrap_or(Value::Null) })
        }
        _ => Ok(Claim::InProgress),
    }
}

pub async fn complete(
    rt: &Runtime,
    project_id: &str,
    scope: &str,
    key: &str,
    status: u16,
    body: &Value,
) -> ApiResult<()> {
    rt.db
        .execute(
            "UPDATE idempotency SET state = 'done', status = ?4, body = ?5 WHERE project_id = ?1 AND scope = ?2 AND key = ?3",
            &[project_id.into(), scope.into(), key.into(), i64::from(status).into(), body.to_string().into()],
        )
        .await?;
    Ok(())
}

pub async fn release(rt: &Runtime, project_id: &str, scope: &str, key: &str) -> ApiResult<()> {
    rt.db
        .execute(
            "DELETE FROM idempotency WHERE project_id = ?1 AND scope = ?2 AND key = ?3 AND state = 'pending'",
            &[project_id.into(), scope.into(), key.into()],
        )
        .await?;
    Ok(())
}

//! Idempotency records: a client-chosen key makes a retried create/start return the first
//! result instead of doing the work twice. A key is claimed with an INSERT (the primary key
//! makes exactly one concurrent claimant win) under a random owner token; every later write
//! names that owner, so a request whose claim was taken over can neither complete nor
//! release it. Records live at least `RETENTION_MS`.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{int, text};
use crate::error::ApiResult;
use crate::runtime::Runtime;

/// Keys are honoured for 24 h; they are purged after twice that.
pub const RETENTION_MS: u64 = 24 * 3600 * 1000;
/// The shortest time after which a claim with no result counts as abandoned.
pub const MIN_ABANDONED_AFTER_MS: u64 = 120_000;

/// A claim older than this with no result belongs to a request that died mid-flight and may
/// be taken over: never before its owner could have finished waiting on a vendor (three
/// calls: a create that fails over across every vendor).
pub fn abandoned_after_ms(vendor_timeout_ms: u64) -> u64 {
    MIN_ABANDONED_AFTER_MS.max(3 * vendor_timeout_ms)
}

/// Which record: a key is scoped by project and route.
#[derive(Clone, Copy, Debug)]
pub struct ClaimKey<'a> {
    pub project_id: &'a str,
    pub scope: &'a str,
    pub key: &'a str,
}

/// What a key's record says now.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// No record (never claimed, or released by a request whose work failed).
    Missing,
    /// The key was used with a different request body.
    Mismatch,
    /// The work was done: replay this response.
    Done { status: u16, body: Value },
    /// `owner` is doing the work since `claimed_at_ms`.
    Pending { owner: String, claimed_at_ms: i64 },
}

/// A stable fingerprint of a request: the route and its canonical JSON body (serde_json's
/// map is sorted, so key order in the client's JSON does not matter).
pub fn fingerprint(scope: &str, body: &Value) -> String {
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(body).expect("a Value always serializes"));
    crate::crypto::hex::lower(&h.finalize())
}

pub(crate) const CLAIM: &str =
    "INSERT INTO idempotency (project_id, scope, key, request_hash, state, created_at_ms, owner) \
                                VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6) ON CONFLICT DO NOTHING";
pub(crate) const PEEK: &str = "SELECT request_hash, state, status, body, owner, created_at_ms FROM idempotency \
                               WHERE project_id = ?1 AND scope = ?2 AND key = ?3";
pub(crate) const TAKE_OVER: &str = "UPDATE idempotency SET owner = ?5, created_at_ms = ?6 \
                                    WHERE project_id = ?1 AND scope = ?2 AND key = ?3 AND state = 'pending' \
                                    AND owner IS ?4 AND created_at_ms <= ?7";
pub(crate) const COMPLETE: &str = "UPDATE idempotency SET state = 'done', status = ?5, body = ?6 \
                                   WHERE project_id = ?1 AND scope = ?2 AND key = ?3 AND state = 'pending' AND owner IS ?4";
pub(crate) const RELEASE: &str = "DELETE FROM idempotency \
                                  WHERE project_id = ?1 AND scope = ?2 AND key = ?3 AND state = 'pending' AND owner IS ?4";
pub(crate) const PURGE: &str = "DELETE FROM idempotency WHERE project_id = ?1 AND created_at_ms < ?2";

/// Every statement this module sends.
pub(crate) const STATEMENTS: &[&str] = &[CLAIM, PEEK, TAKE_OVER, COMPLETE, RELEASE, PURGE];

fn key_params(k: &ClaimKey<'_>) -> Vec<crate::runtime::SqlValue> {
    vec![k.project_id.into(), k.scope.into(), k.key.into()]
}

/// Claims an unused key for `owner`; false if a record exists.
pub async fn try_claim(rt: &Runtime, k: &ClaimKey<'_>, hash: &str, owner: &str) -> ApiResult<bool> {
    let mut params = key_params(k);
    params.extend([hash.into(), (rt.now_ms() as i64).into(), owner.into()]);
    Ok(rt.db.execute(CLAIM, &params).await? == 1)
}

/// The key's record as seen by a request with fingerprint `hash` (a read, never a write).
pub async fn peek(rt: &Runtime, k: &ClaimKey<'_>, hash: &str) -> ApiResult<Seen> {
    let rows = rt.db.query(PEEK, &key_params(k)).await?;
    let Some(row) = rows.first() else { return Ok(Seen::Missing) };
    if text(row, "request_hash").as_deref() != Some(hash) {
        return Ok(Seen::Mismatch);
    }
    Ok(match (text(row, "state").as_deref(), int(row, "status"), text(row, "body")) {
        (Some("done"), Some(status), Some(body)) => {
            Seen::Done { status: status as u16, body: serde_json::from_str(&body).unwrap_or(Value::Null) }
        }
        _ => Seen::Pending {
            owner: text(row, "owner").unwrap_or_default(),
            claimed_at_ms: int(row, "created_at_ms").unwrap_or(0),
        },
    })
}

/// Moves an abandoned claim (no result, claimed at least `abandoned_after_ms` ago) from
/// `old_owner` to `new_owner`. False if it was not abandoned, or someone else moved it first.
pub async fn take_over(
    rt: &Runtime,
    k: &ClaimKey<'_>,
    old_owner: &str,
    new_owner: &str,
    abandoned_after_ms: u64,
) -> ApiResult<bool> {
    let now = rt.now_ms() as i64;
    let mut params = key_params(k);
    // Records from before owners existed have none; they match an empty `old_owner`.
    let old: crate::runtime::SqlValue = Some(old_owner).filter(|o| !o.is_empty()).into();
    params.extend([old, new_owner.into(), now.into(), (now - abandoned_after_ms as i64).into()]);
    Ok(rt.db.execute(TAKE_OVER, &params).await? == 1)
}

/// Stores the response of `owner`'s work. False if the claim is no longer `owner`'s.
pub async fn complete(rt: &Runtime, k: &ClaimKey<'_>, owner: &str, status: u16, body: &Value) -> ApiResult<bool> {
    let mut params = key_params(k);
    params.extend([owner.into(), i64::from(status).into(), body.to_string().into()]);
    Ok(rt.db.execute(COMPLETE, &params).await? == 1)
}

/// Gives the key back after `owner`'s work failed, so a retry can run it. False if the claim
/// is no longer `owner`'s.
pub async fn release(rt: &Runtime, k: &ClaimKey<'_>, owner: &str) -> ApiResult<bool> {
    let mut params = key_params(k);
    params.push(owner.into());
    Ok(rt.db.execute(RELEASE, &params).await? == 1)
}

/// Removes the project's records past twice their retention.
pub async fn purge_expired(rt: &Runtime, project_id: &str) -> ApiResult<()> {
    let before = rt.now_ms() as i64 - 2 * RETENTION_MS as i64;
    rt.db.execute(PURGE, &[project_id.into(), before.into()]).await?;
    Ok(())
}

//! Projects and their API keys. A key is stored only as its SHA-256 hash plus its last four
//! characters for display; the key itself exists once, in the response that created it.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{changes, int, text};
use crate::domain::ids;
use crate::error::ApiResult;
use crate::runtime::{Row, Runtime, SqlValue, Statement};
use crate::store::bans::ActiveBan;
use crate::time::rfc3339;

pub const KEY_PREFIX: &str = "rtc_sk_";

#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub created_at_ms: i64,
}

impl Project {
    pub fn to_json(&self) -> Value {
        json!({ "id": self.id, "name": self.name, "created_at": rfc3339(self.created_at_ms as u64) })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub project_id: String,
    pub label: String,
    pub last4: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

impl ApiKey {
    fn from_row(row: &Row) -> Option<ApiKey> {
        Some(ApiKey {
            id: text(row, "id")?,
            project_id: text(row, "project_id")?,
            label: text(row, "label")?,
            last4: text(row, "last4")?,
            created_at_ms: int(row, "created_at_ms")?,
            revoked_at_ms: int(row, "revoked_at_ms"),
        })
    }

    /// The public view: never the key or its hash.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "project": self.project_id,
            "label": self.label,
            "last4": self.last4,
            "created_at": rfc3339(self.created_at_ms as u64),
            "revoked_at": self.revoked_at_ms.map(|ms| rfc3339(ms as u64)),
        })
    }
}

const INSERT_PROJECT: &str = "INSERT INTO projects (id, name, created_at_ms) VALUES (?1, ?2, ?3)";
const GET_PROJECT: &str = "SELECT id, name, created_at_ms FROM projects WHERE id = ?1";
const INSERT_KEY: &str = "INSERT INTO api_keys (id, project_id, key_hash, label, last4, created_at_ms) \
                          VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const LIST_KEYS: &str = "SELECT id, project_id, label, last4, created_at_ms, revoked_at_ms FROM api_keys \
                         WHERE project_id = ?1 ORDER BY created_at_ms, id";
const REVOKE_KEY: &str = "UPDATE api_keys SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL";
const GET_KEY: &str = "SELECT id, project_id, label, last4, created_at_ms, revoked_at_ms FROM api_keys WHERE id = ?1";
/// A live key with what its isolate must hold to serve the project, read in the same round
/// trip: the project's live bans (at ?2, now) and the change feed's head at that moment, so
/// the isolate follows the feed from exactly the state it loaded (`api::revocation`).
const FIND_LIVE_KEY: &str = "SELECT k.id, k.project_id, k.label, k.last4, k.created_at_ms, k.revoked_at_ms, \
     (SELECT COALESCE(MAX(seq), 0) FROM changes) AS feed_seq, \
     (SELECT json_group_array(json_object('id', b.id, 'target', b.target, 'identity', b.identity, \
     'expires_at_ms', b.expires_at_ms)) FROM bans AS b WHERE b.project_id = k.project_id \
     AND b.ended_at_ms IS NULL AND b.expires_at_ms > ?2) AS bans \
     FROM api_keys AS k WHERE k.key_hash = ?1 AND k.revoked_at_ms IS NULL";

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    [INSERT_PROJECT, GET_PROJECT, INSERT_KEY, LIST_KEYS, REVOKE_KEY, GET_KEY, FIND_LIVE_KEY].map(str::to_owned).into()
}

pub fn hash_key(key: &str) -> String {
    crate::crypto::hex::lower(&Sha256::digest(key.as_bytes()))
}

/// A new key: prefix + 32 base62 characters (≈190 random bits).
pub fn generate_key(rt: &Runtime) -> String {
    ids::random_id(rt, KEY_PREFIX, 32)
}

fn last4(key: &str) -> String {
    key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect()
}

pub async fn create_project(rt: &Runtime, name: &str) -> ApiResult<Project> {
    let project = Project { id: ids::project_id(rt), name: name.to_owned(), created_at_ms: rt.now_ms() as i64 };
    rt.db.execute(INSERT_PROJECT, &[project.id.as_str().into(), name.into(), project.created_at_ms.into()]).await?;
    Ok(project)
}

pub async fn get_project(rt: &Runtime, id: &str) -> ApiResult<Option<Project>> {
    let rows = rt.db.query(GET_PROJECT, &[id.into()]).await?;
    Ok(rows.first().and_then(|r| {
        Some(Project { id: text(r, "id")?, name: text(r, "name")?, created_at_ms: int(r, "created_at_ms")? })
    }))
}

/// Stores `key` (already generated, or supplied by the dev bootstrap) for `project_id`.
pub async fn insert_key(rt: &Runtime, project_id: &str, label: &str, key: &str) -> ApiResult<ApiKey> {
    let record = ApiKey {
        id: ids::key_id(rt),
        project_id: project_id.to_owned(),
        label: label.to_owned(),
        last4: last4(key),
        created_at_ms: rt.now_ms() as i64,
        revoked_at_ms: None,
    };
    rt.db
        .execute(
            INSERT_KEY,
            &[
                record.id.as_str().into(),
                project_id.into(),
                hash_key(key).into(),
                label.into(),
                record.last4.as_str().into(),
                record.created_at_ms.into(),
            ],
        )
        .await?;
    Ok(record)
}

pub async fn list_keys(rt: &Runtime, project_id: &str) -> ApiResult<Vec<ApiKey>> {
    let rows = rt.db.query(LIST_KEYS, &[project_id.into()]).await?;
    Ok(rows.iter().filter_map(ApiKey::from_row).collect())
}

/// Marks a key revoked (idempotently: a second revoke keeps the first time), and tells every
/// isolate through the change feed in the same batch.
pub async fn revoke_key(rt: &Runtime, key_id: &str) -> ApiResult<Option<ApiKey>> {
    let params: Vec<SqlValue> = vec![key_id.into(), (rt.now_ms() as i64).into()];
    rt.db
        .batch(&[
            Statement { sql: REVOKE_KEY, params: params.clone() },
            Statement { sql: changes::APPEND_KEY_REVOKED, params },
        ])
        .await?;
    let rows = rt.db.query(GET_KEY, &[key_id.into()]).await?;
    Ok(rows.first().and_then(ApiKey::from_row))
}

/// A live key as looked up: the key, its project's live bans and the feed's head then.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveKey {
    pub key: ApiKey,
    pub bans: Vec<ActiveBan>,
    pub feed_seq: i64,
}

impl LiveKey {
    fn from_row(row: &Row) -> Option<LiveKey> {
        let bans: Vec<Row> = text(row, "bans").and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        Some(LiveKey {
            key: ApiKey::from_row(row)?,
            bans: bans.iter().filter_map(super::bans::active_from_row).collect(),
            feed_seq: int(row, "feed_seq").unwrap_or(0),
        })
    }
}

/// The live (not revoked) key whose hash (`hash_key`) is `key_hash`, if any, with its
/// project's live bans and the feed's head.
///
/// Read from the nearest D1 read replica first: a key revoked moments ago may still be found
/// there for the replica's lag (on top of the isolate cache's 60 s, see `api::auth`). A key that
/// the replica does not have yet (created moments ago) is looked up again on the primary, so
/// a new key works at once.
pub async fn find_live_key(rt: &Runtime, key_hash: &str) -> ApiResult<Option<LiveKey>> {
    // A replica first (the Sessions API: any nearby copy); a miss there may just be a key
    // created moments ago, so it is asked of the primary before it counts as unknown.
    let params = [key_hash.into(), (rt.now_ms() as i64).into()];
    if let Some(key) = rt.db.query_replica(FIND_LIVE_KEY, &params).await?.first().and_then(LiveKey::from_row) {
        return Ok(Some(key));
    }
    Ok(rt.db.query(FIND_LIVE_KEY, &params).await?.first().and_then(LiveKey::from_row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex_and_last4_is_the_tail() {
        assert_eq!(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(last4("rtc_sk_abcdWXYZ"), "WXYZ");
        assert_eq!(last4("ab"), "ab");
    }
}

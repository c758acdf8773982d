//! Projects' own recording destinations: a place (kind, bucket, folder) and its sealed
//! credentials. Every query is scoped by project, so another project's destinations are
//! invisible.

use serde_json::{json, Value};

use super::{int, newest_first, page_sqls, quotas, text, Cursor};
use crate::domain::limits::{quota_exceeded, Quota};
use crate::domain::recording_destination::{Kind, Location};
use crate::error::ApiResult;
use crate::runtime::{DbError, Row, Runtime};
use crate::time::rfc3339;

/// A stored destination. `Debug` leaves the sealed credentials out.
#[derive(Clone, PartialEq)]
pub struct StoredDestination {
    pub id: String,
    pub project_id: String,
    pub kind: Kind,
    pub bucket: String,
    /// Empty or ending in `/`.
    pub prefix: String,
    pub sealed_credentials: String,
    pub created_at_ms: i64,
}

impl std::fmt::Debug for StoredDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredDestination")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("uri", &self.uri())
            .field("sealed_credentials", &"[redacted]")
            .finish()
    }
}

const COLUMNS: &str = "id, project_id, kind, bucket, prefix, sealed_credentials, created_at_ms";

/// Inserts a destination while the project has fewer than ?8.
fn insert_sql() -> String {
    quotas::insert_within(
        &format!("INSERT INTO recording_destinations ({COLUMNS})"),
        "?1, ?2, ?3, ?4, ?5, ?6, ?7",
        Quota::RecordingDestinations,
        "?2",
        "?8",
    )
}
fn in_bucket_sql() -> String {
    format!("SELECT {COLUMNS} FROM recording_destinations WHERE project_id = ?1 AND kind = ?2 AND bucket = ?3")
}
fn page_select() -> String {
    format!("SELECT {COLUMNS} FROM recording_destinations WHERE project_id = ?1")
}
const DELETE: &str = "DELETE FROM recording_destinations WHERE project_id = ?1 AND id = ?2";

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    let mut all = vec![insert_sql(), in_bucket_sql(), DELETE.to_owned()];
    all.extend(page_sqls(&page_select(), 1, "created_at_ms"));
    all
}

impl StoredDestination {
    fn from_row(row: &Row) -> Option<StoredDestination> {
        Some(StoredDestination {
            id: text(row, "id")?,
            project_id: text(row, "project_id")?,
            kind: Kind::parse(&text(row, "kind")?)?,
            bucket: text(row, "bucket")?,
            prefix: text(row, "prefix")?,
            sealed_credentials: text(row, "sealed_credentials")?,
            created_at_ms: int(row, "created_at_ms")?,
        })
    }

    pub fn uri(&self) -> String {
        Location { kind: self.kind, bucket: self.bucket.clone(), path: self.prefix.clone() }.uri()
    }

    /// `{destination, uri, kind, created_at}`: never the credentials.
    pub fn to_json(&self) -> Value {
        json!({
            "destination": self.id,
            "uri": self.uri(),
            "kind": self.kind.scheme(),
            "created_at": rfc3339(self.created_at_ms as u64),
        })
    }
}

/// Inserts `d`; `Ok(false)` when the project already has a destination at that place,
/// `QUOTA_EXCEEDED` when it has `limit` destinations.
pub async fn insert(rt: &Runtime, d: &StoredDestination, limit: u32) -> ApiResult<bool> {
    let result = rt
        .db
        .execute(
            &insert_sql(),
            &[
                d.id.as_str().into(),
                d.project_id.as_str().into(),
                d.kind.scheme().into(),
                d.bucket.as_str().into(),
                d.prefix.as_str().into(),
                d.sealed_credentials.as_str().into(),
                d.created_at_ms.into(),
                i64::from(limit).into(),
            ],
        )
        .await;
    match result {
        Ok(1) => Ok(true),
        // At the quota the place is not even tried: one in use is still reported as such.
        Ok(_) => {
            let taken = in_bucket(rt, &d.project_id, d.kind, &d.bucket).await?.iter().any(|x| x.prefix == d.prefix);
            if taken {
                Ok(false)
            } else {
                Err(quota_exceeded(Quota::RecordingDestinations, limit))
            }
        }
        Err(DbError::Constraint(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The project's destinations in one bucket.
pub async fn in_bucket(rt: &Runtime, project_id: &str, kind: Kind, bucket: &str) -> ApiResult<Vec<StoredDestination>> {
    let rows = rt.db.query(&in_bucket_sql(), &[project_id.into(), kind.scheme().into(), bucket.into()]).await?;
    Ok(rows.iter().filter_map(StoredDestination::from_row).collect())
}

/// The project's destinations, newest first, strictly after `after`.
pub async fn page(
    rt: &Runtime,
    project_id: &str,
    after: Option<&Cursor>,
    limit: u32,
) -> ApiResult<(Vec<StoredDestination>, bool)> {
    newest_first(
        rt,
        &page_select(),
        vec![project_id.into()],
        "created_at_ms",
        after,
        limit,
        StoredDestination::from_row,
    )
    .await
}

/// Deletes the project's destination `id` (its sealed credentials with it); false if none.
pub async fn delete(rt: &Runtime, project_id: &str, id: &str) -> ApiResult<bool> {
    let changed = rt.db.execute(DELETE, &[project_id.into(), id.into()]).await?;
    Ok(changed > 0)
}

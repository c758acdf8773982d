//! Webhook endpoints of a project, their delivery health, and one delivery record per event
//! and endpoint.

use serde_json::{json, Value};

use super::{int, quotas, text};
use crate::crypto::sealed::Sealed;
use crate::domain::limits::{quota_exceeded, Quota};
use crate::error::ApiResult;
use crate::runtime::{Row, Runtime, Statement};
use crate::time::rfc3339;

#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub project_id: String,
    pub url: String,
    /// Event types it receives; `None` for all.
    pub types: Option<Vec<String>>,
    /// The signing secret sealed to `project_id`; opened only to sign a delivery.
    pub sealed_secret: Sealed,
    pub created_at_ms: i64,
    pub last_attempt_at_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
    pub delivered: i64,
    pub dead_lettered: i64,
}

const COLUMNS: &str = "id, project_id, url, types, sealed_secret, created_at_ms, last_attempt_at_ms, last_status, \
                       last_error, consecutive_failures, delivered, dead_lettered";

impl Webhook {
    fn from_row(row: &Row) -> Option<Webhook> {
        Some(Webhook {
            id: text(row, "id")?,
            project_id: text(row, "project_id")?,
            url: text(row, "url")?,
            types: text(row, "types").and_then(|t| serde_json::from_str(&t).ok()),
            sealed_secret: Sealed(text(row, "sealed_secret")?),
            created_at_ms: int(row, "created_at_ms")?,
            last_attempt_at_ms: int(row, "last_attempt_at_ms"),
            last_status: int(row, "last_status"),
            last_error: text(row, "last_error"),
            consecutive_failures: int(row, "consecutive_failures").unwrap_or(0),
            delivered: int(row, "delivered").unwrap_or(0),
            dead_lettered: int(row, "dead_lettered").unwrap_or(0),
        })
    }

    pub fn wants(&self, kind: &str) -> bool {
        self.types.as_ref().is_none_or(|types| types.iter().any(|t| t == kind))
    }

    /// The endpoint as listed: never the secret.
    pub fn to_json(&self) -> Value {
        json!({
            "webhook": self.id,
            "url": self.url,
            "types": self.types,
            "created_at": rfc3339(self.created_at_ms.max(0) as u64),
        })
    }

    /// The endpoint with its delivery health.
    pub fn to_json_with_health(&self) -> Value {
        let mut v = self.to_json();
        v["delivery"] = json!({
            "last_attempt_at": self.last_attempt_at_ms.map(|ms| rfc3339(ms.max(0) as u64)),
            "last_status": self.last_status,
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "delivered": self.delivered,
            "dead_lettered": self.dead_lettered,
        });
        v
    }
}

/// Inserts an endpoint while the project has fewer than ?7 live ones.
fn insert_sql() -> String {
    quotas::insert_within(
        "INSERT INTO webhooks (id, project_id, url, types, sealed_secret, created_at_ms)",
        "?1, ?2, ?3, ?4, ?5, ?6",
        Quota::Webhooks,
        "?2",
        "?7",
    )
}
const SOFT_DELETE: &str =
    "UPDATE webhooks SET deleted_at_ms = ?3 WHERE id = ?1 AND project_id = ?2 AND deleted_at_ms IS NULL";
const ADD_DELIVERY: &str = "INSERT INTO webhook_deliveries (id, webhook_id, event_id, attempts, state, created_at_ms, \
                            updated_at_ms) VALUES (?1, ?2, ?3, 0, 'pending', ?4, ?4) \
                            ON CONFLICT (webhook_id, event_id) DO NOTHING";
/// A delivery is found by its id (the queue message), then its endpoint by primary key.
const PENDING_DELIVERY: &str =
    "SELECT d.id, d.attempts, d.event_id, w.id AS webhook_id, w.project_id, w.url, w.sealed_secret \
                                FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                                WHERE d.id = ?1 AND d.state = 'pending' AND w.deleted_at_ms IS NULL";
/// Records the attempt only if no one recorded it first (`?5` = the attempts read before it):
/// a queue message handed over twice, or two messages of one delivery, make one record.
const DELIVERY_ATTEMPTED: &str =
    "UPDATE webhook_deliveries SET attempts = attempts + 1, state = ?2, last_status = ?3, \
                                  updated_at_ms = ?4 WHERE id = ?1 AND state = 'pending' AND attempts = ?5";
/// The endpoint's health moves with the delivery's record: the same condition, checked first.
const ENDPOINT_DELIVERED: &str = "UPDATE webhooks SET last_attempt_at_ms = ?2, last_status = ?3, last_error = ?4, \
                                  consecutive_failures = 0, delivered = delivered + 1 WHERE id = ?1 AND EXISTS \
                                  (SELECT 1 FROM webhook_deliveries WHERE id = ?5 AND state = 'pending' AND attempts = ?6)";
const ENDPOINT_FAILED: &str = "UPDATE webhooks SET last_attempt_at_ms = ?2, last_status = ?3, last_error = ?4, \
                               consecutive_failures = consecutive_failures + 1 WHERE id = ?1 AND EXISTS \
                               (SELECT 1 FROM webhook_deliveries WHERE id = ?5 AND state = 'pending' AND attempts = ?6)";
const ENDPOINT_DEAD: &str = "UPDATE webhooks SET last_attempt_at_ms = ?2, last_status = ?3, last_error = ?4, \
                             consecutive_failures = consecutive_failures + 1, dead_lettered = dead_lettered + 1 WHERE id = ?1 \
                             AND EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?5 AND state = 'pending' AND attempts = ?6)";
const DELIVERY_STATE: &str = "SELECT state, attempts FROM webhook_deliveries WHERE webhook_id = ?1 AND event_id = ?2";

/// Served by the partial `webhooks_page` index, so the query repeats `deleted_at_ms IS NULL`.
fn list_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM webhooks WHERE project_id = ?1 AND deleted_at_ms IS NULL \
         ORDER BY created_at_ms DESC, id DESC"
    )
}
fn find_sql() -> String {
    format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?1 AND project_id = ?2 AND deleted_at_ms IS NULL")
}

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    let mut all: Vec<String> = [
        SOFT_DELETE,
        ADD_DELIVERY,
        PENDING_DELIVERY,
        DELIVERY_ATTEMPTED,
        ENDPOINT_DELIVERED,
        ENDPOINT_FAILED,
        ENDPOINT_DEAD,
        DELIVERY_STATE,
    ]
    .map(str::to_owned)
    .into();
    all.extend([insert_sql(), list_sql(), find_sql()]);
    all
}

/// Inserts `w` unless its project already has `limit` live endpoints (`QUOTA_EXCEEDED`).
pub async fn insert(rt: &Runtime, w: &Webhook, limit: u32) -> ApiResult<()> {
    let types = w.types.as_ref().map(|t| serde_json::to_string(t).expect("strings serialize"));
    let inserted = rt
        .db
        .execute(
            &insert_sql(),
            &[
                w.id.as_str().into(),
                w.project_id.as_str().into(),
                w.url.as_str().into(),
                types.into(),
                w.sealed_secret.0.as_str().into(),
                w.created_at_ms.into(),
                i64::from(limit).into(),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(quota_exceeded(Quota::Webhooks, limit));
    }
    Ok(())
}

/// The project's live endpoints, newest first.
pub async fn list(rt: &Runtime, project_id: &str) -> ApiResult<Vec<Webhook>> {
    let rows = rt.db.query(&list_sql(), &[project_id.into()]).await?;
    Ok(rows.iter().filter_map(Webhook::from_row).collect())
}

pub async fn find(rt: &Runtime, project_id: &str, id: &str) -> ApiResult<Option<Webhook>> {
    let rows = rt.db.query(&find_sql(), &[id.into(), project_id.into()]).await?;
    Ok(rows.first().and_then(Webhook::from_row))
}

pub async fn soft_delete(rt: &Runtime, project_id: &str, id: &str) -> ApiResult<bool> {
    let changed = rt.db.execute(SOFT_DELETE, &[id.into(), project_id.into(), (rt.now_ms() as i64).into()]).await?;
    Ok(changed == 1)
}

/// Records a delivery of `event_id` to each endpoint of `deliveries` (delivery id, webhook
/// id) in one batch; one that exists already is left as it is.
pub async fn add_deliveries(rt: &Runtime, event_id: &str, deliveries: &[(String, String)]) -> ApiResult<()> {
    let now = rt.now_ms() as i64;
    let statements: Vec<Statement> = deliveries
        .iter()
        .map(|(delivery_id, webhook_id)| Statement {
            sql: ADD_DELIVERY,
            params: vec![delivery_id.as_str().into(), webhook_id.as_str().into(), event_id.into(), now.into()],
        })
        .collect();
    rt.db.batch(&statements).await?;
    Ok(())
}

/// A pending delivery with what sending it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingDelivery {
    pub id: String,
    pub attempts: i64,
    pub webhook_id: String,
    /// The endpoint's project, which the event must belong to.
    pub project_id: String,
    pub url: String,
    /// Sealed to `project_id`.
    pub sealed_secret: Sealed,
    pub event_id: String,
}

/// The delivery if it is still pending and its endpoint still exists.
pub async fn pending_delivery(rt: &Runtime, delivery_id: &str) -> ApiResult<Option<PendingDelivery>> {
    let rows = rt.db.query(PENDING_DELIVERY, &[delivery_id.into()]).await?;
    Ok(rows.first().and_then(|r| {
        Some(PendingDelivery {
            id: text(r, "id")?,
            attempts: int(r, "attempts")?,
            webhook_id: text(r, "webhook_id")?,
            project_id: text(r, "project_id")?,
            url: text(r, "url")?,
            sealed_secret: Sealed(text(r, "sealed_secret")?),
            event_id: text(r, "event_id")?,
        })
    }))
}

/// How an attempt ended, for the delivery and the endpoint's health.
#[derive(Clone, Debug, PartialEq)]
pub enum Attempt {
    Delivered {
        status: u16,
    },
    /// Will be tried again.
    Failed {
        status: Option<u16>,
        error: String,
    },
    /// The last attempt failed: the delivery is dead-lettered.
    Dead {
        status: Option<u16>,
        error: String,
    },
}

/// Records an attempt on the delivery and its endpoint's health, in one transaction. `false`
/// when the attempt was recorded already (by another handling of the same message): nothing
/// changes then.
pub async fn record_attempt(rt: &Runtime, d: &PendingDelivery, attempt: &Attempt) -> ApiResult<bool> {
    let now = rt.now_ms() as i64;
    let (state, status, error) = match attempt {
        Attempt::Delivered { status } => ("delivered", Some(*status), None),
        Attempt::Failed { status, error } => ("pending", *status, Some(error.clone())),
        Attempt::Dead { status, error } => ("dead", *status, Some(error.clone())),
    };
    let status = status.map(i64::from);
    let webhook_sql = match attempt {
        Attempt::Delivered { .. } => ENDPOINT_DELIVERED,
        Attempt::Failed { .. } => ENDPOINT_FAILED,
        Attempt::Dead { .. } => ENDPOINT_DEAD,
    };
    let changed = rt
        .db
        .batch(&[
            Statement {
                sql: webhook_sql,
                params: vec![
                    d.webhook_id.as_str().into(),
                    now.into(),
                    status.into(),
                    error.into(),
                    d.id.as_str().into(),
                    d.attempts.into(),
                ],
            },
            Statement {
                sql: DELIVERY_ATTEMPTED,
                params: vec![d.id.as_str().into(), state.into(), status.into(), now.into(), d.attempts.into()],
            },
        ])
        .await?;
    Ok(changed.get(1) == Some(&1))
}

/// The state and attempts of a delivery (for tests and diagnostics).
pub async fn delivery_state(rt: &Runtime, webhook_id: &str, event_id: &str) -> ApiResult<Option<(String, i64)>> {
    let rows = rt.db.query(DELIVERY_STATE, &[webhook_id.into(), event_id.into()]).await?;
    Ok(rows.first().and_then(|r| Some((text(r, "state")?, int(r, "attempts")?))))
}

//! Durable state in D1 (SQLite natively): one module per table family. Every query that
//! reads tenant data filters by project, so one project can never see another's rows.

pub mod idempotency;
pub mod keys;
pub mod participants;
pub mod recordings;
pub mod rooms;

use serde_json::Value;

use crate::runtime::Row;

pub(crate) fn text(row: &Row, col: &str) -> Option<String> {
    row.get(col).and_then(Value::as_str).map(str::to_owned)
}

/// D1 hands integers over as JS numbers; accept both integer and float JSON forms.
pub(crate) fn int(row: &Row, col: &str) -> Option<i64> {
    row.get(col).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

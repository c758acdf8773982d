//! Durable state in D1 (SQLite natively): one module per table family. Every query that
//! reads tenant data filters by project, so one project can never see another's rows.

pub mod bans;
pub mod changes;
pub mod destinations;
pub mod events;
pub mod idempotency;
pub mod keys;
pub mod moderation;
pub mod participants;
pub mod quotas;
pub mod recordings;
pub mod registry_writer;
pub mod retention;
pub mod room_cache;
pub mod rooms;
pub mod sessions;
pub mod streams;
pub mod timed_sessions;
pub mod uid_blocks;
pub mod webhooks;

use serde_json::{Map, Value};

use crate::error::ApiResult;
use crate::runtime::{Row, Runtime, SqlValue};

pub(crate) fn text(row: &Row, col: &str) -> Option<String> {
    row.get(col).and_then(Value::as_str).map(str::to_owned)
}

/// D1 hands integers over as JS numbers; accept both integer and float JSON forms.
pub(crate) fn int(row: &Row, col: &str) -> Option<i64> {
    row.get(col).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

/// A stored metadata object (JSON text) for a response; absent or unreadable is `{}`.
pub(crate) fn metadata_json(text: Option<&str>) -> Value {
    text.and_then(|m| serde_json::from_str(m).ok()).unwrap_or_else(|| Value::Object(Map::new()))
}

/// Position in a newest-first listing: the (timestamp, id) of the last item already seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    pub at_ms: i64,
    pub id: String,
}

/// The SQL of a `newest_first` page: the first page, or a page after a cursor. The limit is
/// the parameter after `select_where`'s `n_params`, then the cursor's time and id.
fn page_sql(select_where: &str, n_params: usize, time_col: &str, after_cursor: bool) -> String {
    let limit_param = n_params + 1;
    let keyset = if after_cursor {
        let (at, id) = (limit_param + 1, limit_param + 2);
        format!("AND ({time_col} < ?{at} OR ({time_col} = ?{at} AND id < ?{id}))")
    } else {
        String::new()
    };
    format!("{select_where} {keyset} ORDER BY {time_col} DESC, id DESC LIMIT ?{limit_param}")
}

/// Both page statements `newest_first` may send for `select_where`.
pub(crate) fn page_sqls(select_where: &str, n_params: usize, time_col: &str) -> [String; 2] {
    [false, true].map(|after| page_sql(select_where, n_params, time_col, after))
}

/// Every statement the store sends: `tests/query_plans.rs` checks each one's plan, and the
/// native database refuses any other, so a new statement cannot go unchecked.
pub fn statements() -> Vec<String> {
    let mut all = keys::statements();
    all.extend(destinations::statements());
    all.extend(idempotency::STATEMENTS.iter().map(|s| s.to_string()));
    all.extend(participants::STATEMENTS.iter().map(|s| s.to_string()));
    all.extend(uid_blocks::STATEMENTS.iter().map(|s| s.to_string()));
    all.extend(moderation::statements());
    all.extend(recordings::statements());
    all.extend(rooms::statements());
    all.extend(events::statements());
    all.extend(sessions::statements());
    all.extend(webhooks::statements());
    all.extend(quotas::statements());
    all.extend(bans::statements());
    all.extend(changes::statements());
    all.extend(timed_sessions::statements());
    all.extend(streams::statements());
    // The scheduled job's sweeps, which alone are not scoped by project (`retention`).
    all.extend(retention::statements());
    all
}

/// One page of a newest-first keyset listing, strictly after `after`: `select_where` is the
/// query up to its WHERE conditions (over `params` as ?1…), ordered by `time_col` then `id`,
/// both descending, so rows created or deleted meanwhile never shift the page. Returns the
/// items and whether more follow.
pub(crate) async fn newest_first<T>(
    rt: &Runtime,
    select_where: &str,
    mut params: Vec<SqlValue>,
    time_col: &str,
    after: Option<&Cursor>,
    limit: u32,
    from_row: fn(&Row) -> Option<T>,
) -> ApiResult<(Vec<T>, bool)> {
    let sql = page_sql(select_where, params.len(), time_col, after.is_some());
    params.push(i64::from(limit + 1).into());
    if let Some(c) = after {
        params.push(c.at_ms.into());
        params.push(c.id.as_str().into());
    }
    let rows = rt.db.query(&sql, &params).await?;
    let mut items: Vec<T> = rows.iter().filter_map(from_row).collect();
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Ok((items, more))
}

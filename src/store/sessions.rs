//! Participant presence from vendor events: `joined_at`/`left_at` on the registry, and one
//! metered session per presence for usage, session history and presence. Events arrive late,
//! twice or out of order, so each write only fills in what is missing or newer.

use super::{int, newest_first, page_sqls, text, Cursor};
use crate::domain::events::Session;
use crate::domain::ids;
use crate::error::ApiResult;
use crate::runtime::{Row, Runtime, SqlValue, Statement};

fn opt_ms(v: Option<u64>) -> SqlValue {
    v.map(|ms| ms as i64).into()
}

/// The public id (?8) is written with the row and kept by every later write of it.
const UPSERT_SESSION: &str =
    "INSERT INTO participant_sessions (room_id, session_key, project_id, identity, joined_at_ms, \
                              left_at_ms, seconds, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                              ON CONFLICT (room_id, session_key) DO UPDATE SET \
                                joined_at_ms = COALESCE(participant_sessions.joined_at_ms, excluded.joined_at_ms), \
                                left_at_ms = COALESCE(excluded.left_at_ms, participant_sessions.left_at_ms), \
                                seconds = COALESCE(excluded.seconds, participant_sessions.seconds)";
/// A leave older than the last join is a late delivery of an earlier presence.
const LEFT: &str = "UPDATE participants SET left_at_ms = ?3, joined_at_ms = COALESCE(joined_at_ms, ?4) \
                    WHERE room_id = ?1 AND identity = ?2 AND (joined_at_ms IS NULL OR joined_at_ms <= ?3)";
const JOINED: &str = "UPDATE participants SET joined_at_ms = ?3, left_at_ms = NULL \
                      WHERE room_id = ?1 AND identity = ?2 AND (left_at_ms IS NULL OR left_at_ms < ?3) \
                      AND (joined_at_ms IS NULL OR joined_at_ms < ?3)";
/// Served by `participant_sessions_open` (room, then the open ones).
const CLOSE_SESSIONS: &str = "UPDATE participant_sessions SET left_at_ms = ?2, \
                              seconds = MAX(0, CAST((?2 - joined_at_ms + 999) / 1000 AS INTEGER)) \
                              WHERE room_id = ?1 AND left_at_ms IS NULL AND joined_at_ms IS NOT NULL AND joined_at_ms <= ?2";
const CLOSE_PRESENCES: &str = "UPDATE participants SET left_at_ms = ?2 \
                               WHERE room_id = ?1 AND joined_at_ms IS NOT NULL AND left_at_ms IS NULL AND joined_at_ms <= ?2";
/// The join times of a JSON array of identities (?2): one primary-key lookup each.
const JOINED_AT: &str = "SELECT identity, joined_at_ms FROM participants WHERE room_id = ?1 \
                         AND identity IN (SELECT value FROM json_each(?2)) AND joined_at_ms IS NOT NULL";
/// Identities per `JOINED_AT` statement (each up to 256 bytes: at most ~256 KiB of parameter).
pub const IDENTITIES_PER_LOOKUP: usize = 1000;

/// The closed sessions of the project that began in `[?2, ?3)`, optionally of room `?4`,
/// summed per room in SQL, in room order: a session counts once, its seconds, and its seconds
/// rounded up to a whole minute on their own (as LiveKit bills). Only the range is read: a
/// range of `participant_sessions_usage` (project, start), or with a room of
/// `participant_sessions_room_usage` (project, room, start, seconds). Grouping the project's
/// range by room sorts just that range's rows (`tests/query_plans.rs` allows exactly this).
fn usage_sql(of_room: bool) -> String {
    let room_filter = if of_room { " AND room_id = ?4" } else { "" };
    format!(
        "SELECT room_id, COUNT(*) AS sessions, SUM(seconds) AS seconds, SUM((seconds + 59) / 60) AS minutes \
         FROM participant_sessions WHERE project_id = ?1 \
         AND joined_at_ms >= ?2 AND joined_at_ms < ?3 AND seconds IS NOT NULL{room_filter} \
         GROUP BY room_id ORDER BY room_id"
    )
}

// Reconciliation (the scheduled job): open sessions compared with their vendor's list.
// Like retention these sweep every project, and each is served by an index (migration 0013).

/// Rooms with open sessions, those checked longest ago first (`participant_sessions_unchecked`),
/// with each room's vendor: ?1 checked before, ?2 how many sessions to look at.
const DUE_ROOMS: &str = "SELECT s.room_id AS room_id, r.vendor AS vendor FROM participant_sessions AS s \
                         JOIN rooms AS r ON r.id = s.room_id \
                         WHERE s.left_at_ms IS NULL AND s.checked_at_ms < ?1 ORDER BY s.checked_at_ms LIMIT ?2";
/// A room's open sessions, checked longest ago first (`participant_sessions_room_unchecked`).
const OPEN_IN_ROOM: &str = "SELECT session_key, identity, joined_at_ms FROM participant_sessions \
                            WHERE room_id = ?1 AND left_at_ms IS NULL ORDER BY checked_at_ms LIMIT ?2";
/// ?2 a JSON array of session keys of room ?1, compared with the vendor's list at ?3.
const MARK_CHECKED: &str = "UPDATE participant_sessions SET checked_at_ms = ?3 \
                            WHERE room_id = ?1 AND session_key IN (SELECT value FROM json_each(?2))";
/// ?2 the session keys whose identities the vendor listed at ?3.
const MARK_SEEN: &str = "UPDATE participant_sessions SET seen_at_ms = ?3 \
                         WHERE room_id = ?1 AND session_key IN (SELECT value FROM json_each(?2)) AND left_at_ms IS NULL";
/// ?2 the session keys whose identities the vendor no longer lists: each ends when it was last
/// known present — the last run that listed it, else its join. A leave event arriving later
/// still replaces this end (`UPSERT_SESSION` prefers the event's).
const CLOSE_UNLISTED: &str =
    "UPDATE participant_sessions SET left_at_ms = COALESCE(MAX(seen_at_ms, joined_at_ms), joined_at_ms), \
     seconds = MAX(0, CAST((COALESCE(MAX(seen_at_ms, joined_at_ms), joined_at_ms) - joined_at_ms + 999) / 1000 AS INTEGER)) \
     WHERE room_id = ?1 AND session_key IN (SELECT value FROM json_each(?2)) \
     AND left_at_ms IS NULL AND joined_at_ms IS NOT NULL";

/// Every statement this module sends.
pub(crate) fn statements() -> Vec<String> {
    let mut all: Vec<String> = [
        UPSERT_SESSION,
        LEFT,
        JOINED,
        CLOSE_SESSIONS,
        CLOSE_PRESENCES,
        JOINED_AT,
        DUE_ROOMS,
        OPEN_IN_ROOM,
        MARK_CHECKED,
        MARK_SEEN,
        CLOSE_UNLISTED,
    ]
    .map(str::to_owned)
    .into();
    all.extend([usage_sql(false), usage_sql(true)]);
    for (of_room, of_identity) in [(false, false), (true, false), (false, true), (true, true)] {
        let (select, n_params) = page_select(of_room, of_identity);
        all.extend(page_sqls(&select, n_params, "joined_at_ms"));
    }
    all.push(find_sql());
    // Presence reads one first page only.
    let [present, _] = page_sqls(&present_select(), 2, "joined_at_ms");
    all.push(present);
    all
}

/// Records a join or leave of `identity` in `room_id`.
pub async fn record(rt: &Runtime, project_id: &str, room_id: &str, identity: &str, session: &Session) -> ApiResult<()> {
    let mut statements = vec![Statement {
        sql: UPSERT_SESSION,
        params: vec![
            room_id.into(),
            session.key.as_str().into(),
            project_id.into(),
            identity.into(),
            opt_ms(session.joined_at_ms),
            opt_ms(session.left_at_ms),
            session.seconds().map(|s| s as i64).into(),
            ids::session_id(rt).into(),
        ],
    }];
    match (session.joined_at_ms, session.left_at_ms) {
        (joined, Some(left)) => statements.push(Statement {
            sql: LEFT,
            params: vec![room_id.into(), identity.into(), (left as i64).into(), opt_ms(joined)],
        }),
        (Some(joined), None) => statements
            .push(Statement { sql: JOINED, params: vec![room_id.into(), identity.into(), (joined as i64).into()] }),
        (None, None) => {}
    }
    rt.db.batch(&statements).await?;
    Ok(())
}

/// A finished room: every open presence ends at `at_ms`.
pub async fn close_room(rt: &Runtime, room_id: &str, at_ms: u64) -> ApiResult<()> {
    let at = at_ms as i64;
    rt.db
        .batch(&[
            Statement { sql: CLOSE_SESSIONS, params: vec![room_id.into(), at.into()] },
            Statement { sql: CLOSE_PRESENCES, params: vec![room_id.into(), at.into()] },
        ])
        .await?;
    Ok(())
}

/// When each of `identities` last joined the room, for vendors that do not say; looked up
/// `IDENTITIES_PER_LOOKUP` at a time, never the room's whole registry.
pub async fn joined_at(rt: &Runtime, room_id: &str, identities: &[String]) -> ApiResult<Vec<(String, i64)>> {
    let mut found = Vec::new();
    for chunk in identities.chunks(IDENTITIES_PER_LOOKUP) {
        let list = serde_json::Value::from(chunk.to_vec()).to_string();
        let rows = rt.db.query(JOINED_AT, &[room_id.into(), list.into()]).await?;
        found.extend(rows.iter().filter_map(|r| Some((text(r, "identity")?, int(r, "joined_at_ms")?))));
    }
    Ok(found)
}

/// Metered usage of one room.
#[derive(Clone, Debug, PartialEq)]
pub struct RoomUsage {
    pub room_id: String,
    pub sessions: i64,
    pub seconds: i64,
    /// Each session rounded up to a whole minute, then summed (as LiveKit bills).
    pub minutes: i64,
}

/// Closed sessions of the project that began in `[from_ms, to_ms)`, per room, in room order.
pub async fn usage(
    rt: &Runtime,
    project_id: &str,
    from_ms: i64,
    to_ms: i64,
    room_id: Option<&str>,
) -> ApiResult<Vec<RoomUsage>> {
    let mut params: Vec<SqlValue> = vec![project_id.into(), from_ms.into(), to_ms.into()];
    params.extend(room_id.map(SqlValue::from));
    let rows = rt.db.query(&usage_sql(room_id.is_some()), &params).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(RoomUsage {
                room_id: text(row, "room_id")?,
                sessions: int(row, "sessions")?,
                seconds: int(row, "seconds")?,
                minutes: int(row, "minutes")?,
            })
        })
        .collect())
}

/// A room with open sessions, due for reconciliation.
#[derive(Clone, Debug, PartialEq)]
pub struct DueRoom {
    pub room_id: String,
    pub vendor: String,
}

/// Up to `max_rooms` distinct rooms with sessions open and unchecked since `before_ms`, those
/// checked longest ago first; at most `max_sessions` sessions are looked at to find them.
pub async fn due_rooms(rt: &Runtime, before_ms: i64, max_sessions: u32, max_rooms: usize) -> ApiResult<Vec<DueRoom>> {
    let rows = rt.db.query(DUE_ROOMS, &[before_ms.into(), i64::from(max_sessions).into()]).await?;
    let mut rooms: Vec<DueRoom> = Vec::new();
    for row in &rows {
        let (Some(room_id), Some(vendor)) = (text(row, "room_id"), text(row, "vendor")) else { continue };
        if rooms.len() == max_rooms {
            break;
        }
        if !rooms.iter().any(|r| r.room_id == room_id) {
            rooms.push(DueRoom { room_id, vendor });
        }
    }
    Ok(rooms)
}

/// An open session of a room.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenSession {
    pub key: String,
    pub identity: String,
    pub joined_at_ms: Option<i64>,
}

/// At most `limit` open sessions of the room, checked longest ago first.
pub async fn open_in_room(rt: &Runtime, room_id: &str, limit: u32) -> ApiResult<Vec<OpenSession>> {
    let rows = rt.db.query(OPEN_IN_ROOM, &[room_id.into(), i64::from(limit).into()]).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(OpenSession {
                key: text(r, "session_key")?,
                identity: text(r, "identity")?,
                joined_at_ms: int(r, "joined_at_ms"),
            })
        })
        .collect())
}

/// Writes one reconciliation of a room at `at_ms`, in one transaction: every session of
/// `checked` was compared with the vendor's list, those of `seen` were on it, and those of
/// `unlisted` were not and are closed (see `CLOSE_UNLISTED` for when they end). Returns how
/// many sessions were closed.
pub async fn reconcile(
    rt: &Runtime,
    room_id: &str,
    checked: &[&str],
    seen: &[&str],
    unlisted: &[&str],
    at_ms: i64,
) -> ApiResult<u64> {
    let keys = |k: &[&str]| SqlValue::from(serde_json::Value::from(k.to_vec()).to_string());
    let changed = rt
        .db
        .batch(&[
            Statement { sql: MARK_SEEN, params: vec![room_id.into(), keys(seen), at_ms.into()] },
            Statement { sql: CLOSE_UNLISTED, params: vec![room_id.into(), keys(unlisted)] },
            Statement { sql: MARK_CHECKED, params: vec![room_id.into(), keys(checked), at_ms.into()] },
        ])
        .await?;
    Ok(changed.get(1).copied().unwrap_or(0))
}

// Session history and presence (`resources/sessions`). A session whose join time no vendor
// event gave (a leave seen without its join, and without the join time) is in neither.

/// A session's vendor is its room's (a primary-key lookup per row), and a room deleted since
/// still has its row, so history keeps its vendor.
const SESSION_COLUMNS: &str = "id, room_id, identity, joined_at_ms, left_at_ms, seconds, \
     (SELECT vendor FROM rooms WHERE rooms.id = participant_sessions.room_id) AS vendor";

/// The project's sessions that joined in `[from, to)`, optionally of one room and of one
/// identity, over `?1` project, then room, identity, from and to (returns the count). Each
/// form is one range of the index that starts with what it filters by (migration 0021); with
/// both a room and an identity it is the identity's range, filtered by room (one person's
/// sessions are usually fewer than a room's). The index is named: without statistics, SQLite
/// may otherwise pick the project's range for a room and filter it row by row.
fn page_select(of_room: bool, of_identity: bool) -> (String, usize) {
    let index = match (of_room, of_identity) {
        (_, true) => "participant_sessions_identity_page",
        (true, false) => "participant_sessions_room_page",
        (false, false) => "participant_sessions_page",
    };
    let mut select =
        format!("SELECT {SESSION_COLUMNS} FROM participant_sessions INDEXED BY {index} WHERE project_id = ?1");
    let mut n = 1;
    for (on, column) in [(of_room, "room_id"), (of_identity, "identity")] {
        if on {
            n += 1;
            select.push_str(&format!(" AND {column} = ?{n}"));
        }
    }
    select.push_str(&format!(" AND joined_at_ms >= ?{} AND joined_at_ms < ?{}", n + 1, n + 2));
    (select, n + 2)
}

fn find_sql() -> String {
    format!("SELECT {SESSION_COLUMNS} FROM participant_sessions WHERE project_id = ?1 AND id = ?2")
}

/// The identity's open sessions in rooms not deleted (`participant_sessions_present`): a room
/// deleted through the API has no one in it, even before its vendor's events say so.
fn present_select() -> String {
    format!(
        "SELECT {SESSION_COLUMNS} FROM participant_sessions INDEXED BY participant_sessions_present \
         WHERE project_id = ?1 AND identity = ?2 \
         AND left_at_ms IS NULL AND joined_at_ms IS NOT NULL \
         AND (SELECT deleted_at_ms FROM rooms WHERE rooms.id = participant_sessions.room_id) IS NULL"
    )
}

/// One participant session, as history and presence show it.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    pub id: String,
    pub room_id: String,
    pub identity: String,
    pub vendor: String,
    pub joined_at_ms: i64,
    pub left_at_ms: Option<i64>,
    /// Set once the session is closed, a started second counting whole.
    pub seconds: Option<i64>,
}

impl SessionRecord {
    fn from_row(row: &Row) -> Option<SessionRecord> {
        Some(SessionRecord {
            id: text(row, "id")?,
            room_id: text(row, "room_id")?,
            identity: text(row, "identity")?,
            vendor: text(row, "vendor").unwrap_or_default(),
            joined_at_ms: int(row, "joined_at_ms")?,
            left_at_ms: int(row, "left_at_ms"),
            seconds: int(row, "seconds"),
        })
    }
}

/// Which sessions a page lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionFilter<'a> {
    pub room_id: Option<&'a str>,
    pub identity: Option<&'a str>,
    /// Joined at or after (Unix ms).
    pub from_ms: i64,
    /// Joined before (Unix ms).
    pub to_ms: i64,
}

/// One page of the project's sessions, newest join first, strictly after `after`.
pub async fn page(
    rt: &Runtime,
    project_id: &str,
    filter: &SessionFilter<'_>,
    after: Option<&Cursor>,
    limit: u32,
) -> ApiResult<(Vec<SessionRecord>, bool)> {
    let (select, _) = page_select(filter.room_id.is_some(), filter.identity.is_some());
    let mut params: Vec<SqlValue> = vec![project_id.into()];
    params.extend(filter.room_id.map(SqlValue::from));
    params.extend(filter.identity.map(SqlValue::from));
    params.extend([filter.from_ms.into(), filter.to_ms.into()]);
    newest_first(rt, &select, params, "joined_at_ms", after, limit, SessionRecord::from_row).await
}

/// The project's session with this public id.
pub async fn find(rt: &Runtime, project_id: &str, id: &str) -> ApiResult<Option<SessionRecord>> {
    let rows = rt.db.query(&find_sql(), &[project_id.into(), id.into()]).await?;
    Ok(rows.first().and_then(SessionRecord::from_row))
}

/// Up to `limit` open sessions of the identity (newest join first) and whether more are open.
pub async fn present(
    rt: &Runtime,
    project_id: &str,
    identity: &str,
    limit: u32,
) -> ApiResult<(Vec<SessionRecord>, bool)> {
    let params = vec![project_id.into(), identity.into()];
    newest_first(rt, &present_select(), params, "joined_at_ms", None, limit, SessionRecord::from_row).await
}

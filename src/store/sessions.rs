//! Participant presence from vendor events: `joined_at`/`left_at` on the registry, and one
//! metered session per presence for usage. Events arrive late, twice or out of order, so each
//! write only fills in what is missing or newer.

use super::{int, text};
use crate::error::ApiResult;
use crate::events::Session;
use crate::runtime::{Runtime, SqlValue, Statement};

fn opt_ms(v: Option<u64>) -> SqlValue {
    v.map(|ms| ms as i64).into()
}

/// Records a join or leave of `identity` in `room_id`.
pub async fn record(rt: &Runtime, project_id: &str, room_id: &str, identity: &str, session: &Session) -> ApiResult<()> {
    let mut statements = vec![Statement {
        sql: "INSERT INTO participant_sessions (room_id, session_key, project_id, identity, joined_at_ms, left_at_ms, seconds) \
              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (room_id, session_key) DO UPDATE SET \
                joined_at_ms = COALESCE(participant_sessions.joined_at_ms, excluded.joined_at_ms), \
                left_at_ms = COALESCE(excluded.left_at_ms, participant_sessions.left_at_ms), \
                seconds = COALESCE(excluded.seconds, participant_sessions.seconds)",
        params: vec![
            room_id.into(),
            session.key.as_str().into(),
            project_id.into(),
            identity.into(),
            opt_ms(session.joined_at_ms),
            opt_ms(session.left_at_ms),
            session.seconds().map(|s| s as i64).into(),
        ],
    }];
    match (session.joined_at_ms, session.left_at_ms) {
        (joined, Some(left)) => statements.push(Statement {
            // A leave older than the last join is a late delivery of an earlier presence.
            sql: "UPDATE participants SET left_at_ms = ?3, joined_at_ms = COALESCE(joined_at_ms, ?4) \
                  WHERE room_id = ?1 AND identity = ?2 AND (joined_at_ms IS NULL OR joined_at_ms <= ?3)",
            params: vec![room_id.into(), identity.into(), (left as i64).into(), opt_ms(joined)],
        }),
        (Some(joined), None) => statements.push(Statement {
            sql: "UPDATE participants SET joined_at_ms = ?3, left_at_ms = NULL \
                  WHERE room_id = ?1 AND identity = ?2 AND (left_at_ms IS NULL OR left_at_ms < ?3) \
                  AND (joined_at_ms IS NULL OR joined_at_ms < ?3)",
            params: vec![room_id.into(), identity.into(), (joined as i64).into()],
        }),
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
            Statement {
                sql: "UPDATE participant_sessions SET left_at_ms = ?2, \
                      seconds = MAX(0, CAST((?2 - joined_at_ms + 999) / 1000 AS INTEGER)) \
                      WHERE room_id = ?1 AND left_at_ms IS NULL AND joined_at_ms IS NOT NULL AND joined_at_ms <= ?2",
                params: vec![room_id.into(), at.into()],
            },
            Statement {
                sql: "UPDATE participants SET left_at_ms = ?2 \
                      WHERE room_id = ?1 AND joined_at_ms IS NOT NULL AND left_at_ms IS NULL AND joined_at_ms <= ?2",
                params: vec![room_id.into(), at.into()],
            },
        ])
        .await?;
    Ok(())
}

/// When each registered identity of the room last joined, for vendors that do not say.
pub async fn joined_at(rt: &Runtime, room_id: &str) -> ApiResult<Vec<(String, i64)>> {
    let rows = rt
        .db
        .query(
            "SELECT identity, joined_at_ms FROM participants WHERE room_id = ?1 AND joined_at_ms IS NOT NULL",
            &[room_id.into()],
        )
        .await?;
    Ok(rows.iter().filter_map(|r| Some((text(r, "identity")?, int(r, "joined_at_ms")?))).collect())
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

/// Closed sessions of the project that began in `[from_ms, to_ms)`, per room.
pub async fn usage(
    rt: &Runtime,
    project_id: &str,
    from_ms: i64,
    to_ms: i64,
    room_id: Option<&str>,
) -> ApiResult<Vec<RoomUsage>> {
    let mut params: Vec<SqlValue> = vec![project_id.into(), from_ms.into(), to_ms.into()];
    let room_filter = match room_id {
        Some(room) => {
            params.push(room.into());
            " AND room_id = ?4"
        }
        None => "",
    };
    let sql = format!(
        "SELECT room_id, COUNT(*) AS sessions, SUM(seconds) AS seconds, SUM(CAST((seconds + 59) / 60 AS INTEGER)) AS minutes \
         FROM participant_sessions WHERE project_id = ?1 AND joined_at_ms >= ?2 AND joined_at_ms < ?3 \
         AND seconds IS NOT NULL{room_filter} GROUP BY room_id ORDER BY room_id"
    );
    let rows = rt.db.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(RoomUsage {
                room_id: text(r, "room_id")?,
                sessions: int(r, "sessions")?,
                seconds: int(r, "seconds").unwrap_or(0),
                minutes: int(r, "minutes").unwrap_or(0),
            })
        })
        .collect())
}

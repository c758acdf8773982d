//! What a session shows (its duration so far while it is open) and what presence makes of an
//! identity's open sessions (one entry per room).

use serde_json::{json, Value};

use crate::store::sessions::SessionRecord;
use crate::time::rfc3339;

/// The most open sessions presence reads for one identity (newest join first), so the most
/// rooms it answers with; `truncated` says when the identity has more open sessions.
pub const PRESENCE_MAX_SESSIONS: u32 = 50;

fn at(ms: i64) -> String {
    rfc3339(ms.max(0) as u64)
}

/// Seconds in the room, a started second counting whole: the stored count of a closed
/// session, and of an open one the time from its join up to `now_ms`.
pub fn duration_s(session: &SessionRecord, now_ms: u64) -> i64 {
    let seconds_between = |from: i64, to: i64| (to.saturating_sub(from).max(0) + 999) / 1000;
    match (session.seconds, session.left_at_ms) {
        (Some(seconds), _) => seconds,
        (None, Some(left)) => seconds_between(session.joined_at_ms, left),
        (None, None) => seconds_between(session.joined_at_ms, now_ms as i64),
    }
}

pub fn to_json(session: &SessionRecord, now_ms: u64) -> Value {
    json!({
        "session": session.id,
        "room": session.room_id,
        "identity": session.identity,
        "vendor": session.vendor,
        "joined_at": at(session.joined_at_ms),
        "left_at": session.left_at_ms.map(at),
        "duration_s": duration_s(session, now_ms),
    })
}

/// The rooms of `open` (an identity's open sessions, newest join first), each once with its
/// newest session: an identity may hold several sessions in one room (a second device, or a
/// join whose leave has not arrived yet).
pub fn presence_rooms(open: &[SessionRecord]) -> Vec<Value> {
    let mut seen: Vec<&str> = Vec::new();
    open.iter()
        .filter(|s| {
            let first = !seen.contains(&s.room_id.as_str());
            seen.push(&s.room_id);
            first
        })
        .map(|s| json!({ "room": s.room_id, "vendor": s.vendor, "session": s.id, "joined_at": at(s.joined_at_ms) }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, room: &str, joined: i64, left: Option<i64>, seconds: Option<i64>) -> SessionRecord {
        SessionRecord {
            id: id.into(),
            room_id: room.into(),
            identity: "alice".into(),
            vendor: "livekit".into(),
            joined_at_ms: joined,
            left_at_ms: left,
            seconds,
        }
    }

    #[test]
    fn an_open_session_lasts_until_now_and_a_closed_one_its_stored_seconds() {
        assert_eq!(duration_s(&session("s", "r", 1_000, None, None), 4_001), 4);
        assert_eq!(duration_s(&session("s", "r", 1_000, None, None), 1_000), 0);
        // A clock behind the join (another isolate's) is not a negative duration.
        assert_eq!(duration_s(&session("s", "r", 5_000, None, None), 1_000), 0);
        assert_eq!(duration_s(&session("s", "r", 1_000, Some(71_000), Some(70)), 999_999), 70);
        assert_eq!(duration_s(&session("s", "r", 1_000, Some(2_500), None), 999_999), 2);
    }

    #[test]
    fn presence_names_each_room_once_with_its_newest_session() {
        let open = [
            session("ses_b2", "rm_b", 3_000, None, None),
            session("ses_a1", "rm_a", 2_000, None, None),
            session("ses_b1", "rm_b", 1_000, None, None),
        ];
        let rooms = presence_rooms(&open);
        let pairs: Vec<(&str, &str)> =
            rooms.iter().map(|r| (r["room"].as_str().unwrap(), r["session"].as_str().unwrap())).collect();
        assert_eq!(pairs, [("rm_b", "ses_b2"), ("rm_a", "ses_a1")]);
    }
}

//! Timed sessions: a token issued with `max_session_s` or `eject_at` ends its holder's session
//! at that deadline, on every vendor. The deadline is stored (`store::timed_sessions`, the
//! latest token wins) and an ejection message is put on the delivery queue, delayed until the
//! deadline; deadlines further away than a queue message can wait (`MAX_QUEUE_DELAY_S`) are
//! queued by the scheduled job (`sweep`) once they come within reach. At the deadline the
//! consumer (`service::eject`) kicks the participant through the ordinary kick, if the
//! deadline is still theirs and they are still in the room, and records `participant.ejected`
//! on the event stream.

pub mod service;

use serde_json::{json, Value};

use crate::store::timed_sessions::Deadline;

/// The longest delay a Cloudflare Queue message takes (`delaySeconds`, 12 h).
pub const MAX_QUEUE_DELAY_S: u64 = 12 * 3600;

/// The longest timed session, and the furthest `eject_at`: a week.
pub const MAX_SESSION_S: i64 = 7 * 86_400;

/// The queue message that ejects at `deadline`. Its own kind next to webhook deliveries
/// (`{"delivery": …}`), which are left unchanged.
pub fn message(deadline: &Deadline) -> String {
    json!({ "eject": {
        "project": deadline.project_id,
        "room": deadline.room_id,
        "identity": deadline.identity,
        "at_ms": deadline.eject_at_ms,
    }})
    .to_string()
}

/// The deadline an ejection message is about; `None` for any other message.
pub fn read_message(message: &str) -> Option<Deadline> {
    let v = serde_json::from_str::<Value>(message).ok()?;
    let e = v.get("eject")?;
    let text = |k: &str| e.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    Some(Deadline {
        project_id: text("project")?,
        room_id: text("room")?,
        identity: text("identity")?,
        eject_at_ms: e.get("at_ms")?.as_i64()?,
    })
}

/// Seconds from `now_ms` until `at_ms`, rounded up (a message is never handed over early).
pub fn delay_s(now_ms: u64, at_ms: i64) -> u64 {
    (at_ms.max(0) as u64).saturating_sub(now_ms).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejection_messages_round_trip_and_deliveries_are_not_read_as_one() {
        let d = Deadline {
            project_id: "prj_1".into(),
            room_id: "rm_1".into(),
            identity: "alice".into(),
            eject_at_ms: 1_700_000_600_000,
        };
        assert_eq!(read_message(&message(&d)), Some(d));
        assert_eq!(read_message(&crate::resources::webhooks::message("dlv_1", 0)), None);
        assert_eq!(read_message(r#"{"eject":{"project":"p","room":"r","identity":""}}"#), None);
        assert_eq!((delay_s(1_000, 2_001), delay_s(1_000, 2_000), delay_s(5_000, 1_000)), (2, 1, 0));
    }
}

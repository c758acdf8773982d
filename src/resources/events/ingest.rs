//! From a verified vendor event to the stored, normalized event and its effects.
//!
//! `store` runs before the vendor has its answer: it matches the vendor room to our room (and
//! so to a project), names the participant, and stores the event once together with what
//! applying it does (`Effects`). Only then is the vendor answered 2xx; when storing fails the
//! vendor gets a 5xx and delivers the event again (every vendor retries).
//!
//! `apply` runs after the answer: participant times and metered sessions, recording status,
//! webhook deliveries, each idempotent on its own (sessions are keyed, deliveries unique per
//! event and endpoint, recording status only moves forward), then marks the event done. An
//! event whose effects did not finish (the isolate was stopped, storage failed) is due again
//! `REDO_AFTER_MS` after it was received, and `redo_unfinished`, which the scheduled job
//! calls, applies it again. A redelivered event is not stored twice, so nothing counts twice.

use serde_json::{json, Value};

use crate::domain::events::{EventType, Incoming, Session, Who};
use crate::domain::ids;
use crate::domain::recording::RecordingStatus;
use crate::error::ApiResult;
use crate::resources::webhooks;
use crate::runtime::Runtime;
use crate::store::events::{self, Event, Pending};
use crate::store::{participants, recordings, rooms, sessions};

/// How long after an event was stored its effects may be redone if nothing marked them done:
/// far longer than applying them takes after the response.
pub const REDO_AFTER_MS: u64 = 60_000;
/// When a redo of an event fails, the wait before the next one.
pub const REDO_BACKOFF_MS: u64 = 5 * 60_000;
/// Events one `redo_unfinished` call takes at most.
pub const REDO_BATCH: u32 = 50;

/// What applying an event does to our state, beyond the event log itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    /// A presence of the event's participant (for `joined_at`/`left_at` and usage).
    pub session: Option<Session>,
    /// A recording's new state, by the vendor's handle for it.
    pub recording: Option<(String, RecordingStatus)>,
    /// The room finished: every open presence ends when the event occurred.
    pub room_finished: bool,
}

impl Effects {
    fn of(incoming: &Incoming) -> Effects {
        Effects {
            session: incoming.session.clone(),
            recording: incoming.recording.as_ref().and_then(|r| Some((r.vendor_recording_id.clone(), r.status?))),
            room_finished: incoming.kind == EventType::RoomFinished,
        }
    }

    /// As stored with the event.
    pub fn to_json(&self) -> String {
        json!({
            "session": self.session.as_ref().map(|s| json!({
                "key": s.key, "joined_at_ms": s.joined_at_ms, "left_at_ms": s.left_at_ms,
            })),
            "recording": self.recording.as_ref().map(|(id, status)| json!({
                "vendor_recording_id": id, "status": status.as_str(),
            })),
            "room_finished": self.room_finished,
        })
        .to_string()
    }

    /// Reads what `to_json` wrote; nothing for what it cannot read.
    pub fn parse(text: Option<&str>) -> Effects {
        let Some(v) = text.and_then(|t| serde_json::from_str::<Value>(t).ok()) else { return Effects::default() };
        let session = v.get("session").and_then(|s| {
            Some(Session {
                key: s.get("key")?.as_str()?.to_owned(),
                joined_at_ms: s.get("joined_at_ms").and_then(Value::as_u64),
                left_at_ms: s.get("left_at_ms").and_then(Value::as_u64),
            })
        });
        let recording = v.get("recording").and_then(|r| {
            Some((
                r.get("vendor_recording_id")?.as_str()?.to_owned(),
                RecordingStatus::parse(r.get("status")?.as_str()?)?,
            ))
        });
        Effects { session, recording, room_finished: v.get("room_finished") == Some(&Value::Bool(true)) }
    }
}

/// A stored event with the effects still to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub event: Event,
    pub effects: Effects,
}

/// Stores `incoming` (once) with what applying it does; `None` when it was a redelivery of an
/// event already stored, or a recording bot's presence. An event of a room we do not know
/// belongs to no project and has no effects: it is stored done.
pub async fn store(rt: &Runtime, incoming: &Incoming, received_at_ms: u64) -> ApiResult<Option<Stored>> {
    let room = rooms::by_vendor_name(rt, incoming.vendor, &incoming.vendor_room).await?;
    let identity = match &incoming.who {
        None => None,
        Some(Who::Identity(identity)) => Some(identity.clone()),
        Some(Who::Uid { uid, account }) => {
            let registered = match &room {
                Some(room) => participants::by_uid_one(rt, &room.id, *uid).await?,
                None => None,
            };
            // A recording bot that joined with its registry uid is not a participant, whatever
            // the vendor says of its platform.
            if registered.as_deref().is_some_and(participants::is_bot_identity) {
                return Ok(None);
            }
            Some(registered.or_else(|| account.clone()).unwrap_or_else(|| uid.to_string()))
        }
    };
    let event = Event {
        id: ids::random_id(rt, "evt_", 22),
        project_id: room.as_ref().map(|r| r.project_id.clone()),
        room_id: room.as_ref().map(|r| r.id.clone()),
        vendor: incoming.vendor.to_owned(),
        vendor_room: incoming.vendor_room.clone(),
        kind: incoming.kind.as_str().to_owned(),
        identity,
        seq: 0,
        occurred_at_ms: incoming.occurred_at_ms as i64,
        received_at_ms: received_at_ms as i64,
        data: incoming.data.to_string(),
    };
    let effects = if room.is_some() { Effects::of(incoming) } else { Effects::default() };
    let pending = room
        .is_some()
        .then(|| Pending { effects: effects.to_json(), due_at_ms: (received_at_ms + REDO_AFTER_MS) as i64 });
    let stored = events::insert_once(rt, &event, &incoming.dedupe_key, pending.as_ref()).await?;
    Ok(stored.map(|event| Stored { event, effects }))
}

/// Applies a stored event's effects and queues its webhook deliveries, then marks it done.
/// Safe to run again for the same event, also concurrently with another run.
pub async fn apply(rt: &Runtime, stored: &Stored) -> ApiResult<()> {
    let event = &stored.event;
    let (Some(project_id), Some(room_id)) = (&event.project_id, &event.room_id) else {
        return Ok(());
    };
    let effects = &stored.effects;
    if let (Some(identity), Some(session)) = (&event.identity, &effects.session) {
        sessions::record(rt, project_id, room_id, identity, session).await?;
    }
    if effects.room_finished {
        sessions::close_room(rt, room_id, event.occurred_at_ms.max(0) as u64).await?;
    }
    if let Some((vendor_recording_id, status)) = &effects.recording {
        recordings::follow_vendor(
            rt,
            project_id,
            room_id,
            vendor_recording_id,
            *status,
            event.occurred_at_ms.max(0) as u64,
        )
        .await?;
    }
    webhooks::fanout::fan_out(rt, event).await?;
    events::effects_done(rt, &event.id).await
}

/// What one `redo_unfinished` call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Redone {
    /// Events whose effects are now done.
    pub applied: u32,
    /// Events whose redo failed again; each is due again `REDO_BACKOFF_MS` later.
    pub failed: u32,
}

/// Applies the effects of up to `limit` stored events whose effects are due and not done
/// (oldest due first). For the scheduled job: each event is first moved `REDO_BACKOFF_MS`
/// ahead, so a failing one waits its turn behind the others and two sweeps never take the
/// same event.
pub async fn redo_unfinished(rt: &Runtime, limit: u32) -> ApiResult<Redone> {
    let now = rt.now_ms();
    let mut done = Redone::default();
    for due in events::effects_due(rt, now, limit).await? {
        let next = (now + REDO_BACKOFF_MS) as i64;
        if !events::claim_effects(rt, &due.event.id, due.due_at_ms, next).await? {
            continue;
        }
        let stored = Stored { effects: Effects::parse(due.effects.as_deref()), event: due.event };
        match apply(rt, &stored).await {
            Ok(()) => done.applied += 1,
            Err(e) => {
                crate::log::warn(&format!("redoing the effects of {}: {}", stored.event.id, e.log_text()));
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

//! From a verified vendor event to the stored, normalized event: match the vendor room to
//! our room (and so to a project), name the participant, store the event once, apply its
//! effects and queue its webhook deliveries. Runs after the vendor has had its answer.

use crate::error::ApiResult;
use crate::events::{EventType, Incoming, Who};
use crate::ids;
use crate::runtime::Runtime;
use crate::store::events::{self, Event};
use crate::store::{participants, recordings, rooms, sessions};
use crate::webhooks;

/// Stores `incoming` (once) with its effects and deliveries; returns the stored event, or
/// `None` when it was a redelivery of an event already stored or a recording bot's presence.
pub async fn process(rt: &Runtime, incoming: Incoming, received_at_ms: u64) -> ApiResult<Option<Event>> {
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
        identity: identity.clone(),
        seq: 0,
        occurred_at_ms: incoming.occurred_at_ms as i64,
        received_at_ms: received_at_ms as i64,
        data: incoming.data.to_string(),
    };
    let Some(event) = events::insert_once(rt, &event, &incoming.dedupe_key).await? else {
        return Ok(None);
    };
    if let Some(room) = &room {
        if let (Some(identity), Some(session)) = (&identity, &incoming.session) {
            sessions::record(rt, &room.project_id, &room.id, identity, session).await?;
        }
        if incoming.kind == EventType::RoomFinished {
            sessions::close_room(rt, &room.id, incoming.occurred_at_ms).await?;
        }
        if let Some(change) = &incoming.recording {
            if let Some(status) = change.status {
                recordings::follow_vendor(
                    rt,
                    &room.project_id,
                    &room.id,
                    &change.vendor_recording_id,
                    status,
                    incoming.occurred_at_ms,
                )
                .await?;
            }
        }
    }
    webhooks::fan_out(rt, &event).await?;
    Ok(Some(event))
}

//! `rtc.participant.*`: who is in a room, and removing someone.

use serde_json::{json, Value};

use super::service::kick_out;
use crate::api::body::Body;
use crate::api::{Ctx, Reply};
use crate::domain::identity::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::rooms::directory::RoomDirectory;
use crate::resources::rooms::service::vendor_of;
use crate::store::participants;
use crate::time::rfc3339;
use crate::vendors::routing;
use crate::vendors::Capability;

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let room = RoomDirectory::of(ctx).find(ctx.param(0)).await?;
    let vendor = vendor_of(ctx, &room, None, Capability::ParticipantList)?;
    let live =
        routing::observe(&ctx.app.vendors, ctx.rt, vendor.name(), vendor.list_participants(ctx.rt, &room.id).await)
            .await
            .map_err(|e| e.to_api_error())?;
    // Vendors that report numeric uids are mapped back to the identities we registered.
    let unnamed: Vec<u32> = live.iter().filter(|p| p.identity.is_none()).filter_map(|p| p.uid).collect();
    let registry =
        if unnamed.is_empty() { Default::default() } else { participants::by_uids(ctx.rt, &room.id, &unnamed).await? };
    // Recording bots are members of the room at the vendor, but not participants.
    let is_bot =
        |p: &&crate::vendors::LiveParticipant| p.uid.and_then(|uid| registry.get(&uid)).is_some_and(|r| r.is_bot);
    let mut people: Vec<(&crate::vendors::LiveParticipant, String)> = live
        .iter()
        .filter(|p| !is_bot(p))
        .map(|p| {
            let identity = p
                .identity
                .clone()
                .or_else(|| p.uid.and_then(|uid| registry.get(&uid)).map(|r| r.identity.clone()))
                .or_else(|| p.uid.map(|uid| uid.to_string()))
                .unwrap_or_default();
            (p, identity)
        })
        .collect();
    // An identity that joined with two uids (two isolates gave it one each) is one participant.
    let mut seen = std::collections::HashSet::new();
    people.retain(|(_, identity)| seen.insert(identity.clone()));
    // Join times from vendor events, for vendors whose participant lists carry none: looked
    // up for the listed identities only.
    let undated: Vec<String> =
        people.iter().filter(|(p, _)| p.joined_at_ms.is_none()).map(|(_, identity)| identity.clone()).collect();
    let joined: std::collections::HashMap<String, i64> = if undated.is_empty() {
        Default::default()
    } else {
        crate::store::sessions::joined_at(ctx.rt, &room.id, &undated).await?.into_iter().collect()
    };
    let items: Vec<Value> = people
        .iter()
        .map(|(p, identity)| {
            let registered = p.uid.and_then(|uid| registry.get(&uid));
            let display_name = p.display_name.clone().or_else(|| registered.and_then(|r| r.display_name.clone()));
            json!({
                "identity": identity,
                "display_name": display_name,
                "joined_at": p.joined_at_ms.or_else(|| joined.get(identity).map(|ms| *ms as u64)).map(rfc3339),
            })
        })
        .collect();
    Ok(Reply::ok(json!({ "items": items })))
}

pub async fn kick(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let mut body = Body::parse(&ctx.req.body)?;
    let identity = body.required_parsed("identity", Identity::parse)?;
    let pin = body.optional_str("vendor", 32)?;
    // The contract's example repeats the room in the body; when present it must agree.
    let body_room = body.optional_str("room", 256)?;
    body.finish()?;
    let room = RoomDirectory::of(ctx).find(ctx.param(0)).await?;
    if let Some(r) = body_room {
        if r != room.id && r != room.name {
            return Err(ApiError::new(
                ErrorCode::ConflictingFields,
                "'room' in the body names a different room than the path",
            )
            .with_detail("field", "room"));
        }
    }
    let vendor = vendor_of(ctx, &room, pin.as_deref(), Capability::ParticipantKick)?;
    kick_out(ctx, &room, vendor, &identity).await?;
    Ok(Reply::ok(json!({ "ok": true })))
}

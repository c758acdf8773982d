//! Participant decisions: removing someone from a room.

use crate::api::{App, Ctx};
use crate::domain::identity::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::Runtime;
use crate::store::participants;
use crate::store::rooms::Room;
use crate::vendors::routing;
use crate::vendors::{ParticipantRef, Vendor, VendorFailure};

/// Who `identity` is in the room for a vendor call: every uid the registry records for it (one
/// per isolate that gave it one), and the one this isolate gave it, whose row is written after
/// the token's response and so may not be in D1 yet.
pub(crate) async fn participant_ref(
    app: &App,
    rt: &Runtime,
    room_id: &str,
    identity: &str,
) -> ApiResult<ParticipantRef> {
    let mut uids = participants::uids_of(rt, room_id, identity).await?;
    if let Some(uid) = app.registry.uid_given(room_id, identity).filter(|uid| !uids.contains(uid)) {
        uids.push(uid);
        uids.sort_unstable();
    }
    Ok(ParticipantRef { identity: identity.to_owned(), uids })
}

/// Asks `vendor` to remove `identity` from `room`; `PARTICIPANT_NOT_FOUND` when the vendor
/// does not have them.
pub(crate) async fn kick_out(ctx: &Ctx<'_>, room: &Room, vendor: &dyn Vendor, identity: &Identity) -> ApiResult<()> {
    kick_from(ctx.app, ctx.rt, room, vendor, identity, None).await
}

/// `kick_out` outside a request (work after a response: a banned identity's join), or for a
/// ban (`banned_at_s`: the vendor also refuses tokens minted before it, where it can).
pub(crate) async fn kick_from(
    app: &App,
    rt: &Runtime,
    room: &Room,
    vendor: &dyn Vendor,
    identity: &Identity,
    banned_at_s: Option<u64>,
) -> ApiResult<()> {
    let who = participant_ref(app, rt, &room.id, identity.as_str()).await?;
    let answer = match banned_at_s {
        Some(at) => vendor.kick_banned(rt, &room.id, &who, at).await,
        None => vendor.kick(rt, &room.id, &who).await,
    };
    let result = routing::observe(&app.vendors, rt, vendor.name(), answer).await;
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.failure == VendorFailure::NotFound => {
            Err(ApiError::new(ErrorCode::ParticipantNotFound, format!("'{identity}' is not in room {}", room.id))
                .with_detail("identity", identity.as_str()))
        }
        Err(e) => Err(e.to_api_error()),
    }
}

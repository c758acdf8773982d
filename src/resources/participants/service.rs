//! Participant decisions: removing someone from a room.

use crate::api::{App, Ctx};
use crate::domain::identity::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::Runtime;
use crate::store::participants;
use crate::store::rooms::Room;
use crate::vendors::routing;
use crate::vendors::{ParticipantRef, Vendor, VendorFailure};

/// Asks `vendor` to remove `identity` from `room`; `PARTICIPANT_NOT_FOUND` when the vendor
/// does not have them.
pub(crate) async fn kick_out(ctx: &Ctx<'_>, room: &Room, vendor: &dyn Vendor, identity: &Identity) -> ApiResult<()> {
    remove(ctx.app, ctx.rt, room, vendor, identity).await
}

/// `kick_out` for work that has no request (the queue consumer's timed-session ejections).
pub(crate) async fn remove(
    app: &App,
    rt: &Runtime,
    room: &Room,
    vendor: &dyn Vendor,
    identity: &Identity,
) -> ApiResult<()> {
    let uid = participants::find(rt, &room.id, identity.as_str()).await?.map(|r| r.uid);
    let who = ParticipantRef { identity: identity.to_string(), uid };
    let result = routing::observe(&app.vendors, rt, vendor.name(), vendor.kick(rt, &room.id, &who).await).await;
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.failure == VendorFailure::NotFound => {
            Err(ApiError::new(ErrorCode::ParticipantNotFound, format!("'{identity}' is not in room {}", room.id))
                .with_detail("identity", identity.as_str()))
        }
        Err(e) => Err(e.to_api_error()),
    }
}

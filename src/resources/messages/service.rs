//! Sending a room message on the room's vendor, and what the vendor's answer means to the caller.

use crate::api::Ctx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::rooms::service::vendor_of;
use crate::store::rooms::Room;
use crate::vendors::{routing, Capability, Delivery, RoomMessage, MAX_MESSAGE_BYTES};

/// Sends `message` to `room`: `UNSUPPORTED_BY_VENDOR` (422) on a vendor without room messages
/// or without a place for one of its fields; `ROOM_NOT_LIVE` (409) when nobody is connected;
/// `PARTICIPANT_NOT_FOUND` (404) when a named recipient is not; `MESSAGE_TOO_LARGE` (413)
/// when the vendor found it too long.
pub(crate) async fn send(ctx: &Ctx<'_>, room: &Room, message: &RoomMessage) -> ApiResult<()> {
    let vendor = vendor_of(ctx, room, None, Capability::RoomMessage)?;
    vendor.check_message(message)?;
    let answer = vendor.send_message(ctx.rt, &room.id, message).await;
    let delivery =
        routing::observe(&ctx.app.vendors, ctx.rt, vendor.name(), answer).await.map_err(|e| e.to_api_error())?;
    let vendor = vendor.name();
    match delivery {
        Delivery::Sent => Ok(()),
        Delivery::RoomNotLive => Err(ApiError::new(
            ErrorCode::RoomNotLive,
            format!(
                "nobody is connected to room {} on {vendor}: a message reaches only connected participants",
                room.id
            ),
        )
        .with_detail("vendor", vendor)),
        Delivery::RecipientAbsent => Err(ApiError::new(
            ErrorCode::ParticipantNotFound,
            format!("a recipient named in 'to' is not connected to room {} on {vendor}", room.id),
        )
        .with_detail("field", "to")
        .with_detail("vendor", vendor)),
        Delivery::TooLarge => Err(ApiError::new(
            ErrorCode::MessageTooLarge,
            format!("{vendor} refused the message as too long (the portable limit is {MAX_MESSAGE_BYTES} bytes)"),
        )
        .with_detail("field", "data")
        .with_detail("vendor", vendor)),
    }
}

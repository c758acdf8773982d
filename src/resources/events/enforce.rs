//! Bans on the event stream: a banned identity whose join the vendor reports (a token minted
//! before the ban, or a server that does not honour revocation) is removed at once.

use crate::api::App;
use crate::domain::events::EventType;
use crate::domain::identity::Identity;
use crate::error::{ApiResult, ErrorCode};
use crate::resources::participants::service::kick_from;
use crate::runtime::Runtime;
use crate::store::events::Event;
use crate::store::rooms;
use crate::vendors::routing;
use crate::vendors::Capability;

/// A participant's join reported by the vendor (an old token, minted before the ban, or a
/// server that does not honour revocation): a banned identity is removed at once. Runs after
/// the vendor was answered; the vendor's leave event follows the kick as for any kick.
pub async fn enforce_on_join(app: &App, rt: &Runtime, event: &Event) -> ApiResult<bool> {
    let (Some(project_id), Some(room_id), Some(identity)) = (&event.project_id, &event.room_id, &event.identity) else {
        return Ok(false);
    };
    if event.kind != EventType::ParticipantJoined.as_str() {
        return Ok(false);
    }
    let Some(_ban) = app.cache.revocation.ban_for(rt, project_id, Some(room_id), identity).await? else {
        return Ok(false);
    };
    let Some(room) = rooms::find(rt, project_id, room_id).await? else { return Ok(false) };
    let vendor = routing::for_room(&app.vendors, &room.vendor, None, Capability::ParticipantKick)?;
    let identity = Identity::parse(identity.clone())?;
    match kick_from(app, rt, &room, vendor, &identity, Some(rt.now_s())).await {
        Ok(()) => Ok(true),
        Err(e) if e.code == ErrorCode::ParticipantNotFound => Ok(false),
        Err(e) => Err(e),
    }
}

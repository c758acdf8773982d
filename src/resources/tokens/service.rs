//! Token decisions beyond the room: the participant registry a token's identity is written to.

use crate::api::Ctx;
use crate::error::ApiResult;
use crate::store::registry_writer::Entry;
use crate::store::rooms::Room;
use crate::vendors::JoinGrant;

/// Records the identity in the participant registry: from isolate memory when this isolate
/// already wrote it, otherwise after the response. On a vendor whose token carries a numeric
/// uid, returns the uid this isolate gives the identity (a D1 round trip only when the isolate
/// reserves a new block of the room's uids).
pub(crate) async fn register(ctx: &Ctx<'_>, grant: &JoinGrant, need_uid: bool) -> ApiResult<u32> {
    let entry = Entry {
        project_id: ctx.project_id().to_owned(),
        room_id: grant.room_id.clone(),
        identity: grant.identity.to_string(),
        display_name: grant.display_name.clone(),
        metadata: grant.metadata_json.clone(),
        at_ms: ctx.rt.now_ms() as i64,
        uid: 0,
    };
    ctx.app.registry.register(ctx.rt, entry, need_uid).await
}

/// Folds the identity's stored moderation (hard mutes, permission caps) into `grant`. The room
/// lookup carried it, so this costs no round trip: in an isolate holding the room in its cache
/// it is as fresh as that entry (`ROOM_CACHE_TTL_MS`; re-read after the response once 30 s
/// old), and the isolate that changes a participant's moderation forgets the room at once.
pub(crate) fn fold_moderation(grant: &mut JoinGrant, room: &Room, now_ms: u64) {
    if let Some(moderation) = room.moderation.of(grant.identity.as_str()) {
        grant.apply_moderation(moderation, now_ms);
    }
}

//! Token decisions beyond the room: the participant registry a token's identity is written to.

use crate::api::Ctx;
use crate::error::ApiResult;
use crate::store::registry_writer::Entry;
use crate::vendors::JoinGrant;

/// Records the identity in the participant registry: from isolate memory when this isolate
/// already wrote it, after the response for vendors that join by identity, and now (one D1
/// round trip) only for a new identity on a vendor whose token carries its numeric uid.
pub(crate) async fn register(ctx: &Ctx<'_>, grant: &JoinGrant, need_uid: bool) -> ApiResult<u32> {
    let entry = Entry {
        room_id: grant.room_id.clone(),
        identity: grant.identity.to_string(),
        display_name: grant.display_name.clone(),
        metadata: grant.metadata_json.clone(),
        at_ms: ctx.rt.now_ms() as i64,
    };
    ctx.app.registry.register(ctx.rt, entry, need_uid).await
}

//! The room directory: the one place that turns a `{room}` (an id or a name, in the calling
//! project) into a usable room — one whose vendor is settled. Every resource that acts on an
//! existing room asks it: tokens (through the isolate's room cache, then the store), and
//! participants, recordings, events and usage (from the store, so a room deleted elsewhere is
//! gone at once for them).
//!
//! Settling: a room is written before its vendor is chosen (the record reserves the name), so
//! a room found mid-create is waited for, and one whose create died is removed.

use crate::api::Ctx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency::backoff::Backoff;
use crate::store::rooms::{self, Room};
use crate::vendors::JoinGrant;

use super::service::{abandoned_after_ms, check_name, create_room, looks_like_room_id, NewRoom};

/// How long a request waits for a room whose create is still trying vendors.
const SETTLE_WAIT_MS: u64 = 10_000;

pub struct RoomDirectory<'c, 'a> {
    ctx: &'c Ctx<'a>,
}

impl<'c, 'a> RoomDirectory<'c, 'a> {
    /// The directory as the calling project sees it.
    pub fn of(ctx: &'c Ctx<'a>) -> Self {
        RoomDirectory { ctx }
    }

    /// The room `{room}` names in this project once its vendor is settled, or 404.
    pub async fn find(&self, id_or_name: &str) -> ApiResult<Room> {
        match rooms::find(self.ctx.rt, self.ctx.project_id(), id_or_name).await? {
            Some(room) => self.settled(room).await?.ok_or_else(|| ApiError::room_not_found(id_or_name)),
            None => Err(ApiError::room_not_found(id_or_name)),
        }
    }

    /// The room id a `room` filter of a list means. A room id filters even after the room was
    /// deleted (what it left behind remains); a name must name a live room.
    pub async fn filter_id(&self, room: &str) -> ApiResult<String> {
        if looks_like_room_id(room) {
            Ok(room.to_owned())
        } else {
            Ok(self.find(room).await?.id)
        }
    }

    /// The room a token is for: cached, stored, or created now (every vendor opens a room on
    /// first join, so a token for a new name creates the room). Returns whether it was created.
    /// A new room is created only on a vendor that accepts `grant` (checked before its vendor
    /// call, also after a failover), so a refused token leaves nothing behind.
    pub async fn for_token(&self, room_ref: &str, pin: Option<String>, grant: &JoinGrant) -> ApiResult<(Room, bool)> {
        let (project, now) = (self.ctx.project_id(), self.ctx.rt.now_ms());
        if let Some(room) = self.ctx.app.cache.rooms.get(project, room_ref, now) {
            self.ctx.app.cache.rooms.refresh_if_due(self.ctx.rt, project, room_ref, now);
            return Ok((room, false));
        }
        // Only a room whose vendor is settled is used (and cached): one still being created may
        // yet fail over to another vendor.
        if let Some(found) = rooms::find(self.ctx.rt, project, room_ref).await? {
            if let Some(room) = self.settled(found).await? {
                self.ctx.app.cache.rooms.remember(room_ref, &room, now);
                return Ok((room, false));
            }
            // Its create failed or died: the name is free for this one.
        }
        if looks_like_room_id(room_ref) {
            return Err(ApiError::room_not_found(room_ref));
        }
        check_name(room_ref).map_err(|e| with_field(e, "room"))?;
        match create_room(self.ctx, NewRoom::named(room_ref.to_owned(), pin), Some(grant)).await {
            Ok(room) => {
                self.ctx.app.cache.rooms.remember(room_ref, &room, now);
                Ok((room, true))
            }
            // Another request created it a moment ago: use that room.
            Err(e) if e.code == ErrorCode::RoomNameTaken => {
                let Some(found) = rooms::find(self.ctx.rt, project, room_ref).await? else { return Err(e) };
                let room = self.settled(found).await?.ok_or(e)?;
                self.ctx.app.cache.rooms.remember(room_ref, &room, now);
                Ok((room, false))
            }
            Err(e) => Err(e),
        }
    }

    /// `room` once its vendor is confirmed. A room still being created elsewhere is waited for
    /// (reads at growing intervals; `ROOM_NOT_READY` after `SETTLE_WAIT_MS`); one whose create
    /// failed or died is gone (`None`), and a died one is removed so its name is free again.
    async fn settled(&self, mut room: Room) -> ApiResult<Option<Room>> {
        let ctx = self.ctx;
        let rt = ctx.rt;
        let abandoned_after = abandoned_after_ms(ctx) as i64;
        let mut backoff = Backoff::new(rt, SETTLE_WAIT_MS);
        loop {
            if room.vendor_confirmed {
                return Ok(Some(room));
            }
            let now = rt.now_ms() as i64;
            if now - room.created_at_ms >= abandoned_after {
                rooms::remove_abandoned(rt, &room.project_id, &room.name, now - abandoned_after).await?;
                return Ok(None);
            }
            if backoff.expired(rt) {
                return Err(ApiError::room_not_ready(&room.id));
            }
            backoff.pause(rt).await;
            match rooms::find(rt, &room.project_id, &room.id).await? {
                Some(latest) => room = latest,
                None => return Ok(None),
            }
        }
    }
}

fn with_field(mut e: ApiError, field: &str) -> ApiError {
    e.details.insert("field".into(), field.into());
    e
}

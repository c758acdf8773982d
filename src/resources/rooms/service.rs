//! Room decisions: what a room may be named, which vendor hosts a room, and creating a room
//! on the first vendor that takes it (failing over past vendors that are down).

use crate::api::Ctx;
use crate::domain::ids;
use crate::domain::limits::Quota;
use crate::domain::recording_destination::PathNames;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::storage;
use crate::store::rooms::{self, Room};
use crate::vendors::routing;
use crate::vendors::{Capability, JoinGrant, RoomSpec, Vendor};

/// Limits on what a room may carry.
pub(crate) const MAX_NAME_CHARS: usize = 128;

/// A validated create request.
pub(crate) struct NewRoom {
    pub name: String,
    pub max_participants: Option<i64>,
    pub empty_timeout_s: Option<i64>,
    pub metadata: Option<String>,
    pub region: Option<String>,
    pub enable_recording: bool,
    pub vendor: Option<String>,
}

impl NewRoom {
    /// A room created implicitly by `token.issue`: only a name and perhaps a vendor pin.
    pub fn named(name: String, vendor: Option<String>) -> NewRoom {
        NewRoom {
            name,
            max_participants: None,
            empty_timeout_s: None,
            metadata: None,
            region: None,
            enable_recording: false,
            vendor,
        }
    }
}

/// Room names: what a person types, not an id-shaped string (ids and names share `{room}`).
pub(crate) fn check_name(name: &str) -> ApiResult<()> {
    if looks_like_room_id(name) {
        return Err(ApiError::invalid_field("name", "'name' must not have the form of a room id (rm_…)"));
    }
    Ok(())
}

pub(crate) fn looks_like_room_id(s: &str) -> bool {
    ids::is_room_id(s)
}

/// Creates a room on the first vendor that accepts it: the pin, or the routing order with
/// failover past vendors that are down. The record is written first (it reserves the name)
/// and removed again if no vendor takes the room. With `for_token`, the room is created only
/// on a vendor whose tokens can carry that grant (else the refusal is the answer).
pub(crate) async fn create_room(ctx: &Ctx<'_>, new: NewRoom, for_token: Option<&JoinGrant>) -> ApiResult<Room> {
    let (app, rt) = (ctx.app, ctx.rt);
    // A room that records itself must land on a vendor that can record.
    let auto_record = if new.enable_recording {
        if !app.settings.shared_storage.has_default() {
            return Err(ApiError::invalid_field(
                "enable_recording",
                "enable_recording needs RECORDING_DEFAULT_URI to be configured",
            ));
        }
        // The project's folder of the default storage. A bad default is the deployment's
        // problem, not a field the client sent.
        let chosen = storage::choose(&app.settings, rt, ctx.project_id(), None, "enable_recording")
            .await
            .map_err(|e| e.with_detail("field", "enable_recording"))?;
        Some(chosen)
    } else {
        None
    };
    let capability = if new.enable_recording { Capability::RecordingStart } else { Capability::RoomCreate };
    let mut candidates = routing::candidates(&app.vendors, rt, capability, new.vendor.as_deref()).await?;
    if new.enable_recording {
        candidates = self_recording(app, candidates)?;
    }
    let mut room = Room {
        id: ids::room_id(rt),
        project_id: ctx.project_id().to_owned(),
        name: new.name,
        vendor: candidates[0].name().to_owned(),
        vendor_sid: None,
        max_participants: new.max_participants,
        empty_timeout_s: new.empty_timeout_s,
        metadata: new.metadata,
        region: new.region,
        enable_recording: new.enable_recording,
        created_at_ms: rt.now_ms() as i64,
        vendor_confirmed: false,
        moderation: Default::default(),
    };
    let live_rooms = app.settings.limits.quota(Quota::LiveRooms);
    match rooms::insert(rt, &room, live_rooms).await {
        // The name's holder may be a create that died before settling its vendor.
        Err(e) if e.code == ErrorCode::RoomNameTaken => {
            let started_before = room.created_at_ms - abandoned_after_ms(ctx) as i64;
            if !rooms::remove_abandoned(rt, &room.project_id, &room.name, started_before).await? {
                return Err(e);
            }
            rooms::insert(rt, &room, live_rooms).await?;
        }
        other => other?,
    }
    let spec = RoomSpec {
        room_id: room.id.clone(),
        max_participants: room.max_participants.map(|n| n as u32),
        empty_timeout_s: room.empty_timeout_s.map(|n| n as u32),
        metadata_json: room.metadata.clone(),
        auto_record: match auto_record {
            Some(chosen) => {
                let names =
                    PathNames { room_id: &room.id, recording_id: None, unix_ms: room.created_at_ms as u64, ext: "mp4" };
                match chosen.for_recording(&names) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        rooms::remove(rt, &room.id).await?;
                        return Err(e.with_detail("field", "enable_recording"));
                    }
                }
            }
            None => None,
        },
    };
    let mut last_error = None;
    for vendor in &candidates {
        if let Some(grant) = for_token {
            if let Err(refused) = vendor.check_grant(grant) {
                rooms::remove(rt, &room.id).await?;
                return Err(refused);
            }
        }
        let result = vendor.create_room(rt, &spec).await;
        // A create that reached no vendor proves nothing about its health either way.
        let result = if vendor.room_create_calls_vendor() {
            routing::observe(&app.vendors, rt, vendor.name(), result).await
        } else {
            result
        };
        match result {
            Ok(created) => {
                // Until this write the room serves nobody, so no token is ever minted for a
                // vendor the create then failed over from.
                if !rooms::confirm_vendor(rt, &room.id, vendor.name(), created.vendor_sid.as_deref()).await? {
                    return Err(ApiError::internal(format!("room {} was removed while being created", room.id)));
                }
                room.vendor = vendor.name().to_owned();
                room.vendor_sid = created.vendor_sid;
                room.vendor_confirmed = true;
                return Ok(room);
            }
            // Only an outage moves an unpinned create on to the next vendor; a refusal
            // (bad credentials, invalid request) would be refused the same way on retry.
            Err(e) if e.is_outage() && new.vendor.is_none() => last_error = Some(e),
            Err(e) => {
                last_error = Some(e);
                break;
            }
        }
    }
    rooms::remove(rt, &room.id).await?;
    Err(last_error.map(|e| e.to_api_error()).unwrap_or_else(|| ApiError::internal("no vendor was tried")))
}

/// A create outlives at most three vendor calls (a failover across every vendor); one older
/// than an idempotency claim's abandonment window died with its request.
pub(crate) fn abandoned_after_ms(ctx: &Ctx<'_>) -> u64 {
    crate::store::idempotency::abandoned_after_ms(ctx.app.settings.vendor_timeout_ms)
}

/// The vendor hosting `room`, for `capability`.
pub(crate) fn vendor_of<'a>(
    ctx: &Ctx<'a>,
    room: &Room,
    pin: Option<&str>,
    capability: Capability,
) -> ApiResult<&'a dyn Vendor> {
    routing::for_room(&ctx.app.vendors, &room.vendor, pin, capability)
}

/// The candidates that can record a room from its creation; `UNSUPPORTED_BY_VENDOR` when none
/// can (Agora and ZEGO record only through `rtc.recording.start`).
fn self_recording<'a>(
    app: &'a crate::api::App,
    candidates: Vec<&'a dyn crate::vendors::Vendor>,
) -> ApiResult<Vec<&'a dyn crate::vendors::Vendor>> {
    let first = candidates[0].name();
    let able: Vec<_> = candidates.into_iter().filter(|v| v.records_rooms_itself()).collect();
    if !able.is_empty() {
        return Ok(able);
    }
    let supporting: Vec<&str> =
        app.vendors.iter().filter_map(|e| e.ready()).filter(|v| v.records_rooms_itself()).map(|v| v.name()).collect();
    Err(ApiError::new(
        ErrorCode::UnsupportedByVendor,
        format!("{first} cannot record a room from its creation; start a recording with rtc.recording.start"),
    )
    .with_detail("field", "enable_recording")
    .with_detail("vendor", first.to_owned())
    .with_detail("supported_by", supporting))
}

//! `GET /v1/rtc/usage?from&to&room`: participant time of the calling project, from the
//! sessions vendor events reported (joined/left pairs; open sessions are closed when their
//! room finishes). Each session is rounded up to a whole minute before summing, as LiveKit
//! bills participant minutes.

use serde_json::json;

use crate::api::{paging, Ctx, Reply};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::rooms::directory::RoomDirectory;
use crate::store::sessions;
use crate::time::rfc3339;

/// The default window when `from` is not given.
const DEFAULT_WINDOW_MS: u64 = 30 * 24 * 3600 * 1000;

pub async fn usage(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let now = ctx.rt.now_ms();
    let (mut from, mut to, mut room) = (None, None, None);
    for (k, v) in ctx.req.query_pairs() {
        match k.as_str() {
            "from" => from = Some(paging::time_bound("from", &v)?),
            "to" => to = Some(paging::time_bound("to", &v)?),
            "room" => room = Some(RoomDirectory::of(ctx).filter_id(&v).await?),
            other => {
                return Err(ApiError::new(ErrorCode::UnknownField, format!("unknown query parameter '{other}'"))
                    .with_detail("field", other))
            }
        }
    }
    // Through now by default (`to` itself is excluded).
    let to = to.unwrap_or(now + 1);
    let from = from.unwrap_or(to.saturating_sub(DEFAULT_WINDOW_MS));
    paging::check_range(from, to, "now")?;
    let rooms = sessions::usage(ctx.rt, ctx.project_id(), from as i64, to as i64, room.as_deref()).await?;
    let (mut n, mut seconds, mut minutes) = (0, 0, 0);
    let items: Vec<_> = rooms
        .iter()
        .map(|r| {
            n += r.sessions;
            seconds += r.seconds;
            minutes += r.minutes;
            json!({
                "room": r.room_id,
                "sessions": r.sessions,
                "participant_seconds": r.seconds,
                "participant_minutes": r.minutes,
            })
        })
        .collect();
    Ok(Reply::ok(json!({
        "from": rfc3339(from),
        "to": rfc3339(to),
        "room": room,
        "totals": { "sessions": n, "participant_seconds": seconds, "participant_minutes": minutes },
        "rooms": items,
    })))
}

//! The participant registry: identities that were issued tokens for a room, each with a
//! room-stable numeric uid (Agora's REST API and tokens speak numbers, the contract speaks
//! identities; list and kick translate through this table).

use std::collections::HashMap;

use super::{int, text};
use crate::error::ApiResult;
use crate::runtime::{DbError, Runtime};

#[derive(Clone, Debug, PartialEq)]
pub struct Registered {
    pub identity: String,
    pub uid: u32,
    pub display_name: Option<String>,
    /// A recording bot, not a person.
    pub is_bot: bool,
}

/// Records (or refreshes) `identity` in `room_id` and returns its uid — one round trip.
/// A new identity gets the room's next uid; an existing one keeps its uid.
pub async fn upsert(
    rt: &Runtime,
    room_id: &str,
    identity: &str,
    display_name: Option<&str>,
    metadata: Option<&str>,
) -> ApiResult<u32> {
    insert_or_keep(rt, room_id, identity, display_name, metadata, false).await
}

/// The identity a recording's bot is registered under. It starts with a control character,
/// which no participant identity of a vendor with bots (Agora) may contain.
pub fn bot_identity(recording_id: &str) -> String {
    format!("\u{1f}recorder:{recording_id}")
}

/// Registers the bot that records `recording_id` in `room_id` and returns its uid: the
/// room's next uid, so it never equals a person's; a second call keeps the first uid.
pub async fn register_bot(rt: &Runtime, room_id: &str, recording_id: &str) -> ApiResult<u32> {
    insert_or_keep(rt, room_id, &bot_identity(recording_id), None, None, true).await
}

/// The uid of `recording_id`'s bot, if it has one.
pub async fn bot_uid(rt: &Runtime, room_id: &str, recording_id: &str) -> ApiResult<Option<u32>> {
    let rows = rt
        .db
        .query(
            "SELECT uid FROM participants WHERE room_id = ?1 AND identity = ?2 AND is_bot = 1",
            &[room_id.into(), bot_identity(recording_id).into()],
        )
        .await?;
    Ok(rows.first().and_then(|r| int(r, "uid")).and_then(|uid| u32::try_from(uid).ok()))
}

async fn insert_or_keep(
    rt: &Runtime,
    room_id: &str,
    identity: &str,
    display_name: Option<&str>,
    metadata: Option<&str>,
    is_bot: bool,
) -> ApiResult<u32> {
    let now = rt.now_ms() as i64;
    let params = [
        room_id.into(),
        identity.into(),
        display_name.map(str::to_owned).into(),
        metadata.map(str::to_owned).into(),
        now.into(),
        is_bot.into(),
    ];
    // Two new identities racing for the same next uid: the unique index refuses one, and
    // its retry takes the uid after.
    for _ in 0..3 {
        let result = rt
            .db
            .query(
                "INSERT INTO participants (room_id, identity, uid, display_name, metadata, created_at_ms, updated_at_ms, is_bot) \
                 VALUES (?1, ?2, (SELECT COALESCE(MAX(uid), 0) + 1 FROM participants WHERE room_id = ?1), ?3, ?4, ?5, ?5, ?6) \
                 ON CONFLICT (room_id, identity) DO UPDATE SET \
                   display_name = COALESCE(excluded.display_name, participants.display_name), \
                   metadata = COALESCE(excluded.metadata, participants.metadata), \
                   updated_at_ms = excluded.updated_at_ms \
                 RETURNING uid",
                &params,
            )
            .await;
        match result {
            Ok(rows) => {
                let uid = rows.first().and_then(|r| int(r, "uid")).unwrap_or(0);
                return u32::try_from(uid)
                    .map_err(|_| crate::error::ApiError::internal("participant uid out of range"));
            }
            Err(DbError::Constraint(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(crate::error::ApiError::internal("could not allocate a participant uid"))
}

/// A person registered in the room (bots are not found by identity).
pub async fn find(rt: &Runtime, room_id: &str, identity: &str) -> ApiResult<Option<Registered>> {
    let rows = rt
        .db
        .query(
            "SELECT identity, uid, display_name FROM participants WHERE room_id = ?1 AND identity = ?2 AND is_bot = 0",
            &[room_id.into(), identity.into()],
        )
        .await?;
    Ok(rows.first().and_then(|r| {
        Some(Registered {
            identity: text(r, "identity")?,
            uid: u32::try_from(int(r, "uid")?).ok()?,
            display_name: text(r, "display_name"),
            is_bot: false,
        })
    }))
}

/// Everyone registered in the room, by uid, recording bots included (`is_bot`) so a
/// listing can leave them out.
pub async fn by_uid(rt: &Runtime, room_id: &str) -> ApiResult<HashMap<u32, Registered>> {
    let rows = rt
        .db
        .query("SELECT identity, uid, display_name, is_bot FROM participants WHERE room_id = ?1", &[room_id.into()])
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let reg = Registered {
                identity: text(r, "identity")?,
                uid: u32::try_from(int(r, "uid")?).ok()?,
                display_name: text(r, "display_name"),
                is_bot: int(r, "is_bot") == Some(1),
            };
            Some((reg.uid, reg))
        })
        .collect())
}

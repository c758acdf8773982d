//! The participant registry: identities that were issued tokens for a room, each with a
//! room-stable numeric uid (Agora's REST API and tokens speak numbers, the contract speaks
//! identities; list and kick translate through this table).

use std::collections::HashMap;

use super::{int, text};
use crate::error::ApiResult;
use crate::runtime::{DbError, Runtime, SqlValue};

#[derive(Clone, Debug, PartialEq)]
pub struct Registered {
    pub identity: String,
    pub uid: u32,
    pub display_name: Option<String>,
    /// A recording bot, not a person.
    pub is_bot: bool,
}

/// Records (or refreshes) `identity` in `room_id`: a new identity gets the room's next uid, an
/// existing one keeps its uid; display name and metadata change only when given. ?1 room,
/// ?2 identity, ?3 display name, ?4 metadata, ?5 time (ms).
pub const UPSERT_SQL: &str =
    "INSERT INTO participants (room_id, identity, uid, display_name, metadata, created_at_ms, updated_at_ms) \
     VALUES (?1, ?2, (SELECT COALESCE(MAX(uid), 0) + 1 FROM participants WHERE room_id = ?1), ?3, ?4, ?5, ?5) \
     ON CONFLICT (room_id, identity) DO UPDATE SET \
       display_name = COALESCE(excluded.display_name, participants.display_name), \
       metadata = COALESCE(excluded.metadata, participants.metadata), \
       updated_at_ms = excluded.updated_at_ms \
     RETURNING uid";

/// The parameters of `UPSERT_SQL`.
pub fn upsert_params(
    room_id: &str,
    identity: &str,
    display_name: Option<&str>,
    metadata: Option<&str>,
    at_ms: i64,
) -> Vec<SqlValue> {
    vec![
        room_id.into(),
        identity.into(),
        display_name.map(str::to_owned).into(),
        metadata.map(str::to_owned).into(),
        at_ms.into(),
    ]
}

/// `UPSERT_SQL` for many identities of one room in one statement (the deferred writer's
/// batches): ?1 room, ?2 a JSON array of `[identity, display name, metadata, time (ms)]`.
/// The room's next uid is read once and each new row adds its place in the array, so the
/// uids of one statement are distinct; an identity already registered keeps its uid (its
/// place is then a gap in the sequence, which nothing relies on).
pub const UPSERT_MANY_SQL: &str =
    "INSERT INTO participants (room_id, identity, uid, display_name, metadata, created_at_ms, updated_at_ms) \
     SELECT ?1, json_extract(e.value, '$[0]'), \
       (SELECT COALESCE(MAX(uid), 0) FROM participants WHERE room_id = ?1) + e.key + 1, \
       json_extract(e.value, '$[1]'), json_extract(e.value, '$[2]'), \
       json_extract(e.value, '$[3]'), json_extract(e.value, '$[3]') \
     FROM json_each(?2) AS e WHERE true \
     ON CONFLICT (room_id, identity) DO UPDATE SET \
       display_name = COALESCE(excluded.display_name, participants.display_name), \
       metadata = COALESCE(excluded.metadata, participants.metadata), \
       updated_at_ms = excluded.updated_at_ms";

/// A recording's bot in the registry, with a uid reserved from the room's counter
/// (`uid_blocks`), so it never equals a uid any isolate gives a person. People's upserts never
/// name `is_bot`, so a deferred registry write cannot clear it (and a bot's identity is one no
/// person can have); a second call keeps the first uid. ?1 room, ?2 bot identity, ?3 time (ms),
/// ?4 the reserved uid.
const REGISTER_BOT: &str = "INSERT INTO participants (room_id, identity, uid, created_at_ms, updated_at_ms, is_bot) \
     VALUES (?1, ?2, ?4, ?3, ?3, 1) \
     ON CONFLICT (room_id, identity) DO UPDATE SET updated_at_ms = excluded.updated_at_ms \
     RETURNING uid";
const BOT_UID: &str = "SELECT uid FROM participants WHERE room_id = ?1 AND identity = ?2 AND is_bot = 1";
/// `UPSERT_MANY_SQL` for rows that carry the uid their isolate gave (`uid_blocks`), as
/// `[identity, display name, metadata, time (ms), uid]`: a new identity's row takes it; an
/// identity already registered keeps its first uid, and `RECORD_UIDS_SQL` records this one.
/// ?1 room, ?2 the JSON array.
pub const UPSERT_GIVEN_SQL: &str =
    "INSERT INTO participants (room_id, identity, uid, display_name, metadata, created_at_ms, updated_at_ms) \
     SELECT ?1, json_extract(e.value, '$[0]'), json_extract(e.value, '$[4]'), \
       json_extract(e.value, '$[1]'), json_extract(e.value, '$[2]'), \
       json_extract(e.value, '$[3]'), json_extract(e.value, '$[3]') \
     FROM json_each(?2) AS e WHERE true \
     ON CONFLICT (room_id, identity) DO UPDATE SET \
       display_name = COALESCE(excluded.display_name, participants.display_name), \
       metadata = COALESCE(excluded.metadata, participants.metadata), \
       updated_at_ms = excluded.updated_at_ms";
/// Records every uid of `UPSERT_GIVEN_SQL`'s array as its identity's. A uid is given once
/// (blocks are disjoint), so a uid already recorded is this same row again: nothing to do,
/// and never a second identity for one uid. ?1 room, ?2 the JSON array.
pub const RECORD_UIDS_SQL: &str = "INSERT INTO participant_uids (room_id, uid, identity, created_at_ms) \
     SELECT ?1, json_extract(e.value, '$[4]'), json_extract(e.value, '$[0]'), json_extract(e.value, '$[3]') \
     FROM json_each(?2) AS e WHERE true \
     ON CONFLICT (room_id, uid) DO NOTHING";
const FIND: &str =
    "SELECT identity, uid, display_name FROM participants WHERE room_id = ?1 AND identity = ?2 AND is_bot = 0";
/// The registered of the room among a JSON array of uids (?2): one `participants_uid` lookup
/// per uid, so a call reads at most `UIDS_PER_LOOKUP` rows whatever the registry holds.
/// Both the registry's first uid of each identity and every uid recorded since (an identity may
/// hold several: `RECORD_UIDS_SQL`).
const BY_UIDS: &str = "SELECT identity, uid, display_name, is_bot FROM participants \
     WHERE room_id = ?1 AND uid IN (SELECT value FROM json_each(?2)) \
     UNION ALL SELECT u.identity, u.uid, p.display_name, 0 AS is_bot FROM participant_uids AS u \
     LEFT JOIN participants AS p ON p.room_id = u.room_id AND p.identity = u.identity \
     WHERE u.room_id = ?1 AND u.uid IN (SELECT value FROM json_each(?2))";
/// Uids per `BY_UIDS` statement: Agora lists up to 10,000 audience members (plus hosts), so a
/// full channel takes about a dozen statements rather than one unbounded read or parameter.
pub const UIDS_PER_LOOKUP: usize = 1000;
const IDENTITY_OF_UID: &str = "SELECT identity FROM participants WHERE room_id = ?1 AND uid = ?2 \
     UNION ALL SELECT identity FROM participant_uids WHERE room_id = ?1 AND uid = ?2";
/// Every uid a person was given in the room (bots are not found by identity); the first is in
/// both tables, which `uids_of` folds.
const UIDS_OF: &str = "SELECT uid FROM participants WHERE room_id = ?1 AND identity = ?2 AND is_bot = 0 \
     UNION ALL SELECT uid FROM participant_uids WHERE room_id = ?1 AND identity = ?2";

/// Every statement this module sends.
pub(crate) const STATEMENTS: &[&str] = &[
    UPSERT_SQL,
    UPSERT_MANY_SQL,
    UPSERT_GIVEN_SQL,
    RECORD_UIDS_SQL,
    REGISTER_BOT,
    BOT_UID,
    FIND,
    BY_UIDS,
    IDENTITY_OF_UID,
    UIDS_OF,
];

/// `UPSERT_SQL` now, returning the uid — one round trip.
pub async fn upsert(
    rt: &Runtime,
    room_id: &str,
    identity: &str,
    display_name: Option<&str>,
    metadata: Option<&str>,
) -> ApiResult<u32> {
    upsert_at(rt, room_id, identity, display_name, metadata, rt.now_ms() as i64).await
}

/// The identity a recording's bot is registered under. It starts with a control character,
/// which no participant identity may contain.
pub fn bot_identity(recording_id: &str) -> String {
    format!("\u{1f}recorder:{recording_id}")
}

/// Whether a registered identity is a recording bot's.
pub fn is_bot_identity(identity: &str) -> bool {
    identity.starts_with("\u{1f}recorder:")
}

/// Registers the bot that records `recording_id` in `room_id` and returns its uid: one
/// reserved from the room's counter, so it never equals a person's; a second call keeps the
/// first uid (and burns the one it reserved).
pub async fn register_bot(rt: &Runtime, project_id: &str, room_id: &str, recording_id: &str) -> ApiResult<u32> {
    let (uid, _) = super::uid_blocks::reserve(rt, project_id, room_id, 1).await?;
    let at_ms = rt.now_ms() as i64;
    let params = [room_id.into(), bot_identity(recording_id).into(), at_ms.into(), (uid as i64).into()];
    let rows = rt.db.query(REGISTER_BOT, &params).await?;
    let uid = rows.first().and_then(|r| int(r, "uid")).unwrap_or(0);
    u32::try_from(uid).map_err(|_| crate::error::ApiError::internal("bot uid out of range"))
}

/// The uid of `recording_id`'s bot, if it has one.
pub async fn bot_uid(rt: &Runtime, room_id: &str, recording_id: &str) -> ApiResult<Option<u32>> {
    let rows = rt.db.query(BOT_UID, &[room_id.into(), bot_identity(recording_id).into()]).await?;
    Ok(rows.first().and_then(|r| int(r, "uid")).and_then(|uid| u32::try_from(uid).ok()))
}

/// `upsert` stamped with the time the caller asked for it (a deferred write keeps the time of
/// the request that caused it).
pub async fn upsert_at(
    rt: &Runtime,
    room_id: &str,
    identity: &str,
    display_name: Option<&str>,
    metadata: Option<&str>,
    at_ms: i64,
) -> ApiResult<u32> {
    allocate(rt, UPSERT_SQL, &upsert_params(room_id, identity, display_name, metadata, at_ms)).await
}

/// Runs an insert that takes the room's next uid and returns the row's uid.
async fn allocate(rt: &Runtime, sql: &str, params: &[SqlValue]) -> ApiResult<u32> {
    // Two new identities racing for the same next uid: the unique index refuses one, and
    // its retry takes the uid after.
    for _ in 0..3 {
        match rt.db.query(sql, params).await {
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
    let rows = rt.db.query(FIND, &[room_id.into(), identity.into()]).await?;
    Ok(rows.first().and_then(|r| {
        Some(Registered {
            identity: text(r, "identity")?,
            uid: u32::try_from(int(r, "uid")?).ok()?,
            display_name: text(r, "display_name"),
            is_bot: false,
        })
    }))
}

/// Those of `uids` registered in the room, by uid, recording bots included (`is_bot`) so a
/// listing can leave them out. Looked up `UIDS_PER_LOOKUP` at a time: only the uids the
/// vendor listed are read, never the room's whole registry (every identity ever issued a
/// token there).
pub async fn by_uids(rt: &Runtime, room_id: &str, uids: &[u32]) -> ApiResult<HashMap<u32, Registered>> {
    let mut found = HashMap::with_capacity(uids.len());
    for chunk in uids.chunks(UIDS_PER_LOOKUP) {
        let list = serde_json::Value::from(chunk.to_vec()).to_string();
        for r in rt.db.query(BY_UIDS, &[room_id.into(), list.into()]).await? {
            let (Some(identity), Some(uid)) =
                (text(&r, "identity"), int(&r, "uid").and_then(|u| u32::try_from(u).ok()))
            else {
                continue;
            };
            let reg = Registered {
                identity,
                uid,
                display_name: text(&r, "display_name"),
                is_bot: int(&r, "is_bot") == Some(1),
            };
            found.insert(uid, reg);
        }
    }
    Ok(found)
}

/// Every uid `identity` was given in the room, lowest first (none if it never had a token
/// there, or its registry rows were not written yet).
pub async fn uids_of(rt: &Runtime, room_id: &str, identity: &str) -> ApiResult<Vec<u32>> {
    let rows = rt.db.query(UIDS_OF, &[room_id.into(), identity.into()]).await?;
    let mut uids: Vec<u32> = rows.iter().filter_map(|r| int(r, "uid").and_then(|u| u32::try_from(u).ok())).collect();
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// The identity registered with `uid` in the room.
pub async fn by_uid_one(rt: &Runtime, room_id: &str, uid: u32) -> ApiResult<Option<String>> {
    let rows = rt.db.query(IDENTITY_OF_UID, &[room_id.into(), i64::from(uid).into()]).await?;
    Ok(rows.first().and_then(|r| text(r, "identity")))
}

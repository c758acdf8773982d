//! What a moderator has imposed on one participant of one room: hard-muted media (publishing
//! blocked, until an expiry or until lifted) and permission caps. Stored per (project, room,
//! identity) and folded into every later token for the identity, so rejoining undoes nothing.

use serde_json::{json, Value};

/// A kind of media a participant publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    Audio,
    Video,
    Screen,
}

impl Media {
    pub const ALL: [Media; 3] = [Media::Audio, Media::Video, Media::Screen];

    pub fn name(self) -> &'static str {
        match self {
            Media::Audio => "audio",
            Media::Video => "video",
            Media::Screen => "screen",
        }
    }

    pub fn parse(s: &str) -> Option<Media> {
        Media::ALL.into_iter().find(|m| m.name() == s)
    }

    fn bit(self) -> u8 {
        match self {
            Media::Audio => 1,
            Media::Video => 2,
            Media::Screen => 4,
        }
    }
}

/// A set of media, stored as its bits (1 audio, 2 video, 4 screen).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediaSet(u8);

impl MediaSet {
    pub const EMPTY: MediaSet = MediaSet(0);
    pub const ALL: MediaSet = MediaSet(7);

    pub fn of(media: &[Media]) -> MediaSet {
        MediaSet(media.iter().fold(0, |bits, m| bits | m.bit()))
    }

    pub fn from_bits(bits: i64) -> MediaSet {
        MediaSet((bits & 7) as u8)
    }

    pub fn bits(self) -> i64 {
        i64::from(self.0)
    }

    pub fn contains(self, media: Media) -> bool {
        self.0 & media.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: MediaSet) -> MediaSet {
        MediaSet(self.0 | other.0)
    }

    pub fn without(self, other: MediaSet) -> MediaSet {
        MediaSet(self.0 & !other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Media> {
        Media::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

/// One participant's moderation as stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moderation {
    pub identity: String,
    /// Media whose publishing is blocked (a hard mute).
    pub hard_muted: MediaSet,
    /// When the hard mute ends by itself; `None` = until lifted.
    pub mute_expires_at_ms: Option<i64>,
    /// Permission caps: `Some(false)` takes the permission away from every later token,
    /// `Some(true)` lifts an earlier `false` (a token request's own `false` still holds).
    pub can_publish: Option<bool>,
    pub can_subscribe: Option<bool>,
    pub can_publish_data: Option<bool>,
}

impl Moderation {
    pub fn new(identity: &str) -> Moderation {
        Moderation { identity: identity.to_owned(), ..Moderation::default() }
    }

    /// The media hard-muted at `now_ms` (none once the mute has expired).
    pub fn muted_at(&self, now_ms: u64) -> MediaSet {
        match self.mute_expires_at_ms {
            Some(at) if at <= now_ms as i64 => MediaSet::EMPTY,
            _ => self.hard_muted,
        }
    }

    /// Whether this state imposes nothing at `now_ms` (its row can go).
    pub fn is_inert(&self, now_ms: u64) -> bool {
        self.muted_at(now_ms).is_empty()
            && self.can_publish != Some(false)
            && self.can_subscribe != Some(false)
            && self.can_publish_data != Some(false)
    }

    /// Whether publishing is off altogether at `now_ms`: every medium muted, or publishing
    /// taken away.
    pub fn blocks_all_publishing(&self, now_ms: u64) -> bool {
        self.can_publish == Some(false) || self.muted_at(now_ms) == MediaSet::ALL
    }

    /// The participant's moderation state as the API answers it: each medium's mute mode
    /// (`hard`, or `soft` for those just soft-muted in this call), the mute's expiry and the
    /// permission caps.
    pub fn to_json(&self, room_id: &str, soft: MediaSet, now_ms: u64) -> Value {
        let hard = self.muted_at(now_ms);
        let mode = |m: Media| {
            if hard.contains(m) {
                json!("hard")
            } else if soft.contains(m) {
                json!("soft")
            } else {
                Value::Null
            }
        };
        json!({
            "room": room_id,
            "identity": self.identity,
            "muted": { "audio": mode(Media::Audio), "video": mode(Media::Video), "screen": mode(Media::Screen) },
            "expires_at": (!hard.is_empty()).then_some(self.mute_expires_at_ms).flatten()
                .map(|ms| crate::time::rfc3339(ms.max(0) as u64)),
            "permissions": {
                "can_publish": self.can_publish,
                "can_subscribe": self.can_subscribe,
                "can_publish_data": self.can_publish_data,
            },
        })
    }

    /// The compact form a room lookup carries (`[identity, bits, expiry, publish, subscribe,
    /// data]`), and back.
    pub fn from_compact(v: &Value) -> Option<Moderation> {
        let a = v.as_array()?;
        let flag = |i: usize| a.get(i).and_then(Value::as_i64).map(|n| n != 0);
        Some(Moderation {
            identity: a.first()?.as_str()?.to_owned(),
            hard_muted: MediaSet::from_bits(a.get(1)?.as_i64()?),
            mute_expires_at_ms: a.get(2).and_then(Value::as_i64),
            can_publish: flag(3),
            can_subscribe: flag(4),
            can_publish_data: flag(5),
        })
    }
}

/// The moderation of every moderated participant of a room, as read with the room.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoomModeration(pub Vec<Moderation>);

impl RoomModeration {
    /// Parses the room lookup's JSON array; anything unreadable is left out.
    pub fn parse(json: Option<&str>) -> RoomModeration {
        let rows: Vec<Value> = json.and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
        RoomModeration(rows.iter().filter_map(Moderation::from_compact).collect())
    }

    pub fn of(&self, identity: &str) -> Option<&Moderation> {
        self.0.iter().find(|m| m.identity == identity)
    }

    /// About the heap bytes it holds (for the isolate's byte-bounded room cache).
    pub fn heap_bytes(&self) -> usize {
        self.0.iter().map(|m| m.identity.capacity() + std::mem::size_of::<Moderation>()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_sets_round_trip_through_their_bits() {
        let set = MediaSet::of(&[Media::Audio, Media::Screen]);
        assert_eq!(set.bits(), 5);
        assert_eq!(MediaSet::from_bits(5), set);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![Media::Audio, Media::Screen]);
        assert_eq!(set.union(MediaSet::of(&[Media::Video])), MediaSet::ALL);
        assert_eq!(MediaSet::ALL.without(set), MediaSet::of(&[Media::Video]));
    }

    #[test]
    fn an_expired_mute_mutes_nothing() {
        let m = Moderation {
            hard_muted: MediaSet::of(&[Media::Audio]),
            mute_expires_at_ms: Some(1_000),
            ..Moderation::new("alice")
        };
        assert_eq!(m.muted_at(999), MediaSet::of(&[Media::Audio]));
        assert!(m.muted_at(1_000).is_empty());
        assert!(!m.is_inert(999) && m.is_inert(1_000));
    }

    #[test]
    fn the_compact_form_is_read_back() {
        let rows = RoomModeration::parse(Some(r#"[["alice",3,null,null,0,null],["bob",0,null,0,null,1]]"#));
        let alice = rows.of("alice").unwrap();
        assert_eq!((alice.hard_muted, alice.can_subscribe), (MediaSet::of(&[Media::Audio, Media::Video]), Some(false)));
        let bob = rows.of("bob").unwrap();
        assert_eq!((bob.can_publish, bob.can_publish_data), (Some(false), Some(true)));
        assert!(bob.blocks_all_publishing(0) && !alice.blocks_all_publishing(0));
        assert_eq!(RoomModeration::parse(None), RoomModeration::default());
    }
}

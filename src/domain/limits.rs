//! The per-project quotas: what each one counts, its name in the API, its Worker var and its
//! default; enforced by the inserts in `store` (see `store::quotas`), configured in
//! `api::limits::Limits`.

use crate::error::{ApiError, ErrorCode};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    LiveRooms,
    Webhooks,
    RecordingDestinations,
    ConcurrentRecordings,
    Bans,
    ModeratedParticipants,
    /// Live streams running (starting, active), each a vendor compositor pushing to RTMP.
    Streams,
}

impl Quota {
    pub const ALL: [Quota; 7] = [
        Quota::LiveRooms,
        Quota::Webhooks,
        Quota::RecordingDestinations,
        Quota::ConcurrentRecordings,
        Quota::Bans,
        Quota::ModeratedParticipants,
        Quota::Streams,
    ];

    /// Its name in `/v1/rtc/limits` and in `QUOTA_EXCEEDED`'s `quota`.
    pub fn name(self) -> &'static str {
        match self {
            Quota::LiveRooms => "live_rooms",
            Quota::Webhooks => "webhooks",
            Quota::RecordingDestinations => "recording_destinations",
            Quota::ConcurrentRecordings => "concurrent_recordings",
            Quota::Bans => "bans",
            Quota::ModeratedParticipants => "moderated_participants",
            Quota::Streams => "streams",
        }
    }

    /// The Worker var that overrides the default.
    pub fn var(self) -> &'static str {
        match self {
            Quota::LiveRooms => "QUOTA_LIVE_ROOMS",
            Quota::Webhooks => "QUOTA_WEBHOOKS",
            Quota::RecordingDestinations => "QUOTA_RECORDING_DESTINATIONS",
            Quota::ConcurrentRecordings => "QUOTA_CONCURRENT_RECORDINGS",
            Quota::Bans => "QUOTA_BANS",
            Quota::ModeratedParticipants => "QUOTA_MODERATED_PARTICIPANTS",
            Quota::Streams => "QUOTA_STREAMS",
        }
    }

    /// Defaults, per project: rooms are cheap records, but each live one is a vendor room and
    /// an isolate cache entry; every event fans out to every webhook endpoint (Stripe allows 16);
    /// a destination is a set of sealed credentials read on each start; a recording is a
    /// vendor recorder (a LiveKit egress is a headless browser), the most expensive of all; a
    /// ban is a small row every isolate serving the project holds in memory (about 150 bytes);
    /// a moderated participant (a hard mute or a permission override in one room) is a row read
    /// with its room into the isolate's room cache on every token for that room (about 100
    /// bytes; one room holds at most `store::moderation::MAX_PER_ROOM`), so as many as bans; a
    /// stream is a vendor compositor and encoder (Agora allows 5 HD pushes per project by default).
    pub fn default_limit(self) -> u32 {
        match self {
            Quota::LiveRooms => 1000,
            Quota::Webhooks => 20,
            Quota::RecordingDestinations => 20,
            Quota::ConcurrentRecordings => 50,
            Quota::Bans => 10_000,
            Quota::ModeratedParticipants => 10_000,
            Quota::Streams => 10,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// `422 QUOTA_EXCEEDED` for a create that would take the project past `quota`.
pub fn quota_exceeded(quota: Quota, limit: u32) -> ApiError {
    ApiError::new(
        ErrorCode::QuotaExceeded,
        format!("this project has reached its {} quota ({limit}); free one before creating another", quota.name()),
    )
    .with_detail("quota", quota.name())
    .with_detail("limit", limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_exceeded_names_the_quota_and_its_limit() {
        let e = quota_exceeded(Quota::Webhooks, 7);
        assert_eq!((e.status(), e.code.as_str()), (422, "QUOTA_EXCEEDED"));
        assert_eq!((e.details["quota"].as_str(), e.details["limit"].as_u64()), (Some("webhooks"), Some(7)));
    }
}

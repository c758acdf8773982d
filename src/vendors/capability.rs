//! The routed capabilities of the public contract, by their discovery ids.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    RoomCreate,
    RoomGet,
    RoomList,
    RoomDelete,
    TokenIssue,
    RecordingStart,
    RecordingStop,
    ParticipantList,
    ParticipantKick,
    /// Refusing an identity tokens (every vendor, as rtcgate mints every token), plus the
    /// vendor's own ban rule where it has one.
    ParticipantBan,
    ParticipantMuteSoft,
    ParticipantMuteHard,
    ParticipantUpdate,
    RoomMessage,
    /// A room composited and pushed to RTMP(S) ingests (`rtc.stream.*`).
    StreamStart,
}

impl Capability {
    pub const ALL: [Capability; 15] = [
        Capability::RoomCreate,
        Capability::RoomGet,
        Capability::RoomList,
        Capability::RoomDelete,
        Capability::TokenIssue,
        Capability::RecordingStart,
        Capability::RecordingStop,
        Capability::ParticipantList,
        Capability::ParticipantKick,
        Capability::ParticipantBan,
        Capability::ParticipantMuteSoft,
        Capability::ParticipantMuteHard,
        Capability::ParticipantUpdate,
        Capability::RoomMessage,
        Capability::StreamStart,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Capability::RoomCreate => "rtc.room.create",
            Capability::RoomGet => "rtc.room.get",
            Capability::RoomList => "rtc.room.list",
            Capability::RoomDelete => "rtc.room.delete",
            Capability::TokenIssue => "rtc.token.issue",
            Capability::RecordingStart => "rtc.recording.start",
            Capability::RecordingStop => "rtc.recording.stop",
            Capability::ParticipantList => "rtc.participant.list",
            Capability::ParticipantKick => "rtc.participant.kick",
            Capability::ParticipantBan => "rtc.participant.ban",
            Capability::ParticipantMuteSoft => "rtc.participant.mute.soft",
            Capability::ParticipantMuteHard => "rtc.participant.mute.hard",
            Capability::ParticipantUpdate => "rtc.participant.update",
            Capability::RoomMessage => "rtc.room.message",
            Capability::StreamStart => "rtc.stream.start",
        }
    }

    pub fn parse(id: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.id() == id)
    }
}

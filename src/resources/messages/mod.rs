//! `rtc.room.message`: a message from the server to a room's connected participants, on the
//! room's vendor (LiveKit `SendData`, ZEGO `SendCustomCommand`; Agora's RTC clients cannot
//! receive one). `api` reads the request, `service` sends it and translates the outcome.

pub mod api;
pub mod service;

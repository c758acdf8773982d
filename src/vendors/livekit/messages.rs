//! Server → room messages: RoomService `SendData` (livekit/protocol
//! `protobufs/livekit_room.proto` `SendDataRequest`; grant `roomAdmin` on the room). Pure
//! functions; `mod.rs` sends the call.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::vendors::{Delivery, RoomMessage, VendorError, VendorFailure};

/// The SendData body. `data` is `bytes`, so base64 in Twirp's JSON; kind `RELIABLE`
/// (ordered, retransmitted: a server message must not be dropped on the way); no
/// `destination_identities` = everyone in the room. `nonce` is left out: the server takes
/// only an empty or 16-byte one, and it is for the SDKs' own deduplication.
pub fn send_data_body(room_id: &str, message: &RoomMessage) -> Value {
    let mut body = Map::new();
    body.insert("room".into(), json!(room_id));
    body.insert("data".into(), json!(STANDARD.encode(&message.data)));
    body.insert("kind".into(), json!("RELIABLE"));
    if !message.to.is_empty() {
        body.insert("destination_identities".into(), json!(message.to));
    }
    if let Some(topic) = &message.topic {
        body.insert("topic".into(), json!(topic));
    }
    Value::Object(body)
}

/// A SendData answer: `{}` is sent; Twirp `not_found` means the room is not open on the
/// server (it is created by its first join and closed when empty), so nobody can hear it.
/// Destination identities that are not connected are skipped by the server without an error.
pub fn delivery(answer: Result<Value, VendorError>) -> Result<Delivery, VendorError> {
    match answer {
        Ok(_) => Ok(Delivery::Sent),
        Err(e) if e.failure == VendorFailure::NotFound => Ok(Delivery::RoomNotLive),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(to: &[&str], topic: Option<&str>) -> RoomMessage {
        RoomMessage {
            data: b"hello \xff".to_vec(),
            to: to.iter().map(|s| s.to_string()).collect(),
            topic: topic.map(str::to_owned),
        }
    }

    #[test]
    fn send_data_body_carries_bytes_as_base64_and_sets_only_what_is_asked() {
        assert_eq!(
            send_data_body("rm_1", &message(&[], None)),
            json!({"room": "rm_1", "data": "aGVsbG8g/w==", "kind": "RELIABLE"})
        );
        assert_eq!(
            send_data_body("rm_1", &message(&["alice", "bob"], Some("chat"))),
            json!({"room": "rm_1", "data": "aGVsbG8g/w==", "kind": "RELIABLE",
                   "destination_identities": ["alice", "bob"], "topic": "chat"})
        );
    }

    #[test]
    fn not_found_is_a_room_that_is_not_live_and_other_failures_pass() {
        assert_eq!(delivery(Ok(json!({}))).unwrap(), Delivery::Sent);
        let absent = VendorError::new("livekit", VendorFailure::NotFound, "SendData: not_found");
        assert_eq!(delivery(Err(absent)).unwrap(), Delivery::RoomNotLive);
        let down = VendorError::new("livekit", VendorFailure::ServerError, "SendData: internal");
        assert_eq!(delivery(Err(down)).unwrap_err().failure, VendorFailure::ServerError);
    }
}

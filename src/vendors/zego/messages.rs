//! Server → room messages: `SendCustomCommand` (ZEGOCLOUD/docs_all
//! `core_products/real-time-voice-video/en/server/api-reference/room/send-custom-command.yaml`):
//! `RoomId`, `FromUserId`, `ToUserId[]` (≤ 10; none = everyone in the room), `MessageContent`
//! (≤ 1024 bytes). Clients receive it through the Express SDK's `onIMRecvCustomCommand`.
//!
//! The client logged in as `FromUserId` does not receive the message, and the sender need not
//! be in the room, so it is sent as `SERVER_SENDER`, an id no token is issued for. ZEGO has no
//! topic and its content is a string: a topic, or data that is not UTF-8, is refused before
//! anything is sent rather than changed on the way.

use super::actions::Call;
use super::answer::{Answer, Outcome};
use super::NAME;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::vendors::{Delivery, RoomMessage, VendorError, VendorFailure};

/// The `FromUserId` of every server message: reserved, so no participant misses a message for
/// sharing the sender's id (`check_grant` refuses tokens for it).
pub const SERVER_SENDER: &str = "rtcgate.server";

/// Message too long (`send-custom-command.yaml`; return-codes.mdx).
const TOO_LONG: &str = "50012";
/// Sending failed at ZEGO.
const SEND_FAILED: &str = "50013";

pub fn send_custom_command(room_id: &str, message: &RoomMessage) -> Call {
    let mut params = vec![("RoomId", room_id.to_owned()), ("FromUserId", SERVER_SENDER.to_owned())];
    params.extend(message.to.iter().map(|to| ("ToUserId[]", to.clone())));
    params.push(("MessageContent", String::from_utf8_lossy(&message.data).into_owned()));
    Call { action: "SendCustomCommand", params }
}

/// What ZEGO cannot carry: a topic, or bytes that are not a string.
pub fn check(message: &RoomMessage) -> ApiResult<()> {
    if message.topic.is_some() {
        return Err(unsupported("topic", "ZEGO custom commands have no topic; put it in the data"));
    }
    if std::str::from_utf8(&message.data).is_err() {
        return Err(unsupported("data", "ZEGO custom commands carry text: the decoded data must be UTF-8"));
    }
    Ok(())
}

/// Refuses a token for the reserved sender id.
pub fn refuse_reserved(identity: &str) -> ApiResult<()> {
    if identity == SERVER_SENDER {
        return Err(ApiError::new(
            ErrorCode::IdentityNotSupported,
            format!("'{SERVER_SENDER}' is reserved on zego: server messages are sent under it"),
        )
        .with_detail("field", "identity")
        .with_detail("vendor", NAME));
    }
    Ok(())
}

fn unsupported(field: &str, why: &str) -> ApiError {
    ApiError::new(ErrorCode::UnsupportedByVendor, format!("zego cannot send this message: {why}"))
        .with_detail("field", field.to_owned())
        .with_detail("vendor", NAME)
}

/// An answer to SendCustomCommand: a room ZEGO does not know has nobody to hear it; 50003 is
/// a named recipient who is not online; 50012 a content longer than ZEGO takes; 50013 a
/// failure on ZEGO's side.
pub fn delivery(answer: Result<Answer, VendorError>) -> Result<Delivery, VendorError> {
    match answer {
        Ok(answer) => Ok(match answer.outcome {
            Outcome::Success => Delivery::Sent,
            Outcome::RoomAbsent => Delivery::RoomNotLive,
            Outcome::UserAbsent => Delivery::RecipientAbsent,
        }),
        Err(e) if e.vendor_code.as_deref() == Some(TOO_LONG) => Ok(Delivery::TooLarge),
        Err(e) if e.vendor_code.as_deref() == Some(SEND_FAILED) => {
            Err(VendorError { failure: VendorFailure::ServerError, ..e })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::runtime::OutboundResponse;

    fn message(data: &[u8], to: &[&str], topic: Option<&str>) -> RoomMessage {
        RoomMessage {
            data: data.to_vec(),
            to: to.iter().map(|s| s.to_string()).collect(),
            topic: topic.map(str::to_owned),
        }
    }

    #[test]
    fn the_call_names_every_recipient_and_sends_as_the_reserved_sender() {
        let call = send_custom_command("rm_1", &message("héllo".as_bytes(), &["alice", "bob"], None));
        assert_eq!(call.action, "SendCustomCommand");
        assert_eq!(
            call.params,
            vec![
                ("RoomId", "rm_1".to_owned()),
                ("FromUserId", SERVER_SENDER.to_owned()),
                ("ToUserId[]", "alice".to_owned()),
                ("ToUserId[]", "bob".to_owned()),
                ("MessageContent", "héllo".to_owned()),
            ]
        );
        let everyone = send_custom_command("rm_1", &message(b"hi", &[], None));
        assert!(everyone.params.iter().all(|(k, _)| *k != "ToUserId[]"), "{everyone:?}");
    }

    #[test]
    fn a_topic_or_binary_data_is_refused_naming_the_field() {
        assert!(check(&message(b"hi", &["a"], None)).is_ok());
        for (m, field) in [(message(b"hi", &[], Some("chat")), "topic"), (message(b"\xff\x00", &[], None), "data")] {
            let e = check(&m).unwrap_err();
            assert_eq!((e.code, e.details["field"].as_str()), (ErrorCode::UnsupportedByVendor, Some(field)));
        }
        assert_eq!(refuse_reserved(SERVER_SENDER).unwrap_err().code, ErrorCode::IdentityNotSupported);
        assert!(refuse_reserved("alice").is_ok());
    }

    fn answer(code: i64) -> Result<Answer, VendorError> {
        let body = json!({"Code": code, "Message": "m", "RequestId": "r", "Data": {}}).to_string();
        super::super::answer::read(
            "SendCustomCommand",
            &OutboundResponse { status: 200, headers: vec![], body: body.into_bytes() },
        )
    }

    #[test]
    fn codes_translate_to_what_became_of_the_message() {
        assert_eq!(delivery(answer(0)).unwrap(), Delivery::Sent);
        assert_eq!(delivery(answer(50003)).unwrap(), Delivery::RecipientAbsent);
        assert_eq!(delivery(answer(50001)).unwrap(), Delivery::RoomNotLive);
        assert_eq!(delivery(answer(50012)).unwrap(), Delivery::TooLarge);
        assert_eq!(delivery(answer(50013)).unwrap_err().failure, VendorFailure::ServerError);
        assert_eq!(delivery(answer(50011)).unwrap_err().failure, VendorFailure::Rejected);
    }
}

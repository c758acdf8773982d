//! ZEGO's limits on a user id, which is the participant's identity (token04 `user_id`, the
//! client SDK's `ZegoUser.userID`).
//!
//! Sources (ZEGO Express SDK reference, e.g. the React Native 3.20.2 `ZegoUser` docs and the
//! C header `zego-express-defines.h`; pub.dev `zego_express_engine` `ZegoErrorCode.RoomUserIdTooLong`):
//! - "User ID, a utf8 string with a maximum length of 64 bytes": the C SDK keeps it in
//!   `char user_id[ZEGO_EXPRESS_MAX_USERID_LEN]` with `ZEGO_EXPRESS_MAX_USERID_LEN = 64`,
//!   NUL included, and `loginRoom` fails with 1002007 when the id is "greater than or equal
//!   to 64 bytes". So 63 bytes is the longest id every SDK accepts.
//! - "Only support numbers, English characters and '~', '!', '@', '#', '$', '%', '^', '&',
//!   '*', '(', ')', '_', '+', '=', '-', '`', ';', '’', ',', '.', '<', '>', '/', '\'.
//!   Do not use '%' if you need to communicate with the Web SDK."
//!
//! rtcgate issues tokens for any client, Web included, so '%' is refused. The quote ('’' in
//! the docs, typographic) is refused too: which byte the SDKs accept is not settled by the
//! docs, and a token for an id the SDK refuses is worse than a clear error now.

use crate::domain::identity::IdentityRule;

/// The longest user id, in UTF-8 bytes, that every ZEGO SDK accepts, and the punctuation ZEGO
/// allows besides ASCII letters and digits (less '%' and the quote).
pub const IDENTITY_RULE: IdentityRule =
    IdentityRule::AsciiUserId { vendor: super::NAME, max_bytes: 63, punctuation: "~!@#$^&*()_+=-`;,.<>/\\" };

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::Identity;
    use crate::error::{ApiResult, ErrorCode};

    /// The rule applied to an identity that passed the common rule (which refuses control
    /// characters and empty ids already).
    fn validate(s: &str) -> ApiResult<()> {
        IDENTITY_RULE.check(&Identity::parse(s.to_owned()).unwrap())
    }

    #[test]
    fn accepts_documented_characters_up_to_63_bytes() {
        for ok in ["a", "user_1", "Alice.Smith-2", "x@example.com", "~!@#$^&*()_+=-`;,.<>/\\", &"z".repeat(63)] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_long_ids_and_foreign_characters() {
        let cases = [
            "z".repeat(64),
            "a b".into(),
            "50%".into(),
            "o'neil".into(),
            "o’neil".into(),
            "é".into(),
            "a\"b".into(),
            "a:b".into(),
            "a?b".into(),
        ];
        for bad in cases {
            let e = validate(&bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::IdentityNotSupported, "{bad}");
            assert_eq!(e.details["field"], "identity", "{bad}");
            assert_eq!(e.details["vendor"], "zego", "{bad}");
        }
    }

    #[test]
    fn messages_name_the_limit() {
        assert!(validate(&"z".repeat(64)).unwrap_err().message.contains("at most 63 bytes"));
        assert!(validate("a b").unwrap_err().message.contains("ASCII letters, digits"));
        // Multi-byte characters count by bytes: 32 × 'é' is 64 bytes but also not allowed.
        assert!(validate(&"é".repeat(32)).unwrap_err().message.contains("at most 63 bytes"));
    }
}

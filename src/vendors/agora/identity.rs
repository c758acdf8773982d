//! Which identities an Agora room accepts.
//!
//! Agora clients join with the participant's numeric uid, so our identity never reaches
//! Agora: it only lives in rtcgate's participant registry. The common rule applies, bounded
//! by Agora's own limit for a string user id (user account): non-empty, at most 255 bytes
//! (AgoraIO/Docs-Source `shared/media-gateway/reference/rest-api/endpoints/streaming-key/
//! create-streaming-key.mdx`: "For string IDs, the value cannot exceed 255 bytes or be
//! empty"; `shared/media-pull/reference/_restful-api.mdx`: user account "maximum length …
//! 255 bytes").

use crate::domain::identity::IdentityRule;

pub const IDENTITY_RULE: IdentityRule = IdentityRule::Utf8 { vendor: super::NAME, max_bytes: 255 };

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::Identity;
    use crate::error::ErrorCode;

    fn check(s: &str) -> crate::error::ApiResult<()> {
        IDENTITY_RULE.check(&Identity::parse(s.to_owned()).unwrap())
    }

    #[test]
    fn length_is_counted_in_bytes() {
        assert!(check("a").is_ok());
        assert!(check(&"a".repeat(255)).is_ok());
        assert!(check("user@example.com with spaces & ünïcödé").is_ok());
        for bad in ["a".repeat(256), "é".repeat(128)] {
            let e = check(&bad).unwrap_err();
            assert_eq!(
                (e.code, e.details["field"].as_str(), e.details["vendor"].as_str()),
                (ErrorCode::IdentityNotSupported, Some("identity"), Some("agora")),
                "{}",
                bad.len()
            );
        }
        assert!(check(&"é".repeat(127)).is_ok()); // 254 bytes
    }
}

//! Which identities an Agora room accepts.
//!
//! Agora clients join with the participant's numeric uid, so our identity never reaches
//! Agora: it only lives in rtcgate's participant registry. The general rule applies, bounded
//! by Agora's own limit for a string user id (user account): non-empty, at most 255 bytes
//! (AgoraIO/Docs-Source `shared/media-gateway/reference/rest-api/endpoints/streaming-key/
//! create-streaming-key.mdx`: "For string IDs, the value cannot exceed 255 bytes or be
//! empty"; `shared/media-pull/reference/_restful-api.mdx`: user account "maximum length …
//! 255 bytes"), and no control characters (they corrupt logs and client UIs).

use crate::error::{ApiError, ApiResult};
use crate::vendors::identity_not_supported;

pub const MAX_IDENTITY_BYTES: usize = 255;

pub fn validate_identity(identity: &str) -> ApiResult<()> {
    if identity.is_empty() {
        return Err(ApiError::invalid_field("identity", "identity must not be empty"));
    }
    if identity.len() > MAX_IDENTITY_BYTES {
        return Err(identity_not_supported("agora", format!("at most {MAX_IDENTITY_BYTES} bytes of UTF-8")));
    }
    if identity.chars().any(char::is_control) {
        return Err(ApiError::invalid_field("identity", "identity must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn length_is_counted_in_bytes() {
        assert!(validate_identity("a").is_ok());
        assert!(validate_identity(&"a".repeat(255)).is_ok());
        assert!(validate_identity("user@example.com with spaces & ünïcödé").is_ok());
        assert_eq!(validate_identity("").unwrap_err().code, ErrorCode::InvalidRequest);
        for bad in ["a".repeat(256), "é".repeat(128)] {
            let e = validate_identity(&bad).unwrap_err();
            assert_eq!(
                (e.code, e.details["field"].as_str(), e.details["vendor"].as_str()),
                (ErrorCode::IdentityNotSupported, Some("identity"), Some("agora")),
                "{}",
                bad.len()
            );
        }
        assert!(validate_identity(&"é".repeat(127)).is_ok()); // 254 bytes
    }

    #[test]
    fn control_characters_are_refused() {
        for bad in ["a\nb", "tab\t", "nul\0", "del\u{7f}", "c1\u{85}"] {
            assert_eq!(validate_identity(bad).unwrap_err().details["field"], "identity", "{bad:?}");
        }
    }
}

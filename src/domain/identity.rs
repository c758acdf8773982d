//! A participant's identity: parsed once per request, under the rule every vendor shares, and
//! then checked against the room's vendor's own rule (`Vendor::identity_rule`, each vendor's
//! constant in its own folder, with the vendor documentation it comes from).

use std::fmt;

use super::text;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The longest identity, in characters. Every vendor takes at most this many bytes, so no
/// longer identity can reach one; the rule is otherwise the text rule (`text::check`).
pub const MAX_IDENTITY_CHARS: usize = 256;

/// An identity that passed the common rule: 1 to `MAX_IDENTITY_CHARS` characters, no control
/// characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity(String);

impl Identity {
    /// The `identity` field of a request.
    pub fn parse(raw: String) -> ApiResult<Identity> {
        text::check("identity", &raw, MAX_IDENTITY_CHARS)?;
        Ok(Identity(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Identity {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one vendor takes beyond the common rule. Refusals are `IDENTITY_NOT_SUPPORTED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityRule {
    /// Any identity of at most `max_bytes` bytes of UTF-8.
    Utf8 { vendor: &'static str, max_bytes: usize },
    /// A user id of at most `max_bytes` ASCII letters, digits and `punctuation`.
    AsciiUserId { vendor: &'static str, max_bytes: usize, punctuation: &'static str },
}

impl IdentityRule {
    pub fn vendor(&self) -> &'static str {
        match *self {
            IdentityRule::Utf8 { vendor, .. } | IdentityRule::AsciiUserId { vendor, .. } => vendor,
        }
    }

    pub fn max_bytes(&self) -> usize {
        match *self {
            IdentityRule::Utf8 { max_bytes, .. } | IdentityRule::AsciiUserId { max_bytes, .. } => max_bytes,
        }
    }

    pub fn check(&self, identity: &Identity) -> ApiResult<()> {
        let (id, vendor) = (identity.as_str(), self.vendor());
        match *self {
            IdentityRule::Utf8 { max_bytes, .. } => {
                if id.len() > max_bytes {
                    return Err(not_supported(vendor, format!("at most {max_bytes} bytes of UTF-8")));
                }
            }
            IdentityRule::AsciiUserId { max_bytes, punctuation, .. } => {
                let name = vendor.to_ascii_uppercase();
                if id.len() > max_bytes {
                    return Err(not_supported(
                        vendor,
                        format!("{name} user ids are at most {max_bytes} bytes (this one is {})", id.len()),
                    ));
                }
                if !id.chars().all(|c| c.is_ascii_alphanumeric() || punctuation.contains(c)) {
                    return Err(not_supported(
                        vendor,
                        format!("{name} user ids may contain only ASCII letters, digits and {punctuation}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `IDENTITY_NOT_SUPPORTED`: an identity that passed the common rule but is outside what
/// `vendor` takes.
fn not_supported(vendor: &str, why: String) -> ApiError {
    ApiError::new(ErrorCode::IdentityNotSupported, format!("{vendor} cannot take this identity: {why}"))
        .with_detail("field", "identity")
        .with_detail("vendor", vendor.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Identity {
        Identity::parse(s.to_owned()).unwrap()
    }

    #[test]
    fn the_common_rule_counts_characters() {
        assert_eq!(id("alice").as_str(), "alice");
        assert!(Identity::parse("é".repeat(MAX_IDENTITY_CHARS)).is_ok());
        for bad in [String::new(), "u".repeat(MAX_IDENTITY_CHARS + 1), "a\tb".into()] {
            let e = Identity::parse(bad.clone()).unwrap_err();
            assert_eq!((e.code, e.details["field"].as_str()), (ErrorCode::InvalidRequest, Some("identity")), "{bad:?}");
        }
    }

    #[test]
    fn a_utf8_rule_counts_bytes() {
        let rule = IdentityRule::Utf8 { vendor: "v", max_bytes: 4 };
        assert!(rule.check(&id("éé")).is_ok());
        let e = rule.check(&id("ééa")).unwrap_err();
        assert_eq!(e.message, "v cannot take this identity: at most 4 bytes of UTF-8");
        assert_eq!(
            (e.code, e.details["field"].as_str(), e.details["vendor"].as_str()),
            (ErrorCode::IdentityNotSupported, Some("identity"), Some("v"))
        );
    }

    #[test]
    fn an_ascii_rule_checks_length_then_characters() {
        let rule = IdentityRule::AsciiUserId { vendor: "v", max_bytes: 3, punctuation: "_" };
        assert!(rule.check(&id("a_1")).is_ok());
        assert_eq!(
            rule.check(&id("éé")).unwrap_err().message,
            "v cannot take this identity: V user ids are at most 3 bytes (this one is 4)"
        );
        assert_eq!(
            rule.check(&id("a-b")).unwrap_err().message,
            "v cannot take this identity: V user ids may contain only ASCII letters, digits and _"
        );
    }
}

//! Secrets at rest: AES-256-GCM under the deployment's `RTCGATE_ENCRYPTION_KEY`.
//!
//! Each record gets a fresh random 96-bit nonce, and the owner's id is the associated data, so
//! a sealed value copied into another project's row fails to open instead of lending that
//! project the credentials. The stored form is `v1.` + hex(nonce ‖ ciphertext ‖ tag).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::Entropy;

const VERSION: &str = "v1.";
const NONCE_BYTES: usize = 12;

/// The deployment's encryption key as configured.
pub enum EncryptionKey {
    Absent,
    /// Set, but not 64 hex characters (the reason never includes the value).
    Malformed,
    /// Boxed: the expanded AES key schedule is large.
    Ready(Box<SealingKey>),
}

impl EncryptionKey {
    /// Reads `RTCGATE_ENCRYPTION_KEY` (already trimmed; empty counts as absent).
    pub fn from_setting(value: Option<&str>) -> EncryptionKey {
        match value {
            None => EncryptionKey::Absent,
            Some(v) => match crate::crypto::hex::decode(v) {
                Some(bytes) if bytes.len() == 32 => {
                    EncryptionKey::Ready(Box::new(SealingKey(Aes256Gcm::new_from_slice(&bytes).expect("32 bytes"))))
                }
                _ => EncryptionKey::Malformed,
            },
        }
    }

    /// The key, or `422 ENCRYPTION_NOT_CONFIGURED` saying that `needed_by` (plural, e.g.
    /// "webhook endpoints") are off without it.
    pub fn require(&self, needed_by: &str) -> ApiResult<&SealingKey> {
        match self {
            EncryptionKey::Ready(key) => Ok(key),
            EncryptionKey::Absent => Err(ApiError::new(
                ErrorCode::EncryptionNotConfigured,
                format!("{needed_by} need RTCGATE_ENCRYPTION_KEY (64 hex characters) set as a Worker secret"),
            )),
            EncryptionKey::Malformed => Err(ApiError::new(
                ErrorCode::EncryptionNotConfigured,
                format!("RTCGATE_ENCRYPTION_KEY is set but is not 64 hex characters; {needed_by} are off"),
            )),
        }
    }
}

/// A value as stored sealed. Its `Debug` shows nothing of it either: a sealed secret copied
/// out of a log line is one less thing to reason about.
#[derive(Clone, PartialEq)]
pub struct Sealed(pub String);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed([redacted])")
    }
}

/// An AES-256-GCM key. Its `Debug` shows nothing of the key.
pub struct SealingKey(Aes256Gcm);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

impl SealingKey {
    /// Encrypts `plaintext` bound to `owner`.
    pub fn seal(&self, entropy: &dyn Entropy, owner: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        entropy.fill(&mut nonce);
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: owner.as_bytes() })
            .expect("AES-GCM encrypts any message under 64 GiB");
        format!("{VERSION}{}{}", crate::crypto::hex::lower(&nonce), crate::crypto::hex::lower(&sealed))
    }

    /// The plaintext, if `sealed` was sealed by this key for `owner` and is intact.
    pub fn open(&self, owner: &str, sealed: &str) -> Option<Vec<u8>> {
        let bytes = crate::crypto::hex::decode(sealed.strip_prefix(VERSION)?)?;
        if bytes.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        self.0.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: owner.as_bytes() }).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::OsEntropy;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn key(hex: &str) -> SealingKey {
        match EncryptionKey::from_setting(Some(hex)) {
            EncryptionKey::Ready(k) => *k,
            _ => panic!("a valid key"),
        }
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_owner_under_its_key() {
        let k = key(KEY);
        let sealed = k.seal(&OsEntropy, "prj_a", b"{\"secret\":\"s3-secret\"}");
        assert!(sealed.starts_with("v1.") && !sealed.contains("s3-secret"));
        assert_eq!(k.open("prj_a", &sealed).as_deref(), Some(&b"{\"secret\":\"s3-secret\"}"[..]));
        assert_eq!(k.open("prj_b", &sealed), None, "moved to another project, it does not open");
        let other = key(&KEY.replace("1f", "1e"));
        assert_eq!(other.open("prj_a", &sealed), None, "another key does not open it");
        // Any flipped bit is caught by the tag.
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(k.open("prj_a", std::str::from_utf8(&tampered).unwrap()), None);
        assert_eq!(k.open("prj_a", "v1.00"), None);
        assert_eq!(k.open("prj_a", "garbage"), None);
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let k = key(KEY);
        assert_ne!(k.seal(&OsEntropy, "p", b"same"), k.seal(&OsEntropy, "p", b"same"));
    }

    #[test]
    fn the_setting_must_be_64_hex_characters() {
        assert!(matches!(EncryptionKey::from_setting(None), EncryptionKey::Absent));
        for bad in ["00", &KEY[..62], &format!("{KEY}00"), &KEY.replace('0', "z")] {
            assert!(matches!(EncryptionKey::from_setting(Some(bad)), EncryptionKey::Malformed), "{bad}");
        }
        assert!(matches!(EncryptionKey::from_setting(Some(&KEY.to_uppercase())), EncryptionKey::Ready(_)));
        assert_eq!(format!("{:?}", key(KEY)), "SealingKey([redacted])");
        assert_eq!(format!("{:?}", Sealed("v1.00".into())), "Sealed([redacted])");
    }

    #[test]
    fn a_missing_key_names_what_is_off() {
        let e = EncryptionKey::from_setting(None).require("webhook endpoints").unwrap_err();
        assert_eq!(
            (e.code, e.message.starts_with("webhook endpoints need RTCGATE_ENCRYPTION_KEY")),
            (ErrorCode::EncryptionNotConfigured, true)
        );
        let e = EncryptionKey::from_setting(Some("00")).require("webhook endpoints").unwrap_err();
        assert!(e.message.ends_with("webhook endpoints are off"), "{}", e.message);
        assert!(EncryptionKey::from_setting(Some(KEY)).require("webhook endpoints").is_ok());
    }
}

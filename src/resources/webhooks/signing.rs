//! Standard Webhooks signatures (standardwebhooks.com): the secret is `whsec_` + base64 of
//! random bytes; a delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`, keyed with the
//! secret's decoded bytes.
//!
//! At rest the secret is sealed to its project (`crate::crypto::sealed`); it is opened only to sign a
//! delivery, and neither form shows in `Debug`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::crypto::sealed::{Sealed, SealingKey};
use crate::runtime::Runtime;

pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing secret in the clear (`whsec_…`). Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq)]
pub struct SigningSecret(String);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

impl SigningSecret {
    /// The secret itself: for the one response that shows it, and for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Sealed to the endpoint's project, as stored.
    pub fn seal(&self, key: &SealingKey, rt: &Runtime, project_id: &str) -> Sealed {
        Sealed(key.seal(rt.entropy.as_ref(), project_id, self.0.as_bytes()))
    }

    /// The secret sealed to `project_id`, if it opens under `key` (not if it was sealed for
    /// another project, under another key, or altered).
    pub fn open(key: &SealingKey, project_id: &str, sealed: &Sealed) -> Option<SigningSecret> {
        let plain = String::from_utf8(key.open(project_id, &sealed.0)?).ok()?;
        plain.starts_with(SECRET_PREFIX).then_some(SigningSecret(plain))
    }
}

/// A new signing secret: 32 random bytes.
pub fn new_secret(rt: &Runtime) -> SigningSecret {
    let bytes: [u8; 32] = rt.random_bytes();
    SigningSecret(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// The `webhook-signature` value for one delivery.
pub fn sign(secret: &SigningSecret, id: &str, timestamp_s: u64, body: &[u8]) -> String {
    let secret = secret.expose();
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret)).unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specification_example() {
        // The example of the Standard Webhooks specification (and of its libraries' tests).
        let secret = SigningSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn the_secret_opens_only_for_its_project_and_never_shows_in_debug() {
        let rt = crate::native::NativeRuntime::new(0);
        let key = match crate::crypto::sealed::EncryptionKey::from_setting(Some(&"ab".repeat(32))) {
            crate::crypto::sealed::EncryptionKey::Ready(k) => k,
            _ => panic!("a valid key"),
        };
        let secret = new_secret(&rt.runtime);
        let sealed = secret.seal(&key, &rt.runtime, "prj_a");
        assert!(!sealed.0.contains(&secret.expose()[SECRET_PREFIX.len()..]));
        assert_eq!(SigningSecret::open(&key, "prj_a", &sealed), Some(secret.clone()));
        assert_eq!(SigningSecret::open(&key, "prj_b", &sealed), None);
        assert_eq!(SigningSecret::open(&key, "prj_a", &Sealed(String::new())), None);
        assert_eq!(format!("{secret:?}"), "SigningSecret([redacted])");
    }
}

//! Agora settings: which are present, and whether together they make a usable configuration.
//! Reasons name the setting and what is wrong with it, never its value.
//!
//! Decision: all four credentials are required. The App ID and App Certificate alone would be
//! enough to mint join tokens, but room get/delete and participant list/kick need the RESTful
//! (Customer ID/Secret) pair; a half-working vendor that mints tokens for rooms it can then
//! neither inspect nor close is harder for operators to reason about than one clear
//! "missing AGORA_CUSTOMER_ID, AGORA_CUSTOMER_SECRET".

use std::fmt;

use super::token::{AgoraConfigError, AgoraTokenBuilder};
use crate::config::{setting, EnvVars};
use crate::vendors::{required_settings, VendorState};

pub const APP_ID: &str = "AGORA_APP_ID";
pub const APP_CERTIFICATE: &str = "AGORA_APP_CERTIFICATE";
pub const CUSTOMER_ID: &str = "AGORA_CUSTOMER_ID";
pub const CUSTOMER_SECRET: &str = "AGORA_CUSTOMER_SECRET";
pub const API_BASE: &str = "AGORA_API_BASE";

/// Agora's RESTful API host (AgoraIO/Docs-Source `shared/common/channel-management-api/**`;
/// `api.agora.io` serves the same API).
pub const DEFAULT_API_BASE: &str = "https://api.sd-rtn.com";

pub const APP_ID_INVALID: &str = "AGORA_APP_ID must be 32 hex characters";
pub const CERTIFICATE_INVALID: &str = "AGORA_APP_CERTIFICATE must be 32 hex characters";
pub const CUSTOMER_ID_INVALID: &str = "AGORA_CUSTOMER_ID must not contain ':'";
pub const API_BASE_INVALID: &str = "AGORA_API_BASE must be an http:// or https:// URL without query or fragment";

const REQUIRED: [&str; 4] = [APP_ID, APP_CERTIFICATE, CUSTOMER_ID, CUSTOMER_SECRET];

/// A validated configuration. The token builder holds the certificate; the customer secret
/// only ever leaves here inside the Basic credentials.
pub struct AgoraConfig {
    pub tokens: AgoraTokenBuilder,
    /// Public: clients need it to join, and it is part of every REST path.
    pub app_id: String,
    pub customer_id: String,
    pub customer_secret: String,
    /// Scheme and host (maybe a path), without a trailing slash.
    pub api_base: String,
}

// Hand-written so no secret can reach a log line through `{:?}`.
impl fmt::Debug for AgoraConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgoraConfig")
            .field("app_id", &self.app_id)
            .field("app_certificate", &"<redacted>")
            .field("customer_id", &self.customer_id)
            .field("customer_secret", &"<redacted>")
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// Reads and validates the settings. `Err` is the state to report: `Unconfigured` when none
/// of the five settings is present, `Misconfigured` otherwise.
pub fn from_env(env: EnvVars<'_>) -> Result<AgoraConfig, VendorState> {
    let api_base = setting(env, API_BASE);
    let values = required_settings(env, &REQUIRED, &[API_BASE])?;
    let misconfigured = |why: &str| VendorState::Misconfigured(why.to_owned());
    let [app_id, certificate, customer_id, customer_secret]: [String; 4] =
        values.try_into().map_err(|_| misconfigured("internal: wrong number of Agora settings"))?;

    let tokens = AgoraTokenBuilder::new(&app_id, &certificate).map_err(|e| match e {
        AgoraConfigError::AppIdNotHex32 => misconfigured(APP_ID_INVALID),
        AgoraConfigError::CertificateNotHex32 => misconfigured(CERTIFICATE_INVALID),
    })?;
    // Basic credentials are `id:secret`; a colon in the id would shift the split (RFC 7617).
    if customer_id.contains(':') {
        return Err(misconfigured(CUSTOMER_ID_INVALID));
    }
    let api_base = match api_base {
        None => DEFAULT_API_BASE.to_owned(),
        Some(base) => parse_api_base(&base).ok_or_else(|| misconfigured(API_BASE_INVALID))?,
    };
    Ok(AgoraConfig { tokens, app_id, customer_id, customer_secret, api_base })
}

fn parse_api_base(value: &str) -> Option<String> {
    crate::vendors::transport::base_url(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::settings_tests::{env_of, outcome};

    const TEST_APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
    const TEST_CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
    const CUSTOMER: &str = "cust-7d1e";
    const SECRET: &str = "s3cr3t-customer-value";

    fn full(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut pairs = vec![
            (APP_ID, TEST_APP_ID),
            (APP_CERTIFICATE, TEST_CERT),
            (CUSTOMER_ID, CUSTOMER),
            (CUSTOMER_SECRET, SECRET),
        ];
        for (k, v) in extra {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k, v));
        }
        pairs
    }

    #[test]
    fn nothing_set_is_unconfigured() {
        assert_eq!(outcome(from_env(&env_of(&[]))), "unconfigured");
        assert_eq!(outcome(from_env(&env_of(&[(APP_ID, " "), (CUSTOMER_SECRET, "")]))), "unconfigured");
    }

    #[test]
    fn partial_settings_name_what_is_missing() {
        // Token credentials without REST credentials: refused as a whole, not half-working.
        assert_eq!(
            outcome(from_env(&env_of(&[(APP_ID, TEST_APP_ID), (APP_CERTIFICATE, TEST_CERT)]))),
            "missing AGORA_CUSTOMER_ID, AGORA_CUSTOMER_SECRET"
        );
        assert_eq!(
            outcome(from_env(&env_of(&[(CUSTOMER_ID, CUSTOMER), (CUSTOMER_SECRET, SECRET)]))),
            "missing AGORA_APP_ID, AGORA_APP_CERTIFICATE"
        );
        assert_eq!(
            outcome(from_env(&env_of(&[(API_BASE, "https://api.agora.io")]))),
            "missing AGORA_APP_ID, AGORA_APP_CERTIFICATE, AGORA_CUSTOMER_ID, AGORA_CUSTOMER_SECRET"
        );
    }

    #[test]
    fn invalid_values_are_named_without_their_value() {
        let cases: [(&str, &str, &str); 7] = [
            (APP_ID, "970CA35de60c44645bbae8a215061b3", APP_ID_INVALID),
            (APP_ID, "970CA35de60c44645bbae8a215061b3z", APP_ID_INVALID),
            (APP_CERTIFICATE, "5CFd2fd1755d40ecb72977518be15d3bb", CERTIFICATE_INVALID),
            (CUSTOMER_ID, "id:with-colon", CUSTOMER_ID_INVALID),
            (API_BASE, "ftp://api.sd-rtn.com", API_BASE_INVALID),
            (API_BASE, "https:///no-host", API_BASE_INVALID),
            (API_BASE, "https://api.sd-rtn.com/?x=1", API_BASE_INVALID),
        ];
        for (name, value, expected) in cases {
            let why = outcome(from_env(&env_of(&full(&[(name, value)]))));
            assert_eq!(why, expected, "{name}={value}");
            assert!(!why.contains(value));
            assert!(!why.contains(SECRET) && !why.contains(TEST_CERT));
        }
        assert_eq!(APP_ID_INVALID, "AGORA_APP_ID must be 32 hex characters");
        assert_eq!(CERTIFICATE_INVALID, "AGORA_APP_CERTIFICATE must be 32 hex characters");
    }

    #[test]
    fn complete_settings_are_ready_with_default_or_custom_base() {
        let cfg = from_env(&env_of(&full(&[]))).ok().expect("ready");
        assert_eq!(cfg.api_base, DEFAULT_API_BASE);
        assert_eq!(
            (cfg.app_id.as_str(), cfg.customer_id.as_str(), cfg.customer_secret.as_str()),
            (TEST_APP_ID, CUSTOMER, SECRET)
        );

        let cfg = from_env(&env_of(&full(&[(API_BASE, "http://127.0.0.1:8787/agora/")]))).ok().expect("ready");
        assert_eq!(cfg.api_base, "http://127.0.0.1:8787/agora");
        let cfg = from_env(&env_of(&full(&[(API_BASE, "HTTPS://api.agora.io")]))).ok().expect("ready");
        assert_eq!(cfg.api_base, "HTTPS://api.agora.io");
    }

    #[test]
    fn debug_hides_secrets() {
        let dbg = format!("{:?}", from_env(&env_of(&full(&[]))).ok().expect("ready"));
        assert!(dbg.contains(TEST_APP_ID) && dbg.contains(CUSTOMER));
        assert!(!dbg.contains(SECRET) && !dbg.contains(TEST_CERT));
    }
}

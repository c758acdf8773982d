//! ZEGOCLOUD settings: which are present, and whether together they make a usable
//! configuration. Reasons name the setting and what is wrong with it, never its value.

use std::fmt;

use crate::config::{setting, EnvVars};
use crate::vendors::{required_settings, VendorState};

pub const APP_ID: &str = "ZEGO_APP_ID";
pub const SERVER_SECRET: &str = "ZEGO_SERVER_SECRET";
pub const API_BASE: &str = "ZEGO_API_BASE";
pub const RECORDING_API_BASE: &str = "ZEGO_RECORDING_API_BASE";

/// ZEGO's unified (region-independent) server API address (ZEGOCLOUD/docs_all
/// `core_products/real-time-voice-video/en/server/api-reference/accessing-server-apis.mdx`).
pub const DEFAULT_API_BASE: &str = "https://rtc-api.zego.im";
/// ZEGO Cloud Recording's unified address
/// (https://www.zegocloud.com/docs/cloud-recording-server/start-record).
pub const DEFAULT_RECORDING_API_BASE: &str = "https://cloudrecord-api.zego.im";

pub const APP_ID_INVALID: &str = "ZEGO_APP_ID must be a non-zero unsigned 32-bit integer";
pub const SECRET_INVALID: &str = "ZEGO_SERVER_SECRET must be exactly 32 ASCII characters";
pub const API_BASE_INVALID: &str = "ZEGO_API_BASE must be an http:// or https:// URL without query or fragment";
pub const RECORDING_API_BASE_INVALID: &str =
    "ZEGO_RECORDING_API_BASE must be an http:// or https:// URL without query or fragment";

/// A validated configuration.
#[derive(Clone, PartialEq)]
pub struct ZegoConfig {
    pub app_id: u32,
    pub server_secret: String,
    /// Scheme and host (maybe a path), without a trailing slash.
    pub api_base: String,
    /// Cloud Recording's base, likewise.
    pub recording_api_base: String,
}

// Hand-written so the secret can never reach a log line through `{:?}`.
impl fmt::Debug for ZegoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZegoConfig")
            .field("app_id", &self.app_id)
            .field("server_secret", &"<redacted>")
            .field("api_base", &self.api_base)
            .field("recording_api_base", &self.recording_api_base)
            .finish()
    }
}

/// Reads and validates the settings. `Err` is the state to report: `Unconfigured` when none
/// of the three settings is present, `Misconfigured` otherwise.
pub fn from_env(env: EnvVars<'_>) -> Result<ZegoConfig, VendorState> {
    let api_base = setting(env, API_BASE);
    let recording_api_base = setting(env, RECORDING_API_BASE);
    let values = required_settings(env, &[APP_ID, SERVER_SECRET], &[API_BASE, RECORDING_API_BASE])?;
    let misconfigured = |why: &str| VendorState::Misconfigured(why.to_owned());
    let app_id = parse_app_id(&values[0]).ok_or_else(|| misconfigured(APP_ID_INVALID))?;
    let server_secret = values[1].clone();
    if !is_valid_secret(&server_secret) {
        return Err(misconfigured(SECRET_INVALID));
    }
    let api_base = match api_base {
        None => DEFAULT_API_BASE.to_owned(),
        Some(base) => parse_api_base(&base).ok_or_else(|| misconfigured(API_BASE_INVALID))?,
    };
    let recording_api_base = match recording_api_base {
        None => DEFAULT_RECORDING_API_BASE.to_owned(),
        Some(base) => parse_api_base(&base).ok_or_else(|| misconfigured(RECORDING_API_BASE_INVALID))?,
    };
    Ok(ZegoConfig { app_id, server_secret, api_base, recording_api_base })
}

/// ZEGO AppIDs are uint32 and never 0 (token04 refuses 0).
fn parse_app_id(value: &str) -> Option<u32> {
    value.parse::<u32>().ok().filter(|id| *id != 0)
}

/// The secret's 32 ASCII bytes are both the AES-256 key of token04 and part of the API
/// signature, so anything else cannot be a ZEGO ServerSecret.
fn is_valid_secret(value: &str) -> bool {
    value.len() == 32 && value.is_ascii()
}

fn parse_api_base(value: &str) -> Option<String> {
    crate::vendors::transport::base_url(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::settings_tests::{env_of, outcome};

    const SECRET: &str = "9193cc662a4c0ec135ec71fb57194b38";

    #[test]
    fn nothing_set_is_unconfigured() {
        assert_eq!(outcome(from_env(&env_of(&[]))), "unconfigured");
        assert_eq!(outcome(from_env(&env_of(&[(APP_ID, "  "), (SERVER_SECRET, "")]))), "unconfigured");
    }

    #[test]
    fn partial_settings_name_what_is_missing() {
        assert_eq!(outcome(from_env(&env_of(&[(APP_ID, "12345")]))), "missing ZEGO_SERVER_SECRET");
        assert_eq!(outcome(from_env(&env_of(&[(SERVER_SECRET, SECRET)]))), "missing ZEGO_APP_ID");
        assert_eq!(
            outcome(from_env(&env_of(&[(API_BASE, "https://rtc-api-fra.zego.im")]))),
            "missing ZEGO_APP_ID, ZEGO_SERVER_SECRET"
        );
    }

    #[test]
    fn app_id_must_be_a_nonzero_u32() {
        for bad in ["0", "-1", "4294967296", "12a", "1.5"] {
            let got = outcome(from_env(&env_of(&[(APP_ID, bad), (SERVER_SECRET, SECRET)])));
            assert_eq!(got, APP_ID_INVALID, "{bad}");
        }
        let max = from_env(&env_of(&[(APP_ID, "4294967295"), (SERVER_SECRET, SECRET)])).ok().unwrap();
        assert_eq!(max.app_id, u32::MAX);
    }

    #[test]
    fn secret_must_be_32_ascii_characters_and_is_never_echoed() {
        let short = &SECRET[..31];
        let long = format!("{SECRET}0");
        let non_ascii = format!("{}é", &SECRET[..31]);
        for bad in [short, long.as_str(), non_ascii.as_str()] {
            let got = outcome(from_env(&env_of(&[(APP_ID, "12345"), (SERVER_SECRET, bad)])));
            assert_eq!(got, SECRET_INVALID);
            assert!(!got.contains(&bad[..8]));
        }
    }

    #[test]
    fn api_base_defaults_and_must_be_http() {
        let cfg = from_env(&env_of(&[(APP_ID, " 12345 "), (SERVER_SECRET, SECRET)])).ok().unwrap();
        assert_eq!((cfg.app_id, cfg.api_base.as_str()), (12345, DEFAULT_API_BASE));
        assert_eq!(cfg.server_secret, SECRET);

        let custom =
            from_env(&env_of(&[(APP_ID, "1"), (SERVER_SECRET, SECRET), (API_BASE, "http://127.0.0.1:9003/zego/")]));
        assert_eq!(custom.ok().unwrap().api_base, "http://127.0.0.1:9003/zego");
        let upper =
            from_env(&env_of(&[(APP_ID, "1"), (SERVER_SECRET, SECRET), (API_BASE, "HTTPS://rtc-api-sgp.zego.im")]));
        assert_eq!(upper.ok().unwrap().api_base, "HTTPS://rtc-api-sgp.zego.im");

        for bad in [
            "ftp://rtc-api.zego.im",
            "rtc-api.zego.im",
            "https://",
            "https:///x",
            "https://h/?a=1",
            "https://h/#x",
            "https://h /",
        ] {
            let got = outcome(from_env(&env_of(&[(APP_ID, "1"), (SERVER_SECRET, SECRET), (API_BASE, bad)])));
            assert_eq!(got, API_BASE_INVALID, "{bad}");
        }
    }

    #[test]
    fn recording_base_defaults_and_is_checked() {
        let cfg = from_env(&env_of(&[(APP_ID, "1"), (SERVER_SECRET, SECRET)])).ok().unwrap();
        assert_eq!(cfg.recording_api_base, DEFAULT_RECORDING_API_BASE);
        let custom = from_env(&env_of(&[
            (APP_ID, "1"),
            (SERVER_SECRET, SECRET),
            (RECORDING_API_BASE, "http://127.0.0.1:7882/"),
        ]));
        assert_eq!(custom.ok().unwrap().recording_api_base, "http://127.0.0.1:7882");
        let bad = from_env(&env_of(&[(APP_ID, "1"), (SERVER_SECRET, SECRET), (RECORDING_API_BASE, "ftp://x")]));
        assert_eq!(outcome(bad), RECORDING_API_BASE_INVALID);
        // The recording base alone is a partial configuration, not an absent one.
        assert_eq!(
            outcome(from_env(&env_of(&[(RECORDING_API_BASE, "https://cloudrecord-api.zego.im")]))),
            "missing ZEGO_APP_ID, ZEGO_SERVER_SECRET"
        );
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let cfg = ZegoConfig {
            app_id: 1,
            server_secret: SECRET.into(),
            api_base: DEFAULT_API_BASE.into(),
            recording_api_base: DEFAULT_RECORDING_API_BASE.into(),
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains(SECRET) && shown.contains("<redacted>"));
    }
}

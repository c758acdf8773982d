//! The LiveKit settings of a deployment: which server, and the API key pair that signs
//! every token. Parsing only; nothing here talks to the server.

use std::fmt;

use crate::config::EnvVars;
use crate::vendors::{required_settings, VendorState};

pub const URL: &str = "LIVEKIT_URL";
pub const API_KEY: &str = "LIVEKIT_API_KEY";
pub const API_SECRET: &str = "LIVEKIT_API_SECRET";

/// Validated settings. `Debug` leaves the secret out.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// The server's http(s) base URL, without a trailing slash (Twirp calls go below it).
    pub api_url: String,
    /// The same server as client SDKs dial it: ws(s) instead of http(s).
    pub client_url: String,
    pub api_key: String,
    pub api_secret: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("api_url", &self.api_url)
            .field("client_url", &self.client_url)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Unconfigured when no LIVEKIT_* setting is present; misconfigured (naming the setting,
    /// never its value) when one is missing or the URL is not an http(s) URL.
    pub fn from_env(env: EnvVars<'_>) -> Result<Settings, VendorState> {
        let values = required_settings(env, &[URL, API_KEY, API_SECRET], &[])?;
        let [url, api_key, api_secret]: [String; 3] = values
            .try_into()
            .map_err(|_| VendorState::Misconfigured(format!("missing {URL}, {API_KEY} or {API_SECRET}")))?;
        let api_url = api_url(&url).map_err(|why| VendorState::Misconfigured(format!("{URL} {why}")))?;
        let client_url = client_url(&api_url);
        Ok(Settings { api_url, client_url, api_key, api_secret })
    }
}

/// The server URL. A ws(s):// URL (what client SDKs take) here is a configuration mistake:
/// the Twirp API is plain HTTP.
fn api_url(raw: &str) -> Result<String, &'static str> {
    crate::vendors::transport::base_url(raw)
}

/// `http://…` → `ws://…`, `https://…` → `wss://…` (the rest unchanged).
pub fn client_url(api_url: &str) -> String {
    let (scheme, rest) = api_url.split_once("://").unwrap_or(("https", api_url));
    let ws = if scheme.eq_ignore_ascii_case("http") { "ws" } else { "wss" };
    format!("{ws}://{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::settings_tests::env_of;

    fn misconfigured(pairs: &'static [(&'static str, &'static str)]) -> String {
        match Settings::from_env(&env_of(pairs)) {
            Err(VendorState::Misconfigured(why)) => why,
            Err(VendorState::Unconfigured) => panic!("unconfigured"),
            Err(VendorState::Ready(_)) => panic!("ready"),
            Ok(s) => panic!("accepted {s:?}"),
        }
    }

    #[test]
    fn absent_settings_are_unconfigured() {
        assert!(matches!(Settings::from_env(&env_of(&[])), Err(VendorState::Unconfigured)));
        assert!(matches!(Settings::from_env(&env_of(&[(URL, "  ")])), Err(VendorState::Unconfigured)));
    }

    #[test]
    fn complete_settings_parse() {
        let s = Settings::from_env(&env_of(&[
            (URL, "https://my.livekit.cloud/"),
            (API_KEY, "APIkey"),
            (API_SECRET, "s3cr3t"),
        ]))
        .ok()
        .expect("valid settings");
        assert_eq!(s.api_url, "https://my.livekit.cloud");
        assert_eq!(s.client_url, "wss://my.livekit.cloud");
        assert_eq!((s.api_key.as_str(), s.api_secret.as_str()), ("APIkey", "s3cr3t"));
        assert!(!format!("{s:?}").contains("s3cr3t"));

        let local = Settings::from_env(&env_of(&[(URL, "http://127.0.0.1:7880"), (API_KEY, "k"), (API_SECRET, "s")]))
            .ok()
            .expect("valid settings");
        assert_eq!(local.client_url, "ws://127.0.0.1:7880");
    }

    #[test]
    fn missing_or_wrong_settings_are_misconfigured_without_values() {
        assert_eq!(misconfigured(&[(URL, "https://h"), (API_KEY, "k")]), "missing LIVEKIT_API_SECRET");
        for bad in [
            "wss://h.livekit.cloud",
            "ws://h",
            "h.livekit.cloud",
            "ftp://h",
            "https://",
            "https:///x",
            "https://u:p@h",
            "https://h?x=1",
            "https://h /x",
        ] {
            let pairs: &'static [(&str, &str)] =
                Box::leak(vec![(URL, bad), (API_KEY, "k"), (API_SECRET, "topsecret")].into_boxed_slice());
            let why = misconfigured(pairs);
            assert!(why.starts_with("LIVEKIT_URL "), "{bad}: {why}");
            assert!(!why.contains("topsecret"), "{bad}: {why}");
        }
    }

    #[test]
    fn client_url_swaps_the_scheme_only() {
        assert_eq!(client_url("https://h:443/base"), "wss://h:443/base");
        assert_eq!(client_url("HTTP://h"), "ws://h");
    }
}

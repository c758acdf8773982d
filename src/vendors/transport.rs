//! Sending a request to a vendor and reading its JSON answer, with the failure modes every
//! vendor shares (timeout, unreachable, 5xx, a body that is not JSON) classified once.

use serde_json::Value;

use super::{VendorError, VendorFailure};
use crate::config::{setting, EnvVars};
use crate::runtime::{OutboundRequest, OutboundResponse, Runtime};

/// Vendor calls that take longer than this fail with VENDOR_TIMEOUT.
pub const DEFAULT_TIMEOUT_MS: u64 = 8_000;

/// The most of a vendor's answer that is read: far above any answer a vendor documents (room
/// and participant lists, recording states), so that no answer is unbounded.
pub const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// `VENDOR_TIMEOUT_MS` (100 ms … 60 s) or the default.
pub fn timeout_from_env(env: EnvVars<'_>) -> u64 {
    setting(env, "VENDOR_TIMEOUT_MS")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| (100..=60_000).contains(ms))
        .unwrap_or(DEFAULT_TIMEOUT_MS)
}

pub async fn send(
    rt: &Runtime,
    vendor: &'static str,
    request: OutboundRequest,
) -> Result<OutboundResponse, VendorError> {
    rt.http.send(request).await.map_err(|e| VendorError::from_http(vendor, e))
}

/// Parses a body the vendor documents as JSON; anything else means the vendor is broken.
pub fn json_body(vendor: &'static str, response: &OutboundResponse) -> Result<Value, VendorError> {
    serde_json::from_slice(&response.body).map_err(|_| {
        VendorError::new(
            vendor,
            VendorFailure::ServerError,
            format!("unreadable answer (HTTP {}, {} bytes)", response.status, response.body.len()),
        )
    })
}

/// `Retry-After` in whole seconds, when the vendor sent one.
pub fn retry_after(response: &OutboundResponse) -> Option<u64> {
    response.header("retry-after").and_then(|v| v.trim().parse().ok())
}

pub fn json_request(
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<&Value>,
    timeout_ms: u64,
) -> OutboundRequest {
    let mut headers = headers;
    if body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    OutboundRequest {
        method,
        url,
        headers,
        body: body.map(|b| serde_json::to_vec(b).expect("a Value always serializes")),
        timeout_ms,
        max_response_bytes: MAX_RESPONSE_BYTES,
    }
}

/// Checks a vendor base URL setting and drops a trailing slash: http or https only (vendor
/// server APIs are plain HTTP), a host without user info, and no spaces, query or fragment
/// (request paths and signed queries are appended to it).
pub fn base_url(raw: &str) -> Result<String, &'static str> {
    const NEEDS: &str = "must be an http:// or https:// base URL";
    let (scheme, rest) = raw.split_once("://").ok_or(NEEDS)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(NEEDS);
    }
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        return Err("must name a host (and no user info)");
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) || raw.contains(['?', '#']) {
        return Err("must not contain spaces, a query or a fragment");
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// Joins a base URL and a path without doubling or dropping the slash.
pub fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_cleanly() {
        assert_eq!(join_url("http://h:1/", "/twirp/x"), "http://h:1/twirp/x");
        assert_eq!(join_url("http://h:1", "twirp/x"), "http://h:1/twirp/x");
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(base_url("https://api.example.com/"), Ok("https://api.example.com".to_owned()));
        assert_eq!(base_url("HTTP://127.0.0.1:8080/x"), Ok("HTTP://127.0.0.1:8080/x".to_owned()));
        for bad in ["ws://h", "h", "https://", "https://u:p@h", "https://h/?q", "https://h/#f", "https://h /"] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timeout_setting_is_bounded() {
        assert_eq!(timeout_from_env(&|_| Some("250".into())), 250);
        assert_eq!(timeout_from_env(&|_| Some("5".into())), DEFAULT_TIMEOUT_MS);
        assert_eq!(timeout_from_env(&|_| Some("x".into())), DEFAULT_TIMEOUT_MS);
        assert_eq!(timeout_from_env(&|_| None), DEFAULT_TIMEOUT_MS);
    }
}

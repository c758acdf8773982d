//! What can go wrong in a vendor call, and how each failure reads to our clients.
//! Vendor bodies are summarized here, never forwarded: at most the vendor's request id and
//! its error code travel on, as details.

use crate::error::{ApiError, ErrorCode};
use crate::runtime::HttpError;

#[derive(Clone, Debug, PartialEq)]
pub enum VendorFailure {
    /// No answer within the call's timeout.
    Timeout,
    /// Connection refused/reset, DNS, TLS.
    Unreachable,
    /// 5xx, or a body that is not what the vendor documents.
    ServerError,
    /// The vendor refused our credentials (401/403, bad signature).
    AuthFailed,
    /// Slow down; seconds to wait when the vendor said.
    RateLimited { retry_after_s: Option<u64> },
    /// The room / participant / recording does not exist at the vendor.
    NotFound,
    /// The vendor refused the request as invalid or in the wrong state.
    Rejected,
    /// The vendor offers this, but not to this app until the vendor enables it (ZEGO's
    /// forbid rules: `Code 9`); `what` says what, for the client.
    NotEnabled { what: &'static str },
}

#[derive(Clone, Debug, PartialEq)]
pub struct VendorError {
    pub vendor: &'static str,
    pub failure: VendorFailure,
    /// A short description for logs and the client message; never credentials or raw bodies.
    pub summary: String,
    pub vendor_request_id: Option<String>,
    pub vendor_code: Option<String>,
}

impl VendorError {
    pub fn new(vendor: &'static str, failure: VendorFailure, summary: impl Into<String>) -> Self {
        VendorError { vendor, failure, summary: summary.into(), vendor_request_id: None, vendor_code: None }
    }

    pub fn from_http(vendor: &'static str, e: HttpError) -> Self {
        match e {
            HttpError::Timeout => VendorError::new(vendor, VendorFailure::Timeout, "no answer in time"),
            HttpError::Unreachable(why) => {
                VendorError::new(vendor, VendorFailure::Unreachable, format!("unreachable: {why}"))
            }
            // An answer past the cap is no answer a vendor documents: a broken vendor.
            HttpError::TooLarge { status } => VendorError::new(
                vendor,
                VendorFailure::ServerError,
                format!("answer longer than {} bytes (HTTP {status})", crate::vendors::transport::MAX_RESPONSE_BYTES),
            ),
        }
    }

    /// A status code that says nothing more specific.
    pub fn from_status(vendor: &'static str, status: u16) -> Self {
        let failure = match status {
            401 | 403 => VendorFailure::AuthFailed,
            404 => VendorFailure::NotFound,
            429 => VendorFailure::RateLimited { retry_after_s: None },
            500..=599 => VendorFailure::ServerError,
            _ => VendorFailure::Rejected,
        };
        VendorError::new(vendor, failure, format!("HTTP {status}"))
    }

    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        self.vendor_request_id = id.filter(|s| !s.is_empty() && s.len() <= 128);
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.vendor_code = Some(code.into());
        self
    }

    /// Whether this failure says the vendor is unhealthy (feeds the circuit breaker) rather
    /// than that this one request was wrong.
    pub fn is_outage(&self) -> bool {
        matches!(self.failure, VendorFailure::Timeout | VendorFailure::Unreachable | VendorFailure::ServerError)
    }

    /// The client's view. The summary may quote the vendor's own error text, so it is kept
    /// as the error's cause, for the log only; the client gets our wording, the vendor's error
    /// code and request id.
    pub fn to_api_error(&self) -> ApiError {
        let v = self.vendor;
        let err = match &self.failure {
            VendorFailure::Timeout => ApiError::new(ErrorCode::VendorTimeout, format!("{v} did not answer in time")),
            VendorFailure::Unreachable => {
                ApiError::new(ErrorCode::VendorUnavailable, format!("{v} could not be reached")).with_status(502)
            }
            VendorFailure::ServerError => ApiError::new(
                ErrorCode::VendorUnavailable,
                format!("{v} is unavailable (it failed or answered unreadably)"),
            )
            .with_status(502),
            VendorFailure::AuthFailed => ApiError::new(
                ErrorCode::VendorAuthFailed,
                format!("{v} refused rtcgate's credentials; check the {} settings", v.to_ascii_uppercase()),
            ),
            VendorFailure::RateLimited { retry_after_s } => {
                ApiError::new(ErrorCode::VendorRateLimited, format!("{v} is rate limiting requests; retry later"))
                    .with_header("Retry-After", retry_after_s.unwrap_or(1).to_string())
            }
            VendorFailure::NotFound => ApiError::new(ErrorCode::RoomNotFound, format!("{v} does not know it")),
            VendorFailure::Rejected => ApiError::new(ErrorCode::VendorRejected, format!("{v} rejected the request")),
            VendorFailure::NotEnabled { what } => {
                ApiError::new(ErrorCode::UnsupportedByVendor, format!("{what} are not enabled for this {v} app"))
            }
        };
        let mut err = err.with_detail("vendor", v).with_cause(format!("{v}: {:?}: {}", self.failure, self.summary));
        if let Some(id) = &self.vendor_request_id {
            err = err.with_detail("vendor_request_id", id.as_str());
        }
        if let Some(code) = &self.vendor_code {
            err = err.with_detail("vendor_code", code.as_str());
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_stable_codes() {
        let cases = [
            (401, ErrorCode::VendorAuthFailed, 502),
            (403, ErrorCode::VendorAuthFailed, 502),
            (429, ErrorCode::VendorRateLimited, 503),
            (500, ErrorCode::VendorUnavailable, 502),
            (503, ErrorCode::VendorUnavailable, 502),
            (400, ErrorCode::VendorRejected, 502),
        ];
        for (status, code, http) in cases {
            let e = VendorError::from_status("livekit", status).to_api_error();
            assert_eq!((e.code, e.status()), (code, http), "{status}");
            assert_eq!(e.details["vendor"], "livekit");
        }
        let t = VendorError::from_http("zego", HttpError::Timeout).to_api_error();
        assert_eq!((t.code, t.status()), (ErrorCode::VendorTimeout, 504));
        let r = VendorError::from_status("agora", 429).to_api_error();
        assert!(r.headers.iter().any(|(k, v)| k == "Retry-After" && v == "1"));
    }

    #[test]
    fn vendor_text_never_reaches_the_client() {
        for failure in
            [VendorFailure::ServerError, VendorFailure::Rejected, VendorFailure::Unreachable, VendorFailure::AuthFailed]
        {
            let e = VendorError::new("livekit", failure, "unavailable: internal detail host=10.1.2.3")
                .with_code("unavailable")
                .with_request_id(Some("req-9".into()))
                .to_api_error();
            let text = e.envelope("r").to_string();
            assert!(!text.contains("internal detail") && !text.contains("10.1.2.3"), "{text}");
            assert_eq!(
                (e.details["vendor_code"].as_str(), e.details["vendor_request_id"].as_str()),
                (Some("unavailable"), Some("req-9"))
            );
        }
    }

    #[test]
    fn outages_are_distinguished_from_bad_requests() {
        assert!(VendorError::from_status("x", 502).is_outage());
        assert!(VendorError::from_http("x", HttpError::Unreachable("refused".into())).is_outage());
        assert!(!VendorError::from_status("x", 400).is_outage());
        assert!(!VendorError::from_status("x", 401).is_outage());
    }
}

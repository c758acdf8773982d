//! Limits a tenant can see: the per-key rate limit and the per-project quotas.
//!
//! The rate limit is Cloudflare's Rate Limiting binding (`RATE_LIMITER` in `wrangler.toml`),
//! keyed by the API key's id. The binding knows its own `limit`/`period` and reports neither,
//! so the Worker is told them again through `RATE_LIMIT_REQUESTS` / `RATE_LIMIT_PERIOD_S`
//! (a test holds the two to agree) to report them and to derive `Retry-After`.
//! Every API-key route is limited. Health and the OpenAPI document carry no key and cost
//! nothing; vendor events come from the vendors (a 429 would only make them retry and
//! duplicate); admin routes are the operator's own.
//! A limiter that cannot answer (binding missing, platform error) lets the request through and
//! logs one line per isolate: the limit protects the shared service from one tenant, and an
//! outage of the limiter must not become an outage of every tenant.
//!
//! Quotas are enforced where rows are created, by the insert itself
//! (`INSERT … SELECT … WHERE (SELECT COUNT(*) …) < limit`, see `store::quotas`), so concurrent
//! creates cannot overshoot.

use std::cell::Cell;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::Runtime;
use crate::vendors::{setting, EnvVars};

/// The Rate Limiting binding's name in `wrangler.toml`.
pub const RATE_LIMITER_BINDING: &str = "RATE_LIMITER";
/// Default: a flash crowd of 3000 joins in ten seconds is served, while one runaway key is held
/// to ~300 requests a second, well within what the shared D1 and vendor accounts absorb.
pub const DEFAULT_RATE_REQUESTS: u32 = 3000;
pub const DEFAULT_RATE_PERIOD_S: u32 = 10;
/// The periods the binding accepts.
pub const RATE_PERIODS_S: [u32; 2] = [10, 60];
/// The largest quota a var may set (the counts stay cheap index walks below it).
pub const MAX_QUOTA: u32 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub period_s: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    LiveRooms,
    Webhooks,
    RecordingDestinations,
    ConcurrentRecordings,
}

impl Quota {
    pub const ALL: [Quota; 4] =
        [Quota::LiveRooms, Quota::Webhooks, Quota::RecordingDestinations, Quota::ConcurrentRecordings];

    /// Its name in `/v1/rtc/limits` and in `QUOTA_EXCEEDED`'s `quota`.
    pub fn name(self) -> &'static str {
        match self {
            Quota::LiveRooms => "live_rooms",
            Quota::Webhooks => "webhooks",
            Quota::RecordingDestinations => "recording_destinations",
            Quota::ConcurrentRecordings => "concurrent_recordings",
        }
    }

    /// The Worker var that overrides the default.
    pub fn var(self) -> &'static str {
        match self {
            Quota::LiveRooms => "QUOTA_LIVE_ROOMS",
            Quota::Webhooks => "QUOTA_WEBHOOKS",
            Quota::RecordingDestinations => "QUOTA_RECORDING_DESTINATIONS",
            Quota::ConcurrentRecordings => "QUOTA_CONCURRENT_RECORDINGS",
        }
    }

    /// Defaults, per project: rooms are cheap records, but each live one is a vendor room and
    /// an isolate cache entry; every event fans out to every webhook endpoint (Stripe allows 16);
    /// a destination is a set of sealed credentials read on each start; a recording is a
    /// vendor recorder (a LiveKit egress is a headless browser), the most expensive of all.
    pub fn default_limit(self) -> u32 {
        match self {
            Quota::LiveRooms => 1000,
            Quota::Webhooks => 20,
            Quota::RecordingDestinations => 20,
            Quota::ConcurrentRecordings => 50,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The deployment's limits, read once per isolate.
pub struct Limits {
    pub rate: RateLimit,
    quotas: [u32; 4],
    /// Whether this isolate has logged that its limiter could not answer.
    limiter_failure_logged: Cell<bool>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_env(&|_| None)
    }
}

impl Limits {
    pub fn from_env(env: EnvVars<'_>) -> Limits {
        let requests = number(env, "RATE_LIMIT_REQUESTS", 1, u32::MAX, DEFAULT_RATE_REQUESTS);
        let period_s = match number(env, "RATE_LIMIT_PERIOD_S", 1, u32::MAX, DEFAULT_RATE_PERIOD_S) {
            p if RATE_PERIODS_S.contains(&p) => p,
            p => {
                crate::log::warn(&format!(
                    "RATE_LIMIT_PERIOD_S={p} is not a period the Rate Limiting binding accepts (10 or 60); \
                     using {DEFAULT_RATE_PERIOD_S}"
                ));
                DEFAULT_RATE_PERIOD_S
            }
        };
        Limits {
            rate: RateLimit { requests, period_s },
            quotas: Quota::ALL.map(|q| number(env, q.var(), 0, MAX_QUOTA, q.default_limit())),
            limiter_failure_logged: Cell::new(false),
        }
    }

    pub fn quota(&self, quota: Quota) -> u32 {
        self.quotas[quota.index()]
    }
}

/// A whole number var in `min..=max`; anything else is logged and the default used.
fn number(env: EnvVars<'_>, name: &str, min: u32, max: u32, default: u32) -> u32 {
    let Some(raw) = setting(env, name) else { return default };
    match raw.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => n,
        _ => {
            crate::log::warn(&format!("{name}='{raw}' is not a whole number in {min}..={max}; using {default}"));
            default
        }
    }
}

/// `422 QUOTA_EXCEEDED` for a create that would take the project past `quota`.
pub fn quota_exceeded(quota: Quota, limit: u32) -> ApiError {
    ApiError::new(
        ErrorCode::QuotaExceeded,
        format!("this project has reached its {} quota ({limit}); free one before creating another", quota.name()),
    )
    .with_detail("quota", quota.name())
    .with_detail("limit", limit)
}

/// Counts one request of API key `key_id`: `429 RATE_LIMITED` over the limit. The binding
/// does not say when its window ends, so `Retry-After` is the whole period (never too early).
pub async fn check_rate(limits: &Limits, rt: &Runtime, key_id: &str) -> ApiResult<()> {
    match rt.limiter.allow(key_id).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            let RateLimit { requests, period_s } = limits.rate;
            Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("this API key is limited to {requests} requests per {period_s} s; retry later"),
            )
            .with_detail("requests", requests)
            .with_detail("period_s", period_s)
            .with_header("Retry-After", period_s.to_string()))
        }
        Err(e) => {
            if !limits.limiter_failure_logged.replace(true) {
                crate::log::error(&format!("rate limiter unavailable, requests are not rate limited: {e}"));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(vars: &[(&str, &str)]) -> Limits {
        Limits::from_env(&|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn vars_override_defaults_and_bad_values_fall_back() {
        let l = limits(&[]);
        assert_eq!(l.rate, RateLimit { requests: DEFAULT_RATE_REQUESTS, period_s: DEFAULT_RATE_PERIOD_S });
        assert_eq!(Quota::ALL.map(|q| l.quota(q)), [1000, 20, 20, 50]);

        let l = limits(&[
            ("RATE_LIMIT_REQUESTS", "5"),
            ("RATE_LIMIT_PERIOD_S", "60"),
            ("QUOTA_LIVE_ROOMS", "3"),
            ("QUOTA_WEBHOOKS", "0"),
        ]);
        assert_eq!(l.rate, RateLimit { requests: 5, period_s: 60 });
        assert_eq!((l.quota(Quota::LiveRooms), l.quota(Quota::Webhooks)), (3, 0));

        let l = limits(&[
            ("RATE_LIMIT_REQUESTS", "0"),
            ("RATE_LIMIT_PERIOD_S", "30"),
            ("QUOTA_LIVE_ROOMS", "lots"),
            ("QUOTA_WEBHOOKS", "-2"),
            ("QUOTA_RECORDING_DESTINATIONS", "1000001"),
        ]);
        assert_eq!(l.rate, RateLimit { requests: DEFAULT_RATE_REQUESTS, period_s: DEFAULT_RATE_PERIOD_S });
        assert_eq!(Quota::ALL.map(|q| l.quota(q)), [1000, 20, 20, 50]);
    }

    #[test]
    fn quota_exceeded_names_the_quota_and_its_limit() {
        let e = quota_exceeded(Quota::Webhooks, 7);
        assert_eq!((e.status(), e.code.as_str()), (422, "QUOTA_EXCEEDED"));
        assert_eq!((e.details["quota"].as_str(), e.details["limit"].as_u64()), (Some("webhooks"), Some(7)));
    }
}

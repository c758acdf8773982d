//! Limits a tenant can see: the per-key rate limit and the per-project quotas.
//!
//! The rate limit is Cloudflare's Rate Limiting binding (`RATE_LIMITER` in `wrangler.toml`),
//! keyed by the API key's id. The binding knows its own `limit`/`period` and reports neither,
//! so the Worker is told them again through `RATE_LIMIT_REQUESTS` / `RATE_LIMIT_PERIOD_S`
//! (a test holds the two to agree) to report them and to derive `Retry-After`.
//! Every API-key route is limited. Health and the OpenAPI document carry no key and cost
//! nothing; vendor events come from the vendors (a 429 would only make them retry and
//! duplicate); admin routes are the operator's own.
//!
//! The limiter decides the next request, not this one: waiting for the binding's verdict would
//! turn every warm token (answered synchronously otherwise) into a promise. So a request is
//! refused at once only when this isolate holds a block for its key (`429`, `Retry-After` the
//! seconds left of the block); otherwise it is counted — the binding is called, its verdict not
//! awaited — and proceeds. The verdict arrives after the response and is handed back by the
//! limiter on a later count in the isolate (`RateLimiter::count`): every request is counted by
//! the binding exactly once, and no task is scheduled for it on the hot path. A key found over
//! its limit is blocked in the isolate for a whole period (the binding does not say when its
//! window ends: a full period is the conservative bound), so it is refused from the next request
//! after the verdict arrives, for at most one period. The overshoot: the requests of that key
//! that were already counted when the binding first said no are served. The blocks live in
//! isolate memory, at most `MAX_BLOCKED_KEYS` of them (oldest dropped first), expired ones
//! dropped lazily.
//! A limiter that cannot answer (binding missing, platform error) lets the request through and
//! logs one line per isolate: the limit protects the shared service from one tenant, and an
//! outage of the limiter must not become an outage of every tenant.
//!
//! Quotas are enforced where rows are created, by the insert itself
//! (`INSERT … SELECT … WHERE (SELECT COUNT(*) …) < limit`, see `store::quotas`), so concurrent
//! creates cannot overshoot.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

use crate::config::{setting, EnvVars};
use crate::domain::limits::Quota;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::runtime::Runtime;

/// The Rate Limiting binding's name in `wrangler.toml`.
pub const RATE_LIMITER_BINDING: &str = "RATE_LIMITER";
/// Default: a flash crowd of 3000 joins in ten seconds is served, while one runaway key is held
/// to ~300 requests a second, well within what the shared D1 and vendor accounts absorb.
pub const DEFAULT_RATE_REQUESTS: u32 = 3000;
pub const DEFAULT_RATE_PERIOD_S: u32 = 10;
/// The periods the binding accepts.
pub const RATE_PERIODS_S: [u32; 2] = [10, 60];
/// The most keys one isolate holds blocked at once (a block costs tens of bytes); past it the
/// oldest block is dropped (its key is then asked of the binding again, and blocked again).
pub const MAX_BLOCKED_KEYS: usize = 4096;
/// The largest quota a var may set (the counts stay cheap index walks below it).
pub const MAX_QUOTA: u32 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub period_s: u32,
}

/// The deployment's limits, read once per isolate.
pub struct Limits {
    pub rate: RateLimit,
    quotas: [u32; Quota::ALL.len()],
    /// The keys the binding said no to.
    blocks: RefCell<Blocks>,
    /// Whether this isolate has logged that its limiter could not answer.
    failure_logged: Cell<bool>,
}

/// Blocked keys → the end of their block (ms since the epoch), bounded by `MAX_BLOCKED_KEYS`.
/// Blocks are all one period long, so insertion order is expiry order: `order` is oldest first
/// and may hold stale entries of a key blocked again (skipped when they come out).
#[derive(Default)]
struct Blocks {
    until: HashMap<String, u64>,
    order: VecDeque<(String, u64)>,
}

impl Blocks {
    /// The end of `key`'s block when it is still running; an expired block is dropped.
    fn blocked_until(&mut self, key: &str, now_ms: u64) -> Option<u64> {
        match self.until.get(key) {
            Some(&until) if until > now_ms => Some(until),
            Some(_) => {
                self.until.remove(key);
                None
            }
            None => None,
        }
    }

    fn block(&mut self, key: &str, until_ms: u64, now_ms: u64) {
        while let Some((_, front_until)) = self.order.front() {
            if *front_until > now_ms && self.order.len() < MAX_BLOCKED_KEYS {
                break;
            }
            let (k, u) = self.order.pop_front().expect("a front");
            if self.until.get(&k) == Some(&u) {
                self.until.remove(&k);
            }
        }
        self.until.insert(key.to_owned(), until_ms);
        self.order.push_back((key.to_owned(), until_ms));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.until.len()
    }
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
            blocks: RefCell::default(),
            failure_logged: Cell::new(false),
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

/// Counts one request of API key `key_id` without waiting for the limiter: `429 RATE_LIMITED`
/// when this isolate holds a block for the key (`Retry-After` the seconds left of it, at least 1);
/// otherwise the request is counted, the verdicts that arrived since the last count block their
/// keys here for a whole period (see the module doc), and the request proceeds unless one of them
/// was its own key's.
pub fn check_rate(limits: &Limits, rt: &Runtime, key_id: &str) -> ApiResult<()> {
    let now_ms = rt.now_ms();
    let mut blocks = limits.blocks.borrow_mut();
    if blocks.blocked_until(key_id, now_ms).is_none() {
        let learned = rt.limiter.count(key_id);
        let until_ms = now_ms + u64::from(limits.rate.period_s) * 1000;
        for key in &learned.over_limit {
            blocks.block(key, until_ms, now_ms);
        }
        if let Some(e) = learned.failure {
            if !limits.failure_logged.replace(true) {
                crate::log::error(&format!("rate limiter unavailable, requests are not rate limited: {e}"));
            }
        }
    }
    // Blocked before, or by a verdict this count brought back.
    let Some(until_ms) = blocks.blocked_until(key_id, now_ms) else { return Ok(()) };
    let RateLimit { requests, period_s } = limits.rate;
    let retry_after_s = (until_ms - now_ms).div_ceil(1000).max(1);
    Err(ApiError::new(
        ErrorCode::RateLimited,
        format!("this API key is limited to {requests} requests per {period_s} s; retry later"),
    )
    .with_detail("requests", requests)
    .with_detail("period_s", period_s)
    .with_header("Retry-After", retry_after_s.to_string()))
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
        assert_eq!(Quota::ALL.map(|q| l.quota(q)), [1000, 20, 20, 50, 10_000, 10_000, 10]);

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
        assert_eq!(Quota::ALL.map(|q| l.quota(q)), [1000, 20, 20, 50, 10_000, 10_000, 10]);
    }

    #[test]
    fn blocks_expire_lazily_and_are_bounded_oldest_first() {
        let mut b = Blocks::default();
        b.block("a", 10_000, 0);
        assert_eq!(b.blocked_until("a", 9_999), Some(10_000));
        assert_eq!(b.blocked_until("a", 10_000), None, "a block ends at its until");
        assert_eq!(b.len(), 0, "and is dropped when seen expired");
        for i in 0..MAX_BLOCKED_KEYS + 10 {
            b.block(&format!("k{i}"), 20_000 + i as u64, 1_000);
        }
        assert_eq!(b.len(), MAX_BLOCKED_KEYS);
        assert_eq!(b.blocked_until("k0", 1_000), None, "the oldest blocks were dropped");
        assert_eq!(b.blocked_until("k9", 1_000), None);
        assert!(b.blocked_until("k10", 1_000).is_some());
        // Expired blocks leave as soon as another key is blocked.
        b.block("late", 60_000, 30_000);
        assert_eq!((b.len(), b.order.len()), (1, 1));
        // A key blocked again keeps its latest block.
        b.block("late", 70_000, 31_000);
        assert_eq!(b.blocked_until("late", 65_000), Some(70_000));
    }

    #[test]
    fn a_request_never_waits_for_its_verdict_and_a_no_blocks_the_next_for_a_period() {
        use crate::native::NativeRuntime;
        let native = NativeRuntime::new(1_000_000);
        native.limiter.configure(1, 10);
        let rt = &native.runtime;
        let l = limits(&[("RATE_LIMIT_REQUESTS", "1"), ("RATE_LIMIT_PERIOD_S", "10")]);
        for i in 0..2 {
            assert!(check_rate(&l, rt, "key").is_ok(), "request {i}: the verdict is not awaited");
            assert_eq!(native.limiter.calls(), i + 1, "request {i} is counted");
        }
        // The second count was over the limit; its verdict comes back with the next count (of
        // any key), and blocks the key from then on.
        native.clock.advance_ms(2_500);
        assert!(check_rate(&l, rt, "other").is_ok());
        let e = check_rate(&l, rt, "key").unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (429, "RATE_LIMITED"));
        assert!(e.headers.iter().any(|(k, v)| k == "Retry-After" && v == "10"), "{:?}", e.headers);
        assert_eq!(native.limiter.calls(), 3, "a blocked request is not counted");
        native.clock.advance_ms(9_999);
        assert!(check_rate(&l, rt, "key").is_err());
        native.clock.advance_ms(1);
        assert!(check_rate(&l, rt, "key").is_ok(), "the block lasts one period");
    }

    #[test]
    fn a_verdict_brought_back_by_the_keys_own_count_refuses_that_request() {
        use crate::native::NativeRuntime;
        let native = NativeRuntime::new(1_000_000);
        native.limiter.configure(1, 10);
        let rt = &native.runtime;
        let l = limits(&[("RATE_LIMIT_REQUESTS", "1"), ("RATE_LIMIT_PERIOD_S", "10")]);
        assert!(check_rate(&l, rt, "key").is_ok());
        assert!(check_rate(&l, rt, "key").is_ok(), "over the limit; the verdict is not awaited");
        let e = check_rate(&l, rt, "key").unwrap_err();
        assert_eq!(e.code.as_str(), "RATE_LIMITED", "refused by the verdict its own count brought back");
        assert_eq!(native.limiter.calls(), 3);
        assert!(check_rate(&l, rt, "key").is_err());
        assert_eq!(native.limiter.calls(), 3, "and then no longer counted");
    }
}

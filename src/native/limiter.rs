//! The Rate Limiting binding natively: a fixed-window counter per key on the manual clock,
//! windows aligned to multiples of the period as Cloudflare's are, so tests can exercise
//! 429s and the next window. Its calls are counted apart from the storage round trips.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use async_trait::async_trait;

use super::ManualClock;
use crate::api::limits::{DEFAULT_RATE_PERIOD_S, DEFAULT_RATE_REQUESTS};
use crate::runtime::{Clock, RateLimiter};

pub struct FixedWindowLimiter {
    clock: Rc<ManualClock>,
    requests: Cell<u32>,
    period_ms: Cell<u64>,
    /// Key → (start of its current window, requests counted in it).
    windows: RefCell<HashMap<String, (u64, u32)>>,
    /// While set, every call fails as a missing binding would.
    failing: Cell<bool>,
    /// Calls made, answered or not.
    calls: Cell<u32>,
}

impl FixedWindowLimiter {
    /// A limiter with the deployment's defaults (`wrangler.toml`'s `[[ratelimits]]`).
    pub fn new(clock: Rc<ManualClock>) -> Self {
        FixedWindowLimiter {
            clock,
            requests: Cell::new(DEFAULT_RATE_REQUESTS),
            period_ms: Cell::new(u64::from(DEFAULT_RATE_PERIOD_S) * 1000),
            windows: RefCell::default(),
            failing: Cell::new(false),
            calls: Cell::new(0),
        }
    }

    /// `requests` per `period_s` from now on (the counts so far are kept).
    pub fn configure(&self, requests: u32, period_s: u32) {
        self.requests.set(requests);
        self.period_ms.set(u64::from(period_s.max(1)) * 1000);
    }

    /// Makes every call fail (`true`) or answer again (`false`).
    pub fn fail(&self, failing: bool) {
        self.failing.set(failing);
    }

    /// Calls made so far.
    pub fn calls(&self) -> u32 {
        self.calls.get()
    }
}

#[async_trait(?Send)]
impl RateLimiter for FixedWindowLimiter {
    async fn allow(&self, key: &str) -> Result<bool, String> {
        self.calls.set(self.calls.get() + 1);
        if self.failing.get() {
            return Err("binding RATE_LIMITER: not configured (injected by the test)".into());
        }
        let period = self.period_ms.get();
        let window = self.clock.now_ms() / period * period;
        let mut windows = self.windows.borrow_mut();
        let entry = windows.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        Ok(entry.1 <= self.requests.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::block_on;

    #[test]
    fn counts_per_key_in_fixed_windows() {
        let clock = Rc::new(ManualClock::new(1_000_005_000));
        let limiter = FixedWindowLimiter::new(clock.clone());
        limiter.configure(2, 10);
        let allow = |key: &str| block_on(limiter.allow(key)).unwrap();
        assert_eq!([allow("a"), allow("a"), allow("a")], [true, true, false]);
        assert!(allow("b"), "another key has its own count");
        // The window started at ...000 000: five seconds in, the next one starts in five.
        clock.advance_ms(4_999);
        assert!(!allow("a"));
        clock.advance_ms(1);
        assert_eq!([allow("a"), allow("a"), allow("a")], [true, true, false]);
        limiter.fail(true);
        assert!(block_on(limiter.allow("a")).is_err());
        assert_eq!(limiter.calls(), 9, "every call counts, answered or not");
    }
}

//! The Rate Limiting binding natively: a fixed-window counter per key on the manual clock,
//! windows aligned to multiples of the period as Cloudflare's are, so tests can exercise
//! 429s and the next window. Its calls are counted apart from the storage round trips.
//! Like the binding's, a count's verdict is not known to the request that made it: a key found
//! over its limit is handed back by the next call, as the Worker learns of it after the response.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use super::ManualClock;
use crate::api::limits::{DEFAULT_RATE_PERIOD_S, DEFAULT_RATE_REQUESTS};
use crate::runtime::{Clock, RateLimiter, RateVerdicts};

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
    /// Verdicts not yet handed back.
    pending: RefCell<RateVerdicts>,
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
            pending: RefCell::default(),
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

impl FixedWindowLimiter {
    /// Counts one request of `key` in its window: `Ok(true)` within the limit.
    fn count_now(&self, key: &str) -> Result<bool, String> {
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

impl RateLimiter for FixedWindowLimiter {
    fn count(&self, key: &str) -> RateVerdicts {
        self.calls.set(self.calls.get() + 1);
        let learned = self.pending.take();
        match self.count_now(key) {
            Ok(true) => {}
            Ok(false) => self.pending.borrow_mut().over_limit.push(key.to_owned()),
            Err(e) => self.pending.borrow_mut().failure = Some(e),
        }
        learned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_in_fixed_windows_and_hands_each_verdict_to_the_next_call() {
        let clock = Rc::new(ManualClock::new(1_000_005_000));
        let limiter = FixedWindowLimiter::new(clock.clone());
        limiter.configure(2, 10);
        let over = |key: &str| limiter.count(key).over_limit;
        let none: Vec<String> = Vec::new();
        assert_eq!([over("a"), over("a"), over("a")], [none.clone(), none.clone(), none.clone()]);
        assert_eq!(over("b"), ["a"], "the third count of a was over; the next call says so");
        assert_eq!(over("b"), none, "another key has its own count, and a verdict is handed back once");
        // The window started at ...000 000: five seconds in, the next one starts in five.
        clock.advance_ms(4_999);
        over("a");
        clock.advance_ms(1);
        assert_eq!(over("a"), ["a"], "the verdict on the last count of the old window");
        assert_eq!([over("a"), over("a")], [none.clone(), none.clone()], "the new window counts from zero");
        assert_eq!(over("a"), ["a"], "the new window's third count was over");
        limiter.fail(true);
        limiter.count("a");
        assert!(limiter.count("a").failure.is_some());
        assert_eq!(limiter.calls(), 12, "every call counts, answered or not");
    }
}

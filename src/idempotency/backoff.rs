//! Waiting on another request's progress (a claimed idempotency key, a room whose create is
//! still trying vendors): reads at growing intervals up to a deadline, so a crowd of waiters
//! costs a few reads each rather than a steady stream.

use crate::runtime::Runtime;

/// The first pause; each pause doubles up to `MAX_PAUSE_MS`.
const FIRST_PAUSE_MS: u64 = 50;
const MAX_PAUSE_MS: u64 = 1_000;

pub(crate) struct Backoff {
    deadline_ms: u64,
    pause_ms: u64,
}

impl Backoff {
    /// Waiting for at most `wait_ms` from now.
    pub fn new(rt: &Runtime, wait_ms: u64) -> Backoff {
        Backoff { deadline_ms: rt.now_ms() + wait_ms, pause_ms: FIRST_PAUSE_MS }
    }

    pub fn expired(&self, rt: &Runtime) -> bool {
        rt.now_ms() >= self.deadline_ms
    }

    /// Sleeps for the next pause (never past the deadline).
    pub async fn pause(&mut self, rt: &Runtime) {
        let left = self.deadline_ms.saturating_sub(rt.now_ms());
        rt.clock.sleep_ms(self.pause_ms.min(left)).await;
        self.pause_ms = (self.pause_ms * 2).min(MAX_PAUSE_MS);
    }
}

//! Outbound webhooks: the project's endpoints get every normalized event they asked for,
//! signed per the Standard Webhooks specification, at least once, through a queue with
//! exponential backoff and a dead letter after the last attempt.
//!
//! Fan-out (`fanout`) makes one queue message per endpoint (sent in batches), so each
//! endpoint's delivery (`delivery`) is its own attempt, bounded by the timeout and the answer
//! cap: a slow or hostile receiver delays nobody else's delivery. `api` manages the endpoints,
//! `signing` and `url` are what a delivery is signed with and may be sent to; this module holds
//! what fan-out and delivery share (the queue message, the retry schedule, the answer cap).

pub mod api;
pub mod delivery;
pub mod fanout;
pub mod signing;
pub mod url;

use serde_json::json;

use crate::api::settings::WebhookSettings;

/// The most of a receiver's answer that is read: its status is what counts, and a receiver
/// that streams an endless body fails its own delivery after this many bytes.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024;

impl WebhookSettings {
    /// The wait after failed attempt `attempt` (1-based): base · 2^(attempt−1), at most 12 h
    /// (the longest delay a Cloudflare Queue takes).
    pub fn backoff_s(&self, attempt: u32) -> u32 {
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        (u64::from(self.retry_base_s) * factor).min(12 * 3600) as u32
    }
}

/// The queue message for one attempt at a delivery: `attempts` is how many attempts the
/// delivery had when it was sent, so a message handed over again after its attempt was made
/// is known as stale.
pub fn message(delivery_id: &str, attempts: i64) -> String {
    json!({ "delivery": delivery_id, "attempts": attempts }).to_string()
}

/// The delivery a queue message is about, and the attempts it expects, if it is one of ours.
pub fn read_message(message: &str) -> Option<(String, Option<i64>)> {
    let v = serde_json::from_str::<serde_json::Value>(message).ok()?;
    let id = v.get("delivery")?.as_str().filter(|id| !id.is_empty())?.to_owned();
    Some((id, v.get("attempts").and_then(serde_json::Value::as_i64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = WebhookSettings::default();
        assert_eq!((1..=4).map(|a| s.backoff_s(a)).collect::<Vec<_>>(), vec![30, 60, 120, 240]);
        assert_eq!(s.backoff_s(60), 12 * 3600);
        let env =
            crate::vendors::settings_tests::env_of(&[("WEBHOOK_MAX_ATTEMPTS", "3"), ("WEBHOOK_RETRY_BASE_S", "1")]);
        let s = WebhookSettings::from_env(&env);
        assert_eq!((s.max_attempts, s.backoff_s(1), s.backoff_s(2), s.allow_http_loopback), (3, 1, 2, false));
    }
}

//! The delivery queue's consumer: each message is a webhook delivery attempt
//! (`resources::webhooks::delivery`) or a timed session's ejection
//! (`resources::timed_sessions`), told apart by their own keys. A batch's messages are
//! handled concurrently, each result in the order of the bodies.

use crate::api::App;
use crate::resources::timed_sessions::{self, service::eject};
use crate::resources::webhooks::delivery;
use crate::runtime::Runtime;

/// Handles one message. `Err` when it should be handed over again (storage or a vendor failing).
pub async fn consume(app: &App, rt: &Runtime, body: &str) -> Result<(), String> {
    match timed_sessions::read_message(body) {
        Some(deadline) => eject(app, rt, &deadline).await.map(drop),
        None => delivery::consume(&app.settings, rt, body).await,
    }
}

pub async fn consume_batch(app: &App, rt: &Runtime, bodies: &[String]) -> Vec<Result<(), String>> {
    futures_util::future::join_all(bodies.iter().map(|body| consume(app, rt, body))).await
}

/// A message of the dead-letter queue: one whose handling failed on every retry. A delivery is
/// marked dead on its endpoint's health; an ejection that never ran is logged as an error (its
/// deadline stays stored, so a later token for the participant still replaces it).
pub async fn dead_lettered(rt: &Runtime, body: &str) -> Result<(), String> {
    match timed_sessions::read_message(body) {
        Some(d) => {
            crate::log::error(&format!(
                "timed session of '{}' in {}: the ejection due at {} was dead-lettered by the queue",
                d.identity,
                d.room_id,
                crate::time::rfc3339(d.eject_at_ms.max(0) as u64)
            ));
            Ok(())
        }
        None => delivery::dead_lettered(rt, body).await,
    }
}

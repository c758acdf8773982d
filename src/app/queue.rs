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
/// marked dead on its endpoint's health; an ejection goes back to the scheduled job, which tries
/// it again a bounded number of times (`timed_sessions::service::dead_lettered`).
pub async fn dead_lettered(rt: &Runtime, body: &str) -> Result<(), String> {
    match timed_sessions::read_message(body) {
        Some(deadline) => timed_sessions::service::dead_lettered(rt, &deadline).await,
        None => delivery::dead_lettered(rt, body).await,
    }
}

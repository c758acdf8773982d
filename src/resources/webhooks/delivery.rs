//! One delivery attempt, as the queue consumer makes it: sign the event, POST it, and record
//! the outcome. A failure is retried by queueing the delivery again after a backoff; after the
//! last attempt the delivery is dead-lettered (kept, marked dead, counted on the endpoint).
//! Receivers dedupe on `webhook-id` (the event id), the same on every attempt.
//!
//! A batch's messages are handled concurrently, each bounded by the delivery timeout, so a
//! receiver that never answers holds up only its own message. A message that can never be
//! handled (unreadable, or about a deleted endpoint or a finished delivery) is acked and
//! dropped (a delivery whose event is gone is marked dead first, with `EVENT_GONE` on its
//! endpoint); one whose handling keeps failing (storage down) is left to the queue's retries and
//! then its dead-letter queue, whose consumer (`dead_lettered`) marks the delivery dead.
//!
//! The endpoint's secret is opened here and only here. One that does not open (the key is
//! missing or changed, or the row was copied from another project) makes the attempt fail
//! without sending anything, with the reason in the endpoint's health.

use crate::crypto::sealed::EncryptionKey;
use crate::resources::webhooks::signing::{self, SigningSecret};
use crate::resources::webhooks::{message, read_message};
use crate::runtime::{HttpError, OutboundRequest, Runtime};
use crate::store::events;
use crate::store::webhooks::{self, Attempt};

/// Handles one queue message. `Err` only when the attempt could not be made or recorded
/// (storage failing): the queue then redelivers the message.
pub async fn consume(app_settings: &crate::api::Settings, rt: &Runtime, body: &str) -> Result<(), String> {
    let settings = &app_settings.webhooks;
    let Some((delivery_id, expected)) = read_message(body) else {
        crate::log::warn("webhook delivery: a queue message without a delivery id was dropped");
        return Ok(());
    };
    let Some(delivery) = webhooks::pending_delivery(rt, &delivery_id).await.map_err(|e| e.log_text().to_owned())?
    else {
        // Delivered already (a queue redelivery), dead, or its endpoint was deleted.
        return Ok(());
    };
    if expected.is_some_and(|n| n != delivery.attempts) {
        // Its attempt was made already: the queue handed the message over again, or a redo of
        // the event's effects sent it a second time.
        return Ok(());
    }
    let Some(event) =
        events::find(rt, &delivery.project_id, &delivery.event_id).await.map_err(|e| e.log_text().to_owned())?
    else {
        // Nothing can ever be sent: dead, with the reason on the endpoint, not pending forever.
        crate::log::warn(&format!("webhook {}: delivery {delivery_id}: its event is gone", delivery.webhook_id));
        let attempt = Attempt::Dead { status: None, error: EVENT_GONE.to_owned() };
        webhooks::record_attempt(rt, &delivery, &attempt).await.map_err(|e| e.log_text().to_owned())?;
        return Ok(());
    };
    let secret = match &app_settings.encryption_key {
        EncryptionKey::Ready(key) => {
            SigningSecret::open(key, &delivery.project_id, &delivery.sealed_secret).ok_or(UNOPENED)
        }
        _ => Err(NO_KEY),
    };
    let (status, error) = match secret {
        Ok(secret) => send(settings, rt, &delivery.url, &secret, &event).await,
        Err(why) => {
            crate::log::warn(&format!("webhook {}: nothing sent: {why}", delivery.webhook_id));
            (None, Some(why.to_owned()))
        }
    };
    let attempt_no = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
    let attempt = match (status, error) {
        (Some(status), None) => Attempt::Delivered { status },
        (status, Some(error)) if attempt_no >= settings.max_attempts => Attempt::Dead { status, error },
        (status, error) => Attempt::Failed { status, error: error.unwrap_or_default() },
    };
    // The next attempt's message is queued before this attempt is recorded. Were it sent after,
    // a failed send would leave the attempt recorded and this message (handed over again by the
    // queue) stale: the delivery would stay pending with no message left to make it. Sent first,
    // a failed send records nothing, and the queue's redelivery makes the attempt again
    // (receivers dedupe on `webhook-id`). A successor of an attempt that then goes unrecorded
    // (storage failing) expects one attempt more than the delivery has and is dropped as stale;
    // two successors of one attempt make one attempt, the attempts check fencing the second.
    if matches!(attempt, Attempt::Failed { .. }) {
        rt.queue.send(&message(&delivery.id, delivery.attempts + 1), settings.backoff_s(attempt_no)).await?;
    }
    webhooks::record_attempt(rt, &delivery, &attempt).await.map_err(|e| e.log_text().to_owned())?;
    Ok(())
}

/// Handles a batch's messages concurrently: each result, in the order of `bodies`.
pub async fn consume_batch(
    app_settings: &crate::api::Settings,
    rt: &Runtime,
    bodies: &[String],
) -> Vec<Result<(), String>> {
    futures_util::future::join_all(bodies.iter().map(|body| consume(app_settings, rt, body))).await
}

/// The endpoint's health for a delivery the queue gave up on.
pub const GAVE_UP: &str = "the delivery queue gave up on this delivery after its retries (dead-letter queue)";

/// The endpoint's health for a delivery whose event is gone (deleted by retention, or not the
/// endpoint's project's): nothing can be sent, so it is dead rather than left pending.
pub const EVENT_GONE: &str = "the event of this delivery no longer exists: nothing was sent";

/// A message of the dead-letter queue: one whose handling failed on every queue retry. Its
/// delivery, if still pending, is marked dead and counted on its endpoint's health with
/// `GAVE_UP`, so a dead-lettered message is visible where the project looks. `Err` when that
/// cannot be recorded either (the queue retries it; after that it is only in the log).
pub async fn dead_lettered(rt: &Runtime, body: &str) -> Result<(), String> {
    let Some((delivery_id, _)) = read_message(body) else {
        crate::log::warn("webhook dead letter: a message without a delivery id was dropped");
        return Ok(());
    };
    let Some(delivery) = webhooks::pending_delivery(rt, &delivery_id).await.map_err(|e| e.log_text().to_owned())?
    else {
        return Ok(());
    };
    crate::log::warn(&format!("webhook {}: delivery {delivery_id} dead-lettered by the queue", delivery.webhook_id));
    let attempt = Attempt::Dead { status: None, error: GAVE_UP.to_owned() };
    webhooks::record_attempt(rt, &delivery, &attempt).await.map_err(|e| e.log_text().to_owned())?;
    Ok(())
}

/// The endpoint's health when its secret cannot be opened: sealed under another key, for
/// another project, or altered.
const UNOPENED: &str = "the signing secret does not open with this deployment's RTCGATE_ENCRYPTION_KEY; \
                        create the endpoint again";
/// The endpoint's health when the deployment lost its key.
const NO_KEY: &str = "RTCGATE_ENCRYPTION_KEY is not set (or not 64 hex characters): the signing secret \
                      cannot be opened";

/// Signs and POSTs the event: the answer's status, and why it failed if it did.
async fn send(
    settings: &crate::api::settings::WebhookSettings,
    rt: &Runtime,
    url: &str,
    secret: &SigningSecret,
    event: &events::Event,
) -> (Option<u16>, Option<String>) {
    let payload = serde_json::to_vec(&event.to_json()).expect("a Value always serializes");
    let timestamp = rt.now_s();
    let signature = signing::sign(secret, &event.id, timestamp, &payload);
    let request = OutboundRequest {
        method: "POST",
        url: url.to_owned(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("user-agent".into(), "rtcgate-webhooks".into()),
            ("webhook-id".into(), event.id.clone()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), signature),
        ],
        body: Some(payload),
        timeout_ms: settings.timeout_ms,
        max_response_bytes: crate::resources::webhooks::MAX_RESPONSE_BYTES,
    };
    match rt.http.send(request).await {
        Ok(r) if (200..300).contains(&r.status) => (Some(r.status), None),
        Ok(r) => (Some(r.status), Some(format!("HTTP {}", r.status))),
        Err(HttpError::Timeout) => (None, Some(format!("no answer within {} ms", settings.timeout_ms))),
        Err(HttpError::Unreachable(_)) => (None, Some("unreachable".to_owned())),
        Err(HttpError::TooLarge { status }) => {
            (Some(status), Some(format!("answer longer than {} bytes", crate::resources::webhooks::MAX_RESPONSE_BYTES)))
        }
    }
}

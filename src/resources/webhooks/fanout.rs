//! Fan-out: one delivery per endpoint that wants an event, queued in batches.

use sha2::{Digest, Sha256};

use super::message;
use crate::error::{ApiError, ApiResult};
use crate::runtime::{Runtime, MAX_QUEUE_BATCH};
use crate::store::events::Event;
use crate::store::webhooks;

/// The id of the delivery of `event_id` to `webhook_id`: derived from both, so applying an
/// event's effects again (a redo) names the same delivery rather than making a second one.
pub fn delivery_id(event_id: &str, webhook_id: &str) -> String {
    let digest = Sha256::digest(format!("{event_id}/{webhook_id}").as_bytes());
    format!("dlv_{}", crate::crypto::hex::lower(&digest[..11]))
}

/// Queues a delivery of `event` to each of its project's endpoints that wants its type: the
/// delivery rows in one batch, then one message per endpoint, `MAX_QUEUE_BATCH` per send.
/// Run again for the same event (a redo), it adds no delivery and re-sends their messages;
/// the consumer drops those already delivered, so a delivery may be attempted twice, never
/// lost (receivers dedupe on `webhook-id`).
pub async fn fan_out(rt: &Runtime, event: &Event) -> ApiResult<()> {
    let Some(project_id) = event.project_id.as_deref() else { return Ok(()) };
    let deliveries: Vec<(String, String)> = webhooks::list(rt, project_id)
        .await?
        .into_iter()
        .filter(|w| w.wants(&event.kind))
        .map(|w| (delivery_id(&event.id, &w.id), w.id))
        .collect();
    if deliveries.is_empty() {
        return Ok(());
    }
    webhooks::add_deliveries(rt, &event.id, &deliveries).await?;
    let messages: Vec<String> = deliveries.iter().map(|(id, _)| message(id, 0)).collect();
    for batch in messages.chunks(MAX_QUEUE_BATCH) {
        rt.queue.send_batch(batch, 0).await.map_err(ApiError::internal)?;
    }
    Ok(())
}

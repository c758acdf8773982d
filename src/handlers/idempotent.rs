//! Runs a create/start handler at most once per idempotency key.
//! Concurrent requests with the key wait for the first to finish and then replay its
//! response, so fifty simultaneous retries all see the same body.

use std::future::Future;

use serde_json::Value;

use crate::app::{Ctx, Reply};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::idempotency::{self, Claim};

/// How long a request waits for another with the same key before answering 409.
const WAIT_MS: u64 = 10_000;
const POLL_MS: u64 = 50;

/// The key from the body field or the `Idempotency-Key` header (they must agree).
pub fn key(ctx: &Ctx<'_>, from_body: Option<String>) -> ApiResult<Option<String>> {
    let header = ctx.req.header("idempotency-key").map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let key = match (from_body, header) {
        // Each is well formed on its own; together they contradict each other.
        (Some(b), Some(h)) if b != h => {
            return Err(ApiError::new(
                ErrorCode::ConflictingFields,
                "'idempotency_key' and the Idempotency-Key header differ; send one of them",
            )
            .with_detail("field", "idempotency_key"))
        }
        (b, h) => b.or(h),
    };
    if let Some(k) = &key {
        if k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::invalid_field(
                "idempotency_key",
                "'idempotency_key' must be 1-255 visible ASCII characters",
            ));
        }
    }
    Ok(key)
}

/// `fingerprint_of` is the request minus the key itself.
pub async fn once<F, Fut>(
    ctx: &Ctx<'_>,
    scope: &str,
    key: Option<String>,
    fingerprint_of: &Value,
    work: F,
) -> ApiResult<Reply>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Reply>>,
{
    let Some(key) = key else { return work().await };
    let (rt, project) = (ctx.rt, ctx.project_id());
    let hash = idempotency::fingerprint(scope, fingerprint_of);
    let deadline = rt.now_ms() + WAIT_MS;
    loop {
        match idempotency::claim(rt, project, scope, &key, &hash).await? {
            Claim::Fresh => {
                return match work().await {
                    Ok(reply) => {
                        idempotency::complete(rt, project, scope, &key, reply.status, &reply.body).await?;
                        Ok(reply)
                    }
                    Err(e) => {
                        idempotency::release(rt, project, scope, &key).await?;
                        Err(e)
                    }
                }
            }
            Claim::Replay { status, body } => {
                return Ok(Reply { status, body, headers: vec![("Idempotent-Replayed".into(), "true".into())] })
            }
            Claim::Mismatch => {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "this idempotency key was used with a different request",
                )
                .with_detail("field", "idempotency_key"))
            }
            Claim::InProgress if rt.now_ms() < deadline => rt.clock.sleep_ms(POLL_MS).await,
            Claim::InProgress => {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyInProgress,
                    "a request with this idempotency key is still in progress; retry shortly",
                )
                .with_header("Retry-After", "1"))
            }
        }
    }
}

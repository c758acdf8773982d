//! Runs a create/start handler at most once per idempotency key.
//! Concurrent requests with the key wait for the first to finish and then replay its
//! response, so fifty simultaneous retries all see the same body. Waiting is reading: a
//! waiter polls with growing pauses and writes only to claim a key that was given back or
//! abandoned. Work that succeeded is never run again, even when its result cannot be
//! stored: the result is then kept in KV until storage takes it.

pub mod backoff;

use std::future::Future;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::api::{Ctx, Reply, ReplyBody};
use crate::domain::ids;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::RequestHeader;
use crate::idempotency::backoff::Backoff;
use crate::runtime::Runtime;
use crate::store::idempotency::{self, ClaimKey, Seen};

/// How long a request waits for another with the same key before answering 409.
const WAIT_MS: u64 = 10_000;
/// Attempts (and the pause before each retry) to store a result after the work succeeded.
const STORE_RETRIES_MS: [u64; 3] = [0, 100, 400];

/// The key from the body field or the `Idempotency-Key` header (they must agree).
pub fn key(ctx: &Ctx<'_>, from_body: Option<String>) -> ApiResult<Option<String>> {
    let header =
        ctx.req.header(RequestHeader::IdempotencyKey).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
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

/// The request body as JSON minus `idempotency_key`: what a retry must repeat exactly.
pub(crate) fn fingerprint_without_key(raw: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        map.remove("idempotency_key");
    }
    v
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
    let rt = ctx.rt;
    let k = ClaimKey { project_id: ctx.project_id(), scope, key: &key };
    let hash = idempotency::fingerprint(scope, fingerprint_of);
    let owner = ids::random_id(rt, "clm_", 22);
    let abandoned_after = idempotency::abandoned_after_ms(ctx.app.settings.vendor_timeout_ms);
    let mut backoff = Backoff::new(rt, WAIT_MS);
    let mut may_claim = true;
    loop {
        if may_claim && idempotency::try_claim(rt, &k, &hash, &owner).await? {
            // A new key: this project's expired keys go, once per key rather than per poll.
            let (purger, project) = (rt.clone(), k.project_id.to_owned());
            rt.after_response(async move {
                if let Err(e) = idempotency::purge_expired(&purger, &project).await {
                    crate::log::warn(&format!("purging expired idempotency keys: {}", e.log_text()));
                }
            });
            return run(rt, &k, &owner, work).await;
        }
        may_claim = false;
        match idempotency::peek(rt, &k, &hash).await? {
            Seen::Done { status, body } => return Ok(replay(status, body)),
            Seen::Mismatch => return Err(reused()),
            // Given back by a request whose work failed: claim it right away.
            Seen::Missing => {
                may_claim = true;
                if !backoff.expired(rt) {
                    continue;
                }
            }
            Seen::Pending { owner: old, claimed_at_ms } => {
                if rt.now_ms() as i64 - claimed_at_ms >= abandoned_after as i64 {
                    // Its owner may have finished the work and failed only to store it.
                    if let Some(kept) = kept_result(rt, &k).await {
                        return Ok(adopt_kept(rt, &k, &old, kept).await);
                    }
                    if idempotency::take_over(rt, &k, &old, &owner, abandoned_after).await? {
                        return run(rt, &k, &owner, work).await;
                    }
                }
            }
        }
        if backoff.expired(rt) {
            return Err(ApiError::new(
                ErrorCode::IdempotencyInProgress,
                "a request with this idempotency key is still in progress; retry shortly",
            )
            .with_header("Retry-After", "1"));
        }
        backoff.pause(rt).await;
    }
}

fn replay(status: u16, body: Value) -> Reply {
    Reply { status, body: ReplyBody::Value(body), headers: vec![("Idempotent-Replayed".into(), "true".into())] }
}

fn reused() -> ApiError {
    ApiError::new(ErrorCode::IdempotencyKeyReused, "this idempotency key was used with a different request")
        .with_detail("field", "idempotency_key")
}

/// Runs the work under `owner`'s claim. A failure gives the key back; a success is stored
/// and answered even if storing fails (the work happened; a 500 would only invite a retry).
async fn run<F, Fut>(rt: &Runtime, k: &ClaimKey<'_>, owner: &str, work: F) -> ApiResult<Reply>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Reply>>,
{
    match work().await {
        Ok(reply) => {
            let (rt2, project, scope, key, owner) =
                (rt.clone(), k.project_id.to_owned(), k.scope.to_owned(), k.key.to_owned(), owner.to_owned());
            let (status, body) = (reply.status, reply.body.to_value());
            // Stored even if the client goes away meanwhile: a lost result means a rerun.
            rt.finish_even_if_cancelled(async move {
                let k = ClaimKey { project_id: &project, scope: &scope, key: &key };
                store_result(&rt2, &k, &owner, status, &body).await;
            })
            .await;
            Ok(reply)
        }
        Err(e) => {
            match idempotency::release(rt, k, owner).await {
                Ok(true) => {}
                Ok(false) => crate::log::warn(&format!("idempotency claim on {} was taken over", k.scope)),
                // The claim stays and is taken over once abandoned; the work's error is the answer.
                Err(r) => crate::log::warn(&format!("releasing an idempotency claim: {}", r.log_text())),
            }
            Err(e)
        }
    }
}

async fn store_result(rt: &Runtime, k: &ClaimKey<'_>, owner: &str, status: u16, body: &Value) {
    let mut last_error = String::new();
    for pause in STORE_RETRIES_MS {
        if pause > 0 {
            rt.clock.sleep_ms(pause).await;
        }
        match idempotency::complete(rt, k, owner, status, body).await {
            Ok(true) => return,
            Ok(false) => {
                // Fenced out: another request owns the key now, and its result will stand.
                crate::log::warn(&format!("idempotency claim on {} was taken over before its result", k.scope));
                return;
            }
            Err(e) => last_error = e.log_text().to_owned(),
        }
    }
    // Storage refuses the result: keep it where a retry that finds the claim abandoned looks
    // before running the work again. KV spreads a write worldwide within about 60 s, well
    // inside the abandonment window (at least 120 s).
    crate::log::error(&format!("storing an idempotent result failed, kept in KV instead: {last_error}"));
    let kept = json!({ "owner": owner, "status": status, "body": body });
    rt.kv.put(&kv_key(k), &kept.to_string(), 2 * idempotency::RETENTION_MS / 1000).await;
}

fn kv_key(k: &ClaimKey<'_>) -> String {
    let mut h = Sha256::new();
    for part in [k.project_id, k.scope, k.key] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("idem:{}", crate::crypto::hex::lower(&h.finalize()))
}

/// A result kept in KV because storage refused it: (owner, status, body).
async fn kept_result(rt: &Runtime, k: &ClaimKey<'_>) -> Option<(String, u16, Value)> {
    let kept: Value = serde_json::from_str(&rt.kv.get(&kv_key(k)).await?).ok()?;
    let owner = kept.get("owner")?.as_str()?.to_owned();
    let status = u16::try_from(kept.get("status")?.as_u64()?).ok()?;
    Some((owner, status, kept.get("body")?.clone()))
}

/// Answers with a kept result, and stores it under the claim it belongs to if that claim is
/// still its owner's (the record's fingerprint already matched this request).
async fn adopt_kept(
    rt: &Runtime,
    k: &ClaimKey<'_>,
    claim_owner: &str,
    (owner, status, body): (String, u16, Value),
) -> Reply {
    if owner == claim_owner {
        if let Err(e) = idempotency::complete(rt, k, &owner, status, &body).await {
            crate::log::warn(&format!("storing a kept idempotent result: {}", e.log_text()));
        }
    }
    replay(status, body)
}

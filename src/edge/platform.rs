//! The runtime traits on the Workers platform.

use std::cell::OnceCell;

use async_trait::async_trait;
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use worker::{Context, D1Database, Env, KvStore};

use crate::runtime::{
    Background, Clock, Db, DbError, Entropy, Http, HttpError, Kv as KvTrait, OutboundRequest, OutboundResponse,
    Queue as QueueTrait, RateLimiter as RateLimiterTrait, RateVerdicts, Row, SqlValue, Statement, Task,
};

/// A binding looked up on first use: a request that touches no storage (health, OpenAPI,
/// most refusals) pays no `env` lookups, and each lookup is several JS calls (property get,
/// constructor name check, and for KV its method table).
pub struct Lazy<T> {
    env: Env,
    name: &'static str,
    get: fn(&Env, &str) -> worker::Result<T>,
    value: OnceCell<Result<T, String>>,
}

impl<T> Lazy<T> {
    pub fn new(env: &Env, name: &'static str, get: fn(&Env, &str) -> worker::Result<T>) -> Self {
        Lazy { env: env.clone(), name, get, value: OnceCell::new() }
    }

    fn get(&self) -> Result<&T, String> {
        self.value
            .get_or_init(|| (self.get)(&self.env, self.name).map_err(|e| format!("binding {}: {e}", self.name)))
            .as_ref()
            .map_err(Clone::clone)
    }
}

pub struct D1(pub Lazy<D1Database>);

impl D1 {
    fn db(&self) -> Result<&D1Database, DbError> {
        self.0.get().map_err(DbError::Other)
    }
}

fn bind(params: &[SqlValue]) -> Vec<JsValue> {
    params
        .iter()
        .map(|p| match p {
            SqlValue::Null => JsValue::NULL,
            // D1 binds JS numbers; our integers (ms timestamps, counters) stay below 2^53.
            SqlValue::Int(n) => JsValue::from_f64(*n as f64),
            SqlValue::Text(s) => JsValue::from_str(s),
        })
        .collect()
}

fn d1_error(e: worker::Error) -> DbError {
    DbError::from_message(e.to_string())
}

fn changes(result: &worker::D1Result) -> u64 {
    result.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u64
}

#[async_trait(?Send)]
impl Db for D1 {
    async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, DbError> {
        let stmt = self.db()?.prepare(sql).bind(&bind(params)).map_err(d1_error)?;
        let result = stmt.all().await.map_err(d1_error)?;
        result.results::<Row>().map_err(d1_error)
    }

    async fn query_replica(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, DbError> {
        // A session with no bookmark may be served by any replica (the nearest one).
        let session = self.db()?.with_session(Some("first-unconstrained")).map_err(d1_error)?;
        let stmt = session.prepare(sql).bind(&bind(params)).map_err(d1_error)?;
        let result = stmt.all().await.map_err(d1_error)?;
        result.results::<Row>().map_err(d1_error)
    }

    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        let stmt = self.db()?.prepare(sql).bind(&bind(params)).map_err(d1_error)?;
        let result = stmt.run().await.map_err(d1_error)?;
        Ok(changes(&result))
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, DbError> {
        let db = self.db()?;
        let mut prepared = Vec::with_capacity(statements.len());
        for s in statements {
            prepared.push(db.prepare(s.sql).bind(&bind(&s.params)).map_err(d1_error)?);
        }
        // D1 runs a batch as one transaction: a failing statement rolls back the others.
        let results = db.batch(prepared).await.map_err(d1_error)?;
        Ok(results.iter().map(changes).collect())
    }
}

pub struct Kv(pub Lazy<KvStore>);

#[async_trait(?Send)]
impl KvTrait for Kv {
    async fn get(&self, key: &str) -> Option<String> {
        // Breaker state only: an unreadable KV reads as "no opening recorded".
        self.0.get().ok()?.get(key).text().await.ok().flatten()
    }

    async fn put(&self, key: &str, value: &str, ttl_s: u64) {
        // KV's minimum expiration TTL is 60 s. A failed write only costs freshness.
        let Ok(kv) = self.0.get() else { return };
        if let Ok(builder) = kv.put(key, value) {
            let _ = builder.expiration_ttl(ttl_s.max(60)).execute().await;
        }
    }
}

/// `fetch` through the glue (`fetchBounded`), which bounds the whole exchange, body included,
/// by the request's timeout and reads at most `max_response_bytes` of the answer, aborting the
/// fetch and cancelling its body stream past either bound: a receiver that streams without end
/// or never answers holds no connection of ours open.
pub struct Fetch;

fn js_text(v: &JsValue, key: &str) -> Option<String> {
    js_sys::Reflect::get(v, &JsValue::from_str(key)).ok()?.as_string()
}

#[async_trait(?Send)]
impl Http for Fetch {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, HttpError> {
        let head = request.headers.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join("\n");
        let body = match &request.body {
            Some(body) => Uint8Array::from(body.as_slice()).into(),
            None => JsValue::NULL,
        };
        // Redirects are not followed (the glue fetches with `redirect: 'manual'`): a vendor answer
        // that points elsewhere must not carry our credentials (Authorization, signed queries) to
        // a host they were not meant for. The 3xx itself comes back and is refused like any
        // unexpected answer.
        let answer = wasm_bindgen_futures::JsFuture::from(super::glue::fetch_bounded(
            &request.url,
            request.method,
            &head,
            body,
            request.max_response_bytes as f64,
            request.timeout_ms as f64,
        ))
        .await
        .map_err(|e| HttpError::Unreachable(format!("{e:?}")))?;
        let status = js_sys::Reflect::get(&answer, &JsValue::from_str("status")).ok().and_then(|v| v.as_f64());
        match js_text(&answer, "error").as_deref() {
            None => {}
            Some("timeout") => return Err(HttpError::Timeout),
            Some("too_large") => return Err(HttpError::TooLarge { status: status.unwrap_or(0.0) as u16 }),
            Some(_) => return Err(HttpError::Unreachable(js_text(&answer, "detail").unwrap_or_default())),
        }
        let headers = js_text(&answer, "head")
            .unwrap_or_default()
            .split('\n')
            .filter_map(|line| line.split_once(':').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        let body = js_sys::Reflect::get(&answer, &JsValue::from_str("body"))
            .ok()
            .and_then(|b| b.dyn_into::<Uint8Array>().ok())
            .map(|b| b.to_vec())
            .unwrap_or_default();
        Ok(OutboundResponse { status: status.unwrap_or(0.0) as u16, headers, body })
    }
}

/// A timer for `ms` milliseconds. Not `worker::Delay`: it keeps the waker of its first poll
/// only, and a future's first poll may be the fetch handler's inline one, whose waker is a
/// no-op (see `serve`), after which the timer would wake nobody. A `JsFuture` takes the waker
/// of every poll.
fn sleep(ms: u64) -> wasm_bindgen_futures::JsFuture {
    wasm_bindgen_futures::JsFuture::from(super::glue::sleep(ms as f64))
}

pub struct JsClock;

#[async_trait(?Send)]
impl Clock for JsClock {
    fn now_ms(&self) -> u64 {
        // `Date.now()`: one call and no object (`worker::Date::now` builds a `Date`, then reads it).
        js_sys::Date::now() as u64
    }

    async fn sleep_ms(&self, ms: u64) {
        // The promise only resolves.
        let _ = sleep(ms).await;
    }
}

/// `crypto.getRandomValues` (getrandom's "js" backend, always present in workerd), asked
/// for a block at a time.
pub struct JsEntropy;

thread_local! {
    static ENTROPY: crate::crypto::entropy_pool::EntropyPool = const { crate::crypto::entropy_pool::EntropyPool::new(4096) };
}

impl Entropy for JsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        ENTROPY.with(|pool| {
            pool.fill(buf, |block| getrandom::getrandom(block).expect("crypto.getRandomValues is available"))
        });
    }
}

/// `ctx.waitUntil`: the isolate keeps running the task after the response is sent and when
/// the client disconnects (which cancels the request's own future).
pub struct WaitUntil(pub Context);

impl Background for WaitUntil {
    fn spawn(&self, task: Task) {
        self.0.wait_until(task);
    }
}

/// The webhook delivery queue (binding `DELIVERIES`).
pub struct Queue(pub Lazy<worker::Queue>);

#[async_trait(?Send)]
impl QueueTrait for Queue {
    async fn send(&self, body: &str, delay_s: u32) -> Result<(), String> {
        let message = worker::MessageBuilder::new(body.to_owned()).delay_seconds(delay_s).build();
        self.0.get()?.send(message).await.map_err(|e| e.to_string())
    }

    async fn send_batch(&self, bodies: &[String], delay_s: u32) -> Result<(), String> {
        if bodies.is_empty() {
            return Ok(());
        }
        let queue: &JsValue = self.0.get()?.as_ref();
        let bodies: js_sys::Array = bodies.iter().map(|b| JsValue::from_str(b)).collect();
        wasm_bindgen_futures::JsFuture::from(super::glue::queue_send_batch(queue, &bodies, delay_s))
            .await
            .map(|_| ())
            .map_err(|e| format!("sendBatch: {e:?}"))
    }
}

/// The per-key rate limiter (binding `RATE_LIMITER`, `[[ratelimits]]` in `wrangler.toml`).
/// Its counters live in the Cloudflare location: a call is no storage round trip. The call and
/// the collection of its verdict are the glue's (`rateCount`): one JS call per request, and no
/// wasm future or `waitUntil` task of ours on the hot path.
pub struct RateLimit {
    pub env: Env,
    /// The invocation's `ExecutionContext`, whose `waitUntil` keeps the count alive.
    pub ctx: JsValue,
}

thread_local! {
    static BINDING_NAME: JsValue = JsValue::from_str(crate::api::limits::RATE_LIMITER_BINDING);
}

impl RateLimiterTrait for RateLimit {
    fn count(&self, key: &str) -> RateVerdicts {
        let learned = BINDING_NAME.with(|name| super::glue::rate_count(self.env.as_ref(), name, &self.ctx, key));
        let Some(learned) = learned else { return RateVerdicts::default() };
        let mut lines = learned.split('\n');
        let failure = lines.next().filter(|f| !f.is_empty()).map(|f| format!("binding RATE_LIMITER: {f}"));
        RateVerdicts { over_limit: lines.filter(|k| !k.is_empty()).map(str::to_owned).collect(), failure }
    }
}

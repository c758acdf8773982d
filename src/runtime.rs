//! The Workers runtime as the core sees it: eight small capabilities behind traits.
//!
//! `edge` implements them on D1, KV, `fetch`, `Date.now()`, `crypto.getRandomValues`,
//! `ctx.waitUntil`, a Cloudflare Queue and the Rate Limiting binding;
//! `native` implements them on SQLite, memory, scripted HTTP and a fixed-window counter for
//! `cargo test`.
//! The core never names a concrete runtime, so every handler runs natively in tests.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use async_trait::async_trait;
use serde_json::{Map, Value};

/// A value bound to a SQL parameter. D1 and SQLite agree on these three.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_owned())
    }
}
impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}
impl From<i64> for SqlValue {
    fn from(n: i64) -> Self {
        SqlValue::Int(n)
    }
}
impl From<bool> for SqlValue {
    fn from(b: bool) -> Self {
        SqlValue::Int(b as i64)
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// One statement of a batch.
#[derive(Clone, Debug)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<SqlValue>,
}

/// A result row, column name to JSON value (how D1 hands rows over).
pub type Row = Map<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub enum DbError {
    /// A UNIQUE or CHECK constraint refused the write; callers turn this into a 409.
    Constraint(String),
    /// A failure that retrying shortly may not meet: the database busy or locked by another
    /// writer, overloaded, reset, or the connection to it lost. Answered `503`.
    Unavailable(String),
    /// Anything else: syntax, a missing table, a limit. Never shown to clients.
    Other(String),
}

/// What D1 (and SQLite under the local workerd) reports for a failure that retrying shortly
/// may not meet, matched case-insensitively. From Cloudflare's D1 error list and its retry
/// guidance (developers.cloudflare.com/d1/observability/debug-d1/#error-list,
/// developers.cloudflare.com/d1/best-practices/retry-queries/): the connection lost, the
/// database object reset (storage restarted, code updated), a transient issue on the remote
/// node, overload (requests queued too long); and SQLite's own busy/locked results.
const TRANSIENT_DB_FAILURES: [&str; 8] = [
    "sqlite_busy",
    "database is locked",
    "sqlite_locked",
    "network connection lost",
    "overloaded",
    "object to be reset",
    "reset because its code was updated",
    "transient issue",
];

impl DbError {
    /// Classifies a failure by the text the database reported.
    pub fn from_message(text: impl Into<String>) -> DbError {
        let text = text.into();
        let lower = text.to_ascii_lowercase();
        if lower.contains("constraint failed") {
            DbError::Constraint(text)
        } else if TRANSIENT_DB_FAILURES.iter().any(|t| lower.contains(t)) {
            DbError::Unavailable(text)
        } else {
            DbError::Other(text)
        }
    }
}

#[async_trait(?Send)]
pub trait Db {
    async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, DbError>;
    /// A read that may be served by a nearby read replica, so it may lag the primary by the
    /// replica's replication delay (D1's Sessions API, "first-unconstrained"). Only for reads
    /// whose staleness the caller has documented. Without replicas this is `query`.
    async fn query_replica(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, DbError> {
        self.query(sql, params).await
    }
    /// Runs a write and returns the number of rows it changed.
    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError>;
    /// Runs the statements in one transaction: all or none. Returns rows changed per statement.
    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, DbError>;
}

/// Eventually consistent key/value storage: only for state where staleness is harmless.
#[async_trait(?Send)]
pub trait Kv {
    async fn get(&self, key: &str) -> Option<String>;
    async fn put(&self, key: &str, value: &str, ttl_s: u64);
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboundRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Covers the whole exchange: connecting, the answer's head and reading its body.
    pub timeout_ms: u64,
    /// The most of the answer's body that is read. A longer body is not read further (its
    /// stream is cancelled and the connection let go) and the exchange fails with
    /// `HttpError::TooLarge`, so no receiver can make us hold a connection or memory.
    pub max_response_bytes: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutboundResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::http::header_value(&self.headers, name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum HttpError {
    /// No complete answer (head and body) within `timeout_ms`.
    Timeout,
    /// Connection refused, DNS, TLS, reset: the vendor could not be reached.
    Unreachable(String),
    /// The answer's body is longer than `max_response_bytes`; `status` is the answer's.
    TooLarge { status: u16 },
}

#[async_trait(?Send)]
pub trait Http {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, HttpError>;
}

#[async_trait(?Send)]
pub trait Clock {
    /// Milliseconds since the Unix epoch. (`SystemTime::now()` panics on wasm32, hence this.)
    fn now_ms(&self) -> u64;
    async fn sleep_ms(&self, ms: u64);
}

pub trait Entropy {
    /// Fills `buf` from a cryptographically secure source.
    fn fill(&self, buf: &mut [u8]);
}

/// A task that owns everything it touches, so it can outlive the request that started it.
pub type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Work that must run to completion even when the response has already been sent or the
/// client has gone away (a Worker request is cancelled when its client disconnects).
/// On Workers this is `ctx.waitUntil`; natively, a local task pool the tests drive.
pub trait Background {
    fn spawn(&self, task: Task);
}

/// A durable queue with delayed delivery (a Cloudflare Queue on Workers): work that must
/// happen at least once, later, and survive failures of the isolate that asked for it.
#[async_trait(?Send)]
pub trait Queue {
    /// Enqueues `body`, to be handed to the consumer no sooner than `delay_s` seconds from now.
    async fn send(&self, body: &str, delay_s: u32) -> Result<(), String>;
    /// Enqueues every body of `bodies` (at most `MAX_QUEUE_BATCH`) in one call, all with the
    /// same delay (Cloudflare's `sendBatch`): all are enqueued, or the call fails.
    async fn send_batch(&self, bodies: &[String], delay_s: u32) -> Result<(), String>;
}

/// A request counter per key over a fixed period (Cloudflare's Rate Limiting binding on
/// Workers, whose counters live in the Cloudflare location and cost no storage round trip).
/// Counting never makes a request wait: the verdict on a count arrives after the response, and
/// is handed back by a later call (see `crate::limits`).
pub trait RateLimiter {
    /// Counts one request for `key` and returns what the limiter has learned since the previous
    /// call: the keys a count found over their limit, and a failure to count (binding missing,
    /// platform error). Whether this very count is over the limit is never among them (a count
    /// that fails at once, the binding missing, may report that failure in the same call).
    fn count(&self, key: &str) -> RateVerdicts;
}

/// The limiter's answers that arrived since it was last asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateVerdicts {
    /// Keys a count found over their limit (a key may appear more than once).
    pub over_limit: Vec<String>,
    /// Why a count could not be made or answered, when one could not.
    pub failure: Option<String>,
}

/// The most messages one `Queue::send_batch` takes (Cloudflare Queues' `sendBatch` limit).
pub const MAX_QUEUE_BATCH: usize = 100;

/// The capabilities one request may use.
#[derive(Clone)]
pub struct Runtime {
    pub db: Rc<dyn Db>,
    pub kv: Rc<dyn Kv>,
    pub http: Rc<dyn Http>,
    pub clock: Rc<dyn Clock>,
    pub entropy: Rc<dyn Entropy>,
    pub background: Rc<dyn Background>,
    pub queue: Rc<dyn Queue>,
    pub limiter: Rc<dyn RateLimiter>,
}

impl Runtime {
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn now_s(&self) -> u64 {
        self.clock.now_ms() / 1000
    }

    pub fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut buf = [0u8; N];
        self.entropy.fill(&mut buf);
        buf
    }

    /// Runs `work` as a background task and waits for its result. If the caller is cancelled
    /// (the client disconnected), `work` still runs to the end; the caller then just never
    /// sees the result. `None` only if the background task was dropped unfinished.
    pub async fn finish_even_if_cancelled<T: 'static>(&self, work: impl Future<Output = T> + 'static) -> Option<T> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.background.spawn(Box::pin(async move {
            let _ = tx.send(work.await);
        }));
        rx.await.ok()
    }

    /// Runs `work` after (or alongside) the response, without waiting for it.
    pub fn after_response(&self, work: impl Future<Output = ()> + 'static) {
        self.background.spawn(Box::pin(work));
    }
}

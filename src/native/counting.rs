//! Round-trip counters around the native D1, KV and HTTP, so tests can hold each route to a
//! budget of storage and vendor round trips ("warm token.issue: no D1 before the response").
//! The D1 counter can also be told to fail writes, to show what happens when D1 is down.

use std::cell::Cell;
use std::rc::Rc;

use async_trait::async_trait;

use crate::runtime::{Db, DbError, Http, HttpError, Kv, OutboundRequest, OutboundResponse, Row, SqlValue, Statement};

/// Round trips made so far, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundTrips {
    /// D1 round trips to the primary: queries, writes and batches (a batch is one).
    pub d1: u32,
    /// D1 reads that a read replica may serve.
    pub d1_replica: u32,
    pub kv: u32,
    /// Outbound vendor calls.
    pub http: u32,
}

impl RoundTrips {
    /// Every D1 round trip, primary or replica.
    pub fn d1_total(&self) -> u32 {
        self.d1 + self.d1_replica
    }
}

#[derive(Default)]
pub struct Counters {
    d1: Cell<u32>,
    d1_replica: Cell<u32>,
    kv: Cell<u32>,
    http: Cell<u32>,
    /// While non-zero, each write (execute, batch, or a query that writes) fails and counts down.
    failing_writes: Cell<u32>,
}

impl Counters {
    pub fn snapshot(&self) -> RoundTrips {
        RoundTrips { d1: self.d1.get(), d1_replica: self.d1_replica.get(), kv: self.kv.get(), http: self.http.get() }
    }

    /// The next `n` D1 writes fail as if D1 were unreachable.
    pub fn fail_next_writes(&self, n: u32) {
        self.failing_writes.set(n);
    }

    fn bump(cell: &Cell<u32>) {
        cell.set(cell.get() + 1);
    }

    fn write_fails(&self) -> bool {
        let left = self.failing_writes.get();
        if left > 0 {
            self.failing_writes.set(left - 1);
        }
        left > 0
    }
}

fn is_write(sql: &str) -> bool {
    let head = sql.trim_start().get(..6).unwrap_or("").to_ascii_uppercase();
    matches!(head.as_str(), "INSERT" | "UPDATE" | "DELETE")
}

fn unreachable() -> DbError {
    DbError::Other("D1 unreachable (injected by the test)".into())
}

pub struct CountingDb {
    pub inner: Rc<dyn Db>,
    pub counters: Rc<Counters>,
}

#[async_trait(?Send)]
impl Db for CountingDb {
    async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, DbError> {
        Counters::bump(&self.counters.d1);
        if is_write(sql) && self.counters.write_fails() {
            return Err(unreachable());
        }
        self.inner.query(sql, params).await
    }

    async fn query_replica(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, DbError> {
        Counters::bump(&self.counters.d1_replica);
        self.inner.query(sql, params).await
    }

    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        Counters::bump(&self.counters.d1);
        if self.counters.write_fails() {
            return Err(unreachable());
        }
        self.inner.execute(sql, params).await
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, DbError> {
        Counters::bump(&self.counters.d1);
        if self.counters.write_fails() {
            return Err(unreachable());
        }
        self.inner.batch(statements).await
    }
}

pub struct CountingKv {
    pub inner: Rc<dyn Kv>,
    pub counters: Rc<Counters>,
}

#[async_trait(?Send)]
impl Kv for CountingKv {
    async fn get(&self, key: &str) -> Option<String> {
        Counters::bump(&self.counters.kv);
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: &str, ttl_s: u64) {
        Counters::bump(&self.counters.kv);
        self.inner.put(key, value, ttl_s).await
    }
}

pub struct CountingHttp {
    pub inner: Rc<dyn Http>,
    pub counters: Rc<Counters>,
}

#[async_trait(?Send)]
impl Http for CountingHttp {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, HttpError> {
        Counters::bump(&self.counters.http);
        self.inner.send(request).await
    }
}

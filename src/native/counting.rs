//! Round-trip counters around the native D1, KV and HTTP, so tests can hold each route to a
//! budget of storage and vendor round trips ("warm token.issue: no D1 before the response").
//! The D1 counter can also be told to fail writes, to show what happens when D1 is down, or to
//! hold a write in flight until the test lets it finish, to show what happens meanwhile.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

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
    /// While non-zero, writes go through (counting down) before `failing_writes` applies.
    passing_writes: Cell<u32>,
    /// When set, the next write waits at this gate before it reaches the database.
    held_write: RefCell<Option<Rc<WriteGate>>>,
}

/// A D1 write held in flight: it has started (`reached`) and finishes only once `release`d.
#[derive(Default)]
pub struct WriteGate {
    reached: Cell<bool>,
    released: Cell<bool>,
    waiting: RefCell<Option<Waker>>,
}

impl WriteGate {
    /// Whether the held write has started (and is now waiting).
    pub fn reached(&self) -> bool {
        self.reached.get()
    }

    /// Lets the held write go on; it finishes the next time the test drives the runtime.
    pub fn release(&self) {
        self.released.set(true);
        if let Some(waker) = self.waiting.borrow_mut().take() {
            waker.wake();
        }
    }

    async fn pass(&self) {
        self.reached.set(true);
        poll_fn(|cx| {
            if self.released.get() {
                Poll::Ready(())
            } else {
                *self.waiting.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl Counters {
    pub fn snapshot(&self) -> RoundTrips {
        RoundTrips { d1: self.d1.get(), d1_replica: self.d1_replica.get(), kv: self.kv.get(), http: self.http.get() }
    }

    /// The next `n` D1 writes fail as if D1 were unreachable.
    pub fn fail_next_writes(&self, n: u32) {
        self.passing_writes.set(0);
        self.failing_writes.set(n);
    }

    /// The next `pass` D1 writes succeed, then `n` fail: a failure in the middle of a task.
    pub fn fail_writes_after(&self, pass: u32, n: u32) {
        self.passing_writes.set(pass);
        self.failing_writes.set(n);
    }

    /// Holds the next D1 write in flight until the returned gate is released.
    pub fn hold_next_write(&self) -> Rc<WriteGate> {
        let gate = Rc::new(WriteGate::default());
        *self.held_write.borrow_mut() = Some(gate.clone());
        gate
    }

    /// What every write meets before it reaches the database: an injected failure, else the
    /// held gate, if a write is to be held.
    async fn before_write(&self) -> Result<(), DbError> {
        if self.write_fails() {
            return Err(unreachable());
        }
        let gate = self.held_write.borrow_mut().take();
        if let Some(gate) = gate {
            gate.pass().await;
        }
        Ok(())
    }

    fn bump(cell: &Cell<u32>) {
        cell.set(cell.get() + 1);
    }

    fn write_fails(&self) -> bool {
        let passing = self.passing_writes.get();
        if passing > 0 {
            self.passing_writes.set(passing - 1);
            return false;
        }
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
        if is_write(sql) {
            self.counters.before_write().await?;
        }
        self.inner.query(sql, params).await
    }

    async fn query_replica(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, DbError> {
        Counters::bump(&self.counters.d1_replica);
        self.inner.query(sql, params).await
    }

    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        Counters::bump(&self.counters.d1);
        self.counters.before_write().await?;
        self.inner.execute(sql, params).await
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, DbError> {
        Counters::bump(&self.counters.d1);
        self.counters.before_write().await?;
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

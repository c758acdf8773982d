//! The native runtime: real implementations of the runtime traits for `cargo test` and
//! benches. SQLite runs the very migrations D1 runs; HTTP is scripted per test, because the
//! strict vendor stand-ins belong to the end-to-end suite.

mod counting;
mod http;
mod limiter;
mod log_capture;
mod sqlite;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use async_trait::async_trait;

pub use counting::{Counters, RoundTrips};
pub use http::{json_response, Exchange, ScriptedHttp};
pub use limiter::FixedWindowLimiter;
pub use log_capture::LogCapture;
pub use sqlite::SqliteDb;

use futures_executor::{LocalPool, LocalSpawner};
use futures_util::task::LocalSpawnExt;

use crate::runtime::{Background, Clock, Entropy, Kv, Queue, Runtime, Task};

/// Key/value in memory, with expiry on the manual clock.
#[derive(Default)]
pub struct MemoryKv {
    entries: RefCell<HashMap<String, (String, u64)>>,
    clock: Option<Rc<ManualClock>>,
}

#[async_trait(?Send)]
impl Kv for MemoryKv {
    async fn get(&self, key: &str) -> Option<String> {
        let now = self.clock.as_ref().map_or(0, |c| c.now_ms());
        let entries = self.entries.borrow();
        entries.get(key).filter(|(_, expires)| *expires > now).map(|(v, _)| v.clone())
    }

    async fn put(&self, key: &str, value: &str, ttl_s: u64) {
        let now = self.clock.as_ref().map_or(0, |c| c.now_ms());
        self.entries.borrow_mut().insert(key.to_owned(), (value.to_owned(), now + ttl_s * 1000));
    }
}

/// A clock that moves only when told to (or when something sleeps on it).
pub struct ManualClock {
    now_ms: Cell<u64>,
}

impl ManualClock {
    pub fn new(now_ms: u64) -> Self {
        ManualClock { now_ms: Cell::new(now_ms) }
    }

    pub fn advance_ms(&self, ms: u64) {
        self.now_ms.set(self.now_ms.get() + ms);
    }
}

#[async_trait(?Send)]
impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }

    async fn sleep_ms(&self, ms: u64) {
        self.advance_ms(ms);
    }
}

/// The operating system's CSPRNG.
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        getrandom::getrandom(buf).expect("the OS random source is available");
    }
}

thread_local! {
    // One pool per test thread: `block_on` drives it, `Pool` spawns into it. The spawner is
    // taken up front: spawning happens while the pool is being driven (mutably borrowed).
    // Both are replaced together when pending work is dropped (`drop_background`).
    static POOL: (RefCell<LocalPool>, RefCell<LocalSpawner>) = {
        let pool = LocalPool::new();
        let spawner = pool.spawner();
        (RefCell::new(pool), RefCell::new(spawner))
    };
    static SPAWNED: Cell<u64> = const { Cell::new(0) };
}

/// How many background tasks this thread has been handed so far (`ctx.waitUntil` calls on
/// Workers): tests hold hot paths to scheduling none.
pub fn tasks_spawned() -> u64 {
    SPAWNED.with(Cell::get)
}

/// `ctx.waitUntil` natively: tasks go to this thread's pool and run while `block_on` (or
/// `run_background`) drives it, so they survive the request future being dropped.
pub struct Pool;

impl Background for Pool {
    fn spawn(&self, task: Task) {
        SPAWNED.with(|n| n.set(n.get() + 1));
        POOL.with(|(_, spawner)| spawner.borrow().spawn_local(task).expect("the thread's pool is alive"));
    }
}

/// A queue in memory on the manual clock: messages become due after their delay, and tests
/// hand the due ones to the consumer (`take_due`), as the Queues runtime would.
#[derive(Default)]
pub struct MemoryQueue {
    messages: RefCell<Vec<(u64, String)>>,
    clock: Option<Rc<ManualClock>>,
    /// How many `send_batch` calls were made.
    batches: RefCell<u32>,
    /// While non-zero, each send (or batch) fails and counts down, nothing sent.
    failing_sends: Cell<u32>,
}

impl MemoryQueue {
    /// Removes and returns the messages due now, oldest due first.
    pub fn take_due(&self) -> Vec<String> {
        let now = self.clock.as_ref().map_or(0, |c| c.now_ms());
        let mut messages = self.messages.borrow_mut();
        messages.sort_by_key(|(due, _)| *due);
        let split = messages.iter().position(|(due, _)| *due > now).unwrap_or(messages.len());
        messages.drain(..split).map(|(_, body)| body).collect()
    }

    /// How many messages are waiting, due or not.
    pub fn len(&self) -> usize {
        self.messages.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many `send_batch` calls were made so far.
    pub fn batches_sent(&self) -> u32 {
        *self.batches.borrow()
    }

    /// The next `n` sends (a batch is one) fail as if the queue were unreachable.
    pub fn fail_next_sends(&self, n: u32) {
        self.failing_sends.set(n);
    }

    fn send_fails(&self) -> bool {
        let left = self.failing_sends.get();
        self.failing_sends.set(left.saturating_sub(1));
        left > 0
    }

    fn push(&self, body: &str, delay_s: u32) {
        let now = self.clock.as_ref().map_or(0, |c| c.now_ms());
        self.messages.borrow_mut().push((now + u64::from(delay_s) * 1000, body.to_owned()));
    }

    /// When the next message becomes due, if any.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.messages.borrow().iter().map(|(due, _)| *due).min()
    }
}

#[async_trait(?Send)]
impl Queue for MemoryQueue {
    async fn send(&self, body: &str, delay_s: u32) -> Result<(), String> {
        if self.send_fails() {
            return Err(QUEUE_DOWN.to_owned());
        }
        self.push(body, delay_s);
        Ok(())
    }

    async fn send_batch(&self, bodies: &[String], delay_s: u32) -> Result<(), String> {
        if bodies.len() > crate::runtime::MAX_QUEUE_BATCH {
            return Err(format!("a batch of {} messages is over the limit", bodies.len()));
        }
        if self.send_fails() {
            return Err(QUEUE_DOWN.to_owned());
        }
        *self.batches.borrow_mut() += 1;
        for body in bodies {
            self.push(body, delay_s);
        }
        Ok(())
    }
}

const QUEUE_DOWN: &str = "queue unreachable (injected by the test)";

/// A runtime wired to native parts, with handles to the parts tests steer. D1, KV and HTTP
/// are counted (`round_trips`); the rate limiter counts its own calls (`limiter.calls()`).
pub struct NativeRuntime {
    pub runtime: Runtime,
    pub db: Rc<SqliteDb>,
    pub http: Rc<ScriptedHttp>,
    pub clock: Rc<ManualClock>,
    pub queue: Rc<MemoryQueue>,
    pub limiter: Rc<FixedWindowLimiter>,
    pub counters: Rc<Counters>,
}

impl NativeRuntime {
    /// A fresh in-memory database with every migration applied, the clock at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        let db = Rc::new(SqliteDb::in_memory_migrated());
        let http = Rc::new(ScriptedHttp::default());
        let clock = Rc::new(ManualClock::new(now_ms));
        let kv = Rc::new(MemoryKv { entries: RefCell::default(), clock: Some(clock.clone()) });
        let queue = Rc::new(MemoryQueue { clock: Some(clock.clone()), ..MemoryQueue::default() });
        let limiter = Rc::new(FixedWindowLimiter::new(clock.clone()));
        let counters = Rc::new(Counters::default());
        let runtime = Runtime {
            db: Rc::new(counting::CountingDb { inner: db.clone(), counters: counters.clone() }),
            kv: Rc::new(counting::CountingKv { inner: kv, counters: counters.clone() }),
            http: Rc::new(counting::CountingHttp { inner: http.clone(), counters: counters.clone() }),
            clock: clock.clone(),
            entropy: Rc::new(OsEntropy),
            background: Rc::new(Pool),
            queue: queue.clone(),
            limiter: limiter.clone(),
        };
        NativeRuntime { runtime, db, http, clock, queue, limiter, counters }
    }

    /// Round trips made so far through this runtime.
    pub fn round_trips(&self) -> RoundTrips {
        self.counters.snapshot()
    }
}

/// Runs a future to completion on this thread (the core's futures are not `Send`), then every
/// background task it started — as a Worker runs its `waitUntil` work after the response.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let output = respond_only(future);
    run_background();
    output
}

/// Runs a future to completion, leaving background work that is still pending afterwards
/// (work after the response) for `run_background`.
pub fn respond_only<F: std::future::Future>(future: F) -> F::Output {
    POOL.with(|(pool, _)| pool.borrow_mut().run_until(future))
}

/// Runs every pending background task to completion (or until all of them wait on nothing
/// this thread can wake).
pub fn run_background() {
    POOL.with(|(pool, _)| pool.borrow_mut().run_until_stalled());
}

/// Drops every pending background task unrun, as when the runtime stops an isolate after its
/// response went out (work after the response is best effort). Not while the pool is driven.
pub fn drop_background() {
    POOL.with(|(pool, spawner)| {
        let fresh = LocalPool::new();
        *spawner.borrow_mut() = fresh.spawner();
        // The old pool, and every task still in it, is dropped here.
        drop(pool.replace(fresh));
    });
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn work_started_for_a_request_finishes_after_the_request_is_dropped() {
        let rt = NativeRuntime::new(0).runtime;
        let finished = Rc::new(Cell::new(false));
        let flag = finished.clone();
        let request = rt.finish_even_if_cancelled(async move {
            // Waits once, as a vendor call would, so the caller is still pending when dropped.
            let mut waited = false;
            std::future::poll_fn(|cx| {
                if waited {
                    std::task::Poll::Ready(())
                } else {
                    waited = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            flag.set(true);
        });
        // The client disconnects: the request future is polled once and dropped.
        assert!(request.now_or_never().is_none());
        assert!(!finished.get());
        run_background();
        assert!(finished.get(), "background work ran to the end without its request");
    }

    #[test]
    fn a_request_that_stays_gets_the_result_of_its_background_work() {
        let rt = NativeRuntime::new(0).runtime;
        assert_eq!(block_on(rt.finish_even_if_cancelled(async { 41 + 1 })), Some(42));
    }

    #[test]
    fn work_after_the_response_runs_only_when_the_background_is_driven() {
        let rt = NativeRuntime::new(0).runtime;
        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        respond_only(async { rt.after_response(async move { flag.set(true) }) });
        assert!(!ran.get(), "nothing runs before the background is driven");
        run_background();
        assert!(ran.get());
    }

    #[test]
    fn work_after_the_response_of_a_stopped_isolate_never_runs() {
        let rt = NativeRuntime::new(0).runtime;
        let ran = Rc::new(Cell::new(0));
        let flag = ran.clone();
        respond_only(async { rt.after_response(async move { flag.set(flag.get() + 1) }) });
        drop_background();
        run_background();
        assert_eq!(ran.get(), 0, "dropped work stays undone");
        // Work started afterwards still runs.
        let flag = ran.clone();
        respond_only(async { rt.after_response(async move { flag.set(flag.get() + 1) }) });
        run_background();
        assert_eq!(ran.get(), 1);
    }
}

//! The native runtime: real implementations of the runtime traits for `cargo test` and
//! benches. SQLite runs the very migrations D1 runs; HTTP is scripted per test, because the
//! strict vendor stand-ins belong to the end-to-end suite.

mod http;
mod sqlite;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use async_trait::async_trait;

pub use http::{json_response, Exchange, ScriptedHttp};
pub use sqlite::SqliteDb;

use crate::runtime::{Clock, Entropy, Kv, Runtime};

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

/// A runtime wired to native parts, with handles to the parts tests steer.
pub struct NativeRuntime {
    pub runtime: Runtime,
    pub db: Rc<SqliteDb>,
    pub http: Rc<ScriptedHttp>,
    pub clock: Rc<ManualClock>,
}

impl NativeRuntime {
    /// A fresh in-memory database with every migration applied, the clock at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        let db = Rc::new(SqliteDb::in_memory_migrated());
        let http = Rc::new(ScriptedHttp::default());
        let clock = Rc::new(ManualClock::new(now_ms));
        let kv = Rc::new(MemoryKv { entries: RefCell::default(), clock: Some(clock.clone()) });
        let runtime =
            Runtime { db: db.clone(), kv, http: http.clone(), clock: clock.clone(), entropy: Rc::new(OsEntropy) };
        NativeRuntime { runtime, db, http, clock }
    }
}

/// Runs a future to completion on this thread (the core's futures are not `Send`).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

//! rtcgate: one REST API for realtime audio/video rooms across LiveKit, Agora and ZEGOCLOUD.
//!
//! # Where things are
//!
//! - `edge`, `native`: the two runtimes, the entry points. `edge` runs the Worker on
//!   Cloudflare (the only wasm-only module, besides the SIMD lanes in `crypto::aes256`, whose
//!   algorithm the tests run on a model of those lanes); `native` runs the same core for tests
//!   and benches on SQLite.
//! - `app`: the composition root. `App::from_env` builds the isolate's state; `App::handle`
//!   runs the request pipeline (request id, body limit, content type, auth, rate limit, route
//!   → `resources::serve`) and renders every error as the API's envelope; `app::maintenance`
//!   is the scheduled job.
//! - `resources`: one folder per resource (rooms, tokens, participants, recordings, events,
//!   webhooks, and the small ones). Its `api` parses the request and replies; its `service`
//!   decides. `resources::rooms::directory` is the one place that turns a `{room}` into a
//!   usable room.
//! - `api`: what a handler gets: `Ctx` and `Reply`, the isolate's state and settings, the
//!   router, authentication (with its key cache), the body reader, paging, the rate limit.
//! - `idempotency`: running a create at most once per key, and the backoff waiters use.
//! - `store`: SQL only (D1 on the edge, SQLite natively), one module per table family, and
//!   the isolate caches of its rows (rooms, the participant registry).
//! - `vendors`: the `Vendor` trait, routing between vendors (`VendorRouter`, breakers), and
//!   one folder per vendor: its settings, tokens, REST calls, recording and webhook parser.
//! - `domain`: the types everything speaks in (ids, events, recordings and their storage,
//!   quotas, which hosts a tenant's URL may reach); `crypto`: AES, sealing, hex, entropy.
//! - The ground floor: `error` (the API's error type), `runtime` (the eight capabilities the
//!   core needs from its host), `http` (the request and response as plain data), `config`
//!   (reading settings), `time`, `log`, `byte_cache`.
//!
//! # The layering rule
//!
//! Imports point one way, top to bottom: entry (`edge`, `native`) → `app` → `resources` →
//! `idempotency`, `api` → `store`, `vendors` → `domain`, `crypto` → `error`, `runtime`,
//! `http`, `config`, `time`, `log`, `byte_cache`. A module may import its own layer and the
//! layers below, never above, and no two units import each other (each resource is a unit of
//! its own). No resource's `api` imports another resource's `api`: what two resources share is
//! a service or plumbing. `store` imports only `domain`, `crypto` and the ground floor;
//! `vendors` never imports `store`, `resources` or `app`. `tests/layering.rs` holds the tree
//! to this rule (its table at the top is the rule as data).

pub mod api;
pub mod app;
pub mod byte_cache;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod log;
pub mod resources;
pub mod runtime;
pub mod store;
pub mod time;
pub mod vendors;

#[cfg(not(target_arch = "wasm32"))]
pub mod native;

#[cfg(target_arch = "wasm32")]
mod edge;

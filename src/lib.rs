//! rtcgate: one REST API for realtime audio/video rooms across LiveKit, Agora and ZEGOCLOUD.
//!
//! Everything but `edge` is plain Rust that compiles and tests natively: the request model
//! (`http`), routing of paths (`router`) and of vendors (`routing`), validation (`body`),
//! auth, handlers, storage, and the vendors themselves. `runtime` names the eight
//! capabilities the core needs from its host; `edge` provides them on Cloudflare Workers
//! (the only wasm-only module, besides the SIMD lanes in `aes256`, whose algorithm the tests
//! run on a model of those lanes) and `native` provides them for tests and benches.

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

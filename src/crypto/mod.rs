//! The cryptography rtcgate does itself: AES-256 (ZEGO's token04, with wasm SIMD lanes), sealing
//! secrets at rest, hex, and the pool of random bytes that IVs and ids draw from.

pub mod aes256;
pub mod entropy_pool;
pub mod hex;
pub mod sealed;

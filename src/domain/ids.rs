//! Public identifiers: a short type prefix and base62 randomness.

use crate::runtime::Runtime;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `prefix` + `len` base62 characters. Each character carries log2(62) ≈ 5.95 bits; bytes
/// are drawn by rejection sampling so every character is uniform.
pub fn random_id(rt: &Runtime, prefix: &str, len: usize) -> String {
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    while out.len() < prefix.len() + len {
        let bytes: [u8; 32] = rt.random_bytes();
        for b in bytes {
            // 248 = 4 × 62: values at or above it would bias the low characters.
            if b < 248 && out.len() < prefix.len() + len {
                out.push(BASE62[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// Room ids: `rm_` + 22 base62 characters (≈131 random bits). 25 ASCII characters of
/// `[A-Za-z0-9_]`, inside every vendor's limits for a room/channel name (Agora: 64 bytes,
/// ZEGO: 128 bytes, LiveKit: no limit) and charsets.
pub fn room_id(rt: &Runtime) -> String {
    random_id(rt, "rm_", 22)
}

/// Whether `s` has the form of a room id (names never do, so `{room}` is unambiguous).
pub fn is_room_id(s: &str) -> bool {
    s.strip_prefix("rm_").is_some_and(|rest| rest.len() == 22 && is_base62(rest))
}

pub fn project_id(rt: &Runtime) -> String {
    random_id(rt, "prj_", 16)
}

pub fn key_id(rt: &Runtime) -> String {
    random_id(rt, "key_", 16)
}

pub fn recording_id(rt: &Runtime) -> String {
    random_id(rt, "rec_", 22)
}

/// Participant sessions: `ses_` + 22 base62 characters.
pub fn session_id(rt: &Runtime) -> String {
    random_id(rt, "ses_", 22)
}

pub fn destination_id(rt: &Runtime) -> String {
    random_id(rt, "dst_", 16)
}

pub fn request_id(rt: &Runtime) -> String {
    random_id(rt, "req_", 20)
}

pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

//! ZEGOCLOUD token04, AES-256-CBC form (zegoim/zego_server_assistant
//! `token/go/src/token04/token04.go`).
//!
//! ```text
//! plaintext = {"app_id":u32,"user_id":str,"nonce":i32,"ctime":i64,"expire":ctime+ttl,"payload":str}
//! key       = the 32 ASCII bytes of the server secret; AES-256-CBC, PKCS#7, 16-byte IV
//! binary    = i64be expire | u16be 16 | iv | u16be ct_len | ciphertext
//! token     = "04" + base64_standard(binary)
//! ```
//! Keys are written in the official Node/Python generators' order and compact, so outputs
//! match theirs byte for byte (the server itself parses the JSON).
//!
//! Pure functions: callers inject `ctime`, `nonce` and the IV. The AES key schedule is
//! expanded once in [`ZegoTokenMinter::new`]; plaintext/ciphertext share a reused buffer.

use std::cell::RefCell;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::crypto::aes256::Aes256Cbc;

/// Token version prefix.
const VERSION: &str = "04";
/// Alphabet of the official generator's IV characters.
const IV_ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// `i64be expire | u16be 16 | iv[16] | u16be ct_len`.
const HEADER_LEN: usize = 8 + 2 + 16 + 2;

/// Why a [`ZegoTokenMinter`] cannot be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZegoConfigError {
    /// `app_id` is 0.
    AppIdZero,
    /// The server secret is not exactly 32 ASCII characters (its bytes are the AES-256 key).
    SecretNot32Chars,
}

impl fmt::Display for ZegoConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ZegoConfigError::AppIdZero => "ZEGO AppID must not be 0",
            ZegoConfigError::SecretNot32Chars => "ZEGO ServerSecret must be 32 characters",
        })
    }
}

impl std::error::Error for ZegoConfigError {}

/// Mints token04 tokens for one AppID / ServerSecret pair.
///
/// Holds the expanded AES-256 encryption key and a scratch buffer behind a `RefCell`, so it
/// is `!Sync`: keep one per thread (the Worker is single-threaded).
pub struct ZegoTokenMinter {
    app_id: u32,
    cipher: Aes256Cbc,
    scratch: RefCell<Vec<u8>>,
}

impl fmt::Debug for ZegoTokenMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZegoTokenMinter").field("app_id", &self.app_id).finish_non_exhaustive()
    }
}

impl ZegoTokenMinter {
    /// Checks the AppID and the 32-character secret and expands the AES key.
    pub fn new(app_id: u32, server_secret: &str) -> Result<Self, ZegoConfigError> {
        if app_id == 0 {
            return Err(ZegoConfigError::AppIdZero);
        }
        let key: &[u8; 32] = server_secret
            .as_bytes()
            .try_into()
            .ok()
            .filter(|_| server_secret.is_ascii())
            .ok_or(ZegoConfigError::SecretNot32Chars)?;
        Ok(ZegoTokenMinter { app_id, cipher: Aes256Cbc::new(key), scratch: RefCell::new(Vec::with_capacity(512)) })
    }

    /// token04, AES-256-CBC, PKCS#7. `payload` is the JSON document carried as a string
    /// (`""` for a basic token, [`strict_room_payload`] for a strict room token); `iv` is 16
    /// bytes (callers pass 16 random chars of `[0-9a-z]`, see [`iv_from_random`]).
    ///
    /// Preconditions (checked by callers, as the official generator does): `user_id`
    /// non-empty, `ttl_s > 0`.
    pub fn token04(&self, user_id: &str, payload: &str, ctime: i64, ttl_s: i64, nonce: i32, iv: &[u8; 16]) -> String {
        let expire = ctime.saturating_add(ttl_s);
        match self.scratch.try_borrow_mut() {
            Ok(mut buf) => self.seal(&mut buf, user_id, payload, ctime, expire, nonce, iv),
            Err(_) => self.seal(&mut Vec::new(), user_id, payload, ctime, expire, nonce, iv),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn seal(
        &self,
        buf: &mut Vec<u8>,
        user_id: &str,
        payload: &str,
        ctime: i64,
        expire: i64,
        nonce: i32,
        iv: &[u8; 16],
    ) -> String {
        // buf = header (filled last) ‖ plaintext, encrypted in place into the ciphertext
        buf.clear();
        buf.extend_from_slice(&[0; HEADER_LEN]);
        buf.extend_from_slice(b"{\"app_id\":");
        push_json(buf, &self.app_id);
        buf.extend_from_slice(b",\"user_id\":");
        push_json(buf, user_id);
        buf.extend_from_slice(b",\"nonce\":");
        push_json(buf, &nonce);
        buf.extend_from_slice(b",\"ctime\":");
        push_json(buf, &ctime);
        buf.extend_from_slice(b",\"expire\":");
        push_json(buf, &expire);
        buf.extend_from_slice(b",\"payload\":");
        push_json(buf, payload);
        buf.push(b'}');

        self.cipher.encrypt_padded(iv, buf, HEADER_LEN);
        let ct_len = u16::try_from(buf.len() - HEADER_LEN)
            .expect("token04 ciphertext is at most 65535 bytes (keep payloads small)");
        let header = &mut buf[..HEADER_LEN];
        header[..8].copy_from_slice(&expire.to_be_bytes());
        header[8..10].copy_from_slice(&16u16.to_be_bytes());
        header[10..26].copy_from_slice(iv);
        header[26..28].copy_from_slice(&ct_len.to_be_bytes());

        let mut token = String::with_capacity(VERSION.len() + buf.len().div_ceil(3) * 4);
        token.push_str(VERSION);
        STANDARD.encode_string(&buf[..], &mut token);
        token
    }
}

fn push_json<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(&mut *buf, value).expect("strings and integers serialize into a Vec");
}

/// The strict room payload `{"room_id":…,"privilege":{"1":1,"2":0|1},"stream_id_list":null}`
/// (privilege 1 = log in to the room, 2 = publish).
pub fn strict_room_payload(room_id: &str, can_publish: bool) -> String {
    let mut buf = Vec::with_capacity(room_id.len() + 64);
    buf.extend_from_slice(b"{\"room_id\":");
    push_json(&mut buf, room_id);
    buf.extend_from_slice(b",\"privilege\":{\"1\":1,\"2\":");
    buf.push(if can_publish { b'1' } else { b'0' });
    buf.extend_from_slice(b"},\"stream_id_list\":null}");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// 16 characters of `[0-9a-z]` from 16 random bytes (the official generator's IV alphabet).
///
/// Each 8-byte half is read as a u64 and written as 8 base-36 digits, so the characters are
/// uniform up to a bias below 2^-22 per half (a plain `byte % 36` would bias 4 of the 36
/// characters by 1/64).
pub fn iv_from_random(bytes: [u8; 16]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    for (half, out) in bytes.chunks_exact(8).zip(iv.chunks_exact_mut(8)) {
        let mut n = u64::from_le_bytes(half.try_into().expect("8-byte chunk"));
        for c in out {
            *c = IV_ALPHABET[(n % 36) as usize];
            n /= 36;
        }
    }
    iv
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::{BlockDecryptMut, KeyIvInit};
    use cbc::cipher::block_padding::Pkcs7;
    use serde_json::Value;

    const APP_ID: u32 = 1_234_567_890;
    const SECRET: &str = "fa94dd0f974cf2e293728a526b028271";

    fn vectors() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vectors/zego_token04.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// Opens a token independently: parse the binary, AES-256-CBC decrypt with the `cbc`
    /// decryptor, strip PKCS#7. Returns (expire, iv, plaintext).
    fn open(token: &str, secret: &str) -> Result<(i64, Vec<u8>, Vec<u8>), String> {
        let body = token.strip_prefix("04").ok_or("no 04 prefix")?;
        let bin = STANDARD.decode(body).map_err(|e| e.to_string())?;
        let expire = i64::from_be_bytes(bin[..8].try_into().unwrap());
        let iv_len = u16::from_be_bytes([bin[8], bin[9]]) as usize;
        let iv = bin[10..10 + iv_len].to_vec();
        let at = 10 + iv_len;
        let ct_len = u16::from_be_bytes([bin[at], bin[at + 1]]) as usize;
        let mut ct = bin[at + 2..].to_vec();
        if ct.len() != ct_len {
            return Err("length mismatch".into());
        }
        let plain = cbc::Decryptor::<aes::Aes256>::new_from_slices(secret.as_bytes(), &iv)
            .map_err(|e| e.to_string())?
            .decrypt_padded_mut::<Pkcs7>(&mut ct)
            .map_err(|e| e.to_string())?
            .to_vec();
        Ok((expire, iv, plain))
    }

    #[test]
    fn reproduces_official_vectors_byte_for_byte() {
        let doc = vectors();
        let list = doc["vectors"].as_array().unwrap();
        assert_eq!(list.len(), 3);
        for v in list {
            let m = ZegoTokenMinter::new(v["app_id"].as_u64().unwrap() as u32, v["secret"].as_str().unwrap()).unwrap();
            let iv: [u8; 16] = v["iv"].as_str().unwrap().as_bytes().try_into().unwrap();
            let tok = m.token04(
                v["user_id"].as_str().unwrap(),
                v["payload"].as_str().unwrap(),
                v["ctime"].as_i64().unwrap(),
                v["ttl"].as_i64().unwrap(),
                v["nonce"].as_i64().unwrap() as i32,
                &iv,
            );
            assert_eq!(tok, v["token"].as_str().unwrap(), "user {}", v["user_id"]);
        }
    }

    #[test]
    fn strict_payload_matches_vectors() {
        let doc = vectors();
        let v = &doc["vectors"];
        assert_eq!(strict_room_payload("rm_7Hq2", true), v[1]["payload"].as_str().unwrap());
        assert_eq!(strict_room_payload("rm_7Hq2", false), v[2]["payload"].as_str().unwrap());
        let p: Value = serde_json::from_str(&strict_room_payload("a\"b\\c\u{1}é", true)).unwrap();
        assert_eq!(p["room_id"], "a\"b\\c\u{1}é");
        assert_eq!(p["privilege"], serde_json::json!({"1": 1, "2": 1}));
        assert_eq!(p["stream_id_list"], Value::Null);
    }

    #[test]
    fn decrypts_to_the_documented_plaintext() {
        let m = ZegoTokenMinter::new(APP_ID, SECRET).unwrap();
        let iv = *b"abcdef0123456789";
        let user = "us\"er\\\n\u{7}ü日本🎥";
        let payload = strict_room_payload("room \"1\"", false);
        let tok = m.token04(user, &payload, 1_700_000_000, 3600, -5, &iv);
        let (expire, got_iv, plain) = open(&tok, SECRET).unwrap();
        assert_eq!(expire, 1_700_003_600);
        assert_eq!(got_iv, iv);
        let text = std::str::from_utf8(&plain).unwrap();
        assert!(text.starts_with(r#"{"app_id":1234567890,"user_id":"#), "{text}");
        let json: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"app_id": APP_ID, "user_id": user, "nonce": -5,
                "ctime": 1_700_000_000i64, "expire": 1_700_003_600i64, "payload": payload})
        );
        // key order is the official generators'
        let order: Vec<usize> = ["app_id", "user_id", "nonce", "ctime", "expire", "payload"]
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn padding_boundaries_and_buffer_reuse() {
        let m = ZegoTokenMinter::new(APP_ID, SECRET).unwrap();
        let iv = iv_from_random([7; 16]);
        // walk the plaintext length across several block boundaries (incl. exact multiples,
        // which need a whole padding block); each token must match a fresh minter's
        for n in 0..40 {
            let user = "u".repeat(n + 1);
            let tok = m.token04(&user, "", 1, 2, 3, &iv);
            let fresh = ZegoTokenMinter::new(APP_ID, SECRET).unwrap();
            assert_eq!(tok, fresh.token04(&user, "", 1, 2, 3, &iv));
            let (_, _, plain) = open(&tok, SECRET).unwrap();
            let json: Value = serde_json::from_slice(&plain).unwrap();
            assert_eq!(json["user_id"], user.as_str());
        }
        let big = "p".repeat(5000);
        let tok = m.token04("x", &big, 1, 2, 3, &iv);
        let (_, _, plain) = open(&tok, SECRET).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&plain).unwrap()["payload"], big.as_str());
    }

    #[test]
    fn wrong_secret_does_not_open() {
        let m = ZegoTokenMinter::new(APP_ID, SECRET).unwrap();
        let tok = m.token04("alice", "", 1_700_000_000, 3600, 1, b"0123456789abcdef");
        assert!(open(&tok, SECRET).is_ok());
        match open(&tok, "fa94dd0f974cf2e293728a526b028272") {
            Err(_) => {}
            Ok((_, _, plain)) => assert!(serde_json::from_slice::<Value>(&plain).is_err()),
        }
    }

    #[test]
    fn iv_from_random_alphabet_and_spread() {
        assert_eq!(&iv_from_random([0; 16]), b"0000000000000000");
        let iv = iv_from_random([0xff; 16]);
        assert!(iv.iter().all(|c| IV_ALPHABET.contains(c)));
        // 1 = "1" then zeros for each half
        let mut one = [0u8; 16];
        one[0] = 1;
        one[8] = 35;
        assert_eq!(&iv_from_random(one), b"10000000z0000000");
        // a cheap deterministic PRNG: every character shows up and no position is constant
        let mut seen = [0u32; 36];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            let mut b = [0u8; 16];
            for chunk in b.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            for c in iv_from_random(b) {
                let i = IV_ALPHABET.iter().position(|&a| a == c).unwrap();
                seen[i] += 1;
            }
        }
        let expected = 2000 * 16 / 36;
        assert!(seen.iter().all(|&n| n > expected / 2 && n < expected * 3 / 2), "{seen:?}");
    }

    #[test]
    fn config_errors() {
        assert_eq!(ZegoTokenMinter::new(0, SECRET).unwrap_err(), ZegoConfigError::AppIdZero);
        assert_eq!(ZegoTokenMinter::new(1, &SECRET[1..]).unwrap_err(), ZegoConfigError::SecretNot32Chars);
        assert_eq!(ZegoTokenMinter::new(1, &format!("{SECRET}0")).unwrap_err(), ZegoConfigError::SecretNot32Chars);
        // 31 characters that make 32 bytes are refused too: "32 characters" must mean 32 key bytes
        assert_eq!(
            ZegoTokenMinter::new(1, &format!("{}é", &SECRET[..30])).unwrap_err(),
            ZegoConfigError::SecretNot32Chars
        );
        assert_eq!(ZegoTokenMinter::new(1, "").unwrap_err(), ZegoConfigError::SecretNot32Chars);
        let dbg = format!("{:?}", ZegoTokenMinter::new(1, SECRET).unwrap());
        assert!(!dbg.contains(SECRET));
    }
}

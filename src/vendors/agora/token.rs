//! Agora AccessToken2 ("007") with one RTC service (AgoraIO/Tools
//! `DynamicKey/AgoraDynamicKey/python3/src/{AccessToken2,RtcTokenBuilder2}.py`).
//!
//! Layout (integers little-endian, `string` = u16 length + raw bytes):
//! ```text
//! signing_key  = HMAC_SHA256(key = u32le(salt), msg = HMAC_SHA256(key = u32le(issue_ts), msg = certificate))
//! signing_info = string(app_id) | u32 issue_ts | u32 expire | u32 salt | u16 1
//!                | u16 1 (RTC) | u16 n | n × (u16 privilege, u32 expire) | string(channel) | string(uid)
//! content      = string(HMAC_SHA256(signing_key, signing_info)) | signing_info
//! token        = "007" + base64_standard_padded(zlib(content))
//! ```
//! The certificate is used as its 32 ASCII characters (not hex-decoded). `expire` and every
//! privilege value are seconds relative to `issue_ts`.
//!
//! Pure functions: the caller injects `issue_ts` and `salt` (1..=99_999_999).
//!
//! Speed: everything per-certificate is fixed at construction; the first-level signing key
//! `HMAC(u32le(issue_ts), certificate)` is cached for the last `issue_ts` (all tokens minted
//! in the same second share it); content and output buffers are reused; zlib is a small
//! purpose-built encoder (see the private `zlib` module for why not miniz_oxide's compressor).

use std::cell::{Cell, RefCell};
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Token version prefix.
const VERSION: &str = "007";
/// RTC service type.
const SERVICE_RTC: u16 = 1;
/// RTC privileges.
const PRIV_JOIN_CHANNEL: u16 = 1;
const PRIV_PUBLISH_AUDIO: u16 = 2;
const PRIV_PUBLISH_VIDEO: u16 = 3;
const PRIV_PUBLISH_DATA: u16 = 4;
/// Inflated tokens larger than this are refused by [`inflate_token`].
const MAX_INFLATED: usize = 64 * 1024;

/// Why an [`AgoraTokenBuilder`] cannot be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgoraConfigError {
    /// The App ID is not exactly 32 hexadecimal characters.
    AppIdNotHex32,
    /// The App Certificate is not exactly 32 hexadecimal characters.
    CertificateNotHex32,
}

impl fmt::Display for AgoraConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgoraConfigError::AppIdNotHex32 => "Agora App ID must be 32 hexadecimal characters",
            AgoraConfigError::CertificateNotHex32 => "Agora App Certificate must be 32 hexadecimal characters",
        })
    }
}

impl std::error::Error for AgoraConfigError {}

/// RTC privileges beyond joining (join is always granted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcPrivileges {
    /// publishAudioStream (2).
    pub publish_audio: bool,
    /// publishVideoStream (3).
    pub publish_video: bool,
    /// publishDataStream (4).
    pub publish_data: bool,
}

/// Reused per-token working memory.
struct Scratch {
    content: Vec<u8>,
    deflated: Vec<u8>,
}

/// Builds AccessToken2 RTC tokens for one App ID / App Certificate pair.
///
/// Holds reusable buffers and a signing-key cache behind `RefCell`/`Cell`, so it is `!Sync`: keep
/// one per thread (the Worker is single-threaded).
pub struct AgoraTokenBuilder {
    app_id: [u8; 32],
    certificate: [u8; 32],
    /// `(issue_ts, HMAC(u32le(issue_ts), certificate))` of the last token.
    ts_key: Cell<Option<(u32, [u8; 32])>>,
    scratch: RefCell<Scratch>,
}

impl fmt::Debug for AgoraTokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgoraTokenBuilder")
            .field("app_id", &String::from_utf8_lossy(&self.app_id))
            .finish_non_exhaustive()
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let bytes: [u8; 32] = s.as_bytes().try_into().ok()?;
    bytes.iter().all(u8::is_ascii_hexdigit).then_some(bytes)
}

fn new_scratch() -> Scratch {
    Scratch { content: Vec::with_capacity(256), deflated: Vec::with_capacity(320) }
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// # Panics
/// If `s` is longer than 65535 bytes (Agora channel names are at most 64 bytes).
fn put_string(buf: &mut Vec<u8>, s: &[u8]) {
    let len = u16::try_from(s.len()).expect("AccessToken2 strings are at most 65535 bytes");
    put_u16(buf, len);
    buf.extend_from_slice(s);
}

/// Decimal digits of `uid`, or nothing for uid 0 (packed as `""`).
fn uid_digits(uid: u32, buf: &mut [u8; 10]) -> &[u8] {
    if uid == 0 {
        return &[];
    }
    let mut n = uid;
    let mut i = buf.len();
    while n > 0 {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    &buf[i..]
}

impl AgoraTokenBuilder {
    /// Checks that both values are 32 hex characters and prepares the reusable state.
    pub fn new(app_id: &str, app_certificate: &str) -> Result<Self, AgoraConfigError> {
        let app_id = hex32(app_id).ok_or(AgoraConfigError::AppIdNotHex32)?;
        let certificate = hex32(app_certificate).ok_or(AgoraConfigError::CertificateNotHex32)?;
        Ok(AgoraTokenBuilder { app_id, certificate, ts_key: Cell::new(None), scratch: RefCell::new(new_scratch()) })
    }

    /// AccessToken2 "007" with one RTC service (type 1), `channel` and `uid` (uid 0 is packed
    /// as `""`, anything else as its decimal string, so clients must join with an int uid).
    /// Token expire = `ttl_s`; privileges: join always, plus publish audio+video (2, 3) and/or
    /// data (4), each valued `ttl_s`.
    ///
    /// # Panics
    /// If `channel` is longer than 65535 bytes (Agora allows 64).
    pub fn rtc_token(
        &self,
        channel: &str,
        uid: u32,
        privileges: RtcPrivileges,
        issue_ts: u32,
        salt: u32,
        ttl_s: u32,
    ) -> String {
        let mut list = [(0u16, 0u32); 4];
        let mut n = 0;
        let mut grant = |p: u16| {
            list[n] = (p, ttl_s);
            n += 1;
        };
        grant(PRIV_JOIN_CHANNEL);
        if privileges.publish_audio {
            grant(PRIV_PUBLISH_AUDIO);
        }
        if privileges.publish_video {
            grant(PRIV_PUBLISH_VIDEO);
        }
        if privileges.publish_data {
            grant(PRIV_PUBLISH_DATA);
        }
        let mut digits = [0u8; 10];
        let uid = uid_digits(uid, &mut digits);
        self.rtc_token_raw(channel.as_bytes(), uid, &list[..n], issue_ts, ttl_s, salt)
    }

    /// The general form: `uid` is the packed uid string (`""`, decimal, or a user account),
    /// `privileges` are `(privilege, expire)` pairs sorted by privilege, `expire` the token's.
    pub(crate) fn rtc_token_raw(
        &self,
        channel: &[u8],
        uid: &[u8],
        privileges: &[(u16, u32)],
        issue_ts: u32,
        expire: u32,
        salt: u32,
    ) -> String {
        debug_assert!(privileges.windows(2).all(|w| w[0].0 < w[1].0), "sorted, unique");
        let signing_key = hmac_sha256(&salt.to_le_bytes(), &self.ts_key(issue_ts));

        let mut fresh;
        let mut borrowed;
        let scratch: &mut Scratch = match self.scratch.try_borrow_mut() {
            Ok(s) => {
                borrowed = s;
                &mut borrowed
            }
            Err(_) => {
                fresh = new_scratch();
                &mut fresh
            }
        };

        // content = string(signature) | signing_info; the signature is filled in afterwards.
        let content = &mut scratch.content;
        content.clear();
        put_u16(content, 32);
        content.extend_from_slice(&[0; 32]);
        put_string(content, &self.app_id);
        put_u32(content, issue_ts);
        put_u32(content, expire);
        put_u32(content, salt);
        put_u16(content, 1);
        put_u16(content, SERVICE_RTC);
        put_u16(content, privileges.len() as u16);
        for &(privilege, value) in privileges {
            put_u16(content, privilege);
            put_u32(content, value);
        }
        put_string(content, channel);
        put_string(content, uid);
        let signature = hmac_sha256(&signing_key, &content[34..]);
        content[2..34].copy_from_slice(&signature);

        zlib::compress(content, &mut scratch.deflated);
        let deflated = &scratch.deflated;
        let mut token = String::with_capacity(VERSION.len() + deflated.len().div_ceil(3) * 4);
        token.push_str(VERSION);
        STANDARD.encode_string(deflated, &mut token);
        token
    }

    /// `HMAC(key = u32le(issue_ts), msg = certificate)`, cached for the last `issue_ts`.
    fn ts_key(&self, issue_ts: u32) -> [u8; 32] {
        match self.ts_key.get() {
            Some((ts, key)) if ts == issue_ts => key,
            _ => {
                let key = hmac_sha256(&issue_ts.to_le_bytes(), &self.certificate);
                self.ts_key.set(Some((issue_ts, key)));
                key
            }
        }
    }
}

/// A minimal zlib (RFC 1950) encoder for the short token content: greedy LZ77 matching with a
/// small hash table, emitted as one fixed-Huffman deflate block (RFC 1951 §3.2.6).
///
/// Why not miniz_oxide's compressor: resetting a reused `CompressorOxide` zeroes ~300 KiB
/// of tables and buffers, and its block flush builds Huffman tables, so a ~130-byte token
/// body cost ~10 µs (under 100,000 tokens/s; a fresh compressor per token is slower still).
/// zlib output is not canonical anyway, so any valid stream is an equally valid token: this
/// one inflates with zlib, Node's `zlib.inflateSync` (agora-token) and miniz_oxide (tests),
/// and is about as small as zlib's for such short inputs (which fall back to fixed codes too).
mod zlib {
    const WINDOW: usize = 32 * 1024;
    const MIN_MATCH: usize = 3;
    const MAX_MATCH: usize = 258;
    const HASH_BITS: u32 = 10;
    const HASH_SIZE: usize = 1 << HASH_BITS;
    const END_OF_BLOCK: usize = 256;

    const LEN_BASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227,
        258,
    ];
    const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
    const DIST_BASE: [u16; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
        6145, 8193, 12289, 16385, 24577,
    ];
    const DIST_EXTRA: [u8; 30] =
        [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

    /// `code` (MSB-first, `len` bits) reversed, since deflate packs Huffman codes MSB-first
    /// into an LSB-first bit stream.
    const fn reversed(code: u16, len: u8) -> u16 {
        code.reverse_bits() >> (16 - len as u32)
    }

    /// The fixed literal/length code of every symbol 0..=287: (reversed code, length).
    const LITLEN: [(u16, u8); 288] = {
        let mut table = [(0u16, 0u8); 288];
        let mut sym = 0;
        while sym < 288 {
            let s = sym as u16;
            let (code, len) = match sym {
                0..=143 => (0x30 + s, 8),
                144..=255 => (0x190 + (s - 144), 9),
                256..=279 => (s - 256, 7),
                _ => (0xC0 + (s - 280), 8),
            };
            table[sym] = (reversed(code, len), len);
            sym += 1;
        }
        table
    };

    /// LSB-first bit packer.
    struct Bits<'a> {
        out: &'a mut Vec<u8>,
        acc: u64,
        len: u32,
    }

    impl Bits<'_> {
        /// Appends the low `bits` bits of `value` (`bits` ≤ 32, no higher bits set).
        #[inline]
        fn put(&mut self, value: u32, bits: u32) {
            self.acc |= u64::from(value) << self.len;
            self.len += bits;
            if self.len >= 32 {
                self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
                self.acc >>= 32;
                self.len -= 32;
            }
        }

        #[inline]
        fn symbol(&mut self, sym: usize) {
            let (code, len) = LITLEN[sym];
            self.put(u32::from(code), u32::from(len));
        }

        /// Writes the remaining bits, zero-padded to a byte boundary.
        fn flush(mut self) {
            while self.len > 0 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.len = self.len.saturating_sub(8);
            }
        }
    }

    #[inline]
    fn hash(input: &[u8], i: usize) -> usize {
        let v = u32::from(input[i]) | u32::from(input[i + 1]) << 8 | u32::from(input[i + 2]) << 16;
        (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    }

    fn adler32(data: &[u8]) -> u32 {
        const MOD: u32 = 65_521;
        let (mut a, mut b) = (1u32, 0u32);
        // 5552 is the largest n for which the sums cannot overflow u32 before reduction
        for chunk in data.chunks(5552) {
            for &x in chunk {
                a += u32::from(x);
                b += a;
            }
            a %= MOD;
            b %= MOD;
        }
        b << 16 | a
    }

    /// Replaces `out` with the zlib stream of `input`.
    pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(input.len() + input.len() / 8 + 16);
        // CMF 0x78 (deflate, 32 KiB window), FLG 0x01 (fastest; (0x78 << 8 | 0x01) % 31 == 0)
        out.extend_from_slice(&[0x78, 0x01]);
        let mut bits = Bits { out, acc: 0, len: 0 };
        bits.put(0b011, 3); // BFINAL = 1, BTYPE = 01 (fixed Huffman codes)

        // latest position + 1 of each 3-byte hash (0 = none)
        let mut head = [0u32; HASH_SIZE];
        let n = input.len();
        let last_hashable = n.saturating_sub(MIN_MATCH - 1); // positions i with i + 3 <= n
        let mut i = 0;
        while i < n {
            let mut match_len = 0;
            let mut match_dist = 0;
            if i < last_hashable {
                let h = hash(input, i);
                let candidate = head[h] as usize;
                head[h] = (i + 1) as u32;
                if candidate != 0 && i - (candidate - 1) <= WINDOW {
                    let c = candidate - 1;
                    let max = (n - i).min(MAX_MATCH);
                    let len = input[c..c + max].iter().zip(&input[i..i + max]).take_while(|(a, b)| a == b).count();
                    if len >= MIN_MATCH {
                        match_len = len;
                        match_dist = i - c;
                    }
                }
            }
            if match_len == 0 {
                bits.symbol(usize::from(input[i]));
                i += 1;
                continue;
            }
            let li = LEN_BASE.partition_point(|&b| usize::from(b) <= match_len) - 1;
            bits.symbol(257 + li);
            if LEN_EXTRA[li] > 0 {
                bits.put((match_len - usize::from(LEN_BASE[li])) as u32, LEN_EXTRA[li].into());
            }
            let di = DIST_BASE.partition_point(|&b| usize::from(b) <= match_dist) - 1;
            bits.put(u32::from(reversed(di as u16, 5)), 5);
            if DIST_EXTRA[di] > 0 {
                bits.put((match_dist - usize::from(DIST_BASE[di])) as u32, DIST_EXTRA[di].into());
            }
            for j in i + 1..(i + match_len).min(last_hashable) {
                head[hash(input, j)] = (j + 1) as u32;
            }
            i += match_len;
        }
        bits.symbol(END_OF_BLOCK);
        bits.flush();
        out.extend_from_slice(&adler32(input).to_be_bytes());
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn roundtrip(input: &[u8]) -> Vec<u8> {
            let mut out = vec![0xAA; 3]; // stale content must be replaced
            compress(input, &mut out);
            let back = miniz_oxide::inflate::decompress_to_vec_zlib(&out)
                .unwrap_or_else(|e| panic!("inflate failed for {} bytes: {e:?}", input.len()));
            assert_eq!(back, input);
            out
        }

        fn xorshift(state: &mut u64) -> u64 {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state
        }

        #[test]
        fn fixed_code_table_matches_rfc1951() {
            // spot checks from RFC 1951 §3.2.6, written MSB-first
            assert_eq!(LITLEN[0], (reversed(0b0011_0000, 8), 8));
            assert_eq!(LITLEN[143], (reversed(0b1011_1111, 8), 8));
            assert_eq!(LITLEN[144], (reversed(0b1_1001_0000, 9), 9));
            assert_eq!(LITLEN[255], (reversed(0b1_1111_1111, 9), 9));
            assert_eq!(LITLEN[256], (0, 7));
            assert_eq!(LITLEN[279], (reversed(0b001_0111, 7), 7));
            assert_eq!(LITLEN[280], (reversed(0b1100_0000, 8), 8));
            assert_eq!(LITLEN[287], (reversed(0b1100_0111, 8), 8));
            assert_eq!(0x7801 % 31, 0);
        }

        #[test]
        fn adler32_known_values() {
            assert_eq!(adler32(b""), 1);
            assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
            let big = vec![0xFF; 100_000];
            assert_eq!(adler32(&big), miniz_oxide::mz_adler32_oxide(1, &big));
        }

        #[test]
        fn roundtrips_edge_inputs() {
            for len in 0..8 {
                roundtrip(&vec![b'a'; len]);
                roundtrip(&(0..len as u8).collect::<Vec<_>>());
            }
            roundtrip(&(0..=255).collect::<Vec<u8>>());
            roundtrip(&[0u8; 258]);
            roundtrip(&[0u8; 259]);
            roundtrip(&[7u8; 100_000]); // long overlapping runs, many max-length matches
            roundtrip(b"abcabcabcabcabcXabcabcabd");
        }

        #[test]
        fn roundtrips_random_and_structured_inputs() {
            let mut s = 0x1234_5678_9ABC_DEF1u64;
            for len in 0..700 {
                let alphabet = 1 + (xorshift(&mut s) % 255) as u8;
                let input: Vec<u8> = (0..len).map(|_| (xorshift(&mut s) % alphabet as u64) as u8).collect();
                roundtrip(&input);
            }
        }

        #[test]
        fn never_reaches_beyond_the_window() {
            // a 40 KiB random block repeated: the repeat lies 40,960 bytes back, beyond the
            // 32 KiB window, so it must be emitted as literals (and still inflate correctly)
            let mut s = 99u64;
            let block: Vec<u8> = (0..40_960).map(|_| xorshift(&mut s) as u8).collect();
            let input = [block.clone(), block].concat();
            let out = roundtrip(&input);
            assert!(out.len() > input.len(), "no match across > 32 KiB");
            // within the window a repeat is found
            let small: Vec<u8> = (0..1000).map(|_| xorshift(&mut s) as u8).collect();
            let out = roundtrip(&[small.clone(), small].concat());
            assert!(out.len() < 1300, "{}", out.len());
        }
    }
}

/// Opens a token (base64 → inflate → parse the version) for tests and diagnostics: returns
/// the inflated content, or `None` if it is not a well-formed "007" token.
pub fn inflate_token(token: &str) -> Option<Vec<u8>> {
    let body = token.strip_prefix(VERSION)?;
    let compressed = STANDARD.decode(body).ok()?;
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_INFLATED).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
    const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

    fn vectors() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vectors/agora_accesstoken2.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// An independent reader of the content layout, field by field.
    #[derive(Debug, PartialEq)]
    struct Parsed {
        signature: Vec<u8>,
        signing_info: Vec<u8>,
        app_id: String,
        issue_ts: u32,
        expire: u32,
        salt: u32,
        service_type: u16,
        privileges: Vec<(u16, u32)>,
        channel: Vec<u8>,
        uid: Vec<u8>,
    }

    struct Reader<'a>(&'a [u8]);
    impl Reader<'_> {
        fn take(&mut self, n: usize) -> Vec<u8> {
            assert!(self.0.len() >= n, "truncated");
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            head.to_vec()
        }
        fn u16(&mut self) -> u16 {
            u16::from_le_bytes(self.take(2).try_into().unwrap())
        }
        fn u32(&mut self) -> u32 {
            u32::from_le_bytes(self.take(4).try_into().unwrap())
        }
        fn string(&mut self) -> Vec<u8> {
            let n = self.u16() as usize;
            self.take(n)
        }
    }

    fn parse(content: &[u8]) -> Parsed {
        let mut r = Reader(content);
        let signature = r.string();
        let signing_info = r.0.to_vec();
        let app_id = String::from_utf8(r.string()).unwrap();
        let (issue_ts, expire, salt) = (r.u32(), r.u32(), r.u32());
        assert_eq!(r.u16(), 1, "one service");
        let service_type = r.u16();
        let n = r.u16();
        let privileges = (0..n).map(|_| (r.u16(), r.u32())).collect();
        let channel = r.string();
        let uid = r.string();
        assert!(r.0.is_empty(), "no trailing bytes");
        Parsed { signature, signing_info, app_id, issue_ts, expire, salt, service_type, privileges, channel, uid }
    }

    /// Recomputes the signature from scratch with a fresh HMAC (no cache, no shared helper).
    fn expected_signature(cert: &str, issue_ts: u32, salt: u32, signing_info: &[u8]) -> Vec<u8> {
        let mac = |key: &[u8], msg: &[u8]| {
            let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        };
        let k1 = mac(&issue_ts.to_le_bytes(), cert.as_bytes());
        let k2 = mac(&salt.to_le_bytes(), &k1);
        mac(&k2, signing_info)
    }

    fn signature_ok(content: &[u8], cert: &str) -> bool {
        let p = parse(content);
        p.signature == expected_signature(cert, p.issue_ts, p.salt, &p.signing_info)
    }

    #[test]
    fn reproduces_official_tools_vector() {
        let doc = vectors();
        let o = &doc["official"];
        let b = AgoraTokenBuilder::new(o["app_id"].as_str().unwrap(), o["app_certificate"].as_str().unwrap()).unwrap();
        let privileges: Vec<(u16, u32)> = o["privileges"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.as_u64().unwrap() as u32))
            .collect();
        let ours = b.rtc_token_raw(
            o["channel"].as_str().unwrap().as_bytes(),
            o["uid"].as_str().unwrap().as_bytes(),
            &privileges,
            o["issue_ts"].as_u64().unwrap() as u32,
            o["token_expire"].as_u64().unwrap() as u32,
            o["salt"].as_u64().unwrap() as u32,
        );
        let official = inflate_token(o["token"].as_str().unwrap()).expect("official inflates");
        assert_eq!(inflate_token(&ours).unwrap(), official);
        assert!(signature_ok(&official, o["app_certificate"].as_str().unwrap()));
    }

    #[test]
    fn reproduces_builder_vectors() {
        let doc = vectors();
        for v in doc["vectors"].as_array().unwrap() {
            let b =
                AgoraTokenBuilder::new(v["app_id"].as_str().unwrap(), v["app_certificate"].as_str().unwrap()).unwrap();
            let expected = unhex(v["inflated_hex"].as_str().unwrap());
            // the vector's own token inflates to the documented content
            assert_eq!(inflate_token(v["token"].as_str().unwrap()).unwrap(), expected);

            let uid = v["uid"].as_u64().unwrap() as u32;
            let issue_ts = v["issue_ts"].as_u64().unwrap() as u32;
            let salt = v["salt"].as_u64().unwrap() as u32;
            let token_expire = v["token_expire"].as_u64().unwrap() as u32;
            let privilege_expire = v["privilege_expire"].as_u64().unwrap() as u32;
            let channel = v["channel"].as_str().unwrap();
            let publisher = v["role"] == "publisher";
            let list: Vec<(u16, u32)> =
                if publisher { vec![1, 2, 3, 4] } else { vec![1] }.into_iter().map(|p| (p, privilege_expire)).collect();
            let uid_str = if uid == 0 { String::new() } else { uid.to_string() };
            let ours = b.rtc_token_raw(channel.as_bytes(), uid_str.as_bytes(), &list, issue_ts, token_expire, salt);
            assert_eq!(inflate_token(&ours).unwrap(), expected, "{}", v["role"]);

            // the public API gives the same content whenever every expiry equals the ttl
            if token_expire == privilege_expire {
                let privileges =
                    RtcPrivileges { publish_audio: publisher, publish_video: publisher, publish_data: publisher };
                let public = b.rtc_token(channel, uid, privileges, issue_ts, salt, token_expire);
                assert_eq!(inflate_token(&public).unwrap(), expected);
            }
        }
    }

    #[test]
    fn content_parses_back_field_by_field() {
        let b = AgoraTokenBuilder::new(APP_ID, CERT).unwrap();
        let all = RtcPrivileges { publish_audio: true, publish_video: true, publish_data: true };
        let tok = b.rtc_token("rm_7Hq2", 12345, all, 1_700_000_000, 42, 3600);
        assert!(tok.starts_with("007"));
        let content = inflate_token(&tok).unwrap();
        let p = parse(&content);
        assert_eq!(p.app_id, APP_ID);
        assert_eq!((p.issue_ts, p.expire, p.salt), (1_700_000_000, 3600, 42));
        assert_eq!(p.service_type, 1);
        assert_eq!(p.privileges, vec![(1, 3600), (2, 3600), (3, 3600), (4, 3600)]);
        assert_eq!(p.channel, b"rm_7Hq2");
        assert_eq!(p.uid, b"12345");
        assert_eq!(p.signature.len(), 32);
        assert!(signature_ok(&content, CERT));

        let cases: [(RtcPrivileges, &[(u16, u32)]); 5] = [
            (RtcPrivileges::default(), &[(1, 60)]),
            (
                RtcPrivileges { publish_audio: true, publish_video: true, publish_data: false },
                &[(1, 60), (2, 60), (3, 60)],
            ),
            (RtcPrivileges { publish_audio: false, publish_video: true, publish_data: false }, &[(1, 60), (3, 60)]),
            (RtcPrivileges { publish_audio: false, publish_video: false, publish_data: true }, &[(1, 60), (4, 60)]),
            (all, &[(1, 60), (2, 60), (3, 60), (4, 60)]),
        ];
        for (privileges, expected) in cases {
            let content = inflate_token(&b.rtc_token("c", 7, privileges, 9, 1, 60)).unwrap();
            assert_eq!(parse(&content).privileges, expected);
            assert!(signature_ok(&content, CERT));
        }
    }

    #[test]
    fn uid_packing() {
        let b = AgoraTokenBuilder::new(APP_ID, CERT).unwrap();
        for (uid, packed) in [(0u32, ""), (1, "1"), (10, "10"), (2_882_341_273, "2882341273"), (u32::MAX, "4294967295")]
        {
            let tok = b.rtc_token("ch", uid, RtcPrivileges::default(), 1, 1, 1);
            assert_eq!(parse(&inflate_token(&tok).unwrap()).uid, packed.as_bytes());
        }
    }

    #[test]
    fn channel_bytes_are_packed_raw() {
        let b = AgoraTokenBuilder::new(APP_ID, CERT).unwrap();
        let channel = "日本-\"room\"\\ü";
        let tok = b.rtc_token(channel, 5, RtcPrivileges::default(), 100, 99_999_999, 600);
        let content = inflate_token(&tok).unwrap();
        assert_eq!(parse(&content).channel, channel.as_bytes());
        assert!(signature_ok(&content, CERT));
        // max-size salt, empty channel
        let tok = b.rtc_token("", 0, RtcPrivileges::default(), u32::MAX, 99_999_999, 0);
        let p = parse(&inflate_token(&tok).unwrap());
        assert_eq!((p.channel.len(), p.uid.len(), p.issue_ts), (0, 0, u32::MAX));
    }

    #[test]
    fn wrong_certificate_fails_signature_check() {
        let b = AgoraTokenBuilder::new(APP_ID, CERT).unwrap();
        let tok = b.rtc_token("rm", 1, RtcPrivileges::default(), 1_700_000_000, 7, 600);
        let content = inflate_token(&tok).unwrap();
        assert!(signature_ok(&content, CERT));
        assert!(!signature_ok(&content, "5CFd2fd1755d40ecb72977518be15d3c"));
        // tampering with signed fields breaks the signature too
        let mut tampered = content.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(!signature_ok(&tampered, CERT));
    }

    #[test]
    fn reuse_across_tokens_and_timestamps() {
        let b = AgoraTokenBuilder::new(APP_ID, CERT).unwrap();
        let fresh = |channel: &str, uid, ts, salt| {
            let b = AgoraTokenBuilder::new(APP_ID, CERT).unwrap();
            b.rtc_token(channel, uid, RtcPrivileges::default(), ts, salt, 600)
        };
        // vary the cached issue_ts, the salt and the content size; each token must be
        // identical to one from a brand-new builder (the encoder is deterministic)
        let long = "L".repeat(1000);
        for i in 0..50u32 {
            let ts = 1_700_000_000 + i / 7;
            let channel = if i % 5 == 0 { long.as_str() } else { "short" };
            let tok = b.rtc_token(channel, i, RtcPrivileges::default(), ts, i + 1, 600);
            assert_eq!(tok, fresh(channel, i, ts, i + 1));
            let content = inflate_token(&tok).unwrap();
            assert_eq!(parse(&content).issue_ts, ts);
            assert!(signature_ok(&content, CERT));
        }
    }

    #[test]
    fn tokens_are_compact() {
        // the purpose-built zlib stream is no longer than the official builders' output
        let doc = vectors();
        for v in doc["vectors"].as_array().unwrap() {
            let b = AgoraTokenBuilder::new(APP_ID, CERT).unwrap();
            let content = unhex(v["inflated_hex"].as_str().unwrap());
            let p = parse(&content);
            let ours = b.rtc_token_raw(&p.channel, &p.uid, &p.privileges, p.issue_ts, p.expire, p.salt);
            let theirs = v["token"].as_str().unwrap();
            assert_eq!(inflate_token(&ours).unwrap(), content);
            assert!(ours.len() <= theirs.len() + 4, "{} vs {}", ours.len(), theirs.len());
        }
    }

    #[test]
    fn config_errors() {
        use AgoraConfigError::*;
        assert!(AgoraTokenBuilder::new(APP_ID, CERT).is_ok());
        assert_eq!(AgoraTokenBuilder::new("", CERT).unwrap_err(), AppIdNotHex32);
        assert_eq!(AgoraTokenBuilder::new(&APP_ID[1..], CERT).unwrap_err(), AppIdNotHex32);
        assert_eq!(AgoraTokenBuilder::new(&format!("{APP_ID}0"), CERT).unwrap_err(), AppIdNotHex32);
        assert_eq!(AgoraTokenBuilder::new("970CA35de60c44645bbae8a215061b3g", CERT).unwrap_err(), AppIdNotHex32);
        assert_eq!(AgoraTokenBuilder::new("970CA35de60c44645bbae8a215061bé", CERT).unwrap_err(), AppIdNotHex32);
        assert_eq!(AgoraTokenBuilder::new(APP_ID, "").unwrap_err(), CertificateNotHex32);
        assert_eq!(
            AgoraTokenBuilder::new(APP_ID, " 5CFd2fd1755d40ecb72977518be15d3").unwrap_err(),
            CertificateNotHex32
        );
        let dbg = format!("{:?}", AgoraTokenBuilder::new(APP_ID, CERT).unwrap());
        assert!(dbg.contains(APP_ID) && !dbg.contains(CERT));
    }

    #[test]
    fn inflate_token_rejects_garbage() {
        assert_eq!(inflate_token(""), None);
        assert_eq!(inflate_token("006abc"), None);
        assert_eq!(inflate_token("007!!!"), None);
        assert_eq!(inflate_token("007AAAA"), None); // base64 fine, not zlib
    }
}

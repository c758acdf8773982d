//! AES-256-CBC encryption with PKCS#7 padding, for ZEGO's token04.
//!
//! On the Worker the blocks go through `swizzle::Aes256` on wasm SIMD lanes: constant time,
//! one block at a time (CBC is serial). The `aes` crate's 32-bit fixslice, which wasm gets,
//! computes two blocks per call and so wastes one in CBC; with it, sealing a token04 was
//! 9.5 % of the warm-ZEGO isolate profile (`node bench/profile.mjs zego:warm`), with this
//! 5.1 %.
//! Natively (tests, benches) the `cbc` and `aes` crates, with AES-NI where the CPU has it,
//! encrypt the blocks. The tests run the Worker's code (its CBC chaining and its AES) natively
//! on `lanes::Model`, a plain-array model of the SIMD lanes, against those crates.

#[cfg(any(test, all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes;
#[cfg(any(test, all(target_arch = "wasm32", target_feature = "simd128")))]
mod swizzle;

// The Worker's AES must be the constant-time SIMD one: without simd128 the build stops here
// rather than fall back to something slower (`.cargo/config.toml` enables it).
#[cfg(all(target_arch = "wasm32", not(target_feature = "simd128")))]
compile_error!("build the wasm32 target with `-C target-feature=+simd128` (see .cargo/config.toml)");

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
type Engine = swizzle::Aes256<lanes::Simd>;
#[cfg(not(target_arch = "wasm32"))]
type Engine = aes::Aes256Enc;

/// An expanded AES-256 key that encrypts buffers in CBC mode.
pub struct Aes256Cbc {
    engine: Engine,
}

impl Aes256Cbc {
    pub fn new(key: &[u8; 32]) -> Self {
        #[cfg(target_arch = "wasm32")]
        let engine = Engine::new(key);
        #[cfg(not(target_arch = "wasm32"))]
        let engine = <Engine as aes::cipher::KeyInit>::new(key.into());
        Aes256Cbc { engine }
    }

    /// Pads `buf[start..]` with PKCS#7 (1 to 16 bytes, so the ciphertext is always longer
    /// than the plaintext) and encrypts it in place, chained from `iv`.
    pub fn encrypt_padded(&self, iv: &[u8; 16], buf: &mut Vec<u8>, start: usize) {
        pad_pkcs7(buf, start);
        self.encrypt_blocks(iv, &mut buf[start..]);
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn encrypt_blocks(&self, iv: &[u8; 16], blocks: &mut [u8]) {
        self.engine.encrypt_cbc(iv, blocks);
    }

    /// The `cbc` crate over the `aes` crate: it keeps the round keys in registers across the
    /// blocks of a token, which a call per block does not (that measured 18 % slower).
    #[cfg(not(target_arch = "wasm32"))]
    fn encrypt_blocks(&self, iv: &[u8; 16], blocks: &mut [u8]) {
        use cbc::cipher::{block_padding::NoPadding, BlockEncryptMut, InnerIvInit};
        let len = blocks.len();
        cbc::Encryptor::<Engine>::inner_iv_init(self.engine.clone(), iv.into())
            .encrypt_padded_mut::<NoPadding>(blocks, len)
            .expect("whole blocks");
    }
}

/// PKCS#7: pads `buf[start..]` to whole blocks with 1 to 16 bytes, each holding the count.
fn pad_pkcs7(buf: &mut Vec<u8>, start: usize) {
    let pad = 16 - (buf.len() - start) % 16;
    buf.resize(buf.len() + pad, pad as u8);
}

#[cfg(test)]
mod tests {
    use cbc::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};

    use super::lanes::Model;
    use super::*;

    /// What the Worker computes (its padding, chaining and AES), on the model lanes.
    fn worker_cbc(key: &[u8; 32], iv: &[u8; 16], plain: &[u8]) -> Vec<u8> {
        let mut buf = plain.to_vec();
        pad_pkcs7(&mut buf, 0);
        swizzle::Aes256::<Model>::new(key).encrypt_cbc(iv, &mut buf);
        buf
    }

    #[test]
    fn pads_and_chains_like_the_cbc_crate_for_every_length_around_the_block_edges() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        let iv: [u8; 16] = *b"0123456789abcdef";
        let cipher = Aes256Cbc::new(&key);
        for len in 0..=80 {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
            let expected =
                cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(&plain);
            let mut buf = b"header".to_vec();
            buf.extend_from_slice(&plain);
            cipher.encrypt_padded(&iv, &mut buf, 6);
            assert_eq!(&buf[..6], b"header", "bytes before `start` are left alone");
            assert_eq!(buf[6..], expected[..], "length {len}");
            assert_eq!(worker_cbc(&key, &iv, &plain), expected, "the Worker's CBC, length {len}");
        }
    }
}

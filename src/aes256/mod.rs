//! AES-256-CBC encryption with PKCS#7 padding, for ZEGO's token04.
//!
//! On the Worker each block goes through [`swizzle::Aes256`] on wasm SIMD lanes: constant
//! time, one block at a time (CBC is serial). The `aes` crate's 32-bit fixslice, which wasm
//! gets, computes two blocks per call and so wastes one in CBC; with it, sealing a token04
//! was 9.5 % of the warm-ZEGO isolate profile (`node bench/profile.mjs zego:warm`), with
//! this 5.6 %.
//! Natively (tests, benches) the `cbc` and `aes` crates, with AES-NI where the CPU has it,
//! encrypt the blocks; the tests check the SIMD algorithm natively on [`lanes::Model`] against it.

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
        let plain_len = buf.len() - start;
        let pad = 16 - plain_len % 16;
        buf.resize(buf.len() + pad, pad as u8);
        self.encrypt_blocks(iv, &mut buf[start..]);
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn encrypt_blocks(&self, iv: &[u8; 16], blocks: &mut [u8]) {
        use lanes::Lanes;
        let mut chain = lanes::Simd::load(iv);
        for block in blocks.chunks_exact_mut(16) {
            let block: &mut [u8; 16] = block.try_into().expect("16-byte chunk");
            chain = self.engine.encrypt(lanes::Simd::load(block).xor(chain));
            *block = chain.store();
        }
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

#[cfg(test)]
mod tests {
    use cbc::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};

    use super::lanes::{Lanes, Model};
    use super::*;

    /// CBC on the SIMD algorithm's model lanes, chained as the Worker chains them.
    fn model_cbc(key: &[u8; 32], iv: &[u8; 16], plain: &[u8]) -> Vec<u8> {
        let aes = swizzle::Aes256::<Model>::new(key);
        let mut buf = plain.to_vec();
        let pad = 16 - plain.len() % 16;
        buf.resize(plain.len() + pad, pad as u8);
        let mut chain = Model::load(iv);
        for block in buf.chunks_exact_mut(16) {
            chain = aes.encrypt(Model::load(&block[..].try_into().unwrap()).xor(chain));
            block.copy_from_slice(&chain.store());
        }
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
            assert_eq!(model_cbc(&key, &iv, &plain), expected, "SIMD algorithm, length {len}");
        }
    }
}

//! AES-256 block encryption (FIPS-197) in constant time on 16-byte lanes.
//!
//! The state is one vector. SubBytes looks every byte up in the S-box with 16 in-register
//! table lookups, one per high nibble: `row[h].lookup(x - 16h)` selects `S[x]` for the bytes
//! whose high nibble is `h` (their index is then 0..15) and 0 for every other byte (index
//! 16 or more), and the 16 results are ORed. No memory address depends on the key or the
//! data, unlike a table-driven AES. ShiftRows and MixColumns' column rotations are fixed
//! lookups; MixColumns' doubling is a shift and a masked XOR of the reduction polynomial.

use super::lanes::Lanes;

/// The AES S-box, computed when the crate is compiled: the inverse in GF(2^8) (0 for 0),
/// then the affine map of FIPS-197 §5.1.1.
pub const SBOX: [u8; 256] = sbox();

/// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1.
const fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        a = (a << 1) ^ if a & 0x80 != 0 { 0x1b } else { 0 };
        b >>= 1;
    }
    product
}

const fn sbox() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut x = 0;
    while x < 256 {
        // x^254 = x^-1 (and 0^254 = 0): 254 = 2 + 4 + … + 128.
        let (mut power, mut inverse, mut i) = (x as u8, 1u8, 0);
        while i < 7 {
            power = gf_mul(power, power);
            inverse = gf_mul(inverse, power);
            i += 1;
        }
        if x == 0 {
            inverse = 0;
        }
        table[x] = inverse
            ^ inverse.rotate_left(1)
            ^ inverse.rotate_left(2)
            ^ inverse.rotate_left(3)
            ^ inverse.rotate_left(4)
            ^ 0x63;
        x += 1;
    }
    table
}

/// Byte `i` of the state is row `i % 4`, column `i / 4`. ShiftRows moves row r left by r.
const SHIFT_ROWS: [u8; 16] = [0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11];
/// Each column rotated up by one row, and by two.
const ROTATE_1: [u8; 16] = [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12];
const ROTATE_2: [u8; 16] = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13];

const ROUNDS: usize = 14;

/// An expanded AES-256 encryption key with its constants already in lanes.
pub struct Aes256<L: Lanes> {
    round_keys: [L; ROUNDS + 1],
    /// `S[16h .. 16h + 16]`.
    sbox_rows: [L; 16],
    /// 16 in every byte: the step from one S-box row's index to the next.
    row_step: L,
    shift_rows: L,
    rotate_1: L,
    rotate_2: L,
    /// The reduction polynomial's low byte, 0x1b, in every byte.
    reduction: L,
}

impl<L: Lanes> Aes256<L> {
    pub fn new(key: &[u8; 32]) -> Self {
        let sbox_rows = std::array::from_fn(|h| L::load(SBOX[16 * h..16 * h + 16].try_into().expect("16 bytes")));
        let mut aes = Aes256 {
            round_keys: [L::load(&[0; 16]); ROUNDS + 1],
            sbox_rows,
            row_step: L::load(&[16; 16]),
            shift_rows: L::load(&SHIFT_ROWS),
            rotate_1: L::load(&ROTATE_1),
            rotate_2: L::load(&ROTATE_2),
            reduction: L::load(&[0x1b; 16]),
        };
        aes.round_keys = aes.expand(key);
        aes
    }

    /// FIPS-197 §5.2 for Nk = 8: 60 words, the S-box applied through the same lookups as
    /// the rounds, so the key schedule is constant-time too.
    fn expand(&self, key: &[u8; 32]) -> [L; ROUNDS + 1] {
        let mut words = [[0u8; 4]; 4 * (ROUNDS + 1)];
        for (word, chunk) in words.iter_mut().zip(key.chunks_exact(4)) {
            word.copy_from_slice(chunk);
        }
        let mut round_constant = 1u8;
        for i in 8..words.len() {
            let mut t = words[i - 1];
            if i % 8 == 0 {
                t = self.sub_word([t[1], t[2], t[3], t[0]]);
                t[0] ^= round_constant;
                round_constant = gf_mul(round_constant, 2);
            } else if i % 8 == 4 {
                t = self.sub_word(t);
            }
            words[i] = std::array::from_fn(|b| words[i - 8][b] ^ t[b]);
        }
        std::array::from_fn(|r| {
            let mut bytes = [0u8; 16];
            for (c, word) in words[4 * r..4 * r + 4].iter().enumerate() {
                bytes[4 * c..4 * c + 4].copy_from_slice(word);
            }
            L::load(&bytes)
        })
    }

    fn sub_word(&self, word: [u8; 4]) -> [u8; 4] {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&word);
        let out = self.sub_bytes(L::load(&bytes)).store();
        [out[0], out[1], out[2], out[3]]
    }

    /// The index of row `h` is `x - 16h`, wrapping: 0..15 exactly for the bytes whose high
    /// nibble is `h`; bytes above the row stay 16 or more and bytes below it wrap to 240 or
    /// more, so the lookup gives 0 for both.
    #[inline(always)]
    fn sub_bytes(&self, state: L) -> L {
        let mut index = state;
        let mut out = self.sbox_rows[0].lookup(index);
        for row in &self.sbox_rows[1..] {
            index = index.sub(self.row_step);
            out = out.or(row.lookup(index));
        }
        out
    }

    /// `2a ⊕ 3·rot1(a) ⊕ rot2(a) ⊕ rot3(a)` per column, written as
    /// `2t ⊕ rot1(a) ⊕ rot2(t)` with `t = a ⊕ rot1(a)`.
    #[inline(always)]
    fn mix_columns(&self, a: L) -> L {
        let a1 = a.lookup(self.rotate_1);
        let t = a.xor(a1);
        let doubled = t.double().xor(t.top_bit_mask().and(self.reduction));
        doubled.xor(a1).xor(t.lookup(self.rotate_2))
    }

    /// Encrypts whole blocks in place in CBC mode, chained from `iv`.
    pub fn encrypt_cbc(&self, iv: &[u8; 16], blocks: &mut [u8]) {
        let mut chain = L::load(iv);
        for block in blocks.chunks_exact_mut(16) {
            let block: &mut [u8; 16] = block.try_into().expect("16-byte chunk");
            chain = self.encrypt(L::load(block).xor(chain));
            *block = chain.store();
        }
    }

    /// Encrypts one block held in lanes.
    #[inline(always)]
    pub fn encrypt(&self, block: L) -> L {
        let mut state = block.xor(self.round_keys[0]);
        for round_key in &self.round_keys[1..ROUNDS] {
            // ShiftRows first: it commutes with SubBytes (one moves bytes, the other maps each).
            state = self.sub_bytes(state.lookup(self.shift_rows));
            state = self.mix_columns(state).xor(*round_key);
        }
        self.sub_bytes(state.lookup(self.shift_rows)).xor(self.round_keys[ROUNDS])
    }
}

#[cfg(test)]
mod tests {
    use aes::cipher::{BlockEncrypt, KeyInit};

    use super::super::lanes::Model;
    use super::*;

    fn encrypt(key: &[u8; 32], block: &[u8; 16]) -> [u8; 16] {
        Aes256::<Model>::new(key).encrypt(Model(*block)).0
    }

    fn reference(key: &[u8; 32], block: &[u8; 16]) -> [u8; 16] {
        let mut b = (*block).into();
        aes::Aes256Enc::new(key.into()).encrypt_block(&mut b);
        b.into()
    }

    #[test]
    fn the_sbox_is_fips_197s() {
        // FIPS-197 Figure 7: the first and last rows, and the worked example S(0x53) = 0xed.
        assert_eq!(SBOX[..8], [0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5]);
        assert_eq!(SBOX[248..], [0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16]);
        assert_eq!(SBOX[0x53], 0xed);
        let mut seen = [false; 256];
        for s in SBOX {
            seen[s as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "the S-box is a permutation");
    }

    #[test]
    fn fips_197_appendix_c3() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let plain: [u8; 16] = std::array::from_fn(|i| (i as u8) * 0x11);
        let expected = [0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf, 0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49, 0x60, 0x89];
        assert_eq!(encrypt(&key, &plain), expected);
    }

    #[test]
    fn agrees_with_the_aes_crate_on_random_keys_and_blocks() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        };
        for _ in 0..300 {
            let key: [u8; 32] = std::array::from_fn(|_| next());
            let block: [u8; 16] = std::array::from_fn(|_| next());
            assert_eq!(encrypt(&key, &block), reference(&key, &block), "key {key:02x?} block {block:02x?}");
        }
        // Every S-box row and the top bit in the first round: with the key all `fill`, the
        // first SubBytes sees byte i as `i << 4 | i` (all 16 high nibbles, top bit in 8..15).
        for fill in [0x00u8, 0x0f, 0x10, 0x7f, 0x80, 0xf0, 0xff] {
            let block: [u8; 16] = std::array::from_fn(|i| ((i as u8) << 4 | i as u8) ^ fill);
            assert_eq!(encrypt(&[fill; 32], &block), reference(&[fill; 32], &block), "fill {fill:#04x}");
        }
    }
}

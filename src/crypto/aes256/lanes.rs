//! The 16-byte vector operations the constant-time AES is written in: one wasm SIMD
//! instruction each on the Worker, and a plain-array model of the same semantics that the
//! native tests run the algorithm on.

/// Sixteen bytes operated on lane by lane.
pub trait Lanes: Copy {
    fn load(bytes: &[u8; 16]) -> Self;
    fn store(self) -> [u8; 16];
    fn xor(self, other: Self) -> Self;
    fn or(self, other: Self) -> Self;
    fn and(self, other: Self) -> Self;
    /// `out[i] = self[index[i]]` where `index[i] < 16`, else 0 (wasm's `i8x16.swizzle`).
    /// On `Simd` its time does not depend on `index`: one register permute, not a load.
    fn lookup(self, index: Self) -> Self;
    /// Byte-wise wrapping subtraction.
    fn sub(self, other: Self) -> Self;
    /// Every byte shifted left by one (wrapping add of the vector to itself).
    fn double(self) -> Self;
    /// 0xff in every byte whose top bit is set, 0 elsewhere.
    fn top_bit_mask(self) -> Self;
}

/// The Worker's lanes: one `v128` register.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd::Simd;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    use super::Lanes;

    #[derive(Clone, Copy)]
    pub struct Simd(v128);

    impl Lanes for Simd {
        #[inline(always)]
        fn load(bytes: &[u8; 16]) -> Self {
            // SAFETY: reads exactly the 16 bytes of `bytes`; wasm loads need no alignment.
            Simd(unsafe { v128_load(bytes.as_ptr().cast()) })
        }
        #[inline(always)]
        fn store(self) -> [u8; 16] {
            let mut out = [0u8; 16];
            // SAFETY: writes exactly the 16 bytes of `out`; wasm stores need no alignment.
            unsafe { v128_store(out.as_mut_ptr().cast(), self.0) };
            out
        }
        #[inline(always)]
        fn xor(self, other: Self) -> Self {
            Simd(v128_xor(self.0, other.0))
        }
        #[inline(always)]
        fn or(self, other: Self) -> Self {
            Simd(v128_or(self.0, other.0))
        }
        #[inline(always)]
        fn and(self, other: Self) -> Self {
            Simd(v128_and(self.0, other.0))
        }
        #[inline(always)]
        fn lookup(self, index: Self) -> Self {
            Simd(i8x16_swizzle(self.0, index.0))
        }
        #[inline(always)]
        fn sub(self, other: Self) -> Self {
            Simd(i8x16_sub(self.0, other.0))
        }
        #[inline(always)]
        fn double(self) -> Self {
            Simd(i8x16_add(self.0, self.0))
        }
        #[inline(always)]
        fn top_bit_mask(self) -> Self {
            Simd(i8x16_lt(self.0, i8x16_splat(0)))
        }
    }
}

/// The same operations on a plain array: how the tests check the algorithm natively.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Model(pub [u8; 16]);

#[cfg(test)]
impl Model {
    fn map(self, other: Self, f: impl Fn(u8, u8) -> u8) -> Self {
        Model(std::array::from_fn(|i| f(self.0[i], other.0[i])))
    }
}

#[cfg(test)]
impl Lanes for Model {
    fn load(bytes: &[u8; 16]) -> Self {
        Model(*bytes)
    }
    fn store(self) -> [u8; 16] {
        self.0
    }
    fn xor(self, other: Self) -> Self {
        self.map(other, |a, b| a ^ b)
    }
    fn or(self, other: Self) -> Self {
        self.map(other, |a, b| a | b)
    }
    fn and(self, other: Self) -> Self {
        self.map(other, |a, b| a & b)
    }
    fn lookup(self, index: Self) -> Self {
        Model(index.0.map(|i| if i < 16 { self.0[i as usize] } else { 0 }))
    }
    fn sub(self, other: Self) -> Self {
        self.map(other, u8::wrapping_sub)
    }
    fn double(self) -> Self {
        self.map(self, u8::wrapping_add)
    }
    fn top_bit_mask(self) -> Self {
        Model(self.0.map(|b| if b & 0x80 != 0 { 0xff } else { 0 }))
    }
}

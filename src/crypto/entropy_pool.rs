//! Random bytes taken from a source a block at a time. On Workers every source call is a
//! crossing into JS (`crypto.getRandomValues`), and every request wants a few random bytes
//! (its id, new ids); a block serves many requests for one crossing. The bytes are the
//! source's own, each handed out once and cleared from the pool as it leaves.

use std::cell::RefCell;

pub struct EntropyPool {
    /// Unused bytes, taken from the end.
    unused: RefCell<Vec<u8>>,
    block: usize,
}

impl EntropyPool {
    pub const fn new(block: usize) -> Self {
        EntropyPool { unused: RefCell::new(Vec::new()), block }
    }

    /// Fills `buf` from the pool, refilling the pool from `source` when it runs short. A
    /// request over a quarter of a block goes to `source` directly.
    pub fn fill(&self, buf: &mut [u8], source: impl Fn(&mut [u8])) {
        if buf.len() > self.block / 4 {
            source(buf);
            return;
        }
        let mut unused = self.unused.borrow_mut();
        if unused.len() < buf.len() {
            // What is left is too little and is dropped (cleared by the resize's overwrite).
            unused.clear();
            unused.resize(self.block, 0);
            source(&mut unused);
        }
        let rest = unused.len() - buf.len();
        buf.copy_from_slice(&unused[rest..]);
        unused[rest..].fill(0);
        unused.truncate(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A source that writes a running counter, so every byte it ever gives is distinct
    /// (mod 256 within a block of 256) and calls are counted.
    fn counting<'a>(calls: &'a Cell<u32>, next: &'a Cell<u8>) -> impl Fn(&mut [u8]) + 'a {
        move |buf: &mut [u8]| {
            calls.set(calls.get() + 1);
            for b in buf {
                *b = next.get();
                next.set(next.get().wrapping_add(1));
            }
        }
    }

    #[test]
    fn small_requests_share_one_source_call_and_never_repeat_a_byte() {
        let pool = EntropyPool::new(256);
        let (calls, next) = (Cell::new(0), Cell::new(0));
        let mut seen = Vec::new();
        for _ in 0..16 {
            let mut buf = [0u8; 16];
            pool.fill(&mut buf, counting(&calls, &next));
            seen.extend_from_slice(&buf);
        }
        assert_eq!(calls.get(), 1, "256 bytes served by one block");
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 256, "each byte of the block handed out once");
        // The next request refills.
        pool.fill(&mut [0u8; 16], counting(&calls, &next));
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn a_short_remainder_is_dropped_and_a_large_request_goes_to_the_source() {
        let pool = EntropyPool::new(256);
        let (calls, next) = (Cell::new(0), Cell::new(0));
        pool.fill(&mut [0u8; 60], counting(&calls, &next));
        pool.fill(&mut [0u8; 60], counting(&calls, &next));
        pool.fill(&mut [0u8; 60], counting(&calls, &next));
        pool.fill(&mut [0u8; 60], counting(&calls, &next));
        assert_eq!(calls.get(), 1);
        // 16 bytes left: a 20-byte request takes a fresh block.
        let mut buf = [0u8; 20];
        pool.fill(&mut buf, counting(&calls, &next));
        assert_eq!(calls.get(), 2);
        let mut large = [0u8; 100];
        pool.fill(&mut large, counting(&calls, &next));
        assert_eq!(calls.get(), 3, "over a quarter of a block: straight from the source");
    }
}

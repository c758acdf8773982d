//! An isolate-lifetime map bounded by the bytes it holds, not only by its entries: one tenant's
//! burst of large entries (rooms with 16 KiB of metadata, registry rows with 4 KiB) must not
//! push the isolate past its memory limit (128 MB on Workers) for every tenant.
//!
//! Each entry is charged an estimate of its heap: its key's and value's strings (by capacity)
//! plus a fixed overhead for its slot in the table and in the eviction queue, doubled for the
//! spare room both keep as they grow. The queue's own key copies are charged too, so the
//! accounted total covers everything the cache owns.
//!
//! Eviction is second chance (CLOCK): entries are queued in insertion order, a hit only sets a
//! flag, and when the cache is over its budget the oldest entry is dropped unless it was used
//! since it was queued, in which case it goes to the back with its flag cleared. A hit costs
//! one lookup and no allocation; an insert evicts in amortized constant time; nothing scans
//! the whole map on the hot path.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::mem::size_of;

/// The heap bytes a value owns beyond its own `size_of`.
pub trait HeapSize {
    fn heap_bytes(&self) -> usize;
}

impl HeapSize for String {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, HeapSize::heap_bytes)
    }
}

impl<A: HeapSize, B: HeapSize> HeapSize for (A, B) {
    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes() + self.1.heap_bytes()
    }
}

impl HeapSize for u64 {
    fn heap_bytes(&self) -> usize {
        0
    }
}

struct Slot<V> {
    value: V,
    /// What this slot is charged (key, value and table overhead; not its queue entry).
    bytes: usize,
    /// Which queue entry is this slot's: older ones for the same key are stale.
    generation: u64,
    /// Used since it was last queued: spared once by eviction.
    used: bool,
}

pub struct ByteCache<K, V> {
    map: HashMap<K, Slot<V>>,
    /// Keys in the order they were queued, with the generation that was current then.
    order: VecDeque<(K, u64)>,
    /// Bytes charged for the map's slots plus the queue's entries.
    bytes: usize,
    budget_bytes: usize,
    max_entries: usize,
    generations: u64,
}

impl<K: Eq + Hash + Clone + HeapSize, V: HeapSize> ByteCache<K, V> {
    /// A cache that holds at most `budget_bytes` (as estimated) and `max_entries` entries.
    pub fn new(budget_bytes: usize, max_entries: usize) -> Self {
        ByteCache { map: HashMap::new(), order: VecDeque::new(), bytes: 0, budget_bytes, max_entries, generations: 0 }
    }

    /// The fixed overhead of one slot: its place in the table, with spare room.
    const SLOT_OVERHEAD: usize = 2 * (size_of::<(K, Slot<V>)>() + 1);
    /// The fixed overhead of one queue entry, with spare room.
    const QUEUE_OVERHEAD: usize = 2 * size_of::<(K, u64)>();

    fn queue_bytes(key: &K) -> usize {
        key.heap_bytes() + Self::QUEUE_OVERHEAD
    }

    /// What an entry is charged in all, its queue entry (a copy of its key) included.
    pub fn entry_bytes(key: &K, value: &V) -> usize {
        Self::slot_bytes(key, value) + Self::queue_bytes(&key.clone())
    }

    fn slot_bytes(key: &K, value: &V) -> usize {
        key.heap_bytes() + value.heap_bytes() + Self::SLOT_OVERHEAD
    }

    /// The value, marked as used (eviction spares it once).
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.map.get_mut(key)?;
        slot.used = true;
        Some(&slot.value)
    }

    /// The value to change in place, marked as used. A change must not alter its heap size
    /// (its charge stays what it was); to change that, insert again.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.map.get_mut(key)?;
        slot.used = true;
        Some(&mut slot.value)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    /// Inserts or replaces `key`'s value as the newest entry, then evicts until the cache is
    /// within its bounds. An entry larger than the whole budget is not kept (false).
    pub fn insert(&mut self, key: K, value: V) -> bool {
        // The queue's copy may own less than the key itself (a clone has no spare capacity):
        // each is charged for what it owns.
        let queued = key.clone();
        let bytes = Self::slot_bytes(&key, &value);
        let charge = bytes + Self::queue_bytes(&queued);
        self.remove(&key);
        if charge > self.budget_bytes || self.max_entries == 0 {
            return false;
        }
        self.make_room(charge);
        self.generations += 1;
        let generation = self.generations;
        self.bytes += charge;
        self.order.push_back((queued, generation));
        self.map.insert(key, Slot { value, bytes, generation, used: false });
        self.compact_if_stale();
        true
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // Its queue entry stays, stale, until eviction or compaction drops it (and is charged
        // until then).
        let slot = self.map.remove(key)?;
        self.bytes -= slot.bytes;
        Some(slot.value)
    }

    /// Keeps the entries `keep` says to; a full scan, for rare events (a room deleted).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut freed = 0;
        self.map.retain(|k, slot| {
            let kept = keep(k, &slot.value);
            if !kept {
                freed += slot.bytes;
            }
            kept
        });
        self.bytes -= freed;
        self.compact_if_stale();
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The bytes charged for everything the cache holds now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn budget_bytes(&self) -> usize {
        self.budget_bytes
    }

    /// Evicts until `incoming` more bytes and one more entry fit.
    fn make_room(&mut self, incoming: usize) {
        while self.bytes + incoming > self.budget_bytes || self.map.len() >= self.max_entries {
            let Some((key, generation)) = self.order.pop_front() else { break };
            self.bytes -= Self::queue_bytes(&key);
            let Some(slot) = self.map.get_mut(&key) else { continue };
            if slot.generation != generation {
                continue;
            }
            if slot.used {
                // Second chance: requeued (the same key, so the same charge), flag cleared.
                slot.used = false;
                self.bytes += Self::queue_bytes(&key);
                self.order.push_back((key, generation));
                continue;
            }
            let slot = self.map.remove(&key).expect("looked up above");
            self.bytes -= slot.bytes;
        }
    }

    /// Drops stale queue entries once they outnumber the live ones, so replacing and removing
    /// entries cannot grow the queue without bound (amortized: each stale entry is dropped
    /// once).
    fn compact_if_stale(&mut self) {
        if self.order.len() <= 2 * self.map.len() + 64 {
            return;
        }
        let map = &self.map;
        let mut freed = 0;
        self.order.retain(|(key, generation)| {
            let live = map.get(key).is_some_and(|slot| slot.generation == *generation);
            if !live {
                freed += Self::queue_bytes(key);
            }
            live
        });
        self.bytes -= freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Cache = ByteCache<String, String>;

    /// The charge recomputed from scratch: the map's entries plus every queue entry.
    fn recount(c: &Cache) -> usize {
        let slots: usize =
            c.map.iter().map(|(k, s)| k.heap_bytes() + s.value.heap_bytes() + Cache::SLOT_OVERHEAD).sum();
        let queue: usize = c.order.iter().map(|(k, _)| Cache::queue_bytes(k)).sum();
        slots + queue
    }

    #[test]
    fn maximal_entries_never_exceed_the_budget_and_the_newest_stay() {
        let big = "m".repeat(16 * 1024);
        let budget = 256 * 1024;
        let mut c = Cache::new(budget, 10_000);
        for i in 0..1_000 {
            assert!(c.insert(format!("room{i}"), big.clone()));
            assert!(c.bytes() <= budget, "{} > {budget} after {i}", c.bytes());
            assert_eq!(c.bytes(), recount(&c));
        }
        let per_entry = Cache::entry_bytes(&"room999".to_owned(), &big);
        assert!(c.bytes() + per_entry > budget, "evicted more than needed: {} entries", c.len());
        for i in (1_000 - c.len())..1_000 {
            assert!(c.contains_key(&format!("room{i}")), "the newest are kept: room{i}");
        }
    }

    #[test]
    fn the_entry_bound_holds_too() {
        let mut c = Cache::new(usize::MAX, 100);
        for i in 0..1_000 {
            c.insert(format!("k{i}"), String::new());
            assert!(c.len() <= 100);
        }
        assert!(c.contains_key("k999") && !c.contains_key("k899"));
    }

    #[test]
    fn an_entry_used_since_it_was_queued_survives_eviction() {
        let value = "v".repeat(1000);
        let budget = 10 * Cache::entry_bytes(&format!("k{:02}", 0), &value);
        let mut c = Cache::new(budget, usize::MAX);
        for i in 0..10 {
            c.insert(format!("k{i:02}"), value.clone());
        }
        // The oldest, in use, against a flood of new entries.
        for i in 10..100 {
            assert!(c.get("k00").is_some(), "the entry in use was evicted at k{i}");
            c.insert(format!("k{i:02}"), value.clone());
            assert!(c.bytes() <= budget);
            assert_eq!(c.bytes(), recount(&c));
        }
        assert!(c.contains_key("k99"), "the newest is kept");
        assert!(!c.contains_key("k01"), "an unused old one is evicted");
    }

    #[test]
    fn an_entry_larger_than_the_budget_is_not_kept() {
        let mut c = Cache::new(1024, 10);
        assert!(c.insert("small".into(), "x".into()));
        assert!(!c.insert("huge".into(), "x".repeat(4096)));
        assert!(c.contains_key("small") && !c.contains_key("huge"));
        assert!(c.bytes() <= 1024);
    }

    #[test]
    fn replacing_and_removing_keep_the_count_exact_and_the_queue_bounded() {
        let mut c = Cache::new(1 << 20, 1_000);
        for round in 0..50 {
            for i in 0..20 {
                c.insert(format!("k{i}"), "v".repeat(round * 10 + i));
            }
            c.remove("k3");
            c.retain(|k, _| k != "k4");
            assert_eq!(c.bytes(), recount(&c));
            assert!(c.order.len() <= 2 * c.len() + 64 + 1, "stale queue entries pile up: {}", c.order.len());
        }
        assert_eq!(c.get("k5").map(String::len), Some(49 * 10 + 5), "the latest value is served");
        c.clear();
        assert_eq!((c.len(), c.bytes()), (0, 0));
    }
}

//! A bounded window of recently stored event ids: an event whose id is in it is
//! a duplicate (a replay after a crash, a client's retry) and is dropped at write.
//!
//! The window is two open-addressing tables of folded 64-bit keys, the current
//! generation and the one before it. A key is looked up in both and recorded in
//! the current one; when the current one holds `capacity` keys it becomes the
//! previous one and the oldest generation is forgotten at once. Recording a key
//! so touches two cache lines, where a hash set with an eviction queue touches
//! four or more (probe, queue, and the evicted key's bucket), and nothing is
//! ever removed one by one.
//!
//! Folding trades a bounded false-duplicate rate for half the memory: a new key
//! whose fold equals one of the (at most) `2 × capacity` remembered folds is
//! taken for a duplicate. At the default 2M-key window that is about one key
//! in 2^64 / 4M ≈ 4.6 × 10^12; with two keys per event (its id and its call
//! key), one event in about 2.3 × 10^12, or one a month at a sustained 800k
//! events/s. Full 16-byte keys would double the window's 64 MB.

/// Keys per slot at most, before a generation is full: linear probing stays
/// short below one half.
const MAX_LOAD_DENOMINATOR: usize = 2;

/// The slot value of an empty slot. A key that folds to it is stored as 1.
const EMPTY: u64 = 0;

/// At least the most recent `capacity` event keys (up to twice as many).
pub struct RecentIds {
    current: Table,
    previous: Table,
    capacity: usize,
}

/// Folds a 16-byte event key to 64 bits (never [`EMPTY`]).
pub fn fold(key: &[u8; 16]) -> u64 {
    let (a, b) = key.split_at(8);
    let folded = u64::from_le_bytes(a.try_into().unwrap_or_default())
        ^ u64::from_le_bytes(b.try_into().unwrap_or_default()).rotate_left(29);
    if folded == EMPTY { 1 } else { folded }
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        let slots = if capacity == 0 { 0 } else { (capacity * MAX_LOAD_DENOMINATOR).next_power_of_two() };
        Self { current: Table::new(slots), previous: Table::new(slots), capacity }
    }

    /// How many keys are remembered (between `capacity` and twice it, once full).
    pub fn len(&self) -> usize {
        self.current.len + self.previous.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records `key`; returns false when it was already present.
    pub fn insert(&mut self, key: &[u8; 16]) -> bool {
        self.capacity == 0 || self.insert_folded(fold(key))
    }

    /// Records the [`fold`]ed `keys` in order, where [`NO_KEY`] stands for a
    /// row without one (always new); returns per key whether it was new. The
    /// window is far bigger than the CPU's caches, so each key's slots are
    /// fetched into cache a few keys ahead of their turn: the lookups of a
    /// batch wait for memory together instead of one after another.
    pub fn insert_all(&mut self, keys: &[u64]) -> Vec<bool> {
        if self.capacity == 0 {
            return vec![true; keys.len()];
        }
        let mut fresh = Vec::with_capacity(keys.len());
        for (i, &k) in keys.iter().enumerate() {
            if let Some(&ahead) = keys.get(i + PREFETCH_AHEAD) {
                self.previous.prefetch(ahead);
                self.current.prefetch(ahead);
            }
            fresh.push(k == NO_KEY || self.insert_folded(k));
        }
        fresh
    }

    fn insert_folded(&mut self, k: u64) -> bool {
        if self.previous.contains(k) || !self.current.insert(k) {
            return false;
        }
        if self.current.len >= self.capacity {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
        }
        true
    }
}

/// How many keys ahead [`RecentIds::insert_all`] fetches slots: enough to
/// cover a memory access while recording the keys in between.
const PREFETCH_AHEAD: usize = 16;

/// Marks a row without a key in [`RecentIds::insert_all`] (no folded key is 0).
pub const NO_KEY: u64 = EMPTY;

/// Linear-probing set of non-empty `u64` keys in a power-of-two number of slots.
struct Table {
    slots: Vec<u64>,
    len: usize,
    /// Right shift taking a slot index from the top bits of a mixed key.
    shift: u32,
}

impl Table {
    fn new(slots: usize) -> Self {
        let shift = if slots <= 1 { 63 } else { 64 - slots.trailing_zeros() };
        Self { slots: vec![EMPTY; slots], len: 0, shift }
    }

    /// Where the probe for `k` starts. Keys are random bits for UUIDs and
    /// hashed ids, but not for every client's ids: multiplying spreads
    /// sequential ones too (Fibonacci hashing).
    fn home(&self, k: u64) -> usize {
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Asks the CPU to bring `k`'s first slot into cache (a hint: no effect
    /// on what is stored, nothing on other architectures).
    fn prefetch(&self, k: u64) {
        #[cfg(target_arch = "x86_64")]
        if let Some(slot) = self.slots.get(self.home(k)) {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch never faults, and the address is a live slot.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = k;
    }

    fn contains(&self, k: u64) -> bool {
        if self.len == 0 {
            return false;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(k);
        loop {
            match self.slots[i] {
                EMPTY => return false,
                s if s == k => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds `k`; false when it was there. The caller keeps `len` below the
    /// slot count, so a probe always ends at an empty slot.
    fn insert(&mut self, k: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = self.home(k);
        loop {
            match self.slots[i] {
                EMPTY => {
                    self.slots[i] = k;
                    self.len += 1;
                    return true;
                }
                s if s == k => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn clear(&mut self) {
        self.slots.fill(EMPTY);
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&n.to_le_bytes());
        k
    }

    #[test]
    fn detects_repeats_within_the_window_and_forgets_older_generations() {
        let mut w = RecentIds::new(3);
        for n in 1..=3 {
            assert!(w.insert(&key(n)));
        }
        assert!(!w.insert(&key(1)), "a repeat within the window is caught");
        assert!(w.insert(&key(4)) && w.insert(&key(5)));
        assert_eq!(w.len(), 5, "a full generation and a growing one");
        for n in 1..=5 {
            assert!(!w.insert(&key(n)), "key {n} is still remembered");
        }
        assert!(w.insert(&key(6)), "a new key fills the second generation, which starts a third");
        assert_eq!(w.len(), 3);
        assert!(w.insert(&key(1)), "the first generation was forgotten");
        assert!(!w.insert(&key(4)), "the second generation is still there");
    }

    #[test]
    fn a_batch_is_recorded_like_one_key_after_another() {
        let keys: Vec<[u8; 16]> = (0..500u64).map(|n| key(n % 150 + 1)).collect();
        let mut one_by_one = RecentIds::new(100);
        let expected: Vec<bool> = keys.iter().map(|k| one_by_one.insert(k)).collect();
        let mut batched = RecentIds::new(100);
        let mut folded: Vec<u64> = keys.iter().map(fold).collect();
        folded.insert(7, NO_KEY);
        let mut got = batched.insert_all(&folded);
        assert!(got.remove(7), "a row without a key is new");
        assert_eq!(got, expected);
        assert!(expected.iter().any(|new| !new) && expected.iter().any(|new| *new));
    }

    #[test]
    fn always_remembers_at_least_the_last_capacity_keys() {
        let capacity = 1000;
        let mut w = RecentIds::new(capacity);
        for n in 0..10_000u64 {
            assert!(w.insert(&key(n + 1_000_000)), "key {n} is new");
            let oldest_kept = (n + 1).saturating_sub(capacity as u64);
            // Spot-check a spread of the last `capacity` keys.
            for back in (oldest_kept..=n).step_by(97) {
                assert!(!w.insert(&key(back + 1_000_000)), "key {back} forgotten after key {n}");
            }
            assert!(w.len() <= 2 * capacity);
        }
    }

    #[test]
    fn a_key_folding_to_the_empty_marker_is_still_recorded() {
        let mut w = RecentIds::new(4);
        assert!(w.insert(&[0u8; 16]));
        assert!(!w.insert(&[0u8; 16]));
    }

    #[test]
    fn zero_capacity_keeps_everything() {
        let mut w = RecentIds::new(0);
        assert!(w.insert(&key(1)));
        assert!(w.insert(&key(1)));
        assert!(w.is_empty());
    }
}

//! A bounded window of recently stored event ids: an event whose id is in it is
//! a duplicate (a replay after a crash, a client's retry) and is dropped at write.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

/// Event keys are random (UUID bits or a 128-bit hash), so their folded 64 bits
/// serve as the hash directly.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The most recent `capacity` event keys, oldest forgotten first.
///
/// Each key maps to the sequence number it was recorded under, and a key older
/// than the last `capacity` is treated as absent. Recording a key thus touches
/// one place in the table (a FIFO queue would touch a second: the evicted key's
/// slot). Stale keys are swept out in one pass once the table holds half as
/// many again, which keeps it at most 1.5 × `capacity` keys.
pub struct RecentIds {
    seq_of: HashMap<u64, u64, BuildHasherDefault<IdentityHasher>>,
    /// The sequence number of the next new key.
    next: u64,
    capacity: usize,
    /// Keys held that start a sweep.
    sweep_at: usize,
}

/// Folds a 16-byte event key to 64 bits.
pub fn fold(key: &[u8; 16]) -> u64 {
    let (a, b) = key.split_at(8);
    u64::from_le_bytes(a.try_into().unwrap_or_default()) ^ u64::from_le_bytes(b.try_into().unwrap_or_default()).rotate_left(29)
}

impl RecentIds {
    /// The table is sized for the most keys it will hold at once, so it never
    /// grows (growing holds the old and the new table at once). Only its
    /// control bytes are written now; a slot's memory is touched when first used.
    pub fn new(capacity: usize) -> Self {
        let sweep_at = if capacity == 0 { 0 } else { capacity.saturating_add(capacity / 2).max(capacity.saturating_add(1)) };
        let seq_of = HashMap::with_capacity_and_hasher(sweep_at, BuildHasherDefault::default());
        Self { seq_of, next: 0, capacity, sweep_at }
    }

    /// How many keys the window remembers.
    pub fn len(&self) -> usize {
        self.next.min(self.capacity as u64) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records `key`; returns false when it is among the last `capacity` keys.
    pub fn insert(&mut self, key: &[u8; 16]) -> bool {
        if self.capacity == 0 {
            return true;
        }
        let oldest_kept = self.oldest_kept();
        match self.seq_of.entry(fold(key)) {
            Entry::Occupied(e) if *e.get() >= oldest_kept => return false,
            Entry::Occupied(mut e) => *e.get_mut() = self.next,
            Entry::Vacant(e) => {
                e.insert(self.next);
            }
        }
        self.next += 1;
        if self.seq_of.len() >= self.sweep_at {
            let oldest_kept = self.oldest_kept();
            self.seq_of.retain(|_, seq| *seq >= oldest_kept);
        }
        true
    }

    /// The sequence number of the oldest key still remembered.
    fn oldest_kept(&self) -> u64 {
        self.next.saturating_sub(self.capacity as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_repeats_and_forgets_the_oldest() {
        let mut w = RecentIds::new(2);
        let k = |n: u8| [n; 16];
        assert!(w.insert(&k(1)));
        assert!(!w.insert(&k(1)));
        assert!(w.insert(&k(2)));
        assert!(w.insert(&k(3)));
        assert_eq!(w.len(), 2);
        assert!(w.insert(&k(1)), "the oldest key was evicted");
        assert!(!w.insert(&k(3)));
    }

    #[test]
    fn sweeping_stale_keys_keeps_exactly_the_last_capacity() {
        let mut w = RecentIds::new(10);
        let k = |n: u32| {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&n.to_le_bytes());
            b[8..12].copy_from_slice(&n.wrapping_mul(2_654_435_761).to_le_bytes());
            b
        };
        for n in 0..1000 {
            assert!(w.insert(&k(n)), "{n} is new");
            // The last ten are remembered (across sweeps), the one before is not.
            for back in 0..10.min(n + 1) {
                assert!(!w.insert(&k(n - back)), "{} within the window after {n}", n - back);
            }
            assert!(w.seq_of.len() <= 15, "swept: {} keys held", w.seq_of.len());
        }
        assert_eq!(w.len(), 10);
        assert!(w.insert(&k(989)), "key 989 fell out of the window");
    }
}

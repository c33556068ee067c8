//! A bounded window of recently stored event ids: an event whose id is in it is
//! a duplicate (a replay after a crash, a client's retry) and is dropped at write.

use std::collections::{HashSet, VecDeque};
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

/// The most recent `capacity` event keys, oldest evicted first.
pub struct RecentIds {
    set: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
    order: VecDeque<u64>,
    capacity: usize,
}

/// Folds a 16-byte event key to 64 bits.
pub fn fold(key: &[u8; 16]) -> u64 {
    let (a, b) = key.split_at(8);
    u64::from_le_bytes(a.try_into().unwrap_or_default()) ^ u64::from_le_bytes(b.try_into().unwrap_or_default()).rotate_left(29)
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        Self { set: HashSet::default(), order: VecDeque::new(), capacity }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Records `key`; returns false when it was already present.
    pub fn insert(&mut self, key: &[u8; 16]) -> bool {
        if self.capacity == 0 {
            return true;
        }
        let k = fold(key);
        if !self.set.insert(k) {
            return false;
        }
        self.order.push_back(k);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
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
}

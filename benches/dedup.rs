//! The writer's deduplication window (`toolpulse_ingest::dedup::RecentIds`):
//! nanoseconds per key recorded, at the default window of 2M keys (two keys per
//! event: its id and its call key), once the window is full. One key in 100
//! repeats a recent one, as a replay after a crash would.
//!
//! `cargo bench --bench dedup` (env: `CAPACITY`, `KEYS`).

use std::time::Instant;

use toolpulse_ingest::dedup::RecentIds;

mod common;
use common::env_usize;

/// A 16-byte key from a counter (splitmix64 twice: random-looking, like UUIDs).
fn key(n: u64) -> [u8; 16] {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mix(n.wrapping_mul(2).wrapping_add(0x9e37_79b9_7f4a_7c15)).to_le_bytes());
    k[8..].copy_from_slice(&mix(n.wrapping_mul(2).wrapping_add(1)).to_le_bytes());
    k
}

fn main() {
    let capacity = env_usize("CAPACITY", 2_000_000);
    let keys = env_usize("KEYS", 20_000_000) as u64;
    let mut window = RecentIds::new(capacity);
    // Fill the window first: the steady state evicts a key for every new one.
    for n in 0..capacity as u64 {
        window.insert(&key(n));
    }
    let (mut next, mut repeats, mut dropped) = (capacity as u64, 0u64, 0u64);
    let start = Instant::now();
    for i in 0..keys {
        let k = if i % 100 == 99 {
            repeats += 1;
            key(next - 1 - (i % (capacity as u64 / 2)))
        } else {
            next += 1;
            key(next - 1)
        };
        if !window.insert(&k) {
            dropped += 1;
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(dropped, repeats, "every repeat of a key within the window is caught, and nothing else");
    println!(
        "dedup window of {capacity} keys: {keys} keys in {:.2}s, {:.1} ns per key ({repeats} repeats caught)",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / keys as f64
    );
}

//! The writer's deduplication window (`toolpulse_ingest::dedup::RecentIds`):
//! nanoseconds per key recorded, at the default window of 2M keys (two keys per
//! event: its id and its call key), once the window is full. One key in 100
//! repeats a recent one, as a replay after a crash would.
//!
//! Measured one key at a time, and in batches as the writer records them.
//!
//! `cargo bench --bench dedup` (env: `CAPACITY`, `KEYS`).

use std::time::Instant;

use toolpulse_ingest::dedup::{RecentIds, fold};

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

/// The keys of the run: new ones, and one in 100 repeating a key recorded
/// within the last `capacity / 2` new ones; returns them and the repeat count.
fn keys(capacity: usize, count: u64) -> (Vec<[u8; 16]>, u64) {
    let (mut next, mut repeats) = (capacity as u64, 0u64);
    let keys = (0..count)
        .map(|i| {
            if i % 100 == 99 {
                repeats += 1;
                key(next - 1 - (i % (capacity as u64 / 2)))
            } else {
                next += 1;
                key(next - 1)
            }
        })
        .collect();
    (keys, repeats)
}

/// A window filled with `capacity` keys first: the steady state forgets old
/// keys as new ones come.
fn full_window(capacity: usize) -> RecentIds {
    let mut window = RecentIds::new(capacity);
    for n in 0..capacity as u64 {
        window.insert(&key(n));
    }
    window
}

fn report(how: &str, capacity: usize, keys: usize, repeats: u64, dropped: u64, elapsed: std::time::Duration) {
    assert_eq!(dropped, repeats, "every repeat of a key within the window is caught, and nothing else");
    println!(
        "dedup window of {capacity} keys, {how}: {keys} keys in {:.2}s, {:.1} ns per key ({repeats} repeats caught)",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / keys as f64
    );
}

fn main() {
    let capacity = env_usize("CAPACITY", 2_000_000);
    let (keys, repeats) = keys(capacity, env_usize("KEYS", 20_000_000) as u64);

    let mut window = full_window(capacity);
    let start = Instant::now();
    let dropped = keys.iter().filter(|k| !window.insert(k)).count() as u64;
    report("one key at a time", capacity, keys.len(), repeats, dropped, start.elapsed());

    // As the writer records a submission: two keys per event, folded, in batches.
    let mut window = full_window(capacity);
    let start = Instant::now();
    let mut dropped = 0;
    for batch in keys.chunks(BATCH_KEYS) {
        let folded: Vec<u64> = batch.iter().map(fold).collect();
        dropped += window.insert_all(&folded).iter().filter(|new| !**new).count() as u64;
    }
    report(&format!("in batches of {BATCH_KEYS}"), capacity, keys.len(), repeats, dropped, start.elapsed());
}

/// Keys per batch: the two keys of each event of a 4096-event chunk.
const BATCH_KEYS: usize = 8192;

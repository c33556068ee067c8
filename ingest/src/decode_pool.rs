//! The threads that decode bulk input (import chunks, Kafka chunks), apart
//! from rayon's global pool, on which the writer sorts and encodes flushes.
//!
//! On one shared pool a flush's jobs queue behind the decode jobs already
//! there, and the writer, the slower stage under a backlog, waits while the
//! decoders fill its buffer. On two pools the kernel shares the cores between
//! both stages as they run.

use std::sync::LazyLock;

/// The decode pool: one thread per core; `None` if its threads could not be
/// started, and decoding then runs on rayon's global pool.
static POOL: LazyLock<Option<rayon::ThreadPool>> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    match rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("decode-{i}")).build() {
        Ok(pool) => Some(pool),
        Err(e) => {
            tracing::warn!(error = %e, "no decode pool; decoding on the shared pool");
            None
        }
    }
});

/// Runs `f` on the decode pool (its parallel iterators too) and returns its result.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match &*POOL {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// Runs `f` on the decode pool in the background.
pub fn spawn(f: impl FnOnce() + Send + 'static) {
    match &*POOL {
        Some(pool) => pool.spawn(f),
        None => rayon::spawn(f),
    }
}

//! Swapping files in a partition is not atomic on a file system: compaction
//! renames its merged file in, then its inputs out. A reader listing the
//! partition in between would see both and count their rows twice.
//!
//! - **Within one process**, swaps and listings of a data directory share a
//!   sequence number (a sequence lock): it is odd while a swap is under way,
//!   and a listing that began during a swap, or overlapped one, is done again.
//! - **Across processes** sharing the directory (see `sharing`), a swap holds
//!   the exclusive `flock` of `_state/swap.lock`, and a listing its shared one,
//!   taken without waiting: a listing that finds it held waits as for a swap
//!   here, and a swap waits for the listings of other processes to end.
//!
//! Readers wait for a swap (a few renames and fsyncs) at most; a swap waits at
//! most [`SWAP_LOCK_WAIT`] for the listings under way, then goes ahead.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use crate::layout::DataDir;

/// The file whose lock keeps other processes' listings and swaps apart.
const SWAP_LOCK_FILE: &str = "swap.lock";

/// How long a swap waits for listings under way (a few reads of directories
/// each) before it goes ahead without holding other processes' off.
pub const SWAP_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The swap sequence of one data directory (shared by every handle on it in
/// this process), and the lock it shares with other processes.
#[derive(Debug, Clone)]
pub struct SwapSequence {
    seq: Arc<AtomicU64>,
    lock_path: PathBuf,
}

/// A swap under way; it ends when this is dropped.
#[derive(Debug)]
pub struct SwapGuard {
    seq: Arc<AtomicU64>,
    /// Holds the exclusive lock, released when closed after the guard's drop.
    _exclusive: Option<File>,
}

/// What a listing was made under: no swap under way, here or elsewhere. While
/// it lives, other processes' swaps wait.
#[derive(Debug)]
pub struct Stable {
    seq: u64,
    _shared: Option<File>,
}

impl SwapSequence {
    /// The sequence of the data directory `dir`.
    pub fn of(dir: &DataDir) -> Self {
        static SEQUENCES: LazyLock<Mutex<HashMap<PathBuf, Arc<AtomicU64>>>> = LazyLock::new(Default::default);
        let key = canonical(dir.root());
        let mut all = SEQUENCES.lock().unwrap_or_else(|p| p.into_inner());
        Self { seq: all.entry(key).or_default().clone(), lock_path: dir.state_dir().join(SWAP_LOCK_FILE) }
    }

    /// Marks a swap begun: listings from now until the guard drops are redone,
    /// and other processes' listings wait.
    pub fn begin(&self) -> SwapGuard {
        // Listings here wait from now on (or are redone), so the lock waits
        // only for those already under way here and for other processes'.
        self.seq.fetch_add(1, Ordering::SeqCst);
        let exclusive = self.lock_exclusive();
        SwapGuard { seq: self.seq.clone(), _exclusive: exclusive }
    }

    /// The state to list under, or `None` while a swap is under way.
    pub fn stable(&self) -> Option<Stable> {
        let seq = self.seq.load(Ordering::SeqCst);
        if !seq.is_multiple_of(2) {
            return None;
        }
        let shared = match open_lock(&self.lock_path) {
            Some(file) => match file.try_lock_shared() {
                Ok(()) => Some(file),
                Err(TryLockError::WouldBlock) => return None,
                // A file system without locks: this process's swaps still count.
                Err(TryLockError::Error(_)) => None,
            },
            None => None,
        };
        Some(Stable { seq, _shared: shared })
    }

    /// Whether no swap began in this process since `stable()` gave `stable`
    /// (other processes' swaps could not): a listing made in between saw the
    /// partitions whole.
    pub fn unchanged_since(&self, stable: &Stable) -> bool {
        self.seq.load(Ordering::SeqCst) == stable.seq
    }

    /// The exclusive lock, once other processes' listings let it be taken (or
    /// [`SWAP_LOCK_WAIT`] passed); `None` without it.
    fn lock_exclusive(&self) -> Option<File> {
        let file = open_lock(&self.lock_path)?;
        let deadline = Instant::now() + SWAP_LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Some(file),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
                Err(TryLockError::WouldBlock) => {
                    tracing::warn!(path = %self.lock_path.display(), "listings held the swap lock too long; swapping without it");
                    return None;
                }
                Err(TryLockError::Error(e)) => {
                    tracing::debug!(error = %e, "no swap lock: other processes' listings are not held off");
                    return None;
                }
            }
        }
    }
}

impl Drop for SwapGuard {
    fn drop(&mut self) {
        self.seq.fetch_add(1, Ordering::SeqCst);
    }
}

/// The lock file, created if need be; `None` where it cannot be opened (a
/// data directory read by a process that may not write to it, before any
/// server created the file).
fn open_lock(path: &Path) -> Option<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .or_else(|_| File::open(path))
        .ok()
}

/// One key per directory however it was named (relative, through a link).
fn canonical(root: &Path) -> PathBuf {
    std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_that_overlapped_a_swap_is_told_so() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (SwapSequence::of(&DataDir::new(tmp.path())), SwapSequence::of(&DataDir::new(tmp.path().join("."))));
        let seq = a.stable().unwrap();
        assert!(b.unchanged_since(&seq), "nothing swapped yet");
        let swap = b.begin();
        assert!(a.stable().is_none(), "a swap under way, through another handle on the same directory");
        assert!(!a.unchanged_since(&seq));
        drop(seq);
        drop(swap);
        let after = a.stable().unwrap();
        assert!(a.unchanged_since(&after));
        let other = tempfile::tempdir().unwrap();
        let _elsewhere = SwapSequence::of(&DataDir::new(other.path())).begin();
        assert!(a.unchanged_since(&after), "another data directory's swaps do not matter");
    }
}

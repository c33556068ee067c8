//! Swapping files in a partition is not atomic on a file system: compaction
//! renames its merged file in, then its inputs out. A reader listing the
//! partition in between would see both and count their rows twice. Within one
//! process, swaps and listings of a data directory share a sequence number (a
//! sequence lock): it is odd while a swap is under way, and a listing that
//! began during a swap, or overlapped one, is done again. Swaps never wait for
//! readers; readers wait for a swap (a few renames and fsyncs) at most.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use crate::layout::DataDir;

/// The swap sequence of one data directory (shared by every handle on it in
/// this process).
#[derive(Debug, Clone)]
pub struct SwapSequence(Arc<AtomicU64>);

/// A swap under way; it ends when this is dropped.
#[derive(Debug)]
pub struct SwapGuard(Arc<AtomicU64>);

impl SwapSequence {
    /// The sequence of the data directory `dir`.
    pub fn of(dir: &DataDir) -> Self {
        static SEQUENCES: LazyLock<Mutex<HashMap<PathBuf, Arc<AtomicU64>>>> = LazyLock::new(Default::default);
        let key = canonical(dir.root());
        let mut all = SEQUENCES.lock().unwrap_or_else(|p| p.into_inner());
        Self(all.entry(key).or_default().clone())
    }

    /// Marks a swap begun: listings from now until the guard drops are redone.
    pub fn begin(&self) -> SwapGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        SwapGuard(self.0.clone())
    }

    /// The sequence number to list under, or `None` while a swap is under way.
    pub fn stable(&self) -> Option<u64> {
        let seq = self.0.load(Ordering::SeqCst);
        seq.is_multiple_of(2).then_some(seq)
    }

    /// Whether no swap began since `stable()` gave `seq`: a listing made in
    /// between saw the partitions whole.
    pub fn unchanged_since(&self, seq: u64) -> bool {
        self.0.load(Ordering::SeqCst) == seq
    }
}

impl Drop for SwapGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
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
        assert!(b.unchanged_since(seq), "nothing swapped yet");
        let swap = b.begin();
        assert_eq!(a.stable(), None, "a swap under way, through another handle on the same directory");
        assert!(!a.unchanged_since(seq));
        drop(swap);
        let after = a.stable().unwrap();
        assert!(!a.unchanged_since(seq) && a.unchanged_since(after));
        let other = tempfile::tempdir().unwrap();
        let _elsewhere = SwapSequence::of(&DataDir::new(other.path())).begin();
        assert!(a.unchanged_since(after), "another data directory's swaps do not matter");
    }
}

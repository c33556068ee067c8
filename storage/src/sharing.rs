//! How several processes share one data directory. Each file writer stages its
//! files in a folder of its own (`_staging/<writer>/`), claimed by an advisory
//! lock (`_staging/<writer>.lock`) held while the writer lives, so a process
//! starting on the directory clears only what dead writers left behind. One
//! process at a time holds the store's lead (`_state/lead.lock`) and runs the
//! store-wide jobs (compaction, summaries, SLO alerting); when it exits, its lock
//! is released and another process takes the lead at its next try.
//!
//! The locks are `flock(2)` locks (through `File::try_lock`): the kernel drops
//! them when their holder dies, however it dies.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::StoreError;
use crate::layout::DataDir;

const LOCK_SUFFIX: &str = ".lock";

/// Opens (creating) the file at `path` and takes its lock without waiting:
/// `None` when another holder has it. The lock is checked to still be on the
/// file at `path` (a sweep may have removed the file between open and lock).
fn try_lock_file(path: &Path) -> Result<Option<File>, StoreError> {
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(StoreError::io("open", path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(None),
        Err(TryLockError::Error(e)) => return Err(StoreError::Io { op: "lock", path: path.to_owned(), source: e }),
    }
    let held = file.metadata().map_err(StoreError::io("stat", path))?;
    match fs::metadata(path) {
        Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => Ok(Some(file)),
        // Removed or replaced after we opened it: the lock guards nothing.
        _ => Ok(None),
    }
}

/// A writer's own staging folder, claimed for as long as this value lives, and
/// removed (with its lock file) when it is dropped.
#[derive(Debug)]
pub struct WriterStaging {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl WriterStaging {
    /// Claims `_staging/<writer_id>/` for this writer.
    pub fn claim(data: &DataDir, writer_id: &str) -> Result<Self, StoreError> {
        let root = data.staging_dir();
        fs::create_dir_all(&root).map_err(StoreError::io("create", &root))?;
        let lock_path = root.join(format!("{writer_id}{LOCK_SUFFIX}"));
        // A sweep racing with the claim can take the new lock file first and
        // remove it; a second try then creates it afresh.
        let mut lock = None;
        for _ in 0..3 {
            lock = try_lock_file(&lock_path)?;
            if lock.is_some() {
                break;
            }
        }
        let lock = lock
            .ok_or_else(|| StoreError::Invalid(format!("{}: the staging folder of writer {writer_id} is already claimed", lock_path.display())))?;
        let dir = root.join(writer_id);
        fs::create_dir_all(&dir).map_err(StoreError::io("create", &dir))?;
        Ok(Self { dir, lock_path, _lock: lock })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for WriterStaging {
    fn drop(&mut self) {
        // Still locked here: a sweep cannot take the folder meanwhile, and a
        // lock taken later on the removed file is seen to guard nothing.
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// Removes from `_staging/` what no living writer holds: the folders (and lock
/// files) of writers that are gone, and loose files. Returns how many entries
/// it removed.
pub fn sweep_staging(data: &DataDir) -> Result<usize, StoreError> {
    let root = data.staging_dir();
    let mut removed = 0;
    for entry in fs::read_dir(&root).map_err(StoreError::io("list", &root))?.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(writer) = name.strip_suffix(LOCK_SUFFIX) {
            // Held while its writer lives; ours to clear once it is not.
            if let Some(_lock) = try_lock_file(&path)? {
                let _ = fs::remove_dir_all(root.join(writer));
                let _ = fs::remove_file(&path);
                removed += 1;
            }
        } else if path.is_dir() {
            // A writer creates its lock file before its folder: a folder without
            // one was left by a writer whose lock file a sweep already removed.
            if !root.join(format!("{name}{LOCK_SUFFIX}")).exists() && fs::remove_dir_all(&path).is_ok() {
                removed += 1;
            }
        } else if fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// The store's lead: whether this process runs the store-wide jobs. Taken at the
/// first try that finds it free and kept until this value is dropped.
#[derive(Debug)]
pub struct StoreLead {
    path: PathBuf,
    held: Mutex<Option<File>>,
}

impl StoreLead {
    pub fn new(data: &DataDir) -> Self {
        Self { path: data.state_dir().join(format!("lead{LOCK_SUFFIX}")), held: Mutex::new(None) }
    }

    /// Whether this process leads, taking the lead if no other process holds it.
    pub fn try_hold(&self) -> Result<bool, StoreError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_none() {
            *held = try_lock_file(&self.path)?;
        }
        Ok(held.is_some())
    }

    /// Whether this process holds the lead now (without trying to take it).
    pub fn is_held(&self) -> bool {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }
}

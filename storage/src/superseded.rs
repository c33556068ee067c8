//! Files the store has replaced stay readable for a while: a query lists a
//! partition's files when it is planned and opens them later, so a file merged
//! away in between (by compaction, or a `latency_1m` summary rebuilt) would be
//! missing. The store moves such files to `<data_dir>/_superseded/` under the
//! same relative path (a rename, so a file a reader already holds open stays
//! valid too); a reader that finds a listed file gone reads it there
//! ([`superseded_location`]). The server's maintenance job removes them once
//! older than a grace period far longer than any query ([`purge_superseded`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::StoreError;
use crate::layout::DataDir;
use crate::writer::sync_dir;

/// The directory, under the data directory, of superseded files.
pub const SUPERSEDED_DIR: &str = "_superseded";

/// How long superseded files stay: far longer than any query takes from
/// listing files to opening them (queries time out after 30 s by default).
pub const SUPERSEDED_GRACE: Duration = Duration::from_secs(300);

/// Where a data file goes when superseded: the data directory's
/// `_superseded/`, then its path below the data directory
/// (`<table>/date=…/hour=…/<file>`). Given the path components of a data
/// file, the components of its superseded copy; `None` for a path that is not
/// a data file's. The one rule for the store, which moves files there, and for
/// readers, which look there.
pub fn superseded_location<'a>(parts: &[&'a str]) -> Option<Vec<&'a str>> {
    let [.., _table, date, hour, file] = parts else { return None };
    if !(date.starts_with("date=") && hour.starts_with("hour=") && file.ends_with(".parquet")) {
        return None;
    }
    let root = parts.len() - 4;
    let mut out = Vec::with_capacity(parts.len() + 1);
    out.extend_from_slice(&parts[..root]);
    out.push(SUPERSEDED_DIR);
    out.extend_from_slice(&parts[root..]);
    Some(out)
}

/// Moves the data files at `paths` (below `dir`, in one partition directory)
/// to their superseded place, and makes their leaving durable. A file already
/// gone is skipped.
pub fn supersede(dir: &DataDir, paths: &[PathBuf]) -> Result<(), StoreError> {
    for path in paths {
        let relative = path.strip_prefix(dir.root()).map_err(|_| StoreError::Invalid(format!("{} is outside the data directory", path.display())))?;
        let target = dir.root().join(SUPERSEDED_DIR).join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(StoreError::io("create", parent))?;
        }
        match fs::rename(path, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io { op: "rename", path: path.clone(), source: e }),
        }
    }
    match paths.first().and_then(|p| p.parent()) {
        Some(partition) => sync_dir(partition),
        None => Ok(()),
    }
}

/// Removes superseded files moved there more than `grace` ago (and the
/// directories they leave empty); returns how many.
pub fn purge_superseded(dir: &DataDir, grace: Duration) -> Result<usize, StoreError> {
    let root = dir.root().join(SUPERSEDED_DIR);
    let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut removed = 0;
    purge_below(&root, cutoff, &mut removed)?;
    Ok(removed)
}

/// Removes the files below `dir` superseded before `cutoff`; whether `dir` is
/// left empty.
fn purge_below(dir: &Path, cutoff: SystemTime, removed: &mut usize) -> Result<bool, StoreError> {
    let entries: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(StoreError::Io { op: "list", path: dir.to_owned(), source: e }),
    };
    let mut left = 0;
    let mut changed = false;
    for path in entries {
        if path.is_dir() {
            if purge_below(&path, cutoff, removed)? {
                fs::remove_dir(&path).map_err(StoreError::io("remove", &path))?;
                changed = true;
            } else {
                left += 1;
            }
        } else if superseded_at(&path).is_some_and(|at| at < cutoff) {
            fs::remove_file(&path).map_err(StoreError::io("remove", &path))?;
            *removed += 1;
            changed = true;
        } else {
            left += 1;
        }
    }
    if changed {
        sync_dir(dir)?;
    }
    Ok(left == 0)
}

/// When the file was moved here: its inode's last change (a rename sets it;
/// the modification time is still the original write's).
fn superseded_at(path: &Path) -> Option<SystemTime> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).ok()?;
    let secs = u64::try_from(meta.ctime()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, meta.ctime_nsec().clamp(0, 999_999_999) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_file_is_superseded_beside_the_tables_and_other_paths_are_not() {
        let parts = ["data", "tool_calls", "date=2026-11-27", "hour=16", "1-a-000001.parquet"];
        assert_eq!(
            superseded_location(&parts).unwrap(),
            ["data", "_superseded", "tool_calls", "date=2026-11-27", "hour=16", "1-a-000001.parquet"]
        );
        assert_eq!(superseded_location(&["tool_calls", "date=2026-11-27", "hour=16", "x.parquet"]).unwrap()[0], SUPERSEDED_DIR);
        assert!(superseded_location(&["data", "tool_calls", "date=2026-11-27", "x.parquet"]).is_none());
        assert!(superseded_location(&["data", "_state", "date=x", "hour=y", "token"]).is_none());
    }

    #[test]
    fn superseded_files_are_kept_for_the_grace_then_removed_with_their_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        let hour = tmp.path().join("tool_calls/date=2026-11-27/hour=16");
        fs::create_dir_all(&hour).unwrap();
        let file = hour.join("1-a-000001.parquet");
        fs::write(&file, b"PAR1").unwrap();

        supersede(&dir, std::slice::from_ref(&file)).unwrap();
        let moved = tmp.path().join("_superseded/tool_calls/date=2026-11-27/hour=16/1-a-000001.parquet");
        assert!(!file.exists() && moved.exists());
        assert_eq!(purge_superseded(&dir, Duration::from_secs(300)).unwrap(), 0, "kept during the grace");
        assert!(moved.exists());
        assert_eq!(purge_superseded(&dir, Duration::ZERO).unwrap(), 1);
        assert!(!tmp.path().join("_superseded/tool_calls").exists(), "emptied directories go too");
    }
}

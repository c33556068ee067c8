//! Where things live in a data directory: tables, hive partitions, file names,
//! the staging area for files being written.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::error::StoreError;

/// The tables of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// One row per tool call.
    ToolCalls,
    /// One row per rejected input.
    DeadLetters,
    /// Per-minute rollups of `tool_calls` by tool.
    Rollups1m,
    /// Per-minute rollups of `tool_calls` by agent.
    RollupsAgents1m,
    /// Per-minute latency by tool, derived from `Rollups1m` an hour at a time.
    Latency1m,
    /// OTLP spans.
    Spans,
    /// SLO evaluation results, one row per SLO, window and evaluation.
    SloStatus,
}

impl Table {
    pub const ALL: [Table; 7] =
        [Table::ToolCalls, Table::DeadLetters, Table::Rollups1m, Table::RollupsAgents1m, Table::Latency1m, Table::Spans, Table::SloStatus];

    pub fn name(self) -> &'static str {
        match self {
            Table::ToolCalls => "tool_calls",
            Table::DeadLetters => "dead_letters",
            Table::Rollups1m => "rollups_1m",
            Table::RollupsAgents1m => "rollups_agents_1m",
            Table::Latency1m => "latency_1m",
            Table::Spans => "spans",
            Table::SloStatus => "slo_status",
        }
    }

    /// The timestamp column that decides a row's partition.
    pub fn time_column(self) -> &'static str {
        match self {
            Table::ToolCalls => "timestamp",
            Table::DeadLetters => "received_at",
            Table::Rollups1m | Table::RollupsAgents1m | Table::Latency1m => "minute",
            Table::Spans => "start_time",
            Table::SloStatus => "evaluated_at",
        }
    }

    /// Whether each hour of the table is one file, replaced whole by a newer
    /// one (written before the old one is removed): readers then read only the
    /// newest file of each hour, so a replacement is never seen twice.
    pub fn replaced_per_hour(self) -> bool {
        self == Table::Latency1m
    }

    /// The columns rows are sorted by within a file (after the partition).
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            Table::ToolCalls => &["server", "tool", "timestamp"],
            Table::DeadLetters => &["received_at"],
            Table::Rollups1m | Table::Latency1m => &["server", "tool", "minute"],
            Table::RollupsAgents1m => &["server", "agent_id", "minute"],
            Table::Spans => &["service_name", "start_time"],
            Table::SloStatus => &["slo", "window", "evaluated_at"],
        }
    }
}

/// A data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// An hour partition: `date=YYYY-MM-DD/hour=HH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HourPartition {
    /// Hours since the Unix epoch.
    pub hour: i64,
}

pub const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

impl HourPartition {
    pub fn of_ns(ts_ns: i64) -> Self {
        HourPartition { hour: ts_ns.div_euclid(NANOS_PER_HOUR) }
    }

    pub fn start_ns(self) -> i64 {
        self.hour * NANOS_PER_HOUR
    }

    /// The first nanosecond after the hour.
    pub fn end_ns(self) -> i64 {
        self.start_ns() + NANOS_PER_HOUR
    }

    /// Reads `date=YYYY-MM-DD` and `hour=HH` directory names back.
    pub fn parse(date_dir: &str, hour_dir: &str) -> Option<Self> {
        let date = chrono::NaiveDate::parse_from_str(date_dir.strip_prefix("date=")?, "%Y-%m-%d").ok()?;
        let hour: u32 = hour_dir.strip_prefix("hour=")?.parse().ok().filter(|h| *h < 24)?;
        let t = date.and_hms_opt(hour, 0, 0)?.and_utc().timestamp();
        Some(HourPartition { hour: t.div_euclid(3600) })
    }

    /// The partition a data file lies in (`…/date=YYYY-MM-DD/hour=HH/file`).
    pub fn of_file(path: &Path) -> Option<Self> {
        let hour_dir = path.parent()?;
        Self::parse(hour_dir.parent()?.file_name()?.to_str()?, hour_dir.file_name()?.to_str()?)
    }

    /// The relative directory, e.g. `date=2026-11-25/hour=07`.
    pub fn dir_name(self) -> String {
        let t = DateTime::<Utc>::from_timestamp(self.hour * 3600, 0).unwrap_or_default();
        format!("date={:04}-{:02}-{:02}/hour={:02}", t.year(), t.month(), t.day(), t.hour())
    }
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn table_dir(&self, table: Table) -> PathBuf {
        self.root.join(table.name())
    }

    pub fn partition_dir(&self, table: Table, p: HourPartition) -> PathBuf {
        self.table_dir(table).join(p.dir_name())
    }

    /// Files being written live here until they are complete; readers never look here.
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("_staging")
    }

    /// Small state files (tokens, alert state, checkpoints).
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("_state")
    }

    /// Creates the root, staging and table directories, and clears from staging
    /// what writers that are gone left behind (another process's files stay).
    pub fn create(&self) -> Result<(), StoreError> {
        for dir in [self.root.clone(), self.staging_dir(), self.state_dir()] {
            fs::create_dir_all(&dir).map_err(StoreError::io("create", &dir))?;
        }
        for t in Table::ALL {
            let dir = self.table_dir(t);
            fs::create_dir_all(&dir).map_err(StoreError::io("create", &dir))?;
        }
        crate::sharing::sweep_staging(self)?;
        Ok(())
    }

    /// The Parquet files of one hour partition of a table, by name: oldest
    /// first, as the writer's names start with the time they were written.
    pub fn partition_files(&self, table: Table, p: HourPartition) -> Result<Vec<PathBuf>, StoreError> {
        let mut files = read_dir_sorted(&self.partition_dir(table, p))?;
        files.retain(|f| f.extension().is_some_and(|e| e == "parquet"));
        Ok(files)
    }

    /// Every Parquet file of a table, with its modification time.
    pub fn list_files(&self, table: Table) -> Result<Vec<(PathBuf, SystemTime)>, StoreError> {
        self.list_files_since(table, SystemTime::UNIX_EPOCH)
    }

    /// The hour partitions of a table that exist on disk, oldest first.
    pub fn partitions(&self, table: Table) -> Result<Vec<(HourPartition, PathBuf)>, StoreError> {
        let mut out = Vec::new();
        for date in read_dir_sorted(&self.table_dir(table))? {
            for hour in read_dir_sorted(&date)? {
                let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if let Some(p) = HourPartition::parse(&name(&date), &name(&hour)) {
                    out.push((p, hour));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Parquet files of a table modified at or after `since`, newest first. Hour
    /// directories older than `since` are skipped without listing them.
    pub fn list_files_since(&self, table: Table, since: SystemTime) -> Result<Vec<(PathBuf, SystemTime)>, StoreError> {
        let mut out = Vec::new();
        for date in read_dir_sorted(&self.table_dir(table))? {
            for hour in read_dir_sorted(&date)? {
                let modified = fs::metadata(&hour).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
                if modified < since {
                    continue;
                }
                for file in read_dir_sorted(&hour)? {
                    if file.extension().is_some_and(|e| e == "parquet") {
                        let mtime = fs::metadata(&file).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
                        if mtime >= since {
                            out.push((file, mtime));
                        }
                    }
                }
            }
        }
        out.sort_by_key(|f| std::cmp::Reverse(f.1));
        Ok(out)
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut v: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Io { op: "list", path: dir.to_owned(), source: e }),
    };
    v.retain(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(['.', '_'])));
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn partition_names_round_trip() {
        let p = super::HourPartition::of_ns(1_795_643_720_515_000_000);
        let name = p.dir_name();
        let (d, h) = name.split_once('/').unwrap();
        assert_eq!(super::HourPartition::parse(d, h), Some(p));
        assert_eq!(super::HourPartition::parse("date=2026-13-01", "hour=01"), None);
        assert_eq!(super::HourPartition::parse("date=2026-01-01", "hour=24"), None);
    }

    use super::*;

    #[test]
    fn hive_partition_names() {
        let ns = 1_764_064_800_000_000_000; // 2025-11-25T10:00:00Z
        assert_eq!(HourPartition::of_ns(ns).dir_name(), "date=2025-11-25/hour=10");
        assert_eq!(HourPartition::of_ns(ns - 1).dir_name(), "date=2025-11-25/hour=09");
        assert_eq!(HourPartition::of_ns(ns).start_ns(), ns);
    }
}

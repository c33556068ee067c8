//! Compaction: merges the many small files that frequent flushes create into
//! fewer large ones, size-tiered while an hour is open and into one file once it
//! has closed, and removes duplicate `event_id`s of `tool_calls` as it goes.
//!
//! The merged file is made durable before its inputs are removed, so a crash in
//! between leaves duplicates, never a gap; the merged file names its inputs,
//! and [`finish_interrupted_merges`] removes them at the next start. Inputs are
//! not deleted at once but superseded (see [`crate::superseded`]): queries that
//! listed them still read them. Readers in this process never list the merged
//! file and its inputs together ([`crate::swap`]).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;

use crate::error::StoreError;
use crate::layout::{DataDir, HourPartition, Table};
use crate::stored_form::read_file;
use crate::superseded::supersede;
use crate::swap::SwapSequence;
use crate::writer::{FileWriter, StagedFile, footer_value};

/// Footer key of a merged file: the names of the files it merged, comma-separated.
pub const META_COMPACTED_FROM: &str = "toolpulse.compacted_from";

/// How a merged file's name ends (before `.parquet`), so that finding the
/// merged files of a partition needs no footer.
const MERGED_TAG: &str = ".merged";

/// When to merge.
#[derive(Debug, Clone)]
pub struct CompactionPolicy {
    /// Merge this many files of the same size tier in an open hour.
    pub min_files: usize,
    /// Leave files younger than this alone.
    pub settle: Duration,
    /// An hour is closed this long after its end; its files then merge into one.
    pub closed_hour_grace: Duration,
    /// Largest total input of one merge, in bytes on disk.
    pub max_merge_bytes: u64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            min_files: 8,
            settle: Duration::from_secs(60),
            closed_hour_grace: Duration::from_secs(600),
            max_merge_bytes: 512 << 20,
        }
    }
}

/// What one compaction pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CompactionReport {
    pub merges: usize,
    pub files_in: usize,
    pub rows_in: usize,
    pub rows_out: usize,
    /// `tool_calls` rows dropped because their event id was already kept.
    pub duplicates_removed: usize,
    /// Rows of other tables combined into fewer by [`CombineRows`].
    pub rows_combined: usize,
}

/// Combines the rows one merge read into the rows it writes, for a table whose
/// rows add up (the rollups: one row per minute and key instead of one per
/// flush). The store does not know the tables' meaning; their owner does.
pub type CombineRows = dyn Fn(Table, Vec<RecordBatch>) -> Result<Vec<RecordBatch>, String> + Send + Sync;

#[derive(Debug, Clone)]
struct Candidate {
    path: PathBuf,
    bytes: u64,
}

/// Runs one compaction pass over `table`.
pub fn compact_table(writer: &FileWriter, table: Table, policy: &CompactionPolicy) -> Result<CompactionReport, StoreError> {
    compact_table_with(writer, table, policy, None)
}

/// Runs one compaction pass over `table`, combining the rows of each merge with
/// `combine` when given.
pub fn compact_table_with(
    writer: &FileWriter,
    table: Table,
    policy: &CompactionPolicy,
    combine: Option<&CombineRows>,
) -> Result<CompactionReport, StoreError> {
    let now = SystemTime::now();
    let now_ns = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    let mut by_partition: BTreeMap<HourPartition, Vec<Candidate>> = BTreeMap::new();
    for (path, mtime) in writer.data_dir().list_files(table)? {
        if now.duration_since(mtime).unwrap_or_default() < policy.settle {
            continue;
        }
        let Some(partition) = HourPartition::of_file(&path) else { continue };
        let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        by_partition.entry(partition).or_default().push(Candidate { path, bytes });
    }
    let mut report = CompactionReport::default();
    for (partition, files) in by_partition {
        let closed = partition.end_ns() + policy.closed_hour_grace.as_nanos() as i64 <= now_ns;
        for group in merge_groups(files, closed, policy) {
            merge(writer, table, partition, &group, combine, &mut report)?;
        }
    }
    Ok(report)
}

/// Which files to merge together: everything of a closed hour (bounded by
/// `max_merge_bytes`), or `min_files` files of one size tier of an open hour.
fn merge_groups(mut files: Vec<Candidate>, closed: bool, policy: &CompactionPolicy) -> Vec<Vec<Candidate>> {
    files.sort_by_key(|c| c.bytes);
    let mut groups = Vec::new();
    if closed {
        let mut group: Vec<Candidate> = Vec::new();
        let mut total = 0;
        for f in files {
            if total + f.bytes > policy.max_merge_bytes && !group.is_empty() {
                groups.push(std::mem::take(&mut group));
                total = 0;
            }
            total += f.bytes;
            group.push(f);
        }
        groups.push(group);
    } else {
        let mut tiers: BTreeMap<u32, Vec<Candidate>> = BTreeMap::new();
        for f in files {
            tiers.entry(size_tier(f.bytes)).or_default().push(f);
        }
        for (_, tier) in tiers {
            for chunk in tier.chunks(policy.min_files) {
                if chunk.len() == policy.min_files {
                    groups.push(chunk.to_vec());
                }
            }
        }
    }
    groups.retain(|g| g.len() > 1);
    groups
}

/// Size tiers grow by 8×: files of one tier merge into a file of the next.
fn size_tier(bytes: u64) -> u32 {
    let units = (bytes / (64 * 1024)).max(1);
    units.ilog2() / 3
}

fn merge(
    writer: &FileWriter,
    table: Table,
    partition: HourPartition,
    files: &[Candidate],
    combine: Option<&CombineRows>,
    report: &mut CompactionReport,
) -> Result<(), StoreError> {
    let mut batches = Vec::new();
    for f in files {
        batches.extend(read_file(table, &f.path)?);
    }
    let rows_in: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if table == Table::ToolCalls {
        batches = dedup_event_ids(batches)?;
    } else if let Some(combine) = combine {
        batches = combine(table, batches).map_err(StoreError::Invalid)?;
    }
    let rows_out: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let merged = match rows_out {
        0 => None,
        _ => {
            let (sorted, _) = crate::sort::sort_for_write(table, &batches)?;
            let names: Vec<String> = files.iter().filter_map(|f| f.path.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
            Some(writer.stage_file(table, partition, &sorted, &[(META_COMPACTED_FROM.into(), names.join(","))], MERGED_TAG)?)
        }
    };
    // The merged file in and its inputs out, as one swap for readers in this process.
    let swap = SwapSequence::of(writer.data_dir()).begin();
    merged.map(StagedFile::publish).transpose()?;
    supersede(writer.data_dir(), &files.iter().map(|f| f.path.clone()).collect::<Vec<_>>())?;
    drop(swap);
    tracing::debug!(table = table.name(), partition = %partition.dir_name(), files = files.len(), rows_in, rows_out, "compacted");
    report.merges += 1;
    report.files_in += files.len();
    report.rows_in += rows_in;
    report.rows_out += rows_out;
    if table == Table::ToolCalls {
        report.duplicates_removed += rows_in - rows_out;
    } else {
        report.rows_combined += rows_in - rows_out;
    }
    Ok(())
}

/// Finishes the merges of `table` a crash interrupted after the merged file
/// was in its partition but before all of its inputs were out: those still
/// there are superseded now. Left alone, `tool_calls` would hold duplicates
/// until the next merge; the rollups would count those rows twice, even after
/// it. Such a pair only exists in a partition of several files, and only the
/// footers of its merged files (named so) are read. Returns how many inputs
/// were superseded.
pub fn finish_interrupted_merges(dir: &DataDir, table: Table) -> Result<usize, StoreError> {
    let name_of = |f: &PathBuf| f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let merged_tag = format!("{MERGED_TAG}.parquet");
    let mut superseded = 0;
    for (partition, _) in dir.partitions(table)? {
        let files = dir.partition_files(table, partition)?;
        if files.len() < 2 {
            continue;
        }
        for merged in files.iter().filter(|f| name_of(f).ends_with(&merged_tag)) {
            let Ok(Some(names)) = footer_value(merged, META_COMPACTED_FROM) else { continue };
            let inputs: HashSet<&str> = names.split(',').collect();
            let left: Vec<PathBuf> = files.iter().filter(|f| f.exists() && inputs.contains(name_of(f).as_str())).cloned().collect();
            if !left.is_empty() {
                tracing::warn!(table = table.name(), partition = %partition.dir_name(), inputs = left.len(), "finishing a merge a crash interrupted");
                supersede(dir, &left)?;
                superseded += left.len();
            }
        }
    }
    Ok(superseded)
}

/// Keeps the first row of each `event_id`.
pub fn dedup_event_ids(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, StoreError> {
    let mut seen: HashSet<[u8; 16]> = HashSet::new();
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let ids = b
            .column_by_name("event_id")
            .ok_or_else(|| StoreError::Invalid("no event_id column".into()))?
            .as_fixed_size_binary();
        let keep: BooleanArray =
            (0..ids.len()).map(|i| Some(ids.value(i).try_into().map(|k: [u8; 16]| seen.insert(k)).unwrap_or(true))).collect();
        out.push(filter_record_batch(&b, &keep)?);
    }
    Ok(out)
}

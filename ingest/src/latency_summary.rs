//! `latency_1m`: one row per minute, server and tool with the call count, the
//! duration sum and maximum, the merged HDR histogram and its p50 … p999 (see
//! `toolpulse_schemas::rollup_schema`). "p99 by tool per minute" then reads one
//! number per row instead of merging the histograms of every outcome and
//! server version.
//!
//! Derived from `rollups_1m` an hour at a time. An hour's summary is one file,
//! whose footer names (by fingerprint) the rollup files it was built from; a
//! pass rebuilds the hours whose rollup files changed since (new flushes, late
//! events, compaction) and removes the summaries of hours left without rollups.
//! Its quantiles are exactly what `hdr_percentile(duration_hist, q)` over the
//! same rollup rows gives.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, Float64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt64Builder};
use arrow::error::ArrowError;
use toolpulse_schemas::hdr::encode_into;
use toolpulse_schemas::rollup_schema::{LATENCY_QUANTILES, latency_1m_schema};
use toolpulse_storage::layout::HourPartition;
use toolpulse_storage::sort::sort_for_write;
use toolpulse_storage::stored_form::read_file;
use toolpulse_storage::{FileWriter, StoreError, Table, footer_value};

use crate::rollup::{Groups, fold};

/// Footer key of a summary file: the fingerprint of the rollup files it summarizes.
pub const META_SUMMARY_OF: &str = "toolpulse.summary_of";

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SummaryReport {
    /// Hours whose summary was (re)built.
    pub hours_built: usize,
    /// Hours whose summary was removed because they no longer have rollups.
    pub hours_removed: usize,
    /// Rows written.
    pub rows: usize,
}

/// Brings `latency_1m` up to date with `rollups_1m`.
pub fn summarize(files: &FileWriter) -> Result<SummaryReport, StoreError> {
    let dir = files.data_dir();
    let hours: BTreeSet<HourPartition> =
        [Table::Rollups1m, Table::Latency1m].into_iter().map(|t| dir.partitions(t)).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().map(|(p, _)| p).collect();
    let mut report = SummaryReport::default();
    for hour in hours {
        let sources = dir.partition_files(Table::Rollups1m, hour)?;
        let summaries = dir.partition_files(Table::Latency1m, hour)?;
        if sources.is_empty() {
            if !summaries.is_empty() {
                remove(&summaries)?;
                report.hours_removed += 1;
            }
            continue;
        }
        let fingerprint = fingerprint(&sources);
        if let [only] = summaries.as_slice()
            && footer_value(only, META_SUMMARY_OF).ok().flatten().as_deref() == Some(fingerprint.as_str())
        {
            continue;
        }
        match summarize_hour(files, hour, &sources, &fingerprint) {
            Ok(rows) => report.rows += rows,
            // Compaction merged some of the listed files away: the next pass sees its result.
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        remove(&summaries)?;
        report.hours_built += 1;
    }
    Ok(report)
}

/// Writes the summary of one hour's rollup files; returns its row count.
fn summarize_hour(files: &FileWriter, hour: HourPartition, sources: &[PathBuf], fingerprint: &str) -> Result<usize, StoreError> {
    let mut batches = Vec::new();
    for path in sources {
        batches.extend(read_file(Table::Rollups1m, path)?);
    }
    let rows = summary_rows(&batches)?;
    let (sorted, _) = sort_for_write(Table::Latency1m, std::slice::from_ref(&rows))?;
    files.write_file(Table::Latency1m, hour, &sorted, &[(META_SUMMARY_OF.to_owned(), fingerprint.to_owned())])?;
    Ok(rows.num_rows())
}

/// The `latency_1m` rows of some `rollups_1m` rows.
pub fn summary_rows(rollups: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    let groups: Groups = fold(rollups, &["server", "tool"], true)?;
    let n = groups.len();
    let mut minute = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut server, mut tool) = (StringBuilder::with_capacity(n, n * 16), StringBuilder::with_capacity(n, n * 16));
    let (mut calls, mut sum, mut max) = (UInt64Builder::with_capacity(n), Float64Builder::with_capacity(n), Float64Builder::with_capacity(n));
    let mut hist = BinaryBuilder::with_capacity(n, n * 64);
    let mut quantiles: Vec<Float64Builder> = LATENCY_QUANTILES.iter().map(|_| Float64Builder::with_capacity(n)).collect();
    let mut encoded = Vec::new();
    for (key, agg) in groups {
        let Some((mut builder, _)) = agg.latency else { continue };
        let h = builder.finish();
        minute.append_value(key.minute);
        server.append_option(key.dims[0]);
        tool.append_option(key.dims[1]);
        calls.append_value(agg.calls);
        sum.append_value(agg.sum);
        max.append_value(agg.max);
        encoded.clear();
        encode_into(&h, &mut encoded);
        hist.append_value(&encoded);
        for (column, (_, q)) in quantiles.iter_mut().zip(LATENCY_QUANTILES) {
            // A rollup row's histogram is never empty; NaN would say if one were.
            column.append_value(h.quantile_ms(q).unwrap_or(f64::NAN));
        }
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(minute.finish()),
        Arc::new(server.finish()),
        Arc::new(tool.finish()),
        Arc::new(calls.finish()),
        Arc::new(sum.finish()),
        Arc::new(max.finish()),
        Arc::new(hist.finish()),
    ];
    columns.extend(quantiles.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    RecordBatch::try_new(latency_1m_schema(), columns)
}

/// Identifies a set of files by their names (which the store never reuses).
fn fingerprint(files: &[PathBuf]) -> String {
    let mut h = DefaultHasher::new();
    for f in files {
        f.file_name().hash(&mut h);
    }
    format!("{}:{:016x}", files.len(), h.finish())
}

fn remove(files: &[PathBuf]) -> Result<(), StoreError> {
    for f in files {
        match std::fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io { op: "remove", path: f.clone(), source: e }),
        }
    }
    if let Some(dir) = files.first().and_then(|f| f.parent()) {
        sync_dir(dir)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(StoreError::io("fsync", dir))
}

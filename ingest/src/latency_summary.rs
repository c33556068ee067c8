//! `latency_1m`: one row per minute, server and tool with the call count, the
//! duration sum and maximum, the merged HDR histogram and its p50 … p999 (see
//! `toolpulse_schemas::rollup_schema`). "p99 by tool per minute" then reads one
//! number per row instead of merging the histograms of every outcome and
//! server version.
//!
//! Derived from `rollups_1m` an hour at a time. An hour's summary is one file,
//! whose footer names (by fingerprint) the rollup files it was built from; a
//! pass rebuilds the hours whose rollup files changed since (new flushes, late
//! events, compaction), writing a new file that readers prefer to the old one
//! (the newest of an hour is read) and superseding the old one (which queries
//! that listed it still read: `toolpulse_storage::superseded`), and supersedes
//! the summaries of hours left without rollups.
//! Its quantiles are exactly what `hdr_percentile(duration_hist, q)` over the
//! same rollup rows gives.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, Float64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt64Builder};
use arrow::error::ArrowError;
use toolpulse_schemas::hdr::encode_into;
use toolpulse_schemas::rollup_schema::{LATENCY_QUANTILES, latency_1m_schema};
use toolpulse_storage::layout::HourPartition;
use toolpulse_storage::sort::sort_for_write;
use toolpulse_storage::stored_form::read_file;
use toolpulse_storage::superseded::supersede;
use toolpulse_storage::{FileWriter, StoreError, Table, WrittenFile, footer_value};

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
    /// Summary files superseded by newer ones.
    pub superseded: usize,
    /// Rows written.
    pub rows: usize,
}

/// Brings `latency_1m` up to date with `rollups_1m`.
pub fn summarize(files: &FileWriter) -> Result<SummaryReport, StoreError> {
    let dir = files.data_dir();
    let mut hours = BTreeSet::new();
    for table in [Table::Rollups1m, Table::Latency1m] {
        hours.extend(dir.partitions(table)?.into_iter().map(|(p, _)| p));
    }
    let mut report = SummaryReport::default();
    for hour in hours {
        let sources = dir.partition_files(Table::Rollups1m, hour)?;
        let mut summaries = dir.partition_files(Table::Latency1m, hour)?;
        if sources.is_empty() {
            if !summaries.is_empty() {
                supersede(dir, &summaries)?;
                report.hours_removed += 1;
            }
            continue;
        }
        let fingerprint = fingerprint(&sources);
        let summarized = |newest: &PathBuf| footer_value(newest, META_SUMMARY_OF).ok().flatten();
        let current = summaries.last().and_then(summarized).is_some_and(|f| f == fingerprint);
        if !current {
            match summarize_hour(files, hour, &sources, &fingerprint) {
                Ok(written) => {
                    report.rows += written.rows;
                    report.hours_built += 1;
                    summaries.push(written.path);
                }
                // Compaction merged some of the listed files away: the next pass sees its result.
                Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let older = &summaries[..summaries.len().saturating_sub(1)];
        supersede(dir, older)?;
        report.superseded += older.len();
    }
    Ok(report)
}

/// Writes the summary of one hour's rollup files.
fn summarize_hour(files: &FileWriter, hour: HourPartition, sources: &[PathBuf], fingerprint: &str) -> Result<WrittenFile, StoreError> {
    let mut batches = Vec::new();
    for path in sources {
        batches.extend(read_file(Table::Rollups1m, path)?);
    }
    let rows = summary_rows(&batches)?;
    let (sorted, _) = sort_for_write(Table::Latency1m, std::slice::from_ref(&rows))?;
    files.write_file(Table::Latency1m, hour, &sorted, &[(META_SUMMARY_OF.to_owned(), fingerprint.to_owned())])
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

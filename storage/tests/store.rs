//! Files land in hive partitions, sorted, complete, with nothing left in staging;
//! compaction merges and removes duplicate event ids.

use std::fs::File;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use toolpulse_schemas::{AuditEvent, EventBatchBuilder, EventId, Outcome, events_from_batch};
use toolpulse_storage::compact::{CompactionPolicy, compact_table, finish_interrupted_merges};
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::{DataDir, FileWriter, Table};

const HOUR: i64 = 3_600_000_000_000;
const T0: i64 = 1_764_064_800_000_000_000; // 2025-11-25T10:00:00Z

fn batch(events: &[(u128, i64, &str)]) -> RecordBatch {
    let mut b = EventBatchBuilder::with_capacity(events.len());
    for (id, ts, server) in events {
        let e = AuditEvent::new(EventId::Uuid(uuid::Uuid::from_u128(*id)), *ts, 1.0, *server, "t", Outcome::Success);
        b.append(&e);
    }
    b.finish()
}

/// An empty store in a temporary directory, and a writer of it.
fn store() -> (tempfile::TempDir, DataDir, FileWriter) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path());
    dir.create().unwrap();
    let w = FileWriter::new(dir.clone(), WriteOptions::default());
    (tmp, dir, w)
}

/// Every file below `dir`, at any depth.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(files_under(&path)) } else { out.push(path) }
    }
    out
}

fn read(path: &std::path::Path) -> (Vec<RecordBatch>, parquet::file::metadata::ParquetMetaData) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let meta = builder.metadata().as_ref().clone();
    (toolpulse_storage::stored_form::read_file(Table::ToolCalls, path).unwrap(), meta)
}

#[test]
fn one_sorted_zstd_file_per_hour_and_nothing_left_in_staging() {
    let (tmp, dir, w) = store();
    let b = batch(&[(1, T0 + 5, "zeta"), (2, T0 + HOUR + 1, "alpha"), (3, T0 + 1, "alpha"), (4, T0 + 3, "zeta")]);
    let files = w.write(Table::ToolCalls, &[b], &[("k".into(), "v".into())]).unwrap();
    assert_eq!(files.len(), 2);
    let rel: Vec<String> = files
        .iter()
        .map(|f| f.path.strip_prefix(tmp.path()).unwrap().parent().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(rel, ["tool_calls/date=2025-11-25/hour=10", "tool_calls/date=2025-11-25/hour=11"]);
    let staged = files_under(&dir.staging_dir());
    assert!(staged.iter().all(|p| p.extension().is_some_and(|e| e == "lock")), "left in staging: {staged:?}");

    let (batches, meta) = read(&files[0].path);
    let events = events_from_batch(&batches[0]).unwrap();
    let order: Vec<(String, i64)> = events.iter().map(|e| (e.server.to_string(), e.timestamp_ns - T0)).collect();
    assert_eq!(order, [("alpha".into(), 1), ("zeta".into(), 3), ("zeta".into(), 5)]);
    let rg = meta.row_group(0);
    assert!(matches!(rg.column(0).compression(), Compression::ZSTD(_)));
    assert!(rg.column(0).statistics().is_some(), "column statistics are written");
    let kv = meta.file_metadata().key_value_metadata().unwrap();
    assert!(kv.iter().any(|e| e.key == "k" && e.value.as_deref() == Some("v")));
}

#[test]
fn durations_are_stored_as_exact_decimals_and_read_back_as_the_same_doubles() {
    let (_tmp, _, w) = store();
    let durations = [188.592, 16.722, 0.001, 30000.0, 7.5];
    let mut b = EventBatchBuilder::with_capacity(durations.len());
    for (i, d) in durations.iter().enumerate() {
        b.append(&AuditEvent::new(EventId::Uuid(uuid::Uuid::from_u128(i as u128)), T0 + i as i64, *d, "s", "t", Outcome::Success));
    }
    let files = w.write(Table::ToolCalls, &[b.finish()], &[]).unwrap();

    let (batches, meta) = read(&files[0].path);
    let column = meta.file_metadata().schema_descr().columns().iter().position(|c| c.name() == "duration_ms").unwrap();
    let chunk = meta.row_group(0).column(column);
    assert_eq!(chunk.column_type(), parquet::basic::Type::INT64);
    assert_eq!(chunk.column_descr().logical_type_ref(), Some(&parquet::basic::LogicalType::decimal(3, 18)));
    assert!(chunk.encodings().any(|e| e == parquet::basic::Encoding::BYTE_STREAM_SPLIT), "{:?}", chunk.encodings().collect::<Vec<_>>());
    let read: Vec<u64> = events_from_batch(&batches[0]).unwrap().iter().map(|e| e.duration_ms.to_bits()).collect();
    assert_eq!(read, durations.iter().map(|d| d.to_bits()).collect::<Vec<_>>());
}

#[test]
fn compaction_merges_a_closed_hour_and_drops_duplicate_ids() {
    let (_tmp, dir, w) = store();
    w.write(Table::ToolCalls, &[batch(&[(1, T0 + 1, "a"), (2, T0 + 2, "a")])], &[]).unwrap();
    w.write(Table::ToolCalls, &[batch(&[(2, T0 + 2, "a"), (3, T0 + 3, "b")])], &[]).unwrap();
    w.write(Table::ToolCalls, &[batch(&[(4, T0 + 4, "b"), (1, T0 + 1, "a")])], &[]).unwrap();
    let policy = CompactionPolicy { settle: Duration::ZERO, ..Default::default() };
    let report = compact_table(&w, Table::ToolCalls, &policy).unwrap();
    assert_eq!((report.files_in, report.rows_in, report.rows_out, report.duplicates_removed), (3, 6, 4, 2));
    let files = dir.list_files(Table::ToolCalls).unwrap();
    assert_eq!(files.len(), 1);
    let (batches, _) = read(&files[0].0);
    let ts: Vec<i64> = batches[0].column(0).as_primitive::<TimestampNanosecondType>().values().iter().map(|t| t - T0).collect();
    assert_eq!(ts, [1, 2, 3, 4]);
    // A second pass finds nothing to do.
    assert_eq!(compact_table(&w, Table::ToolCalls, &policy).unwrap().merges, 0);
}

/// A crash after a merged file was published but before its inputs were
/// superseded leaves both in the partition; the next start supersedes the
/// inputs the merged file names, and leaves every other file alone.
#[test]
fn a_merge_a_crash_interrupted_is_finished_at_the_next_start() {
    let (tmp, dir, w) = store();
    let inputs: Vec<_> = (0..3u128).map(|i| w.write(Table::ToolCalls, &[batch(&[(i, T0 + i as i64, "a")])], &[]).unwrap().remove(0).path).collect();
    let policy = CompactionPolicy { settle: Duration::ZERO, ..Default::default() };
    assert_eq!(compact_table(&w, Table::ToolCalls, &policy).unwrap().files_in, 3);
    let merged = dir.list_files(Table::ToolCalls).unwrap().remove(0).0;
    // The crash: two of the inputs never left.
    for input in &inputs[..2] {
        let relative = input.strip_prefix(tmp.path()).unwrap();
        std::fs::rename(tmp.path().join("_superseded").join(relative), input).unwrap();
    }
    let later = w.write(Table::ToolCalls, &[batch(&[(9, T0 + 9, "b")])], &[]).unwrap().remove(0).path;
    assert_eq!(dir.list_files(Table::ToolCalls).unwrap().len(), 4);

    assert_eq!(finish_interrupted_merges(&dir, Table::ToolCalls).unwrap(), 2);
    let mut left: Vec<_> = dir.list_files(Table::ToolCalls).unwrap().into_iter().map(|(p, _)| p).collect();
    left.sort();
    let mut want = vec![merged, later];
    want.sort();
    assert_eq!(left, want, "the merged file and the file written after it stay");
    assert_eq!(finish_interrupted_merges(&dir, Table::ToolCalls).unwrap(), 0, "nothing left to finish");
}

/// Bytes per row of the `trace_id` column chunks of the file at `path`, and
/// whether they carry a dictionary.
fn trace_id_bytes(path: &std::path::Path) -> (f64, bool) {
    let (_, meta) = read(path);
    let chunks: Vec<_> = meta.row_groups().iter().map(|rg| rg.columns().iter().find(|c| c.column_path().string() == "trace_id").unwrap().clone()).collect();
    let bytes: i64 = chunks.iter().map(|c| c.compressed_size()).sum();
    (bytes as f64 / meta.file_metadata().num_rows() as f64, chunks.iter().any(|c| c.dictionary_page_offset().is_some()))
}

#[test]
fn trace_ids_get_a_dictionary_only_when_they_repeat_enough_to_pay_for_it() {
    let (_tmp, _, w) = store();
    // Random 16-byte trace ids, each shared by `calls` rows.
    let with_traces = |calls: usize| {
        let mut b = EventBatchBuilder::with_capacity(40_000);
        for i in 0..40_000u64 {
            let mut e = AuditEvent::new(EventId::Uuid(uuid::Uuid::new_v4()), T0 + i as i64, 1.0, "s", "t", Outcome::Success);
            let trace = i / calls as u64;
            e.trace_id = Some(uuid::Uuid::from_u64_pair(trace.wrapping_mul(0x9E37_79B9_7F4A_7C15), trace.rotate_left(17) ^ 0xA5A5).into_bytes());
            b.append(&e);
        }
        w.write(Table::ToolCalls, &[b.finish()], &[]).unwrap().remove(0).path
    };

    let (distinct_bytes, distinct_dictionary) = trace_id_bytes(&with_traces(1));
    assert!(!distinct_dictionary, "all-distinct trace ids are stored plain");
    assert!(distinct_bytes < 16.2, "plain ids cost their 16 bytes, not an index on top: {distinct_bytes}");

    let (shared_bytes, shared_dictionary) = trace_id_bytes(&with_traces(4));
    assert!(shared_dictionary, "trace ids shared by four calls each get a dictionary");
    assert!(shared_bytes < 16.0 / 4.0 + 2.5, "each id is stored once, each row pays an index: {shared_bytes}");
}

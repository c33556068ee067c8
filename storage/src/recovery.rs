//! Reads back what recent flushes wrote, so that a restarted (or newly assigned)
//! ingester can drop events it already stored: the event keys (and the call keys
//! of events with a trace context) of the newest `tool_calls` files, and the
//! keys of the newest `spans`.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

use arrow::array::{Array, AsArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use toolpulse_schemas::ids::{call_key, span_key};

use crate::error::StoreError;
use crate::layout::{DataDir, Table};

/// The deduplication keys of one `tool_calls` file (its `event_id`s and the
/// call keys of rows with a trace and span id) or `spans` file (span keys).
pub fn read_event_keys(path: &Path) -> Result<Vec<[u8; 16]>, StoreError> {
    let file = File::open(path).map_err(StoreError::io("open", path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(StoreError::parquet(path))?;
    let schema = builder.schema().clone();
    let event_id = schema.index_of("event_id").ok();
    let (trace, span) = (schema.index_of("trace_id").ok(), schema.index_of("span_id").ok());
    if event_id.is_none() && (trace.is_none() || span.is_none()) {
        return Err(StoreError::Invalid(format!("{}: neither event_id nor trace and span ids", path.display())));
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), [event_id, trace, span].into_iter().flatten());
    let reader = builder.with_projection(mask).with_batch_size(64 * 1024).build().map_err(StoreError::parquet(path))?;
    let is_spans = event_id.is_none();
    let mut keys = Vec::new();
    for batch in reader {
        let batch = batch?;
        if let Some(ids) = batch.column_by_name("event_id") {
            let ids = ids.as_fixed_size_binary();
            keys.extend((0..ids.len()).filter_map(|i| <[u8; 16]>::try_from(ids.value(i)).ok()));
        }
        if let (Some(t), Some(s)) = (batch.column_by_name("trace_id"), batch.column_by_name("span_id")) {
            let (t, s) = (t.as_fixed_size_binary(), s.as_fixed_size_binary());
            for i in 0..batch.num_rows() {
                if t.is_null(i) || s.is_null(i) {
                    continue;
                }
                if let (Ok(t), Ok(s)) = (<[u8; 16]>::try_from(t.value(i)), <[u8; 8]>::try_from(s.value(i))) {
                    keys.push(if is_spans { span_key(&t, &s) } else { call_key(&t, &s) });
                }
            }
        }
    }
    Ok(keys)
}

/// Event keys of the `tool_calls` files written within `window`, newest files
/// first, stopping after about `max_keys` keys.
pub fn recent_event_keys(dir: &DataDir, window: Duration, max_keys: usize) -> Result<Vec<[u8; 16]>, StoreError> {
    let since = SystemTime::now().checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut keys = Vec::new();
    let mut files = dir.list_files_since(Table::ToolCalls, since)?;
    files.extend(dir.list_files_since(Table::Spans, since)?);
    files.sort_by_key(|f| std::cmp::Reverse(f.1));
    for (path, _) in files {
        if keys.len() >= max_keys {
            break;
        }
        match read_event_keys(&path) {
            Ok(k) => keys.extend(k),
            // A file compacted away between listing and reading is not an error.
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(keys)
}

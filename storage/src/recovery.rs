//! Reads back what recent flushes wrote, so that a restarted (or newly assigned)
//! ingester can drop events it already stored: the event keys of the newest files.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

use arrow::array::{Array, AsArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::StoreError;
use crate::layout::{DataDir, Table};

/// The 16-byte `event_id` keys of one `tool_calls` file.
pub fn read_event_keys(path: &Path) -> Result<Vec<[u8; 16]>, StoreError> {
    let file = File::open(path).map_err(StoreError::io("open", path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(StoreError::parquet(path))?;
    let idx = builder
        .schema()
        .index_of("event_id")
        .map_err(|_| StoreError::Invalid(format!("{}: no event_id column", path.display())))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [idx]);
    let reader = builder.with_projection(mask).with_batch_size(64 * 1024).build().map_err(StoreError::parquet(path))?;
    let mut keys = Vec::new();
    for batch in reader {
        let batch = batch?;
        let ids = batch.column(0).as_fixed_size_binary();
        keys.extend((0..ids.len()).filter_map(|i| <[u8; 16]>::try_from(ids.value(i)).ok()));
    }
    Ok(keys)
}

/// Event keys of the `tool_calls` files written within `window`, newest files
/// first, stopping after about `max_keys` keys.
pub fn recent_event_keys(dir: &DataDir, window: Duration, max_keys: usize) -> Result<Vec<[u8; 16]>, StoreError> {
    let since = SystemTime::now().checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut keys = Vec::new();
    for (path, _) in dir.list_files_since(Table::ToolCalls, since)? {
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

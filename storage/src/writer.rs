//! Writes batches as Parquet files that appear atomically: each file is written
//! in the writer's own folder under `_staging/`, fsynced, renamed into its hour
//! partition, and the directory is fsynced, so a reader never sees half a file
//! and a crash never loses an acknowledged one.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::encode::write_row_groups;
use crate::error::StoreError;
use crate::layout::{DataDir, HourPartition, Table};
use crate::props::{WriteOptions, writer_properties};
use crate::sharing::WriterStaging;
use crate::sort::sort_for_write;
use crate::stored_form::to_stored;

/// A file that is now durable and visible.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub table: Table,
    pub partition: HourPartition,
    pub path: PathBuf,
    pub rows: usize,
    pub bytes: u64,
}

/// Writes the files of one process. File names carry a per-process writer id and
/// a sequence number, so several writers can share a data directory.
pub struct FileWriter {
    dir: DataDir,
    writer_id: String,
    seq: AtomicU64,
    opts: WriteOptions,
    /// This writer's folder under `_staging/`, claimed at the first write.
    staging: Mutex<Option<WriterStaging>>,
}

/// Footer metadata key naming the writer and flush that produced a file.
pub const META_FLUSH: &str = "toolpulse.flush";

impl FileWriter {
    pub fn new(dir: DataDir, opts: WriteOptions) -> Self {
        let writer_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        Self { dir, writer_id, seq: AtomicU64::new(0), opts, staging: Mutex::new(None) }
    }

    /// This writer's staging folder, claimed on first use.
    fn staging_dir(&self) -> Result<PathBuf, StoreError> {
        let mut staging = self.staging.lock().unwrap_or_else(|p| p.into_inner());
        let claimed = match &mut *staging {
            Some(claimed) => claimed,
            None => staging.insert(WriterStaging::claim(&self.dir, &self.writer_id)?),
        };
        Ok(claimed.dir().to_owned())
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.dir
    }

    pub fn writer_id(&self) -> &str {
        &self.writer_id
    }

    /// Sorts `batches` and writes one file per hour partition they touch.
    /// `metadata` is added to every file's footer.
    pub fn write(&self, table: Table, batches: &[RecordBatch], metadata: &[(String, String)]) -> Result<Vec<WrittenFile>, StoreError> {
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(Vec::new());
        }
        let (sorted, slices) = sort_for_write(table, batches)?;
        let mut written = Vec::with_capacity(slices.len());
        for slice in slices {
            let rows = sorted.slice(slice.rows.start, slice.rows.len());
            written.push(self.write_file(table, slice.partition, &rows, metadata)?);
        }
        Ok(written)
    }

    /// Writes one already-sorted batch as one file of `partition`.
    pub fn write_file(
        &self,
        table: Table,
        partition: HourPartition,
        batch: &RecordBatch,
        metadata: &[(String, String)],
    ) -> Result<WrittenFile, StoreError> {
        self.stage_file(table, partition, batch, metadata, "")?.publish()
    }

    /// Writes one already-sorted batch as a complete, fsynced file of
    /// `partition` that readers do not see until it is published. `tag` ends
    /// the file's name before `.parquet` (e.g. `.merged`; empty for a flush).
    pub fn stage_file(
        &self,
        table: Table,
        partition: HourPartition,
        batch: &RecordBatch,
        metadata: &[(String, String)],
        tag: &str,
    ) -> Result<StagedFile, StoreError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let now_ms = chrono::Utc::now().timestamp_millis();
        let name = format!("{now_ms}-{}-{seq:06}{tag}.parquet", self.writer_id);
        let staging = self.staging_dir()?.join(format!("{name}.tmp"));
        let final_dir = self.dir.partition_dir(table, partition);
        let final_path = final_dir.join(&name);

        let mut kv: Vec<KeyValue> = metadata.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect();
        kv.push(KeyValue::new(META_FLUSH.to_owned(), format!("{}-{seq}", self.writer_id)));
        let batch = &to_stored(table, batch)?;
        let props = writer_properties(table, batch, &self.opts, sorting_columns(table, batch), kv);

        let file = File::create(&staging).map_err(StoreError::io("create", &staging))?;
        // Removes the staging file if anything below fails.
        let mut staged = StagedFile {
            written: WrittenFile { table, partition, path: final_path, rows: batch.num_rows(), bytes: 0 },
            staging: Some(staging.clone()),
        };
        let staging = staging.as_path();
        // The Arrow writer sets up the file (schema, Arrow schema in the footer);
        // its row groups are then encoded column-parallel.
        let (mut w, factory) = ArrowWriter::try_new(BufWriter::with_capacity(1 << 20, file), batch.schema(), Some(props))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(StoreError::parquet(staging))?;
        write_row_groups(&mut w, &factory, batch, self.opts.row_group_rows).map_err(StoreError::parquet(staging))?;
        w.finish().map_err(StoreError::parquet(staging))?;
        let buf = w.inner_mut();
        buf.flush().map_err(StoreError::io("write", staging))?;
        buf.get_ref().sync_all().map_err(StoreError::io("fsync", staging))?;
        staged.written.bytes = buf.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
        Ok(staged)
    }
}

/// A complete, durable file under `_staging/`, not yet in its partition; it is
/// removed if dropped unpublished.
#[derive(Debug)]
pub struct StagedFile {
    written: WrittenFile,
    staging: Option<PathBuf>,
}

impl StagedFile {
    /// Renames the file into its partition, durably: readers see it from now on.
    pub fn publish(mut self) -> Result<WrittenFile, StoreError> {
        let final_path = &self.written.path;
        let final_dir = final_path.parent().unwrap_or(Path::new("/"));
        create_dir_durably(final_dir)?;
        if let Some(staging) = &self.staging {
            fs::rename(staging, final_path).map_err(StoreError::io("rename", final_path))?;
        }
        self.staging = None;
        sync_dir(final_dir)?;
        Ok(self.written.clone())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let Some(staging) = self.staging.take() {
            let _ = fs::remove_file(staging);
        }
    }
}

/// The value of footer metadata `key` in the Parquet file at `path`.
pub fn footer_value(path: &Path, key: &str) -> Result<Option<String>, StoreError> {
    let file = File::open(path).map_err(StoreError::io("open", path))?;
    let reader = SerializedFileReader::new(file).map_err(StoreError::parquet(path))?;
    let kv = reader.metadata().file_metadata().key_value_metadata();
    Ok(kv.and_then(|kv| kv.iter().find(|e| e.key == key)).and_then(|e| e.value.clone()))
}

/// The table's sort columns as Parquet sorting metadata (leaf column indices).
fn sorting_columns(table: Table, batch: &RecordBatch) -> Option<Vec<SortingColumn>> {
    table
        .sort_columns()
        .iter()
        .map(|name| {
            let idx = batch.schema().index_of(name).ok()?;
            Some(SortingColumn { column_idx: idx as i32, descending: false, nulls_first: false })
        })
        .collect()
}

/// Creates `dir` and its missing parents, fsyncing each parent that gained an entry.
fn create_dir_durably(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durably(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(StoreError::Io { op: "create", path: dir.to_owned(), source: e }),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Makes the entries of `dir` (files renamed into it or removed) durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(StoreError::io("fsync", dir))
}

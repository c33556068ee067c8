//! Encodes a sorted batch into an open Parquet file, one row group at a time,
//! with the columns of each row group encoded in parallel (on rayon's pool,
//! whose threads, and their allocator caches, live as long as the process).
//! Encoding (dictionaries, statistics, zstd) is most of a flush's work and the
//! columns are independent, so a large flush takes about 1/cores of the time
//! it would on one; a small one stays on the calling thread.

use std::io::Write;

use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::{ParquetError, Result};
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

/// Rows below which a batch's columns are worked on the calling thread (handing
/// them to the pool would cost more than it saves).
const PARALLEL_MIN_ROWS: usize = 16 * 1024;

/// `f` of each column's `job`, in order: on rayon's pool for a batch of at
/// least [`PARALLEL_MIN_ROWS`] rows, else on the calling thread.
pub(crate) fn map_columns<J: Send, R: Send, E: Send>(rows: usize, jobs: Vec<J>, f: impl Fn(J) -> std::result::Result<R, E> + Sync + Send) -> std::result::Result<Vec<R>, E> {
    if rows >= PARALLEL_MIN_ROWS { jobs.into_par_iter().map(f).collect() } else { jobs.into_iter().map(f).collect() }
}

/// Appends `batch` to `file` as row groups of at most `row_group_rows` rows.
pub fn write_row_groups<W: Write + Send>(
    file: &mut SerializedFileWriter<W>,
    factory: &ArrowRowGroupWriterFactory,
    batch: &RecordBatch,
    row_group_rows: usize,
) -> Result<()> {
    let step = row_group_rows.max(1);
    for (index, start) in (0..batch.num_rows()).step_by(step).enumerate() {
        let rows = batch.slice(start, step.min(batch.num_rows() - start));
        let chunks = encode_columns(factory.create_column_writers(index)?, &rows)?;
        let mut row_group = file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    Ok(())
}

/// Encodes every leaf column of `rows`; the chunks come back in leaf order.
fn encode_columns(writers: Vec<ArrowColumnWriter>, rows: &RecordBatch) -> Result<Vec<ArrowColumnChunk>> {
    let mut leaves = Vec::with_capacity(writers.len());
    for (field, column) in rows.schema().fields().iter().zip(rows.columns()) {
        leaves.extend(compute_leaves(field, column)?);
    }
    if leaves.len() != writers.len() {
        return Err(ParquetError::General(format!("{} leaf columns for {} column writers", leaves.len(), writers.len())));
    }
    let jobs: Vec<(ArrowColumnWriter, ArrowLeafColumn)> = writers.into_iter().zip(leaves).collect();
    let encode = |(mut writer, values): (ArrowColumnWriter, ArrowLeafColumn)| {
        writer.write(&values)?;
        writer.close()
    };
    map_columns(rows.num_rows(), jobs, encode)
}

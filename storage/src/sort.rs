//! Orders rows for writing: by hour partition first, then by the table's sort
//! columns, so that one flush becomes one sorted file per hour.

use std::ops::Range;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::datatypes::TimestampNanosecondType;

use crate::error::StoreError;
use crate::layout::{HourPartition, Table};

/// Rows of one hour partition within a sorted batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSlice {
    pub partition: HourPartition,
    pub rows: Range<usize>,
}

/// Concatenates `batches`, sorts the rows by (hour, sort columns), and returns the
/// sorted batch with the row range of each hour.
pub fn sort_for_write(table: Table, batches: &[RecordBatch]) -> Result<(RecordBatch, Vec<PartitionSlice>), StoreError> {
    let schema = batches.first().ok_or_else(|| StoreError::Invalid("nothing to write".into()))?.schema();
    let batch = concat_batches(&schema, batches)?;
    if batch.num_rows() == 0 {
        return Ok((batch, Vec::new()));
    }
    let time = time_values(table, &batch)?;
    let hours: arrow::array::Int64Array = time.iter().map(|t| t.map(|t| HourPartition::of_ns(t).hour)).collect();
    let mut keys = vec![SortColumn { values: std::sync::Arc::new(hours), options: None }];
    for name in table.sort_columns() {
        let values = batch.column_by_name(name).ok_or_else(|| StoreError::Invalid(format!("no column {name}")))?;
        keys.push(SortColumn { values: values.clone(), options: None });
    }
    let indices = lexsort_to_indices(&keys, None)?;
    let sorted = take_record_batch(&batch, &indices)?;
    let slices = partition_slices(time_values(table, &sorted)?);
    Ok((sorted, slices))
}

fn time_values<'b>(table: Table, batch: &'b RecordBatch) -> Result<&'b arrow::array::PrimitiveArray<TimestampNanosecondType>, StoreError> {
    let col = batch
        .column_by_name(table.time_column())
        .ok_or_else(|| StoreError::Invalid(format!("no column {}", table.time_column())))?;
    col.as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not a nanosecond timestamp", table.time_column())))
}

/// Runs of equal hours in a sorted time column.
fn partition_slices(time: &arrow::array::PrimitiveArray<TimestampNanosecondType>) -> Vec<PartitionSlice> {
    let mut out: Vec<PartitionSlice> = Vec::new();
    for i in 0..time.len() {
        let p = HourPartition::of_ns(time.value(i));
        match out.last_mut() {
            Some(last) if last.partition == p => last.rows.end = i + 1,
            _ => out.push(PartitionSlice { partition: p, rows: i..i + 1 }),
        }
    }
    out
}

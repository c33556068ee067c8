//! The form a table's columns take on disk where it differs from the table's
//! Arrow schema, and the way back.
//!
//! One column differs: `tool_calls.duration_ms` (a double in the table) is
//! stored as a decimal, Parquet `INT64` with a `DECIMAL(18, s)` annotation, at
//! the smallest scale `s` from 0 to 6 that gives every value of the file back
//! bit for bit when read as a double. Latencies have at most microsecond (and,
//! from OTLP, nanosecond) resolution, so a scaled integer holds them exactly;
//! a file with a value that needs more digits keeps its doubles. As integers
//! split into byte streams the column takes about two thirds of the room the
//! doubles do (`benches/ingest.rs`). Any Parquet reader sees the decimal with
//! its scale, and [`to_table_form`] (or DataFusion's cast to the table schema)
//! turns it back into the very same doubles.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::StoreError;
use crate::layout::Table;

/// The column stored as a decimal when that is exact.
const DURATION: &str = "duration_ms";

/// Decimal digits of the stored column: the most an `INT64` holds.
const PRECISION: u8 = 18;

/// Largest scale tried: nanoseconds of a millisecond value.
const MAX_SCALE: i8 = 6;

/// Largest scaled magnitude accepted: below 2^53, where every integer is an
/// exact double, and well inside [`PRECISION`] digits.
const MAX_SCALED: f64 = 9.0e15;

/// `batch` as it is to be written for `table`.
pub fn to_stored(table: Table, batch: &RecordBatch) -> Result<RecordBatch, StoreError> {
    if table != Table::ToolCalls {
        return Ok(batch.clone());
    }
    let Ok(index) = batch.schema().index_of(DURATION) else { return Ok(batch.clone()) };
    let column = batch.column(index);
    if column.data_type() != &DataType::Float64 || column.null_count() > 0 {
        return Ok(batch.clone());
    }
    let values = column.as_primitive::<Float64Type>().values();
    let Some(scale) = exact_scale(values) else { return Ok(batch.clone()) };
    let factor = 10f64.powi(i32::from(scale));
    let scaled = Decimal128Array::from_iter_values(values.iter().map(|v| (v * factor).round() as i128))
        .with_precision_and_scale(PRECISION, scale)?;
    // The way back is arrow's own cast, the one every reader of the table uses:
    // check it gives back the same bits rather than trust the arithmetic above.
    let back = cast(&scaled, &DataType::Float64)?;
    if back.as_primitive::<Float64Type>().values().iter().zip(values.iter()).any(|(a, b)| a.to_bits() != b.to_bits()) {
        return Ok(batch.clone());
    }
    replace_column(batch, index, Arc::new(scaled))
}

/// `batch`, read from a file of `table`, in the table's own column types.
pub fn to_table_form(table: Table, batch: RecordBatch) -> Result<RecordBatch, StoreError> {
    if table != Table::ToolCalls {
        return Ok(batch);
    }
    match batch.schema().index_of(DURATION) {
        Ok(index) if batch.column(index).data_type() != &DataType::Float64 => {
            let doubles = cast(batch.column(index), &DataType::Float64)?;
            replace_column(&batch, index, doubles)
        }
        _ => Ok(batch),
    }
}

/// Every row of one file of `table`, in the table's column types.
pub fn read_file(table: Table, path: &Path) -> Result<Vec<RecordBatch>, StoreError> {
    let file = File::open(path).map_err(StoreError::io("open", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(64 * 1024).build())
        .map_err(StoreError::parquet(path))?;
    reader.map(|b| to_table_form(table, b?)).collect()
}

/// Whether `field`, a stored column of `table`, holds scaled durations.
pub fn is_scaled_decimal(table: Table, field: &Field) -> bool {
    table == Table::ToolCalls && field.name() == DURATION && matches!(field.data_type(), DataType::Decimal128(..))
}

/// The smallest scale at which every value is an exact decimal.
fn exact_scale(values: &[f64]) -> Option<i8> {
    (0..=MAX_SCALE).find(|&scale| {
        let factor = 10f64.powi(i32::from(scale));
        values.iter().all(|&v| {
            let scaled = (v * factor).round();
            scaled.abs() < MAX_SCALED && (scaled / factor).to_bits() == v.to_bits()
        })
    })
}

fn replace_column(batch: &RecordBatch, index: usize, column: ArrayRef) -> Result<RecordBatch, StoreError> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[index] = fields[index].clone().with_data_type(column.data_type().clone());
    let mut columns = batch.columns().to_vec();
    columns[index] = column;
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Float64Array;

    fn batch(values: Vec<f64>) -> RecordBatch {
        let schema = Schema::new(vec![Field::new(DURATION, DataType::Float64, false)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Float64Array::from(values))]).unwrap()
    }

    fn stored_type(values: Vec<f64>) -> DataType {
        to_stored(Table::ToolCalls, &batch(values)).unwrap().column(0).data_type().clone()
    }

    #[test]
    fn microsecond_latencies_are_stored_at_scale_3_and_read_back_bit_for_bit() {
        let values = vec![188.592, 16.722, 0.0, 0.001, 25531.392, 1e9 + 0.5];
        let stored = to_stored(Table::ToolCalls, &batch(values.clone())).unwrap();
        assert_eq!(stored.column(0).data_type(), &DataType::Decimal128(18, 3));
        let back = to_table_form(Table::ToolCalls, stored).unwrap();
        let back: Vec<u64> = back.column(0).as_primitive::<Float64Type>().values().iter().map(|v| v.to_bits()).collect();
        assert_eq!(back, values.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }

    #[test]
    fn the_scale_is_the_fewest_digits_that_are_exact() {
        assert_eq!(stored_type(vec![20.0, 3.0]), DataType::Decimal128(18, 0));
        assert_eq!(stored_type(vec![20.5, 3.25]), DataType::Decimal128(18, 2));
        assert_eq!(stored_type(vec![12.345678, 1.0]), DataType::Decimal128(18, 6));
    }

    #[test]
    fn values_a_decimal_cannot_hold_exactly_keep_their_doubles() {
        assert_eq!(stored_type(vec![1.0, 1.0 / 3.0]), DataType::Float64);
        assert_eq!(stored_type(vec![1e17]), DataType::Float64);
        assert_eq!(stored_type(vec![f64::NAN]), DataType::Float64);
        assert_eq!(stored_type(vec![-0.0]), DataType::Float64);
    }

    #[test]
    fn other_tables_are_written_as_they_are() {
        let b = batch(vec![1.5]);
        assert_eq!(to_stored(Table::Spans, &b).unwrap().column(0).data_type(), &DataType::Float64);
    }
}

//! Orders rows for writing: by hour partition first, then by the table's sort
//! columns, so that one flush becomes one sorted file per hour. Strings and
//! integers (all sort columns today) are sorted through integer keys; anything
//! else through arrow's general lexicographic sort.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{SortColumn, cast, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::datatypes::{DataType, Int64Type, TimestampNanosecondType};

use crate::error::StoreError;
use crate::layout::{HourPartition, Table};

/// Rows of one hour partition within a sorted batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSlice {
    pub partition: HourPartition,
    pub rows: Range<usize>,
}

/// Sorts the rows of `batches` by (hour, sort columns) into one batch, and
/// returns it with the row range of each hour.
pub fn sort_for_write(table: Table, batches: &[RecordBatch]) -> Result<(RecordBatch, Vec<PartitionSlice>), StoreError> {
    let schema = batches.first().ok_or_else(|| StoreError::Invalid("nothing to write".into()))?.schema();
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok((RecordBatch::new_empty(schema), Vec::new()));
    }
    // One concatenation and one `take` beat interleaving the batches (which
    // copies map columns row by row).
    let batch = concat_batches(&schema, batches)?;
    let sorted = match RowKeys::new(table, &batch)? {
        Some(keys) => take_record_batch(&batch, &UInt32Array::from(keys.sorted_rows()))?,
        None => sort_by_lexsort(table, &batch)?,
    };
    let slices = partition_slices(time_values(table, &sorted)?);
    Ok((sorted, slices))
}

/// The general path, for sort columns that [`RowKeys`] cannot key.
fn sort_by_lexsort(table: Table, batch: &RecordBatch) -> Result<RecordBatch, StoreError> {
    let time = time_values(table, batch)?;
    let hours: Int64Array = time.iter().map(|t| t.map(|t| HourPartition::of_ns(t).hour)).collect();
    let mut keys = vec![SortColumn { values: Arc::new(hours), options: None }];
    for name in table.sort_columns() {
        keys.push(SortColumn { values: column(batch, name)?.clone(), options: None });
    }
    let indices = lexsort_to_indices(&keys, None)?;
    Ok(take_record_batch(batch, &indices)?)
}

fn column<'b>(batch: &'b RecordBatch, name: &str) -> Result<&'b ArrayRef, StoreError> {
    batch.column_by_name(name).ok_or_else(|| StoreError::Invalid(format!("no column {name}")))
}

/// Every row's sort key as `width` integers that order like the row: its hour,
/// then per sort column a string's rank among the distinct strings (0 for null)
/// or an integer's value. Comparing integers instead of strings makes the sort
/// several times faster than a general lexicographic sort.
struct RowKeys {
    width: usize,
    keys: Vec<u64>,
}

impl RowKeys {
    /// `None` when a sort column is neither a string nor a non-null integer.
    fn new(table: Table, batch: &RecordBatch) -> Result<Option<Self>, StoreError> {
        let names = table.sort_columns();
        let width = names.len() + 1;
        let mut keys = vec![0u64; batch.num_rows() * width];
        if !fill_integer_keys(column(batch, table.time_column())?, &mut keys, width, 0, |t| HourPartition::of_ns(t).hour)? {
            return Ok(None);
        }
        for (c, name) in names.iter().enumerate() {
            let col = column(batch, name)?;
            let done = match col.data_type() {
                DataType::Utf8 => {
                    fill_string_ranks(col, &mut keys, width, c + 1);
                    true
                }
                _ => fill_integer_keys(col, &mut keys, width, c + 1, |v| v)?,
            };
            if !done {
                return Ok(None);
            }
        }
        Ok(Some(Self { width, keys }))
    }

    /// Row numbers in sorted order.
    fn sorted_rows(&self) -> Vec<u32> {
        let w = self.width;
        let mut order: Vec<u32> = (0..(self.keys.len() / w) as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize * w, b as usize * w);
            self.keys[a..a + w].cmp(&self.keys[b..b + w])
        });
        order
    }
}

/// Writes `f(value)` of a signed integer (or timestamp) column into key slot
/// `slot`; false when the column is of another type or holds nulls.
fn fill_integer_keys(col: &ArrayRef, keys: &mut [u64], width: usize, slot: usize, f: impl Fn(i64) -> i64) -> Result<bool, StoreError> {
    // Signed types only: every value fits an i64 (a u64 above i64::MAX would not).
    let signed = matches!(col.data_type(), DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Timestamp(..));
    if col.null_count() > 0 || !signed {
        return Ok(false);
    }
    let values = cast(col, &DataType::Int64)?;
    for (row, &v) in values.as_primitive::<Int64Type>().values().iter().enumerate() {
        // Flipping the sign bit makes unsigned order equal signed order.
        keys[row * width + slot] = (f(v) as u64) ^ (1 << 63);
    }
    Ok(true)
}

/// Writes each string's rank among the distinct strings (1-based; null is 0).
fn fill_string_ranks(col: &ArrayRef, keys: &mut [u64], width: usize, slot: usize) {
    let mut ids: foldhash::HashMap<&str, u32> = foldhash::HashMap::default();
    let strings = col.as_string::<i32>();
    for (row, v) in strings.iter().enumerate() {
        keys[row * width + slot] = match v {
            None => 0,
            Some(s) => {
                let next = ids.len() as u32;
                u64::from(*ids.entry(s).or_insert(next)) + 1
            }
        };
    }
    let row = col.len();
    let mut distinct: Vec<(&str, u32)> = ids.into_iter().collect();
    distinct.sort_unstable();
    let mut rank = vec![0u64; distinct.len() + 1];
    for (position, (_, id)) in distinct.iter().enumerate() {
        rank[*id as usize + 1] = position as u64 + 1;
    }
    for r in 0..row {
        let k = &mut keys[r * width + slot];
        *k = rank[*k as usize];
    }
}

fn time_values(table: Table, batch: &RecordBatch) -> Result<&arrow::array::PrimitiveArray<TimestampNanosecondType>, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringArray, TimestampNanosecondArray, UInt32Array};
    use arrow::datatypes::{Field, Schema, TimeUnit};

    const HOUR_NS: i64 = 3_600_000_000_000;

    fn batch(seed: u64, n: usize, first_id: u32) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("server", DataType::Utf8, true),
            Field::new("tool", DataType::Utf8, false),
            Field::new("timestamp", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
            Field::new("id", DataType::UInt32, false),
        ]));
        let mut x = seed;
        let mut next = move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        let mut rows: Vec<(Option<String>, String, i64)> = Vec::new();
        for _ in 0..n {
            let server = (next() % 7 != 0).then(|| format!("s{}", next() % 5));
            rows.push((server, format!("t{}", next() % 9), (next() % 5) as i64 * HOUR_NS / 2 + (next() % 1000) as i64 - 300));
        }
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(rows.iter().map(|r| r.0.clone()).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| Some(r.1.clone())).collect::<StringArray>()),
                Arc::new(TimestampNanosecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>()).with_timezone("UTC")),
                Arc::new(UInt32Array::from_iter_values(first_id..first_id + n as u32)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn integer_keys_sort_like_the_general_sort() {
        let batches = [batch(1, 700, 0), batch(2, 0, 700), batch(3, 500, 700)];
        let all = concat_batches(&batches[0].schema(), &batches).unwrap();
        assert!(RowKeys::new(Table::ToolCalls, &all).unwrap().is_some(), "strings and timestamps take the fast path");
        let (fast, slices) = sort_for_write(Table::ToolCalls, &batches).unwrap();
        let general = sort_by_lexsort(Table::ToolCalls, &all).unwrap();
        // Key columns equal row for row (ties may come in either order).
        for c in 0..3 {
            assert_eq!(fast.column(c), general.column(c), "column {c}");
        }
        let mut ids: Vec<u32> = fast.column(3).as_primitive::<arrow::datatypes::UInt32Type>().values().to_vec();
        ids.sort_unstable();
        assert_eq!(ids, (0..1200).collect::<Vec<_>>(), "every row once");
        assert!(slices.len() >= 3 && slices.windows(2).all(|w| w[0].partition < w[1].partition && w[0].rows.end == w[1].rows.start));
        assert_eq!(slices.last().unwrap().rows.end, 1200);
    }
}

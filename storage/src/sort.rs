//! Orders rows for writing: by hour partition first, then by the table's sort
//! columns, so that one flush becomes one sorted file per hour. Strings and
//! integers (all sort columns today) are sorted through integer keys; anything
//! else through arrow's general lexicographic sort. The order is computed from
//! the key columns alone; every column is then copied into it once, straight
//! from the batches it came in, the columns of a large flush in parallel.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanBufferBuilder, FixedSizeBinaryArray, Int64Array, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow::buffer::NullBuffer;
use arrow::compute::{SortColumn, cast, concat_batches, interleave, lexsort_to_indices, take};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimestampNanosecondType};
use arrow::error::ArrowError;

use crate::encode::map_columns;
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
    let keys = key_columns(table, batches)?;
    let order = match RowKeys::new(table, &keys)? {
        Some(keys) => UInt32Array::from(keys.sorted_rows()),
        None => lexsort_order(table, &keys)?,
    };
    let sorted = gather(&schema, batches, &order)?;
    let slices = partition_slices(time_values(table, &sorted)?);
    Ok((sorted, slices))
}

/// The time column and the sort columns of `batches`, concatenated: all the
/// order needs, without copying the other columns first.
fn key_columns(table: Table, batches: &[RecordBatch]) -> Result<RecordBatch, StoreError> {
    let schema = batches[0].schema();
    let mut indices = Vec::new();
    for name in std::iter::once(table.time_column()).chain(table.sort_columns().iter().copied()) {
        let index = schema.index_of(name).map_err(|_| StoreError::Invalid(format!("no column {name}")))?;
        if !indices.contains(&index) {
            indices.push(index);
        }
    }
    let projected = batches.iter().map(|b| b.project(&indices)).collect::<Result<Vec<_>, _>>()?;
    Ok(concat_batches(&projected[0].schema(), &projected)?)
}

/// Every column of `batches` put in `order` (row numbers counted across the
/// batches in turn). Each column is copied once, from its batches straight
/// into place, and the columns of a large flush are copied in parallel.
fn gather(schema: &SchemaRef, batches: &[RecordBatch], order: &UInt32Array) -> Result<RecordBatch, StoreError> {
    let sources: Vec<(usize, usize)> = if batches.len() == 1 {
        Vec::new()
    } else {
        let origins: Vec<(usize, usize)> =
            batches.iter().enumerate().flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r))).collect();
        order.values().iter().map(|&row| origins[row as usize]).collect()
    };
    let column = |c: usize| -> Result<ArrayRef, ArrowError> {
        let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
        match parts[0].data_type() {
            _ if parts.len() == 1 => take(parts[0], order, None),
            // arrow's interleave copies these one value at a time through
            // `MutableArrayData`, several times slower than a plain gather.
            DataType::FixedSizeBinary(_) => interleave_fixed_size(&parts, &sources),
            _ => interleave(&parts, &sources),
        }
    };
    let columns = map_columns(order.len(), (0..schema.fields().len()).collect(), column)?;
    let options = RecordBatchOptions::new().with_row_count(Some(order.len()));
    Ok(RecordBatch::try_new_with_options(schema.clone(), columns, &options)?)
}

/// The values of fixed-size binary `parts` at `sources` ((part, row) pairs), in turn.
fn interleave_fixed_size(parts: &[&dyn Array], sources: &[(usize, usize)]) -> Result<ArrayRef, ArrowError> {
    let parts: Vec<&FixedSizeBinaryArray> = parts.iter().map(|p| p.as_fixed_size_binary()).collect();
    let width = parts[0].value_length();
    let mut values = Vec::with_capacity(sources.len() * width as usize);
    let mut validity = parts.iter().any(|p| p.null_count() > 0).then(|| BooleanBufferBuilder::new(sources.len()));
    for &(part, row) in sources {
        // A null slot still holds `width` bytes (zeros), so every row copies alike.
        values.extend_from_slice(parts[part].value(row));
        if let Some(v) = validity.as_mut() {
            v.append(parts[part].is_valid(row));
        }
    }
    let nulls = validity.map(|mut v| NullBuffer::new(v.finish()));
    Ok(Arc::new(FixedSizeBinaryArray::try_new(width, values.into(), nulls)?))
}

/// The general path, for sort columns that [`RowKeys`] cannot key: the row
/// order of `keys` by arrow's lexicographic sort.
fn lexsort_order(table: Table, keys: &RecordBatch) -> Result<UInt32Array, StoreError> {
    let time = time_values(table, keys)?;
    let hours: Int64Array = time.iter().map(|t| t.map(|t| HourPartition::of_ns(t).hour)).collect();
    let mut sort = vec![SortColumn { values: Arc::new(hours), options: None }];
    for name in table.sort_columns() {
        sort.push(SortColumn { values: column(keys, name)?.clone(), options: None });
    }
    Ok(lexsort_to_indices(&sort, None)?)
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
        self.sorted_rows_packed().unwrap_or_else(|| self.sorted_rows_by_slices())
    }

    /// Sorts one `u128` per row: each slot's offset from its smallest value,
    /// in as many bits as its range needs, then the row number. A contiguous
    /// sort of plain integers is several times faster than comparing rows'
    /// key slices through their indices. `None` when a row's key does not fit
    /// (a flush spanning years of nanoseconds and thousands of hours).
    fn sorted_rows_packed(&self) -> Option<Vec<u32>> {
        let (w, rows) = (self.width, self.keys.len() / self.width);
        let mut min = vec![u64::MAX; w];
        let mut max = vec![0u64; w];
        for key in self.keys.chunks_exact(w) {
            for (s, &v) in key.iter().enumerate() {
                min[s] = min[s].min(v);
                max[s] = max[s].max(v);
            }
        }
        let bits: Vec<u32> = min.iter().zip(&max).map(|(lo, hi)| u64::BITS - hi.saturating_sub(*lo).leading_zeros()).collect();
        if bits.iter().sum::<u32>() + u32::BITS > u128::BITS || rows > u32::MAX as usize {
            return None;
        }
        let mut packed: Vec<u128> = self
            .keys
            .chunks_exact(w)
            .enumerate()
            .map(|(row, key)| {
                let key = key.iter().zip(&min).zip(&bits).fold(0u128, |k, ((&v, lo), &b)| (k << b) | u128::from(v - lo));
                (key << u32::BITS) | row as u128
            })
            .collect();
        packed.sort_unstable();
        Some(packed.into_iter().map(|k| k as u32).collect())
    }

    /// The general comparison sort, for keys too wide to pack.
    fn sorted_rows_by_slices(&self) -> Vec<u32> {
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
    use arrow::compute::take_record_batch;
    use arrow::datatypes::{Field, Schema, TimeUnit};

    const HOUR_NS: i64 = 3_600_000_000_000;

    fn batch(seed: u64, n: usize, first_id: u32) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("server", DataType::Utf8, true),
            Field::new("tool", DataType::Utf8, false),
            Field::new("timestamp", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
            Field::new("id", DataType::UInt32, false),
            Field::new("id_bytes", DataType::FixedSizeBinary(4), true),
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
                Arc::new(FixedSizeBinaryArray::try_from_sparse_iter_with_size((first_id..first_id + n as u32).map(|id| (id % 11 != 0).then(|| id.to_le_bytes())), 4).unwrap()),
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
        let general = take_record_batch(&all, &lexsort_order(Table::ToolCalls, &all).unwrap()).unwrap();
        // Key columns equal row for row (ties may come in either order).
        for c in 0..3 {
            assert_eq!(fast.column(c), general.column(c), "column {c}");
        }
        let mut ids: Vec<u32> = fast.column(3).as_primitive::<arrow::datatypes::UInt32Type>().values().to_vec();
        ids.sort_unstable();
        assert_eq!(ids, (0..1200).collect::<Vec<_>>(), "every row once");
        let bytes = fast.column(4).as_fixed_size_binary();
        for (row, id) in fast.column(3).as_primitive::<arrow::datatypes::UInt32Type>().values().iter().enumerate() {
            let expected = (id % 11 != 0).then(|| id.to_le_bytes());
            assert_eq!(bytes.is_valid(row).then(|| bytes.value(row)), expected.as_ref().map(|b| &b[..]), "row {row} keeps its id bytes");
        }
        assert!(slices.len() >= 3 && slices.windows(2).all(|w| w[0].partition < w[1].partition && w[0].rows.end == w[1].rows.start));
        assert_eq!(slices.last().unwrap().rows.end, 1200);
    }

    /// Keys that fit 96 bits are sorted packed, in the same order as the
    /// slice comparison; keys that do not fit are left to it.
    #[test]
    fn packed_keys_sort_like_key_slices() {
        let mut x = 7u64;
        let mut next = move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        // Hour, two string ranks (with ties) and a nanosecond time spanning a minute.
        let base = 1u64 << 63;
        let keys: Vec<u64> = (0..5000).flat_map(|_| [base + next() % 3, next() % 4, next() % 30, base + next() % 60_000_000_000]).collect();
        let rows = RowKeys { width: 4, keys };
        let packed = rows.sorted_rows_packed().expect("fits 96 bits");
        let compare = |a: &u32, b: &u32| {
            let (a, b) = (*a as usize * 4, *b as usize * 4);
            rows.keys[a..a + 4].cmp(&rows.keys[b..b + 4])
        };
        assert!(packed.is_sorted_by(|a, b| compare(a, b).is_le()), "packed order is the keys' order");
        let mut seen = packed.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..5000).collect::<Vec<u32>>(), "every row once");
        assert_eq!(packed, rows.sorted_rows(), "the packed sort is the one used");

        let wide = RowKeys { width: 2, keys: vec![0, u64::MAX, u64::MAX, 0, 1, 1] };
        assert!(wide.sorted_rows_packed().is_none(), "128 bits of key do not fit");
        assert_eq!(wide.sorted_rows(), vec![0, 2, 1]);
    }
}

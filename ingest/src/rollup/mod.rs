//! Per-minute rollups, computed by the writer from exactly the rows it flushes
//! (after deduplication), so counts over rollups equal counts over raw rows.
//! Two tables (see `toolpulse_schemas::rollup_schema`): by tool, with latency
//! histograms and buckets, and by agent, with counts. Each flush writes its own
//! rows; [`combine`] folds the rows of one minute and key into one when
//! compaction merges files.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Float64Builder, RecordBatch, StringArray, StringBuilder, TimestampNanosecondBuilder,
    UInt64Array, UInt64Builder,
};
use arrow::datatypes::{Float64Type, SchemaRef, TimestampNanosecondType, UInt64Type};
use arrow::error::ArrowError;
use toolpulse_schemas::hdr::{decode_bins, encode_into};
use toolpulse_schemas::rollup_schema::{AGENT_DIMENSIONS, DIMENSIONS, bucket_column, rollups_1m_schema, rollups_agents_1m_schema};
use toolpulse_storage::Table;

mod groups;
pub(crate) use groups::Groups;
use groups::{BUCKETS, Key};

const NANOS_PER_MINUTE: i64 = 60_000_000_000;

/// The `rollups_1m` rows of some `tool_calls` batches; `None` when empty.
pub fn rollup(batches: &[RecordBatch]) -> Result<Option<RecordBatch>, ArrowError> {
    rollup_by(batches, DIMENSIONS, true, rollups_1m_schema())
}

/// The `rollups_agents_1m` rows of some `tool_calls` batches; `None` when empty.
pub fn rollup_agents(batches: &[RecordBatch]) -> Result<Option<RecordBatch>, ArrowError> {
    rollup_by(batches, AGENT_DIMENSIONS, false, rollups_agents_1m_schema())
}

fn rollup_by(batches: &[RecordBatch], dimensions: [&str; 4], latency: bool, schema: SchemaRef) -> Result<Option<RecordBatch>, ArrowError> {
    let mut columns = Vec::with_capacity(batches.len());
    for b in batches {
        let col = |name: &str| b.column_by_name(name).ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")));
        let ts = col("timestamp")?.as_primitive::<TimestampNanosecondType>().clone();
        let dur = col("duration_ms")?.as_primitive::<Float64Type>().clone();
        let dims: Vec<StringArray> = dimensions.iter().map(|d| col(d).map(|c| c.as_string::<i32>().clone())).collect::<Result<_, _>>()?;
        columns.push((ts, dur, dims));
    }
    let mut groups = Groups::new(latency);
    for (ts, dur, dims) in &columns {
        for i in 0..ts.len() {
            let key = Key {
                minute: ts.value(i).div_euclid(NANOS_PER_MINUTE) * NANOS_PER_MINUTE,
                dims: std::array::from_fn(|d| dims[d].is_valid(i).then(|| dims[d].value(i))),
            };
            groups.agg(key).add(dur.value(i));
        }
    }
    finish(groups, dimensions, latency, schema)
}

/// The rows of a rollup table (`table`) with one row per minute and key:
/// calls, sums and buckets added, maxima kept, histograms merged. Rows of other
/// tables come back as they are.
pub fn combine(table: Table, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, ArrowError> {
    let (dimensions, latency, schema) = match table {
        Table::Rollups1m => (DIMENSIONS, true, rollups_1m_schema()),
        Table::RollupsAgents1m => (AGENT_DIMENSIONS, false, rollups_agents_1m_schema()),
        _ => return Ok(batches),
    };
    let groups = fold(&batches, &dimensions, latency)?;
    Ok(finish(groups, dimensions, latency, schema)?.into_iter().collect())
}

/// Folds rollup rows into one group per minute and values of `dimensions` (a
/// prefix of, or all of, the table's own), reading histograms and buckets when
/// `latency`.
pub(crate) fn fold<'a>(batches: &'a [RecordBatch], dimensions: &[&str], latency: bool) -> Result<Groups<'a>, ArrowError> {
    let mut groups = Groups::new(latency);
    let (mut bins, mut scratch) = (Vec::new(), Vec::new());
    for b in batches {
        let col = |name: &str| b.column_by_name(name).ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")));
        let u64s = |name: &str| typed(name, col(name)?.as_primitive_opt::<UInt64Type>());
        let f64s = |name: &str| typed(name, col(name)?.as_primitive_opt::<Float64Type>());
        let minute = typed("minute", col("minute")?.as_primitive_opt::<TimestampNanosecondType>())?;
        let dims: Vec<&StringArray> = dimensions.iter().map(|d| typed(d, col(d)?.as_string_opt::<i32>())).collect::<Result<_, _>>()?;
        let (calls, sum, max) = (u64s("calls")?, f64s("duration_ms_sum")?, f64s("duration_ms_max")?);
        let (hist, le) = if latency {
            let le: Vec<&UInt64Array> = (0..BUCKETS).map(|i| u64s(bucket_column(i))).collect::<Result<_, _>>()?;
            (Some(typed("duration_hist", col("duration_hist")?.as_binary_opt::<i32>())?), le)
        } else {
            (None, Vec::new())
        };
        for i in 0..b.num_rows() {
            let dim = |d: usize| dims.get(d).and_then(|a| a.is_valid(i).then(|| a.value(i)));
            let key = Key { minute: minute.value(i), dims: std::array::from_fn(dim) };
            let agg = groups.agg(key);
            agg.calls += calls.value(i);
            agg.sum += sum.value(i);
            agg.max = agg.max.max(max.value(i));
            if let (Some((h, counts)), Some(hist)) = (&mut agg.latency, hist) {
                decode_bins(hist.value(i), &mut bins).map_err(|e| ArrowError::ParseError(format!("duration_hist: {e}")))?;
                h.add_sorted(&bins, &mut scratch);
                for (count, column) in counts.iter_mut().zip(&le) {
                    *count += column.value(i);
                }
            }
        }
    }
    Ok(groups)
}

/// A column as the type the rollup schema gives it, or an error naming it.
fn typed<'a, T>(name: &str, column: Option<&'a T>) -> Result<&'a T, ArrowError> {
    column.ok_or_else(|| ArrowError::SchemaError(format!("column {name} is not of its rollup type")))
}

/// One row per group, in the table's schema; `None` when there are none.
fn finish(groups: Groups, dimensions: [&str; 4], latency: bool, schema: SchemaRef) -> Result<Option<RecordBatch>, ArrowError> {
    if groups.is_empty() {
        return Ok(None);
    }
    let n = groups.len();
    let mut minute = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut dims: Vec<StringBuilder> = dimensions.iter().map(|_| StringBuilder::with_capacity(n, n * 16)).collect();
    let (mut calls, mut sum, mut max) = (UInt64Builder::with_capacity(n), Float64Builder::with_capacity(n), Float64Builder::with_capacity(n));
    let mut hist = BinaryBuilder::with_capacity(n, n * 64);
    let mut encoded = Vec::new();
    let mut le: Vec<UInt64Builder> = (0..BUCKETS).map(|_| UInt64Builder::with_capacity(n)).collect();
    for (k, a) in groups {
        minute.append_value(k.minute);
        for (b, v) in dims.iter_mut().zip(k.dims) {
            b.append_option(v);
        }
        calls.append_value(a.calls);
        sum.append_value(a.sum);
        max.append_value(a.max);
        if let Some((mut h, counts)) = a.latency {
            encoded.clear();
            encode_into(&h.finish(), &mut encoded);
            hist.append_value(&encoded);
            for (b, v) in le.iter_mut().zip(counts) {
                b.append_value(v);
            }
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(minute.finish())];
    columns.extend(dims.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.extend([Arc::new(calls.finish()) as ArrayRef, Arc::new(sum.finish()), Arc::new(max.finish())]);
    if latency {
        columns.push(Arc::new(hist.finish()));
        columns.extend(le.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    }
    RecordBatch::try_new(schema, columns).map(Some)
}

#[cfg(test)]
mod tests;

//! Per-minute rollups, computed by the writer from exactly the rows it flushes
//! (after deduplication), so counts over rollups equal counts over raw rows.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Float64Builder, RecordBatch, StringArray, StringBuilder, TimestampNanosecondBuilder,
    UInt64Builder,
};
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use arrow::error::ArrowError;
use hdrhistogram::Histogram;
use toolpulse_schemas::hdr::{encode, new_histogram, record_ms};
use toolpulse_schemas::rollup_schema::{DIMENSIONS, rollups_1m_schema};

const NANOS_PER_MINUTE: i64 = 60_000_000_000;

#[derive(PartialEq, Eq, Hash)]
struct Key {
    minute: i64,
    dims: [Option<String>; DIMENSIONS.len()],
}

struct Agg {
    calls: u64,
    sum: f64,
    max: f64,
    hist: Histogram<u64>,
}

/// Rolls `tool_calls` batches up per minute and dimensions; `None` when empty.
pub fn rollup(batches: &[RecordBatch]) -> Result<Option<RecordBatch>, ArrowError> {
    let mut groups: HashMap<Key, Agg> = HashMap::new();
    for b in batches {
        let col = |name: &str| b.column_by_name(name).ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")));
        let ts = col("timestamp")?.as_primitive::<TimestampNanosecondType>().clone();
        let dur = col("duration_ms")?.as_primitive::<Float64Type>().clone();
        let dims: Vec<StringArray> =
            DIMENSIONS.iter().map(|d| col(d).map(|c| c.as_string::<i32>().clone())).collect::<Result<_, _>>()?;
        for i in 0..b.num_rows() {
            let key = Key {
                minute: ts.value(i).div_euclid(NANOS_PER_MINUTE) * NANOS_PER_MINUTE,
                dims: std::array::from_fn(|d| dims[d].is_valid(i).then(|| dims[d].value(i).to_owned())),
            };
            let d = dur.value(i);
            let agg = groups.entry(key).or_insert_with(|| Agg { calls: 0, sum: 0.0, max: 0.0, hist: new_histogram() });
            agg.calls += 1;
            agg.sum += d;
            agg.max = agg.max.max(d);
            record_ms(&mut agg.hist, d);
        }
    }
    if groups.is_empty() {
        return Ok(None);
    }
    let n = groups.len();
    let mut minute = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut dims: Vec<StringBuilder> = DIMENSIONS.iter().map(|_| StringBuilder::with_capacity(n, n * 16)).collect();
    let (mut calls, mut sum, mut max) = (UInt64Builder::with_capacity(n), Float64Builder::with_capacity(n), Float64Builder::with_capacity(n));
    let mut hist = BinaryBuilder::with_capacity(n, n * 64);
    for (k, a) in groups {
        minute.append_value(k.minute);
        for (b, v) in dims.iter_mut().zip(k.dims) {
            b.append_option(v);
        }
        calls.append_value(a.calls);
        sum.append_value(a.sum);
        max.append_value(a.max);
        hist.append_value(encode(&a.hist));
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(minute.finish())];
    columns.extend(dims.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.extend([Arc::new(calls.finish()) as ArrayRef, Arc::new(sum.finish()), Arc::new(max.finish()), Arc::new(hist.finish())]);
    RecordBatch::try_new(rollups_1m_schema(), columns).map(Some)
}

//! Reads the store through DataFusion and turns it into each SLO's per-minute
//! counts. One query serves every SLO of a kind: rows are grouped by minute,
//! server, tool and outcome (from `rollups_1m`; SLOs that select agents or
//! tenants read `tool_calls` grouped by those too), then each row is added to
//! the SLOs whose selector matches its series.
//!
//! Rollups are written by the ingest writer with every flush, from exactly the
//! rows it stores, so they are as fresh as the raw table. Latency thresholds
//! that are one of the rollups' bucket bounds (`le_500ms`, …) are counted
//! exactly; other thresholds and percentiles come from the HDR histograms
//! (within 0.1%).

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{TimestampNanosecondType, UInt64Type};
use datafusion::execution::FunctionRegistry;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{Expr, col, lit, when};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use toolpulse_schemas::Outcome;
use toolpulse_schemas::hdr::{HistogramBuilder, SparseHistogram, decode};
use toolpulse_query::vanished;
use toolpulse_schemas::rollup_schema::{LATENCY_BUCKETS_SECONDS, bucket_column, bucket_for_ms};

use crate::counts::{MS_PER_MINUTE, Slot};
use crate::error::SloError;
use crate::selector::SeriesKey;
use crate::spec::{Budgeting, Sli, SloSpec};

/// One grouped rollup row.
struct Row {
    minute: i64,
    outcome: Outcome,
    calls: u64,
    le: [Option<u64>; LATENCY_BUCKETS_SECONDS.len()],
    hist: Option<SparseHistogram>,
}

/// Accumulates one timeslice of one SLO.
#[derive(Default)]
struct SliceAcc {
    good: u64,
    bad: u64,
    events: u64,
    hist: Option<HistogramBuilder>,
}

/// Per-SLO slots computed for `[from, to)` minutes.
pub type Computed = Vec<HashMap<i64, Slot>>;

/// Computes every SLO's slots for the minutes `[from, to)` (slice-aligned by the caller).
pub async fn compute(ctx: &SessionContext, slos: &[&SloSpec], from: i64, to: i64) -> Result<Computed, SloError> {
    let mut minutes: Computed = vec![HashMap::new(); slos.len()];
    let mut slices: Vec<HashMap<i64, SliceAcc>> = (0..slos.len()).map(|_| HashMap::new()).collect();
    // SLOs that select agents or tenants read the raw table; the others the rollups.
    for raw in [false, true] {
        let group: Vec<usize> = (0..slos.len())
            .filter(|i| !matches!(slos[*i].sli, Sli::ChainLatency { .. }) && slos[*i].selector.uses_agent_or_tenant() == raw)
            .collect();
        if group.is_empty() {
            continue;
        }
        let with_hist = group.iter().any(|i| needs_hist(slos[*i]));
        let batches = if raw { query_raw(ctx, from, to, with_hist).await? } else { query_rollups(ctx, from, to, with_hist).await? };
        let mut matching: HashMap<SeriesKey, Vec<usize>> = HashMap::new();
        for b in &batches {
            for (key, row) in rows(b, raw, with_hist)? {
                let idx = matching.entry(key).or_insert_with_key(|k| group.iter().copied().filter(|i| slos[*i].selector.matches(k)).collect());
                for &i in idx.iter() {
                    add(slos[i], &row, &mut minutes[i], &mut slices[i]);
                }
            }
        }
    }
    crate::chains::add(ctx, slos, from, to, &mut minutes).await?;
    for (i, accs) in slices.into_iter().enumerate() {
        for (start, acc) in accs {
            minutes[i].insert(start, judge_slice(slos[i], acc));
        }
    }
    Ok(minutes)
}

fn needs_hist(s: &SloSpec) -> bool {
    match s.sli {
        Sli::Latency { threshold_ms, .. } => bucket_for_ms(threshold_ms).is_none(),
        Sli::LatencyPercentile { .. } => true,
        Sli::Ratio { .. } | Sli::ChainLatency { .. } => false,
    }
}

fn ts(minute: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(Some(minute * MS_PER_MINUTE * 1_000_000), Some("UTC".into())))
}

/// Per minute, server, tool and outcome from `rollups_1m`.
async fn query_rollups(ctx: &SessionContext, from: i64, to: i64, with_hist: bool) -> Result<Vec<RecordBatch>, SloError> {
    let group: Vec<Expr> = vec![col("minute"), col("server"), col("tool"), col("outcome")];
    let mut aggs: Vec<Expr> = vec![sum(col("calls")).alias("calls")];
    aggs.extend((0..LATENCY_BUCKETS_SECONDS.len()).map(|i| sum(col(bucket_column(i))).alias(bucket_column(i))));
    if with_hist {
        let merge = ctx.udaf("hdr_merge")?;
        aggs.push(merge.call(vec![col("duration_hist")]).alias("hist"));
    }
    let df = ctx.table("rollups_1m").await?.filter(col("minute").gt_eq(ts(from)).and(col("minute").lt(ts(to))))?.aggregate(group, aggs)?;
    Ok(vanished::collect(&df).await?)
}

/// The same figures from `tool_calls`, with agent and tenant.
async fn query_raw(ctx: &SessionContext, from: i64, to: i64, with_hist: bool) -> Result<Vec<RecordBatch>, SloError> {
    let minute = datafusion::functions::datetime::expr_fn::date_trunc(lit("minute"), col("timestamp"));
    let group: Vec<Expr> =
        vec![minute.alias("minute"), col("server"), col("tool"), col("outcome"), col("agent_id"), col("tenant")];
    let mut aggs: Vec<Expr> = vec![count(lit(1)).alias("calls")];
    for (i, bound) in LATENCY_BUCKETS_SECONDS.iter().enumerate() {
        let within = when(col("duration_ms").lt_eq(lit(bound * 1000.0)), lit(1u64)).otherwise(lit(0u64))?;
        aggs.push(sum(within).alias(bucket_column(i)));
    }
    if with_hist {
        let hist = ctx.udaf("hdr_histogram")?;
        aggs.push(hist.call(vec![col("duration_ms")]).alias("hist"));
    }
    let df = ctx.table("tool_calls").await?.filter(col("timestamp").gt_eq(ts(from)).and(col("timestamp").lt(ts(to))))?.aggregate(group, aggs)?;
    Ok(vanished::collect(&df).await?)
}

fn rows(b: &RecordBatch, with_dims: bool, with_hist: bool) -> Result<Vec<(SeriesKey, Row)>, SloError> {
    let c = |name: &str| b.column_by_name(name).ok_or_else(|| SloError::Shape(format!("rollup query lacks {name}")));
    let minute = c("minute")?.as_primitive::<TimestampNanosecondType>();
    let (server, tool, outcome) = (c("server")?.as_string::<i32>(), c("tool")?.as_string::<i32>(), c("outcome")?.as_string::<i32>());
    let calls = c("calls")?.as_primitive_opt::<UInt64Type>().cloned().or_else(|| {
        c("calls").ok().and_then(|a| a.as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>().map(|a| a.unary(|v| v as u64)))
    });
    let calls = calls.ok_or_else(|| SloError::Shape("calls is not an integer".into()))?;
    let le: Vec<_> = (0..LATENCY_BUCKETS_SECONDS.len()).map(|i| c(bucket_column(i)).map(|a| a.as_primitive::<UInt64Type>().clone())).collect::<Result<_, _>>()?;
    let dims = if with_dims { Some((c("agent_id")?.as_string::<i32>(), c("tenant")?.as_string::<i32>())) } else { None };
    let hist = if with_hist { Some(c("hist")?.as_binary::<i32>()) } else { None };
    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let Some(o) = Outcome::parse(outcome.value(i)) else { continue };
        let opt = |a: &datafusion::arrow::array::StringArray| a.is_valid(i).then(|| a.value(i).to_owned());
        let key = SeriesKey {
            server: server.value(i).to_owned(),
            tool: tool.value(i).to_owned(),
            agent: dims.as_ref().and_then(|(a, _)| opt(a)),
            tenant: dims.as_ref().and_then(|(_, t)| opt(t)),
        };
        let h = match hist {
            Some(h) if h.is_valid(i) => Some(decode(h.value(i)).map_err(|e| SloError::Shape(e.to_string()))?),
            _ => None,
        };
        let row = Row {
            minute: minute.value(i).div_euclid(MS_PER_MINUTE * 1_000_000),
            outcome: o,
            calls: calls.value(i),
            le: std::array::from_fn(|k| le[k].is_valid(i).then(|| le[k].value(i))),
            hist: h,
        };
        out.push((key, row));
    }
    Ok(out)
}

/// Calls of `row` at or under `threshold_ms`: exact from a bucket column when the
/// threshold is a bucket bound and the row has buckets, else from the histogram.
fn calls_within(row: &Row, threshold_ms: f64) -> u64 {
    if let Some(v) = bucket_for_ms(threshold_ms).and_then(|k| row.le[k]) {
        return v;
    }
    match &row.hist {
        Some(h) => h.count_at_or_below((threshold_ms * 1000.0).round() as u64).min(row.calls),
        None => row.calls,
    }
}

fn add(spec: &SloSpec, row: &Row, minutes: &mut HashMap<i64, Slot>, slices: &mut HashMap<i64, SliceAcc>) {
    let (good, bad) = match &spec.sli {
        Sli::Ratio { good, bad, .. } => (
            if good.contains(row.outcome) { row.calls } else { 0 },
            if bad.contains(row.outcome) { row.calls } else { 0 },
        ),
        Sli::Latency { threshold_ms, outcomes } if outcomes.contains(row.outcome) => {
            let ok = calls_within(row, *threshold_ms);
            (ok, row.calls - ok)
        }
        Sli::LatencyPercentile { outcomes, .. } if outcomes.contains(row.outcome) => (row.calls, 0),
        _ => (0, 0),
    };
    match spec.budgeting {
        Budgeting::Occurrences => minutes.entry(row.minute).or_default().add(Slot { good, bad, events: row.calls }),
        Budgeting::Timeslices { slice, .. } => {
            let len = (slice.as_secs() / 60).max(1) as i64;
            let acc = slices.entry(row.minute.div_euclid(len) * len).or_default();
            acc.good += good;
            acc.bad += bad;
            acc.events += row.calls;
            if let (Sli::LatencyPercentile { outcomes, .. }, Some(h)) = (&spec.sli, &row.hist)
                && outcomes.contains(row.outcome)
            {
                acc.hist.get_or_insert_with(HistogramBuilder::new).add(h);
            }
        }
    }
}

/// A slice is good or bad as a whole; slices without counted calls are neither.
fn judge_slice(spec: &SloSpec, acc: SliceAcc) -> Slot {
    let Budgeting::Timeslices { target, .. } = spec.budgeting else {
        return Slot { good: acc.good, bad: acc.bad, events: acc.events };
    };
    let verdict = match &spec.sli {
        Sli::LatencyPercentile { percentile, threshold_ms, .. } => acc
            .hist
            .and_then(|mut h| h.finish().quantile_ms(*percentile))
            .map(|p99| p99 <= *threshold_ms),
        _ => (acc.good + acc.bad > 0).then(|| acc.good as f64 / (acc.good + acc.bad) as f64 >= target),
    };
    match verdict {
        Some(true) => Slot { good: 1, bad: 0, events: acc.events },
        Some(false) => Slot { good: 0, bad: 1, events: acc.events },
        None => Slot { good: 0, bad: 0, events: acc.events },
    }
}

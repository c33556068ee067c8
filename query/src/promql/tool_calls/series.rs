//! Building series from grouped rows: cumulative counters sampled at minute
//! boundaries (carried forward while the series is fresh), and per-minute
//! quantile gauges from merged HDR histograms.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType, UInt64Type};
use datafusion::prelude::SessionContext;
use datafusion::arrow::util::display::array_value_to_string;
use promql_parser::label::Matcher;
use toolpulse_schemas::hdr::decode;
use toolpulse_schemas::timestamp::format_rfc3339;
use toolpulse_schemas::rollup_schema::{LATENCY_BUCKETS_SECONDS, bucket_column};

use super::sql::{Source, Want, distinct, grouped};
use super::{BUCKET, LABELS, QUANTILES, SUM, TOOL_QUANTILE};
use crate::promql::PromError;
use crate::promql::format::sample_value;
use crate::promql::source::Selection;
use crate::promql::value::{Labels, Series, key_of};
use crate::vanished;

const MINUTE: i64 = 60_000;
/// A counter series stops being sampled this many minutes after its last call.
const STALE_AFTER_MINUTES: i64 = 60;

/// The minutes whose end-of-minute samples fall in `[start, end]` and are complete by `now`.
fn minute_range(sel: &Selection, now: i64) -> (i64, i64) {
    let from = sel.start.div_euclid(MINUTE) + i64::from(sel.start.rem_euclid(MINUTE) != 0) - 1;
    let to = sel.end.div_euclid(MINUTE).min(now.div_euclid(MINUTE));
    (from, to)
}

/// Splits the matchers into those a table can apply and whether the rest
/// (on labels the metric does not have, so always empty) can match at all.
fn split_matchers<'a>(sel: &'a Selection, known: &[&str]) -> (Vec<&'a Matcher>, bool) {
    let mut pushed = Vec::new();
    let mut satisfiable = true;
    for m in &sel.matchers {
        if known.contains(&m.name.as_str()) {
            pushed.push(m);
        } else if m.name != "le" && m.name != "quantile" {
            satisfiable &= m.is_match("");
        }
    }
    (pushed, satisfiable)
}

fn u64_at(a: &dyn Array, i: usize) -> f64 {
    if a.is_null(i) {
        return 0.0;
    }
    if let Some(x) = a.as_primitive_opt::<UInt64Type>() {
        x.value(i) as f64
    } else if let Some(x) = a.as_primitive_opt::<Int64Type>() {
        x.value(i) as f64
    } else if let Some(x) = a.as_primitive_opt::<Float64Type>() {
        x.value(i)
    } else {
        0.0
    }
}

fn minute_at(b: &RecordBatch, i: usize) -> Result<i64, PromError> {
    let m = b.column_by_name("minute").ok_or_else(|| PromError::internal("no minute column"))?;
    Ok(m.as_primitive::<TimestampNanosecondType>().value(i).div_euclid(MINUTE * 1_000_000))
}

fn labels_at(b: &RecordBatch, keep: &[&str], i: usize) -> Labels {
    let mut l = Labels::new();
    for name in keep {
        let Some(c) = b.column_by_name(name) else { continue };
        if c.is_null(i) {
            continue;
        }
        let value = match c.as_string_opt::<i32>() {
            Some(s) => s.value(i).to_owned(),
            None => array_value_to_string(c, i).unwrap_or_default(),
        };
        if !value.is_empty() {
            l.insert((*name).to_owned(), value);
        }
    }
    l
}

/// The counter metrics.
pub async fn counters(ctx: &SessionContext, sel: &Selection, now: i64) -> Result<Vec<Series>, PromError> {
    let (from, to) = minute_range(sel, now);
    let (pushed, satisfiable) = split_matchers(sel, &LABELS);
    if !satisfiable || from >= to {
        return Ok(Vec::new());
    }
    let keep: Vec<&str> = sel.projection.kept(&LABELS);
    let needed: BTreeSet<String> = keep.iter().map(|s| s.to_string()).chain(pushed.iter().map(|m| m.name.clone())).collect();
    let buckets = sel.name == BUCKET;
    let want = match sel.name.as_str() {
        BUCKET => Want::Buckets,
        SUM => Want::Sum,
        _ => Want::Calls,
    };
    let source = Source::for_labels(&needed, buckets);
    // The hour before the range too: which series are still sampled at its
    // start, and their counts so far. A series' presence and values then do
    // not depend on how far back a query reads (an instant query reads a few
    // minutes), and a counter that is there already is not taken for one
    // starting from zero. And the minute after: a series starting then is
    // sampled (at 0) at its start, the range's last sample time.
    let df = grouped(ctx, source, from - STALE_AFTER_MINUTES, to + 1, &pushed, &keep, want).await?;
    let batches = vanished::collect(&df).await?;

    // Per series (kept labels): per minute, the increments of each output series.
    let outputs = if buckets { LATENCY_BUCKETS_SECONDS.len() + 1 } else { 1 };
    let mut per: HashMap<String, (Labels, BTreeMap<i64, Vec<f64>>)> = HashMap::new();
    for b in &batches {
        let calls = b.column_by_name("calls").ok_or_else(|| PromError::internal("no calls column"))?;
        for i in 0..b.num_rows() {
            let labels = labels_at(b, &keep, i);
            let minute = minute_at(b, i)?;
            let mut inc = vec![0.0; outputs];
            match want {
                Want::Buckets => {
                    for (k, slot) in inc.iter_mut().take(LATENCY_BUCKETS_SECONDS.len()).enumerate() {
                        *slot = b.column_by_name(bucket_column(k)).map_or(0.0, |c| u64_at(c.as_ref(), i));
                    }
                    inc[outputs - 1] = u64_at(calls.as_ref(), i);
                }
                Want::Sum => inc[0] = b.column_by_name("duration_ms_sum").map_or(0.0, |c| u64_at(c.as_ref(), i)) / 1000.0,
                _ => inc[0] = u64_at(calls.as_ref(), i),
            }
            let e = per.entry(key_of(&labels)).or_insert_with(|| (labels, BTreeMap::new()));
            let slot = e.1.entry(minute).or_insert_with(|| vec![0.0; outputs]);
            for (a, b) in slot.iter_mut().zip(inc) {
                *a += b;
            }
        }
    }
    let mut out = Vec::new();
    for (_, (labels, minutes)) in per {
        let mut samples: Vec<Vec<(i64, f64)>> = vec![Vec::new(); outputs];
        let mut acc = vec![0.0; outputs];
        let Some(&first) = minutes.keys().next() else { continue };
        let mut last_active = first;
        // Whether the series was sampled at the start of minute `m`.
        let mut sampled = false;
        for m in first..=to {
            let calls = minutes.get(&m);
            if calls.is_none() && m - last_active > STALE_AFTER_MINUTES {
                sampled = false;
                continue;
            }
            // A series (re)starting is first sampled at the start of its
            // minute, before its calls (0 for a new one), as a counter set up
            // before its first increment: `rate` and `increase` then count a
            // new series' first calls. Samples start with the range's.
            if !sampled && m > from {
                for (s, a) in samples.iter_mut().zip(&acc) {
                    s.push((m * MINUTE, *a));
                }
            }
            if let Some(inc) = calls {
                last_active = m;
                for (a, x) in acc.iter_mut().zip(inc) {
                    *a += x;
                }
            }
            sampled = true;
            if m < from || m == to {
                continue;
            }
            let t = (m + 1) * MINUTE;
            for (s, a) in samples.iter_mut().zip(&acc) {
                s.push((t, *a));
            }
        }
        if samples[0].is_empty() {
            continue;
        }
        for (k, s) in samples.into_iter().enumerate() {
            let mut l = labels.clone();
            if buckets {
                let le = LATENCY_BUCKETS_SECONDS.get(k).map_or_else(|| "+Inf".to_owned(), |b| sample_value(*b));
                l.insert("le".into(), le);
                if !sel.matchers.iter().filter(|m| m.name == "le").all(|m| m.is_match(&l["le"])) {
                    continue;
                }
            }
            out.push(Series { labels: l, samples: s });
        }
    }
    out.sort_by_key(|a| key_of(&a.labels));
    Ok(out)
}

/// The label sets of a selection, without building samples.
pub async fn label_sets(ctx: &SessionContext, sel: &Selection) -> Result<Vec<Labels>, PromError> {
    let quantile_metric = sel.name == TOOL_QUANTILE || sel.name == super::SERVER_QUANTILE;
    let keep: Vec<&str> = if sel.name == TOOL_QUANTILE {
        vec!["server", "tool"]
    } else if quantile_metric {
        vec!["server"]
    } else {
        LABELS.to_vec()
    };
    let (pushed, satisfiable) = split_matchers(sel, &keep);
    if !satisfiable {
        return Ok(Vec::new());
    }
    let needed: BTreeSet<String> = keep.iter().map(|s| s.to_string()).collect();
    let source = if quantile_metric { Source::Rollups } else { Source::for_labels(&needed, sel.name == BUCKET) };
    // A counter is sampled for an hour after its last call.
    let start = if quantile_metric { sel.start } else { sel.start - STALE_AFTER_MINUTES * MINUTE };
    let df = distinct(ctx, source, start, sel.end, &pushed, &keep).await?;
    let batches = vanished::collect(&df).await?;
    let extra: Vec<(&str, String)> = if sel.name == BUCKET {
        LATENCY_BUCKETS_SECONDS.iter().map(|b| ("le", sample_value(*b))).chain([("le", "+Inf".to_owned())]).collect()
    } else if quantile_metric {
        QUANTILES.iter().map(|q| ("quantile", sample_value(*q))).collect()
    } else {
        vec![]
    };
    let mut out = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            let base = labels_at(b, &keep, i);
            if extra.is_empty() {
                out.push(base);
                continue;
            }
            for (k, v) in &extra {
                let mut l = base.clone();
                l.insert((*k).to_owned(), v.clone());
                if sel.matchers.iter().filter(|m| m.name == *k).all(|m| m.is_match(v)) {
                    out.push(l);
                }
            }
        }
    }
    Ok(out)
}

/// The quantiles a selection asks for (all of them unless `quantile` is matched).
fn wanted_quantiles(sel: &Selection) -> Vec<f64> {
    QUANTILES.into_iter().filter(|q| sel.matchers.iter().filter(|m| m.name == "quantile").all(|m| m.is_match(&sample_value(*q)))).collect()
}

/// Quantile gauges from rows of (`minute`, `keep` labels, serialized `hist`):
/// one series per label set and quantile, a sample per minute (at its end),
/// for the rows whose labels `admit`.
fn quantile_series(batches: &[RecordBatch], keep: &[&str], qs: &[f64], admit: impl Fn(&Labels) -> bool) -> Result<Vec<Series>, PromError> {
    let mut per: BTreeMap<String, Series> = BTreeMap::new();
    for b in batches {
        let hist = b.column_by_name("hist").ok_or_else(|| PromError::internal("no hist column"))?.as_binary::<i32>();
        for i in 0..b.num_rows() {
            if hist.is_null(i) {
                continue;
            }
            let base = labels_at(b, keep, i);
            if !admit(&base) {
                continue;
            }
            let h = decode(hist.value(i)).map_err(|e| PromError::internal(e.to_string()))?;
            let t = (minute_at(b, i)? + 1) * MINUTE;
            for q in qs {
                let Some(v) = h.quantile_ms(*q) else { continue };
                let mut l = base.clone();
                l.insert("quantile".into(), sample_value(*q));
                per.entry(key_of(&l)).or_insert_with(|| Series { labels: l, samples: Vec::new() }).samples.push((t, v / 1000.0));
            }
        }
    }
    let mut out: Vec<Series> = per.into_values().collect();
    for s in &mut out {
        s.samples.sort_by_key(|(t, _)| *t);
    }
    Ok(out)
}

/// The precise quantile gauges.
pub async fn quantiles(ctx: &SessionContext, sel: &Selection, now: i64) -> Result<Vec<Series>, PromError> {
    let (from, to) = minute_range(sel, now);
    let per_tool = sel.name == TOOL_QUANTILE;
    let keep: Vec<&str> = if per_tool { vec!["server", "tool"] } else { vec!["server"] };
    let (pushed, satisfiable) = split_matchers(sel, &keep);
    let qs = wanted_quantiles(sel);
    if !satisfiable || qs.is_empty() || from >= to {
        return Ok(Vec::new());
    }
    let df = grouped(ctx, Source::Rollups, from, to, &pushed, &keep, Want::Histogram).await?;
    let batches = vanished::collect(&df).await?;
    // The label matchers were pushed into the query.
    quantile_series(&batches, &keep, &qs, |_| true)
}

/// Chain-latency quantile gauges: per minute of chain start and depth.
pub async fn chain_quantiles(ctx: &SessionContext, sel: &Selection, now: i64) -> Result<Vec<Series>, PromError> {
    let (from, to) = minute_range(sel, now);
    let (depth_matchers, satisfiable) = split_matchers(sel, &["depth"]);
    let qs = wanted_quantiles(sel);
    if !satisfiable || qs.is_empty() || from >= to {
        return Ok(Vec::new());
    }
    let ts = |m: i64| format_rfc3339(m * MINUTE * 1_000_000);
    let sql = format!(
        "SELECT date_trunc('minute', started) AS minute, CAST(depth AS VARCHAR) AS depth, hdr_histogram(duration_ms) AS hist FROM ( \
           SELECT min(timestamp) AS started, \
                  max(CAST(timestamp AS BIGINT) / 1000000.0 + duration_ms) - min(CAST(timestamp AS BIGINT) / 1000000.0) AS duration_ms, \
                  max(coalesce(chain_depth, 1)) AS depth \
           FROM tool_calls WHERE trace_id IS NOT NULL AND timestamp >= '{}' AND timestamp < '{}' GROUP BY trace_id \
         ) WHERE started >= '{}' AND started < '{}' GROUP BY 1, 2",
        ts(from - 10),
        ts(to + 10),
        ts(from),
        ts(to)
    );
    let df = ctx.sql(&sql).await?;
    let batches = vanished::collect(&df).await?;
    quantile_series(&batches, &["depth"], &qs, |l| {
        let d = l.get("depth").map_or("", String::as_str);
        depth_matchers.iter().all(|m| m.is_match(d))
    })
}

//! Per-minute counts of `chain_latency` SLOs, from the raw `tool_calls` table:
//! the chains of MCP calls (one per trace) that started in each minute, by the
//! server and tool of their first call and their depth, with how many finished
//! within each SLO's threshold.
//!
//! A chain is measured from its calls stored when its hour is refreshed;
//! calls are looked for up to ten minutes either side of the hour.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, TimestampNanosecondType};
use datafusion::prelude::SessionContext;
use toolpulse_query::vanished;

use crate::counts::{MS_PER_MINUTE, Slot};
use crate::error::SloError;
use crate::selector::SeriesKey;
use crate::spec::{Sli, SloSpec};

const MARGIN_MS: i64 = 10 * MS_PER_MINUTE;

fn ts(ms: i64) -> String {
    toolpulse_schemas::timestamp::format_rfc3339(ms * 1_000_000)
}

/// The query: chains started in `[from, to)` minutes, grouped, with one
/// "within threshold" count per distinct threshold.
fn query(from: i64, to: i64, thresholds: &[f64]) -> String {
    let within: String =
        thresholds.iter().enumerate().map(|(i, t)| format!(", sum(CASE WHEN duration_ms <= {t} THEN 1 ELSE 0 END) AS w{i}")).collect();
    let (lo, hi) = (from * MS_PER_MINUTE, to * MS_PER_MINUTE);
    format!(
        "SELECT date_trunc('minute', started) AS minute, root_server, root_tool, depth, count(*) AS chains{within} FROM ( \
           SELECT min(timestamp) AS started, \
                  max(CAST(timestamp AS BIGINT) / 1000000.0 + duration_ms) - min(CAST(timestamp AS BIGINT) / 1000000.0) AS duration_ms, \
                  CAST(max(coalesce(chain_depth, 1)) AS BIGINT) AS depth, \
                  first_value(server ORDER BY timestamp) AS root_server, \
                  first_value(tool ORDER BY timestamp) AS root_tool \
           FROM tool_calls WHERE trace_id IS NOT NULL AND timestamp >= '{}' AND timestamp < '{}' GROUP BY trace_id \
         ) WHERE started >= '{}' AND started < '{}' GROUP BY 1, 2, 3, 4",
        ts(lo - MARGIN_MS),
        ts(hi + MARGIN_MS),
        ts(lo),
        ts(hi)
    )
}

/// Adds the chain counts of `[from, to)` to `minutes` for the chain SLOs among `slos`.
pub async fn add(ctx: &SessionContext, slos: &[&SloSpec], from: i64, to: i64, minutes: &mut [HashMap<i64, Slot>]) -> Result<(), SloError> {
    let chain: Vec<(usize, f64, u16)> = slos
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.sli {
            Sli::ChainLatency { threshold_ms, min_depth } => Some((i, threshold_ms, min_depth)),
            _ => None,
        })
        .collect();
    if chain.is_empty() {
        return Ok(());
    }
    let mut thresholds: Vec<f64> = chain.iter().map(|c| c.1).collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    let df = ctx.sql(&query(from, to, &thresholds)).await?;
    let batches = vanished::collect(&df).await?;
    for b in &batches {
        add_rows(b, slos, &chain, &thresholds, minutes)?;
    }
    Ok(())
}

fn add_rows(b: &RecordBatch, slos: &[&SloSpec], chain: &[(usize, f64, u16)], thresholds: &[f64], minutes: &mut [HashMap<i64, Slot>]) -> Result<(), SloError> {
    let c = |n: &str| b.column_by_name(n).ok_or_else(|| SloError::Shape(format!("chain query lacks {n}")));
    let minute = c("minute")?.as_primitive::<TimestampNanosecondType>().clone();
    let (server, tool) = (c("root_server")?.as_string::<i32>().clone(), c("root_tool")?.as_string::<i32>().clone());
    let depth = c("depth")?.as_primitive_opt::<Int64Type>().ok_or_else(|| SloError::Shape("chain depth is not BIGINT".into()))?.clone();
    let count = |a: &dyn Array, i: usize| -> u64 { a.as_primitive_opt::<Int64Type>().map_or(0, |x| x.value(i).max(0) as u64) };
    let chains = c("chains")?;
    let within: Vec<_> = (0..thresholds.len()).map(|k| c(&format!("w{k}"))).collect::<Result<_, _>>()?;
    for i in 0..b.num_rows() {
        let key = SeriesKey { server: server.value(i).to_owned(), tool: tool.value(i).to_owned(), agent: None, tenant: None };
        let m = minute.value(i).div_euclid(MS_PER_MINUTE * 1_000_000);
        let n = count(chains.as_ref(), i);
        for &(idx, threshold, min_depth) in chain {
            if depth.value(i) < i64::from(min_depth) || !slos[idx].selector.matches(&key) {
                continue;
            }
            let k = thresholds.iter().position(|t| *t == threshold).unwrap_or(0);
            let good = count(within[k].as_ref(), i).min(n);
            minutes[idx].entry(m).or_default().add(Slot { good, bad: n - good, events: n });
        }
    }
    Ok(())
}

//! Rollups against the rows they roll up, in any order and batching.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampNanosecondType, UInt64Type};
use toolpulse_schemas::{AuditEvent, EventBatchBuilder, EventId, Outcome};

use super::{rollup, rollup_agents};

/// Events over three minutes, servers, tools, agents and outcomes, so that
/// neighbouring rows share some dimensions and not others.
fn events() -> Vec<AuditEvent<'static>> {
    (0..600u32)
        .map(|i| {
            let outcome = [Outcome::Success, Outcome::Success, Outcome::ToolError, Outcome::Timeout][(i % 4) as usize];
            let ts = 1_764_000_000_000_000_000 + i64::from(i % 3) * 60_000_000_000 + i64::from(i) * 1_000;
            let mut e = AuditEvent::new(EventId::Text(format!("e{i}").into()), ts, f64::from(i % 50) * 7.5, format!("s{}", i % 3), format!("t{}", i % 2), outcome);
            e.server_version = (i % 5 != 0).then(|| "1.0".into());
            e.agent_id = Some(format!("a{}", i % 7).into());
            e.tenant = (i % 11 != 0).then(|| "acme".into());
            e
        })
        .collect()
}

fn batch(events: &[AuditEvent<'static>]) -> RecordBatch {
    let mut b = EventBatchBuilder::with_capacity(events.len());
    events.iter().for_each(|e| b.append(e));
    b.finish()
}

/// Every rollup row as text, keyed by its minute and dimensions (the
/// order of rows is not part of a rollup's meaning).
fn rows(r: &RecordBatch) -> BTreeMap<String, String> {
    let minute = r.column(0).as_primitive::<TimestampNanosecondType>();
    let calls = r.column_by_name("calls").unwrap().as_primitive::<UInt64Type>();
    let sum = r.column_by_name("duration_ms_sum").unwrap().as_primitive::<Float64Type>();
    let max = r.column_by_name("duration_ms_max").unwrap().as_primitive::<Float64Type>();
    let hist = r.column_by_name("duration_hist").map(|c| c.as_binary::<i32>().clone());
    (0..r.num_rows())
        .map(|i| {
            let dims: Vec<String> = (1..5).map(|c| r.column(c).as_string::<i32>()).map(|d| if d.is_valid(i) { d.value(i) } else { "-" }.to_owned()).collect();
            let hist = hist.as_ref().map(|h| format!("{:?}", h.value(i)));
            (format!("{} {}", minute.value(i), dims.join("/")), format!("{} {} {} {hist:?}", calls.value(i), sum.value(i), max.value(i)))
        })
        .collect()
}

#[test]
fn rollups_do_not_depend_on_row_order_or_batching() {
    let events = events();
    let mut sorted = events.clone();
    sorted.sort_by(|a, b| (&a.server, &a.tool, a.timestamp_ns).cmp(&(&b.server, &b.tool, b.timestamp_ns)));
    let arrival: Vec<RecordBatch> = events.chunks(128).map(batch).collect();
    let sorted = [batch(&sorted)];
    for f in [rollup, rollup_agents] {
        let (a, s) = (f(&arrival).unwrap().unwrap(), f(&sorted).unwrap().unwrap());
        assert_eq!(rows(&a), rows(&s));
        let calls: u64 = a.column_by_name("calls").unwrap().as_primitive::<UInt64Type>().values().iter().sum();
        assert_eq!(calls, 600, "every event counted once");
        // 3 minutes × 3 servers, each with rows of several outcomes and versions or agents.
        assert!(a.num_rows() > 9, "{} groups", a.num_rows());
    }
}

//! The `slo_status` table: every evaluation's figures, kept so dashboards and
//! SQL can show history. One row per SLO, window and evaluation, plus a row with
//! `window = 'period'` for the error budget.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt64Builder};
use toolpulse_schemas::slo_status_schema::slo_status_schema;

use crate::duration_text::human;
use crate::evaluate::SloStatus;

/// Rows for a set of statuses; `firing(slo)` names the alerts firing for it.
pub fn to_batch(statuses: &[SloStatus], firing: impl Fn(&str) -> Option<String>) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let mut at = TimestampNanosecondBuilder::new().with_timezone("UTC");
    let (mut slo, mut kind, mut window) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let (mut objective, mut sli, mut burn, mut budget) = (Float64Builder::new(), Float64Builder::new(), Float64Builder::new(), Float64Builder::new());
    let (mut good, mut bad, mut events) = (UInt64Builder::new(), UInt64Builder::new(), UInt64Builder::new());
    let mut secs = Int64Builder::new();
    let mut fire = StringBuilder::new();
    for s in statuses {
        let f = firing(&s.slo);
        let mut row = |w: String, ws: i64, g: u64, b: u64, e: u64, v: Option<f64>, br: Option<f64>| {
            at.append_value(s.at_ms * 1_000_000);
            slo.append_value(&s.slo);
            kind.append_value(s.sli_kind);
            objective.append_value(s.objective);
            window.append_value(w);
            secs.append_value(ws);
            good.append_value(g);
            bad.append_value(b);
            events.append_value(e);
            sli.append_option(v);
            burn.append_option(br);
            budget.append_value(s.budget.remaining);
            fire.append_option(f.clone());
        };
        for w in &s.windows {
            row(human(w.window), w.window.as_secs() as i64, w.good, w.bad, w.events, w.sli, Some(w.burn_rate));
        }
        row("period".into(), 0, s.budget.good, s.budget.bad, s.budget.good + s.budget.bad, s.budget.sli, None);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(at.finish()),
        Arc::new(slo.finish()),
        Arc::new(kind.finish()),
        Arc::new(objective.finish()),
        Arc::new(window.finish()),
        Arc::new(secs.finish()),
        Arc::new(good.finish()),
        Arc::new(bad.finish()),
        Arc::new(events.finish()),
        Arc::new(sli.finish()),
        Arc::new(burn.finish()),
        Arc::new(budget.finish()),
        Arc::new(fire.finish()),
    ];
    RecordBatch::try_new(slo_status_schema(), columns)
}

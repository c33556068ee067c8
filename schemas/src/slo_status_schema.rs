//! The `slo_status` table's schema: every SLO evaluation's figures, one row per
//! SLO, window and evaluation, plus a row with `window = 'period'` for the
//! error budget. Written by the SLO engine, read by SQL and dashboards.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("evaluated_at", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("slo", DataType::Utf8, false),
        Field::new("sli_kind", DataType::Utf8, false),
        Field::new("objective", DataType::Float64, false),
        Field::new("window", DataType::Utf8, false),
        Field::new("window_seconds", DataType::Int64, false),
        Field::new("good", DataType::UInt64, false),
        Field::new("bad", DataType::UInt64, false),
        Field::new("events", DataType::UInt64, false),
        Field::new("sli", DataType::Float64, true),
        Field::new("burn_rate", DataType::Float64, true),
        Field::new("budget_remaining", DataType::Float64, false),
        Field::new("firing", DataType::Utf8, true),
    ]))
});

pub fn slo_status_schema() -> SchemaRef {
    SCHEMA.clone()
}

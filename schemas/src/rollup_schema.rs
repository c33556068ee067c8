//! The `rollups_1m` table: per minute and low-cardinality dimensions, the call
//! count, duration sum and maximum, and an HDR histogram of durations.
//!
//! Dimensions: `server`, `tool`, `outcome`, `agent_id`, `tenant`, `server_version`.
//! Error counts are rows whose `outcome` is a failure. Several rows may exist for
//! the same minute and dimensions (one per flush): readers sum `calls` and
//! `duration_ms_sum`, take `max(duration_ms_max)` and `hdr_merge(duration_hist)`.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Dimension columns, in order.
pub const DIMENSIONS: [&str; 6] = ["server", "tool", "outcome", "agent_id", "tenant", "server_version"];

static ROLLUPS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("minute", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("server", DataType::Utf8, false),
        Field::new("tool", DataType::Utf8, false),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("agent_id", DataType::Utf8, true),
        Field::new("tenant", DataType::Utf8, true),
        Field::new("server_version", DataType::Utf8, true),
        Field::new("calls", DataType::UInt64, false),
        Field::new("duration_ms_sum", DataType::Float64, false),
        Field::new("duration_ms_max", DataType::Float64, false),
        Field::new("duration_hist", DataType::Binary, false),
    ]))
});

pub fn rollups_1m_schema() -> SchemaRef {
    ROLLUPS.clone()
}

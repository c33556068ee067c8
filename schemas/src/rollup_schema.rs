//! The rollup tables, per minute and a few low-cardinality dimensions:
//!
//! - `rollups_1m` by (`server`, `tool`, `outcome`, `server_version`): the call
//!   count, duration sum and maximum, an HDR histogram of durations, and exact
//!   cumulative latency buckets;
//! - `rollups_agents_1m` by (`server`, `agent_id`, `tenant`, `outcome`): the call
//!   count, duration sum and maximum (who calls, and who is refused).
//!
//! - `latency_1m` by (`server`, `tool`): the call count, duration sum and
//!   maximum, the merged HDR histogram, and its p50, p90, p95, p99 and p999
//!   (`p99_ms`, …), derived from `rollups_1m` an hour at a time: the grain of
//!   "latency by tool per minute" dashboards, read without merging histograms.
//!
//! Agents are kept apart because agents × tools multiply: with them in one key a
//! rollup would barely be smaller than the raw table. Several rows may exist
//! for the same minute and dimensions (one per flush): readers sum `calls`,
//! `duration_ms_sum` and the buckets, take `max(duration_ms_max)` and
//! `hdr_merge(duration_hist)`.
//!
//! Exact latency buckets: `le_10ms` … `le_300s` count the calls that took at most
//! that long (cumulative, like a Prometheus histogram's `le` buckets; `calls` is
//! `+Inf`). The bounds are the OpenTelemetry MCP semantic conventions' advice
//! for `mcp.server.operation.duration`.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Dimension columns of `rollups_1m`, in order.
pub const DIMENSIONS: [&str; 4] = ["server", "tool", "outcome", "server_version"];

/// Dimension columns of `rollups_agents_1m`, in order.
pub const AGENT_DIMENSIONS: [&str; 4] = ["server", "agent_id", "tenant", "outcome"];

/// Upper bounds of the latency buckets, in seconds.
pub const LATENCY_BUCKETS_SECONDS: [f64; 14] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// The column holding the cumulative count of bucket `i` (`le_10ms`, `le_1s`, …).
pub fn bucket_column(i: usize) -> &'static str {
    BUCKET_COLUMNS[i]
}

const BUCKET_COLUMNS: [&str; 14] = [
    "le_10ms", "le_20ms", "le_50ms", "le_100ms", "le_200ms", "le_500ms", "le_1s", "le_2s", "le_5s", "le_10s", "le_30s", "le_60s",
    "le_120s", "le_300s",
];

/// The bucket whose bound is exactly `ms`, if any.
pub fn bucket_for_ms(ms: f64) -> Option<usize> {
    LATENCY_BUCKETS_SECONDS.iter().position(|b| (b * 1000.0 - ms).abs() < 1e-9)
}

fn minute() -> Field {
    Field::new("minute", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false)
}

fn totals() -> [Field; 3] {
    [
        Field::new("calls", DataType::UInt64, false),
        Field::new("duration_ms_sum", DataType::Float64, false),
        Field::new("duration_ms_max", DataType::Float64, false),
    ]
}

static ROLLUPS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        minute(),
        Field::new("server", DataType::Utf8, false),
        Field::new("tool", DataType::Utf8, false),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("server_version", DataType::Utf8, true),
    ];
    fields.extend(totals());
    fields.push(Field::new("duration_hist", DataType::Binary, false));
    fields.extend(BUCKET_COLUMNS.iter().map(|c| Field::new(*c, DataType::UInt64, false)));
    Arc::new(Schema::new(fields))
});

static AGENT_ROLLUPS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        minute(),
        Field::new("server", DataType::Utf8, false),
        Field::new("agent_id", DataType::Utf8, true),
        Field::new("tenant", DataType::Utf8, true),
        Field::new("outcome", DataType::Utf8, false),
    ];
    fields.extend(totals());
    Arc::new(Schema::new(fields))
});

/// The quantile columns of `latency_1m` and the quantile each holds, as
/// `hdr_percentile(duration_ms, q)` reads it from the histogram.
pub const LATENCY_QUANTILES: [(&str, f64); 5] = [("p50_ms", 0.5), ("p90_ms", 0.9), ("p95_ms", 0.95), ("p99_ms", 0.99), ("p999_ms", 0.999)];

static LATENCY: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![minute(), Field::new("server", DataType::Utf8, false), Field::new("tool", DataType::Utf8, false)];
    fields.extend(totals());
    fields.push(Field::new("duration_hist", DataType::Binary, false));
    fields.extend(LATENCY_QUANTILES.iter().map(|(c, _)| Field::new(*c, DataType::Float64, false)));
    Arc::new(Schema::new(fields))
});

pub fn rollups_1m_schema() -> SchemaRef {
    ROLLUPS.clone()
}

pub fn rollups_agents_1m_schema() -> SchemaRef {
    AGENT_ROLLUPS.clone()
}

pub fn latency_1m_schema() -> SchemaRef {
    LATENCY.clone()
}

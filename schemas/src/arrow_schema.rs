//! The Arrow schema of the `tool_calls` table, one column per contract field.
//!
//! Two storage choices differ from the JSON form and are undone by the query layer:
//! `event_id` is 16 bytes (a canonical UUID's bytes, or a 128-bit hash of any other
//! id, whose text is then kept in `event_id_text`), and W3C ids are fixed-size
//! binary. Random ids are most of an event's entropy; as bytes they take half the
//! room hex text does.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Column names of the `tool_calls` table.
pub mod col {
    pub const TIMESTAMP: &str = "timestamp";
    pub const SERVER: &str = "server";
    pub const TOOL: &str = "tool";
    pub const OUTCOME: &str = "outcome";
    pub const DURATION_MS: &str = "duration_ms";
    pub const EVENT_ID: &str = "event_id";
    pub const EVENT_ID_TEXT: &str = "event_id_text";
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const PARENT_SPAN_ID: &str = "parent_span_id";
    pub const ATTRIBUTES: &str = "attributes";
}

/// The timestamp type used everywhere: nanoseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The map type of `attributes` (Parquet's standard `key_value` layout).
pub fn attributes_type() -> DataType {
    let entries = Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
    ]);
    DataType::Map(Arc::new(Field::new("key_value", DataType::Struct(entries), false)), false)
}

static TOOL_CALLS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let opt_text = |name: &str| text(name, true);
    let opt_u64 = |name: &str| Field::new(name, DataType::UInt64, true);
    Arc::new(Schema::new(vec![
        Field::new(col::TIMESTAMP, timestamp_type(), false),
        text(col::SERVER, false),
        text(col::TOOL, false),
        text(col::OUTCOME, false),
        Field::new(col::DURATION_MS, DataType::Float64, false),
        Field::new(col::EVENT_ID, DataType::FixedSizeBinary(16), false),
        opt_text(col::EVENT_ID_TEXT),
        text("schema_version", false),
        opt_text("server_version"),
        opt_text("tool_schema_version"),
        text("mcp_method", false),
        opt_text("agent_id"),
        opt_text("agent_name"),
        opt_text("client_name"),
        opt_text("client_version"),
        opt_text("user_id"),
        opt_text("tenant"),
        opt_text("gateway"),
        opt_text("route"),
        opt_text("transport"),
        opt_text("protocol_version"),
        opt_text("error_type"),
        Field::new("jsonrpc_error_code", DataType::Int32, true),
        opt_text("error_message"),
        Field::new("http_status", DataType::UInt16, true),
        opt_text("policy_id"),
        Field::new(col::TRACE_ID, DataType::FixedSizeBinary(16), true),
        Field::new(col::SPAN_ID, DataType::FixedSizeBinary(8), true),
        Field::new(col::PARENT_SPAN_ID, DataType::FixedSizeBinary(8), true),
        Field::new("chain_depth", DataType::UInt16, true),
        opt_u64("request_bytes"),
        opt_u64("response_bytes"),
        opt_u64("input_tokens"),
        opt_u64("output_tokens"),
        Field::new(col::ATTRIBUTES, attributes_type(), true),
    ]))
});

/// The schema of `tool_calls` as stored in Parquet.
pub fn tool_calls_schema() -> SchemaRef {
    TOOL_CALLS.clone()
}

//! The `spans` table: every OTLP span received, with its trace context, name,
//! kind, timing, status, service and scope, and its span and resource
//! attributes (values as text). Built row by row with [`SpanBatchBuilder`].

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, FixedSizeBinaryBuilder, Float64Builder, MapBuilder, MapFieldNames, RecordBatch, StringBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;

use crate::arrow_schema::{attributes_type, timestamp_type};
use crate::ids::{SpanId, TraceId};

static SPANS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("parent_span_id", DataType::FixedSizeBinary(8), true),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("start_time", timestamp_type(), false),
        Field::new("end_time", timestamp_type(), false),
        Field::new("duration_ms", DataType::Float64, false),
        Field::new("status_code", DataType::Utf8, false),
        Field::new("status_message", DataType::Utf8, true),
        Field::new("service_name", DataType::Utf8, true),
        Field::new("scope_name", DataType::Utf8, true),
        Field::new("attributes", attributes_type(), true),
        Field::new("resource_attributes", attributes_type(), true),
    ]))
});

pub fn spans_schema() -> SchemaRef {
    SPANS.clone()
}

/// One span, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRow {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
    pub start_ns: i64,
    pub end_ns: i64,
    /// `unset`, `ok` or `error`.
    pub status_code: &'static str,
    pub status_message: Option<String>,
    pub service_name: Option<String>,
    pub scope_name: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub resource_attributes: Vec<(String, String)>,
}

/// Builds a `spans` batch.
pub struct SpanBatchBuilder {
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    parent: FixedSizeBinaryBuilder,
    name: StringBuilder,
    kind: StringBuilder,
    start: TimestampNanosecondBuilder,
    end: TimestampNanosecondBuilder,
    duration: Float64Builder,
    status: StringBuilder,
    message: StringBuilder,
    service: StringBuilder,
    scope: StringBuilder,
    attributes: MapBuilder<StringBuilder, StringBuilder>,
    resource: MapBuilder<StringBuilder, StringBuilder>,
    len: usize,
}

fn map_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    let names = MapFieldNames { entry: "key_value".into(), key: "key".into(), value: "value".into() };
    MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new())
}

fn append_map(b: &mut MapBuilder<StringBuilder, StringBuilder>, kv: &[(String, String)]) -> Result<(), ArrowError> {
    for (k, v) in kv {
        b.keys().append_value(k);
        b.values().append_value(v);
    }
    b.append(!kv.is_empty())
}

impl Default for SpanBatchBuilder {
    fn default() -> Self {
        Self {
            trace_id: FixedSizeBinaryBuilder::new(16),
            span_id: FixedSizeBinaryBuilder::new(8),
            parent: FixedSizeBinaryBuilder::new(8),
            name: StringBuilder::new(),
            kind: StringBuilder::new(),
            start: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            end: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            duration: Float64Builder::new(),
            status: StringBuilder::new(),
            message: StringBuilder::new(),
            service: StringBuilder::new(),
            scope: StringBuilder::new(),
            attributes: map_builder(),
            resource: map_builder(),
            len: 0,
        }
    }
}

impl SpanBatchBuilder {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn append(&mut self, s: &SpanRow) -> Result<(), ArrowError> {
        self.trace_id.append_value(s.trace_id)?;
        self.span_id.append_value(s.span_id)?;
        match &s.parent_span_id {
            Some(p) => self.parent.append_value(p)?,
            None => self.parent.append_null(),
        }
        self.name.append_value(&s.name);
        self.kind.append_value(s.kind);
        self.start.append_value(s.start_ns);
        self.end.append_value(s.end_ns);
        self.duration.append_value((s.end_ns - s.start_ns) as f64 / 1e6);
        self.status.append_value(s.status_code);
        self.message.append_option(s.status_message.as_deref());
        self.service.append_option(s.service_name.as_deref());
        self.scope.append_option(s.scope_name.as_deref());
        append_map(&mut self.attributes, &s.attributes)?;
        append_map(&mut self.resource, &s.resource_attributes)?;
        self.len += 1;
        Ok(())
    }

    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.end.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.message.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.scope.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.resource.finish()),
        ];
        self.len = 0;
        RecordBatch::try_new(spans_schema(), columns)
    }
}

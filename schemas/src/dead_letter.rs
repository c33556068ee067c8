//! The dead-letter record: a rejected input, why, where it came from, and its raw
//! bytes (bounded), stored in the `dead_letters` table.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BinaryBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::arrow_schema::timestamp_type;
use crate::error::DecodeError;

/// Raw bytes kept per dead letter; longer inputs keep their first bytes and their length.
pub const MAX_RAW_BYTES: usize = 64 * 1024;

/// Where a rejected input came from.
#[derive(Debug, Clone, PartialEq)]
pub enum DeadLetterSource {
    /// `line` numbers the event within a message holding several (from 1).
    Kafka { topic: String, partition: i32, offset: i64, line: Option<u64> },
    /// `line` counts from 1 within the request body (or the array index + 1).
    Http { request_id: String, line: u64 },
    Otlp { request_id: String, line: u64 },
}

impl DeadLetterSource {
    pub fn kind(&self) -> &'static str {
        match self {
            DeadLetterSource::Kafka { .. } => "kafka",
            DeadLetterSource::Http { .. } => "http",
            DeadLetterSource::Otlp { .. } => "otlp",
        }
    }
}

/// One rejected input.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub received_at_ns: i64,
    pub source: DeadLetterSource,
    /// The offending field, when the error concerns one.
    pub field: Option<String>,
    /// Machine-readable reason ([`crate::Reason::code`]).
    pub error_code: String,
    /// Human-readable reason.
    pub reason: String,
    /// The input's first [`MAX_RAW_BYTES`] bytes.
    pub raw: Vec<u8>,
    /// The input's full length.
    pub raw_len: u64,
}

impl DeadLetter {
    pub fn from_error(received_at_ns: i64, source: DeadLetterSource, err: &DecodeError, raw: &[u8]) -> Self {
        Self {
            received_at_ns,
            source,
            field: err.field().map(str::to_owned),
            error_code: err.reason.code().to_owned(),
            reason: err.reason.to_string(),
            raw: raw[..raw.len().min(MAX_RAW_BYTES)].to_vec(),
            raw_len: raw.len() as u64,
        }
    }
}

static DEAD_LETTERS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("received_at", timestamp_type(), false),
        Field::new("source", DataType::Utf8, false),
        Field::new("topic", DataType::Utf8, true),
        Field::new("partition", DataType::Int32, true),
        Field::new("offset", DataType::Int64, true),
        Field::new("request_id", DataType::Utf8, true),
        Field::new("line", DataType::UInt64, true),
        Field::new("field", DataType::Utf8, true),
        Field::new("error_code", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Binary, false),
        Field::new("raw_len", DataType::UInt64, false),
    ]))
});

/// The schema of the `dead_letters` table.
pub fn dead_letters_schema() -> SchemaRef {
    DEAD_LETTERS.clone()
}

/// Accumulates dead letters column by column.
#[derive(Default)]
pub struct DeadLetterBatchBuilder {
    received_at: TimestampNanosecondBuilder,
    source: StringBuilder,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    request_id: StringBuilder,
    line: UInt64Builder,
    field: StringBuilder,
    error_code: StringBuilder,
    reason: StringBuilder,
    raw: BinaryBuilder,
    raw_len: UInt64Builder,
    len: usize,
}

impl DeadLetterBatchBuilder {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn append(&mut self, d: &DeadLetter) {
        self.received_at.append_value(d.received_at_ns);
        self.source.append_value(d.source.kind());
        let (topic, partition, offset, request_id, line) = match &d.source {
            DeadLetterSource::Kafka { topic, partition, offset, line } => {
                (Some(topic.as_str()), Some(*partition), Some(*offset), None, *line)
            }
            DeadLetterSource::Http { request_id, line } | DeadLetterSource::Otlp { request_id, line } => {
                (None, None, None, Some(request_id.as_str()), Some(*line))
            }
        };
        self.topic.append_option(topic);
        self.partition.append_option(partition);
        self.offset.append_option(offset);
        self.request_id.append_option(request_id);
        self.line.append_option(line);
        self.field.append_option(d.field.as_deref());
        self.error_code.append_value(&d.error_code);
        self.reason.append_value(&d.reason);
        self.raw.append_value(&d.raw);
        self.raw_len.append_value(d.raw_len);
        self.len += 1;
    }

    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.received_at.finish().with_timezone("UTC")),
            Arc::new(self.source.finish()),
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.field.finish()),
            Arc::new(self.error_code.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(self.raw_len.finish()),
        ];
        self.len = 0;
        RecordBatch::try_new(dead_letters_schema(), columns).expect("builder columns follow dead_letters_schema")
    }
}

//! The tool-call audit event contract, schema v1.
//!
//! One crate owns the contract so that every stage agrees on it: the Rust type
//! ([`AuditEvent`]), its Arrow schema ([`arrow_schema::tool_calls_schema`]), the JSON
//! Schema file (`audit-event.v1.json`), JSON decoding with an error per bad field
//! ([`decode`]), and the dead-letter record kept for every rejected input.

pub mod arrow_schema;
pub mod batch;
pub mod dead_letter;
pub mod decode;
pub mod encode;
pub mod error;
pub mod event;
pub mod hdr;
pub mod ids;
pub mod limits;
pub mod rollup_schema;
pub mod slo_status_schema;
pub mod span_schema;
pub mod timestamp;

pub use batch::{EventBatchBuilder, events_from_batch};
pub use dead_letter::{DeadLetter, DeadLetterBatchBuilder, DeadLetterSource};
pub use decode::decode_event;
pub use error::{DecodeError, Reason};
pub use event::{AuditEvent, Outcome, Transport};
pub use ids::{EventId, SpanId, TraceId};
pub use limits::DecodeLimits;

/// The JSON Schema of the audit event, as shipped in `schemas/audit-event.v1.json`.
pub const AUDIT_EVENT_JSON_SCHEMA: &str = include_str!("../audit-event.v1.json");

/// The contract version this crate implements.
pub const SCHEMA_VERSION: &str = "1";

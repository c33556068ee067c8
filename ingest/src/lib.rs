//! Ingest: tool-call events arrive from Kafka and over HTTP, are decoded and
//! validated (bad ones become dead letters with their reason), buffered, and
//! flushed durably to the Parquet store. A source learns when its events are
//! durable: HTTP answers only then, Kafka commits offsets only then.

pub mod body;
pub mod compression;
mod decode_pool;
pub mod dedup;
pub mod error;
pub mod http;
pub mod import;
pub mod kafka;
pub mod latency_summary;
pub mod metrics;
pub mod otlp;
pub mod rollup;
pub mod writer;

pub use error::IngestError;
pub use metrics::IngestMetrics;
pub use writer::{IngestWriter, WriterConfig, WriterHandle};

//! Errors of the ingest pipeline.

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the writer is shutting down")]
    WriterClosed,
    #[error("the writer is behind: {buffered_bytes} bytes are waiting to be flushed")]
    Busy { buffered_bytes: u64 },
    #[error("events were not made durable: {0}")]
    FlushFailed(String),
    #[error("store: {0}")]
    Store(#[from] toolpulse_storage::StoreError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Config(String),
    #[error("the source stopped: {0}")]
    SourceHalted(String),
}

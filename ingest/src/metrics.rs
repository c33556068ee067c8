//! The ingester's own counters, exposed in Prometheus text format on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    pub source: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// librdkafka's error code, e.g. `UnknownTopicOrPartition`, `BadCompression`.
    pub code: String,
}

/// Counters shared by every source and the writer.
#[derive(Clone)]
pub struct IngestMetrics {
    pub accepted: Family<SourceLabels, Counter>,
    pub rejected: Family<RejectLabels, Counter>,
    pub duplicates: Family<SourceLabels, Counter>,
    pub flush_seconds: Histogram,
    pub flushes: Family<ResultLabels, Counter>,
    pub files_written: Family<TableLabels, Counter>,
    pub bytes_written: Family<TableLabels, Counter>,
    pub rows_written: Family<TableLabels, Counter>,
    pub buffered_bytes: Gauge,
    pub busy_refusals: Family<SourceLabels, Counter>,
    pub consumer_lag: Family<PartitionLabels, Gauge>,
    pub commits: Family<ResultLabels, Counter>,
    pub consumer_errors: Family<ErrorLabels, Counter>,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        Self {
            accepted: Family::default(),
            rejected: Family::default(),
            duplicates: Family::default(),
            flush_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            flushes: Family::default(),
            files_written: Family::default(),
            bytes_written: Family::default(),
            rows_written: Family::default(),
            buffered_bytes: Gauge::default(),
            busy_refusals: Family::default(),
            consumer_lag: Family::default(),
            commits: Family::default(),
            consumer_errors: Family::default(),
        }
    }
}

impl IngestMetrics {
    /// Registers every metric under the `toolpulse_ingest` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("toolpulse_ingest");
        r.register("events_accepted", "Events accepted, per source", self.accepted.clone());
        r.register("events_rejected", "Events rejected to the dead letter table, per source and reason", self.rejected.clone());
        r.register("events_duplicate", "Events dropped because their event_id was already stored", self.duplicates.clone());
        r.register("flush_duration_seconds", "Time to make one flush durable", self.flush_seconds.clone());
        r.register("flushes", "Flushes, by result", self.flushes.clone());
        r.register("files_written", "Parquet files written, per table", self.files_written.clone());
        r.register("bytes_written", "Parquet bytes written, per table", self.bytes_written.clone());
        r.register("rows_written", "Rows written, per table", self.rows_written.clone());
        r.register("buffered_bytes", "Bytes decoded and waiting to be durable", self.buffered_bytes.clone());
        r.register("busy_refusals", "Requests refused because the writer was behind", self.busy_refusals.clone());
        r.register("kafka_consumer_lag", "Messages between the committed offset and the high watermark", self.consumer_lag.clone());
        r.register("kafka_commits", "Kafka offset commits, by result", self.commits.clone());
        r.register(
            "kafka_consumer_errors",
            "Errors the Kafka consumer reported (a subscribed topic missing, a record batch it cannot decode, a broker \
             it cannot reach), by librdkafka error code",
            self.consumer_errors.clone(),
        );
    }

    pub fn accept(&self, source: &str, n: u64) {
        self.accepted.get_or_create(&SourceLabels { source: source.to_owned() }).inc_by(n);
    }

    pub fn reject(&self, source: &str, reason: &str) {
        self.rejected.get_or_create(&RejectLabels { source: source.to_owned(), reason: reason.to_owned() }).inc();
    }
}

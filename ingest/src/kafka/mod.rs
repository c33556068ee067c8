//! The Kafka source: a consumer-group member on its own thread. Messages are
//! taken from librdkafka a batch at a time (`fetch_queue`), gathered into
//! chunks and decoded on all cores when handed over; a chunk's
//! offsets are committed only after the writer reports its rows (and dead
//! letters) durable. While the writer is behind the loop waits for it instead
//! of polling; partitions are flushed and committed before they are revoked.

mod chunk;
mod consumer;
mod fetch_queue;
mod offsets;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::ClientConfig;
use toolpulse_schemas::DecodeLimits;

use crate::error::IngestError;
use crate::metrics::IngestMetrics;
use crate::writer::WriterHandle;

/// Settings of the Kafka source.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    pub topics: Vec<String>,
    pub group_id: String,
    pub client_id: String,
    /// Hand a chunk to the writer after this many messages...
    pub chunk_messages: usize,
    /// ...or after this long.
    pub chunk_age: Duration,
    /// Extra librdkafka properties (e.g. security settings); they win over ours.
    pub properties: BTreeMap<String, String>,
    pub limits: DecodeLimits,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topics: vec!["mcp-tool-calls".into()],
            group_id: "toolpulse".into(),
            client_id: "toolpulse".into(),
            chunk_messages: 20_000,
            chunk_age: Duration::from_millis(100),
            properties: BTreeMap::new(),
            limits: DecodeLimits::default(),
        }
    }
}

impl KafkaConfig {
    /// The librdkafka settings of the consumer: ours, then [`Self::properties`].
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            .set("client.id", &self.client_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("queued.max.messages.kbytes", "32768")
            .set("fetch.wait.max.ms", "100")
            // When the app stops polling (backpressure) librdkafka's queue fills and
            // the fetcher backs off; check again soon rather than after 1 s.
            .set("fetch.queue.backoff.ms", "100")
            .set("statistics.interval.ms", "5000");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

/// A running Kafka source.
pub struct KafkaSource {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), IngestError>>>,
}

impl KafkaSource {
    /// Joins the group and starts consuming on a dedicated thread. `runtime` is
    /// used to wait on the writer from that thread.
    pub fn start(
        cfg: KafkaConfig,
        writer: WriterHandle,
        metrics: IngestMetrics,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, IngestError> {
        if cfg.topics.is_empty() {
            return Err(IngestError::Config("kafka: no topics configured".into()));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let consumer = consumer::Consumer::new(&cfg, writer, metrics, runtime, stop.clone())?;
        let thread = std::thread::Builder::new()
            .name("kafka-source".into())
            .spawn(move || consumer.run())
            .map_err(|e| IngestError::Config(format!("cannot start the kafka thread: {e}")))?;
        Ok(Self { stop, thread: Some(thread) })
    }

    /// Stops consuming: hands over the last chunk, waits for it to be durable,
    /// commits, and leaves the group.
    pub fn stop(mut self) -> Result<(), IngestError> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(IngestError::Config("the kafka thread panicked".into())),
            None => Ok(()),
        }
    }

    /// Whether the consumer thread has ended (it only does on a fatal error or stop).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::consumer::BaseConsumer;

    use super::KafkaConfig;

    /// Brokers in production speak TLS and SASL, and producers compress record
    /// batches with any codec: librdkafka must be built with all of them.
    #[test]
    fn the_client_supports_every_codec_and_tls_with_sasl() {
        let properties = [
            // librdkafka refuses this setting when a listed feature is not built in.
            ("builtin.features", "gzip,snappy,lz4,zstd,ssl,sasl_plain,sasl_scram,sasl_oauthbearer"),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "toolpulse"),
            ("sasl.password", "secret"),
        ];
        let cfg = KafkaConfig {
            properties: properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..KafkaConfig::default()
        };
        let created = cfg.client_config().create::<BaseConsumer>();
        assert!(created.is_ok(), "{:?}", created.err());
    }
}

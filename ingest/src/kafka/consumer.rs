//! The consumer loop and its rebalance callbacks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientContext, TopicPartitionList};
use toolpulse_schemas::DecodeLimits;

use super::KafkaConfig;
use super::chunk::Chunk;
use super::offsets::{InFlight, NextOffsets, to_tpl};
use crate::error::IngestError;
use crate::metrics::{IngestMetrics, PartitionLabels, ResultLabels};
use crate::writer::{Submission, WriterHandle};

/// State shared by the loop and the rebalance callbacks (which run inside `poll`
/// on the same thread, so the lock is never contended).
struct LoopState {
    chunk: Chunk,
    /// A chunk the writer refused because it was busy; retried before anything else.
    refused: Option<(Submission, NextOffsets)>,
    in_flight: InFlight,
    committed: NextOffsets,
    paused: bool,
}

struct Shared {
    state: Mutex<LoopState>,
    writer: WriterHandle,
    runtime: tokio::runtime::Handle,
    metrics: IngestMetrics,
    limits: DecodeLimits,
    reseed: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, LoopState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes everything consumed so far durable and commits it synchronously:
    /// before partitions are revoked, and at shutdown.
    fn drain_and_commit(&self, consumer: &BaseConsumer<Context>) {
        let mut st = self.lock();
        let mut pending: Vec<_> = st.refused.take().into_iter().collect();
        pending.extend(st.chunk.take(&self.limits, &self.metrics));
        for (sub, offsets) in pending {
            match self.runtime.block_on(self.writer.submit(sub)) {
                Ok(d) => st.in_flight.push(offsets, d),
                Err(e) => tracing::error!(error = %e, "could not hand over the last chunk"),
            }
        }
        if let Err(e) = self.runtime.block_on(self.writer.flush()) {
            tracing::error!(error = %e, "flush before rebalance/shutdown failed; offsets stay uncommitted");
        }
        let durable = st.in_flight.take_durable();
        commit(consumer, &mut st, durable, CommitMode::Sync, &self.metrics);
        st.in_flight.clear();
    }
}

fn commit(consumer: &BaseConsumer<Context>, st: &mut LoopState, durable: NextOffsets, mode: CommitMode, metrics: &IngestMetrics) {
    if durable.is_empty() {
        return;
    }
    match consumer.commit(&to_tpl(&durable), mode) {
        Ok(()) => st.committed.extend(durable),
        Err(e) => {
            metrics.commits.get_or_create(&ResultLabels { result: "error".into() }).inc();
            tracing::warn!(error = %e, "offset commit failed; it is retried with the next one");
        }
    }
}

pub(super) struct Context {
    shared: Arc<Shared>,
}

impl ClientContext for Context {
    /// librdkafka's statistics (every `statistics.interval.ms`) carry the lag per partition.
    fn stats(&self, statistics: rdkafka::Statistics) {
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                if partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                let labels = PartitionLabels { topic: topic.clone(), partition: partition.to_string() };
                self.shared.metrics.consumer_lag.get_or_create(&labels).set(p.consumer_lag);
            }
        }
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            tracing::info!(partitions = tpl.count(), "partitions revoked: flushing and committing first");
            self.shared.drain_and_commit(consumer);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            tracing::info!(partitions = tpl.count(), "partitions assigned");
            self.shared.reseed.store(true, Ordering::SeqCst);
            self.shared.lock().paused = false;
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        let label = if result.is_ok() { "ok" } else { "error" };
        self.shared.metrics.commits.get_or_create(&ResultLabels { result: label.into() }).inc();
    }
}

pub(super) struct Consumer {
    consumer: BaseConsumer<Context>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    topics: Vec<String>,
    chunk_messages: usize,
    chunk_age: Duration,
}

impl Consumer {
    pub(super) fn new(
        cfg: &KafkaConfig,
        writer: WriterHandle,
        metrics: IngestMetrics,
        runtime: tokio::runtime::Handle,
        stop: Arc<AtomicBool>,
    ) -> Result<Self, IngestError> {
        let state = LoopState { chunk: Chunk::new(), refused: None, in_flight: InFlight::default(), committed: NextOffsets::new(), paused: false };
        let limits = cfg.limits.clone();
        let shared = Arc::new(Shared { state: Mutex::new(state), writer, runtime, metrics, limits, reseed: AtomicBool::new(false) });
        let consumer: BaseConsumer<Context> = cfg.client_config().create_with_context(Context { shared: shared.clone() })?;
        Ok(Self {
            consumer,
            shared,
            stop,
            topics: cfg.topics.clone(),
            chunk_messages: cfg.chunk_messages,
            chunk_age: cfg.chunk_age,
        })
    }

    pub(super) fn run(self) -> Result<(), IngestError> {
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        self.consumer.subscribe(&topics)?;
        tracing::info!(topics = ?self.topics, "kafka source subscribed");
        while !self.stop.load(Ordering::SeqCst) {
            if self.shared.reseed.swap(false, Ordering::SeqCst) {
                let _ = self.shared.runtime.block_on(self.shared.writer.reseed());
            }
            self.commit_and_hand_over();
            let paused = self.shared.lock().paused;
            let timeout = Duration::from_millis(if paused { 20 } else { 50 });
            match self.consumer.poll(timeout) {
                Some(Ok(msg)) => self.consume(&msg),
                Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(e)) => tracing::warn!(error = %e, "kafka consumer error"),
            }
        }
        self.shared.drain_and_commit(&self.consumer);
        self.consumer.unsubscribe();
        tracing::info!("kafka source stopped");
        Ok(())
    }

    /// Commits what became durable; hands the chunk to the writer when it is full
    /// or old; pauses consumption while the writer refuses, resumes when it accepts.
    fn commit_and_hand_over(&self) {
        let shared = &self.shared;
        let mut st = shared.lock();
        let durable = st.in_flight.take_durable();
        commit(&self.consumer, &mut st, durable, CommitMode::Async, &shared.metrics);
        if st.refused.is_none() {
            let due = st.chunk.len() >= self.chunk_messages || st.chunk.started().is_some_and(|s| s.elapsed() >= self.chunk_age);
            if !due {
                return;
            }
            st.refused = st.chunk.take(&shared.limits, &shared.metrics);
        }
        let Some((sub, offsets)) = st.refused.take() else { return };
        match shared.writer.try_submit(sub) {
            Ok(d) => {
                st.in_flight.push(offsets, d);
                if st.paused {
                    self.set_paused(&mut st, false);
                }
            }
            Err(refused) => match refused.submission {
                Some(sub) => {
                    st.refused = Some((sub, offsets));
                    if !st.paused {
                        self.set_paused(&mut st, true);
                    }
                }
                None => tracing::error!(error = %refused.error, "the writer is gone; stopping"),
            },
        }
    }

    fn set_paused(&self, st: &mut LoopState, paused: bool) {
        let Ok(assignment) = self.consumer.assignment() else { return };
        let r = if paused { self.consumer.pause(&assignment) } else { self.consumer.resume(&assignment) };
        match r {
            Ok(()) => {
                st.paused = paused;
                tracing::debug!(paused, "kafka consumption {}", if paused { "paused: writer behind" } else { "resumed" });
            }
            Err(e) => tracing::warn!(error = %e, "pause/resume failed"),
        }
    }

    fn consume(&self, msg: &BorrowedMessage<'_>) {
        let payload = msg.payload().unwrap_or_default();
        self.shared.lock().chunk.push(msg.topic(), msg.partition(), msg.offset(), payload);
    }
}

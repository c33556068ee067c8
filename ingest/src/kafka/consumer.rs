//! The consumer loop and its rebalance callbacks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};
use toolpulse_schemas::DecodeLimits;

use super::KafkaConfig;
use super::chunk::{Chunk, DecodeLost, Decoding, Ready};
use super::fetch_queue::{Batch, FetchQueue, Fetched};
use super::offsets::{InFlight, NextOffsets, to_tpl};
use crate::error::IngestError;
use crate::metrics::{ErrorLabels, IngestMetrics, PartitionLabels, ResultLabels};
use crate::writer::WriterHandle;

/// Chunks handed over but not yet accepted by the writer. While this many wait,
/// the loop stops taking new ones and waits for decoding or for the writer.
const MAX_PENDING: usize = 3;

/// How long the loop waits for the writer at a time before polling again (to
/// serve rebalances; at most one message comes in per such wait).
const WAIT_FOR_WRITER: Duration = Duration::from_millis(250);

/// The loop looks at its chunk and the writer after this many messages, or
/// after [`CHECK_INTERVAL`], whichever comes first (a trickle of messages must
/// still be handed over within the chunk age).
const CHECK_EVERY: usize = 256;
const CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// Messages taken from the fetch queue at a time.
const BATCH: usize = 256;

/// A chunk on its way from the poll loop to the writer, kept in consumption order.
enum Pending {
    Decoding(Decoding),
    /// Decoded; not accepted yet when the writer was busy.
    Ready(Ready),
}

/// Why the loop stops on its own.
enum Halt {
    /// A chunk was lost while decoding: nothing after it may be committed.
    DecodeLost,
    /// The writer is gone: nothing more can be made durable.
    WriterGone(IngestError),
}

impl From<DecodeLost> for Halt {
    fn from(_: DecodeLost) -> Self {
        Halt::DecodeLost
    }
}

impl Pending {
    /// The decoded chunk, waiting for its decoding if need be.
    fn wait(self) -> Result<Ready, DecodeLost> {
        match self {
            Pending::Ready(r) => Ok(r),
            Pending::Decoding(d) => d.wait(),
        }
    }
}

/// State shared by the loop and the rebalance callbacks (which run inside `poll`
/// on the same thread, so the lock is never contended).
struct LoopState {
    chunk: Chunk,
    pending: VecDeque<Pending>,
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
    /// Where assigned partitions' messages go (the consumer queue keeps the events).
    fetched: FetchQueue,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, LoopState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes everything consumed so far durable and commits it synchronously:
    /// before partitions are revoked, and at shutdown.
    fn drain_and_commit(&self, consumer: &BaseConsumer<Context>) {
        let mut st = self.lock();
        let last = st.chunk.take().map(|c| Pending::Ready(c.decode(&self.limits, &self.metrics)));
        let pending: Vec<Pending> = st.pending.drain(..).chain(last).collect();
        for p in pending {
            let Ok((sub, offsets)) = p.wait() else {
                tracing::error!("a chunk was lost while decoding; nothing after it is committed");
                break;
            };
            match self.runtime.block_on(self.writer.submit(sub)) {
                Ok(d) => st.in_flight.push(offsets, d),
                Err(e) => {
                    tracing::error!(error = %e, "could not hand over the last chunks; nothing after it is committed");
                    break;
                }
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
        match rebalance {
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions revoked: flushing and committing first");
                self.shared.drain_and_commit(consumer);
            }
            // Before librdkafka starts fetching them, which keeps this forwarding.
            Rebalance::Assign(tpl) => self.shared.fetched.route(consumer.client().native_ptr(), tpl),
            Rebalance::Error(_) => {}
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
        let state = LoopState {
            chunk: Chunk::new(),
            pending: VecDeque::new(),
            in_flight: InFlight::default(),
            committed: NextOffsets::new(),
            paused: false,
        };
        let limits = cfg.limits.clone();
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            writer,
            runtime,
            metrics,
            limits,
            reseed: AtomicBool::new(false),
            fetched: FetchQueue::closed(),
        });
        let consumer: BaseConsumer<Context> = cfg.client_config().create_with_context(Context { shared: shared.clone() })?;
        shared.fetched.open(consumer.client().native_ptr());
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
        // Messages since the loop last looked at its chunk and the writer, and when.
        let (mut unchecked, mut checked_at) = (0, Instant::now());
        // Polls wait less while paused, to resume soon. Set at each look: a
        // rebalance resuming meanwhile costs at most one shorter wait.
        let mut poll_timeout = Duration::from_millis(50);
        let mut halted = None;
        let mut batch = Batch::with_capacity(BATCH);
        while !self.stop.load(Ordering::SeqCst) {
            if unchecked == 0 || unchecked >= CHECK_EVERY || checked_at.elapsed() >= CHECK_INTERVAL {
                checked_at = Instant::now();
                if self.shared.reseed.swap(false, Ordering::SeqCst) {
                    let _ = self.shared.runtime.block_on(self.shared.writer.reseed());
                }
                match self.commit_and_hand_over() {
                    // While backlogged, look again after every message.
                    Ok(backlogged) => unchecked = if backlogged { CHECK_EVERY } else { 0 },
                    Err(halt) => {
                        // What is not handed over yet must not be committed: it
                        // is consumed again after a restart.
                        let mut st = self.shared.lock();
                        st.pending.clear();
                        st.chunk = Chunk::new();
                        halted = Some(halt);
                        break;
                    }
                }
                poll_timeout = Duration::from_millis(if self.shared.lock().paused { 20 } else { 50 });
            }
            // Rebalances, commit results, statistics and errors.
            self.serve_events();
            // Then what is waiting in the fetch queue; only when nothing is, wait
            // for a message (librdkafka would wait for a whole batch).
            let max = if unchecked >= CHECK_EVERY { 1 } else { BATCH };
            let mut taken = self.take(max, Duration::ZERO, &mut batch);
            if taken == 0 {
                taken = self.take(1, poll_timeout, &mut batch);
            }
            unchecked = if taken == 0 { 0 } else { unchecked + taken };
        }
        self.shared.drain_and_commit(&self.consumer);
        self.consumer.unsubscribe();
        match halted {
            None => {
                tracing::info!("kafka source stopped");
                Ok(())
            }
            Some(halt) => {
                let error = match halt {
                    Halt::DecodeLost => IngestError::SourceHalted("a chunk was lost while decoding".into()),
                    Halt::WriterGone(e) => IngestError::SourceHalted(format!("the writer is gone ({e})")),
                };
                tracing::error!(%error, "kafka source stopped without committing past what is durable");
                Err(error)
            }
        }
    }

    /// Commits what became durable; starts decoding the chunk when it is full or
    /// old; hands decoded chunks to the writer in order. Returns whether the
    /// writer is behind (the pending chunks are at their bound and it refused
    /// the oldest after waiting for it).
    ///
    /// Backpressure is by not polling: librdkafka stops fetching once its own
    /// queue (`queued.max.messages.kbytes`) is full. Partitions are paused only
    /// when the chunk has also grown to twice its size during a long stall,
    /// because pausing throws away what librdkafka prefetched, and resuming
    /// re-fetches from the middle of a record batch.
    fn commit_and_hand_over(&self) -> Result<bool, Halt> {
        let shared = &self.shared;
        let mut st = shared.lock();
        let durable = st.in_flight.take_durable();
        commit(&self.consumer, &mut st, durable, CommitMode::Async, &shared.metrics);
        let due = st.chunk.len() >= self.chunk_messages || st.chunk.started().is_some_and(|s| s.elapsed() >= self.chunk_age);
        if due
            && st.pending.len() < MAX_PENDING
            && let Some(chunk) = st.chunk.take()
        {
            let decoding = chunk.decode_in_background(shared.limits.clone(), shared.metrics.clone());
            st.pending.push_back(Pending::Decoding(decoding));
        }
        let mut backlogged = false;
        while let Some(front) = st.pending.pop_front() {
            let at_bound = st.pending.len() + 1 >= MAX_PENDING;
            let (sub, offsets) = match front {
                // Decoding is bounded CPU work: wait for it when nothing else may be taken.
                front if at_bound => front.wait()?,
                Pending::Ready(r) => r,
                Pending::Decoding(d) => match d.try_ready()? {
                    Some(r) => r,
                    None => {
                        st.pending.push_front(Pending::Decoding(d));
                        break;
                    }
                },
            };
            let submitted = if at_bound {
                shared.runtime.block_on(shared.writer.submit_within(sub, WAIT_FOR_WRITER))
            } else {
                shared.writer.try_submit(sub)
            };
            match submitted {
                Ok(d) => {
                    st.in_flight.push(offsets, d);
                    if st.paused {
                        self.set_paused(&mut st, false);
                    }
                }
                Err(refused) => {
                    let Some(sub) = refused.submission else { return Err(Halt::WriterGone(refused.error)) };
                    st.pending.push_front(Pending::Ready((*sub, offsets)));
                    backlogged = at_bound;
                    if at_bound && !st.paused && st.chunk.len() >= 2 * self.chunk_messages {
                        self.set_paused(&mut st, true);
                    }
                    break;
                }
            }
        }
        Ok(backlogged)
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

    /// Serves what waits on the consumer queue, without waiting.
    fn serve_events(&self) {
        loop {
            match self.consumer.poll(Duration::ZERO) {
                None => break,
                // Only a partition assigned by other means than a rebalance
                // (none here) would send its messages to the consumer queue.
                Some(Ok(msg)) => {
                    let payload = msg.payload().unwrap_or_default();
                    self.shared.lock().chunk.push(msg.topic(), msg.partition(), msg.offset(), payload);
                }
                Some(Err(e)) => self.consumer_error(e.rdkafka_error_code(), &e),
            }
        }
    }

    /// Takes up to `max` messages from the fetch queue into the chunk.
    fn take(&self, max: usize, timeout: Duration, batch: &mut Batch) -> usize {
        let mut st = None;
        self.shared.fetched.take(max, timeout, batch, |fetched| match fetched {
            Ok(Fetched { topic, partition, offset, payload }) => {
                st.get_or_insert_with(|| self.shared.lock()).chunk.push(topic, partition, offset, payload);
            }
            Err(code) => self.consumer_error(Some(code), &code),
        })
    }

    fn consumer_error(&self, code: Option<RDKafkaErrorCode>, error: &dyn std::fmt::Display) {
        if code == Some(RDKafkaErrorCode::PartitionEOF) {
            return;
        }
        let code = code.map_or_else(|| "Other".to_owned(), |c| format!("{c:?}"));
        self.shared.metrics.consumer_errors.get_or_create(&ErrorLabels { code }).inc();
        tracing::warn!(%error, "kafka consumer error");
    }
}

impl Drop for Consumer {
    /// The fetch queue goes before the client it belongs to.
    fn drop(&mut self) {
        self.shared.fetched.close();
    }
}

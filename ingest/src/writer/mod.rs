//! The ingest writer: one task that buffers decoded events and dead letters,
//! drops event ids it already stored, and flushes them durably to the store on
//! size or age. Every submission gets a [`Durable`] ticket that resolves once its
//! rows are in fsynced files; sources acknowledge (HTTP answer, Kafka commit) only
//! then. Buffered memory is bounded: a submission first reserves its bytes.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use toolpulse_schemas::DeadLetter;
use toolpulse_storage::FileWriter;

use crate::error::IngestError;
use crate::metrics::{IngestMetrics, SourceLabels};

mod task;
use task::Task;

/// When to flush, and how much may wait.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Flush buffered events at least this often (an event is queryable within about this).
    pub flush_age: Duration,
    /// A submission whose caller waits for durability (an HTTP or OTLP request)
    /// is flushed within this once `ack_group_rows` rows wait with it, together
    /// with whatever else arrived meanwhile (group commit): under load the next
    /// flush starts as soon as the previous one ends.
    pub ack_delay: Duration,
    /// Rows (events and spans) that make a waiting flush worth a file at once.
    pub ack_group_rows: usize,
    /// A trickle of small waiting requests is flushed at least this often, so it
    /// costs a few files per second rather than one per request.
    pub ack_max_delay: Duration,
    /// Flush when this many events are buffered.
    pub flush_rows: usize,
    /// Flush when this many bytes are buffered.
    pub flush_bytes: usize,
    /// Most bytes decoded but not yet durable (buffer plus the flush in progress).
    /// A flush holds about three times its rows at its peak (the buffer, the
    /// sorted copy, the encoder's pages), so this sets most of the process's
    /// memory under load: at 256 MiB a Kafka backlog of 12M events peaked at
    /// 1.10 GB RSS, at 128 MiB at 0.93 GB, at the same throughput.
    pub max_buffered_bytes: usize,
    /// How many recent event ids are remembered for deduplication.
    pub dedup_capacity: usize,
    /// At start, the ids of files written this recently are loaded into the window.
    pub dedup_seed_window: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            flush_age: Duration::from_secs(2),
            ack_delay: Duration::from_millis(10),
            ack_group_rows: 2048,
            ack_max_delay: Duration::from_millis(500),
            flush_rows: 250_000,
            flush_bytes: 64 << 20,
            max_buffered_bytes: 128 << 20,
            dedup_capacity: 2_000_000,
            dedup_seed_window: Duration::from_secs(600),
        }
    }
}

/// What a source hands to the writer.
#[derive(Debug, Default)]
pub struct Submission {
    /// "kafka", "http", "otlp", "import": labels the metrics.
    pub source: &'static str,
    pub events: Vec<RecordBatch>,
    /// OTLP spans (the `spans` table).
    pub spans: Vec<RecordBatch>,
    pub dead: Vec<DeadLetter>,
    /// Its caller waits for durability before answering: flush within `ack_delay`.
    pub waiting: bool,
}

impl Submission {
    fn memory_bytes(&self) -> usize {
        self.events.iter().chain(&self.spans).map(RecordBatch::get_array_memory_size).sum::<usize>()
            + self.dead.iter().map(|d| d.raw.len() + d.reason.len() + 128).sum::<usize>()
    }
}

type AckSender = oneshot::Sender<Result<(), String>>;

enum Command {
    Submit { sub: Submission, permit: OwnedSemaphorePermit, ack: AckSender },
    Flush { ack: AckSender },
    Reseed { done: oneshot::Sender<()> },
}

/// Resolves when the rows of one submission are durable.
pub struct Durable(oneshot::Receiver<Result<(), String>>);

impl Durable {
    pub async fn wait(self) -> Result<(), IngestError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(IngestError::FlushFailed(e)),
            Err(_) => Err(IngestError::WriterClosed),
        }
    }

    /// Non-blocking check: `None` while the flush is still pending.
    pub fn poll_done(&mut self) -> Option<Result<(), IngestError>> {
        match self.0.try_recv() {
            Ok(Ok(())) => Some(Ok(())),
            Ok(Err(e)) => Some(Err(IngestError::FlushFailed(e))),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(IngestError::WriterClosed)),
        }
    }
}

/// A submission the writer did not take.
pub struct Refused {
    pub error: IngestError,
    /// Given back when the writer was only busy, so the caller can retry it.
    pub submission: Option<Box<Submission>>,
}

/// A cheap, cloneable way to submit to the writer.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::UnboundedSender<Command>,
    budget: Arc<Semaphore>,
    budget_kib: u32,
    metrics: IngestMetrics,
}

impl WriterHandle {
    fn kib(&self, sub: &Submission) -> u32 {
        ((sub.memory_bytes() / 1024) as u32 + 1).min(self.budget_kib)
    }

    /// Submits, waiting for buffer room (the Kafka source's backpressure).
    pub async fn submit(&self, sub: Submission) -> Result<Durable, IngestError> {
        let permit = self.budget.clone().acquire_many_owned(self.kib(&sub)).await.map_err(|_| IngestError::WriterClosed)?;
        self.send(sub, permit)
    }

    /// Submits if there is buffer room now. When there is not, the submission comes
    /// back with [`IngestError::Busy`] (HTTP answers 503 with Retry-After).
    pub fn try_submit(&self, sub: Submission) -> Result<Durable, Refused> {
        match self.budget.clone().try_acquire_many_owned(self.kib(&sub)) {
            Ok(permit) => self.send(sub, permit).map_err(|error| Refused { error, submission: None }),
            Err(tokio::sync::TryAcquireError::Closed) => Err(Refused { error: IngestError::WriterClosed, submission: None }),
            Err(tokio::sync::TryAcquireError::NoPermits) => Err(self.busy(sub)),
        }
    }

    /// Submits, waiting up to `wait` for buffer room; after that the submission
    /// comes back with [`IngestError::Busy`] like [`Self::try_submit`].
    pub async fn submit_within(&self, sub: Submission, wait: std::time::Duration) -> Result<Durable, Refused> {
        let kib = self.kib(&sub);
        match tokio::time::timeout(wait, self.budget.clone().acquire_many_owned(kib)).await {
            Ok(Ok(permit)) => self.send(sub, permit).map_err(|error| Refused { error, submission: None }),
            Ok(Err(_closed)) => Err(Refused { error: IngestError::WriterClosed, submission: None }),
            Err(_elapsed) => Err(self.busy(sub)),
        }
    }

    fn busy(&self, sub: Submission) -> Refused {
        self.metrics.busy_refusals.get_or_create(&SourceLabels { source: sub.source.to_owned() }).inc();
        let error = IngestError::Busy { buffered_bytes: self.buffered_bytes() };
        Refused { error, submission: Some(Box::new(sub)) }
    }

    fn send(&self, sub: Submission, permit: OwnedSemaphorePermit) -> Result<Durable, IngestError> {
        let (ack, rx) = oneshot::channel();
        self.tx.send(Command::Submit { sub, permit, ack }).map_err(|_| IngestError::WriterClosed)?;
        Ok(Durable(rx))
    }

    /// Flushes everything submitted so far and waits until it is durable.
    pub async fn flush(&self) -> Result<(), IngestError> {
        let (ack, rx) = oneshot::channel();
        self.tx.send(Command::Flush { ack }).map_err(|_| IngestError::WriterClosed)?;
        Durable(rx).wait().await
    }

    /// Reloads recently stored event ids into the dedup window (after a Kafka
    /// partition moved here from another ingester).
    pub async fn reseed(&self) -> Result<(), IngestError> {
        let (done, rx) = oneshot::channel();
        self.tx.send(Command::Reseed { done }).map_err(|_| IngestError::WriterClosed)?;
        rx.await.map_err(|_| IngestError::WriterClosed)
    }

    /// Bytes reserved by submissions that are not durable yet.
    pub fn buffered_bytes(&self) -> u64 {
        (self.budget_kib as u64).saturating_sub(self.budget.available_permits() as u64) * 1024
    }

    /// Whether the buffer is more than `fraction` full (for readiness).
    pub fn is_saturated(&self, fraction: f64) -> bool {
        self.buffered_bytes() as f64 > self.budget_kib as f64 * 1024.0 * fraction
    }
}

/// Builds and runs the writer task.
pub struct IngestWriter;

impl IngestWriter {
    /// Starts the writer. It first loads recent event ids into its dedup window;
    /// submissions made meanwhile wait in its queue. The task ends, after a final
    /// flush, when every [`WriterHandle`] is dropped.
    pub fn spawn(files: Arc<FileWriter>, cfg: WriterConfig, metrics: IngestMetrics) -> (WriterHandle, JoinHandle<()>) {
        let budget_kib = (cfg.max_buffered_bytes / 1024).max(1024) as u32;
        let budget = Arc::new(Semaphore::new(budget_kib as usize));
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = WriterHandle { tx, budget, budget_kib, metrics: metrics.clone() };
        let join = tokio::spawn(Task::new(files, cfg, metrics).run(rx));
        (handle, join)
    }
}

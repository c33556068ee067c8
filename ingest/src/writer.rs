//! The ingest writer: one task that buffers decoded events and dead letters,
//! drops event ids it already stored, and flushes them durably to the store on
//! size or age. Every submission gets a [`Durable`] ticket that resolves once its
//! rows are in fsynced files; sources acknowledge (HTTP answer, Kafka commit) only
//! then. Buffered memory is bounded: a submission first reserves its bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use toolpulse_schemas::{DeadLetter, DeadLetterBatchBuilder};
use toolpulse_storage::layout::HourPartition;
use toolpulse_storage::recovery::recent_event_keys;
use toolpulse_storage::sort::sort_for_write;
use toolpulse_storage::{FileWriter, StoreError, Table, WrittenFile};

use crate::dedup::RecentIds;
use crate::error::IngestError;
use crate::metrics::{IngestMetrics, ResultLabels, SourceLabels, TableLabels};

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
            max_buffered_bytes: 256 << 20,
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
    pub submission: Option<Submission>,
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
        Refused { error, submission: Some(sub) }
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
        let task = Task { files, dedup: RecentIds::new(cfg.dedup_capacity), cfg, metrics, buffer: Buffer::default(), failed: None };
        let join = tokio::spawn(task.run(rx));
        (handle, join)
    }
}

#[derive(Default)]
struct Buffer {
    events: Vec<RecordBatch>,
    spans: Vec<RecordBatch>,
    dead: Vec<DeadLetter>,
    rows: usize,
    span_rows: usize,
    bytes: usize,
    permits: Vec<OwnedSemaphorePermit>,
    acks: Vec<AckSender>,
    since: Option<Instant>,
    /// When the oldest submission whose caller waits arrived.
    waiting_since: Option<Instant>,
    /// Partitions already written by an earlier, partly failed attempt.
    done: Vec<(Table, HourPartition)>,
}

impl Buffer {
    fn is_empty(&self) -> bool {
        self.acks.is_empty() && self.events.is_empty() && self.spans.is_empty() && self.dead.is_empty()
    }
}

struct FlushOutcome {
    result: Result<Vec<WrittenFile>, StoreError>,
    elapsed: Duration,
    buffer: Buffer,
}

struct Task {
    files: Arc<FileWriter>,
    cfg: WriterConfig,
    metrics: IngestMetrics,
    dedup: RecentIds,
    buffer: Buffer,
    /// A buffer whose flush failed; it is retried, alone, before anything newer.
    failed: Option<Buffer>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        self.seed().await;
        let mut in_flight: Option<JoinHandle<FlushOutcome>> = None;
        let mut retry_at: Option<Instant> = None;
        let mut backoff = Duration::from_millis(250);
        let mut force = false;
        let mut open = true;
        let mut failures_while_closing = 0;
        loop {
            let now = Instant::now();
            let due = force || !open || self.due(now);
            if in_flight.is_none() && retry_at.is_none_or(|t| t <= now) {
                if let Some(failed) = self.failed.take() {
                    in_flight = Some(self.start_flush(failed));
                } else if due && !self.buffer.is_empty() {
                    let buffer = std::mem::take(&mut self.buffer);
                    in_flight = Some(self.start_flush(buffer));
                    force = false;
                }
            }
            if !open && in_flight.is_none() && self.buffer.is_empty() && self.failed.is_none() {
                return;
            }
            let wake = self.next_deadline(retry_at);
            tokio::select! {
                cmd = rx.recv(), if open => match cmd {
                    Some(Command::Submit { sub, permit, ack }) => self.accept(sub, permit, ack),
                    Some(Command::Flush { ack }) => {
                        self.buffer.acks.push(ack);
                        self.buffer.since.get_or_insert(Instant::now());
                        force = true;
                    }
                    Some(Command::Reseed { done }) => {
                        self.seed().await;
                        let _ = done.send(());
                    }
                    None => open = false,
                },
                outcome = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                    in_flight = None;
                    match outcome {
                        Ok(o) => match self.finish_flush(o) {
                            Ok(()) => { retry_at = None; backoff = Duration::from_millis(250); }
                            Err(()) if !open && failures_while_closing >= 3 => {
                                tracing::error!("giving up on unflushed events at shutdown; their sources were not acknowledged");
                                return;
                            }
                            Err(()) => {
                                failures_while_closing += usize::from(!open);
                                retry_at = Some(Instant::now() + backoff);
                                backoff = (backoff * 2).min(Duration::from_secs(30));
                            }
                        },
                        Err(join) => tracing::error!(error = %join, "flush task panicked; its events stay unacknowledged"),
                    }
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    fn due(&self, now: Instant) -> bool {
        let b = &self.buffer;
        b.rows >= self.cfg.flush_rows
            || b.bytes >= self.cfg.flush_bytes
            || b.since.is_some_and(|s| now.duration_since(s) >= self.cfg.flush_age)
            || self.waiting_deadline().is_some_and(|t| now >= t)
    }

    /// When the waiting requests of the buffer are due: soon once there are
    /// enough rows to share the flush, at the latest after `ack_max_delay`.
    fn waiting_deadline(&self) -> Option<Instant> {
        let since = self.buffer.waiting_since?;
        let grouped = self.buffer.rows + self.buffer.span_rows >= self.cfg.ack_group_rows;
        Some(since + if grouped { self.cfg.ack_delay } else { self.cfg.ack_max_delay.max(self.cfg.ack_delay) })
    }

    fn next_deadline(&self, retry_at: Option<Instant>) -> Instant {
        let age = self.buffer.since.map(|s| s + self.cfg.flush_age);
        let waiting = self.waiting_deadline();
        let flush_at = [age, waiting].into_iter().flatten().min();
        let far = Instant::now() + Duration::from_secs(3600);
        [flush_at, retry_at].into_iter().flatten().max().unwrap_or(far).min(far)
    }

    async fn seed(&mut self) {
        let dir = self.files.data_dir().clone();
        let (window, cap) = (self.cfg.dedup_seed_window, self.cfg.dedup_capacity);
        match tokio::task::spawn_blocking(move || recent_event_keys(&dir, window, cap)).await {
            Ok(Ok(keys)) => {
                // Oldest first, so the newest survive eviction.
                for k in keys.iter().rev() {
                    self.dedup.insert(k);
                }
                tracing::info!(ids = keys.len(), "dedup window seeded from recent files");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "could not seed the dedup window"),
            Err(e) => tracing::warn!(error = %e, "dedup seeding task failed"),
        }
    }

    fn accept(&mut self, sub: Submission, permit: OwnedSemaphorePermit, ack: AckSender) {
        let mut duplicates = 0;
        for batch in sub.events {
            let kept = self.drop_known_ids(&batch);
            duplicates += batch.num_rows() - kept.num_rows();
            if kept.num_rows() > 0 {
                self.buffer.rows += kept.num_rows();
                self.buffer.bytes += kept.get_array_memory_size();
                self.buffer.events.push(kept);
            }
        }
        if duplicates > 0 {
            self.metrics.duplicates.get_or_create(&SourceLabels { source: sub.source.to_owned() }).inc_by(duplicates as u64);
        }
        for batch in sub.spans {
            let kept = self.drop_known_spans(&batch);
            if kept.num_rows() > 0 {
                self.buffer.bytes += kept.get_array_memory_size();
                self.buffer.span_rows += kept.num_rows();
                self.buffer.spans.push(kept);
            }
        }
        self.buffer.bytes += sub.dead.iter().map(|d| d.raw.len()).sum::<usize>();
        self.buffer.dead.extend(sub.dead);
        self.buffer.permits.push(permit);
        self.buffer.acks.push(ack);
        self.buffer.since.get_or_insert(Instant::now());
        if sub.waiting {
            self.buffer.waiting_since.get_or_insert(Instant::now());
        }
        self.metrics.buffered_bytes.set(self.buffer.bytes as i64);
    }

    /// Keeps the rows whose event id, and whose call key (from their trace and
    /// span ids, when they have them), were not stored recently.
    fn drop_known_ids(&mut self, batch: &RecordBatch) -> RecordBatch {
        let Some(ids) = batch.column_by_name("event_id") else { return batch.clone() };
        let ids = ids.as_fixed_size_binary();
        let calls = call_keys(batch);
        let keep: BooleanArray = (0..ids.len())
            .map(|i| {
                let new_id = <&[u8; 16]>::try_from(ids.value(i)).map(|k| self.dedup.insert(k)).unwrap_or(true);
                let new_call = calls[i].as_ref().is_none_or(|k| self.dedup.insert(k));
                Some(new_id && new_call)
            })
            .collect();
        if keep.true_count() == keep.len() {
            return batch.clone();
        }
        filter_record_batch(batch, &keep).unwrap_or_else(|_| batch.clone())
    }

    /// Keeps the spans not stored recently (an exporter's retry sends them again).
    fn drop_known_spans(&mut self, batch: &RecordBatch) -> RecordBatch {
        let keys = span_keys(batch);
        let keep: BooleanArray = keys.iter().map(|k| Some(k.as_ref().is_none_or(|k| self.dedup.insert(k)))).collect();
        if keep.true_count() == keep.len() {
            return batch.clone();
        }
        filter_record_batch(batch, &keep).unwrap_or_else(|_| batch.clone())
    }

    fn start_flush(&mut self, mut buffer: Buffer) -> JoinHandle<FlushOutcome> {
        let files = self.files.clone();
        let span = tracing::info_span!("ingest.flush", rows = buffer.rows, spans = buffer.spans.len(), dead = buffer.dead.len());
        tokio::task::spawn_blocking(move || {
            let _enter = span.enter();
            let start = Instant::now();
            let result = write_buffer(&files, &mut buffer);
            FlushOutcome { result, elapsed: start.elapsed(), buffer }
        })
    }

    /// Acknowledges a finished flush, or puts its rows back for a retry.
    fn finish_flush(&mut self, o: FlushOutcome) -> Result<(), ()> {
        self.metrics.flush_seconds.observe(o.elapsed.as_secs_f64());
        match o.result {
            Ok(files) => {
                self.metrics.flushes.get_or_create(&ResultLabels { result: "ok".into() }).inc();
                for f in &files {
                    let l = TableLabels { table: f.table.name().to_owned() };
                    self.metrics.files_written.get_or_create(&l).inc();
                    self.metrics.bytes_written.get_or_create(&l).inc_by(f.bytes);
                    self.metrics.rows_written.get_or_create(&l).inc_by(f.rows as u64);
                }
                let buffer = o.buffer;
                for ack in buffer.acks {
                    let _ = ack.send(Ok(()));
                }
                drop(buffer.permits);
                self.metrics.buffered_bytes.set(self.buffer.bytes as i64);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, rows = o.buffer.rows, "flush failed; retrying with backoff");
                self.metrics.flushes.get_or_create(&ResultLabels { result: "error".into() }).inc();
                self.failed = Some(o.buffer);
                Err(())
            }
        }
    }
}

/// Writes one buffer: events, their per-minute rollups, then dead letters, one
/// file per table and hour.
/// All must succeed before any submission of the buffer is acknowledged; a retry
/// skips the partitions an earlier attempt already wrote.
fn write_buffer(files: &FileWriter, buffer: &mut Buffer) -> Result<Vec<WrittenFile>, StoreError> {
    let mut written = Vec::new();
    write_table(files, Table::ToolCalls, &buffer.events, &mut buffer.done, &mut written)?;
    if let Some(r) = crate::rollup::rollup(&buffer.events)? {
        write_table(files, Table::Rollups1m, &[r], &mut buffer.done, &mut written)?;
    }
    if let Some(r) = crate::rollup::rollup_agents(&buffer.events)? {
        write_table(files, Table::RollupsAgents1m, &[r], &mut buffer.done, &mut written)?;
    }
    write_table(files, Table::Spans, &buffer.spans, &mut buffer.done, &mut written)?;
    if !buffer.dead.is_empty() {
        let mut b = DeadLetterBatchBuilder::default();
        for d in &buffer.dead {
            b.append(d);
        }
        write_table(files, Table::DeadLetters, &[b.finish()], &mut buffer.done, &mut written)?;
    }
    Ok(written)
}

/// Per row, the call key of rows that carry a trace id and a span id.
fn call_keys(batch: &RecordBatch) -> Vec<Option<[u8; 16]>> {
    trace_context_keys(batch, toolpulse_schemas::ids::call_key)
}

/// Per span row, its deduplication key.
fn span_keys(batch: &RecordBatch) -> Vec<Option<[u8; 16]>> {
    trace_context_keys(batch, toolpulse_schemas::ids::span_key)
}

fn trace_context_keys(batch: &RecordBatch, key: fn(&[u8; 16], &[u8; 8]) -> [u8; 16]) -> Vec<Option<[u8; 16]>> {
    let (Some(t), Some(s)) = (batch.column_by_name("trace_id"), batch.column_by_name("span_id")) else {
        return vec![None; batch.num_rows()];
    };
    let (t, s) = (t.as_fixed_size_binary(), s.as_fixed_size_binary());
    (0..batch.num_rows())
        .map(|i| {
            if t.is_null(i) || s.is_null(i) {
                return None;
            }
            Some(key(t.value(i).try_into().ok()?, s.value(i).try_into().ok()?))
        })
        .collect()
}

fn write_table(
    files: &FileWriter,
    table: Table,
    batches: &[RecordBatch],
    done: &mut Vec<(Table, HourPartition)>,
    written: &mut Vec<WrittenFile>,
) -> Result<(), StoreError> {
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok(());
    }
    let (sorted, slices) = sort_for_write(table, batches)?;
    for slice in slices {
        if done.contains(&(table, slice.partition)) {
            continue;
        }
        let rows = sorted.slice(slice.rows.start, slice.rows.len());
        written.push(files.write_file(table, slice.partition, &rows, &[])?);
        done.push((table, slice.partition));
    }
    Ok(())
}

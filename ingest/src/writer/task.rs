//! The writer task: buffers submissions, drops event ids already stored,
//! flushes on size or age (retrying a failed flush before anything newer), and
//! resolves each submission's [`Durable`](super::Durable) once its rows are in
//! fsynced files.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::task::JoinHandle;
use toolpulse_schemas::{DeadLetter, DeadLetterBatchBuilder};
use toolpulse_storage::layout::HourPartition;
use toolpulse_storage::recovery::recent_event_keys;
use toolpulse_storage::sort::{PartitionSlice, sort_for_write};
use toolpulse_storage::{FileWriter, StoreError, Table, WrittenFile};

use super::{AckSender, Command, Submission, WriterConfig};
use crate::dedup::{NO_KEY, RecentIds, fold};
use crate::metrics::{IngestMetrics, ResultLabels, SourceLabels, TableLabels};

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

pub(super) struct Task {
    files: Arc<FileWriter>,
    cfg: WriterConfig,
    metrics: IngestMetrics,
    dedup: RecentIds,
    buffer: Buffer,
    /// A buffer whose flush failed; it is retried, alone, before anything newer.
    failed: Option<Buffer>,
}

impl Task {
    pub(super) fn new(files: Arc<FileWriter>, cfg: WriterConfig, metrics: IngestMetrics) -> Self {
        Task { files, dedup: RecentIds::new(cfg.dedup_capacity), cfg, metrics, buffer: Buffer::default(), failed: None }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
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
                let folded: Vec<u64> = keys.iter().rev().map(fold).collect();
                self.dedup.insert_all(&folded);
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
        let keys: Vec<u64> = (0..ids.len())
            .flat_map(|i| [<&[u8; 16]>::try_from(ids.value(i)).map_or(NO_KEY, fold), calls[i]])
            .collect();
        let fresh = self.dedup.insert_all(&keys);
        let keep: BooleanArray = fresh.chunks_exact(2).map(|id_and_call| Some(id_and_call[0] && id_and_call[1])).collect();
        keep_rows(batch, &keep)
    }

    /// Keeps the spans not stored recently (an exporter's retry sends them again).
    fn drop_known_spans(&mut self, batch: &RecordBatch) -> RecordBatch {
        let fresh = self.dedup.insert_all(&span_keys(batch));
        let keep: BooleanArray = fresh.into_iter().map(Some).collect();
        keep_rows(batch, &keep)
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
    let Buffer { events, spans, dead, done, .. } = buffer;
    let sorted = sort_rows(Table::ToolCalls, events)?;
    let rows = sorted.as_ref().map_or(&[][..], |(rows, _)| std::slice::from_ref(rows));
    // The rollups are computed from the sorted rows (whose runs of one server
    // and tool fall into few groups) on a thread of their own while the events
    // are encoded and written.
    let (events_written, rollups) = std::thread::scope(|scope| {
        let rollups = scope.spawn(|| Ok::<_, StoreError>((crate::rollup::rollup(rows)?, crate::rollup::rollup_agents(rows)?)));
        let events_written = match &sorted {
            Some((rows, slices)) => write_sorted(files, Table::ToolCalls, rows, slices, done, &mut written),
            None => Ok(()),
        };
        (events_written, rollups.join())
    });
    events_written?;
    let (minutes, agents) = rollups.map_err(|_| StoreError::Invalid("the rollup thread panicked".into()))??;
    if let Some(r) = minutes {
        write_table(files, Table::Rollups1m, &[r], done, &mut written)?;
    }
    if let Some(r) = agents {
        write_table(files, Table::RollupsAgents1m, &[r], done, &mut written)?;
    }
    write_table(files, Table::Spans, spans, done, &mut written)?;
    if !dead.is_empty() {
        let mut b = DeadLetterBatchBuilder::default();
        for d in dead.iter() {
            b.append(d);
        }
        write_table(files, Table::DeadLetters, &[b.finish()], done, &mut written)?;
    }
    Ok(written)
}

/// The rows of `batch` where `keep` is true.
fn keep_rows(batch: &RecordBatch, keep: &BooleanArray) -> RecordBatch {
    if keep.true_count() == keep.len() {
        return batch.clone();
    }
    filter_record_batch(batch, keep).unwrap_or_else(|_| batch.clone())
}

/// Per row, the folded call key of rows that carry a trace id and a span id,
/// else [`NO_KEY`].
fn call_keys(batch: &RecordBatch) -> Vec<u64> {
    trace_context_keys(batch, toolpulse_schemas::ids::call_key)
}

/// Per span row, its folded deduplication key.
fn span_keys(batch: &RecordBatch) -> Vec<u64> {
    trace_context_keys(batch, toolpulse_schemas::ids::span_key)
}

fn trace_context_keys(batch: &RecordBatch, key: fn(&[u8; 16], &[u8; 8]) -> [u8; 16]) -> Vec<u64> {
    let (Some(t), Some(s)) = (batch.column_by_name("trace_id"), batch.column_by_name("span_id")) else {
        return vec![NO_KEY; batch.num_rows()];
    };
    let (t, s) = (t.as_fixed_size_binary(), s.as_fixed_size_binary());
    (0..batch.num_rows())
        .map(|i| {
            if t.is_null(i) || s.is_null(i) {
                return NO_KEY;
            }
            match (t.value(i).try_into(), s.value(i).try_into()) {
                (Ok(trace), Ok(span)) => fold(&key(trace, span)),
                _ => NO_KEY,
            }
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
    match sort_rows(table, batches)? {
        Some((sorted, slices)) => write_sorted(files, table, &sorted, &slices, done, written),
        None => Ok(()),
    }
}

/// The rows of `batches` sorted for `table`, with each hour's range; `None`
/// when there are none.
fn sort_rows(table: Table, batches: &[RecordBatch]) -> Result<Option<(RecordBatch, Vec<PartitionSlice>)>, StoreError> {
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok(None);
    }
    sort_for_write(table, batches).map(Some)
}

/// Writes each hour of `sorted` rows to a file of its own, but for the hours an
/// earlier attempt wrote.
fn write_sorted(
    files: &FileWriter,
    table: Table,
    sorted: &RecordBatch,
    slices: &[PartitionSlice],
    done: &mut Vec<(Table, HourPartition)>,
    written: &mut Vec<WrittenFile>,
) -> Result<(), StoreError> {
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

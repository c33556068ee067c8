//! A chunk of consumed messages on its way to the writer. The poll loop only
//! copies payloads in; a full chunk is decoded in the background on the decode
//! pool (in parallel within the chunk) while the consumer thread keeps polling
//! the next one, and comes back through a [`Decoding`] handle.

use std::ops::Range;
use std::sync::mpsc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use toolpulse_schemas::timestamp::now_ns;
use toolpulse_schemas::{DeadLetter, DeadLetterSource, DecodeError, DecodeLimits, EventBatchBuilder, Reason, decode_event};

use super::offsets::{NextOffsets, record};
use crate::body::{DecodeContext, decode_body, holds_several_events};
use crate::metrics::IngestMetrics;
use crate::writer::Submission;

/// Where one message came from, and where its payload lies in the chunk.
struct Origin {
    topic: usize,
    partition: i32,
    offset: i64,
    payload: Range<usize>,
}

/// Messages consumed since the last hand-over, not yet decoded.
pub(super) struct Chunk {
    payloads: Vec<u8>,
    messages: Vec<Origin>,
    /// Topic names, indexed by [`Origin::topic`].
    topics: Vec<String>,
    offsets: NextOffsets,
    started: Option<Instant>,
}

/// Messages decoded per task: enough to amortise handing work to the pool.
const MESSAGES_PER_TASK: usize = 2048;

impl Chunk {
    pub(super) fn new() -> Self {
        Self { payloads: Vec::new(), messages: Vec::new(), topics: Vec::new(), offsets: NextOffsets::new(), started: None }
    }

    pub(super) fn len(&self) -> usize {
        self.messages.len()
    }

    /// When the first message of the chunk arrived.
    pub(super) fn started(&self) -> Option<Instant> {
        self.started
    }

    pub(super) fn push(&mut self, topic: &str, partition: i32, offset: i64, payload: &[u8]) {
        let topic_index = match self.topics.iter().position(|t| t == topic) {
            Some(i) => i,
            None => {
                self.topics.push(topic.to_owned());
                self.topics.len() - 1
            }
        };
        let start = self.payloads.len();
        self.payloads.extend_from_slice(payload);
        self.messages.push(Origin { topic: topic_index, partition, offset, payload: start..self.payloads.len() });
        record(&mut self.offsets, topic, partition, offset + 1);
        self.started.get_or_insert_with(Instant::now);
    }

    /// The messages gathered so far, leaving this chunk empty (with room for as
    /// many again, and an eighth more payload bytes); `None` when there are none.
    pub(super) fn take(&mut self) -> Option<Chunk> {
        if self.messages.is_empty() {
            return None;
        }
        // Chunks end at a message count, so the next one's payloads come to
        // about as many bytes, often a few more: without the headroom half the
        // chunks outgrew their buffer and copied it whole into one twice as
        // big (1.6% of a Kafka ingester's CPU time, `perf`).
        let empty = Self {
            payloads: Vec::with_capacity(self.payloads.len() + self.payloads.len() / 8),
            messages: Vec::with_capacity(self.messages.len()),
            topics: self.topics.clone(),
            offsets: NextOffsets::new(),
            started: None,
        };
        Some(std::mem::replace(self, empty))
    }

    /// Decodes the chunk into a submission (counting accepted and rejected events
    /// in `metrics`) and the offsets it covers.
    pub(super) fn decode(self, limits: &DecodeLimits, metrics: &IngestMetrics) -> Ready {
        let now = now_ns();
        let parts: Vec<Decoded> = self.messages.par_chunks(MESSAGES_PER_TASK).map(|m| self.decode_part(m, limits, now)).collect();
        let mut sub = Submission { source: "kafka", ..Submission::default() };
        for part in parts {
            metrics.accept("kafka", part.accepted);
            for dead in part.dead {
                metrics.reject("kafka", &dead.error_code);
                sub.dead.push(dead);
            }
            sub.events.extend(part.events);
        }
        (sub, self.offsets)
    }

    /// Decodes the chunk on the decode pool; the result comes back through the handle.
    pub(super) fn decode_in_background(self, limits: DecodeLimits, metrics: IngestMetrics) -> Decoding {
        let (tx, rx) = mpsc::sync_channel(1);
        crate::decode_pool::spawn(move || {
            // A panic drops the sender, which the consumer sees as [`DecodeLost`]
            // (uncaught, it would abort the process from the pool).
            let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.decode(&limits, &metrics)));
            if let Ok(ready) = decoded {
                // The receiver is gone only when the consumer stopped waiting for it.
                let _ = tx.send(ready);
            }
        });
        Decoding(rx)
    }

    fn decode_part(&self, messages: &[Origin], limits: &DecodeLimits, now: i64) -> Decoded {
        let mut builder = EventBatchBuilder::with_capacity(messages.len());
        let mut out = Decoded::default();
        for m in messages {
            let payload = &self.payloads[m.payload.clone()];
            match decode_event(payload, limits, now) {
                Ok(e) => builder.append(&e),
                Err(err) if is_not_one_event(&err) && holds_several_events(payload) => {
                    self.decode_several(m, payload, limits, now, &mut out);
                }
                Err(err) => {
                    let source = self.source(m, None);
                    out.dead.push(DeadLetter::from_error(now, source, &err, payload));
                }
            }
        }
        out.accepted += builder.len() as u64;
        if !builder.is_empty() {
            out.events.push(builder.finish());
        }
        out
    }

    /// A message holding several events (a JSON array, or NDJSON), decoded as an
    /// HTTP body is; its dead letters name the message and the event's line.
    fn decode_several(&self, m: &Origin, payload: &[u8], limits: &DecodeLimits, now: i64, out: &mut Decoded) {
        let ctx = DecodeContext { limits: limits.clone(), now_ns: now, request_id: String::new() };
        let several = decode_body(payload, &ctx);
        out.accepted += several.accepted as u64;
        out.events.extend(several.events);
        for mut dead in several.dead {
            if let DeadLetterSource::Http { line, .. } = dead.source {
                dead.source = self.source(m, Some(line));
            }
            out.dead.push(dead);
        }
    }

    fn source(&self, m: &Origin, line: Option<u64>) -> DeadLetterSource {
        DeadLetterSource::Kafka { topic: self.topics[m.topic].clone(), partition: m.partition, offset: m.offset, line }
    }
}

/// A decoded chunk: what goes to the writer, and the offsets it covers.
pub(super) type Ready = (Submission, NextOffsets);

/// A chunk being decoded in the background.
pub(super) struct Decoding(mpsc::Receiver<Ready>);

/// The decoding task ended without a result (it panicked): the chunk is lost
/// to this process, so nothing after it may be committed.
#[derive(Debug)]
pub(super) struct DecodeLost;

impl Decoding {
    /// The result if decoding has finished.
    pub(super) fn try_ready(&self) -> Result<Option<Ready>, DecodeLost> {
        match self.0.try_recv() {
            Ok(r) => Ok(Some(r)),
            Err(mpsc::TryRecvError::Empty) => Ok(None),
            Err(mpsc::TryRecvError::Disconnected) => Err(DecodeLost),
        }
    }

    /// Waits for the result.
    pub(super) fn wait(self) -> Result<Ready, DecodeLost> {
        self.0.recv().map_err(|_| DecodeLost)
    }
}

/// One task's share of a chunk.
#[derive(Default)]
struct Decoded {
    events: Vec<RecordBatch>,
    dead: Vec<DeadLetter>,
    accepted: u64,
}

/// Whether a message failed to decode as it would if it held several events
/// rather than one (see [`holds_several_events`]).
fn is_not_one_event(err: &DecodeError) -> bool {
    matches!(err.reason, Reason::InvalidJson { .. } | Reason::NotAnObject | Reason::EventTooLarge { .. })
}

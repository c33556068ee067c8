//! A chunk of consumed messages on its way to the writer. The poll loop only
//! copies payloads in; the chunk is decoded when it is handed over, in parallel
//! on rayon's pool, so that decoding uses every core while the single consumer
//! thread keeps polling cheap.

use std::ops::Range;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use toolpulse_schemas::timestamp::now_ns;
use toolpulse_schemas::{DeadLetter, DeadLetterSource, DecodeLimits, EventBatchBuilder, decode_event};

use super::offsets::{NextOffsets, record};
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

    /// Decodes the chunk into a submission (counting accepted and rejected events
    /// in `metrics`) and the offsets it covers; `None` when it is empty.
    pub(super) fn take(&mut self, limits: &DecodeLimits, metrics: &IngestMetrics) -> Option<(Submission, NextOffsets)> {
        if self.messages.is_empty() {
            return None;
        }
        let now = now_ns();
        let parts: Vec<Decoded> = self.messages.par_chunks(MESSAGES_PER_TASK).map(|m| self.decode(m, limits, now)).collect();
        let mut sub = Submission { source: "kafka", ..Submission::default() };
        for part in parts {
            metrics.accept("kafka", part.accepted);
            for (code, dead) in part.dead {
                metrics.reject("kafka", code);
                sub.dead.push(dead);
            }
            sub.events.extend(part.events);
        }
        let offsets = std::mem::take(&mut self.offsets);
        self.payloads.clear();
        self.messages.clear();
        self.started = None;
        Some((sub, offsets))
    }

    fn decode(&self, messages: &[Origin], limits: &DecodeLimits, now: i64) -> Decoded {
        let mut builder = EventBatchBuilder::with_capacity(messages.len());
        let mut dead = Vec::new();
        for m in messages {
            let payload = &self.payloads[m.payload.clone()];
            match decode_event(payload, limits, now) {
                Ok(e) => builder.append(&e),
                Err(err) => {
                    let source = DeadLetterSource::Kafka { topic: self.topics[m.topic].clone(), partition: m.partition, offset: m.offset };
                    dead.push((err.reason.code(), DeadLetter::from_error(now, source, &err, payload)));
                }
            }
        }
        let accepted = builder.len() as u64;
        let events = if builder.is_empty() { None } else { Some(builder.finish()) };
        Decoded { events, dead, accepted }
    }
}

/// One task's share of a chunk.
struct Decoded {
    events: Option<RecordBatch>,
    dead: Vec<(&'static str, DeadLetter)>,
    accepted: u64,
}

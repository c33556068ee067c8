//! Offset bookkeeping: which offsets each handed-over chunk covers, and which of
//! them are durable and may be committed, in order.

use std::collections::{BTreeMap, VecDeque};

use rdkafka::{Offset, TopicPartitionList};

use crate::writer::Durable;

/// `(topic, partition)`.
pub type Tp = (String, i32);

/// The next offset to read, per partition (what Kafka expects as a commit).
pub type NextOffsets = BTreeMap<Tp, i64>;

/// Chunks handed to the writer and not yet durable, oldest first.
#[derive(Default)]
pub struct InFlight {
    chunks: VecDeque<(NextOffsets, Durable)>,
}

impl InFlight {
    pub fn push(&mut self, offsets: NextOffsets, durable: Durable) {
        self.chunks.push_back((offsets, durable));
    }

    /// Offsets of the leading chunks that are durable now. Stops at the first
    /// pending or failed chunk: nothing after a gap is ever committed.
    pub fn take_durable(&mut self) -> NextOffsets {
        let mut out = NextOffsets::new();
        while let Some((_, durable)) = self.chunks.front_mut() {
            match durable.poll_done() {
                Some(Ok(())) => {
                    let (offsets, _) = self.chunks.pop_front().expect("front exists");
                    out.extend(offsets);
                }
                Some(Err(e)) => {
                    // The writer retries failed flushes itself; a closed writer means
                    // these rows will be re-read from Kafka after a restart.
                    tracing::warn!(error = %e, "chunk not durable; its offsets stay uncommitted");
                    break;
                }
                None => break,
            }
        }
        out
    }

    /// Forgets every chunk (after a revoke: the new owner re-reads from the last commit).
    pub fn clear(&mut self) {
        self.chunks.clear();
    }
}

/// Records `next` for a partition without allocating when the partition is known.
pub fn record(offsets: &mut NextOffsets, topic: &str, partition: i32, next: i64) {
    match offsets.iter_mut().find(|((t, p), _)| *p == partition && t == topic) {
        Some((_, v)) => *v = next,
        None => {
            offsets.insert((topic.to_owned(), partition), next);
        }
    }
}

pub fn to_tpl(offsets: &NextOffsets) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), next) in offsets {
        // Infallible for a fresh list.
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*next));
    }
    tpl
}

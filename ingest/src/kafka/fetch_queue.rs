//! The queue the consumer takes its messages from, a batch per call.
//!
//! The rdkafka crate hands out one message per `poll`, each wrapped in an
//! event with its own allocation and clock reads: 5–9% of a Kafka ingester's
//! CPU time (`perf`). librdkafka can serve a batch from one queue
//! (`rd_kafka_consume_batch_queue`), but not from the consumer queue, which
//! also carries rebalances and commit results that the crate serves as events
//! (taken in a batch, a rebalance would be answered by librdkafka itself).
//!
//! So each assigned partition's fetched messages are forwarded here instead,
//! before the partition is assigned (`route`); librdkafka keeps an
//! application's forwarding when it starts fetching, and drops it when the
//! partition stops. Everything else stays on the consumer queue.
//!
//! Every call happens on the consumer thread: the loop's own, and the
//! rebalance callbacks, which librdkafka runs inside that thread's `poll`.

use std::ffi::{CStr, c_int};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::bindings as rdsys;
use rdkafka::types::RDKafkaErrorCode;

/// One fetched message, borrowed for the duration of [`FetchQueue::take`]'s callback.
pub(super) struct Fetched<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub payload: &'a [u8],
}

/// Room for the messages of one [`FetchQueue::take`], kept between takes.
pub(super) struct Batch(Vec<*mut rdsys::rd_kafka_message_t>);

impl Batch {
    pub(super) fn with_capacity(messages: usize) -> Self {
        Self(Vec::with_capacity(messages))
    }
}

/// A queue of fetched messages; empty of any until [`FetchQueue::open`].
pub(super) struct FetchQueue {
    queue: AtomicPtr<rdsys::rd_kafka_queue_t>,
}

// SAFETY: librdkafka's queues are thread-safe; the pointer is only used
// through librdkafka's API, and only while open.
unsafe impl Send for FetchQueue {}
unsafe impl Sync for FetchQueue {}

impl FetchQueue {
    pub(super) fn closed() -> Self {
        Self { queue: AtomicPtr::new(ptr::null_mut()) }
    }

    /// Creates the queue in `client`. It must be [`close`](Self::close)d before
    /// the client is destroyed.
    pub(super) fn open(&self, client: *mut rdsys::rd_kafka_t) {
        // SAFETY: `client` is a live consumer handle.
        let queue = unsafe { rdsys::rd_kafka_queue_new(client) };
        let old = self.queue.swap(queue, Ordering::AcqRel);
        debug_assert!(old.is_null(), "the fetch queue was opened twice");
    }

    /// Forwards the fetched messages of `partitions` here: call it before they
    /// are assigned.
    pub(super) fn route(&self, client: *mut rdsys::rd_kafka_t, partitions: &TopicPartitionList) {
        let queue = self.queue.load(Ordering::Acquire);
        if queue.is_null() {
            return;
        }
        for p in partitions.elements() {
            let Ok(topic) = std::ffi::CString::new(p.topic()) else { continue };
            // SAFETY: `client` is live; the partition's queue handle is released
            // at once (the forwarding stays with the partition).
            unsafe {
                let partition_queue = rdsys::rd_kafka_queue_get_partition(client, topic.as_ptr(), p.partition());
                if partition_queue.is_null() {
                    tracing::warn!(topic = p.topic(), partition = p.partition(), "no queue for an assigned partition");
                    continue;
                }
                rdsys::rd_kafka_queue_forward(partition_queue, queue);
                rdsys::rd_kafka_queue_destroy(partition_queue);
            }
        }
    }

    /// Takes up to `max` messages, waiting up to `timeout` for the first ones
    /// (librdkafka waits until `max` came or the time is up), and shows each to
    /// `each` in order: a message, or a fetch error. Returns how many it took.
    pub(super) fn take(
        &self,
        max: usize,
        timeout: Duration,
        batch: &mut Batch,
        mut each: impl FnMut(Result<Fetched<'_>, RDKafkaErrorCode>),
    ) -> usize {
        let queue = self.queue.load(Ordering::Acquire);
        if queue.is_null() || max == 0 {
            return 0;
        }
        let buffer = &mut batch.0;
        buffer.clear();
        buffer.reserve(max);
        let timeout_ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
        // SAFETY: the buffer has room for `max` pointers; librdkafka fills the first `n`.
        let n = unsafe { rdsys::rd_kafka_consume_batch_queue(queue, timeout_ms, buffer.as_mut_ptr(), max) };
        let Ok(n) = usize::try_from(n).map(|n| n.min(max)) else { return 0 };
        // SAFETY: librdkafka wrote `n` message pointers, each ours to destroy.
        unsafe { buffer.set_len(n) };
        let taken = Taken(buffer);
        let mut topic: (*mut rdsys::rd_kafka_topic_t, &str) = (ptr::null_mut(), "");
        for &m in taken.0.iter() {
            // SAFETY: a message stays valid until it is destroyed, when `taken` drops.
            let message = unsafe { &*m };
            if message.err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                each(Err(message.err.into()));
                continue;
            }
            if message.rkt != topic.0 {
                // SAFETY: a message holds a reference on its topic, whose name is a C string.
                let name = unsafe { CStr::from_ptr(rdsys::rd_kafka_topic_name(message.rkt)) };
                topic = (message.rkt, name.to_str().unwrap_or_default());
            }
            let payload = if message.payload.is_null() {
                &[][..]
            } else {
                // SAFETY: librdkafka's payload pointer and length describe one buffer.
                unsafe { std::slice::from_raw_parts(message.payload as *const u8, message.len) }
            };
            each(Ok(Fetched { topic: topic.1, partition: message.partition, offset: message.offset, payload }));
        }
        n
    }

    /// Destroys the queue; messages still in it are dropped, as the consumer
    /// queue's are when a consumer stops.
    pub(super) fn close(&self) {
        let queue = self.queue.swap(ptr::null_mut(), Ordering::AcqRel);
        if !queue.is_null() {
            // SAFETY: the queue was created by `open` and is destroyed once.
            unsafe { rdsys::rd_kafka_queue_destroy(queue) };
        }
    }
}

/// Messages taken from librdkafka, destroyed when dropped (even if a callback panicked).
struct Taken<'a>(&'a mut Vec<*mut rdsys::rd_kafka_message_t>);

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        for m in self.0.drain(..) {
            // SAFETY: each message was returned by librdkafka and is destroyed once.
            unsafe { rdsys::rd_kafka_message_destroy(m) };
        }
    }
}

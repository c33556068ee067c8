//! The Kafka source against librdkafka's mock cluster, over TCP: good events land
//! in `tool_calls` exactly once, malformed ones in `dead_letters` with their
//! topic/partition/offset, and the group's committed offsets cover everything;
//! also when the writer is behind and the source has to wait for it. A trickle
//! of events is stored within seconds. A second ingester joining the group
//! mid-stream takes partitions over, and no event is stored twice. When the
//! writer is gone the source stops, having committed only what was stored.
//! What the consumer cannot read (a missing topic) is counted on `/metrics` by
//! its error code. A message holding several events (a JSON array, or NDJSON)
//! stores each, and dead-letters its bad ones by offset and line.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use toolpulse_ingest::kafka::{KafkaConfig, KafkaSource};
use toolpulse_ingest::metrics::{ErrorLabels, SourceLabels};
use toolpulse_ingest::{IngestMetrics, IngestWriter, WriterConfig};
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::{DataDir, FileWriter, Table};

const TOPIC: &str = "mcp-tool-calls";
const PARTITIONS: i32 = 3;

/// Produces `lines` to a fresh 3-broker mock cluster; returns its bootstrap servers.
fn cluster_with(lines: &[Vec<u8>]) -> (MockCluster<'static, DefaultProducerContext>, String) {
    let cluster = MockCluster::new(3).unwrap();
    cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let producer = producer(&brokers);
    for (i, l) in lines.iter().enumerate() {
        let key = i.to_string();
        producer.send(BaseRecord::to(TOPIC).payload(l).key(&key)).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    (cluster, brokers)
}

fn producer(brokers: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap()
}

/// A Kafka source and its writer running into a fresh data dir.
struct Running {
    dir: Arc<tempfile::TempDir>,
    rt: tokio::runtime::Runtime,
    writer: toolpulse_ingest::WriterHandle,
    writer_task: tokio::task::JoinHandle<()>,
    source: KafkaSource,
    metrics: IngestMetrics,
}

fn start(brokers: &str, wcfg: WriterConfig, chunk_messages: usize) -> Running {
    start_on(brokers, TOPIC, wcfg, chunk_messages)
}

fn start_on(brokers: &str, topic: &str, wcfg: WriterConfig, chunk_messages: usize) -> Running {
    let dir = tempfile::tempdir().unwrap();
    DataDir::new(dir.path()).create().unwrap();
    start_in(Arc::new(dir), brokers, topic, wcfg, chunk_messages)
}

/// A Kafka source and its writer running into the data dir `dir`, which others
/// may be writing to.
fn start_in(dir: Arc<tempfile::TempDir>, brokers: &str, topic: &str, wcfg: WriterConfig, chunk_messages: usize) -> Running {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = DataDir::new(dir.path());
    let files = Arc::new(FileWriter::new(data, WriteOptions::default()));
    let metrics = IngestMetrics::default();
    let (writer, writer_task) = {
        let _guard = rt.enter();
        IngestWriter::spawn(files, wcfg, metrics.clone())
    };
    let kcfg = KafkaConfig {
        brokers: brokers.to_owned(),
        topics: vec![topic.into()],
        group_id: "toolpulse-test".into(),
        chunk_messages,
        ..KafkaConfig::default()
    };
    let source = KafkaSource::start(kcfg, writer.clone(), metrics.clone(), rt.handle().clone()).unwrap();
    Running { dir, rt, writer, writer_task, source, metrics }
}

/// Runs the Kafka source into a fresh data dir, calls `during` with the dir,
/// waits until `good` events and `bad` dead letters are stored (or 60 s pass),
/// then stops the source and its writer.
fn ingest(
    brokers: &str,
    wcfg: WriterConfig,
    chunk_messages: usize,
    (good, bad): (usize, usize),
    during: impl FnOnce(&std::path::Path),
) -> (Arc<tempfile::TempDir>, IngestMetrics) {
    let Running { dir, rt, writer, writer_task, source, metrics } = start(brokers, wcfg, chunk_messages);
    during(dir.path());

    let all_stored = common::wait_until(Duration::from_secs(60), || {
        common::row_count(dir.path(), Table::ToolCalls) == good && common::row_count(dir.path(), Table::DeadLetters) == bad
    });
    source.stop().unwrap();
    rt.block_on(writer.flush()).unwrap();
    drop(writer);
    rt.block_on(writer_task).unwrap();
    assert!(all_stored, "not every event was stored within 60 s");
    (dir, metrics)
}

/// Every id stored exactly once, and no other.
fn assert_each_stored_once(dir: &std::path::Path, good_ids: &[[u8; 16]]) {
    let counts = common::event_id_counts(dir);
    assert_eq!(counts.len(), good_ids.len(), "distinct stored ids");
    for id in good_ids {
        assert_eq!(counts.get(id), Some(&1), "event {id:02x?} stored once");
    }
}

#[test]
fn a_writer_behind_slows_the_source_without_losing_or_repeating_events() {
    let (lines, good_ids, bad) = common::generated_lines(20_000, 12, 0);
    let (_cluster, brokers) = cluster_with(&lines);
    // A 1 MiB buffer holds about one 500-event chunk: the source must wait for
    // every flush.
    let wcfg = WriterConfig { flush_age: Duration::from_millis(50), max_buffered_bytes: 1 << 20, ..WriterConfig::default() };
    let (dir, metrics) = ingest(&brokers, wcfg, 500, (good_ids.len(), bad), |_| {});
    let refusals = metrics.busy_refusals.get_or_create(&SourceLabels { source: "kafka".into() }).get();
    assert!(refusals > 0, "the writer never refused: the case under test did not happen");
    assert_each_stored_once(dir.path(), &good_ids);
}

#[test]
fn a_trickle_of_events_is_stored_within_seconds() {
    // 100 events a second: a chunk age passes long before a chunk is full.
    let (lines, good_ids, _) = common::generated_lines(301, 13, 0);
    let (_cluster, brokers) = cluster_with(&lines[..1]);
    let wcfg = WriterConfig { flush_age: Duration::from_millis(300), ..WriterConfig::default() };
    let (dir, _) = ingest(&brokers, wcfg, KafkaConfig::default().chunk_messages, (good_ids.len(), 0), |dir| {
        // The first event stored: the source has joined and reads.
        assert!(common::wait_until(Duration::from_secs(30), || common::row_count(dir, Table::ToolCalls) == 1));
        let producer = producer(&brokers);
        let mut sent_at = Vec::new();
        let mut checks = 0;
        for (i, l) in lines.iter().enumerate().skip(1) {
            producer.send(BaseRecord::to(TOPIC).payload(l).key(&i.to_string())).unwrap();
            producer.flush(Duration::from_secs(5)).unwrap();
            sent_at.push(Instant::now());
            std::thread::sleep(Duration::from_millis(10));
            if i % 50 == 0 {
                // Every event sent more than 1.5 s ago is stored by now (chunk age
                // 100 ms, flush age 300 ms).
                let due = sent_at.iter().filter(|t| t.elapsed() > Duration::from_millis(1500)).count();
                let stored = common::row_count(dir, Table::ToolCalls) - 1;
                assert!(stored >= due, "after event {i}: {stored} stored, but {due} were sent more than 1.5 s ago");
                checks += usize::from(due > 0);
            }
        }
        assert!(checks >= 2, "the trickle was checked while it ran");
    });
    assert_each_stored_once(dir.path(), &good_ids);
}

#[test]
fn good_events_once_bad_ones_dead_lettered_offsets_committed() {
    let (lines, good_ids, bad) = common::generated_lines(6000, 11, 50);
    let (_cluster, brokers) = cluster_with(&lines);
    let wcfg = WriterConfig { flush_age: Duration::from_millis(300), ..WriterConfig::default() };
    let (dir, _) = ingest(&brokers, wcfg, KafkaConfig::default().chunk_messages, (good_ids.len(), bad), |_| {});
    assert_each_stored_once(dir.path(), &good_ids);

    let dead = common::read_table(dir.path(), Table::DeadLetters);
    let sources = common::strings(&dead, "source");
    let topics = common::strings(&dead, "topic");
    let reasons = common::strings(&dead, "reason");
    let offsets = common::strings(&dead, "offset");
    assert_eq!(sources.len(), bad);
    for i in 0..bad {
        assert_eq!(sources[i].as_deref(), Some("kafka"));
        assert_eq!(topics[i].as_deref(), Some(TOPIC));
        assert!(offsets[i].is_some(), "dead letter {i} names its offset");
        assert!(reasons[i].as_deref().is_some_and(|r| !r.is_empty()));
    }
    // The malformed lines are exactly the every-50th ones: their offsets are
    // distinct and their count matches.
    let mut seen: Vec<(Option<String>, Option<String>)> =
        common::strings(&dead, "partition").into_iter().zip(offsets).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), bad, "each bad message dead-lettered once");

    // The group committed past every message: a restart would read nothing again.
    let peer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
    let mut total = 0;
    for (p, committed) in committed_offsets(&brokers).into_iter().enumerate() {
        let (_, high) = peer.fetch_watermarks(TOPIC, p as i32, Duration::from_secs(10)).unwrap();
        let o = committed.unwrap_or_else(|| panic!("partition {p} has no committed offset"));
        assert_eq!(o, high, "partition {p} committed up to its high watermark");
        total += o;
    }
    assert_eq!(total as usize, lines.len());
}

/// The group's committed offset of each partition (`None`: nothing committed).
#[test]
fn a_message_holding_several_events_stores_each_and_dead_letters_its_bad_ones_by_line() {
    let (lines, ids, _) = common::generated_lines(9, 17, 0);
    let text = |i: usize| String::from_utf8(lines[i].clone()).unwrap();
    let missing_outcome = r#"{"event_id":"5f0c6f9e-2b1d-4c3a-9e8f-7a6b5c4d3e2f","timestamp":1764064800000,"duration_ms":1,"server":"s","tool":"t"}"#;
    let messages: Vec<Vec<u8>> = vec![
        // A JSON array: three events, the fourth item lacks its outcome.
        format!("[{}, {}, {}, {missing_outcome}]", text(0), text(1), text(2)).into_bytes(),
        // NDJSON: two events, then a line cut short.
        format!("{}\n{}\n{{\"event_id\": \"x\",\n", text(3), text(4)).into_bytes(),
        // One event, as most producers send them.
        lines[5].clone(),
        // An array whose JSON breaks after two events.
        format!("[{}, {}, {{\"event_id\"", text(6), text(7)).into_bytes(),
        // One event formatted over lines, malformed: one error, not one per line.
        b"{\n  \"event_id\": \"a\",\n  \"timestamp\": ,\n}".to_vec(),
    ];
    let (_cluster, brokers) = cluster_with(&messages);
    let wcfg = WriterConfig { flush_age: Duration::from_millis(300), ..WriterConfig::default() };
    let (dir, metrics) = ingest(&brokers, wcfg, KafkaConfig::default().chunk_messages, (8, 4), |_| {});
    assert_each_stored_once(dir.path(), &ids[..8]);
    assert_eq!(metrics.accepted.get_or_create(&SourceLabels { source: "kafka".into() }).get(), 8);

    // Each message went to one of the partitions by its key (its index), so the
    // dead letters are told apart by their reasons; each names its line.
    let dead = common::read_table(dir.path(), Table::DeadLetters);
    let mut found: Vec<(Option<String>, Option<String>, Option<String>)> = common::strings(&dead, "line")
        .into_iter()
        .zip(common::strings(&dead, "field"))
        .zip(common::strings(&dead, "error_code"))
        .map(|((l, f), c)| (l, f, c))
        .collect();
    found.sort();
    let want = |line: Option<&str>, field: Option<&str>, code: &str| (line.map(str::to_owned), field.map(str::to_owned), Some(code.to_owned()));
    let mut expected = vec![
        want(Some("4"), Some("outcome"), "missing"),
        want(Some("3"), None, "invalid_json"),
        want(Some("3"), None, "invalid_json"),
        want(None, None, "invalid_json"),
    ];
    expected.sort();
    assert_eq!(found, expected);
    for (topic, offset) in common::strings(&dead, "topic").into_iter().zip(common::strings(&dead, "offset")) {
        assert_eq!(topic.as_deref(), Some(TOPIC));
        assert!(offset.is_some(), "a dead letter names its message's offset");
    }
}

fn committed_offsets(brokers: &str) -> Vec<Option<i64>> {
    let peer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", "toolpulse-test").create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(TOPIC, p);
    }
    let committed = peer.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    (0..PARTITIONS)
        .map(|p| match committed.find_partition(TOPIC, p).unwrap().offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
        .collect()
}

#[test]
fn when_the_writer_is_gone_the_source_stops_and_commits_only_what_is_stored() {
    let (lines, _, _) = common::generated_lines(4000, 14, 0);
    let (_cluster, brokers) = cluster_with(&lines[..2000]);
    let wcfg = WriterConfig { flush_age: Duration::from_millis(100), ..WriterConfig::default() };
    let Running { dir, rt, writer: _writer, writer_task, source, .. } = start(&brokers, wcfg, KafkaConfig::default().chunk_messages);
    assert!(common::wait_until(Duration::from_secs(60), || common::row_count(dir.path(), Table::ToolCalls) == 2000));

    // The writer dies; the next events cannot be made durable.
    writer_task.abort();
    assert!(rt.block_on(writer_task).unwrap_err().is_cancelled());
    let producer = producer(&brokers);
    for (i, l) in lines.iter().enumerate().skip(2000) {
        producer.send(BaseRecord::to(TOPIC).payload(l).key(&i.to_string())).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    assert!(common::wait_until(Duration::from_secs(30), || source.is_finished()), "the source kept running without a writer");
    let err = source.stop().unwrap_err();
    assert!(err.to_string().contains("the writer is gone"), "{err}");
    let stored = common::row_count(dir.path(), Table::ToolCalls);
    let committed: i64 = committed_offsets(&brokers).into_iter().flatten().sum();
    assert_eq!(stored, 2000, "nothing was stored after the writer died");
    assert!(committed <= stored as i64, "committed {committed} offsets but stored only {stored} events");
}

#[test]
fn a_topic_the_consumer_cannot_read_is_counted_by_error_code() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let running = start_on(&brokers, "no-such-topic", WriterConfig::default(), KafkaConfig::default().chunk_messages);
    let metrics = running.metrics.clone();
    let errors = |code: &str| metrics.consumer_errors.get_or_create(&ErrorLabels { code: code.into() }).get();
    assert!(
        common::wait_until(Duration::from_secs(30), || errors("UnknownTopicOrPartition") > 0),
        "no UnknownTopicOrPartition error counted for a topic the cluster does not have"
    );
    running.source.stop().unwrap();
}

/// Ingesters of one group that share a store: an event that the group delivers
/// twice around a rebalance is stored once.
#[test]
fn a_second_ingester_joining_mid_stream_takes_over_partitions_and_nothing_is_stored_twice() {
    let (lines, good_ids, _) = common::generated_lines(12_000, 15, 0);
    let (_cluster, brokers) = cluster_with(&lines[..4000]);
    let wcfg = WriterConfig { flush_age: Duration::from_millis(200), ..WriterConfig::default() };
    let chunk = KafkaConfig::default().chunk_messages;
    let first = start(&brokers, wcfg.clone(), chunk);
    let dir = first.dir.clone();
    assert!(common::wait_until(Duration::from_secs(60), || common::row_count(dir.path(), Table::ToolCalls) == 4000));

    // The second joins the group; the first gives partitions up while events keep coming.
    let second = start_in(dir.clone(), &brokers, TOPIC, wcfg, chunk);
    let producer = producer(&brokers);
    let mut sent = 4000;
    for (n, batch) in lines[4000..].chunks(100).enumerate() {
        for (i, l) in batch.iter().enumerate() {
            producer.send(BaseRecord::to(TOPIC).payload(l).key(&(4000 + n * 100 + i).to_string())).unwrap();
        }
        producer.flush(Duration::from_secs(5)).unwrap();
        sent += batch.len();
        // Slowly until the rebalance is done and the second one consumes.
        if second.metrics.accepted.get_or_create(&SourceLabels { source: "kafka".into() }).get() == 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    assert_eq!(sent, lines.len());
    let all = common::wait_until(Duration::from_secs(60), || common::event_id_counts(dir.path()).len() >= good_ids.len());
    let second_consumed = second.metrics.accepted.get_or_create(&SourceLabels { source: "kafka".into() }).get();
    for running in [first, second] {
        running.source.stop().unwrap();
        running.rt.block_on(running.writer.flush()).unwrap();
    }
    assert!(all, "not every event was stored within 60 s");
    assert!(second_consumed > 0, "the second ingester got no partition with events");
    assert_each_stored_once(dir.path(), &good_ids);
    let committed: i64 = committed_offsets(&brokers).into_iter().flatten().sum();
    assert_eq!(committed as usize, lines.len(), "the group committed every message");
}

//! Crash safety: the ingester runs as a child process consuming from a Kafka
//! broker (librdkafka's mock cluster, over TCP), is SIGKILLed at a random point
//! mid-stream, and restarted. Every produced event id must then be stored exactly
//! once: nothing lost (offsets are committed only after durability), nothing
//! doubled (redelivered events are dropped by event_id at write).

mod common;

use std::process::{Command, Stdio};

use common::ChildGuard;
use std::time::Duration;

use rand::Rng;
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use toolpulse_storage::Table;

const TOPIC: &str = "mcp-tool-calls";

fn ingester(brokers: &str, data_dir: &std::path::Path) -> ChildGuard {
    // A short session timeout, so the killed member leaves the group quickly.
    let config = data_dir.with_extension("toml");
    let debug = std::env::var("CHILD_KAFKA_DEBUG").map(|d| format!("debug = \"{d}\"\n")).unwrap_or_default();
    std::fs::write(&config, format!("[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n{debug}")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_toolpulse"))
        .args(["serve", "--listen", "127.0.0.1:0", "--pg-listen", "off", "--otlp-grpc-listen", "off", "--kafka-brokers", brokers, "--kafka-topics", TOPIC])
        .arg("-c")
        .arg(&config)
        .arg("--data-dir")
        .arg(data_dir)
        .env("TOOLPULSE_TOKEN", "t")
        .env("TOOLPULSE_INGEST__FLUSH_AGE", "250ms")
        .env("TOOLPULSE_INGEST__FLUSH_ROWS", "3000")
        .env("TOOLPULSE_COMPACTION__ENABLED", "false")
        .env("RUST_LOG", std::env::var("CHILD_LOG").unwrap_or("warn".into()))
        .stdout(Stdio::null())
        .spawn()
        .map(ChildGuard)
        .expect("starting the toolpulse binary")
}

#[test]
fn sigkill_mid_stream_then_restart_stores_every_event_exactly_once() {
    let cluster = MockCluster::new(1).unwrap();
    // The mock broker keeps at most 5 MB per partition: spread ~20 MB over 8.
    cluster.create_topic(TOPIC, 8, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let (lines, good, _) = common::generated_lines(30_000, 23, 0);
    let producer: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", &brokers).set("linger.ms", "5").create().unwrap();
    // Produce while the ingester consumes, so the kill lands mid-stream.
    let producing = std::thread::spawn(move || {
        for (i, chunk) in lines.chunks(1000).enumerate() {
            for (j, l) in chunk.iter().enumerate() {
                let key = (i * 1000 + j).to_string();
                producer.send(BaseRecord::to(TOPIC).payload(l).key(&key)).unwrap();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    });

    let dir = tempfile::tempdir().unwrap();
    let mut child = ingester(&brokers, dir.path());
    // Kill at a random point once some, but not all, events are stored.
    let kill_at = rand::rng().random_range(2_000..20_000);
    assert!(
        common::wait_until(Duration::from_secs(60), || common::row_count(dir.path(), Table::ToolCalls) >= kill_at),
        "the first ingester stored fewer than {kill_at} events within 60 s (it stored {})",
        common::row_count(dir.path(), Table::ToolCalls)
    );
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let before = common::row_count(dir.path(), Table::ToolCalls);
    eprintln!("killed after {before} stored events (target {kill_at})");

    let mut child = ingester(&brokers, dir.path());
    producing.join().unwrap();
    let done = common::wait_until(Duration::from_secs(90), || common::row_count(dir.path(), Table::ToolCalls) >= good.len());
    // Give a redelivery that would duplicate rows the chance to land before checking.
    std::thread::sleep(Duration::from_secs(2));
    let clean_exit = child.terminate();
    eprintln!("stored after restart: {}", common::row_count(dir.path(), Table::ToolCalls));
    assert!(done, "after restart not every event was stored within 90 s");
    assert!(clean_exit, "SIGTERM exits cleanly");

    let counts = common::event_id_counts(dir.path());
    let missing = good.iter().filter(|id| !counts.contains_key(*id)).count();
    let doubled = counts.values().filter(|c| **c > 1).count();
    assert_eq!(missing, 0, "events lost");
    assert_eq!(doubled, 0, "events stored twice");
    assert_eq!(counts.len(), good.len());
}

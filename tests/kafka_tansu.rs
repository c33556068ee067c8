//! End to end against a real Kafka-protocol broker (tansu, started here on
//! loopback): Python `confluent-kafka` produces generated events, including
//! malformed ones, in record batches of every Kafka compression codec; two
//! `toolpulse serve` processes in one consumer group share the partitions; then
//! a confluent-kafka peer of the group reads the committed offsets and reads the
//! partitions to their ends. Every good event is stored once, every bad one
//! dead-lettered, and the group has committed everything.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::ChildGuard;
use common::tansu::Tansu;
use std::time::Duration;

use toolpulse_storage::Table;

const TOPIC: &str = "mcp-tool-calls";
const GROUP: &str = "toolpulse-e2e";
const PARTITIONS: usize = 3;

/// Every compression codec a Kafka producer may use; a run of the events is
/// produced with each.
const CODECS: &str = "none,gzip,snappy,lz4,zstd";

/// Where the ingester whose data dir is `data_dir` writes its log.
fn log_of(data_dir: &Path) -> PathBuf {
    data_dir.with_extension("log")
}

/// Starts an ingester whose log goes to [`log_of`] its data dir.
fn ingester(brokers: &str, data_dir: &Path) -> ChildGuard {
    let log = std::fs::File::create(log_of(data_dir)).unwrap();
    let config = data_dir.with_extension("toml");
    // A short session, so a member that is gone is noticed soon, with a
    // heartbeat every second: a busy machine must miss six in a row before a
    // living member is dropped (at librdkafka's default of one per 3 s, a
    // single late heartbeat could move every partition to the other member).
    std::fs::write(&config, "[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"1000\"\n").unwrap();
    ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_toolpulse"))
            .args(["serve", "--listen", "127.0.0.1:0", "--pg-listen", "off", "--otlp-grpc-listen", "off", "--kafka-brokers", brokers, "--kafka-topics", TOPIC, "--kafka-group", GROUP])
            .arg("-c")
            .arg(&config)
            .arg("--data-dir")
            .arg(data_dir)
            .env("TOOLPULSE_TOKEN", "t")
            .env("TOOLPULSE_INGEST__FLUSH_AGE", "300ms")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting toolpulse"),
    )
}

/// How many partitions the ingester whose data dir is `data_dir` holds now, from
/// its log: the last assignment, or none after a revocation (librdkafka's
/// default assignors are eager: a rebalance revokes everything first).
fn held_partitions(data_dir: &Path) -> usize {
    let log = std::fs::read_to_string(log_of(data_dir)).unwrap_or_default();
    let mut held = 0;
    for line in log.lines() {
        let count = || line.split("partitions=").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok());
        if line.contains("partitions assigned") {
            held = count().unwrap_or(0);
        } else if line.contains("partitions revoked") {
            held = 0;
        }
    }
    held
}

/// Prints the ingesters' logs if the test fails, so that a failure in CI
/// says what the group did.
struct LogsOnFailure(Vec<PathBuf>);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for path in &self.0 {
                eprintln!("---- {} ----\n{}", path.display(), std::fs::read_to_string(path).unwrap_or_default());
            }
        }
    }
}

fn python(script: &str, args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers").join(script);
    let out = Command::new("python3").arg(path).args(args).output().expect("python3");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn confluent_kafka_to_two_ingesters_through_tansu() {
    let broker = Tansu::start();
    broker.create_topic(TOPIC, PARTITIONS);

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("events.ndjson");
    let (lines, good, bad) = common::generated_lines(20_000, 31, 97);
    std::fs::write(&file, lines.join(&b'\n')).unwrap();
    let brokers = broker.brokers.clone();

    // Both ingesters join the group before anything is produced, so they share it.
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    let mut first = ingester(&brokers, &a);
    let mut second = ingester(&brokers, &b);
    let _logs = LogsOnFailure(vec![log_of(&a), log_of(&b)]);
    let settled = || {
        let (na, nb) = (held_partitions(&a), held_partitions(&b));
        na > 0 && nb > 0 && na + nb == PARTITIONS
    };
    assert!(common::wait_until(Duration::from_secs(90), settled), "the group settled with partitions on both ingesters");

    let produced: usize = python("kafka_produce.py", &[&brokers, TOPIC, file.to_str().unwrap(), CODECS]).trim().parse().unwrap();
    assert_eq!(produced, lines.len());
    let total = |t: Table| common::row_count(&a, t) + common::row_count(&b, t);
    let all = common::wait_until(Duration::from_secs(120), || {
        total(Table::ToolCalls) >= good.len() && total(Table::DeadLetters) >= bad
    });
    for child in [&mut first, &mut second] {
        assert!(child.terminate(), "SIGTERM exits cleanly");
    }
    assert!(all, "not every event stored within 120 s");

    let (ca, cb) = (common::event_id_counts(&a), common::event_id_counts(&b));
    assert!(!ca.is_empty() && !cb.is_empty(), "both ingesters of the group got partitions: {} / {}", ca.len(), cb.len());
    for id in &good {
        let n = ca.get(id).unwrap_or(&0) + cb.get(id).unwrap_or(&0);
        assert_eq!(n, 1, "event {id:02x?} stored {n} times");
    }
    assert_eq!(ca.len() + cb.len(), good.len());
    assert_eq!(total(Table::DeadLetters), bad);

    let offsets: serde_json::Value =
        serde_json::from_str(&python("kafka_group_offsets.py", &[&brokers, TOPIC, GROUP, &PARTITIONS.to_string()])).unwrap();
    let mut messages = 0;
    for p in offsets.as_array().unwrap() {
        assert_eq!(p["committed"], p["end"], "partition committed up to its end: {p}");
        messages += p["messages"].as_u64().unwrap();
    }
    assert_eq!(messages as usize, lines.len());
}

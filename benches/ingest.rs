//! Ingest figures, side by side with DuckDB, in one run:
//!
//! 1. NDJSON → Parquet throughput on a generated file (default 10M events):
//!    `toolpulse import` (in process) against DuckDB's
//!    `COPY (SELECT * FROM read_json(…, columns = …)) TO … (FORMAT parquet, COMPRESSION zstd)`.
//!    DuckDB infers the schema from the first 20,480 lines by default and then
//!    fails on a rare optional field seen later (`jsonrpc_error_code`), so the
//!    schema it infers from the whole file (untimed) is passed as `columns`.
//! 2. Bytes per event on disk, toolpulse's files against DuckDB's file, and
//!    the columns where the two differ.
//! 3. Kafka → durable Parquet: events pre-produced to a tansu broker, then a
//!    `toolpulse serve` process consumes them (default 12M: shorter runs end
//!    while the heap is still growing, and understate both the rate and the
//!    peak RSS); events/s from the start and sustained (from the first quarter
//!    durable to the end), peak RSS, and the CPU time per event of toolpulse and
//!    of the broker. Beside it, the ceiling the broker and librdkafka set on
//!    this machine: a bare consumer that only counts the messages and their
//!    bytes.
//!
//! `cargo bench --bench ingest` (env: `EVENTS`, `KAFKA_EVENTS`, `BENCH_DIR`;
//! `SKIP_FILE=1` runs only the Kafka part).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{FileReader as _, SerializedFileReader};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;

use toolpulse_gen::sink::{self, RunOptions, Sink};
use toolpulse_gen::{GenSpec, Generator};
use toolpulse_ingest::import::import_ndjson;
use toolpulse_ingest::kafka::KafkaConfig;
use toolpulse_ingest::{IngestMetrics, IngestWriter, WriterConfig};
use toolpulse_schemas::DecodeLimits;
use toolpulse_storage::compact::{CompactionPolicy, compact_table};
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::layout::HourPartition;
use toolpulse_storage::{DataDir, FileWriter, Table};

mod common;
use common::env_usize;

#[path = "../tests/common/tansu.rs"]
mod tansu;
use tansu::Tansu;

/// The allocator of the `toolpulse` binary and its settings, so the in-process
/// import measures what it ships.
#[path = "../src/allocator.rs"]
mod allocator;

fn dir_bytes(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            total += if m.is_dir() { dir_bytes(&e.path()) } else { m.len() };
        }
    }
    total
}

/// The Parquet files under `p`, at any depth.
fn parquet_files(p: &Path) -> Vec<PathBuf> {
    if p.is_file() {
        return vec![p.to_path_buf()];
    }
    let mut files = Vec::new();
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        files.extend(parquet_files(&e.path()).into_iter().filter(|f| f.extension().is_some_and(|x| x == "parquet")));
    }
    files
}

/// The footer of the Parquet file at `path`.
fn footer(path: &Path) -> ParquetMetaData {
    SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap().metadata().clone()
}

/// Rows of the Parquet file at `path`, from its footer.
fn parquet_rows(path: &Path) -> u64 {
    footer(path).file_metadata().num_rows() as u64
}

/// Compressed bytes of each column (leaf path, pages and dictionary together)
/// summed over the Parquet files under `p`, read from their footers.
fn column_bytes(p: &Path) -> BTreeMap<String, u64> {
    let mut sizes = BTreeMap::new();
    for file in parquet_files(p) {
        for column in footer(&file).row_groups().iter().flat_map(|rg| rg.columns()) {
            *sizes.entry(column.column_path().string()).or_default() += column.compressed_size() as u64;
        }
    }
    sizes
}

/// Where two stores of the same events differ in size: every column whose
/// bytes per event differ by at least 0.05, largest difference first.
fn print_column_differences(ours: &Path, theirs: &Path, events: usize) {
    let (ours, theirs) = (column_bytes(ours), column_bytes(theirs));
    let per_event = |sizes: &BTreeMap<String, u64>, c: &str| sizes.get(c).copied().unwrap_or(0) as f64 / events as f64;
    let mut rows: Vec<(String, f64, f64)> = ours.keys().chain(theirs.keys()).collect::<BTreeSet<_>>().into_iter()
        .map(|c| (c.clone(), per_event(&ours, c), per_event(&theirs, c)))
        .filter(|(_, a, b)| (a - b).abs() >= 0.05)
        .collect();
    rows.sort_by(|x, y| (y.1 - y.2).abs().total_cmp(&(x.1 - x.2).abs()));
    println!("  bytes/event by column where they differ (toolpulse, duckdb):");
    for (column, a, b) in rows {
        println!("    {column:<24} {a:6.2} {b:6.2}   {:+.2}", a - b);
    }
}

fn generate(path: &Path, events: usize, rt: &tokio::runtime::Runtime) {
    let ok = path.with_extension("complete");
    if std::fs::read_to_string(&ok).is_ok_and(|s| s.trim() == events.to_string()) {
        return;
    }
    eprintln!("generating {events} events into {}", path.display());
    let spec = GenSpec { seed: 1, start_ns: toolpulse_schemas::timestamp::now_ns() - (events as i64 / 2000) * 1_000_000_000, rate: 2000.0, ..GenSpec::default() };
    let mut s = Sink::ndjson(Box::new(std::fs::File::create(path).unwrap()));
    let opts = RunOptions { count: Some(events as u64), progress_every: Some(Duration::from_secs(10)), ..RunOptions::default() };
    rt.block_on(sink::run(&mut Generator::new(spec), &mut s, &opts)).unwrap();
    std::fs::write(ok, events.to_string()).unwrap();
}

fn toolpulse_import(file: &Path, out: &Path, rt: &tokio::runtime::Runtime) -> (f64, u64) {
    let _ = std::fs::remove_dir_all(out);
    let dir = DataDir::new(out);
    dir.create().unwrap();
    let files = Arc::new(FileWriter::new(dir, WriteOptions::default()));
    let started = Instant::now();
    let report = rt.block_on(async {
        let (writer, task) = IngestWriter::spawn(files, WriterConfig::default(), IngestMetrics::default());
        let f = std::fs::File::open(file).unwrap();
        let r = import_ndjson(f, "bench", &writer, DecodeLimits { max_future_skew_secs: 86400, ..DecodeLimits::default() }).await.unwrap();
        drop(writer);
        task.await.unwrap();
        r
    });
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.rejected, 0, "generated events all decode");
    (secs, dir_bytes(&out.join(Table::ToolCalls.name())))
}

/// Compacts the `tool_calls` hours of `out` that have closed, as the server's
/// compaction job does once they have (here without its grace period): the
/// form data keeps on disk. The open hour is merged by size tier meanwhile and
/// left out of the figures. Returns (events in closed hours, their bytes
/// before, after).
fn compact_closed_hours(out: &Path) -> (u64, u64, u64) {
    let files = FileWriter::new(DataDir::new(out), WriteOptions::default());
    // One instant for both counts, so that an hour closing meanwhile is not in one only.
    let now = toolpulse_schemas::timestamp::now_ns();
    let closed_hours = || {
        let listed = files.data_dir().list_files(Table::ToolCalls).unwrap().into_iter();
        let closed = listed.filter(|(path, _)| HourPartition::of_file(path).is_some_and(|p| p.end_ns() <= now));
        closed.fold((0, 0), |(rows, bytes), (path, _)| (rows + parquet_rows(&path), bytes + std::fs::metadata(path).unwrap().len()))
    };
    let (rows, before) = closed_hours();
    let policy = CompactionPolicy { settle: Duration::ZERO, closed_hour_grace: Duration::ZERO, ..CompactionPolicy::default() };
    let report = compact_table(&files, Table::ToolCalls, &policy).unwrap();
    assert_eq!(report.rows_in, report.rows_out, "the generated file holds no duplicate event ids");
    let (rows_after, after) = closed_hours();
    assert_eq!(rows, rows_after, "compaction keeps every row of the closed hours");
    (rows, before, after)
}

/// DuckDB's `COPY` of `file` to `out`; with `keep_nanoseconds`, the
/// `timestamp` column is read as `TIMESTAMP_NS` instead of the microsecond
/// `TIMESTAMP WITH TIME ZONE` DuckDB infers (which drops the input's last three
/// digits), so its file holds what toolpulse's holds.
fn duckdb_copy(file: &Path, out: &Path, keep_nanoseconds: bool) -> (f64, u64) {
    let _ = std::fs::remove_file(out);
    // The schema DuckDB infers from the whole file, passed as `columns` so the
    // timed COPY reads the file once, like toolpulse does.
    let script = format!(
        r#"import duckdb, time
c = duckdb.connect()
c.execute('SET enable_progress_bar = false')
f, out = {file:?}, {out:?}
cols = c.execute(f"DESCRIBE SELECT * FROM read_json('{{f}}', sample_size = -1)").fetchall()
if {keep_ns}:
    cols = [(n, 'TIMESTAMP_NS' if n == 'timestamp' else t) for n, t, *_ in cols]
spec = '{{' + ', '.join("'" + n + "': '" + t.replace("'", "''") + "'" for n, t, *_ in cols) + '}}'
t = time.time()
c.execute(f"COPY (SELECT * FROM read_json('{{f}}', columns = {{spec}})) TO '{{out}}' (FORMAT parquet, COMPRESSION zstd)")
print(time.time() - t)
"#,
        file = file.display().to_string(),
        out = out.display().to_string(),
        keep_ns = if keep_nanoseconds { "True" } else { "False" },
    );
    let o = Command::new("python3").arg("-c").arg(script).output().expect("python3 with duckdb (scripts/setup.sh)");
    assert!(o.status.success(), "duckdb: {}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let secs: f64 = stdout.lines().rev().find_map(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("duckdb printed {stdout}"));
    (secs, std::fs::metadata(out).unwrap().len())
}

fn metric(body: &str, name: &str) -> f64 {
    body.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// CPU seconds (user + system) process `pid` has used so far, from
/// `/proc/<pid>/stat` (in clock ticks of 1/100 s, Linux's `USER_HZ`).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) follow its ')';
    // utime and stime are fields 14 and 15 of the line, the 12th and 13th after it.
    let after_name: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| after_name.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// `fetch.wait.max.ms` for tansu 0.6, which holds each fetch for the whole
/// wait even when data is waiting (fetches took ~140 ms at 100 ms, ~75 ms at
/// 10 ms); a Kafka broker answers once `fetch.min.bytes` are there.
const TANSU_FETCH_WAIT_MS: &str = "10";

/// What the broker and librdkafka alone deliver on this machine: a consumer
/// with the ingester's own librdkafka settings that only counts messages and
/// their bytes. Returns (messages, seconds from the first message to the last,
/// broker CPU s).
fn bare_consume(brokers: &str, topic: &str, events: usize, broker_pid: u32) -> (usize, f64, f64) {
    let cfg = KafkaConfig {
        brokers: brokers.to_owned(),
        topics: vec![topic.to_owned()],
        group_id: "bench-bare-consumer".into(),
        properties: [("fetch.wait.max.ms".to_owned(), TANSU_FETCH_WAIT_MS.to_owned())].into(),
        ..KafkaConfig::default()
    };
    let consumer: BaseConsumer = cfg.client_config().create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let broker_before = cpu_secs(broker_pid);
    let (mut seen, mut bytes, mut first, mut last) = (0usize, 0usize, None, Instant::now());
    while seen < events && (first.is_none() || last.elapsed() < Duration::from_secs(5)) && last.elapsed() < Duration::from_secs(60) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            seen += 1;
            bytes += m.payload().map_or(0, <[u8]>::len);
            last = Instant::now();
        }
    }
    let secs = first.map_or(0.0, |f| (last - f).as_secs_f64());
    eprintln!("bare consumer: {seen} messages, {:.1} MB", bytes as f64 / 1e6);
    (seen, secs, cpu_secs(broker_pid) - broker_before)
}

fn kafka_bench(events: usize, work: &Path, rt: &tokio::runtime::Runtime) {
    let produced = events;
    let broker = Tansu::start();
    broker.create_topic("bench", 4);
    let brokers = broker.brokers.clone();
    eprintln!("producing {events} events to tansu");
    let spec = GenSpec { seed: 2, start_ns: toolpulse_schemas::timestamp::now_ns() - (events as i64 / 2000) * 1_000_000_000, rate: 2000.0, ..GenSpec::default() };
    let mut s = Sink::kafka(&brokers, "bench").unwrap();
    let opts = RunOptions { count: Some(events as u64), progress_every: Some(Duration::from_secs(10)), ..RunOptions::default() };
    rt.block_on(sink::run(&mut Generator::new(spec), &mut s, &opts)).unwrap();
    drop(s);

    let (bare, bare_secs, bare_broker_cpu) = bare_consume(&brokers, "bench", events, broker.pid());
    println!(
        "kafka ceiling (tansu 0.6 + librdkafka, a consumer that only counts): {bare} messages in {bare_secs:.2}s \
         from the first ({:.0} messages/s); broker CPU {:.2} us/message",
        bare as f64 / bare_secs.max(1e-9),
        bare_broker_cpu * 1e6 / bare.max(1) as f64
    );

    let data = work.join("kafka-data");
    let _ = std::fs::remove_dir_all(&data);
    let http_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = work.join("kafka-bench.toml");
    std::fs::write(&config, format!("[kafka.properties]\n\"fetch.wait.max.ms\" = \"{TANSU_FETCH_WAIT_MS}\"\n")).unwrap();
    let broker_before = cpu_secs(broker.pid());
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_toolpulse"))
        .args(["serve", "--pg-listen", "off", "--otlp-grpc-listen", "off", "--kafka-brokers", &brokers, "--kafka-topics", "bench", "--listen", &format!("127.0.0.1:{http_port}")])
        .arg("--data-dir")
        .arg(&data)
        .env("TOOLPULSE_CONFIG", &config)
        .env("TOOLPULSE_TOKEN", "bench")
        .env("TOOLPULSE_COMPACTION__ENABLED", "false")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::new();
    let (mut first_row, mut rows, mut last_change) = (None, 0.0, Instant::now());
    // When a quarter of the events were durable, and how many: the sustained
    // rate is taken from there to the end, past the start-up (joining the group,
    // the first fetches) and the first-touch page faults of a growing heap.
    let mut warmed_up: Option<(Duration, f64)> = None;
    let mut done = started.elapsed();
    // Until every event is durable, or nothing new arrived for 5 s (tansu 0.6 skips
    // to the next record batch when a fetch starts inside one, so anything that
    // re-fetches from a consumed position (a pause, a restart) can miss messages).
    while rows < events as f64 && (rows == 0.0 || last_change.elapsed() < Duration::from_secs(5)) && started.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(200));
        let Ok(r) = client.get(format!("http://127.0.0.1:{http_port}/metrics")).bearer_auth("bench").send() else { continue };
        let now_rows = metric(&r.text().unwrap_or_default(), "toolpulse_ingest_rows_written_total{table=\"tool_calls\"}");
        if now_rows > rows {
            rows = now_rows;
            last_change = Instant::now();
            done = started.elapsed();
        }
        if rows > 0.0 && first_row.is_none() {
            first_row = Some(started.elapsed());
        }
        if warmed_up.is_none() && rows >= produced as f64 / 4.0 {
            warmed_up = Some((started.elapsed(), rows));
        }
    }
    let events = rows as usize;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let hwm = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?").to_owned();
    let (toolpulse_cpu, broker_cpu) = (cpu_secs(child.id()), cpu_secs(broker.pid()) - broker_before);
    let _ = child.kill();
    let _ = child.wait();
    drop(broker);
    let first = first_row.unwrap_or_default();
    let (warm_at, warm_rows) = warmed_up.unwrap_or((done, rows));
    println!(
        "kafka→parquet (tansu 0.6, memory storage, 4 partitions): {events} events durable (of {produced} produced) in {:.2}s from process start \
         ({:.0} events/s); {:.2}s from first durable file ({:.0} events/s); peak RSS {}",
        done.as_secs_f64(),
        events as f64 / done.as_secs_f64(),
        (done - first).as_secs_f64(),
        events as f64 / (done - first).as_secs_f64().max(1e-9),
        hwm.trim_start_matches("VmHWM:").trim()
    );
    println!(
        "  sustained, from the first quarter durable to the end: {:.0} events in {:.2}s ({:.0} events/s)",
        rows - warm_rows,
        (done - warm_at).as_secs_f64(),
        (rows - warm_rows) / (done - warm_at).as_secs_f64().max(1e-9)
    );
    println!(
        "  CPU per event: toolpulse {:.2} us, broker {:.2} us (2 cores give 4 us per event at 500k events/s)",
        toolpulse_cpu * 1e6 / events.max(1) as f64,
        broker_cpu * 1e6 / events.max(1) as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    allocator::keep_freed_memory_longer();
    let events = env_usize("EVENTS", 10_000_000);
    let skip_file = std::env::var("SKIP_FILE").is_ok();
    let kafka_events = env_usize("KAFKA_EVENTS", 12_000_000);
    let work = std::env::var("BENCH_DIR").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/toolpulse-bench")
    });
    std::fs::create_dir_all(&work).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let file = work.join(format!("events-{events}.ndjson"));
    generate(&file, events, &rt);
    let input = std::fs::metadata(&file).unwrap().len();
    println!("input: {events} events, {:.1} MB NDJSON ({:.0} bytes/event)", input as f64 / 1e6, input as f64 / events as f64);

    if skip_file {
        kafka_bench(kafka_events, &work, &rt);
        return;
    }
    // Both readers start from a warm page cache: the file is read once, untimed
    // (otherwise whichever runs first also pays the disk).
    std::io::copy(&mut std::fs::File::open(&file).unwrap(), &mut std::io::sink()).unwrap();
    // The import runs as the binary does, without transparent huge pages; the
    // peers spawned later (DuckDB, the broker) inherit the flag, so it is
    // cleared again for them to run as the system has them.
    allocator::without_transparent_huge_pages();
    let (tp_secs, tp_bytes) = toolpulse_import(&file, &work.join("tp-data"), &rt);
    // SAFETY: clears this process's flag; takes no pointers.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
    let tp_rate = events as f64 / tp_secs;
    println!("ndjson→parquet  toolpulse import: {tp_secs:.2}s, {tp_rate:.0} events/s");
    let (dk_secs, dk_bytes) = duckdb_copy(&file, &work.join("duckdb.parquet"), false);
    let dk_rate = events as f64 / dk_secs;
    println!("ndjson→parquet  duckdb COPY:      {dk_secs:.2}s, {dk_rate:.0} events/s");
    println!("  ratio toolpulse/duckdb: {:.2}x", tp_rate / dk_rate);
    let (tp_bpe, dk_bpe) = (tp_bytes as f64 / events as f64, dk_bytes as f64 / events as f64);
    println!("bytes/event     toolpulse: {tp_bpe:.1}   duckdb: {dk_bpe:.1}   ratio {:.3}x", tp_bpe / dk_bpe);
    let (_, dk_ns_bytes) = duckdb_copy(&file, &work.join("duckdb-ns.parquet"), true);
    let dk_ns_bpe = dk_ns_bytes as f64 / events as f64;
    println!("  duckdb keeping nanoseconds (TIMESTAMP_NS): {dk_ns_bpe:.1}   ratio {:.3}x", tp_bpe / dk_ns_bpe);
    print_column_differences(&work.join("tp-data").join(Table::ToolCalls.name()), &work.join("duckdb.parquet"), events);
    let (closed_rows, closed_before, closed_after) = compact_closed_hours(&work.join("tp-data"));
    println!(
        "  after compaction of the closed hours ({closed_rows} events): {:.1} bytes/event before, {:.1} after   ratio {:.3}x",
        closed_before as f64 / closed_rows.max(1) as f64,
        closed_after as f64 / closed_rows.max(1) as f64,
        closed_after as f64 / closed_rows.max(1) as f64 / dk_bpe
    );

    if kafka_events > 0 {
        kafka_bench(kafka_events, &work, &rt);
    }
}

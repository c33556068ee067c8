//! Helpers shared by the integration tests: reading the store back with the
//! parquet crate (in the tables' own column types), and waiting for
//! conditions without fixed sleeps.

#![allow(dead_code)]

pub mod tansu;

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use toolpulse_storage::{DataDir, Table};

/// Every row of a table, read from its Parquet files.
pub fn read_table(data_dir: &Path, table: Table) -> Vec<RecordBatch> {
    let dir = DataDir::new(data_dir);
    let mut out = Vec::new();
    for (path, _) in dir.list_files(table).unwrap_or_default() {
        out.extend(toolpulse_storage::stored_form::read_file(table, &path).unwrap());
    }
    out
}

pub fn row_count(data_dir: &Path, table: Table) -> usize {
    read_table(data_dir, table).iter().map(RecordBatch::num_rows).sum()
}

/// How often each stored event id (16-byte key) occurs in `tool_calls`.
pub fn event_id_counts(data_dir: &Path) -> HashMap<[u8; 16], usize> {
    let mut counts = HashMap::new();
    for b in read_table(data_dir, Table::ToolCalls) {
        let ids = b.column_by_name("event_id").unwrap().as_fixed_size_binary();
        for i in 0..ids.len() {
            *counts.entry(<[u8; 16]>::try_from(ids.value(i)).unwrap()).or_insert(0) += 1;
        }
    }
    counts
}

/// A string column of every batch, flattened (nulls as None).
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let col = arrow::compute::cast(b.column_by_name(column).unwrap(), &arrow::datatypes::DataType::Utf8).unwrap();
        let s = col.as_string::<i32>();
        out.extend((0..s.len()).map(|i| s.is_valid(i).then(|| s.value(i).to_owned())));
    }
    out
}

/// A server configuration for a test: the data in `data_dir`, every listener
/// (HTTP, PostgreSQL, OTLP/gRPC) on a free loopback port, `token` the API token.
pub fn server_config(data_dir: &Path, token: &str) -> toolpulse_serve::Config {
    let mut cfg = toolpulse_serve::Config { data_dir: data_dir.to_owned(), ..Default::default() };
    cfg.server.listen = "127.0.0.1:0".parse().unwrap();
    cfg.pgwire.listen = "127.0.0.1:0".parse().unwrap();
    cfg.otlp.grpc_listen = "127.0.0.1:0".parse().unwrap();
    cfg.server.token = token.into();
    cfg
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// A loopback port free at the moment, for a peer started by a test.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether a Prometheus-family server at `url` (Prometheus, Alertmanager)
/// answers its `/-/ready` within `timeout`. Blocks.
pub fn wait_ready(url: &str, timeout: Duration) -> bool {
    let client = reqwest::blocking::Client::new();
    wait_until(timeout, || client.get(format!("{url}/-/ready")).send().is_ok_and(|r| r.status().is_success()))
}

/// A Prometheus server (Debian's `prometheus`, installed by `scripts/setup.sh`)
/// with `config` (YAML) and its TSDB in `dir`, on a free port, ready: its URL
/// and the guard that kills it. Blocks.
pub fn prometheus(dir: &Path, config: &str) -> (String, ChildGuard) {
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    let port = free_port();
    let child = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .args(["--storage.tsdb.retention.time=10y", &format!("--web.listen-address=127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus is installed by scripts/setup.sh");
    let (url, guard) = (format!("http://127.0.0.1:{port}"), ChildGuard(child));
    assert!(wait_ready(&url, Duration::from_secs(60)), "prometheus did not become ready");
    (url, guard)
}

/// The 16-byte key of a generated (UUID) event id string.
pub fn uuid_key(id: &str) -> [u8; 16] {
    toolpulse_schemas::EventId::parse(id).key()
}

/// Generated events as NDJSON lines, with `bad_every`-th line spoiled; returns
/// the lines, the ids of the good ones, and how many are bad.
pub fn generated_lines(n: usize, seed: u64, bad_every: usize) -> (Vec<Vec<u8>>, Vec<[u8; 16]>, usize) {
    generated_lines_from(toolpulse_schemas::timestamp::now_ns() - 3_600_000_000_000, n, seed, bad_every)
}

/// [`generated_lines`] whose first event is at `start_ns`.
pub fn generated_lines_from(start_ns: i64, n: usize, seed: u64, bad_every: usize) -> (Vec<Vec<u8>>, Vec<[u8; 16]>, usize) {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let spec = toolpulse_gen::GenSpec { seed, start_ns, ..Default::default() };
    let (mut lines, mut good, mut bad) = (Vec::new(), Vec::new(), 0);
    for (i, e) in toolpulse_gen::Generator::new(spec).take(n).enumerate() {
        let json = serde_json::to_vec(&e).unwrap();
        if bad_every > 0 && i % bad_every == bad_every - 1 {
            lines.push(toolpulse_gen::malformed::spoil(&json, &mut rng).line);
            bad += 1;
        } else {
            good.push(e.event_id.key());
            lines.push(json);
        }
    }
    (lines, good, bad)
}

/// Runs each query through DuckDB (`tests/peers/duckdb_query.py`, an engine
/// and Parquet reader that are not ours) over the data dir's `tool_calls`
/// files; one answer (rows) per query.
pub fn duckdb(data_dir: &Path, queries: &[String]) -> Vec<Vec<Vec<serde_json::Value>>> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/duckdb_query.py");
    let mut child = Command::new("python3").arg(script).arg(data_dir).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(queries.join("\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "duckdb: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// psql against the server's PostgreSQL port, unaligned, stopping at the first error.
pub fn psql_command(s: &toolpulse_serve::RunningServer, password: &str) -> std::process::Command {
    let addr = s.pg_addr.expect("the PostgreSQL endpoint is enabled");
    let mut cmd = std::process::Command::new("psql");
    cmd.args(["-X", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &addr.port().to_string(), "-U", "sre", "-d", "toolpulse"])
        .env("PGPASSWORD", password)
        .env("PGSSLMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "10");
    cmd
}

/// A child process killed (SIGKILL) when the test ends, passed or not.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    /// Sends SIGTERM and waits; returns whether the process exited successfully.
    pub fn terminate(&mut self) -> bool {
        unsafe extern "C" {
            fn kill(pid: i32, sig: i32) -> i32;
        }
        const SIGTERM: i32 = 15;
        unsafe { kill(self.0.id() as i32, SIGTERM) };
        self.0.wait().map(|s| s.success()).unwrap_or(false)
    }
}

//! Query figures, side by side with DuckDB, in one run, on a generated store of
//! `EVENTS` (default 20M) tool calls over 24 hours:
//!
//! 1. "p99 latency by (server, tool) per minute over 24 hours": toolpulse over
//!    the raw Parquet (`hdr_percentile`), toolpulse over the rollups: merging
//!    `rollups_1m` histograms (`hdr_percentile(duration_hist, …)`) and reading
//!    `latency_1m` (one row per minute and tool, its p99 kept), DuckDB
//!    (`quantile_cont`) over the same raw files; each in a fresh process, with
//!    its peak RSS. How long `latency_1m` takes to build from the day's rollups
//!    is printed too, and how long a pass of the server's summary job takes
//!    when nothing changed.
//! 2. PromQL `query_range` of p99 by server over 24 h at a 60 s step
//!    (`histogram_quantile` over the bucket counters), and the same question as
//!    SQL on DuckDB.
//!
//! `cargo bench --bench query` (env: `EVENTS`, `BENCH_DIR`, `RUNS`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use toolpulse_gen::{GenSpec, Generator};
use toolpulse_ingest::latency_summary::summarize;
use toolpulse_query::promql::tool_calls::ToolCallMetrics;
use toolpulse_query::promql::{MetricSource, PromEngine};
use toolpulse_query::{QueryConfig, QueryEngine};
use toolpulse_schemas::EventBatchBuilder;
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::{DataDir, FileWriter, Table};

mod common;
use common::env_usize;

const DAY_MS: i64 = 86_400_000;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

/// Generates the store once; returns its end (ms, a minute boundary).
fn dataset(dir: &Path, events: usize) -> i64 {
    let marker = dir.join("complete");
    if let Some(end) = std::fs::read_to_string(&marker).ok().and_then(|s| {
        let (n, end) = s.trim().split_once(' ')?;
        (n.parse::<usize>().ok()? == events).then(|| end.parse::<i64>().ok()).flatten()
    }) {
        return end;
    }
    let _ = std::fs::remove_dir_all(dir);
    let data = DataDir::new(dir);
    data.create().unwrap();
    let files = FileWriter::new(data, WriteOptions::default());
    let end = chrono::Utc::now().timestamp_millis() / 60_000 * 60_000;
    let spec = GenSpec { seed: 3, start_ns: (end - DAY_MS) * 1_000_000, rate: events as f64 / 86_400.0, ..GenSpec::default() };
    let mut generator = Generator::new(spec);
    let started = Instant::now();
    let mut done = 0;
    while done < events {
        let n = (events - done).min(500_000);
        let mut b = EventBatchBuilder::with_capacity(n);
        for e in generator.by_ref().take(n) {
            b.append(&e);
        }
        let batch = b.finish();
        files.write(Table::ToolCalls, std::slice::from_ref(&batch), &[]).unwrap();
        if let Some(r) = toolpulse_ingest::rollup::rollup(std::slice::from_ref(&batch)).unwrap() {
            files.write(Table::Rollups1m, &[r], &[]).unwrap();
        }
        if let Some(r) = toolpulse_ingest::rollup::rollup_agents(std::slice::from_ref(&batch)).unwrap() {
            files.write(Table::RollupsAgents1m, &[r], &[]).unwrap();
        }
        done += n;
        eprintln!("generated {done}/{events} events ({:.0}/s)", done as f64 / started.elapsed().as_secs_f64());
    }
    std::fs::write(&marker, format!("{events} {end}")).unwrap();
    end
}

fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn sql_for(which: &str, end: i64) -> String {
    let (from, to) = (ts(end - DAY_MS), ts(end));
    match which {
        "raw" => format!(
            "SELECT date_trunc('minute', timestamp) AS minute, server, tool, hdr_percentile(duration_ms, 0.99) AS p99 \
             FROM tool_calls WHERE timestamp >= '{from}' AND timestamp < '{to}' GROUP BY 1, 2, 3"
        ),
        "rollups" => format!(
            "SELECT minute, server, tool, hdr_percentile(duration_hist, 0.99) AS p99 \
             FROM rollups_1m WHERE minute >= '{from}' AND minute < '{to}' GROUP BY 1, 2, 3"
        ),
        "summary" => format!("SELECT minute, server, tool, p99_ms AS p99 FROM latency_1m WHERE minute >= '{from}' AND minute < '{to}'"),
        _ => unreachable!(),
    }
}

/// Child mode: runs one measurement and prints `seconds rows peak_mb`.
fn child(which: &str, dir: &Path, end: i64) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let q = QueryEngine::open(DataDir::new(dir), QueryConfig { memory_limit_bytes: 4 << 30, ..QueryConfig::default() }).await.unwrap();
        let started = Instant::now();
        let rows = match which {
            "promql" => {
                let clock: Arc<dyn Fn() -> i64 + Send + Sync> = Arc::new(move || end);
                let sources: Vec<Arc<dyn MetricSource>> = vec![Arc::new(ToolCallMetrics::new(q.context().clone(), clock))];
                let engine = PromEngine::new(sources, std::time::Duration::from_secs(300));
                let v = engine
                    .range("histogram_quantile(0.99, sum by (server, le) (rate(toolpulse_tool_call_duration_seconds_bucket[5m])))", end - DAY_MS, end, 60_000)
                    .await
                    .unwrap();
                match v {
                    toolpulse_query::promql::value::Val::Vector(s) => s.iter().map(|s| s.values.iter().filter(|v| v.is_some()).count()).sum(),
                    _ => 0,
                }
            }
            _ => q.run_user_sql(&sql_for(which, end), None).await.unwrap().0.iter().map(|b| b.num_rows()).sum::<usize>(),
        };
        println!("{} {} {:.0}", started.elapsed().as_secs_f64(), rows, peak_rss_mb());
    });
}

fn run_child(which: &str, dir: &Path, end: i64) -> (f64, usize, f64) {
    let out = Command::new(std::env::current_exe().unwrap()).args(["--child", which, dir.to_str().unwrap(), &end.to_string()]).output().unwrap();
    assert!(out.status.success(), "{which}: {}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.split_whitespace();
    (it.next().unwrap().parse().unwrap(), it.next().unwrap().parse().unwrap(), it.next().unwrap().parse().unwrap())
}

fn duckdb(sql: &str) -> (f64, usize, f64) {
    let script = format!(
        "import duckdb, time, resource\nc = duckdb.connect()\nc.execute('SET enable_progress_bar = false')\nt = time.time()\nn = len(c.execute(\"\"\"{sql}\"\"\").fetchall())\nprint(time.time() - t, n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    );
    let o = Command::new("python3").arg("-c").arg(script).output().expect("python3 with duckdb (scripts/setup.sh)");
    assert!(o.status.success(), "duckdb: {}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    let v: Vec<f64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    (v[0], v[1] as usize, v[2])
}

fn best(runs: usize, mut f: impl FnMut() -> (f64, usize, f64)) -> (f64, usize, f64) {
    let mut all: Vec<(f64, usize, f64)> = (0..runs).map(|_| f()).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all[all.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        return child(&args[2], Path::new(&args[3]), args[4].parse().unwrap());
    }
    let events = env_usize("EVENTS", 20_000_000);
    let runs = env_usize("RUNS", 3);
    let base = std::env::var("BENCH_DIR").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir().join("toolpulse-bench"));
    let dir = base.join(format!("query-{events}"));
    let end = dataset(&dir, events);
    let files = FileWriter::new(DataDir::new(&dir), WriteOptions::default());
    let started = Instant::now();
    let summary = summarize(&files).unwrap();
    if summary.hours_built > 0 {
        println!("latency_1m: {} hours ({} rows) built from rollups_1m in {:.2} s", summary.hours_built, summary.rows, started.elapsed().as_secs_f64());
    }
    // What the server's summary job costs every 10 s when nothing changed.
    let started = Instant::now();
    let idle = summarize(&files).unwrap();
    assert_eq!(idle.hours_built, 0, "nothing changed since the pass before");
    let hours = files.data_dir().partitions(Table::Rollups1m).unwrap().len();
    println!("latency_1m: a pass with nothing to rebuild checks {hours} hours in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    let raw_glob = format!("{}/tool_calls/*/*/*.parquet", dir.display());
    let (from, to) = (ts(end - DAY_MS), ts(end));

    println!("store: {events} events over 24 h in {}", dir.display());
    println!("\n1. p99 latency by (server, tool) per minute over 24 hours (median of {runs})");
    let raw = best(runs, || run_child("raw", &dir, end));
    let rolled = best(runs, || run_child("rollups", &dir, end));
    let summary = best(runs, || run_child("summary", &dir, end));
    let duck = best(runs, || {
        duckdb(&format!(
            "SELECT date_trunc('minute', timestamp) AS minute, server, tool, quantile_cont(duration_ms::DOUBLE, 0.99) FROM read_parquet('{raw_glob}') \
             WHERE timestamp >= TIMESTAMPTZ '{from}' AND timestamp < TIMESTAMPTZ '{to}' GROUP BY ALL"
        ))
    });
    println!("   toolpulse raw      {:8.3} s  {:7} rows  peak RSS {:6.0} MB", raw.0, raw.1, raw.2);
    println!("   toolpulse rollups  {:8.3} s  {:7} rows  peak RSS {:6.0} MB", rolled.0, rolled.1, rolled.2);
    println!("   toolpulse latency_1m {:6.3} s  {:7} rows  peak RSS {:6.0} MB", summary.0, summary.1, summary.2);
    println!("   DuckDB raw         {:8.3} s  {:7} rows  peak RSS {:6.0} MB", duck.0, duck.1, duck.2);
    println!(
        "   raw vs DuckDB: {:.2}x   rollups_1m vs raw: {:.1}x   latency_1m vs raw: {:.1}x",
        duck.0 / raw.0,
        raw.0 / rolled.0,
        raw.0 / summary.0
    );

    println!("\n2. query_range: p99 by server over 24 h at a 60 s step (median of {runs})");
    let prom = best(runs, || run_child("promql", &dir, end));
    let duck = best(runs, || {
        duckdb(&format!(
            "SELECT date_trunc('minute', timestamp) AS minute, server, quantile_cont(duration_ms::DOUBLE, 0.99) FROM read_parquet('{raw_glob}') \
             WHERE timestamp >= TIMESTAMPTZ '{from}' AND timestamp < TIMESTAMPTZ '{to}' GROUP BY ALL"
        ))
    });
    println!("   toolpulse PromQL   {:8.3} s  {:7} points peak RSS {:6.0} MB", prom.0, prom.1, prom.2);
    println!("   DuckDB SQL         {:8.3} s  {:7} rows  peak RSS {:6.0} MB", duck.0, duck.1, duck.2);
}

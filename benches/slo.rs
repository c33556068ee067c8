//! SLO figures:
//!
//! 1. One evaluation of 100 SLOs × 4 window pairs over 30 days of rollups
//!    (50 servers × 20 tools): the first (cold) one, which reads all 30 days,
//!    and the steady ones, after a flush has added to the current hour.
//! 2. Event-to-webhook delay for a sudden outage: a server evaluating every
//!    `INTERVAL` seconds (default 30), an hour of clean traffic, then a burst of
//!    failing calls over HTTP; the time until a real webhook receiver gets the page.
//!
//! `cargo bench --bench slo` (env: `BENCH_DIR`, `DAYS`, `INTERVAL`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, BinaryArray, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use toolpulse_schemas::hdr::{HistogramBuilder, encode};
use toolpulse_schemas::rollup_schema::{LATENCY_BUCKETS_SECONDS, rollups_1m_schema};
use toolpulse_slo::SloEngine;
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::{DataDir, FileWriter, Table};

mod common;
use common::env_usize;

const MIN_MS: i64 = 60_000;
const SERVERS: usize = 50;
const TOOLS: usize = 20;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

/// One hour of rollup rows: per minute and (server, tool) a success row, and
/// for one tool in ten an error row.
fn hour_batch(hour_start_ms: i64, hist: &[u8]) -> RecordBatch {
    let (mut minute, mut server, mut tool, mut outcome) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut calls, mut sum, mut max) = (Vec::new(), Vec::new(), Vec::new());
    for m in 0..60 {
        for s in 0..SERVERS {
            for t in 0..TOOLS {
                let rows: &[(&str, u64)] = if (s + t + m as usize).is_multiple_of(10) { &[("success", 40), ("tool_error", 1)] } else { &[("success", 40)] };
                for (o, c) in rows {
                    minute.push((hour_start_ms + m * MIN_MS) * 1_000_000);
                    server.push(format!("server-{s:02}"));
                    tool.push(format!("tool-{t:02}"));
                    outcome.push(*o);
                    calls.push(*c);
                    sum.push(*c as f64 * 80.0);
                    max.push(400.0);
                }
            }
        }
    }
    let n = minute.len();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampNanosecondArray::from(minute).with_timezone("UTC")),
        Arc::new(StringArray::from(server)),
        Arc::new(StringArray::from(tool)),
        Arc::new(StringArray::from(outcome)),
        Arc::new(StringArray::from(vec![Some("1.0.0"); n])),
        Arc::new(UInt64Array::from(calls.clone())),
        Arc::new(Float64Array::from(sum)),
        Arc::new(Float64Array::from(max)),
        Arc::new(BinaryArray::from(vec![hist; n])),
    ];
    for b in LATENCY_BUCKETS_SECONDS {
        // 90% of calls under 200 ms, all under 1 s.
        cols.push(Arc::new(UInt64Array::from(calls.iter().map(|c| if b >= 1.0 { *c } else if b >= 0.2 { c * 9 / 10 } else { 0 }).collect::<Vec<_>>())));
    }
    RecordBatch::try_new(rollups_1m_schema(), cols).unwrap()
}

fn specs() -> String {
    let mut out = String::new();
    for s in 0..50 {
        out.push_str(&format!("---\nname: avail-{s:02}\nselector: {{server: server-{s:02}}}\nsli: {{kind: success_rate}}\nobjective: 0.999\n"));
    }
    for s in 0..30 {
        out.push_str(&format!(
            "---\nname: latency-{s:02}\nselector: {{server: server-{s:02}}}\nsli: {{kind: latency, threshold_ms: 500}}\nobjective: 0.99\n"
        ));
    }
    for i in 0..20 {
        out.push_str(&format!(
            "---\nname: auth-{i:02}\nselector: {{server: server-{i:02}, tool: \"tool-{:02}\"}}\nsli: {{kind: auth_failure_rate}}\nobjective: 0.99\n",
            i % TOOLS
        ));
    }
    out
}

fn evaluation_bench(base: &Path, days: usize, rt: &tokio::runtime::Runtime) {
    let dir = base.join(format!("slo-{days}d"));
    let data = DataDir::new(&dir);
    let marker = dir.join("complete");
    let files = Arc::new(FileWriter::new(data.clone(), WriteOptions::default()));
    let end = std::fs::read_to_string(&marker).ok().and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or_else(|| {
        let _ = std::fs::remove_dir_all(&dir);
        data.create().unwrap();
        let mut h = HistogramBuilder::new();
        for v in [20.0, 80.0, 150.0, 400.0] {
            h.record_ms(v);
        }
        let hist = encode(&h.finish());
        let end = chrono::Utc::now().timestamp_millis() / 3_600_000 * 3_600_000;
        let hours = days as i64 * 24;
        for i in 0..hours {
            let start = end - (hours - i) * 3_600_000;
            files.write(Table::Rollups1m, &[hour_batch(start, &hist)], &[]).unwrap();
            if i % 24 == 23 {
                eprintln!("wrote {} of {days} days of rollups", (i + 1) / 24);
            }
        }
        std::fs::write(&marker, end.to_string()).unwrap();
        end
    });
    let rows_per_hour = hour_batch(0, &[]).num_rows();
    println!("1. {days} days of rollups: {} rows ({rows_per_hour} per hour), 100 SLOs × 4 window pairs", rows_per_hour * days * 24);
    rt.block_on(async {
        let q = toolpulse_query::QueryEngine::open(data.clone(), Default::default()).await.unwrap();
        let specs = toolpulse_slo::spec::load::load_sources(&[("bench.yaml".into(), specs())]).unwrap();
        assert_eq!(specs.len(), 100);
        let now = Arc::new(AtomicI64::new(end));
        let clock = now.clone();
        let engine = SloEngine::builder(q.context().clone(), data.clone(), specs).clock(Arc::new(move || clock.load(Ordering::SeqCst))).build();
        let started = Instant::now();
        let e = engine.evaluate_at(end).await.unwrap();
        println!("   cold evaluation (reads every hour): {:.2} s, {} hour partitions", started.elapsed().as_secs_f64(), e.partitions_read);
        // Steady state: each round a flush adds a few minutes to the current hour.
        let mut h = HistogramBuilder::new();
        h.record_ms(90.0);
        let hist = encode(&h.finish());
        let mut times = Vec::new();
        for round in 0..10 {
            let at = end + (round + 1) * MIN_MS;
            let b = hour_batch(end, &hist).slice(round as usize * (SERVERS * TOOLS + 100), SERVERS * TOOLS);
            files.write(Table::Rollups1m, &[b], &[]).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            now.store(at, Ordering::SeqCst);
            let started = Instant::now();
            let e = engine.evaluate_at(at).await.unwrap();
            times.push((started.elapsed().as_secs_f64() * 1000.0, e.partitions_read));
        }
        let mut ms: Vec<f64> = times.iter().map(|t| t.0).collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "   steady evaluation after a flush: median {:.1} ms, max {:.1} ms (hour partitions re-read per evaluation: {:?})",
            ms[ms.len() / 2],
            ms[ms.len() - 1],
            times.iter().map(|t| t.1).collect::<Vec<_>>()
        );
        let started = Instant::now();
        let st = engine.statuses_at(&[end + 10 * MIN_MS]).await;
        println!("   window arithmetic alone for 100 SLOs: {:.3} ms ({} statuses)", started.elapsed().as_secs_f64() * 1000.0, st[0].len());
        println!("   peak RSS {:.0} MB", peak_rss_mb());
    });
}

fn webhook_bench(base: &Path, interval: u64, rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let got: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let g = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let g = g.clone();
                async move {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    if v["status"] == "firing" && v["alerts"].as_array().unwrap().iter().any(|a| a["labels"]["severity"] == "page") {
                        g.lock().unwrap().get_or_insert(Instant::now());
                    }
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let dir = base.join("slo-webhook");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("slos")).unwrap();
        std::fs::write(
            dir.join("slos/bench.yaml"),
            "name: bench-availability\nselector: {server: bench}\nsli: {kind: success_rate}\nobjective: 0.999\nalerting: {no_data: false, budget_exhausted: false}\n",
        )
        .unwrap();
        let mut cfg = toolpulse_serve::Config { data_dir: dir.join("data"), ..toolpulse_serve::Config::default() };
        cfg.server.listen = "127.0.0.1:0".parse().unwrap();
        cfg.server.token = "bench".into();
        cfg.pgwire.enabled = false;
        cfg.otlp.grpc_enabled = false;
        cfg.slo.dir = Some(dir.join("slos"));
        cfg.slo.interval = Duration::from_secs(interval);
        cfg.slo.receivers = vec![toolpulse_slo::notify::ReceiverConfig::new("bench", hook)];
        let server = toolpulse_serve::Server::start(cfg).await.unwrap();
        let url = format!("http://{}/v1/events", server.addr);
        let client = reqwest::Client::new();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let event = |i: usize, ts: i64, outcome: &str| {
            format!(
                "{{\"event_id\":\"{}\",\"timestamp\":{ts},\"duration_ms\":12.5,\"server\":\"bench\",\"tool\":\"t\",\"outcome\":\"{outcome}\"}}\n",
                uuid::Uuid::from_u128(i as u128)
            )
        };
        // An hour of clean traffic, 20 calls a second.
        let mut body = String::new();
        for i in 0..72_000 {
            body.push_str(&event(i, now_ms - 3_600_000 + i as i64 * 50, "success"));
        }
        client.post(&url).bearer_auth("bench").body(body).send().await.unwrap().error_for_status().unwrap();
        tokio::time::sleep(Duration::from_secs(interval + 2)).await;
        assert!(got.lock().unwrap().is_none());
        // The outage: 2,000 failing calls now (2.7% of the last hour, ~100% of the last 5 minutes).
        let mut body = String::new();
        let t = chrono::Utc::now().timestamp_millis();
        for i in 0..2_000 {
            body.push_str(&event(100_000 + i, t - 1_000 + i as i64 / 2, "tool_error"));
        }
        let sent = Instant::now();
        client.post(&url).bearer_auth("bench").body(body).send().await.unwrap().error_for_status().unwrap();
        let acked = sent.elapsed();
        let deadline = Instant::now() + Duration::from_secs(interval * 3 + 30);
        while got.lock().unwrap().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let at = got.lock().unwrap().expect("the page webhook arrived");
        println!(
            "2. event-to-webhook delay, evaluation every {interval} s: {:.2} s (ingest acknowledged durable after {:.2} s; target ≤ {} s)",
            at.duration_since(sent).as_secs_f64(),
            acked.as_secs_f64(),
            interval + 5
        );
        server.shutdown().await.unwrap();
    });
}

fn main() {
    let base = std::env::var("BENCH_DIR").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir().join("toolpulse-bench"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    evaluation_bench(&base, env_usize("DAYS", 30), &rt);
    webhook_bench(&base, env_usize("INTERVAL", 30) as u64, &rt);
}

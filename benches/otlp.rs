//! OTLP/HTTP protobuf ingest: a `toolpulse serve` child process takes
//! `SPANS` (default 2M) spans — half of them MCP tool calls — in exports of
//! 1,000 spans from `CLIENTS` concurrent clients (default 10, an OpenTelemetry
//! Collector exporter's default sending-queue consumers); spans per second
//! from the first request to the last durable answer, and the server's peak RSS.
//!
//! `cargo bench --bench otlp` (env: `SPANS`, `CLIENTS`, `BENCH_DIR`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};
use prost::Message;

mod common;
use common::env_usize;

const BATCH: usize = 1000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }), ..Default::default() }
}

/// One export: 1,000 spans in 500 traces of an agent span and an MCP tool call.
fn export(batch: usize, now_ns: u64) -> Vec<u8> {
    let tools = ["get_issue", "search", "list_files", "query", "post_message"];
    let servers = ["github", "jira", "filesystem", "postgres", "slack"];
    let mut spans = Vec::with_capacity(BATCH);
    for i in 0..BATCH / 2 {
        let n = (batch * BATCH / 2 + i) as u128 + 1;
        let trace = n.to_be_bytes().to_vec();
        let start = now_ns - 60_000_000_000 + (i as u64) * 1_000_000;
        spans.push(Span {
            trace_id: trace.clone(),
            span_id: (n as u64 * 2).to_be_bytes().to_vec(),
            name: "invoke_agent".into(),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 80_000_000,
            attributes: vec![kv("gen_ai.operation.name", "invoke_agent"), kv("gen_ai.agent.id", "bench-agent")],
            ..Default::default()
        });
        spans.push(Span {
            trace_id: trace,
            span_id: (n as u64 * 2 + 1).to_be_bytes().to_vec(),
            parent_span_id: (n as u64 * 2).to_be_bytes().to_vec(),
            name: format!("tools/call {}", tools[i % 5]),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: start + 1_000_000,
            end_time_unix_nano: start + 1_000_000 + (i as u64 % 200) * 1_000_000,
            attributes: vec![
                kv("mcp.method.name", "tools/call"),
                kv("gen_ai.tool.name", tools[i % 5]),
                kv("server.address", servers[i % 5]),
                kv("gen_ai.agent.id", "bench-agent"),
                kv("mcp.protocol.version", "2025-06-18"),
            ],
            ..Default::default()
        });
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", "mcp-gateway")], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

fn main() {
    let total = env_usize("SPANS", 2_000_000);
    let clients = env_usize("CLIENTS", 10);
    let base = std::env::var("BENCH_DIR").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir().join("toolpulse-bench"));
    let data = base.join("otlp-data");
    let _ = std::fs::remove_dir_all(&data);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_toolpulse"))
        .args(["serve", "--pg-listen", "off", "--otlp-grpc-listen", "off", "--listen", &format!("127.0.0.1:{port}"), "--data-dir", data.to_str().unwrap()])
        .env("TOOLPULSE_TOKEN", "bench")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("toolpulse binary");
    let url = format!("http://127.0.0.1:{port}/v1/traces");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap() as u64;
        let batches = total / BATCH;
        let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..batches).map(|b| export(b, now)).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (client, url, bodies, next) = (client.clone(), url.clone(), bodies.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= bodies.len() {
                        return;
                    }
                    loop {
                        let r = client
                            .post(&url)
                            .bearer_auth("bench")
                            .header("content-type", "application/x-protobuf")
                            .body(bodies[i].clone())
                            .send()
                            .await
                            .unwrap();
                        if r.status().is_success() {
                            break;
                        }
                        assert_eq!(r.status().as_u16(), 503, "{}", r.text().await.unwrap_or_default());
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "OTLP/HTTP protobuf: {} spans ({} tool calls) durable in {secs:.2} s = {:.0} spans/s with {clients} clients; server peak RSS {:.0} MB",
            batches * BATCH,
            batches * BATCH / 2,
            (batches * BATCH) as f64 / secs,
            peak_rss_mb(child.id())
        );
    });
    let _ = child.kill();
    let _ = child.wait();
}

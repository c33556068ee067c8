//! OTLP trace ingest: the Python OpenTelemetry SDK sends MCP spans over
//! OTLP/HTTP and OTLP/gRPC; a Rust client sends over OTLP/gRPC (and reads the
//! partial success); malformed bodies are refused
//! with a reason and a bad span does not cost its neighbours.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};
use prost::Message;
use reqwest::StatusCode;
use serde_json::Value;
use toolpulse_serve::{RunningServer, Server};

const TOKEN: &str = "otlp-token";

async fn start(dir: &std::path::Path) -> RunningServer {
    let mut cfg = common::server_config(dir, TOKEN);
    cfg.pgwire.enabled = false;
    Server::start(cfg).await.unwrap()
}

async fn sql(s: &RunningServer, q: &str) -> Vec<Value> {
    let r = reqwest::Client::new().post(format!("http://{}/api/v1/sql", s.addr)).bearer_auth(TOKEN).body(q.to_owned()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{q}");
    r.json::<Value>().await.unwrap().as_array().unwrap().clone()
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }), ..Default::default() }
}

fn span(trace: [u8; 16], id: u8, parent: Option<u8>, tool: &str, start_ns: u64) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: parent.map(|p| vec![0, 0, 0, 0, 0, 0, 0, p]).unwrap_or_default(),
        name: format!("tools/call {tool}"),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start_ns,
        end_time_unix_nano: start_ns + 25_000_000,
        attributes: vec![kv("mcp.method.name", "tools/call"), kv("gen_ai.tool.name", tool)],
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", "filesystem")], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// Runs the Python SDK's exporter (`tests/peers/otlp_send.py`) against `s` with
/// the given compression (or encoding); returns the tool calls it says it made.
async fn python_sdk_export(s: &RunningServer, compression: &'static str) -> Vec<Value> {
    let endpoint = match compression {
        "grpc" => format!("http://{}", s.otlp_grpc_addr.unwrap()),
        _ => format!("http://{}/v1/traces", s.addr),
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/otlp_send.py");
    let run = move || Command::new("python3").args([script, &endpoint, TOKEN, compression]).output().unwrap();
    let out = tokio::task::spawn_blocking(run).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(expected.len(), 6);
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_spans_become_tool_calls_spans_and_chains() {
    spans_become_tool_calls_spans_and_chains("gzip").await;
}

/// The same spans as protobuf's canonical JSON (`json_format`): ids in base64,
/// enums by name, 64-bit integers as strings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_in_protobufs_canonical_json_become_the_same_tool_calls() {
    spans_become_tool_calls_spans_and_chains("protojson").await;
}

async fn spans_become_tool_calls_spans_and_chains(mode: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let expected = python_sdk_export(&s, mode).await;

    // The SDK's exporter waits for our answer, which comes once the rows are durable.
    let rows = sql(&s, "SELECT encode(CAST(trace_id AS BYTEA), 'hex') AS t, encode(CAST(span_id AS BYTEA), 'hex') AS s, server, tool, outcome, chain_depth, agent_id, protocol_version, transport, input_tokens, output_tokens, route FROM tool_calls").await;
    let got: BTreeMap<String, &Value> = rows.iter().map(|r| (r["s"].as_str().unwrap().to_owned(), r)).collect();
    assert_eq!(got.len(), 6, "one tool call per server span, client spans not counted twice: {rows:?}");
    for e in &expected {
        let r = got.get(e["span_id"].as_str().unwrap()).unwrap_or_else(|| panic!("no row for {e}"));
        assert_eq!(r["t"], e["trace_id"]);
        assert_eq!((&r["server"], &r["tool"], &r["outcome"]), (&e["server"], &e["tool"], &e["outcome"]), "{e}");
        assert_eq!(r["chain_depth"], e["depth"], "{e}");
        assert_eq!((&r["input_tokens"], &r["output_tokens"], &r["route"]), (&e["input_tokens"], &e["output_tokens"], &e["route"]), "{e}");
        assert_eq!(r["protocol_version"], "2025-06-18");
        assert_eq!(r["transport"], "streamable_http");
    }
    assert!(rows.iter().any(|r| r["agent_id"] == "intruder" && r["outcome"] == "auth_failure"));

    // Every span is kept: 6 calls × (client + server), the agent span, tools/list.
    let spans = sql(&s, "SELECT kind, count(*) AS n FROM spans GROUP BY kind ORDER BY kind").await;
    let by_kind: BTreeMap<&str, u64> = spans.iter().map(|r| (r["kind"].as_str().unwrap(), r["n"].as_u64().unwrap())).collect();
    assert_eq!(by_kind, BTreeMap::from([("client", 6), ("internal", 1), ("server", 7)]));
    let svc = sql(&s, "SELECT DISTINCT service_name FROM spans").await;
    assert_eq!(svc[0]["service_name"], "mcp-gateway");
    // Typed attributes as text: arrays as JSON, numbers and booleans as JSON literals.
    let listed = sql(&s, "SELECT attributes FROM spans WHERE name = 'tools/list'").await;
    let attrs = &listed[0]["attributes"];
    assert_eq!(attrs["app.tags"], r#"["eu","beta,internal"]"#, "{attrs}");
    assert_eq!((&attrs["app.retries"], &attrs["app.sample_ratio"], &attrs["app.cached"]), (&Value::from("3"), &Value::from("0.25"), &Value::from("true")), "{attrs}");

    // The chain github → jira → postgres is one trace of depth 3.
    let chains = sql(&s, "SELECT depth, calls, servers, duration_ms FROM tool_chains ORDER BY depth DESC").await;
    assert_eq!(chains.len(), 1, "all calls share the agent's trace: {chains:?}");
    assert_eq!((chains[0]["depth"].as_u64(), chains[0]["calls"].as_u64(), chains[0]["servers"].as_u64()), (Some(3), Some(6), Some(4)));
    assert!(chains[0]["duration_ms"].as_f64().unwrap() >= 0.0);
    s.shutdown().await.unwrap();
}

/// The SDK's HTTP exporter also offers deflate (a zlib stream) and no
/// compression; its gRPC exporter sends gzip with the token as metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_deflate_uncompressed_and_grpc_exports_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let mut expected = python_sdk_export(&s, "deflate").await;
    expected.extend(python_sdk_export(&s, "none").await);
    expected.extend(python_sdk_export(&s, "grpc").await);
    let rows = sql(&s, "SELECT encode(CAST(span_id AS BYTEA), 'hex') AS s, outcome FROM tool_calls").await;
    let got: BTreeMap<&str, &Value> = rows.iter().map(|r| (r["s"].as_str().unwrap(), &r["outcome"])).collect();
    assert_eq!(got.len(), 18, "{rows:?}");
    for e in &expected {
        assert_eq!(got.get(e["span_id"].as_str().unwrap()).copied(), Some(&e["outcome"]), "{e}");
    }
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_with_token_and_partial_success_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap() as u64;
    let trace = [7u8; 16];

    // OTLP/gRPC from a Rust client (tonic), with the token as bearer metadata.
    let url = format!("http://{}", s.otlp_grpc_addr.unwrap());
    let mut client = TraceServiceClient::connect(url.clone()).await.unwrap();
    let mut req = tonic::Request::new(request(vec![span(trace, 1, None, "read_file", now - 5_000_000_000), span(trace, 2, Some(1), "write_file", now - 4_000_000_000)]));
    req.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let resp = client.export(req).await.unwrap().into_inner();
    assert_eq!(resp.partial_success, None);
    let rows = sql(&s, "SELECT server, tool, chain_depth FROM tool_calls ORDER BY tool").await;
    assert_eq!(rows.len(), 2);
    assert_eq!((&rows[0]["server"], &rows[0]["tool"], &rows[0]["chain_depth"]), (&Value::from("filesystem"), &Value::from("read_file"), &Value::from(1)));
    assert_eq!(rows[1]["chain_depth"], 2);
    // The same export again (an exporter's retry) stores nothing twice.
    let mut again = tonic::Request::new(request(vec![span(trace, 1, None, "read_file", now - 5_000_000_000)]));
    again.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    client.export(again).await.unwrap();
    assert_eq!(sql(&s, "SELECT count(*) AS n FROM tool_calls").await[0]["n"], 2);
    assert_eq!(sql(&s, "SELECT count(*) AS n FROM spans").await[0]["n"], 2);
    // No token: refused.
    let err = client.export(tonic::Request::new(request(vec![]))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // OTLP/HTTP protobuf: one span with a 3-byte trace id among two good ones.
    let mut bad = span(trace, 3, None, "list_dir", now - 3_000_000_000);
    bad.trace_id = vec![1, 2, 3];
    let body = request(vec![span([9; 16], 4, None, "stat", now - 2_000_000_000), bad, span([9; 16], 5, Some(4), "stat", now - 1_000_000_000)]).encode_to_vec();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{}/v1/traces", s.addr))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let resp = ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
    let partial = resp.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("trace_id") && partial.error_message.contains("16 bytes"), "{}", partial.error_message);
    assert_eq!(sql(&s, "SELECT count(*) AS n FROM tool_calls WHERE tool = 'stat'").await[0]["n"], 2, "the good spans are kept");
    let dead = sql(&s, "SELECT source, field, reason FROM dead_letters").await;
    assert!(dead.iter().any(|d| d["source"] == "otlp" && d["field"] == "trace_id"), "{dead:?}");

    // Malformed bodies: 400 with a reason, in the request's encoding.
    let r = http.post(format!("http://{}/v1/traces", s.addr)).bearer_auth(TOKEN).header("content-type", "application/x-protobuf").body(vec![0xff, 0xff, 0xff]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let status: Vec<u8> = r.bytes().await.unwrap().to_vec();
    assert!(String::from_utf8_lossy(&status).contains("invalid OTLP protobuf"));
    let r = http.post(format!("http://{}/v1/traces", s.addr)).bearer_auth(TOKEN).header("content-type", "application/json").body("{\"resourceSpans\": 5}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("invalid OTLP JSON"), "{v}");
    // A coding the server does not know: 415, naming the ones it does.
    let r = http
        .post(format!("http://{}/v1/traces", s.addr))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("content-encoding", "snappy")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.headers()["accept-encoding"], "gzip, zstd, deflate");
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("\"snappy\""), "{v}");
    // OTLP/JSON works too.
    let json = serde_json::json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "notes"}}]},
        "scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "tools/call note",
        "kind": 2, "startTimeUnixNano": (now - 500_000_000).to_string(), "endTimeUnixNano": now.to_string(),
        "attributes": [{"key": "mcp.method.name", "value": {"stringValue": "tools/call"}}, {"key": "gen_ai.tool.name", "value": {"stringValue": "note"}},
                       {"key": "error.type", "value": {"stringValue": "tool_error"}}]}]}]}]});
    let r = http.post(format!("http://{}/v1/traces", s.addr)).bearer_auth(TOKEN).json(&json).send().await.unwrap();
    let status = r.status();
    // A full success: an empty ExportTraceServiceResponse in protobuf's JSON mapping.
    assert_eq!((status, r.text().await.unwrap().as_str()), (StatusCode::OK, "{}"));
    let rows = sql(&s, "SELECT server, outcome, duration_ms FROM tool_calls WHERE tool = 'note'").await;
    assert_eq!((&rows[0]["server"], &rows[0]["outcome"], rows[0]["duration_ms"].as_f64()), (&Value::from("notes"), &Value::from("tool_error"), Some(500.0)));
    // No token over HTTP: 401.
    let r = http.post(format!("http://{}/v1/traces", s.addr)).body(vec![]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    s.shutdown().await.unwrap();
}

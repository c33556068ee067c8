//! Which spans are MCP tool calls, and the audit event each becomes, following
//! the MCP and GenAI OpenTelemetry semantic conventions:
//!
//! - a span is a tool call when `mcp.method.name` is `tools/call` or
//!   `gen_ai.operation.name` is `execute_tool` (other MCP methods stay in
//!   `spans` only);
//! - tool: `gen_ai.tool.name`; server: `server.address` (span, then resource),
//!   else the resource's `service.name` (or the reverse, by configuration);
//! - outcome, first match wins: HTTP 401 (or 403 with `insufficient_scope`) →
//!   `auth_failure`; 403 → `denied`; 429 → `rate_limited`; `error.type`
//!   `tool_error` → `tool_error`; `error.type` naming a timeout or cancellation,
//!   or JSON-RPC code −32001 → `timeout`; any other `error.type`, a JSON-RPC error
//!   code (`rpc.response.status_code`, `rpc.status_code`, `jsonrpc.error.code`)
//!   or an error status → `protocol_error`; else `success`;
//! - agent from `gen_ai.agent.id`/`.name`, protocol version from
//!   `mcp.protocol.version`, transport from `network.transport` (`pipe` is stdio,
//!   `tcp`/`quic` streamable HTTP) or `mcp.transport`, tokens from
//!   `gen_ai.usage.input_tokens`/`output_tokens` (or the older `prompt_tokens`/
//!   `completion_tokens`), route from `http.route`;
//! - the event id is derived from the trace and span ids, so a span exported
//!   twice is stored once, and a call that also arrives as an audit event with
//!   the same trace and span ids is counted once (the first to arrive is kept).
//!
//! A client span whose server span (its child) is in the same export is left
//! out, so a call both sides report counts once.

use serde_json::{Map, Value, json};
use toolpulse_schemas::ids::{SpanId, TraceId, span_event_id, to_hex};
use toolpulse_schemas::span_schema::SpanRow;

/// Where a tool call's server name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerName {
    /// `server.address`, else `service.name`.
    #[default]
    ServerAddress,
    /// `service.name`, else `server.address`.
    ServiceName,
}

fn attr<'a>(s: &'a SpanRow, key: &str) -> Option<&'a str> {
    s.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn resource_attr<'a>(s: &'a SpanRow, key: &str) -> Option<&'a str> {
    s.resource_attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Whether a span is an MCP tool call.
pub fn is_tool_call(s: &SpanRow) -> bool {
    attr(s, "mcp.method.name") == Some("tools/call") || attr(s, "gen_ai.operation.name") == Some("execute_tool")
}

fn outcome(s: &SpanRow) -> &'static str {
    let http = attr(s, "http.response.status_code").or(attr(s, "http.status_code")).and_then(|v| v.parse::<u16>().ok());
    let error_type = attr(s, "error.type").unwrap_or("");
    let rpc_code = ["rpc.response.status_code", "rpc.status_code", "jsonrpc.error.code", "mcp.error.code"]
        .iter()
        .find_map(|k| attr(s, k))
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|c| *c != 0);
    let lower = error_type.to_ascii_lowercase();
    match http {
        Some(401) => return "auth_failure",
        Some(403) if lower.contains("insufficient_scope") || s.status_message.as_deref().is_some_and(|m| m.contains("insufficient_scope")) => {
            return "auth_failure";
        }
        Some(403) => return "denied",
        Some(429) => return "rate_limited",
        _ => {}
    }
    if error_type == "tool_error" {
        return "tool_error";
    }
    if lower.contains("timeout") || lower.contains("timed_out") || lower.contains("cancel") || lower.contains("deadline") || rpc_code == Some(-32001) {
        return "timeout";
    }
    if !error_type.is_empty() && error_type != "_OTHER" || rpc_code.is_some() || s.status_code == "error" {
        return "protocol_error";
    }
    "success"
}

fn transport(s: &SpanRow) -> Option<&'static str> {
    match attr(s, "mcp.transport").or(attr(s, "network.transport"))? {
        "pipe" | "stdio" | "unix" => Some("stdio"),
        "tcp" | "quic" | "http" | "streamable_http" | "streamable-http" => Some("streamable_http"),
        "sse" => Some("sse"),
        _ => None,
    }
}

/// The audit event (as contract JSON) of a tool-call span at `depth` in its chain.
pub fn audit_json(s: &SpanRow, depth: u16, server_name: ServerName) -> Value {
    let address = attr(s, "server.address").or(resource_attr(s, "server.address"));
    let service = s.service_name.as_deref();
    let server = match server_name {
        ServerName::ServerAddress => address.or(service),
        ServerName::ServiceName => service.or(address),
    };
    let key = span_event_id(&s.trace_id, &s.span_id);
    let mut m = Map::new();
    m.insert("event_id".into(), json!(uuid::Uuid::from_bytes(key).hyphenated().to_string()));
    m.insert("timestamp".into(), json!(s.start_ns));
    m.insert("duration_ms".into(), json!((s.end_ns - s.start_ns).max(0) as f64 / 1e6));
    m.insert("server".into(), json!(server.unwrap_or("")));
    m.insert("tool".into(), json!(attr(s, "gen_ai.tool.name").unwrap_or("")));
    m.insert("outcome".into(), json!(outcome(s)));
    m.insert("mcp_method".into(), json!(attr(s, "mcp.method.name").unwrap_or("tools/call")));
    m.insert("trace_id".into(), json!(to_hex(&s.trace_id)));
    m.insert("span_id".into(), json!(to_hex(&s.span_id)));
    if let Some(p) = s.parent_span_id {
        m.insert("parent_span_id".into(), json!(to_hex(&p)));
    }
    m.insert("chain_depth".into(), json!(depth));
    let text = |m: &mut Map<String, Value>, field: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            m.insert(field.into(), json!(v));
        }
    };
    text(&mut m, "agent_id", attr(s, "gen_ai.agent.id"));
    text(&mut m, "agent_name", attr(s, "gen_ai.agent.name"));
    text(&mut m, "protocol_version", attr(s, "mcp.protocol.version"));
    text(&mut m, "server_version", resource_attr(s, "service.version"));
    text(&mut m, "user_id", attr(s, "enduser.id").or(attr(s, "user.id")));
    text(&mut m, "tenant", attr(s, "tenant.id").or(attr(s, "tenant")).or(resource_attr(s, "tenant.id")));
    text(&mut m, "client_name", attr(s, "mcp.client.name").or(attr(s, "client.name")));
    text(&mut m, "route", attr(s, "http.route"));
    text(&mut m, "transport", transport(s));
    text(&mut m, "error_type", attr(s, "error.type"));
    text(&mut m, "error_message", s.status_message.as_deref());
    if let Some(code) = ["rpc.response.status_code", "rpc.status_code", "jsonrpc.error.code"].iter().find_map(|k| attr(s, k)).and_then(|v| v.parse::<i32>().ok()) {
        m.insert("jsonrpc_error_code".into(), json!(code));
    }
    if let Some(code) = attr(s, "http.response.status_code").and_then(|v| v.parse::<u16>().ok()) {
        m.insert("http_status".into(), json!(code));
    }
    // Token usage, by the current names or the ones they replaced.
    for (field, keys) in [
        ("input_tokens", ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]),
        ("output_tokens", ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"]),
    ] {
        if let Some(n) = keys.iter().find_map(|k| attr(s, k)).and_then(|v| v.parse::<u64>().ok()) {
            m.insert(field.into(), json!(n));
        }
    }
    let mut attrs = Map::new();
    attrs.insert("otel.span_name".into(), json!(s.name));
    if let Some(sid) = attr(s, "mcp.session.id") {
        attrs.insert("mcp.session.id".into(), json!(sid));
    }
    m.insert("attributes".into(), Value::Object(attrs));
    Value::Object(m)
}

/// For each tool-call span of an export, its depth in its chain of MCP calls (1
/// when called by the agent): one plus the tool calls among its ancestors that
/// the export holds. Client spans whose server-side child is a tool call in the
/// same export are marked to be left out.
pub fn chain(spans: &[SpanRow]) -> Vec<Option<u16>> {
    use std::collections::HashMap;
    let by_id: HashMap<(TraceId, SpanId), usize> = spans.iter().enumerate().map(|(i, s)| ((s.trace_id, s.span_id), i)).collect();
    let calls: Vec<bool> = spans.iter().map(is_tool_call).collect();
    // A client span with a tool-call child in the same trace is the same call seen from the caller.
    let mut shadowed = vec![false; spans.len()];
    for (i, s) in spans.iter().enumerate() {
        if calls[i]
            && s.kind == "server"
            && let Some(&p) = s.parent_span_id.and_then(|p| by_id.get(&(s.trace_id, p)))
            && calls[p]
            && spans[p].kind == "client"
        {
            shadowed[p] = true;
        }
    }
    spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if !calls[i] || shadowed[i] {
                return None;
            }
            let mut depth = 1u16;
            let mut cur = s.parent_span_id;
            let mut hops = 0;
            while let Some(&p) = cur.and_then(|p| by_id.get(&(s.trace_id, p))) {
                if calls[p] && !shadowed[p] {
                    depth = depth.saturating_add(1);
                }
                cur = spans[p].parent_span_id;
                hops += 1;
                if hops > 256 {
                    break;
                }
            }
            Some(depth)
        })
        .collect()
}

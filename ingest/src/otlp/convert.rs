//! An OTLP export request to rows: every valid span for the `spans` table, the
//! MCP tool calls among them as contract-validated audit events (see
//! [`super::mcp`]), and a dead letter, with its reason, for each span that could
//! not be kept (malformed ids or times) or whose tool call fails the contract.

use arrow::array::RecordBatch;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use toolpulse_schemas::span_schema::{SpanBatchBuilder, SpanRow};
use toolpulse_schemas::{DeadLetter, DeadLetterSource, DecodeLimits, EventBatchBuilder, decode_event};

use super::attribute_text::any_text;
use super::mcp::{ServerName, audit_json, chain};

/// What one export became.
#[derive(Debug, Default)]
pub struct Converted {
    pub spans: Option<RecordBatch>,
    pub events: Option<RecordBatch>,
    pub dead: Vec<DeadLetter>,
    pub accepted_spans: usize,
    pub rejected_spans: usize,
    pub tool_calls: usize,
    /// Tool-call spans kept as spans whose tool call failed the contract.
    pub rejected_tool_calls: usize,
    /// The first rejection's reason, for the partial-success message.
    pub first_error: Option<String>,
}

/// Options of the mapping.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    pub limits: DecodeLimits,
    pub server_name: ServerName,
}

fn attributes(kv: &[KeyValue]) -> Vec<(String, String)> {
    kv.iter().map(|k| (k.key.clone(), k.value.as_ref().map(any_text).unwrap_or_default())).collect()
}

fn kind(k: i32) -> &'static str {
    match SpanKind::try_from(k) {
        Ok(SpanKind::Internal) => "internal",
        Ok(SpanKind::Server) => "server",
        Ok(SpanKind::Client) => "client",
        Ok(SpanKind::Producer) => "producer",
        Ok(SpanKind::Consumer) => "consumer",
        _ => "unspecified",
    }
}

/// Checks and converts one span; `Err` names the field and the reason.
fn row(span: &Span, resource: &[(String, String)], service: Option<&str>, scope: Option<&str>) -> Result<SpanRow, (String, String)> {
    let bad = |field: &str, reason: String| Err((field.to_owned(), reason));
    let Ok(trace_id) = <[u8; 16]>::try_from(span.trace_id.as_slice()) else {
        return bad("trace_id", format!("must be 16 bytes, got {}", span.trace_id.len()));
    };
    let Ok(span_id) = <[u8; 8]>::try_from(span.span_id.as_slice()) else {
        return bad("span_id", format!("must be 8 bytes, got {}", span.span_id.len()));
    };
    if trace_id == [0; 16] {
        return bad("trace_id", "is all zeros".into());
    }
    if span_id == [0; 8] {
        return bad("span_id", "is all zeros".into());
    }
    let parent_span_id = match span.parent_span_id.len() {
        0 => None,
        8 => Some(<[u8; 8]>::try_from(span.parent_span_id.as_slice()).unwrap_or_default()).filter(|p| *p != [0; 8]),
        n => return bad("parent_span_id", format!("must be 8 bytes or empty, got {n}")),
    };
    let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
    if start == 0 || start > i64::MAX as u64 {
        return bad("start_time_unix_nano", format!("{start} is not a time"));
    }
    if end < start || end > i64::MAX as u64 {
        return bad("end_time_unix_nano", format!("{end} is before the start {start}"));
    }
    let (status_code, status_message) = match &span.status {
        Some(st) => (
            match StatusCode::try_from(st.code) {
                Ok(StatusCode::Ok) => "ok",
                Ok(StatusCode::Error) => "error",
                _ => "unset",
            },
            Some(st.message.clone()).filter(|m| !m.is_empty()),
        ),
        None => ("unset", None),
    };
    Ok(SpanRow {
        trace_id,
        span_id,
        parent_span_id,
        name: span.name.clone(),
        kind: kind(span.kind),
        start_ns: start as i64,
        end_ns: end as i64,
        status_code,
        status_message,
        service_name: service.map(str::to_owned),
        scope_name: scope.map(str::to_owned),
        attributes: attributes(&span.attributes),
        resource_attributes: resource.to_vec(),
    })
}

/// Converts one export request received at `now_ns`.
pub fn convert(req: &ExportTraceServiceRequest, opts: &ConvertOptions, request_id: &str, now_ns: i64) -> Converted {
    let mut out = Converted::default();
    let mut rows = Vec::new();
    let mut index = 0u64;
    // `span_lost`: the span itself is not stored (it counts as rejected for OTLP).
    let reject = |out: &mut Converted, index: u64, field: &str, code: &str, reason: String, raw: String, span_lost: bool| {
        let message = format!("span {index}: {field}: {reason}");
        out.first_error.get_or_insert(message.clone());
        if span_lost {
            out.rejected_spans += 1;
        } else {
            out.rejected_tool_calls += 1;
        }
        out.dead.push(DeadLetter {
            received_at_ns: now_ns,
            source: DeadLetterSource::Otlp { request_id: request_id.to_owned(), line: index },
            field: Some(field.to_owned()),
            error_code: code.to_owned(),
            reason: message,
            raw: raw.as_bytes()[..raw.len().min(toolpulse_schemas::dead_letter::MAX_RAW_BYTES)].to_vec(),
            raw_len: raw.len() as u64,
        });
    };
    for rs in &req.resource_spans {
        let resource = rs.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        let service = resource.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone());
        for ss in &rs.scope_spans {
            let scope = ss.scope.as_ref().map(|s| s.name.clone()).filter(|n| !n.is_empty());
            for span in &ss.spans {
                index += 1;
                match row(span, &resource, service.as_deref(), scope.as_deref()) {
                    Ok(r) => rows.push((index, r)),
                    Err((field, reason)) => reject(&mut out, index, &field, "invalid_span", reason, format!("{span:?}"), true),
                }
            }
        }
    }
    let spans: Vec<SpanRow> = rows.iter().map(|(_, r)| r.clone()).collect();
    let depths = chain(&spans);
    let mut span_batch = SpanBatchBuilder::default();
    let mut events = EventBatchBuilder::with_capacity(16);
    for ((index, r), depth) in rows.iter().zip(depths) {
        if let Err(e) = span_batch.append(r) {
            reject(&mut out, *index, "span", "invalid_span", e.to_string(), r.name.clone(), true);
            continue;
        }
        out.accepted_spans += 1;
        let Some(depth) = depth else { continue };
        let json = serde_json::to_vec(&audit_json(r, depth, opts.server_name)).unwrap_or_default();
        match decode_event(&json, &opts.limits, now_ns) {
            Ok(e) => {
                events.append(&e);
                out.tool_calls += 1;
            }
            Err(e) => {
                let field = e.field().unwrap_or("span").to_owned();
                let raw = String::from_utf8_lossy(&json).into_owned();
                reject(&mut out, *index, &field, e.reason.code(), format!("the tool call {}", e.reason), raw, false);
            }
        }
    }
    out.spans = (!span_batch.is_empty()).then(|| span_batch.finish()).and_then(Result::ok);
    out.events = (!events.is_empty()).then(|| events.finish());
    out
}

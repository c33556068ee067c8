//! OTLP/JSON request bodies. The OTLP specification writes enums as integers
//! (`"kind": 2`) and trace and span ids in hex, while protobuf's canonical JSON
//! mapping, which Go's `protojson`, Python's `json_format` and tools built on
//! them write, uses the enums' names (`"kind": "SPAN_KIND_SERVER"`,
//! `"code": "STATUS_CODE_ERROR"`) and base64 for ids (bytes fields); both are
//! read. A body as the specification writes it is parsed once; only one that
//! fails is read again with names turned into numbers and base64 ids into hex.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::Value;
use toolpulse_schemas::ids::to_hex;

/// The export in `bytes`, or why it is not one.
pub fn decode_request(bytes: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let first = match serde_json::from_slice(bytes) {
        Ok(req) => return Ok(req),
        Err(e) => format!("invalid OTLP JSON: {e}"),
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(bytes) else { return Err(first) };
    if !canonical_to_otlp(&mut value) {
        return Err(first);
    }
    serde_json::from_value(value).map_err(|_| first)
}

const SPAN_KINDS: [&str; 6] =
    ["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"];
const STATUS_CODES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// Replaces the span kinds and status codes given by name with their numbers,
/// and the ids (of spans and their links) given in base64 with hex; whether
/// anything was.
fn canonical_to_otlp(request: &mut Value) -> bool {
    let mut changed = false;
    let spans = items(request, "resourceSpans").flat_map(|r| items(r, "scopeSpans")).flat_map(|s| items(s, "spans"));
    for span in spans {
        changed |= to_number(span.get_mut("kind"), &SPAN_KINDS);
        changed |= to_number(span.get_mut("status").and_then(|s| s.get_mut("code")), &STATUS_CODES);
        for key in ["traceId", "spanId", "parentSpanId"] {
            changed |= base64_id_to_hex(span.get_mut(key));
        }
        for link in items(span, "links") {
            changed |= base64_id_to_hex(link.get_mut("traceId")) | base64_id_to_hex(link.get_mut("spanId"));
        }
    }
    changed
}

/// Rewrites a trace id (16 bytes) or span id (8 bytes) given in base64 as hex.
/// The two never mix up: in base64 such ids are 24 and 12 characters long, in
/// hex 32 and 16.
fn base64_id_to_hex(field: Option<&mut Value>) -> bool {
    let Some(text) = field.as_ref().and_then(|f| f.as_str()) else { return false };
    if text.len() != 24 && text.len() != 12 {
        return false;
    }
    let Ok(bytes) = BASE64.decode(text) else { return false };
    if bytes.len() != 16 && bytes.len() != 8 {
        return false;
    }
    if let Some(field) = field {
        *field = Value::from(to_hex(&bytes));
    }
    true
}

fn items<'v>(v: &'v mut Value, key: &str) -> impl Iterator<Item = &'v mut Value> {
    v.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten()
}

fn to_number(field: Option<&mut Value>, names: &[&str]) -> bool {
    let Some(field) = field else { return false };
    let Some(n) = field.as_str().and_then(|name| names.iter().position(|n| *n == name)) else { return false };
    *field = Value::from(n);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, code: &str) -> String {
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"tools/call x","kind":{kind},"startTimeUnixNano":"1","endTimeUnixNano":"2","status":{{"code":{code}}}}}]}}]}}]}}"#
        )
    }

    fn kind_and_code(b: &str) -> Result<(i32, i32), String> {
        let req = decode_request(b.as_bytes())?;
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        Ok((span.kind, span.status.as_ref().map_or(-1, |s| s.code)))
    }

    #[test]
    fn ids_are_read_in_hex_or_in_base64() {
        let hex = body(r#""SPAN_KIND_SERVER""#, "2");
        let b64 = hex.replace("5b8efff798038103d269b633813fc60c", "W47/95gDgQPSabYzgT/GDA==").replace("eee19b7ec3c1b174", "7uGbfsPBsXQ=");
        assert_ne!(hex, b64);
        assert_eq!(decode_request(b64.as_bytes()), decode_request(hex.as_bytes()));
        let span = &decode_request(b64.as_bytes()).unwrap().resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.span_id, [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]);
    }

    #[test]
    fn enums_are_read_as_numbers_or_by_name() {
        assert_eq!(kind_and_code(&body("2", "2")), Ok((2, 2)));
        assert_eq!(kind_and_code(&body(r#""SPAN_KIND_CLIENT""#, r#""STATUS_CODE_ERROR""#)), Ok((3, 2)));
        assert_eq!(kind_and_code(&body(r#""SPAN_KIND_SERVER""#, "1")), Ok((2, 1)));
        // A name that is no enum value is an error, told as for the body as sent.
        let e = kind_and_code(&body(r#""SERVER""#, "1")).unwrap_err();
        assert!(e.starts_with("invalid OTLP JSON: invalid type: string \"SERVER\", expected i32"), "{e}");
    }
}

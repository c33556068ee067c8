//! One test per class of bad input, each asserting the field and the reason.

use super::*;
use crate::timestamp::parse_rfc3339_ns;

const NOW: &str = "2026-11-25T12:00:00Z";

fn now() -> i64 {
    parse_rfc3339_ns(NOW).unwrap()
}

fn good() -> serde_json::Value {
    serde_json::json!({
        "event_id": "0192f0c4-8e4a-7b3c-9d2e-1f0a2b3c4d5e",
        "timestamp": "2026-11-25T11:59:00.250Z",
        "duration_ms": 12.5,
        "server": "jira",
        "tool": "create_issue",
        "outcome": "success"
    })
}

fn decode(v: &serde_json::Value) -> Result<AuditEvent<'static>, DecodeError> {
    let bytes = serde_json::to_vec(v).unwrap();
    decode_event(&bytes, &DecodeLimits::default(), now()).map(|e| e.into_owned())
}

fn with(key: &str, value: serde_json::Value) -> serde_json::Value {
    let mut v = good();
    v[key] = value;
    v
}

fn without(key: &str) -> serde_json::Value {
    let mut v = good();
    v.as_object_mut().unwrap().remove(key);
    v
}

fn err(v: &serde_json::Value) -> DecodeError {
    decode(v).expect_err("must be rejected")
}

#[test]
fn minimal_event_decodes_with_defaults() {
    let e = decode(&good()).unwrap();
    assert_eq!(e.server, "jira");
    assert_eq!(e.outcome, Outcome::Success);
    assert_eq!(e.duration_ms, 12.5);
    assert_eq!(e.timestamp_ns, parse_rfc3339_ns("2026-11-25T11:59:00.250Z").unwrap());
    assert_eq!(e.mcp_method, "tools/call");
    assert_eq!(e.schema_version, "1");
    assert!(matches!(e.event_id, EventId::Uuid(_)));
}

#[test]
fn every_optional_field_decodes() {
    let mut v = good();
    let extra = serde_json::json!({
        "server_version": "2.1.0", "tool_schema_version": "3", "mcp_method": "tools/call",
        "agent_id": "a-1", "agent_name": "planner", "client_name": "claude", "client_version": "1.0",
        "user_id": "u-9", "tenant": "payments", "gateway": "gw-eu", "route": "/mcp/jira",
        "transport": "streamable_http", "protocol_version": "2025-06-18", "error_type": "-32602",
        "jsonrpc_error_code": -32602, "error_message": "bad params", "http_status": 200,
        "policy_id": "p-1", "trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736",
        "span_id": "00f067aa0ba902b7", "parent_span_id": "00f067aa0ba902b8", "chain_depth": 2,
        "request_bytes": 512, "response_bytes": 2048, "input_tokens": 100, "output_tokens": 7,
        "attributes": {"region": "eu-west-1", "retries": 2}
    });
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    let e = decode(&v).unwrap();
    assert_eq!(e.transport, Some(Transport::StreamableHttp));
    assert_eq!(e.jsonrpc_error_code, Some(-32602));
    assert_eq!(e.trace_id.unwrap()[0], 0x4b);
    assert_eq!(e.span_id.unwrap()[7], 0xb7);
    assert_eq!(e.chain_depth, Some(2));
    assert_eq!(e.output_tokens, Some(7));
    assert_eq!(e.attributes, vec![("region".into(), "eu-west-1".into()), ("retries".into(), "2".into())]);
}

#[test]
fn missing_required_fields() {
    for f in REQUIRED_FIELDS {
        let e = err(&without(f));
        assert_eq!((e.field(), &e.reason), (Some(f), &Reason::Missing), "{f}");
    }
}

#[test]
fn null_required_field() {
    let e = err(&with("server", serde_json::Value::Null));
    assert_eq!((e.field(), &e.reason), (Some("server"), &Reason::Null));
}

#[test]
fn wrong_types() {
    let cases = [
        ("duration_ms", serde_json::json!("12"), "number", "string"),
        ("server", serde_json::json!(7), "string", "number"),
        ("http_status", serde_json::json!("200"), "integer", "string"),
        ("attributes", serde_json::json!(["a"]), "object", "array"),
        ("chain_depth", serde_json::json!(true), "integer", "boolean"),
    ];
    for (field, value, expected, found) in cases {
        let e = err(&with(field, value));
        assert_eq!(e.field(), Some(field));
        assert_eq!(e.reason, Reason::WrongType { expected, found }, "{field}");
    }
    let e = err(&with("request_bytes", serde_json::json!(1.5)));
    assert_eq!(e.field(), Some("request_bytes"));
    assert_eq!(e.reason.code(), "wrong_type");
}

#[test]
fn negative_duration() {
    let e = err(&with("duration_ms", serde_json::json!(-0.5)));
    assert_eq!((e.field(), &e.reason), (Some("duration_ms"), &Reason::Negative { value: -0.5 }));
    let e = err(&with("response_bytes", serde_json::json!(-1)));
    assert_eq!((e.field(), e.reason.code()), (Some("response_bytes"), "negative"));
}

#[test]
fn unknown_outcome() {
    let e = err(&with("outcome", serde_json::json!("exploded")));
    assert_eq!(e.field(), Some("outcome"));
    assert_eq!(e.reason, Reason::UnknownOutcome { value: "exploded".into() });
    assert!(e.to_string().contains("rate_limited"), "the message lists the allowed values: {e}");
}

#[test]
fn unknown_transport() {
    let e = err(&with("transport", serde_json::json!("carrier_pigeon")));
    assert_eq!((e.field(), e.reason.code()), (Some("transport"), "unknown_value"));
}

#[test]
fn unparsable_timestamps() {
    for bad in [serde_json::json!("last tuesday"), serde_json::json!(1_764_064_800), serde_json::json!("2026-13-01T00:00:00Z")] {
        let e = err(&with("timestamp", bad.clone()));
        assert_eq!((e.field(), e.reason.code()), (Some("timestamp"), "unparsable_timestamp"), "{bad}");
    }
    let e = err(&with("timestamp", serde_json::json!(1.5e12)));
    assert_eq!((e.field(), e.reason.code()), (Some("timestamp"), "unparsable_timestamp"));
    // Epoch seconds are named as such, since that is the likely mistake.
    for seconds in [serde_json::json!(1_764_064_800), serde_json::json!(1_764_064_800.25)] {
        let reason = err(&with("timestamp", seconds)).reason.to_string();
        assert!(reason.ends_with("(this looks like epoch seconds)"), "{reason}");
    }
    let reason = err(&with("timestamp", serde_json::json!("last tuesday"))).reason.to_string();
    assert_eq!(
        reason,
        r#"cannot parse "last tuesday" as a timestamp; expected RFC 3339 (with a time zone) or integer epoch milliseconds, microseconds or nanoseconds"#
    );
}

#[test]
fn timestamps_far_in_the_future_or_past() {
    let e = err(&with("timestamp", serde_json::json!("2027-01-01T00:00:00Z")));
    assert_eq!((e.field(), e.reason.code()), (Some("timestamp"), "timestamp_in_future"));
    let e = err(&with("timestamp", serde_json::json!("1999-12-31T23:59:59Z")));
    assert_eq!((e.field(), e.reason.code()), (Some("timestamp"), "timestamp_too_old"));
    // A little clock skew is fine.
    assert!(decode(&with("timestamp", serde_json::json!("2026-11-25T12:05:00Z"))).is_ok());
}

#[test]
fn epoch_timestamps() {
    let ms = decode(&with("timestamp", serde_json::json!(1_764_064_740_250_i64))).unwrap();
    let ns = decode(&with("timestamp", serde_json::json!(1_764_064_740_250_000_000_i64))).unwrap();
    assert_eq!(ms.timestamp_ns, ns.timestamp_ns);
    assert_eq!(ms.timestamp_ns, parse_rfc3339_ns("2025-11-25T09:59:00.250Z").unwrap());
}

#[test]
fn oversized_strings() {
    let e = err(&with("tool", serde_json::json!("x".repeat(300))));
    assert_eq!((e.field(), &e.reason), (Some("tool"), &Reason::TooLong { len: 300, max: 256 }));
    let e = err(&with("attributes", serde_json::json!({"blob": "y".repeat(5000)})));
    assert_eq!((e.field(), e.reason.code()), (Some("attributes.blob"), "too_long"));
}

#[test]
fn oversized_error_message_is_truncated_not_rejected() {
    let e = decode(&with("error_message", serde_json::json!("é".repeat(1000)))).unwrap();
    let m = e.error_message.unwrap();
    assert!(m.len() <= 1024 && m.len() >= 1022, "{}", m.len());
    assert!(m.chars().all(|c| c == 'é'));
}

#[test]
fn oversized_event() {
    let bytes = vec![b' '; 70 * 1024];
    let e = decode_event(&bytes, &DecodeLimits::default(), now()).unwrap_err();
    assert_eq!((e.field(), e.reason.code()), (None, "event_too_large"));
}

#[test]
fn invalid_json_and_non_objects() {
    let limits = DecodeLimits::default();
    let e = decode_event(br#"{"event_id": "x", "#, &limits, now()).unwrap_err();
    assert_eq!((e.field(), e.reason.code()), (None, "invalid_json"));
    let e = decode_event(b"[1,2]", &limits, now()).unwrap_err();
    assert_eq!((e.field(), &e.reason), (None, &Reason::NotAnObject));
    let e = decode_event(b"{} trailing", &limits, now()).unwrap_err();
    assert_eq!(e.reason.code(), "invalid_json");
    // The reason says what was expected, where, and what came instead.
    assert_eq!(e.reason.to_string(), "invalid JSON: expected end of input at byte 3, found 't'");
    let e = decode_event(br#"{"a": 1,}"#, &limits, now()).unwrap_err();
    assert_eq!(e.reason.to_string(), "invalid JSON: expected a string key at byte 8, found '}'");
    let e = decode_event(br#"{"a": "#, &limits, now()).unwrap_err();
    assert_eq!(e.reason.to_string(), "invalid JSON: expected a value at byte 6, found the end of the input");
    // A bad field before the JSON breaks: the line is reported as malformed JSON,
    // not by the field read before the break.
    let e = decode_event(br#"{"duration_ms": -1, "server": }"#, &limits, now()).unwrap_err();
    assert_eq!((e.field(), e.reason.code()), (None, "invalid_json"));
    // On a well-formed line, the first bad field is the one reported.
    let e = decode_event(br#"{"duration_ms": -1, "server": 7}"#, &limits, now()).unwrap_err();
    assert_eq!((e.field(), e.reason.code()), (Some("duration_ms"), "negative"));
}

#[test]
fn a_leading_byte_order_mark_is_ignored() {
    let mut line = "\u{feff}".as_bytes().to_vec();
    line.extend(serde_json::to_vec(&good()).unwrap());
    let e = decode_event(&line, &DecodeLimits::default(), now()).unwrap();
    assert_eq!(e.server, "jira");
    // Anywhere else it is not whitespace.
    let mut late = b" ".to_vec();
    late.extend_from_slice(&line);
    let e = decode_event(&late, &DecodeLimits::default(), now()).unwrap_err();
    assert_eq!(e.reason.to_string(), "invalid JSON: expected a value at byte 1, found '\\u{feff}'");
}

#[test]
fn invalid_utf8_is_reported_with_its_byte_offset() {
    let limits = DecodeLimits::default();
    let mut line = serde_json::to_vec(&good()).unwrap();
    let at = line.windows(4).position(|w| w == b"jira").unwrap();
    // A lone continuation byte, then a truncated two-byte sequence at the very end.
    line[at + 1] = 0x80;
    let e = decode_event(&line, &limits, now()).unwrap_err();
    assert_eq!(e.field(), None);
    assert_eq!(e.reason, Reason::InvalidJson { detail: format!("invalid UTF-8 at byte {}", at + 1) });
    let mut tail = serde_json::to_vec(&good()).unwrap();
    tail.push(0xc3);
    let e = decode_event(&tail, &limits, now()).unwrap_err();
    assert_eq!(e.reason, Reason::InvalidJson { detail: format!("invalid UTF-8 at byte {}", tail.len() - 1) });
}

#[test]
fn invalid_trace_context_ids() {
    let e = err(&with("trace_id", serde_json::json!("abc")));
    assert_eq!((e.field(), e.reason.code()), (Some("trace_id"), "invalid_id"));
    let e = err(&with("span_id", serde_json::json!("zz00000000000000")));
    assert_eq!((e.field(), e.reason.code()), (Some("span_id"), "invalid_id"));
}

#[test]
fn out_of_range_integers() {
    let e = err(&with("http_status", serde_json::json!(1000)));
    assert_eq!((e.field(), e.reason.code()), (Some("http_status"), "out_of_range"));
    let e = err(&with("jsonrpc_error_code", serde_json::json!(1u64 << 40)));
    assert_eq!((e.field(), e.reason.code()), (Some("jsonrpc_error_code"), "out_of_range"));
}

#[test]
fn duplicate_fields() {
    let bytes = br#"{"event_id":"a","timestamp":"2026-11-25T11:00:00Z","duration_ms":1,"server":"s","tool":"t","outcome":"success","tool":"u"}"#;
    let e = decode_event(bytes, &DecodeLimits::default(), now()).unwrap_err();
    assert_eq!((e.field(), &e.reason), (Some("tool"), &Reason::DuplicateField));
}

#[test]
fn unsupported_schema_version() {
    let e = err(&with("schema_version", serde_json::json!("2")));
    assert_eq!((e.field(), e.reason.code()), (Some("schema_version"), "unsupported_schema_version"));
}

#[test]
fn unknown_top_level_fields_become_attributes() {
    let mut v = with("region", serde_json::json!("eu"));
    v["cost"] = serde_json::json!({"usd": 0.02});
    v["attributes"] = serde_json::json!({"region": "explicit"});
    let e = decode(&v).unwrap();
    assert_eq!(
        e.attributes,
        vec![("region".into(), "explicit".into()), ("cost".into(), r#"{"usd":0.02}"#.into())]
    );
}

#[test]
fn escaped_strings_are_unescaped() {
    let e = decode(&with("tool", serde_json::json!("say \"hi\"\n"))).unwrap();
    assert_eq!(e.tool, "say \"hi\"\n");
}

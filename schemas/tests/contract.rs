//! The three forms of the contract agree: the JSON Schema file, the Rust decoder
//! (and so the Rust type), and the Arrow schema.

use std::collections::BTreeSet;

use arrow::datatypes::DataType;
use serde_json::{Value, json};
use toolpulse_schemas::arrow_schema::tool_calls_schema;
use toolpulse_schemas::decode::{FIELD_NAMES, REQUIRED_FIELDS};
use toolpulse_schemas::timestamp::now_ns;
use toolpulse_schemas::{AUDIT_EVENT_JSON_SCHEMA, DecodeLimits, Outcome, Transport, decode_event};

fn schema() -> Value {
    serde_json::from_str(AUDIT_EVENT_JSON_SCHEMA).unwrap()
}

#[test]
fn same_fields_and_required_set() {
    let s = schema();
    let props: BTreeSet<&str> = s["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(props, FIELD_NAMES.into_iter().collect());
    let required: BTreeSet<&str> = s["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(required, REQUIRED_FIELDS.into_iter().collect());
}

#[test]
fn same_enums() {
    let s = schema();
    let outcomes: Vec<&str> = s["properties"]["outcome"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(outcomes, Outcome::ALL.map(Outcome::as_str));
    let transports: Vec<&str> =
        s["properties"]["transport"]["enum"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(transports, Transport::ALL.map(Transport::as_str));
}

/// Each JSON field is stored in an Arrow column of the matching type; the two ids
/// stored as binary are the documented exceptions.
#[test]
fn arrow_columns_match_json_types() {
    let s = schema();
    let arrow = tool_calls_schema();
    for name in FIELD_NAMES {
        let prop = &s["properties"][name];
        let json_types: Vec<&str> = match &prop["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
            _ => vec!["timestamp"],
        };
        let field = arrow.field_with_name(name).unwrap_or_else(|_| panic!("no Arrow column for {name}"));
        let ok = match (json_types.as_slice(), field.data_type()) {
            (["timestamp"], DataType::Timestamp(_, Some(tz))) => &**tz == "UTC",
            (["string"], DataType::Utf8) => true,
            (["string"], DataType::FixedSizeBinary(16)) => matches!(name, "event_id" | "trace_id"),
            (["string"], DataType::FixedSizeBinary(8)) => matches!(name, "span_id" | "parent_span_id"),
            (["number"], DataType::Float64) => true,
            (["integer"], DataType::Int32) => prop["minimum"] == json!(i32::MIN) && prop["maximum"] == json!(i32::MAX),
            (["integer"], DataType::UInt16) => prop["maximum"].as_u64().unwrap() <= u16::MAX as u64,
            (["integer"], DataType::UInt64) => prop["minimum"] == json!(0),
            (["object"], DataType::Map(..)) => true,
            _ => false,
        };
        assert!(ok, "{name}: JSON {json_types:?} vs Arrow {:?}", field.data_type());
        let required = REQUIRED_FIELDS.contains(&name) || matches!(name, "schema_version" | "mcp_method");
        assert_eq!(!field.is_nullable(), required, "{name}: nullability (defaulted fields are never null)");
    }
    // The only column with no JSON field of its own: the text of non-UUID event ids.
    let extra: Vec<_> =
        arrow.fields().iter().map(|f| f.name().as_str()).filter(|n| !FIELD_NAMES.contains(n)).collect();
    assert_eq!(extra, ["event_id_text"]);
}

fn base() -> Value {
    json!({
        "event_id": "0192f0c4-8e4a-7b3c-9d2e-1f0a2b3c4d5e",
        "timestamp": "2026-01-01T00:00:00Z",
        "duration_ms": 1.5, "server": "jira", "tool": "search", "outcome": "success"
    })
}

fn with(k: &str, v: Value) -> Value {
    let mut b = base();
    b[k] = v;
    b
}

/// The JSON Schema and the decoder accept and refuse the same events (for every
/// rule that JSON Schema can express).
#[test]
fn validator_and_decoder_agree() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let mut no_server = base();
    no_server.as_object_mut().unwrap().remove("server");
    let accepted = [
        base(),
        with("timestamp", json!(1_767_225_600_000_i64)),
        with("trace_id", json!("4bf92f3577b34da6a3ce929d0e0e4736")),
        with("transport", json!("sse")),
        with("unknown_field", json!({"nested": true})),
        with("attributes", json!({"a": "b", "n": 3})),
        with("http_status", json!(null)),
    ];
    let refused = [
        no_server,
        with("server", json!("")),
        with("duration_ms", json!(-1)),
        with("duration_ms", json!("1")),
        with("outcome", json!("boom")),
        with("tool", json!("t".repeat(257))),
        with("http_status", json!(700)),
        with("span_id", json!("xyz")),
        with("transport", json!("ws")),
        with("chain_depth", json!(1.5)),
        with("schema_version", json!("2")),
        with("timestamp", json!(true)),
        json!([1, 2]),
    ];
    let limits = DecodeLimits::default();
    for ev in accepted {
        assert!(validator.is_valid(&ev), "schema refuses {ev}");
        let bytes = serde_json::to_vec(&ev).unwrap();
        assert!(decode_event(&bytes, &limits, now_ns()).is_ok(), "decoder refuses {ev}");
    }
    for ev in refused {
        assert!(!validator.is_valid(&ev), "schema accepts {ev}");
        let bytes = serde_json::to_vec(&ev).unwrap();
        assert!(decode_event(&bytes, &limits, now_ns()).is_err(), "decoder accepts {ev}");
    }
}

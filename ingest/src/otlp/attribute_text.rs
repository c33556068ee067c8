//! OTLP attribute values as text, for the string maps of the `spans` table and
//! the audit fields read from attributes. The rules are the OpenTelemetry
//! specification's "AnyValue representation for non-OTLP protocols": a string
//! as it is; booleans and numbers as JSON literals (NaN and the infinities as
//! `NaN`, `Infinity`, `-Infinity`); bytes in base64; an empty value as the
//! empty string; arrays and maps as JSON, in which bytes are base64 strings,
//! empty values `null`, and NaN and the infinities strings. A string-table
//! reference (profiling's `string_value_strindex`) has no table here and is
//! read as an empty value, as OTLP asks of the other signals.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use serde_json::Value as Json;

/// An attribute value as text.
pub fn any_text(v: &AnyValue) -> String {
    match &v.value {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::DoubleValue(d)) => float_text(*d),
        Some(Any::BytesValue(b)) => BASE64.encode(b),
        None | Some(Any::StringValueStrindex(_)) => String::new(),
        Some(Any::BoolValue(_) | Any::IntValue(_) | Any::ArrayValue(_) | Any::KvlistValue(_)) => any_json(v).to_string(),
    }
}

/// A value nested in an array or a map, as JSON.
fn any_json(v: &AnyValue) -> Json {
    match &v.value {
        Some(Any::StringValue(s)) => Json::String(s.clone()),
        Some(Any::BoolValue(b)) => Json::Bool(*b),
        Some(Any::IntValue(i)) => Json::from(*i),
        Some(Any::DoubleValue(d)) => serde_json::Number::from_f64(*d).map_or_else(|| Json::String(float_text(*d)), Json::Number),
        Some(Any::BytesValue(b)) => Json::String(BASE64.encode(b)),
        Some(Any::ArrayValue(a)) => Json::Array(a.values.iter().map(any_json).collect()),
        Some(Any::KvlistValue(kv)) => {
            Json::Object(kv.values.iter().map(|k| (k.key.clone(), k.value.as_ref().map_or(Json::Null, any_json))).collect())
        }
        None | Some(Any::StringValueStrindex(_)) => Json::Null,
    }
}

/// A double as a JSON number, or `NaN`, `Infinity`, `-Infinity`.
fn float_text(d: f64) -> String {
    match serde_json::Number::from_f64(d) {
        Some(n) => n.to_string(),
        None if d.is_nan() => "NaN".into(),
        None if d > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValue, KeyValueList};

    use super::*;

    fn any(v: Any) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    fn text(v: Any) -> String {
        any_text(&any(v))
    }

    #[test]
    fn scalars_follow_the_non_otlp_representation() {
        assert_eq!(text(Any::StringValue("a \"b\"".into())), "a \"b\"", "strings are not quoted");
        assert_eq!(text(Any::BoolValue(true)), "true");
        assert_eq!(text(Any::IntValue(-32602)), "-32602");
        assert_eq!(text(Any::DoubleValue(1.5)), "1.5");
        assert_eq!(text(Any::DoubleValue(1e300)), "1e+300");
        assert_eq!(text(Any::DoubleValue(f64::NAN)), "NaN");
        assert_eq!(text(Any::DoubleValue(f64::INFINITY)), "Infinity");
        assert_eq!(text(Any::DoubleValue(f64::NEG_INFINITY)), "-Infinity");
        assert_eq!(text(Any::BytesValue(b"\x00\xffhi".to_vec())), "AP9oaQ==");
        assert_eq!(any_text(&AnyValue { value: None }), "");
    }

    #[test]
    fn arrays_and_maps_are_json() {
        let arr = |values: Vec<AnyValue>| Any::ArrayValue(ArrayValue { values });
        let strings = arr(vec![any(Any::StringValue("x".into())), any(Any::StringValue("y,z".into()))]);
        assert_eq!(text(strings.clone()), r#"["x","y,z"]"#);
        let mixed = arr(vec![
            any(Any::IntValue(1)),
            any(Any::DoubleValue(f64::NAN)),
            any(Any::BytesValue(vec![1, 2])),
            AnyValue { value: None },
            any(Any::BoolValue(false)),
        ]);
        assert_eq!(text(mixed), r#"[1,"NaN","AQI=",null,false]"#);
        let kv = |key: &str, value: Option<Any>| KeyValue { key: key.into(), value: value.map(any), ..Default::default() };
        let map = Any::KvlistValue(KeyValueList { values: vec![kv("name", Some(Any::StringValue("n".into()))), kv("tags", Some(strings)), kv("none", None)] });
        let parsed: Json = serde_json::from_str(&text(map)).unwrap();
        assert_eq!(parsed, serde_json::json!({"name": "n", "tags": ["x", "y,z"], "none": null}));
    }
}

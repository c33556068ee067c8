//! Encoding results as the Prometheus HTTP API does: sample values as strings
//! (Go's shortest `'f'` formatting, `+Inf`, `-Inf`, `NaN`), timestamps as Unix
//! seconds with fractions.

use serde_json::{Value, json};

use super::value::{Labels, StepSeries, Steps, Val};

/// A sample value as Prometheus writes it.
pub fn sample_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    // Rust's Display is the shortest round-trip decimal, like Go's 'f', -1;
    // Go switches to exponent form for very large and very small magnitudes.
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e21).contains(&a) {
        let s = format!("{v:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        return format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    format!("{v}")
}

/// A timestamp in ms as Unix seconds (a JSON number with up to 3 decimals).
pub fn timestamp(ms: i64) -> Value {
    if ms % 1000 == 0 { json!(ms / 1000) } else { json!(ms as f64 / 1000.0) }
}

fn point(ms: i64, v: f64) -> Value {
    json!([timestamp(ms), sample_value(v)])
}

/// The `data` of an instant query.
pub fn instant_data(v: &Val, at: i64) -> Value {
    match v {
        Val::Scalar(s) => json!({"resultType": "scalar", "result": point(at, s[0])}),
        Val::String(s) => json!({"resultType": "string", "result": [timestamp(at), s]}),
        Val::Vector(series) => {
            let result: Vec<Value> = series
                .iter()
                .filter_map(|s| s.values[0].map(|v| json!({"metric": s.labels, "value": point(at, v)})))
                .collect();
            json!({"resultType": "vector", "result": result})
        }
    }
}

/// The `data` of a range query.
pub fn range_data(v: &Val, steps: &Steps) -> Value {
    let matrix: Vec<Value> = match v {
        Val::Scalar(s) => {
            vec![json!({"metric": {}, "values": s.iter().enumerate().map(|(i, v)| point(steps.at(i), *v)).collect::<Vec<_>>()})]
        }
        Val::Vector(series) => series.iter().filter_map(|s| matrix_series(s, steps)).collect(),
        Val::String(_) => Vec::new(),
    };
    json!({"resultType": "matrix", "result": matrix})
}

fn matrix_series(s: &StepSeries, steps: &Steps) -> Option<Value> {
    let values: Vec<Value> = s.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| point(steps.at(i), v))).collect();
    (!values.is_empty()).then(|| json!({"metric": s.labels, "values": values}))
}

/// Labels as a JSON object.
pub fn labels_json(l: &Labels) -> Value {
    json!(l)
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_as_prometheus_writes_them() {
        use super::sample_value as f;
        assert_eq!(f(2.0), "2");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(0.00001), "1e-05");
        assert_eq!(super::timestamp(1_731_312_345_678), serde_json::json!(1731312345.678));
        assert_eq!(super::timestamp(1_731_312_345_000), serde_json::json!(1731312345));
    }
}

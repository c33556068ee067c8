//! Deliberately bad events, for exercising the dead-letter path: each names the
//! field a decoder must blame.

use rand::Rng;
use rand::rngs::StdRng;

/// One bad line and the field that makes it bad (`None` when it is not JSON at all).
pub struct Malformed {
    pub line: Vec<u8>,
    pub field: Option<&'static str>,
}

/// Spoils a good JSON event in one of several ways.
pub fn spoil(good: &[u8], rng: &mut StdRng) -> Malformed {
    let mut v: serde_json::Value = serde_json::from_slice(good).expect("generated events are JSON");
    let obj = v.as_object_mut().expect("generated events are objects");
    let field = match rng.random_range(0..6) {
        0 => {
            obj.remove("tool");
            Some("tool")
        }
        1 => {
            obj.insert("duration_ms".into(), serde_json::json!(-5));
            Some("duration_ms")
        }
        2 => {
            obj.insert("outcome".into(), serde_json::json!("exploded"));
            Some("outcome")
        }
        3 => {
            obj.insert("timestamp".into(), serde_json::json!("yesterday at noon"));
            Some("timestamp")
        }
        4 => {
            obj.insert("server".into(), serde_json::json!(42));
            Some("server")
        }
        _ => None,
    };
    let line = match field {
        Some(_) => serde_json::to_vec(&v).expect("serializable"),
        None => good[..good.len() / 2].to_vec(),
    };
    Malformed { line, field }
}

//! Single-thread decode speed on an NDJSON file: `cargo run --release -p toolpulse-schemas --example decode_speed FILE`.
use std::time::Instant;
use toolpulse_schemas::{decode_event, DecodeLimits, EventBatchBuilder};

fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let data = std::fs::read(&path).unwrap();
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).take(300_000).collect();
    let limits = DecodeLimits { max_future_skew_secs: 10_000_000, ..DecodeLimits::default() };
    let now = toolpulse_schemas::timestamp::now_ns();
    let mut best = (f64::MAX, f64::MAX);
    for _round in 0..10 {
        let t = Instant::now();
        let mut ok = 0;
        for l in &lines {
            if decode_event(l, &limits, now).is_ok() { ok += 1; }
        }
        let d = t.elapsed().as_secs_f64();
        let t2 = Instant::now();
        let mut b = EventBatchBuilder::with_capacity(lines.len());
        for l in &lines {
            if let Ok(e) = decode_event(l, &limits, now) { b.append(&e); }
        }
        let batch = b.finish();
        let d2 = t2.elapsed().as_secs_f64();
        assert_eq!((ok, batch.num_rows()), (lines.len(), lines.len()));
        best = (best.0.min(d), best.1.min(d2));
    }
    let per_line = |d: f64| d * 1e9 / lines.len() as f64;
    println!("best of 10: decode {:.0} ns/line, decode+append {:.0} ns/line", per_line(best.0), per_line(best.1));
}

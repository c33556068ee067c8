//! Histograms of durations, as stored in the `rollups_1m` table: recording
//! milliseconds (as microseconds, 3 significant digits), reading quantiles, and
//! the serialized form (HdrHistogram V2, not deflated: Parquet's zstd compresses
//! the column, and reading need not inflate every histogram). Both V2 forms read.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// Significant decimal digits kept for each value.
pub const SIGNIFICANT_FIGURES: u8 = 3;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(SIGNIFICANT_FIGURES).expect("3 significant figures are valid")
}

/// Records a duration in ms (as whole microseconds; negative or NaN are skipped).
pub fn record_ms(h: &mut Histogram<u64>, ms: f64) {
    if ms.is_finite() && ms >= 0.0 {
        // Auto-resizing histograms accept any u64.
        let _ = h.record((ms * 1000.0).round() as u64);
    }
}

/// The q-quantile in ms, `None` for an empty histogram.
pub fn quantile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q.clamp(0.0, 1.0)) as f64 / 1000.0)
}

pub fn encode(h: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = V2Serializer::new().serialize(h, &mut out);
    out
}

pub fn decode(bytes: &[u8]) -> Result<Histogram<u64>, String> {
    let mut h: Histogram<u64> =
        Deserializer::new().deserialize(&mut &bytes[..]).map_err(|e| format!("not an HDR histogram: {e:?}"))?;
    h.auto(true);
    Ok(h)
}

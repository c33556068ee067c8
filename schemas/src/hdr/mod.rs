//! Histograms of durations, as stored in the `rollups_1m` table and built by
//! the HDR SQL functions: durations in milliseconds recorded as whole
//! microseconds with 3 significant digits (a quantile is within 0.1% of the
//! exact value), kept sparse ([`SparseHistogram`]), and serialized in
//! HdrHistogram's V2 format, not deflated: Parquet's zstd compresses the
//! column, and reading need not inflate every histogram. Both V2 forms read.

mod layout;
mod sparse;
mod v2;

pub use layout::SIGNIFICANT_FIGURES;
pub use sparse::{HistogramBuilder, SparseHistogram};
pub use v2::{HistogramDecodeError, decode, decode_bins, encode, encode_into};

/// A duration in ms as the recorded value (whole microseconds); `None` for
/// negative, infinite or NaN durations, which are not recorded.
pub fn ms_to_value(ms: f64) -> Option<u64> {
    (ms.is_finite() && ms >= 0.0).then(|| (ms * 1000.0).round() as u64)
}

impl HistogramBuilder {
    /// Records a duration in ms (negative, infinite or NaN durations are skipped).
    pub fn record_ms(&mut self, ms: f64) {
        if let Some(v) = ms_to_value(ms) {
            self.record(v);
        }
    }
}

impl SparseHistogram {
    /// The q-quantile in ms, `None` for an empty histogram.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.value_at_quantile(q).map(|v| v as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests;

//! HDR-histogram aggregate functions over `duration_ms`:
//!
//! - `hdr_percentile(duration_ms, q)`: the q-quantile (0..=1) of the durations;
//! - `hdr_histogram(duration_ms)`: the durations as a serialized histogram;
//! - `hdr_merge(hist)`: histograms merged into one (across minutes, tools, servers);
//! - `hdr_quantile(hist, q)` (scalar): the q-quantile of a histogram, e.g. of `hdr_merge(h)`.
//!
//! Durations are recorded in microseconds with [`SIGNIFICANT_FIGURES`] significant
//! digits, so a quantile is within 0.1% of the exact value (relative).

mod scalar;
mod udaf;

pub use toolpulse_schemas::hdr::{HistogramBuilder, SIGNIFICANT_FIGURES, SparseHistogram, decode, encode};
pub use udaf::HdrFunction;

/// Registers the three aggregates and `hdr_quantile`.
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    udaf::register(ctx);
    scalar::register(ctx);
}

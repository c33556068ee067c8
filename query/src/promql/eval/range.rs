//! Functions over range vectors: for each step, the samples of each series in
//! `(t - range, t]`, reduced to one value as Prometheus does (`rate`, `increase`
//! and `delta` with its extrapolation; `irate`; `*_over_time`; `changes`, `resets`;
//! `deriv` and `predict_linear` by least squares, `double_exponential_smoothing`).

use crate::promql::PromError;

/// The samples of a window.
pub type Window<'a> = &'a [(i64, f64)];

/// The samples of `samples` in `(end - range, end]`.
pub fn window(samples: &[(i64, f64)], end: i64, range: i64) -> Window<'_> {
    let lo = samples.partition_point(|(t, _)| *t <= end - range);
    let hi = samples.partition_point(|(t, _)| *t <= end);
    &samples[lo..hi]
}

/// Prometheus's extrapolated rate: the change over the window, corrected for
/// counter resets, extrapolated to the window's edges when samples come close
/// to them (within 1.1 average intervals), else by half an interval; and for a
/// counter, not back past the point where it would have been zero (a series
/// starting inside the window starts at 0, and is not extrapolated back).
pub fn extrapolated_rate(w: Window<'_>, range_start: i64, range_end: i64, counter: bool, rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first_t, last_t) = (w[0].0, w[w.len() - 1].0);
    let mut result = w[w.len() - 1].1 - w[0].1;
    if counter {
        for p in w.windows(2) {
            if p[1].1 < p[0].1 {
                result += p[0].1;
            }
        }
    }
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = sampled / (w.len() - 1) as f64;
    let threshold = avg * 1.1;
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last_t) as f64 / 1000.0;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if counter && result > 0.0 && w[0].1 >= 0.0 {
        to_start = to_start.min(sampled * (w[0].1 / result));
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` / `idelta`: from the last two samples.
pub fn instant_delta(w: Window<'_>, rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (a, b) = (w[w.len() - 2], w[w.len() - 1]);
    let mut d = b.1 - a.1;
    if rate && b.1 < a.1 {
        d = b.1; // counter reset
    }
    if rate {
        let dt = (b.0 - a.0) as f64 / 1000.0;
        if dt == 0.0 {
            return None;
        }
        d /= dt;
    }
    Some(d)
}

/// The `*_over_time` family and friends, by name.
pub fn over_time(name: &str, w: Window<'_>, param: Option<f64>) -> Result<Option<f64>, PromError> {
    if w.is_empty() {
        return Ok(None);
    }
    let vals = w.iter().map(|(_, v)| *v);
    let n = w.len() as f64;
    Ok(Some(match name {
        "sum_over_time" => vals.sum(),
        "count_over_time" => n,
        "avg_over_time" => vals.sum::<f64>() / n,
        "min_over_time" => vals.fold(f64::INFINITY, |a, b| if b < a || a.is_nan() { b } else { a }),
        "max_over_time" => vals.fold(f64::NEG_INFINITY, |a, b| if b > a || a.is_nan() { b } else { a }),
        "last_over_time" => w[w.len() - 1].1,
        "present_over_time" => 1.0,
        "stddev_over_time" | "stdvar_over_time" => {
            let mean = vals.clone().sum::<f64>() / n;
            let var = vals.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            if name == "stddev_over_time" { var.sqrt() } else { var }
        }
        "quantile_over_time" => {
            let q = param.ok_or_else(|| PromError::bad_data("quantile_over_time needs a quantile"))?;
            let mut v: Vec<f64> = vals.collect();
            v.sort_by(f64::total_cmp);
            quantile(q, &v)
        }
        "changes" => w.windows(2).filter(|p| p[1].1 != p[0].1 && !(p[1].1.is_nan() && p[0].1.is_nan())).count() as f64,
        "resets" => w.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64,
        "deriv" => {
            if w.len() < 2 {
                return Ok(None);
            }
            linear_regression(w, w[0].0).0
        }
        other => return Err(PromError::unsupported(&format!("function {other}"))),
    }))
}

/// `double_exponential_smoothing` (Prometheus 2.x's `holt_winters`): the
/// window smoothed with factor `sf` and trend factor `tf`, as Prometheus runs
/// it (its first trend is the first two samples' difference); nothing for
/// fewer than two samples.
pub fn double_exponential_smoothing(w: Window<'_>, sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (mut previous, mut smoothed) = (0.0, w[0].1);
    let mut trend = w[1].1 - w[0].1;
    for (i, (_, v)) in w.iter().enumerate().skip(1) {
        if i > 1 {
            trend = tf * (smoothed - previous) + (1.0 - tf) * trend;
        }
        (previous, smoothed) = (smoothed, sf * v + (1.0 - sf) * (smoothed + trend));
    }
    Some(smoothed)
}

/// `predict_linear`: the least-squares line through the window, `seconds`
/// after `at` (the step's time).
pub fn predict_linear(w: Window<'_>, at: i64, seconds: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(w, at);
    Some(slope * seconds + intercept)
}

/// The least-squares line through the window's samples as Prometheus fits it:
/// (slope per second, value at `intercept_time`), with Kahan-compensated sums;
/// a window of one repeated value gives slope 0.
fn linear_regression(w: Window<'_>, intercept_time: i64) -> (f64, f64) {
    let first = w[0].1;
    if w.iter().all(|(_, v)| *v == first) {
        return if first.is_infinite() { (f64::NAN, f64::NAN) } else { (0.0, first) };
    }
    let (mut x, mut y, mut xy, mut xx) = (Kahan::default(), Kahan::default(), Kahan::default(), Kahan::default());
    for (t, v) in w {
        let dx = (t - intercept_time) as f64 / 1000.0;
        x.add(dx);
        y.add(*v);
        xy.add(dx * v);
        xx.add(dx * dx);
    }
    let n = w.len() as f64;
    let (x, y, xy, xx) = (x.sum(), y.sum(), xy.sum(), xx.sum());
    let slope = (xy - x * y / n) / (xx - x * x / n);
    (slope, y / n - slope * x / n)
}

/// A sum with Kahan-Babuška (Neumaier) compensation, as Prometheus's `kahanSumInc`.
#[derive(Default)]
struct Kahan {
    sum: f64,
    c: f64,
}

impl Kahan {
    fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if t.is_infinite() {
            self.c = 0.0;
        } else if self.sum.abs() >= v.abs() {
            self.c += (self.sum - t) + v;
        } else {
            self.c += (v - t) + self.sum;
        }
        self.sum = t;
    }

    fn sum(&self) -> f64 {
        self.sum + self.c
    }
}

/// The φ-quantile of sorted values, interpolated as Prometheus's `quantile`.
pub fn quantile(q: f64, sorted: &[f64]) -> f64 {
    if sorted.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let w = rank - lo as f64;
    sorted[lo] * (1.0 - w) + sorted[hi] * w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // A counter +60 per minute, sampled each minute; a 5m window ending on a
        // sample holds 5 samples spanning 4 minutes; the start is within 1.1
        // intervals of the first sample, so the 240 s are extrapolated to 300 s.
        let s: Vec<(i64, f64)> = (0..20).map(|i| (i * 60_000, i as f64 * 60.0)).collect();
        let w = window(&s, 600_000, 300_000);
        assert_eq!(w.len(), 5);
        let inc = extrapolated_rate(w, 300_000, 600_000, true, false).unwrap();
        assert!((inc - 300.0).abs() < 1e-9, "{inc}");
        let rate = extrapolated_rate(w, 300_000, 600_000, true, true).unwrap();
        assert!((rate - 1.0).abs() < 1e-12);
        // A reset counts the value before it.
        let r = [(0, 10.0), (60_000, 20.0), (120_000, 5.0)];
        assert_eq!(extrapolated_rate(&r, 0, 120_000, true, false), Some(15.0));
        assert_eq!(instant_delta(&r, true), Some(5.0 / 60.0));
        // A counter starting at 0 inside the window is not extrapolated back
        // past its start (it would be by 60 s); 7 s past the last sample, it is.
        let started = [(60_000, 0.0), (120_000, 3.0)];
        let inc = extrapolated_rate(&started, 0, 127_000, true, false).unwrap();
        assert!((inc - 3.0 * 67.0 / 60.0).abs() < 1e-12, "{inc}");
        // A gauge's delta is.
        let delta = extrapolated_rate(&started, 0, 127_000, false, false).unwrap();
        assert!((delta - 3.0 * 127.0 / 60.0).abs() < 1e-12, "{delta}");
    }

    #[test]
    fn predict_linear_extends_the_least_squares_line_from_the_step() {
        // v = 100 + 2/s, sampled every 15 s until t = 600 s.
        let s: Vec<(i64, f64)> = (0..=40).map(|i| (i * 15_000, 100.0 + 2.0 * (i * 15) as f64)).collect();
        let w = window(&s, 600_000, 300_000);
        // From the step at 600 s: 1300 there, 1300 + 2 * 3600 an hour later.
        assert!((predict_linear(w, 600_000, 0.0).unwrap() - 1300.0).abs() < 1e-9);
        assert!((predict_linear(w, 600_000, 3600.0).unwrap() - 8500.0).abs() < 1e-9);
        // From a later step (the window shifted back by an offset), the line is read there.
        assert!((predict_linear(w, 660_000, 0.0).unwrap() - 1420.0).abs() < 1e-9);
        assert!((over_time("deriv", w, None).unwrap().unwrap() - 2.0).abs() < 1e-12);
        // A flat window has slope 0; one sample predicts nothing.
        assert_eq!(predict_linear(&[(0, 5.0), (15_000, 5.0)], 15_000, 60.0), Some(5.0));
        assert_eq!(predict_linear(&s[..1], 0, 60.0), None);
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(0.5, &[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(quantile(1.0, &[1.0, 2.0]), 2.0);
    }
}

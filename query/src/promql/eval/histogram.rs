//! `histogram_quantile` over classic buckets (series with an `le` label), as
//! Prometheus computes it: buckets grouped by their other labels, sorted by
//! bound, made monotonic, and the quantile interpolated linearly inside the
//! bucket it falls in (the lowest bucket from 0, the `+Inf` bucket giving the
//! highest finite bound).

use std::collections::BTreeMap;

use crate::promql::value::{Labels, StepSeries, drop_name, key_of};

/// Per `le` bound, the bucket's value at each step.
type Buckets = Vec<(f64, Vec<Option<f64>>)>;

pub fn histogram_quantile(q: &[f64], v: Vec<StepSeries>) -> Vec<StepSeries> {
    let mut groups: BTreeMap<String, (Labels, Buckets)> = BTreeMap::new();
    for s in v {
        let Some(le) = s.labels.get("le").and_then(|l| parse_le(l)) else { continue };
        let mut labels = drop_name(s.labels);
        labels.remove("le");
        let key = key_of(&labels);
        groups.entry(key).or_insert_with(|| (labels, Vec::new())).1.push((le, s.values));
    }
    let steps = q.len();
    groups
        .into_values()
        .filter_map(|(labels, buckets)| {
            let values: Vec<Option<f64>> = (0..steps)
                .map(|i| {
                    let mut b: Vec<(f64, f64)> = buckets.iter().filter_map(|(le, vals)| vals[i].map(|c| (*le, c))).collect();
                    (!b.is_empty()).then(|| bucket_quantile(q[i], &mut b)).flatten()
                })
                .collect();
            values.iter().any(Option::is_some).then_some(StepSeries { labels, values })
        })
        .collect()
}

fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        _ => s.parse().ok(),
    }
}

/// The quantile of one step's buckets `(upper bound, cumulative count)`.
fn bucket_quantile(q: f64, b: &mut Vec<(f64, f64)>) -> Option<f64> {
    if q.is_nan() {
        return Some(f64::NAN);
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Same bound twice (several series): add them.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for (le, c) in b.drain(..) {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += c,
            _ => merged.push((le, c)),
        }
    }
    let b = merged;
    if b.len() < 2 || b[b.len() - 1].0 != f64::INFINITY {
        return Some(f64::NAN);
    }
    // Make the counts monotonic (Prometheus tolerates small inconsistencies).
    let mut counts: Vec<f64> = b.iter().map(|x| x.1).collect();
    for i in 1..counts.len() {
        if counts[i] < counts[i - 1] {
            counts[i] = counts[i - 1];
        }
    }
    let total = counts[counts.len() - 1];
    if total == 0.0 || total.is_nan() {
        return Some(f64::NAN);
    }
    let rank = q * total;
    let idx = counts.iter().position(|c| *c >= rank).unwrap_or(counts.len() - 1);
    if idx == b.len() - 1 {
        return Some(b[b.len() - 2].0);
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return Some(b[0].0);
    }
    let (start, count_below) = if idx == 0 { (0.0, 0.0) } else { (b[idx - 1].0, counts[idx - 1]) };
    let end = b[idx].0;
    let in_bucket = counts[idx] - count_below;
    if in_bucket == 0.0 {
        return Some(end);
    }
    Some(start + (end - start) * ((rank - count_below) / in_bucket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_inside_the_bucket() {
        // 100 calls: 50 ≤ 0.1 s, 90 ≤ 0.5 s, 100 ≤ 1 s.
        let mut b = vec![(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (f64::INFINITY, 100.0)];
        // p50: rank 50 falls in the first bucket: 0 + 0.1 × 50/50.
        assert_eq!(bucket_quantile(0.5, &mut b.clone()), Some(0.1));
        // p70: rank 70 in (0.1, 0.5]: 0.1 + 0.4 × (70 − 50) / 40 = 0.3.
        assert!((bucket_quantile(0.7, &mut b.clone()).unwrap() - 0.3).abs() < 1e-12);
        // p99: rank 99 in (0.5, 1]: 0.5 + 0.5 × 9/10.
        assert!((bucket_quantile(0.99, &mut b).unwrap() - 0.95).abs() < 1e-12);
        let mut only_inf = vec![(0.1, 0.0), (f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.5, &mut only_inf), Some(0.1), "in +Inf: the highest finite bound");
    }
}

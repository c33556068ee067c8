//! The sparse histogram against the hdrhistogram crate, the reference.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer, V2Serializer};

use super::*;

/// Durations in µs spread like latencies: mostly ms, a tail up to minutes.
fn latencies(seed: u64, n: usize) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let magnitude = (x % 1000) as f64 / 1000.0 * 8.0; // 1 µs .. 100 s
            10f64.powf(magnitude) as u64
        })
        .collect()
}

fn reference(values: &[u64]) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new(SIGNIFICANT_FIGURES).unwrap();
    h.auto(true);
    for &v in values {
        h.record(v).unwrap();
    }
    h
}

fn sparse(values: &[u64]) -> SparseHistogram {
    let mut b = HistogramBuilder::new();
    values.iter().for_each(|&v| b.record(v));
    b.finish()
}

fn recorded(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
}

const QUANTILES: [f64; 9] = [0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0];

#[test]
fn quantiles_are_hdrhistograms() {
    for (seed, n) in [(1, 1), (2, 7), (3, 1000), (4, 100_000), (5, 200_001)] {
        let values = latencies(seed, n);
        let (ours, theirs) = (sparse(&values), reference(&values));
        assert_eq!(ours.len(), theirs.len());
        for q in QUANTILES {
            assert_eq!(ours.value_at_quantile(q), Some(theirs.value_at_quantile(q)), "n={n} q={q}");
        }
        assert_eq!(ours.max(), Some(theirs.max()));
        for v in [0, 999, 1000, 20_000, 1_000_000] {
            assert_eq!(ours.count_at_or_below(v), theirs.count_between(0, v), "n={n} v={v}");
        }
    }
    assert_eq!(SparseHistogram::default().value_at_quantile(0.5), None);
}

#[test]
fn merging_is_adding() {
    let (a, b) = (latencies(7, 5000), latencies(8, 300));
    let mut builder = HistogramBuilder::new();
    builder.add(&sparse(&a));
    builder.add(&sparse(&b));
    b.iter().take(10).for_each(|&v| builder.record(v));
    let merged = builder.finish();
    let mut theirs = reference(&a);
    theirs.add(reference(&b)).unwrap();
    theirs.add(reference(&b[..10])).unwrap();
    assert_eq!(merged.len(), theirs.len());
    for q in QUANTILES {
        assert_eq!(merged.value_at_quantile(q), Some(theirs.value_at_quantile(q)), "q={q}");
    }
}

#[test]
fn our_v2_is_read_by_the_crate_and_theirs_by_us() {
    for (seed, n) in [(11, 0), (12, 1), (13, 50), (14, 20_000)] {
        let values = latencies(seed, n);
        let ours = sparse(&values);
        let theirs = reference(&values);

        let read: Histogram<u64> = hdrhistogram::serialization::Deserializer::new().deserialize(&mut &encode(&ours)[..]).unwrap();
        assert_eq!(recorded(&read), recorded(&theirs), "crate reads ours, n={n}");

        let mut plain = Vec::new();
        V2Serializer::new().serialize(&theirs, &mut plain).unwrap();
        assert_eq!(decode(&plain).unwrap(), ours, "we read the crate's V2, n={n}");
        assert_eq!(plain[40..], encode(&ours)[40..], "same counts payload, n={n}");

        let mut deflated = Vec::new();
        V2DeflateSerializer::new().serialize(&theirs, &mut deflated).unwrap();
        assert_eq!(decode(&deflated).unwrap(), ours, "we read the crate's compressed V2, n={n}");
    }
}

#[test]
fn huge_counts_and_values_round_trip() {
    let mut b = HistogramBuilder::new();
    b.add_bin(layout::index_for(u64::MAX), 1 << 60);
    b.add_bin(0, 3);
    let h = b.finish();
    assert_eq!(decode(&encode(&h)).unwrap(), h);
    assert_eq!(h.value_at_quantile(1.0), Some(u64::MAX - 1));
}

#[test]
fn other_parameters_are_rebinned() {
    let mut theirs = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2).unwrap();
    theirs.record(1500).unwrap();
    theirs.record_n(250_000, 3).unwrap();
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(&theirs, &mut bytes).unwrap();
    let ours = decode(&bytes).unwrap();
    assert_eq!(ours.len(), 4);
    let p50 = ours.value_at_quantile(0.5).unwrap();
    assert!((p50 as f64 - 250_000.0).abs() / 250_000.0 < 0.01, "{p50}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let good = encode(&sparse(&latencies(21, 500)));
    for cut in 0..good.len() {
        let _ = decode(&good[..cut]); // any answer but a panic
    }
    assert!(decode(&good[..good.len() - 1]).is_err());
    assert!(decode(b"not a histogram at all, clearly; forty bytes+").unwrap_err().to_string().contains("cookie"));
    let mut x = 99u64;
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = 40 + (x as usize % (bytes.len() - 40));
            bytes[at] = (x >> 32) as u8;
        }
        let _ = decode(&bytes);
    }
}

#[test]
fn durations_are_recorded_in_microseconds() {
    let mut b = HistogramBuilder::new();
    for ms in [1.5, -1.0, f64::NAN, f64::INFINITY, 0.0] {
        b.record_ms(ms);
    }
    let h = b.finish();
    assert_eq!(h.len(), 2);
    assert_eq!(h.quantile_ms(1.0), Some(1.5));
    assert_eq!(h.quantile_ms(0.0), Some(0.0));
}
